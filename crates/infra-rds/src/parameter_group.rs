//! [`RdsParameterGroup`]: the `rds_parameter_group` type, the engine
//! settings an RDS instance runs with (Terraform's `aws_db_parameter_group`).
//! The cloud id is the name, lowercase; outputs are `arn` and `name`.
//!
//! Parameters are a table `name = value`. Only the parameters the stack
//! sets are managed: they are read back with `DescribeDBParameters`
//! (`Source = "user"`), so the engine's defaults are never drift. How each
//! one applies is not asked of the stack: AWS says it (`ApplyType`), and a
//! `dynamic` parameter is applied `immediate`, a `static` one (or one AWS
//! does not describe) `pending-reboot`, which AWS accepts for both and
//! which takes effect at the instance's next reboot. A parameter removed
//! from the stack is reset to the engine default (`ResetDBParameterGroup`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::{ApplyMethod, DbInstance, DbParameterGroup, Parameter};
use infra_aws::{AwsOp, Poll, Tags, error_code, poll_until, read_tags, tags_attribute};
use infra_core::{
    Attribute, ErrorKind, Existing, Fields, Observed, OpContext, OpKind, Output, PathSeg, Phase,
    ProviderError, Request, Resource, Schema, Type, UpdateRequest, Validator, Value, keep_case,
    string_map,
};

use crate::{rules, tags};

/// The resource type name.
pub const TYPE_NAME: &str = "rds_parameter_group";

/// The description AWS requires when the stack gives none.
pub const DEFAULT_DESCRIPTION: &str = infra_aws::DEFAULT_DESCRIPTION;

/// `ModifyDBParameterGroup` and `ResetDBParameterGroup` take at most this
/// many parameters per call.
pub const MAX_PARAMETERS_PER_CALL: usize = 20;

/// The most pages of parameters read in one go: a family has a few hundred
/// parameters (100 a page), so this only stops an endless marker.
const MAX_PAGES: usize = 50;

infra_aws::resource_type! {
    /// The `rds_parameter_group` type; register it as
    /// `infra_aws::typed(RdsParameterGroup::new(aws))`.
    ///
    /// | attribute | type | change | default |
    /// | --- | --- | --- | --- |
    /// | `name` | string, required | R | |
    /// | `family` | string, required | R | |
    /// | `description` | string | R | `"Managed by infra"` |
    /// | `parameters` | table of string, integer or boolean | in place | `{}` |
    /// | `tags` | table of string | in place | `{}` |
    ///
    /// Outputs: `arn`, `name` (lowercase, as AWS stores it).
    pub struct RdsParameterGroup(Client, "DB parameter group");
}

/// The inputs of an `rds_parameter_group`, typed.
#[derive(Debug)]
pub struct Spec {
    name: String,
    family: String,
    description: String,
    /// Each value as sent: its text, booleans as `1` / `0`.
    parameters: BTreeMap<String, String>,
    tags: Tags,
}

impl Spec {
    /// The name as AWS stores it: the cloud id.
    fn id(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

/// A parameter value as it is sent: strings as written, integers in
/// decimal, booleans as `1` / `0` (the spelling RDS PostgreSQL's boolean
/// parameters allow). `None` for any other kind of value.
fn sent(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        _ => None,
    }
}

/// What a boolean parameter value means, in any of PostgreSQL's spellings.
fn truth(value: &str) -> Option<bool> {
    let v = value.to_ascii_lowercase();
    match v.as_str() {
        "1" | "on" | "true" | "yes" => Some(true),
        "0" | "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Whether the value the stack sends and the one AWS reports mean the
/// same: equal but for ASCII case, the same boolean (`1` and `on`), or the
/// same integer (`0100` and `100`).
fn same_value(wanted: &str, actual: &str) -> bool {
    if wanted.eq_ignore_ascii_case(actual) {
        return true;
    }
    if let (Some(a), Some(b)) = (truth(wanted), truth(actual)) {
        return a == b;
    }
    matches!(
        (wanted.trim().parse::<i64>(), actual.trim().parse::<i64>()),
        (Ok(a), Ok(b)) if a == b
    )
}

/// The parameters the stack sets, each as sent, every bad value a problem
/// at its key.
fn parameters(f: &mut Fields<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let apply = f.phase() == Phase::Apply;
    let Some(value) = f.value("parameters") else {
        return out;
    };
    let Value::Map(entries) = value else {
        let message = format!(
            "`parameters` must be a table of parameter names and values, found {}",
            value.kind()
        );
        f.problem_at("parameters", message);
        return out;
    };
    for (name, v) in entries {
        let at = [
            PathSeg::Key("parameters".into()),
            PathSeg::Key(name.clone()),
        ];
        if name.trim().is_empty() {
            f.problem(&at, "a parameter name must not be empty");
            continue;
        }
        match (v, sent(v)) {
            (_, Some(text)) => {
                out.insert(name.clone(), text);
            }
            (Value::Unknown, None) if !apply => {}
            (Value::Unknown, None) => {
                let message = format!("`parameters.{name}` is not known yet; it cannot be applied");
                f.problem(&at, message);
            }
            (other, None) => {
                let message = format!(
                    "`parameters.{name}` must be a string, an integer or a boolean, found {} (write other values as strings, e.g. \"0.1\")",
                    other.kind()
                );
                f.problem(&at, message);
            }
        }
    }
    out
}

/// What the cloud has, spelled as in `reference` where AWS only
/// normalised it: the name's case, a parameter value that means the same.
fn observe(
    group: &DbParameterGroup,
    parameters: &BTreeMap<String, String>,
    tags: &Tags,
    reference: &Value,
) -> Observed {
    let name = group.db_parameter_group_name().unwrap_or_default();
    let given = |k: &str| reference.get(k).and_then(Value::as_str);
    let given_parameters = reference.get("parameters");
    let parameters: BTreeMap<String, Value> = parameters
        .iter()
        .map(|(k, actual)| {
            let given = given_parameters.and_then(|p| p.get(k));
            let v = match given {
                Some(g) if sent(g).is_some_and(|w| same_value(&w, actual)) => g.clone(),
                _ => Value::String(actual.clone()),
            };
            (k.clone(), v)
        })
        .collect();
    let family = group.db_parameter_group_family().unwrap_or_default();
    let inputs = [
        ("name", keep_case(name, given("name")).into()),
        ("family", keep_case(family, given("family")).into()),
        ("description", group.description().into()),
        ("parameters", Value::Map(parameters)),
        ("tags", string_map(tags)),
    ];
    let outputs = [
        ("id", name.into()),
        ("arn", group.db_parameter_group_arn().into()),
        ("name", name.into()),
    ];
    Observed {
        id: name.to_owned(),
        inputs: inputs.into_iter().collect(),
        outputs: outputs.into_iter().collect(),
    }
}

/// Whether an error code says there is no such parameter group.
fn is_not_found(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("DBParameterGroupNotFound" | "DBParameterGroupNotFoundFault")
    )
}

/// The group named `id`, or `None` when there is none.
async fn describe(op: &AwsOp<Client>, id: &str) -> Result<Option<DbParameterGroup>, ProviderError> {
    let request = op
        .client
        .describe_db_parameter_groups()
        .db_parameter_group_name(id);
    match request.send().await {
        Ok(out) => Ok(out.db_parameter_groups().first().cloned()),
        Err(e) if is_not_found(error_code(&e)) => Ok(None),
        Err(e) => Err(op.failed("reading", &e)),
    }
}

/// Calls `visit` on each parameter of group `id` (only those from `source`
/// when given), page by page, until it returns `false`.
async fn each_parameter(
    op: &AwsOp<Client>,
    id: &str,
    source: Option<&str>,
    mut visit: impl FnMut(&Parameter) -> bool,
) -> Result<(), ProviderError> {
    let mut marker = None;
    for _ in 0..MAX_PAGES {
        let request = op
            .client
            .describe_db_parameters()
            .db_parameter_group_name(id)
            .set_source(source.map(str::to_owned))
            .max_records(100)
            .set_marker(marker.take());
        let out = request
            .send()
            .await
            .map_err(|e| op.failed("reading the parameters of", &e))?;
        for p in out.parameters() {
            if !visit(p) {
                return Ok(());
            }
        }
        match out.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// The parameters set in group `id` (not the engine's defaults).
async fn user_parameters(
    op: &AwsOp<Client>,
    id: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let mut out = BTreeMap::new();
    each_parameter(op, id, Some("user"), |p| {
        // A parameter RDS reports without a value has none set.
        if let (Some(name), Some(value)) = (p.parameter_name(), p.parameter_value()) {
            out.insert(name.to_owned(), value.to_owned());
        }
        true
    })
    .await?;
    Ok(out)
}

/// How a parameter AWS describes with `apply_type` is applied: a dynamic
/// one at once, anything else at the next reboot (which AWS accepts for
/// every parameter).
fn apply_method(apply_type: Option<&str>) -> ApplyMethod {
    match apply_type {
        Some(t) if t.eq_ignore_ascii_case("dynamic") => ApplyMethod::Immediate,
        _ => ApplyMethod::PendingReboot,
    }
}

/// The apply method of each of `names`, from what AWS says of the group's
/// parameters; names it does not describe get `pending-reboot`.
async fn apply_methods(
    op: &AwsOp<Client>,
    id: &str,
    names: &BTreeSet<&str>,
) -> Result<BTreeMap<String, ApplyMethod>, ProviderError> {
    let mut out = BTreeMap::new();
    if names.is_empty() {
        return Ok(out);
    }
    each_parameter(op, id, None, |p| {
        if let Some(name) = p.parameter_name()
            && names.contains(name)
        {
            out.insert(name.to_owned(), apply_method(p.apply_type()));
        }
        out.len() < names.len()
    })
    .await?;
    for name in names {
        out.entry((*name).to_owned())
            .or_insert(ApplyMethod::PendingReboot);
    }
    Ok(out)
}

/// The calls that take the parameters from `actual` to `wanted`: the
/// values to set, and the names to reset to the engine default.
#[derive(Debug, Default, PartialEq)]
struct ParameterChange {
    set: Vec<(String, String)>,
    reset: Vec<String>,
}

impl ParameterChange {
    fn between(actual: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> Self {
        let set = wanted
            .iter()
            .filter(|(k, v)| !actual.get(*k).is_some_and(|a| same_value(v, a)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let reset = actual
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        ParameterChange { set, reset }
    }

    fn is_empty(&self) -> bool {
        self.set.is_empty() && self.reset.is_empty()
    }

    fn names(&self) -> BTreeSet<&str> {
        let set = self.set.iter().map(|(k, _)| k.as_str());
        set.chain(self.reset.iter().map(String::as_str)).collect()
    }
}

/// Brings the parameters of group `id` from `actual` to `wanted`, at most
/// [`MAX_PARAMETERS_PER_CALL`] a call.
async fn sync_parameters(
    op: &AwsOp<Client>,
    ctx: &OpContext,
    id: &str,
    actual: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let change = ParameterChange::between(actual, wanted);
    if change.is_empty() {
        return Ok(());
    }
    let methods = apply_methods(op, id, &change.names()).await?;
    let method = |name: &str| {
        methods
            .get(name)
            .cloned()
            .unwrap_or(ApplyMethod::PendingReboot)
    };
    for batch in change.set.chunks(MAX_PARAMETERS_PER_CALL) {
        let names: Vec<&str> = batch.iter().map(|(k, _)| k.as_str()).collect();
        ctx.progress(&format!("setting {}", names.join(", ")));
        let parameters = batch.iter().map(|(k, v)| {
            Parameter::builder()
                .parameter_name(k)
                .parameter_value(v)
                .apply_method(method(k))
                .build()
        });
        op.client
            .modify_db_parameter_group()
            .db_parameter_group_name(id)
            .set_parameters(Some(parameters.collect()))
            .send()
            .await
            .map_err(|e| op.failed(&format!("setting {} of", names.join(", ")), &e))?;
    }
    for batch in change.reset.chunks(MAX_PARAMETERS_PER_CALL) {
        ctx.progress(&format!("resetting {}", batch.join(", ")));
        let parameters = batch.iter().map(|k| {
            Parameter::builder()
                .parameter_name(k)
                .apply_method(method(k))
                .build()
        });
        op.client
            .reset_db_parameter_group()
            .db_parameter_group_name(id)
            .set_parameters(Some(parameters.collect()))
            .send()
            .await
            .map_err(|e| op.failed(&format!("resetting {} of", batch.join(", ")), &e))?;
    }
    Ok(())
}

/// The group named `id`, observed with its parameters and tags (which
/// take a call each), if there is one.
async fn look(op: &AwsOp<Client>, id: &str, reference: &Value) -> infra_core::ReadResult {
    let Some(group) = describe(op, id).await? else {
        return Ok(None);
    };
    let parameters = user_parameters(op, id).await?;
    let tags = match group.db_parameter_group_arn() {
        Some(arn) => tags::list(op, arn).await?,
        None => Tags::new(),
    };
    Ok(Some(observe(&group, &parameters, &tags, reference)))
}

/// A DB instance that uses a parameter group, as a delete reports it.
#[derive(Debug, PartialEq)]
struct User {
    identifier: String,
    status: String,
    /// How the group's parameters stand on the instance (`in-sync`,
    /// `applying`, `pending-reboot`).
    apply_status: String,
}

impl User {
    /// Whether the instance is on its way somewhere that may release the
    /// group: deleting, or being moved to another group.
    fn releasing(&self) -> bool {
        self.status != "available" || self.apply_status == "applying"
    }
}

/// The instances that use group `id`.
fn users_in(instances: &[DbInstance], id: &str) -> Vec<User> {
    let mut out = Vec::new();
    for db in instances {
        let group = db.db_parameter_groups().iter().find(|g| {
            g.db_parameter_group_name()
                .is_some_and(|n| n.eq_ignore_ascii_case(id))
        });
        if let Some(g) = group {
            out.push(User {
                identifier: db.db_instance_identifier().unwrap_or_default().to_owned(),
                status: db.db_instance_status().unwrap_or_default().to_owned(),
                apply_status: g.parameter_apply_status().unwrap_or_default().to_owned(),
            });
        }
    }
    out
}

/// Every DB instance that uses group `id`.
async fn users(op: &AwsOp<Client>, id: &str) -> Result<Vec<User>, ProviderError> {
    let mut out = Vec::new();
    let mut marker = None;
    for _ in 0..MAX_PAGES {
        let out_page = op
            .client
            .describe_db_instances()
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| op.failed("listing the DB instances that use", &e))?;
        out.extend(users_in(out_page.db_instances(), id));
        match out_page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

/// What a delete refused as `InvalidDBParameterGroupState` means: a wait
/// while what uses the group is going away or moving off it (AWS releases
/// it then), else an error naming the instances that hold it.
fn still_used(what: &str, users: &[User], aws: &str) -> Result<String, ProviderError> {
    if users.is_empty() {
        return Ok(format!("waiting for AWS to release it (AWS: {aws})"));
    }
    let named = |u: &User| format!("`{}`", u.identifier);
    if let Some(u) = users.iter().find(|u| u.releasing()) {
        let detail = if u.status == "available" {
            format!("parameters {}", u.apply_status)
        } else {
            format!("status {}", u.status)
        };
        return Ok(format!(
            "waiting for DB instance {} ({detail}) to release it",
            named(u)
        ));
    }
    let list: Vec<String> = users.iter().map(named).collect();
    Err(ProviderError::new(
        ErrorKind::Invalid,
        format!("deleting {what}: it is still used by DB instance {}", list.join(", ")),
    )
    .hint(
        "point those instances at another group (`parameter_group_name`) or delete them first; to replace a group an instance uses, set lifecycle.create_before_destroy = true on the group so the instance moves to the new one before the old one is deleted",
    ))
}

#[async_trait]
impl Resource for RdsParameterGroup {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        let name = Attribute::new("name", Type::String)
            .required()
            .forces_replacement()
            .describe(
                "the group's name: letters, digits and hyphens, starting with a letter; AWS stores it lowercase",
            );
        let family = Attribute::new("family", Type::String)
            .required()
            .forces_replacement()
            .validate(Validator::Length { min: 1, max: 255 })
            .describe(
                "the engine family, e.g. `postgres16`; it must match the instances' major version",
            );
        // ModifyDBParameterGroup cannot change the description.
        let description = Attribute::new("description", Type::String)
            .default(DEFAULT_DESCRIPTION)
            .forces_replacement()
            .validate(Validator::Length { min: 1, max: 255 });
        let parameters = Attribute::new("parameters", Type::map(Type::Any))
            .default(Value::map())
            .describe(
                "parameter name = value (string, integer or boolean, booleans sent as 1/0), updated in place: dynamic parameters at once, static ones at each instance's next reboot; one removed here is reset to the engine default",
            );
        Schema::new(TYPE_NAME)
            .attribute(name)
            .attribute(family)
            .attribute(description.describe("a description; a new one replaces the group"))
            .attribute(parameters)
            .attribute(tags_attribute("group"))
            .output(Output::new("arn", Type::String, "the group's ARN"))
            .output(Output::new(
                "name",
                Type::String,
                "the group's name as AWS stores it (lowercase)",
            ))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        let rule = rules::quoting("parameter group name", |v| rules::identifier(v, 255));
        let name = rules::required(f, "name", rule);
        let family = f.required_string("family");
        let description = f.string_or("description", DEFAULT_DESCRIPTION);
        let parameters = parameters(f);
        let tags = read_tags(f, "tags");
        Spec {
            name,
            family,
            description,
            parameters,
            tags,
        }
    }

    fn default_timeout(&self, op: OpKind) -> Duration {
        // A delete waits for instances going away to release the group.
        match op {
            OpKind::Delete => Duration::from_secs(20 * 60),
            _ => Duration::from_secs(5 * 60),
        }
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let id = spec.id();
        let op = self.op(ctx, &id).await?;
        // A group with this name is what an interrupted create made (names
        // are unique per account and region): adopt it, and finish setting
        // its parameters.
        let group = match describe(&op, &id).await? {
            Some(group) => {
                ctx.progress("adopting the existing DB parameter group");
                group
            }
            None => {
                // Sent lowercase, as AWS stores it either way.
                let request = op
                    .client
                    .create_db_parameter_group()
                    .db_parameter_group_name(&id)
                    .db_parameter_group_family(&spec.family)
                    .description(&spec.description)
                    .set_tags(Some(tags::to_sdk(&spec.tags)));
                let created = match request.send().await {
                    Ok(out) => out.db_parameter_group,
                    // Made concurrently, or by a retried request: adopt it.
                    Err(e) if error_code(&e) == Some("DBParameterGroupAlreadyExists") => None,
                    Err(e) => return Err(op.failed("creating", &e)),
                };
                match created {
                    Some(group) => group,
                    None => describe(&op, &id)
                        .await?
                        .ok_or_else(|| op.not_visible_yet("creating"))?,
                }
            }
        };
        // One of another family is not what this create made: the next
        // plan shows the difference (a replacement) rather than this
        // create changing its parameters.
        let family = group.db_parameter_group_family().unwrap_or_default();
        if family.eq_ignore_ascii_case(&spec.family) {
            let actual = user_parameters(&op, &id).await?;
            sync_parameters(&op, ctx, &id, &actual, &spec.parameters).await?;
        }
        let found = look(&op, &id, inputs).await?;
        found.ok_or_else(|| op.not_visible_yet("creating"))
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
        let id = existing.id.clone();
        let op = self.op(ctx, &id).await?;
        let group = describe(&op, &id)
            .await?
            .ok_or_else(|| op.gone("updating"))?;
        if let Some(arn) = group.db_parameter_group_arn() {
            let actual = tags::list(&op, arn).await?;
            tags::sync(&op, arn, &actual, &spec.tags).await?;
        }
        // Against what the group has now, so changes made outside infra
        // converge too.
        let actual = user_parameters(&op, &id).await?;
        sync_parameters(&op, ctx, &id, &actual, &spec.parameters).await?;
        look(&op, &id, inputs)
            .await?
            .ok_or_else(|| op.gone("updating"))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let id = existing.id.clone();
        let op = self.op(ctx, &id).await?;
        let what = op.what.clone();
        poll_until(ctx, &format!("deleting {what}"), || async {
            let request = op
                .client
                .delete_db_parameter_group()
                .db_parameter_group_name(&id);
            match request.send().await {
                Ok(_) => Ok(Poll::Ready(())),
                Err(e) if is_not_found(error_code(&e)) => Ok(Poll::Ready(())),
                Err(e)
                    if matches!(
                        error_code(&e),
                        Some("InvalidDBParameterGroupState" | "InvalidDBParameterGroupStateFault")
                    ) =>
                {
                    let aws = e
                        .as_service_error()
                        .and_then(aws_sdk_rds::error::ProvideErrorMetadata::message)
                        .unwrap_or("in use")
                        .to_owned();
                    let users = users(&op, &id).await?;
                    Ok(Poll::Pending(still_used(&what, &users, &aws)?))
                }
                Err(e) => Err(op.failed("deleting", &e)),
            }
        })
        .await?;
        op.wait_gone(ctx, || describe(&op, &id)).await
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_rds::types::DbParameterGroupStatus;
    use infra_core::display_path;

    use super::*;
    use infra_aws::AwsContext;

    fn inputs(name: &str, parameters: Value) -> Value {
        [
            ("name", Value::from(name)),
            ("family", Value::from("postgres16")),
            ("parameters", parameters),
        ]
        .into_iter()
        .collect()
    }

    fn table(pairs: &[(&str, Value)]) -> Value {
        pairs.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    /// Every problem at `phase`: the schema's rules, then the parse's.
    fn problems_at(inputs: &Value, phase: Phase) -> Vec<String> {
        let group = RdsParameterGroup::new(AwsContext::new());
        let mut f = Fields::new(inputs, phase);
        group.parse(&mut f);
        let schema = group.schema().validate(inputs);
        schema
            .into_iter()
            .chain(f.into_problems())
            .map(|(p, m)| format!("{}: {m}", display_path(&p)))
            .collect()
    }

    #[test]
    fn values_are_sent_as_strings_and_bad_ones_named() {
        let good = table(&[
            ("max_connections", Value::Int(200)),
            ("log_connections", Value::Bool(true)),
            ("rds.force_ssl", Value::Bool(false)),
            ("timezone", Value::from("UTC")),
        ]);
        let group = RdsParameterGroup::new(AwsContext::new());
        let given = inputs("Airflow-PG", good);
        let mut f = Fields::new(&given, Phase::Apply);
        let spec = group.parse(&mut f);
        assert!(f.into_problems().is_empty());
        let sent: Vec<(&str, &str)> = spec
            .parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            sent,
            [
                ("log_connections", "1"),
                ("max_connections", "200"),
                ("rds.force_ssl", "0"),
                ("timezone", "UTC")
            ]
        );
        assert_eq!(spec.id(), "airflow-pg");

        let bad = table(&[
            ("work_mem", Value::Float(0.5)),
            ("shared_preload_libraries", Value::List(vec![])),
            ("later", Value::Unknown),
        ]);
        let at_plan = problems_at(&inputs("1pg", bad.clone()), Phase::Plan);
        assert_eq!(at_plan.len(), 3, "{at_plan:?}");
        assert!(
            at_plan[0].starts_with("name: parameter group name `1pg` must start with a letter")
        );
        assert!(
            at_plan[1].starts_with("parameters.shared_preload_libraries: ")
                && at_plan[1].contains("found list"),
            "{at_plan:?}"
        );
        assert!(
            at_plan[2].starts_with("parameters.work_mem: ") && at_plan[2].contains("\"0.1\""),
            "{at_plan:?}"
        );
        // Unknown at plan passes; at apply it cannot be sent.
        let at_apply = problems_at(&inputs("pg", bad), Phase::Apply);
        assert!(
            at_apply.iter().any(|p| p.starts_with("parameters.later: ")),
            "{at_apply:?}"
        );
    }

    #[test]
    fn values_equal_by_meaning_keep_the_stacks_spelling() {
        assert!(same_value("1", "on"));
        assert!(same_value("true", "1"));
        assert!(same_value("OFF", "0"));
        assert!(!same_value("1", "0"));
        assert!(same_value("UTC", "utc"));
        assert!(same_value("0100", "100"));
        assert!(!same_value("200", "300"));
        let group = DbParameterGroup::builder()
            .db_parameter_group_name("airflow-pg")
            .db_parameter_group_family("postgres16")
            .description("d")
            .db_parameter_group_arn("arn:aws:rds:us-east-1:1:pg:airflow-pg")
            .build();
        let live: BTreeMap<String, String> = [
            ("log_connections", "1"),
            ("max_connections", "300"),
            ("timezone", "utc"),
            ("work_mem", "4096"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let given = inputs(
            "Airflow-PG",
            table(&[
                ("log_connections", Value::Bool(true)),
                ("max_connections", Value::Int(200)),
                ("timezone", Value::from("UTC")),
            ]),
        );
        let o = observe(&group, &live, &Tags::new(), &given);
        assert_eq!(o.id, "airflow-pg");
        assert_eq!(o.inputs.get("name"), given.get("name"));
        assert_eq!(
            o.inputs.get("parameters"),
            Some(&table(&[
                ("log_connections", Value::Bool(true)),
                // Drift: AWS's value, as AWS spells it.
                ("max_connections", Value::from("300")),
                ("timezone", Value::from("UTC")),
                // Set outside infra: shown, so the plan resets it.
                ("work_mem", Value::from("4096")),
            ]))
        );
        assert_eq!(
            o.outputs.get("name").and_then(Value::as_str),
            Some("airflow-pg")
        );
    }

    #[test]
    fn changes_set_what_differs_and_reset_what_is_gone() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let actual = map(&[("a", "1"), ("b", "on"), ("c", "x")]);
        let wanted = map(&[("a", "2"), ("b", "1"), ("d", "y")]);
        let change = ParameterChange::between(&actual, &wanted);
        assert_eq!(
            change,
            ParameterChange {
                set: vec![("a".into(), "2".into()), ("d".into(), "y".into())],
                reset: vec!["c".into()],
            }
        );
        assert!(ParameterChange::between(&wanted, &wanted).is_empty());
        assert_eq!(apply_method(Some("dynamic")), ApplyMethod::Immediate);
        assert_eq!(apply_method(Some("static")), ApplyMethod::PendingReboot);
        assert_eq!(apply_method(None), ApplyMethod::PendingReboot);
    }

    #[test]
    fn a_group_in_use_names_its_instances_and_waits_only_while_they_move() {
        let db = |id: &str, status: &str, group: &str, apply: &str| {
            DbInstance::builder()
                .db_instance_identifier(id)
                .db_instance_status(status)
                .db_parameter_groups(
                    DbParameterGroupStatus::builder()
                        .db_parameter_group_name(group)
                        .parameter_apply_status(apply)
                        .build(),
                )
                .build()
        };
        let all = [
            db("airflow-db", "available", "airflow-pg", "in-sync"),
            db("other", "available", "default.postgres16", "in-sync"),
        ];
        let users = users_in(&all, "Airflow-PG");
        assert_eq!(users.len(), 1);
        let err = still_used("`rds_parameter_group.pg`", &users, "in use").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(
            err.message
                .contains("still used by DB instance `airflow-db`"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("create_before_destroy = true"),
            "{}",
            err.message
        );
        let going = users_in(
            &[db("airflow-db", "deleting", "airflow-pg", "in-sync")],
            "airflow-pg",
        );
        let waiting = still_used("x", &going, "in use").expect("waits");
        assert!(
            waiting.contains("`airflow-db` (status deleting)"),
            "{waiting}"
        );
        let moving = users_in(
            &[db("airflow-db", "available", "airflow-pg", "applying")],
            "airflow-pg",
        );
        assert!(still_used("x", &moving, "in use").is_ok());
        assert!(
            still_used("x", &[], "in use")
                .expect("waits")
                .contains("AWS to release it")
        );
    }
}
