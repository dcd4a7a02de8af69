//! [`RdsSubnetGroup`]: the `rds_subnet_group` type, the subnets an RDS
//! instance may be placed in (Terraform's `aws_db_subnet_group`). The cloud
//! id is the name, lowercase; outputs are `arn` and `vpc_id`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbSubnetGroup;
use infra_aws::{
    AwsContext, Clients, Poll, Tags, classify, error_code, found, poll_until, read_tags,
};
use infra_core::{
    Attribute, ErrorKind, Existing, Fields, Observed, OpContext, OpKind, Output, ProviderError,
    Request, Resource, Schema, SettingsTable, Type, UpdateRequest, Validator, Value, keep_case,
    same_order, same_set, string_list, string_map,
};

use crate::{rules, tags};

/// The resource type name.
pub const TYPE_NAME: &str = "rds_subnet_group";

/// The description AWS requires when the stack gives none.
pub const DEFAULT_DESCRIPTION: &str = "Managed by infra";

/// The `rds_subnet_group` type; register it as `Typed::new(RdsSubnetGroup::new(aws))`.
pub struct RdsSubnetGroup {
    clients: Clients<Client>,
}

impl std::fmt::Debug for RdsSubnetGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdsSubnetGroup").finish_non_exhaustive()
    }
}

impl RdsSubnetGroup {
    /// The type, reaching AWS through the shared context.
    pub fn new(aws: Arc<AwsContext>) -> Self {
        RdsSubnetGroup {
            clients: Clients::new(aws, Client::new),
        }
    }

    /// The type with a fixed SDK client (tests with mocked responses).
    pub fn with_client(aws: Arc<AwsContext>, client: Client) -> Self {
        RdsSubnetGroup {
            clients: Clients::fixed(aws, Client::new, client),
        }
    }
}

/// The inputs of an `rds_subnet_group`, typed.
#[derive(Debug)]
pub struct Spec {
    name: String,
    description: String,
    subnet_ids: Vec<String>,
    tags: Tags,
}

impl Spec {
    /// The name as AWS stores it: the cloud id.
    fn id(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

/// What the cloud has, as inputs spelled like `reference` where AWS only
/// normalised them (case of the name, order of the subnets).
fn observe(group: &DbSubnetGroup, tags: &Tags, reference: &Value) -> Observed {
    let name = group.db_subnet_group_name().unwrap_or_default();
    let given = reference.get("subnet_ids").and_then(Value::as_list);
    let given: Option<Vec<String>> = given.map(|l| {
        l.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    });
    let name_given = reference.get("name").and_then(Value::as_str);
    let description = group.db_subnet_group_description().unwrap_or_default();
    let inputs: Value = [
        ("name", keep_case(name, name_given).into()),
        ("description", description.into()),
        (
            "subnet_ids",
            string_list(&same_order(subnets(group), given.as_deref())),
        ),
        ("tags", string_map(tags)),
    ]
    .into_iter()
    .collect();
    let opt = |s: Option<&str>| s.map_or(Value::Null, Value::from);
    let outputs: Value = [
        ("id", Value::from(name)),
        ("arn", opt(group.db_subnet_group_arn())),
        ("vpc_id", opt(group.vpc_id())),
    ]
    .into_iter()
    .collect();
    let id = name.to_owned();
    Observed {
        id,
        inputs,
        outputs,
    }
}

fn subnets(group: &DbSubnetGroup) -> Vec<String> {
    let ids = group.subnets().iter().filter_map(|s| s.subnet_identifier());
    ids.map(str::to_owned).collect()
}

/// One operation's client, and what it works on, for messages.
struct Op {
    client: Client,
    what: String,
}

impl RdsSubnetGroup {
    async fn op(&self, ctx: &OpContext, id: &str) -> Result<Op, ProviderError> {
        let client = self.clients.get(ctx).await?;
        let what = format!("`{}` (DB subnet group {id})", ctx.address);
        Ok(Op { client, what })
    }
}

impl Op {
    /// The group named `id`, or `None` when there is none.
    async fn describe(&self, id: &str) -> Result<Option<DbSubnetGroup>, ProviderError> {
        let request = self
            .client
            .describe_db_subnet_groups()
            .db_subnet_group_name(id);
        let out = request.send().await;
        let out = found(out.map_err(|e| classify(&format!("reading {}", self.what), &e)))?;
        Ok(out.and_then(|o| o.db_subnet_groups().first().cloned()))
    }

    /// `group` observed with its tags, which only a second call returns.
    async fn observe(
        &self,
        group: &DbSubnetGroup,
        reference: &Value,
    ) -> Result<Observed, ProviderError> {
        let tags = match group.db_subnet_group_arn() {
            Some(arn) => tags::list(&self.client, &self.what, arn).await?,
            None => Tags::new(),
        };
        Ok(observe(group, &tags, reference))
    }

    /// The group named `id`, observed, if there is one.
    async fn look(&self, id: &str, reference: &Value) -> Result<Option<Observed>, ProviderError> {
        match self.describe(id).await? {
            Some(group) => Ok(Some(self.observe(&group, reference).await?)),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Resource for RdsSubnetGroup {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        Schema::new(TYPE_NAME)
            .attribute(
                Attribute::new("name", Type::String)
                    .required()
                    .forces_replacement()
                    .describe("the group's name; AWS stores it lowercase"),
            )
            .attribute(
                Attribute::new("description", Type::String)
                    .default(DEFAULT_DESCRIPTION)
                    .validate(Validator::Length { min: 1, max: 255 })
                    .describe("a description, updated in place"),
            )
            .attribute(
                Attribute::new("subnet_ids", Type::set(Type::String))
                    .required()
                    .describe("subnets in at least two availability zones, updated in place"),
            )
            .attribute(
                Attribute::new("tags", Type::map(Type::String))
                    .default(Value::map())
                    .describe("tags of the group"),
            )
            .output(Output::new("arn", Type::String, "the group's ARN"))
            .output(Output::new(
                "vpc_id",
                Type::String,
                "the VPC the subnets belong to",
            ))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        let rule = rules::quoting("subnet group name", rules::subnet_group_name);
        let name = rules::required(f, "name", rule);
        let description = f.string_or("description", DEFAULT_DESCRIPTION);
        let subnet_ids = f.strings("subnet_ids");
        // AWS refuses a group that does not cover two availability zones
        // (DBSubnetGroupDoesNotCoverEnoughAZs); fewer than two subnets never can.
        if subnet_ids.as_ref().is_some_and(|ids| ids.len() < 2) {
            let message = "a DB subnet group needs subnets in at least two availability zones";
            f.problem_at("subnet_ids", message);
        }
        let tags = read_tags(f, "tags");
        Spec {
            name,
            description,
            subnet_ids: subnet_ids.unwrap_or_default(),
            tags,
        }
    }

    fn settings(&self) -> Option<SettingsTable> {
        Some(infra_aws::AWS_SETTINGS)
    }

    fn default_timeout(&self, _op: OpKind) -> Duration {
        // Terraform polls a deleted group for 3 minutes; the calls themselves
        // are synchronous.
        Duration::from_secs(5 * 60)
    }

    fn estimate(&self, op: OpKind, _inputs: &Value) -> Duration {
        Duration::from_secs(if op == OpKind::Read { 1 } else { 3 })
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, &spec.id()).await?;
        // A group with this name is what an interrupted create made (names
        // are unique per account and region): adopt it.
        if let Some(group) = op.describe(&spec.id()).await? {
            ctx.progress("adopting the existing DB subnet group");
            return op.observe(&group, inputs).await;
        }
        let request = op
            .client
            .create_db_subnet_group()
            .db_subnet_group_name(&spec.name)
            .db_subnet_group_description(&spec.description)
            .set_subnet_ids(Some(spec.subnet_ids.clone()))
            .set_tags(Some(tags::to_sdk(&spec.tags)));
        let doing = format!("creating {}", op.what);
        let created = match request.send().await {
            Ok(out) => out.db_subnet_group,
            Err(e) if error_code(&e) == Some("DBSubnetGroupAlreadyExists") => None,
            Err(e) => return Err(classify(&doing, &e)),
        };
        if let Some(group) = created {
            return Ok(observe(&group, &spec.tags, inputs));
        }
        // Created concurrently (or by a retried request): adopt it.
        op.look(&spec.id(), inputs).await?.ok_or_else(|| {
            let message =
                format!("{doing}: AWS says it exists but it cannot be read yet; apply again");
            ProviderError::new(ErrorKind::Transient, message)
        })
    }

    async fn read(
        &self,
        ctx: &OpContext,
        existing: &Existing,
    ) -> Result<Option<Observed>, ProviderError> {
        let op = self.op(ctx, &existing.id).await?;
        op.look(&existing.id, &existing.inputs).await
    }

    async fn find(&self, op: Request<'_, Spec>) -> Result<Option<Observed>, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        self.op(ctx, &spec.id())
            .await?
            .look(&spec.id(), inputs)
            .await
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, spec, inputs) = op.parts();
        let op = self.op(ctx, &existing.id).await?;
        let Some(group) = op.describe(&existing.id).await? else {
            let message = format!(
                "updating {}: it no longer exists; plan again to create it",
                op.what
            );
            return Err(ProviderError::new(ErrorKind::NotFound, message));
        };
        // Tags first: they are independent of the subnets, and an emulator
        // that re-stores the group on modify cannot lose them that way.
        if let Some(arn) = group.db_subnet_group_arn() {
            let actual = tags::list(&op.client, &op.what, arn).await?;
            tags::sync(&op.client, &op.what, arn, &actual, &spec.tags).await?;
        }
        if group.db_subnet_group_description() == Some(spec.description.as_str())
            && same_set(&subnets(&group), &spec.subnet_ids)
        {
            return Ok(observe(&group, &spec.tags, inputs));
        }
        // ModifyDBSubnetGroup replaces the whole list, so it always carries
        // every subnet and the description.
        let modified = op
            .client
            .modify_db_subnet_group()
            .db_subnet_group_name(&existing.id)
            .db_subnet_group_description(&spec.description)
            .set_subnet_ids(Some(spec.subnet_ids.clone()))
            .send()
            .await
            .map_err(|e| classify(&format!("modifying {}", op.what), &e))?;
        let group = modified.db_subnet_group.unwrap_or(group);
        Ok(observe(&group, &spec.tags, inputs))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let op = self.op(ctx, &existing.id).await?;
        let request = op
            .client
            .delete_db_subnet_group()
            .db_subnet_group_name(&existing.id);
        let doing = format!("deleting {}", op.what);
        match request.send().await {
            Ok(_) => {}
            Err(e) if error_code(&e) == Some("DBSubnetGroupNotFoundFault") => {}
            Err(e) if error_code(&e) == Some("InvalidDBSubnetGroupStateFault") => {
                let mut err = classify(&doing, &e);
                err.message
                    .push_str("; it is still used by a DB instance: delete or move that first");
                return Err(err);
            }
            Err(e) => return Err(classify(&doing, &e)),
        }
        poll_until(
            ctx,
            &format!("waiting for {} to be deleted", op.what),
            || async {
                Ok(match op.describe(&existing.id).await? {
                    None => Poll::Ready(()),
                    Some(_) => Poll::Pending("still listed".into()),
                })
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Phase, display_path};

    use super::*;

    fn inputs(name: &str, subnets: &[&str]) -> Value {
        let subnets = Value::List(subnets.iter().map(|s| Value::from(*s)).collect());
        [("name", Value::from(name)), ("subnet_ids", subnets)]
            .into_iter()
            .collect()
    }

    /// Every plan-time problem: the schema's rules, then the parse's.
    fn problems(inputs: &Value) -> Vec<String> {
        let group = RdsSubnetGroup::new(AwsContext::new());
        let mut f = Fields::new(inputs, Phase::Plan);
        group.parse(&mut f);
        let schema = group.schema().validate(inputs);
        schema
            .into_iter()
            .chain(f.into_problems())
            .map(|(p, _)| display_path(&p))
            .collect()
    }

    #[test]
    fn validation_names_the_attribute() {
        assert!(problems(&inputs("Airflow-DB", &["subnet-a", "subnet-b"])).is_empty());
        assert_eq!(
            problems(&inputs("default", &["subnet-a"])),
            ["name", "subnet_ids"]
        );
        assert_eq!(
            problems(&inputs("x", &["subnet-a", "subnet-a"])),
            ["subnet_ids[1]"]
        );
        let unknown = Value::List(vec![Value::Unknown]);
        let mut later = inputs("x", &[]);
        if let Value::Map(m) = &mut later {
            m.insert("subnet_ids".into(), unknown);
        }
        assert!(problems(&later).is_empty(), "counted once known");
    }

    #[test]
    fn observe_keeps_the_given_spelling_and_order() {
        let subnet = |id: &str| {
            aws_sdk_rds::types::Subnet::builder()
                .subnet_identifier(id)
                .build()
        };
        let group = DbSubnetGroup::builder()
            .db_subnet_group_name("airflow-db")
            .db_subnet_group_description("d")
            .subnets(subnet("subnet-a"))
            .subnets(subnet("subnet-b"))
            .db_subnet_group_arn("arn:aws:rds:us-east-1:1:subgrp:airflow-db")
            .build();
        let given = inputs("Airflow-DB", &["subnet-b", "subnet-a"]);
        let o = observe(&group, &Tags::new(), &given);
        assert_eq!(o.id, "airflow-db");
        assert_eq!(o.inputs.get("name"), given.get("name"));
        assert_eq!(o.inputs.get("subnet_ids"), given.get("subnet_ids"));
        assert_eq!(
            o.outputs.get("arn").and_then(Value::as_str),
            Some("arn:aws:rds:us-east-1:1:subgrp:airflow-db")
        );
    }
}
