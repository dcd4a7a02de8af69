//! [`SecurityGroup`]: the `security_group` type, a VPC security group with
//! its rules inline (Terraform's `aws_security_group`). Rules are sets of
//! tables; each is split into the grants AWS stores (one per source block
//! or group), and grants are synced in place with Authorize / Revoke
//! SecurityGroupIngress / Egress. The allow-all egress AWS adds to a new
//! group is revoked unless the stack's `egress` has it, as Terraform does.
//! Names are unique in a VPC, so a create adopts the group of its name.
//! Delete waits while network interfaces (EKS, RDS) still use the group.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, ResourceType};
use infra_aws::{Tags, error_code, found, read_tags, tags_attribute};
use infra_core::{
    Attribute, Existing, Fields, Observed, OpContext, OpKind, Output, ProviderError, Request,
    Resource, Schema, Type, UpdateRequest, Validator, Value, string_map,
};

use crate::ec2::{Op, appear, arn, filter, from_sdk, lookup_failed, sync_tags, tag_spec};
use crate::settle::{HeldBy, while_in_use};

mod rules;

use rules::{Grant, Rule, all, as_rules, grants, permission, read_rules, reference};

/// The resource type name.
pub const TYPE_NAME: &str = "security_group";

/// The description AWS requires when the stack gives none.
pub const DEFAULT_DESCRIPTION: &str = infra_aws::DEFAULT_DESCRIPTION;

infra_aws::resource_type! {
    /// The `security_group` type; register it as
    /// `infra_aws::typed(SecurityGroup::new(aws))`.
    pub struct SecurityGroup(Client, "security group");
}

/// The inputs of a `security_group`, typed.
#[derive(Debug)]
pub struct Spec {
    name: String,
    description: String,
    vpc_id: String,
    ingress: Vec<Rule>,
    egress: Vec<Rule>,
    tags: Tags,
}

type Group = aws_sdk_ec2::types::SecurityGroup;

fn observe(op: &Op, group: &Group, given: &Value) -> Observed {
    let id = group.group_id().unwrap_or_default();
    let ingress = grants(group.ip_permissions());
    let egress = grants(group.ip_permissions_egress());
    let inputs = [
        ("name", group.group_name().into()),
        ("description", group.description().into()),
        ("vpc_id", group.vpc_id().into()),
        ("ingress", as_rules(&ingress, &reference(given, "ingress"))),
        ("egress", as_rules(&egress, &reference(given, "egress"))),
        ("tags", string_map(&from_sdk(group.tags()))),
    ];
    let built = || arn(op, group.owner_id(), &format!("security-group/{id}"));
    let arn = group.security_group_arn().map(str::to_owned).or_else(built);
    let outputs = [("id", id.into()), ("arn", arn.into())];
    Observed {
        id: id.to_owned(),
        inputs: inputs.into_iter().collect(),
        outputs: outputs.into_iter().collect(),
    }
}

async fn describe(op: &Op, id: &str) -> Result<Option<Group>, ProviderError> {
    let out = op
        .client
        .describe_security_groups()
        .group_ids(id)
        .send()
        .await;
    let out = found(out.map_err(|e| lookup_failed(op, "reading", &e)))?;
    Ok(out.and_then(|o| o.security_groups().first().cloned()))
}

/// The group of this name in this VPC, if any.
async fn by_name(op: &Op, spec: &Spec) -> Result<Option<Group>, ProviderError> {
    let request = op
        .client
        .describe_security_groups()
        .filters(filter("group-name", &spec.name))
        .filters(filter("vpc-id", &spec.vpc_id));
    let out = request
        .send()
        .await
        .map_err(|e| op.failed("looking up", &e))?;
    Ok(out.security_groups().first().cloned())
}

/// Brings the grants of `id` in one direction from `actual` to `desired`:
/// revokes first (a changed description is a revoke and an authorize).
async fn sync_rules(
    op: &Op,
    id: &str,
    egress: bool,
    actual: &BTreeSet<Grant>,
    desired: &BTreeSet<Grant>,
) -> Result<(), ProviderError> {
    let revoke: Vec<IpPermission> = actual.difference(desired).map(permission).collect();
    let authorize: Vec<IpPermission> = desired.difference(actual).map(permission).collect();
    let which = if egress { "egress" } else { "ingress" };
    if !revoke.is_empty() {
        let doing = format!("revoking {which} rules of");
        let revoke = Some(revoke);
        if egress {
            let r = op
                .client
                .revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(revoke);
            r.send().await.map_err(|e| op.failed(&doing, &e))?;
        } else {
            let r = op
                .client
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(revoke);
            r.send().await.map_err(|e| op.failed(&doing, &e))?;
        }
    }
    if !authorize.is_empty() {
        let doing = format!("authorizing {which} rules of");
        let authorize = Some(authorize);
        if egress {
            let r = op
                .client
                .authorize_security_group_egress()
                .group_id(id)
                .set_ip_permissions(authorize);
            r.send().await.map_err(|e| op.failed(&doing, &e))?;
        } else {
            let r = op
                .client
                .authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(authorize);
            r.send().await.map_err(|e| op.failed(&doing, &e))?;
        }
    }
    Ok(())
}

/// Brings the group, as it is, to `spec`: rules both ways, then tags.
async fn converge(
    op: &Op,
    group: &Group,
    spec: &Spec,
    inputs: &Value,
) -> Result<Observed, ProviderError> {
    let id = group.group_id().unwrap_or_default();
    sync_rules(
        op,
        id,
        false,
        &grants(group.ip_permissions()),
        &all(&spec.ingress),
    )
    .await?;
    sync_rules(
        op,
        id,
        true,
        &grants(group.ip_permissions_egress()),
        &all(&spec.egress),
    )
    .await?;
    sync_tags(op, id, &from_sdk(group.tags()), &spec.tags).await?;
    let group = describe(op, id)
        .await?
        .ok_or_else(|| op.not_visible_yet("reading"))?;
    Ok(observe(op, &group, inputs))
}

#[async_trait]
impl Resource for SecurityGroup {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        let rule = rules::rule_type();
        let name = Attribute::new("name", Type::String)
            .required()
            .forces_replacement()
            .validate(Validator::Length { min: 1, max: 255 });
        let description = Attribute::new("description", Type::String)
            .default(DEFAULT_DESCRIPTION)
            .forces_replacement()
            .validate(Validator::Length { min: 1, max: 255 });
        let vpc = Attribute::new("vpc_id", Type::String)
            .required()
            .forces_replacement();
        let none = || Value::List(Vec::new());
        let ingress = Attribute::new("ingress", Type::set(rule.clone())).default(none());
        let egress = Attribute::new("egress", Type::set(rule)).default(none());
        Schema::new(TYPE_NAME)
            .attribute(name.describe("the group's name, unique in its VPC"))
            .attribute(description.describe("what the group is for; AWS cannot change it"))
            .attribute(vpc.describe("the VPC of the group"))
            .attribute(ingress.describe("rules for incoming traffic, each with exactly one source, updated in place"))
            .attribute(egress.describe("rules for outgoing traffic, updated in place; AWS's allow-all rule is removed unless listed"))
            .attribute(tags_attribute("security group"))
            .output(Output::new("arn", Type::String, "the group's ARN"))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        Spec {
            name: f.required_string("name"),
            description: f.string_or("description", DEFAULT_DESCRIPTION),
            vpc_id: f.required_string("vpc_id"),
            ingress: read_rules(f, "ingress"),
            egress: read_rules(f, "egress"),
            tags: read_tags(f, "tags"),
        }
    }

    fn default_timeout(&self, op: OpKind) -> Duration {
        // Terraform: 10 minutes to create, 15 to delete (released ENIs).
        Duration::from_secs(if op == OpKind::Delete {
            15 * 60
        } else {
            10 * 60
        })
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, &spec.name).await?;
        let id = match by_name(&op, spec).await? {
            Some(group) => {
                ctx.progress("adopting the security group of this name");
                group.group_id().unwrap_or_default().to_owned()
            }
            None => {
                let request = op
                    .client
                    .create_security_group()
                    .group_name(&spec.name)
                    .description(&spec.description)
                    .vpc_id(&spec.vpc_id)
                    .tag_specifications(tag_spec(
                        ResourceType::SecurityGroup,
                        &spec.tags,
                        &ctx.token,
                    ));
                match request.send().await {
                    Ok(out) => out.group_id().unwrap_or_default().to_owned(),
                    Err(e) if error_code(&e) == Some("InvalidGroup.Duplicate") => {
                        let group = by_name(&op, spec).await?;
                        let group = group.ok_or_else(|| op.not_visible_yet("creating"))?;
                        group.group_id().unwrap_or_default().to_owned()
                    }
                    Err(e) => return Err(op.failed("creating", &e)),
                }
            }
        };
        let op = self.op(ctx, &id).await?;
        let group = appear(ctx, &op, || describe(&op, &id)).await?;
        converge(&op, &group, spec, inputs).await
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let op = self.op(ctx, &existing.id).await?;
        let group = describe(&op, &existing.id).await?;
        Ok(group.map(|g| observe(&op, &g, &existing.inputs)))
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, &spec.name).await?;
        Ok(by_name(&op, spec).await?.map(|g| observe(&op, &g, inputs)))
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, spec, inputs) = op.parts();
        let op = self.op(ctx, &existing.id).await?;
        let group = describe(&op, &existing.id)
            .await?
            .ok_or_else(|| op.gone("updating"))?;
        converge(&op, &group, spec, inputs).await
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let op = self.op(ctx, &existing.id).await?;
        let id = existing.id.as_str();
        let held = HeldBy {
            filter: "group-id",
            id,
        };
        while_in_use(ctx, &op, "deleting", held, || async {
            op.client
                .delete_security_group()
                .group_id(id)
                .send()
                .await
                .map(|_| ())
        })
        .await?;
        op.wait_gone(ctx, || describe(&op, id)).await
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Phase, display_path};

    use super::*;
    use infra_aws::AwsContext;

    fn rule(pairs: &[(&str, Value)]) -> Value {
        pairs.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    fn problems(ingress: Vec<Value>) -> Vec<String> {
        let inputs: Value = [
            ("name", Value::from("db")),
            ("vpc_id", Value::from("vpc-1")),
            ("ingress", Value::List(ingress)),
        ]
        .into_iter()
        .collect();
        let group = SecurityGroup::new(AwsContext::new());
        let mut f = Fields::new(&inputs, Phase::Plan);
        group.parse(&mut f);
        let schema = group.schema().validate(&inputs);
        schema
            .into_iter()
            .chain(f.into_problems())
            .map(|(p, _)| display_path(&p))
            .collect()
    }

    fn postgres(source: (&str, Value)) -> Value {
        rule(&[
            ("protocol", "tcp".into()),
            ("from_port", Value::Int(5432)),
            ("to_port", Value::Int(5432)),
            source,
        ])
    }

    #[test]
    fn rule_problems_are_at_their_paths() {
        let from_group = postgres(("source_security_group_id", Value::Unknown));
        assert!(problems(vec![from_group.clone()]).is_empty());
        let mut both = postgres(("cidr_blocks", Value::List(vec!["10.0.0.0/16".into()])));
        if let Value::Map(m) = &mut both {
            m.insert("source_security_group_id".into(), "sg-1".into());
        }
        let out_of_range = rule(&[
            ("protocol", "udp".into()),
            ("from_port", Value::Int(-1)),
            ("to_port", Value::Int(70000)),
            ("cidr_blocks", Value::List(vec!["10.0.0.0/8".into()])),
        ]);
        let bad_block = postgres(("cidr_blocks", Value::List(vec!["10.0.0.1/16".into()])));
        let bad_protocol = rule(&[
            ("protocol", "sctp-ish".into()),
            ("from_port", Value::Int(0)),
            ("to_port", Value::Int(0)),
            ("cidr_blocks", Value::List(vec!["0.0.0.0/0".into()])),
        ]);
        assert_eq!(
            problems(vec![
                from_group,
                both,
                out_of_range,
                bad_block,
                bad_protocol
            ]),
            [
                "ingress[2].from_port",
                "ingress[2].to_port",
                "ingress[3].cidr_blocks[0]",
                "ingress[4].protocol",
                "ingress[1]",
            ]
        );
        let reversed = rule(&[
            ("protocol", "tcp".into()),
            ("from_port", Value::Int(443)),
            ("to_port", Value::Int(80)),
            ("cidr_blocks", Value::List(vec!["0.0.0.0/0".into()])),
        ]);
        assert_eq!(problems(vec![reversed]), ["ingress[0].to_port"]);
        let no_ports = rule(&[
            ("protocol", "-1".into()),
            ("cidr_blocks", Value::List(vec![])),
        ]);
        assert_eq!(
            problems(vec![no_ports]),
            ["ingress[0].from_port", "ingress[0].to_port"]
        );
    }
}
