//! [`Eip`]: the `eip` type, an Elastic IP address in the VPC domain
//! (Terraform's `aws_eip`), as a NAT gateway uses. The cloud id is the
//! allocation id; the output `public_ip` is the address. AllocateAddress
//! takes no client token, so the address is tagged with the create's token
//! and found by it.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Address, DomainType, ResourceType};
use infra_aws::{Tags, error_code, found, read_tags, tags_attribute};
use infra_core::{
    Existing, Fields, Observed, OpContext, OpKind, Output, ProviderError, Request, Resource,
    Schema, Type, UpdateRequest, Value, string_map,
};

use crate::ec2::{
    Op, appear, from_sdk, is_not_found, lookup_failed, observed_tags, sync_tags, tag_spec,
    token_filter,
};

/// The resource type name.
pub const TYPE_NAME: &str = "eip";

infra_aws::resource_type! {
    /// The `eip` type; register it as `infra_aws::typed(Eip::new(aws))`.
    pub struct Eip(Client, "Elastic IP");
}

/// The inputs of an `eip`, typed.
#[derive(Debug)]
pub struct Spec {
    tags: Tags,
}

fn observe(address: &Address) -> Observed {
    let id = address.allocation_id().unwrap_or_default();
    let inputs = [("tags", string_map(&from_sdk(address.tags())))];
    let outputs = [("id", id.into()), ("public_ip", address.public_ip().into())];
    Observed {
        id: id.to_owned(),
        inputs: inputs.into_iter().collect(),
        outputs: outputs.into_iter().collect(),
    }
}

/// The address allocated as `id`, or `None` when there is none.
async fn look(op: &Op, id: &str) -> infra_core::ReadResult {
    let out = op
        .client
        .describe_addresses()
        .allocation_ids(id)
        .send()
        .await;
    let out = found(out.map_err(|e| lookup_failed(op, "reading", &e)))?;
    Ok(out.and_then(|o| o.addresses().first().map(observe)))
}

/// The address allocated under `token`, if any.
async fn by_token(op: &Op, token: &str) -> infra_core::ReadResult {
    let out = op
        .client
        .describe_addresses()
        .filters(token_filter(token))
        .send()
        .await;
    let out = out.map_err(|e| op.failed("looking up", &e))?;
    Ok(out.addresses().first().map(observe))
}

#[async_trait]
impl Resource for Eip {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        Schema::new(TYPE_NAME)
            .attribute(tags_attribute("address"))
            .output(Output::new(
                "public_ip",
                Type::String,
                "the public IPv4 address",
            ))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        Spec {
            tags: read_tags(f, "tags"),
        }
    }

    fn default_timeout(&self, op: OpKind) -> Duration {
        // Terraform: 15 minutes to read, 5 to update, 3 to delete.
        Duration::from_secs(match op {
            OpKind::Delete => 3 * 60,
            _ => 5 * 60,
        })
    }

    fn estimate(&self, _op: OpKind, _inputs: &Value) -> Duration {
        Duration::from_secs(1)
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, _) = op.parts();
        let op = self.op(ctx, "(new)").await?;
        if let Some(found) = by_token(&op, &ctx.token).await? {
            ctx.progress("adopting the address an earlier attempt allocated");
            return Ok(found);
        }
        let request = op
            .client
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, &spec.tags, &ctx.token));
        let out = request
            .send()
            .await
            .map_err(|e| op.failed("allocating", &e))?;
        let id = out
            .allocation_id()
            .ok_or_else(|| op.not_visible_yet("allocating"))?;
        let op = self.op(ctx, id).await?;
        appear(ctx, &op, || look(&op, id)).await
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        look(&self.op(ctx, &existing.id).await?, &existing.id).await
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        by_token(&self.op(op.ctx, "(new)").await?, &op.ctx.token).await
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
        let request = op.client.release_address().allocation_id(&existing.id);
        match request.send().await {
            Ok(_) => {}
            Err(e) if error_code(&e).is_some_and(is_not_found) => return Ok(()),
            Err(e) if error_code(&e) == Some("InvalidIPAddress.InUse") => {
                let hint =
                    "it is still associated (a NAT gateway or an instance): delete that first";
                return Err(op.failed("releasing", &e).hint(hint));
            }
            Err(e) => return Err(op.failed("releasing", &e)),
        }
        op.wait_gone(ctx, || look(&op, &existing.id)).await
    }
}
