//! [`RdsSubnetGroup`]: the `rds_subnet_group` type, the subnets an RDS
//! instance may be placed in (Terraform's `aws_db_subnet_group`). The cloud
//! id is the name, lowercase; outputs are `arn` and `vpc_id`.

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbSubnetGroup;
use infra_aws::{AwsOp, Tags, error_code, found, read_tags, tags_attribute};
use infra_core::{
    Attribute, Existing, Fields, Observed, OpContext, Output, ProviderError, Request, Resource,
    Schema, Type, UpdateRequest, Validator, Value, keep_case, same_set, string_list, string_map,
};

use crate::{rules, tags};

/// The resource type name.
pub const TYPE_NAME: &str = "rds_subnet_group";

/// The description AWS requires when the stack gives none.
pub const DEFAULT_DESCRIPTION: &str = infra_aws::DEFAULT_DESCRIPTION;

infra_aws::resource_type! {
    /// The `rds_subnet_group` type; register it as `infra_aws::typed(RdsSubnetGroup::new(aws))`.
    pub struct RdsSubnetGroup(Client, "DB subnet group");
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

/// What the cloud has, with the name spelled as in `reference` where AWS
/// only lowercased it. (`subnet_ids` is a set: its order is not compared.)
fn observe(group: &DbSubnetGroup, tags: &Tags, reference: &Value) -> Observed {
    let name = group.db_subnet_group_name().unwrap_or_default();
    let name_given = reference.get("name").and_then(Value::as_str);
    let inputs = [
        ("name", keep_case(name, name_given).into()),
        ("description", group.db_subnet_group_description().into()),
        ("subnet_ids", string_list(&subnets(group))),
        ("tags", string_map(tags)),
    ];
    let outputs = [
        ("id", name.into()),
        ("arn", group.db_subnet_group_arn().into()),
        ("vpc_id", group.vpc_id().into()),
    ];
    Observed {
        id: name.to_owned(),
        inputs: inputs.into_iter().collect(),
        outputs: outputs.into_iter().collect(),
    }
}

fn subnets(group: &DbSubnetGroup) -> Vec<String> {
    let ids = group.subnets().iter().filter_map(|s| s.subnet_identifier());
    ids.map(str::to_owned).collect()
}

/// The group named `id`, or `None` when there is none.
async fn describe(op: &AwsOp<Client>, id: &str) -> Result<Option<DbSubnetGroup>, ProviderError> {
    let request = op
        .client
        .describe_db_subnet_groups()
        .db_subnet_group_name(id);
    let out = found(request.send().await.map_err(|e| op.failed("reading", &e)))?;
    Ok(out.and_then(|o| o.db_subnet_groups().first().cloned()))
}

/// The group named `id`, observed with its tags (which only a second call
/// returns), if there is one.
async fn look(op: &AwsOp<Client>, id: &str, reference: &Value) -> infra_core::ReadResult {
    let Some(group) = describe(op, id).await? else {
        return Ok(None);
    };
    let tags = match group.db_subnet_group_arn() {
        Some(arn) => tags::list(op, arn).await?,
        None => Tags::new(),
    };
    Ok(Some(observe(&group, &tags, reference)))
}

#[async_trait]
impl Resource for RdsSubnetGroup {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        let name = Attribute::new("name", Type::String)
            .required()
            .forces_replacement();
        let description = Attribute::new("description", Type::String)
            .default(DEFAULT_DESCRIPTION)
            .validate(Validator::Length { min: 1, max: 255 });
        // AWS refuses a group that does not cover two availability zones
        // (DBSubnetGroupDoesNotCoverEnoughAZs); fewer than two subnets never can.
        let subnet_ids = Attribute::new("subnet_ids", Type::set(Type::String))
            .required()
            .validate(Validator::Count {
                min: 2,
                max: usize::MAX,
            });
        Schema::new(TYPE_NAME)
            .attribute(name.describe("the group's name; AWS stores it lowercase"))
            .attribute(description.describe("a description, updated in place"))
            .attribute(
                subnet_ids.describe("subnets in at least two availability zones, updated in place"),
            )
            .attribute(tags_attribute("group"))
            .output(Output::new("arn", Type::String, "the group's ARN"))
            .output(Output::new("vpc_id", Type::String, "the subnets' VPC"))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        let rule = rules::quoting("subnet group name", rules::subnet_group_name);
        let name = rules::required(f, "name", rule);
        let description = f.string_or("description", DEFAULT_DESCRIPTION);
        let subnet_ids = f.strings("subnet_ids").unwrap_or_default();
        let tags = read_tags(f, "tags");
        Spec {
            name,
            description,
            subnet_ids,
            tags,
        }
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, &spec.id()).await?;
        // A group with this name is what an interrupted create made (names
        // are unique per account and region): adopt it.
        if let Some(group) = look(&op, &spec.id(), inputs).await? {
            ctx.progress("adopting the existing DB subnet group");
            return Ok(group);
        }
        let request = op
            .client
            .create_db_subnet_group()
            .db_subnet_group_name(&spec.name)
            .db_subnet_group_description(&spec.description)
            .set_subnet_ids(Some(spec.subnet_ids.clone()))
            .set_tags(Some(tags::to_sdk(&spec.tags)));
        match request.send().await.map(|out| out.db_subnet_group) {
            Ok(Some(group)) => return Ok(observe(&group, &spec.tags, inputs)),
            Ok(None) => {}
            Err(e) if error_code(&e) == Some("DBSubnetGroupAlreadyExists") => {}
            Err(e) => return Err(op.failed("creating", &e)),
        }
        // Created concurrently (or by a retried request): adopt it.
        let group = look(&op, &spec.id(), inputs).await?;
        group.ok_or_else(|| op.not_visible_yet("creating"))
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let op = self.op(ctx, &existing.id).await?;
        look(&op, &existing.id, &existing.inputs).await
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let (ctx, spec, inputs) = op.parts();
        look(&self.op(ctx, &spec.id()).await?, &spec.id(), inputs).await
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, spec, inputs) = op.parts();
        let op = self.op(ctx, &existing.id).await?;
        let group = describe(&op, &existing.id)
            .await?
            .ok_or_else(|| op.gone("updating"))?;
        // Tags first: they are independent of the subnets, and an emulator
        // that re-stores the group on modify cannot lose them that way.
        if let Some(arn) = group.db_subnet_group_arn() {
            let actual = tags::list(&op, arn).await?;
            tags::sync(&op, arn, &actual, &spec.tags).await?;
        }
        if group.db_subnet_group_description() == Some(spec.description.as_str())
            && same_set(&subnets(&group), &spec.subnet_ids)
        {
            return Ok(observe(&group, &spec.tags, inputs));
        }
        // ModifyDBSubnetGroup replaces the whole list, so it always carries
        // every subnet and the description.
        let request = op
            .client
            .modify_db_subnet_group()
            .db_subnet_group_name(&existing.id)
            .db_subnet_group_description(&spec.description)
            .set_subnet_ids(Some(spec.subnet_ids.clone()));
        let modified = request
            .send()
            .await
            .map_err(|e| op.failed("modifying", &e))?;
        let group = modified.db_subnet_group.unwrap_or(group);
        Ok(observe(&group, &spec.tags, inputs))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let op = self.op(ctx, &existing.id).await?;
        let request = op
            .client
            .delete_db_subnet_group()
            .db_subnet_group_name(&existing.id);
        match request.send().await {
            Ok(_) => {}
            Err(e) if error_code(&e) == Some("DBSubnetGroupNotFoundFault") => {}
            Err(e) if error_code(&e) == Some("InvalidDBSubnetGroupStateFault") => {
                let hint = "it is still used by a DB instance: delete or move that first";
                return Err(op.failed("deleting", &e).hint(hint));
            }
            Err(e) => return Err(op.failed("deleting", &e)),
        }
        op.wait_gone(ctx, || describe(&op, &existing.id)).await
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Phase, display_path};

    use super::*;
    use infra_aws::AwsContext;

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
            ["subnet_ids", "name"]
        );
        assert_eq!(
            problems(&inputs("x", &["subnet-a", "subnet-a"])),
            ["subnet_ids[1]"]
        );
        // References not resolved yet still count: each is one subnet.
        let with_subnets = |ids: Vec<Value>| {
            let mut later = inputs("x", &[]);
            if let Value::Map(m) = &mut later {
                m.insert("subnet_ids".into(), Value::List(ids));
            }
            problems(&later)
        };
        assert!(with_subnets(vec![Value::Unknown, Value::Unknown]).is_empty());
        assert_eq!(with_subnets(vec![Value::Unknown]), ["subnet_ids"]);
    }

    #[test]
    fn observe_keeps_the_given_spelling_and_the_schema_ignores_the_order() {
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
        let (read, given) = (
            o.inputs.get("subnet_ids").unwrap(),
            given.get("subnet_ids").unwrap(),
        );
        assert_ne!(read, given, "AWS's order is kept");
        let schema = RdsSubnetGroup::new(AwsContext::new()).schema();
        let subnets = &schema.input("subnet_ids").unwrap().ty;
        assert!(subnets.same(read, given), "but compared as a set");
        assert_eq!(
            o.outputs.get("arn").and_then(Value::as_str),
            Some("arn:aws:rds:us-east-1:1:subgrp:airflow-db")
        );
    }
}
