//! [`RdsSubnetGroup`]: the `rds_subnet_group` type, the subnets an RDS
//! instance may be placed in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbSubnetGroup;
use infra_aws::{AwsContext, Poll, classify, error_code, poll_until};
use infra_core::{
    Attribute, ErrorKind, Existing, Observed, OpContext, OpKind, Output, PathSeg, Provider,
    ProviderError, Schema, Type, Value, ValuePath,
};

use crate::client::Clients;
use crate::input::{Reader, keep_case, same_order, same_set, string_list, tag_map};
use crate::{rules, tags};

/// The resource type name.
pub const TYPE_NAME: &str = "rds_subnet_group";

/// The description AWS requires when the stack gives none.
pub const DEFAULT_DESCRIPTION: &str = "Managed by infra";

/// The `rds_subnet_group` provider.
///
/// | attribute | type | change | default |
/// | --- | --- | --- | --- |
/// | `name` | string, required | replace | |
/// | `description` | string | in place | `"Managed by infra"` |
/// | `subnet_ids` | list of string, required | in place | |
/// | `tags` | table of string | in place | `{}` |
///
/// Outputs: `arn`, `vpc_id`. The cloud id is the name, lowercase.
pub struct RdsSubnetGroup {
    schema: Schema,
    clients: Clients,
}

impl std::fmt::Debug for RdsSubnetGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdsSubnetGroup").finish_non_exhaustive()
    }
}

impl RdsSubnetGroup {
    /// The provider, reaching AWS through the shared context.
    pub fn new(aws: Arc<AwsContext>) -> Self {
        Self::build(Clients::new(aws, None))
    }

    /// The provider with a fixed SDK client (for tests with mocked
    /// responses); the context is then unused.
    pub fn with_client(aws: Arc<AwsContext>, client: Client) -> Self {
        Self::build(Clients::new(aws, Some(client)))
    }

    fn build(clients: Clients) -> Self {
        let schema = Schema::new(TYPE_NAME)
            .attribute(
                Attribute::new("name", Type::String)
                    .required()
                    .forces_replacement()
                    .describe("the group's name; AWS stores it lowercase"),
            )
            .attribute(
                Attribute::new("description", Type::String)
                    .default(DEFAULT_DESCRIPTION)
                    .describe("a description, updated in place"),
            )
            .attribute(
                Attribute::new("subnet_ids", Type::list(Type::String))
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
            ));
        RdsSubnetGroup { schema, clients }
    }
}

/// The inputs, typed.
struct Spec {
    name: String,
    description: String,
    subnet_ids: Vec<String>,
    tags: BTreeMap<String, String>,
}

impl Spec {
    fn parse(ctx: &OpContext, inputs: &Value) -> Result<Spec, ProviderError> {
        let mut r = Reader::new(inputs);
        let spec = Spec {
            name: r.required_string("name"),
            description: r.string_or("description", DEFAULT_DESCRIPTION),
            subnet_ids: r.strings("subnet_ids").unwrap_or_default(),
            tags: r.tags("tags"),
        };
        r.finish(&ctx.address.to_string())?;
        Ok(spec)
    }

    /// The name as AWS stores it.
    fn id(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

fn validate(inputs: &Value) -> Vec<(ValuePath, String)> {
    let mut out = Vec::new();
    let at = |k: &str| vec![PathSeg::Key(k.to_owned())];
    if let Some(Value::String(name)) = inputs.get("name")
        && let Err(m) = rules::subnet_group_name(name)
    {
        out.push((at("name"), format!("subnet group name `{name}` {m}")));
    }
    if let Some(Value::String(d)) = inputs.get("description")
        && (d.is_empty() || d.chars().count() > 255)
    {
        out.push((
            at("description"),
            "description must be 1 to 255 characters long".into(),
        ));
    }
    if let Some(Value::List(ids)) = inputs.get("subnet_ids") {
        // AWS refuses a group that does not cover two availability zones
        // (DBSubnetGroupDoesNotCoverEnoughAZs); fewer than two subnets never can.
        if ids.len() < 2 && !ids.iter().any(|v| matches!(v, Value::Unknown)) {
            out.push((
                at("subnet_ids"),
                "a DB subnet group needs subnets in at least two availability zones".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, id) in ids.iter().enumerate() {
            if let Value::String(s) = id
                && !seen.insert(s)
            {
                out.push((
                    vec![PathSeg::Key("subnet_ids".into()), PathSeg::Index(i)],
                    format!("subnet `{s}` is listed twice"),
                ));
            }
        }
    }
    if let Some(Value::Map(t)) = inputs.get("tags") {
        for (k, v) in t {
            if let Value::String(v) = v
                && let Err(m) = rules::tag(k, v)
            {
                out.push((
                    vec![PathSeg::Key("tags".into()), PathSeg::Key(k.clone())],
                    m,
                ));
            }
        }
    }
    out
}

/// What the cloud has, as inputs spelled like `reference` where AWS only
/// normalised them (case of the name, order of the subnets).
fn observe(group: &DbSubnetGroup, tags: &BTreeMap<String, String>, reference: &Value) -> Observed {
    let name = group.db_subnet_group_name().unwrap_or_default();
    let ref_name = reference.get("name").and_then(Value::as_str);
    let ref_subnets: Option<Vec<String>> = reference.get("subnet_ids").and_then(|v| {
        v.as_list().map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
    });
    let subnets: Vec<String> = group
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(str::to_owned))
        .collect();
    let inputs: Value = [
        ("name", Value::from(keep_case(name, ref_name))),
        (
            "description",
            Value::from(group.db_subnet_group_description().unwrap_or_default()),
        ),
        (
            "subnet_ids",
            string_list(&same_order(subnets, ref_subnets.as_deref())),
        ),
        ("tags", tag_map(tags)),
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
    Observed {
        id: name.to_owned(),
        inputs,
        outputs,
    }
}

/// The group named `id`, or `None` when there is none.
async fn describe(
    client: &Client,
    what: &str,
    id: &str,
) -> Result<Option<DbSubnetGroup>, ProviderError> {
    match client
        .describe_db_subnet_groups()
        .db_subnet_group_name(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_subnet_groups().first().cloned()),
        Err(e) if error_code(&e) == Some("DBSubnetGroupNotFoundFault") => Ok(None),
        Err(e) => Err(classify(&format!("reading {what}"), &e)),
    }
}

async fn observe_live(
    client: &Client,
    what: &str,
    group: &DbSubnetGroup,
    reference: &Value,
) -> Result<Observed, ProviderError> {
    let tags = match group.db_subnet_group_arn() {
        Some(arn) => tags::list(client, what, arn).await?,
        None => BTreeMap::new(),
    };
    Ok(observe(group, &tags, reference))
}

#[async_trait]
impl Provider for RdsSubnetGroup {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn settings_section(&self) -> Option<&str> {
        Some("aws")
    }

    fn check_settings(&self, settings: &Value) -> Vec<(ValuePath, String)> {
        infra_aws::AwsSettings::problems(settings)
    }

    fn validate(&self, inputs: &Value) -> Vec<(ValuePath, String)> {
        validate(inputs)
    }

    fn default_timeout(&self, _op: OpKind) -> Duration {
        // Terraform polls a deleted group for 3 minutes; the calls themselves
        // are synchronous.
        Duration::from_secs(5 * 60)
    }

    fn estimate(&self, op: OpKind, _inputs: &Value) -> Duration {
        match op {
            OpKind::Read => Duration::from_secs(1),
            _ => Duration::from_secs(3),
        }
    }

    async fn create(&self, ctx: &OpContext, inputs: &Value) -> Result<Observed, ProviderError> {
        let spec = Spec::parse(ctx, inputs)?;
        let what = format!("`{}` (DB subnet group {})", ctx.address, spec.id());
        let client = self.clients.get(ctx).await?;
        // A group with this name is what an interrupted create made (names
        // are unique per account and region): adopt it.
        if let Some(group) = describe(&client, &what, &spec.id()).await? {
            ctx.progress("adopting the existing DB subnet group");
            return observe_live(&client, &what, &group, inputs).await;
        }
        let doing = format!("creating {what}");
        let created = async {
            client
                .create_db_subnet_group()
                .db_subnet_group_name(&spec.name)
                .db_subnet_group_description(&spec.description)
                .set_subnet_ids(Some(spec.subnet_ids.clone()))
                .set_tags(Some(tags::to_sdk(&spec.tags)))
                .send()
                .await
                .map(|out| out.db_subnet_group)
                .or_else(|e| match error_code(&e) {
                    Some("DBSubnetGroupAlreadyExists") => Ok(None),
                    _ => Err(classify(&doing, &e)),
                })
        }
        .await?;
        match created {
            Some(group) => Ok(observe(&group, &spec.tags, inputs)),
            // Created concurrently (or by a retried request): adopt it.
            None => match describe(&client, &what, &spec.id()).await? {
                Some(group) => observe_live(&client, &what, &group, inputs).await,
                None => Err(ProviderError::new(
                    ErrorKind::Transient,
                    format!("{doing}: AWS says it exists but it cannot be read yet; apply again"),
                )),
            },
        }
    }

    async fn read(
        &self,
        ctx: &OpContext,
        existing: &Existing,
    ) -> Result<Option<Observed>, ProviderError> {
        let what = format!("`{}` (DB subnet group {})", ctx.address, existing.id);
        let client = self.clients.get(ctx).await?;
        match describe(&client, &what, &existing.id).await? {
            Some(group) => Ok(Some(
                observe_live(&client, &what, &group, &existing.inputs).await?,
            )),
            None => Ok(None),
        }
    }

    async fn find(
        &self,
        ctx: &OpContext,
        inputs: &Value,
    ) -> Result<Option<Observed>, ProviderError> {
        let spec = Spec::parse(ctx, inputs)?;
        let what = format!("`{}` (DB subnet group {})", ctx.address, spec.id());
        let client = self.clients.get(ctx).await?;
        match describe(&client, &what, &spec.id()).await? {
            Some(group) => Ok(Some(observe_live(&client, &what, &group, inputs).await?)),
            None => Ok(None),
        }
    }

    async fn update(
        &self,
        ctx: &OpContext,
        existing: &Existing,
        inputs: &Value,
    ) -> Result<Observed, ProviderError> {
        let spec = Spec::parse(ctx, inputs)?;
        let what = format!("`{}` (DB subnet group {})", ctx.address, existing.id);
        let client = self.clients.get(ctx).await?;
        let Some(group) = describe(&client, &what, &existing.id).await? else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("updating {what}: it no longer exists; plan again to create it"),
            ));
        };
        // Tags first: they are independent of the subnets, and an emulator
        // that re-stores the group on modify cannot lose them that way.
        if let Some(arn) = group.db_subnet_group_arn() {
            let actual = tags::list(&client, &what, arn).await?;
            tags::sync(&client, ctx, &what, arn, &actual, &spec.tags).await?;
        }
        let actual_subnets: Vec<String> = group
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier().map(str::to_owned))
            .collect();
        let group = if group.db_subnet_group_description() != Some(spec.description.as_str())
            || !same_set(&actual_subnets, &spec.subnet_ids)
        {
            // ModifyDBSubnetGroup replaces the whole list, so it always
            // carries every subnet and the description.
            let doing = format!("modifying {what}");
            let modified = async {
                client
                    .modify_db_subnet_group()
                    .db_subnet_group_name(&existing.id)
                    .db_subnet_group_description(&spec.description)
                    .set_subnet_ids(Some(spec.subnet_ids.clone()))
                    .send()
                    .await
                    .map_err(|e| classify(&doing, &e))
            }
            .await?;
            modified.db_subnet_group.unwrap_or(group)
        } else {
            group
        };
        Ok(observe(&group, &spec.tags, inputs))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let what = format!("`{}` (DB subnet group {})", ctx.address, existing.id);
        let client = self.clients.get(ctx).await?;
        let doing = format!("deleting {what}");
        async {
            match client
                .delete_db_subnet_group()
                .db_subnet_group_name(&existing.id)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if error_code(&e) == Some("DBSubnetGroupNotFoundFault") => Ok(()),
                Err(e) if error_code(&e) == Some("InvalidDBSubnetGroupStateFault") => {
                    let mut err = classify(&doing, &e);
                    err.message
                        .push_str("; it is still used by a DB instance: delete or move that first");
                    Err(err)
                }
                Err(e) => Err(classify(&doing, &e)),
            }
        }
        .await?;
        poll_until(
            ctx,
            &format!("waiting for {what} to be deleted"),
            || async {
                Ok(match describe(&client, &what, &existing.id).await? {
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
    use super::*;

    fn inputs(name: &str, subnets: &[&str]) -> Value {
        [
            ("name", Value::from(name)),
            (
                "subnet_ids",
                Value::List(subnets.iter().map(|s| Value::from(*s)).collect()),
            ),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn validation_names_the_attribute() {
        assert!(validate(&inputs("Airflow-DB", &["subnet-a", "subnet-b"])).is_empty());
        let problems = validate(&inputs("default", &["subnet-a"]));
        let paths: Vec<String> = problems
            .iter()
            .map(|(p, _)| infra_core::display_path(p))
            .collect();
        assert_eq!(paths, ["name", "subnet_ids"]);
        let dup = validate(&inputs("x", &["subnet-a", "subnet-a"]));
        assert_eq!(infra_core::display_path(&dup[0].0), "subnet_ids[1]");
    }

    #[test]
    fn observe_keeps_the_given_spelling_and_order() {
        let group = DbSubnetGroup::builder()
            .db_subnet_group_name("airflow-db")
            .db_subnet_group_description("d")
            .subnets(
                aws_sdk_rds::types::Subnet::builder()
                    .subnet_identifier("subnet-a")
                    .build(),
            )
            .subnets(
                aws_sdk_rds::types::Subnet::builder()
                    .subnet_identifier("subnet-b")
                    .build(),
            )
            .db_subnet_group_arn("arn:aws:rds:us-east-1:1:subgrp:airflow-db")
            .build();
        let given = inputs("Airflow-DB", &["subnet-b", "subnet-a"]);
        let o = observe(&group, &BTreeMap::new(), &given);
        assert_eq!(o.id, "airflow-db");
        assert_eq!(o.inputs.get("name"), given.get("name"));
        assert_eq!(o.inputs.get("subnet_ids"), given.get("subnet_ids"));
        assert_eq!(
            o.outputs.get("arn").and_then(Value::as_str),
            Some("arn:aws:rds:us-east-1:1:subgrp:airflow-db")
        );
    }
}
