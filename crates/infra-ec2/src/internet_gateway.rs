//! [`InternetGateway`]: the `internet_gateway` type, a VPC's way to the
//! internet (Terraform's `aws_internet_gateway`). `vpc_id` changes in
//! place: detach, then attach. Delete detaches first, waiting while public
//! addresses in the VPC still hold it (`DependencyViolation`).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::ResourceType;
use infra_aws::{Tags, error_code, found, read_tags, tags_attribute};
use infra_core::{
    Attribute, Existing, Fields, Observed, OpContext, OpKind, Output, ProviderError, Request,
    Resource, Schema, Type, UpdateRequest, Value, string_map,
};

use crate::ec2::{
    Op, appear, arn, from_sdk, lookup_failed, observed_tags, sync_tags, tag_spec, token_filter,
};
use crate::settle::{HeldBy, while_in_use};

/// The resource type name.
pub const TYPE_NAME: &str = "internet_gateway";

infra_aws::resource_type! {
    /// The `internet_gateway` type; register it as
    /// `infra_aws::typed(InternetGateway::new(aws))`.
    pub struct InternetGateway(Client, "internet gateway");
}

/// The inputs of an `internet_gateway`, typed.
#[derive(Debug)]
pub struct Spec {
    vpc_id: Option<String>,
    tags: Tags,
}

/// The gateway `id` as it is, or `None` when there is none.
async fn look(op: &Op, id: &str) -> infra_core::ReadResult {
    let out = op
        .client
        .describe_internet_gateways()
        .internet_gateway_ids(id)
        .send()
        .await;
    let out = found(out.map_err(|e| lookup_failed(op, "reading", &e)))?;
    let Some(gateway) = out.and_then(|o| o.internet_gateways().first().cloned()) else {
        return Ok(None);
    };
    let vpc = gateway.attachments().iter().find_map(|a| a.vpc_id());
    let inputs = [
        ("vpc_id", vpc.into()),
        ("tags", string_map(&from_sdk(gateway.tags()))),
    ];
    let resource = format!("internet-gateway/{id}");
    let outputs = [
        ("id", id.into()),
        ("arn", arn(op, gateway.owner_id(), &resource).into()),
    ];
    Ok(Some(Observed {
        id: id.to_owned(),
        inputs: inputs.into_iter().collect(),
        outputs: outputs.into_iter().collect(),
    }))
}

/// The gateway made under `token`, if any.
async fn by_token(op: &Op, token: &str) -> Result<Option<String>, ProviderError> {
    let out = op
        .client
        .describe_internet_gateways()
        .filters(token_filter(token))
        .send()
        .await;
    let out = out.map_err(|e| op.failed("looking up", &e))?;
    let id = out
        .internet_gateways()
        .first()
        .and_then(|g| g.internet_gateway_id());
    Ok(id.map(str::to_owned))
}

/// Detaches the gateway `id` from `vpc`, waiting while addresses in the VPC
/// hold it; a gateway not attached there is fine.
async fn detach(ctx: &OpContext, op: &Op, id: &str, vpc: &str) -> Result<(), ProviderError> {
    let held = HeldBy {
        filter: "vpc-id",
        id: vpc,
    };
    while_in_use(ctx, op, "detaching", held, || async {
        let request = op
            .client
            .detach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc);
        match request.send().await {
            Err(e) if error_code(&e) == Some("Gateway.NotAttached") => Ok(()),
            other => other.map(|_| ()),
        }
    })
    .await
}

/// Brings the gateway `id`, as it is `now`, to `spec`: attachment, tags.
async fn converge(
    ctx: &OpContext,
    op: &Op,
    id: &str,
    now: &Observed,
    spec: &Spec,
) -> Result<Observed, ProviderError> {
    let attached = now.inputs.get("vpc_id").and_then(Value::as_str);
    if attached != spec.vpc_id.as_deref() {
        if let Some(old) = attached {
            detach(ctx, op, id, old).await?;
        }
        if let Some(vpc) = &spec.vpc_id {
            let request = op
                .client
                .attach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc);
            request
                .send()
                .await
                .map_err(|e| op.failed("attaching", &e))?;
        }
    }
    sync_tags(op, id, &observed_tags(&now.inputs), &spec.tags).await?;
    look(op, id)
        .await?
        .ok_or_else(|| op.not_visible_yet("reading"))
}

#[async_trait]
impl Resource for InternetGateway {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        let vpc = Attribute::new("vpc_id", Type::String);
        Schema::new(TYPE_NAME)
            .attribute(vpc.describe("the VPC it is attached to; a change detaches, then attaches"))
            .attribute(tags_attribute("internet gateway"))
            .output(Output::new("arn", Type::String, "the gateway's ARN"))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        Spec {
            vpc_id: f.string("vpc_id"),
            tags: read_tags(f, "tags"),
        }
    }

    fn default_timeout(&self, _op: OpKind) -> Duration {
        // Terraform: 20 minutes (detaching waits for public addresses).
        Duration::from_secs(20 * 60)
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, _) = op.parts();
        let op = self.op(ctx, "(new)").await?;
        let id = match by_token(&op, &ctx.token).await? {
            Some(id) => {
                ctx.progress("adopting the internet gateway an earlier attempt made");
                id
            }
            None => {
                let tags = tag_spec(ResourceType::InternetGateway, &spec.tags, &ctx.token);
                let request = op.client.create_internet_gateway().tag_specifications(tags);
                let out = request
                    .send()
                    .await
                    .map_err(|e| op.failed("creating", &e))?;
                let id = out.internet_gateway().and_then(|g| g.internet_gateway_id());
                id.ok_or_else(|| op.not_visible_yet("creating"))?.to_owned()
            }
        };
        let op = self.op(ctx, &id).await?;
        let now = appear(ctx, &op, || look(&op, &id)).await?;
        converge(ctx, &op, &id, &now, spec).await
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        look(&self.op(ctx, &existing.id).await?, &existing.id).await
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let aws = self.op(op.ctx, "(new)").await?;
        match by_token(&aws, &op.ctx.token).await? {
            Some(id) => look(&aws, &id).await,
            None => Ok(None),
        }
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, spec, _) = op.parts();
        let op = self.op(ctx, &existing.id).await?;
        let now = look(&op, &existing.id)
            .await?
            .ok_or_else(|| op.gone("updating"))?;
        converge(ctx, &op, &existing.id, &now, spec).await
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let op = self.op(ctx, &existing.id).await?;
        let id = existing.id.as_str();
        let Some(now) = look(&op, id).await? else {
            return Ok(());
        };
        let vpc = now.inputs.get("vpc_id").and_then(Value::as_str);
        if let Some(vpc) = vpc {
            detach(ctx, &op, id, vpc).await?;
        }
        let held = HeldBy {
            filter: "vpc-id",
            id: vpc.unwrap_or(id),
        };
        while_in_use(ctx, &op, "deleting", held, || async {
            op.client
                .delete_internet_gateway()
                .internet_gateway_id(id)
                .send()
                .await
                .map(|_| ())
        })
        .await?;
        op.wait_gone(ctx, || look(&op, id)).await
    }
}
