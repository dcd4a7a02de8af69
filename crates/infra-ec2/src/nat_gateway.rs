//! [`NatGateway`]: the `nat_gateway` type, a public NAT gateway in a
//! subnet with an Elastic IP (Terraform's `aws_nat_gateway`). Create passes
//! the operation's token as ClientToken (and tags with it, to be found) and
//! waits for `available`, naming AWS's failure code and message when it
//! goes `failed`; delete waits for `deleted`. A deleted gateway stays
//! listed for a while with state `deleted`: that is gone.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{NatGatewayState, ResourceType};
use infra_aws::{Poll, Tags, error_code, found, poll_until, read_tags, tags_attribute};
use infra_core::{
    Attribute, ErrorKind, Existing, Fields, Observed, OpContext, OpKind, Output, ProviderError,
    Request, Resource, Schema, Type, UpdateRequest, Value, string_map,
};

use crate::ec2::{
    Op, from_sdk, is_not_found, lookup_failed, observed_tags, sync_tags, tag_spec, token_filter,
};

/// The resource type name.
pub const TYPE_NAME: &str = "nat_gateway";

infra_aws::resource_type! {
    /// The `nat_gateway` type; register it as `infra_aws::typed(NatGateway::new(aws))`.
    pub struct NatGateway(Client, "NAT gateway");
}

/// The inputs of a `nat_gateway`, typed.
#[derive(Debug)]
pub struct Spec {
    subnet_id: String,
    allocation_id: String,
    tags: Tags,
}

type Gateway = aws_sdk_ec2::types::NatGateway;

fn observe(gateway: &Gateway) -> Observed {
    let id = gateway.nat_gateway_id().unwrap_or_default();
    let address = gateway.nat_gateway_addresses().first();
    let inputs = [
        ("subnet_id", gateway.subnet_id().into()),
        (
            "allocation_id",
            address.and_then(|a| a.allocation_id()).into(),
        ),
        ("tags", string_map(&from_sdk(gateway.tags()))),
    ];
    let outputs = [
        ("id", id.into()),
        ("public_ip", address.and_then(|a| a.public_ip()).into()),
        ("private_ip", address.and_then(|a| a.private_ip()).into()),
    ];
    Observed {
        id: id.to_owned(),
        inputs: inputs.into_iter().collect(),
        outputs: outputs.into_iter().collect(),
    }
}

/// Whether the gateway is deleted: gone, though still listed for a while.
fn is_deleted(gateway: &Gateway) -> bool {
    gateway.state() == Some(&NatGatewayState::Deleted)
}

/// The gateway `id` in any state but deleted, or `None`.
async fn describe(op: &Op, id: &str) -> Result<Option<Gateway>, ProviderError> {
    let out = op
        .client
        .describe_nat_gateways()
        .nat_gateway_ids(id)
        .send()
        .await;
    let out = found(out.map_err(|e| lookup_failed(op, "reading", &e)))?;
    let gateway = out.and_then(|o| o.nat_gateways().first().cloned());
    Ok(gateway.filter(|g| !is_deleted(g)))
}

async fn look(op: &Op, id: &str) -> infra_core::ReadResult {
    Ok(describe(op, id).await?.as_ref().map(observe))
}

/// The gateway made under `token` and not deleted, if any.
async fn by_token(op: &Op, token: &str) -> Result<Option<String>, ProviderError> {
    let request = op
        .client
        .describe_nat_gateways()
        .filter(token_filter(token));
    let out = request
        .send()
        .await
        .map_err(|e| op.failed("looking up", &e))?;
    let deleting = |g: &&Gateway| is_deleted(g) || g.state() == Some(&NatGatewayState::Deleting);
    let gateway = out.nat_gateways().iter().find(|g| !deleting(g));
    Ok(gateway.and_then(|g| g.nat_gateway_id()).map(str::to_owned))
}

/// Waits until the gateway `id` is available; `failed` ends the wait with
/// AWS's reason.
async fn available(ctx: &OpContext, op: &Op, id: &str) -> Result<Observed, ProviderError> {
    let waiting = format!("waiting for {} to be available", op.what);
    poll_until(ctx, &waiting, || async {
        // Right after a create, EC2 may not list it yet.
        let Some(gateway) = describe(op, id).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        match gateway.state() {
            Some(NatGatewayState::Available) => Ok(Poll::Ready(observe(&gateway))),
            Some(NatGatewayState::Failed) => Err(ProviderError::new(
                ErrorKind::Failed,
                format!(
                    "creating {}: it failed ({}: {}); fix the cause (the subnet must be public, the address free) and plan again to replace it",
                    op.what,
                    gateway.failure_code().unwrap_or("no failure code"),
                    gateway.failure_message().unwrap_or("no message"),
                ),
            )),
            state => Ok(Poll::Pending(format!(
                "state {}",
                state.map_or("unknown", NatGatewayState::as_str)
            ))),
        }
    })
    .await
}

#[async_trait]
impl Resource for NatGateway {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        let subnet = Attribute::new("subnet_id", Type::String)
            .required()
            .forces_replacement();
        let allocation = Attribute::new("allocation_id", Type::String)
            .required()
            .forces_replacement();
        Schema::new(TYPE_NAME)
            .attribute(subnet.describe("the (public) subnet the gateway is placed in"))
            .attribute(allocation.describe("the Elastic IP's allocation id (an `eip`'s `id`)"))
            .attribute(tags_attribute("NAT gateway"))
            .output(Output::new(
                "public_ip",
                Type::String,
                "the gateway's public address",
            ))
            .output(Output::new(
                "private_ip",
                Type::String,
                "the gateway's address in the subnet",
            ))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        Spec {
            subnet_id: f.required_string("subnet_id"),
            allocation_id: f.required_string("allocation_id"),
            tags: read_tags(f, "tags"),
        }
    }

    fn default_timeout(&self, op: OpKind) -> Duration {
        // Terraform: 10 minutes to create and update, 30 to delete.
        Duration::from_secs(if op == OpKind::Delete {
            30 * 60
        } else {
            10 * 60
        })
    }

    fn estimate(&self, op: OpKind, _inputs: &Value) -> Duration {
        Duration::from_secs(match op {
            OpKind::Create => 120,
            OpKind::Delete => 60,
            _ => 1,
        })
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, _) = op.parts();
        let op = self.op(ctx, "(new)").await?;
        let id = match by_token(&op, &ctx.token).await? {
            Some(id) => {
                ctx.progress("adopting the NAT gateway an earlier attempt made");
                id
            }
            None => {
                // The token is also the ClientToken: AWS answers a retried
                // request with the gateway it made.
                let request = op
                    .client
                    .create_nat_gateway()
                    .subnet_id(&spec.subnet_id)
                    .allocation_id(&spec.allocation_id)
                    .client_token(&ctx.token)
                    .tag_specifications(tag_spec(ResourceType::Natgateway, &spec.tags, &ctx.token));
                let out = request
                    .send()
                    .await
                    .map_err(|e| op.failed("creating", &e))?;
                let id = out.nat_gateway().and_then(|g| g.nat_gateway_id());
                id.ok_or_else(|| op.not_visible_yet("creating"))?.to_owned()
            }
        };
        let op = self.op(ctx, &id).await?;
        available(ctx, &op, &id).await
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
        sync_tags(&op, &existing.id, &observed_tags(&now.inputs), &spec.tags).await?;
        look(&op, &existing.id)
            .await?
            .ok_or_else(|| op.gone("updating"))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let op = self.op(ctx, &existing.id).await?;
        let request = op.client.delete_nat_gateway().nat_gateway_id(&existing.id);
        match request.send().await {
            Ok(_) => {}
            Err(e) if error_code(&e).is_some_and(is_not_found) => return Ok(()),
            Err(e) => return Err(op.failed("deleting", &e)),
        }
        // `describe` reads a deleted gateway as none.
        op.wait_gone(ctx, || describe(&op, &existing.id)).await
    }
}
