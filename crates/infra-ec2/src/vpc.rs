//! [`Vpc`]: the `vpc` type, a virtual network (Terraform's `aws_vpc`). The
//! cloud id is the VPC id; outputs are `arn`, `default_security_group_id`
//! and `main_route_table_id`. A create is tagged with its token, and found
//! by it.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{ResourceType, VpcAttributeName};
use infra_aws::{Tags, found, read_tags, tags_attribute};
use infra_core::{
    Attribute, Existing, Fields, Observed, OpContext, OpKind, Output, ProviderError, Request,
    Resource, Schema, Type, UpdateRequest, Validator, Value, string_map,
};

use crate::ec2::{
    Op, appear, arn, filter, flag, from_sdk, lookup_failed, observed_tags, sync_tags, tag_spec,
    token_filter,
};
use crate::settle::{HeldBy, while_in_use};

/// The resource type name.
pub const TYPE_NAME: &str = "vpc";

infra_aws::resource_type! {
    /// The `vpc` type; register it as `infra_aws::typed(Vpc::new(aws))`.
    pub struct Vpc(Client, "VPC");
}

/// The inputs of a `vpc`, typed.
#[derive(Debug)]
pub struct Spec {
    cidr_block: String,
    enable_dns_support: bool,
    enable_dns_hostnames: bool,
    tags: Tags,
}

/// The VPC `id` as it is, or `None` when there is none.
async fn look(op: &Op, id: &str) -> infra_core::ReadResult {
    let out = op.client.describe_vpcs().vpc_ids(id).send().await;
    let out = found(out.map_err(|e| lookup_failed(op, "reading", &e)))?;
    let Some(vpc) = out.and_then(|o| o.vpcs().first().cloned()) else {
        return Ok(None);
    };
    let attribute = |name: VpcAttributeName| async move {
        let out = op
            .client
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(name)
            .send()
            .await;
        found(out.map_err(|e| lookup_failed(op, "reading the attributes of", &e)))
    };
    let Some(support) = attribute(VpcAttributeName::EnableDnsSupport).await? else {
        return Ok(None);
    };
    let Some(hostnames) = attribute(VpcAttributeName::EnableDnsHostnames).await? else {
        return Ok(None);
    };
    let support = support
        .enable_dns_support()
        .and_then(|v| v.value())
        .unwrap_or(true);
    let hostnames = hostnames
        .enable_dns_hostnames()
        .and_then(|v| v.value())
        .unwrap_or(false);
    let groups = op
        .client
        .describe_security_groups()
        .filters(filter("vpc-id", id))
        .filters(filter("group-name", "default"))
        .send()
        .await
        .map_err(|e| op.failed("reading the default security group of", &e))?;
    let default_group = groups.security_groups().first().and_then(|g| g.group_id());
    let tables = op
        .client
        .describe_route_tables()
        .filters(filter("vpc-id", id))
        .filters(filter("association.main", "true"))
        .send()
        .await
        .map_err(|e| op.failed("reading the main route table of", &e))?;
    let main_table = tables
        .route_tables()
        .first()
        .and_then(|t| t.route_table_id());
    let inputs = [
        ("cidr_block", vpc.cidr_block().into()),
        ("enable_dns_support", support.into()),
        ("enable_dns_hostnames", hostnames.into()),
        ("tags", string_map(&from_sdk(vpc.tags()))),
    ];
    let outputs = [
        ("id", id.into()),
        ("arn", arn(op, vpc.owner_id(), &format!("vpc/{id}")).into()),
        ("default_security_group_id", default_group.into()),
        ("main_route_table_id", main_table.into()),
    ];
    Ok(Some(Observed {
        id: id.to_owned(),
        inputs: inputs.into_iter().collect(),
        outputs: outputs.into_iter().collect(),
    }))
}

/// Sets the DNS attributes where they differ from `now` (one attribute per
/// ModifyVpcAttribute call, as AWS requires).
async fn set_dns(op: &Op, id: &str, now: &Value, spec: &Spec) -> Result<(), ProviderError> {
    let is = |key: &str| now.get(key).and_then(Value::as_bool);
    if is("enable_dns_support") != Some(spec.enable_dns_support) {
        let request = op.client.modify_vpc_attribute().vpc_id(id);
        let request = request.enable_dns_support(flag(spec.enable_dns_support));
        request
            .send()
            .await
            .map_err(|e| op.failed("setting enable_dns_support of", &e))?;
    }
    if is("enable_dns_hostnames") != Some(spec.enable_dns_hostnames) {
        let request = op.client.modify_vpc_attribute().vpc_id(id);
        let request = request.enable_dns_hostnames(flag(spec.enable_dns_hostnames));
        request
            .send()
            .await
            .map_err(|e| op.failed("setting enable_dns_hostnames of", &e))?;
    }
    Ok(())
}

/// The VPC made under `token`, if any.
async fn by_token(op: &Op, token: &str) -> Result<Option<String>, ProviderError> {
    let out = op
        .client
        .describe_vpcs()
        .filters(token_filter(token))
        .send()
        .await;
    let out = out.map_err(|e| op.failed("looking up", &e))?;
    Ok(out
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(str::to_owned))
}

/// Brings the VPC `id`, as it is `now`, to `spec`: DNS attributes, tags.
async fn converge(
    op: &Op,
    id: &str,
    now: &Observed,
    spec: &Spec,
) -> Result<Observed, ProviderError> {
    set_dns(op, id, &now.inputs, spec).await?;
    sync_tags(op, id, &observed_tags(&now.inputs), &spec.tags).await?;
    look(op, id)
        .await?
        .ok_or_else(|| op.not_visible_yet("reading"))
}

#[async_trait]
impl Resource for Vpc {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        let cidr = Attribute::new("cidr_block", Type::String)
            .required()
            .forces_replacement()
            .validate(Validator::Cidr);
        let support = Attribute::new("enable_dns_support", Type::Bool).default(true);
        let hostnames = Attribute::new("enable_dns_hostnames", Type::Bool).default(false);
        Schema::new(TYPE_NAME)
            .attribute(cidr.describe("the VPC's IPv4 block, such as 10.0.0.0/16"))
            .attribute(
                support
                    .describe("whether the Amazon DNS server answers in the VPC, updated in place"),
            )
            .attribute(
                hostnames.describe("whether instances get public DNS names, updated in place"),
            )
            .attribute(tags_attribute("VPC"))
            .output(Output::new("arn", Type::String, "the VPC's ARN"))
            .output(Output::new(
                "default_security_group_id",
                Type::String,
                "the security group AWS made with the VPC",
            ))
            .output(Output::new(
                "main_route_table_id",
                Type::String,
                "the route table AWS made with the VPC",
            ))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        Spec {
            cidr_block: f.required_string("cidr_block"),
            enable_dns_support: f.bool_or("enable_dns_support", true),
            enable_dns_hostnames: f.bool_or("enable_dns_hostnames", false),
            tags: read_tags(f, "tags"),
        }
    }

    fn default_timeout(&self, op: OpKind) -> Duration {
        // Terraform: 20 minutes to create and to delete (ENIs of deleted
        // services may hold it that long).
        Duration::from_secs(if op == OpKind::Read { 5 * 60 } else { 20 * 60 })
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, _) = op.parts();
        let op = self.op(ctx, &spec.cidr_block).await?;
        let id = match by_token(&op, &ctx.token).await? {
            Some(id) => {
                ctx.progress("adopting the VPC an earlier attempt made");
                id
            }
            None => {
                let request = op
                    .client
                    .create_vpc()
                    .cidr_block(&spec.cidr_block)
                    .tag_specifications(tag_spec(ResourceType::Vpc, &spec.tags, &ctx.token));
                let out = request
                    .send()
                    .await
                    .map_err(|e| op.failed("creating", &e))?;
                let id = out.vpc().and_then(|v| v.vpc_id());
                id.ok_or_else(|| op.not_visible_yet("creating"))?.to_owned()
            }
        };
        let op = self.op(ctx, &id).await?;
        let now = appear(ctx, &op, || look(&op, &id)).await?;
        converge(&op, &id, &now, spec).await
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        look(&self.op(ctx, &existing.id).await?, &existing.id).await
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let aws = self.op(op.ctx, &op.spec.cidr_block).await?;
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
        converge(&op, &existing.id, &now, spec).await
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let op = self.op(ctx, &existing.id).await?;
        let id = existing.id.as_str();
        let held = HeldBy {
            filter: "vpc-id",
            id,
        };
        while_in_use(ctx, &op, "deleting", held, || async {
            op.client.delete_vpc().vpc_id(id).send().await.map(|_| ())
        })
        .await?;
        op.wait_gone(ctx, || look(&op, id)).await
    }
}
