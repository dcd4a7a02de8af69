//! [`Subnet`]: the `subnet` type, a range of a VPC in one availability zone
//! (Terraform's `aws_subnet`). Outputs are `arn` and `availability_zone`.
//! A block outside the VPC's or overlapping a sibling's is AWS's
//! `InvalidSubnet.Range` / `InvalidSubnet.Conflict`, refused as `Invalid`
//! with what to change; at plan time the same rule is checked across
//! resources (`check_peers`), when the VPC's block and the siblings' are known.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::ResourceType;
use infra_aws::{Tags, error_code, found, read_tags, tags_attribute};
use infra_core::{
    Attribute, Existing, Fields, Observed, OpContext, OpKind, Output, PathSeg, Peers,
    ProviderError, Request, Resource, Schema, Type, UpdateRequest, Validator, Value, ValuePath,
    string_map,
};

use crate::cidr::{cidr_contains, cidr_overlaps, parse_cidr};
use crate::ec2::{
    Op, appear, flag, from_sdk, lookup_failed, observed_tags, sync_tags, tag_spec, token_filter,
};
use crate::settle::{HeldBy, while_in_use};

/// The resource type name.
pub const TYPE_NAME: &str = "subnet";

infra_aws::resource_type! {
    /// The `subnet` type; register it as `infra_aws::typed(Subnet::new(aws))`.
    pub struct Subnet(Client, "subnet");
}

/// The inputs of a `subnet`, typed.
#[derive(Debug)]
pub struct Spec {
    vpc_id: String,
    cidr_block: String,
    availability_zone: Option<String>,
    map_public_ip_on_launch: bool,
    tags: Tags,
}

/// The subnet `id` as it is, or `None` when there is none.
async fn look(op: &Op, id: &str) -> infra_core::ReadResult {
    let out = op.client.describe_subnets().subnet_ids(id).send().await;
    let out = found(out.map_err(|e| lookup_failed(op, "reading", &e)))?;
    Ok(out.and_then(|o| o.subnets().first().map(observe)))
}

fn observe(subnet: &aws_sdk_ec2::types::Subnet) -> Observed {
    let id = subnet.subnet_id().unwrap_or_default();
    let inputs = [
        ("vpc_id", subnet.vpc_id().into()),
        ("cidr_block", subnet.cidr_block().into()),
        ("availability_zone", subnet.availability_zone().into()),
        (
            "map_public_ip_on_launch",
            subnet.map_public_ip_on_launch().unwrap_or(false).into(),
        ),
        ("tags", string_map(&from_sdk(subnet.tags()))),
    ];
    let outputs = [
        ("id", id.into()),
        ("arn", subnet.subnet_arn().into()),
        ("availability_zone", subnet.availability_zone().into()),
    ];
    Observed {
        id: id.to_owned(),
        inputs: inputs.into_iter().collect(),
        outputs: outputs.into_iter().collect(),
    }
}

/// The subnet made under `token`, if any.
async fn by_token(op: &Op, token: &str) -> Result<Option<String>, ProviderError> {
    let out = op
        .client
        .describe_subnets()
        .filters(token_filter(token))
        .send()
        .await;
    let out = out.map_err(|e| op.failed("looking up", &e))?;
    Ok(out
        .subnets()
        .first()
        .and_then(|s| s.subnet_id())
        .map(str::to_owned))
}

/// Brings the subnet `id`, as it is `now`, to `spec`: the public-IP flag
/// and the tags.
async fn converge(
    op: &Op,
    id: &str,
    now: &Observed,
    spec: &Spec,
) -> Result<Observed, ProviderError> {
    let public = now
        .inputs
        .get("map_public_ip_on_launch")
        .and_then(Value::as_bool);
    if public != Some(spec.map_public_ip_on_launch) {
        let request = op.client.modify_subnet_attribute().subnet_id(id);
        let request = request.map_public_ip_on_launch(flag(spec.map_public_ip_on_launch));
        request
            .send()
            .await
            .map_err(|e| op.failed("setting map_public_ip_on_launch of", &e))?;
    }
    sync_tags(op, id, &observed_tags(&now.inputs), &spec.tags).await?;
    look(op, id)
        .await?
        .ok_or_else(|| op.not_visible_yet("reading"))
}

/// What to do about a refused block.
const RANGE_HINT: &str =
    "choose a `cidr_block` inside the VPC's block that overlaps no other subnet of the VPC";

#[async_trait]
impl Resource for Subnet {
    type Spec = Spec;

    fn check_peers(&self, inputs: &Value, peers: &dyn Peers) -> Vec<(ValuePath, String)> {
        let block_of = |v: &Value| {
            let block = v.get("cidr_block").and_then(Value::as_str)?;
            parse_cidr(block).ok()
        };
        let Some(block) = block_of(inputs) else {
            return Vec::new();
        };
        let at = || vec![PathSeg::Key("cidr_block".into())];
        if let Some(vpc) = peers.referenced("vpc_id")
            && let Some(vpc_block) = block_of(vpc.inputs)
            && !cidr_contains(vpc_block, block)
        {
            let message = format!(
                "subnet block {block} is not inside {vpc_block}, the block of `{}`: choose one inside it",
                vpc.address
            );
            return vec![(at(), message)];
        }
        let siblings = peers.siblings("vpc_id").into_iter();
        let blocks = siblings.filter_map(|s| Some((s.address, block_of(s.inputs)?)));
        let overlapping = blocks
            .filter(|(_, other)| cidr_overlaps(*other, block))
            .take(1);
        let message = |(address, other)| {
            format!(
                "subnet block {block} overlaps {other}, the block of `{address}` in the same VPC: the subnets of a VPC must not overlap"
            )
        };
        overlapping.map(|o| (at(), message(o))).collect()
    }

    fn schema(&self) -> Schema {
        let vpc = Attribute::new("vpc_id", Type::String)
            .required()
            .forces_replacement();
        let cidr = Attribute::new("cidr_block", Type::String)
            .required()
            .forces_replacement()
            .validate(Validator::Cidr);
        let az = Attribute::new("availability_zone", Type::String)
            .computed()
            .forces_replacement();
        let public = Attribute::new("map_public_ip_on_launch", Type::Bool).default(false);
        Schema::new(TYPE_NAME)
            .attribute(vpc.describe("the VPC the subnet is part of"))
            .attribute(
                cidr.describe(
                    "the subnet's IPv4 block, inside the VPC's and overlapping no sibling's",
                ),
            )
            .attribute(
                az.describe("the availability zone, such as us-east-1a; AWS picks one when unset"),
            )
            .attribute(
                public
                    .describe("whether instances launched here get a public IP, updated in place"),
            )
            .attribute(tags_attribute(
                "subnet (e.g. `kubernetes.io/role/elb = \"1\"`)",
            ))
            .output(Output::new("arn", Type::String, "the subnet's ARN"))
            .output(Output::new(
                "availability_zone",
                Type::String,
                "the availability zone the subnet is in",
            ))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        Spec {
            vpc_id: f.required_string("vpc_id"),
            cidr_block: f.required_string("cidr_block"),
            availability_zone: f.string("availability_zone"),
            map_public_ip_on_launch: f.bool_or("map_public_ip_on_launch", false),
            tags: read_tags(f, "tags"),
        }
    }

    fn default_timeout(&self, op: OpKind) -> Duration {
        // Terraform: 10 minutes to create, 20 to delete (released ENIs).
        Duration::from_secs(match op {
            OpKind::Delete => 20 * 60,
            _ => 10 * 60,
        })
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, _) = op.parts();
        let op = self.op(ctx, &spec.cidr_block).await?;
        let id = match by_token(&op, &ctx.token).await? {
            Some(id) => {
                ctx.progress("adopting the subnet an earlier attempt made");
                id
            }
            None => {
                let request = op
                    .client
                    .create_subnet()
                    .vpc_id(&spec.vpc_id)
                    .cidr_block(&spec.cidr_block)
                    .set_availability_zone(spec.availability_zone.clone())
                    .tag_specifications(tag_spec(ResourceType::Subnet, &spec.tags, &ctx.token));
                let out = match request.send().await {
                    Ok(out) => out,
                    Err(e)
                        if matches!(
                            error_code(&e),
                            Some("InvalidSubnet.Range" | "InvalidSubnet.Conflict")
                        ) =>
                    {
                        let mut err = op.failed("creating", &e).hint(RANGE_HINT);
                        err.kind = infra_core::ErrorKind::Invalid;
                        return Err(err);
                    }
                    Err(e) => return Err(op.failed("creating", &e)),
                };
                let id = out.subnet().and_then(|s| s.subnet_id());
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
            filter: "subnet-id",
            id,
        };
        while_in_use(ctx, &op, "deleting", held, || async {
            op.client
                .delete_subnet()
                .subnet_id(id)
                .send()
                .await
                .map(|_| ())
        })
        .await?;
        op.wait_gone(ctx, || look(&op, id)).await
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Phase, display_path};

    use super::*;
    use infra_aws::AwsContext;

    fn problems(inputs: &Value) -> Vec<String> {
        let subnet = Subnet::new(AwsContext::new());
        let mut f = Fields::new(inputs, Phase::Plan);
        subnet.parse(&mut f);
        let schema = subnet.schema().validate(inputs);
        schema
            .into_iter()
            .chain(f.into_problems())
            .map(|(p, _)| display_path(&p))
            .collect()
    }

    #[test]
    fn a_bad_block_is_a_problem_at_cidr_block() {
        let good: Value = [
            ("vpc_id", Value::Unknown),
            ("cidr_block", Value::from("10.0.1.0/24")),
        ]
        .into_iter()
        .collect();
        assert!(problems(&good).is_empty());
        for bad in ["10.0.1.0", "10.0.1.1/24", "10.0.300.0/24"] {
            let inputs: Value = [
                ("vpc_id", Value::from("vpc-1")),
                ("cidr_block", Value::from(bad)),
            ]
            .into_iter()
            .collect();
            assert_eq!(problems(&inputs), ["cidr_block"], "{bad}");
        }
        let missing: Value = [("cidr_block", Value::from("10.0.1.0/24"))]
            .into_iter()
            .collect();
        assert_eq!(problems(&missing), ["vpc_id"]);
    }
}
