//! [`IamRole`]: the `iam_role` type, an IAM role with its trust policy,
//! attached managed policies and inline policies (Terraform's
//! `aws_iam_role` with `managed_policy_arns` and `inline_policy`). The cloud
//! id is the name; outputs are `arn`, `name` and `unique_id`.
//!
//! The trust policy is `assume_role_policy` (a policy table),
//! `service_account_trust` (the IRSA statement for Kubernetes service
//! accounts, built from the OIDC provider's ARN in `irsa.rs`), or
//! both, the built statement appended to the table's.
//!
//! `managed_policy_arns` and `inline_policies` are exclusive when the stack
//! sets them: attachments and inline policies beyond those listed are drift,
//! and an update removes them. When the stack leaves them unset they are
//! computed: infra reports what the role has and leaves it alone.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::Role;
use infra_aws::{AwsOp, TagChange, Tags, error_code, found, tags_attribute};
use infra_core::{
    Attribute, Existing, Fields, Observed, OpContext, Output, PathSeg, ProviderError, Request,
    Resource, Schema, Type, UpdateRequest, Validator, Value, string_list, string_map,
};

use crate::common::{self, NO_SUCH_ENTITY, create_tags, failed, made_by, read_user_tags};
use crate::irsa;
use crate::policy::{self, Kind};

/// The resource type name.
pub const TYPE_NAME: &str = "iam_role";

/// The session length IAM gives a role when none is set, in seconds.
pub const DEFAULT_MAX_SESSION: i64 = 3600;

/// The name rule IAM applies to roles and to inline policies.
const NAME_CHARS: &str = "letters, digits and `+=,.@_-`";

infra_aws::resource_type! {
    /// The `iam_role` type; register it as `infra_aws::typed(IamRole::new(aws))`.
    pub struct IamRole(Client, "IAM role");
}

/// The inputs of an `iam_role`, typed.
#[derive(Debug)]
pub struct Spec {
    name: String,
    path: String,
    description: Option<String>,
    /// The trust policy sent: `assume_role_policy` with the statement of
    /// `service_account_trust` appended.
    trust_policy: Value,
    /// The inputs the trust policy came from, named in IAM's refusal.
    trust_inputs: &'static str,
    /// `None`: not managed (the stack leaves it unset).
    managed_policy_arns: Option<Vec<String>>,
    /// `None`: not managed.
    inline_policies: Option<BTreeMap<String, Value>>,
    max_session_duration: i32,
    tags: Tags,
}

/// What IAM has for a role: the role and what only other calls return.
#[derive(Debug)]
struct Live {
    role: Role,
    managed: Vec<String>,
    inline: BTreeMap<String, Value>,
}

/// The trust policy as IAM stores it; `Null` when it cannot be read (then
/// it is drift, and an update writes it again).
fn trust_policy(role: &Role) -> Value {
    role.assume_role_policy_document()
        .and_then(policy::from_aws)
        .unwrap_or(Value::Null)
}

/// The trust policy IAM has (`live`) as `(assume_role_policy,
/// service_account_trust)`: as `reference` has them when it has a
/// `service_account_trust` and the document built from it means the same
/// to IAM; else the live document as `assume_role_policy` (spelled as in
/// `reference` where IAM means the same) and no `service_account_trust`,
/// so that a change made outside infra is drift.
fn reported_trust(live: Value, reference: &Value) -> (Value, Value) {
    let set = |v: &&Value| !matches!(v, Value::Null);
    let given = reference.get("assume_role_policy").filter(set);
    if let Some(recorded) = reference.get(irsa::KEY).filter(set)
        && irsa::recorded_document(reference)
            .is_some_and(|built| policy::same_policy(&live, &built))
    {
        return (given.cloned().unwrap_or(Value::Null), recorded.clone());
    }
    (policy::as_applied(live, given), Value::Null)
}

/// What the cloud has, with policy documents spelled as in `reference`
/// where IAM means the same.
fn observe(live: &Live, reference: &Value) -> Observed {
    let role = &live.role;
    let given = reference.get("inline_policies");
    let inline = live.inline.iter().map(|(name, doc)| {
        let applied = given.and_then(|g| g.get(name));
        (name.clone(), policy::as_applied(doc.clone(), applied))
    });
    let (trust, service_account_trust) = reported_trust(trust_policy(role), reference);
    let description = role.description().filter(|d| !d.is_empty());
    let duration = role
        .max_session_duration()
        .map_or(DEFAULT_MAX_SESSION, i64::from);
    let inputs = [
        ("name", role.role_name().into()),
        ("path", role.path().into()),
        ("description", description.into()),
        ("assume_role_policy", trust),
        (irsa::KEY, service_account_trust),
        ("managed_policy_arns", string_list(&live.managed)),
        ("inline_policies", Value::Map(inline.collect())),
        ("max_session_duration", Value::Int(duration)),
        ("tags", string_map(&common::from_sdk(role.tags()))),
    ];
    let outputs = [
        ("id", role.role_name().into()),
        ("arn", role.arn().into()),
        ("name", role.role_name().into()),
        ("unique_id", role.role_id().into()),
    ];
    Observed {
        id: role.role_name().to_owned(),
        inputs: inputs.into_iter().collect(),
        outputs: outputs.into_iter().collect(),
    }
}

/// The role named `name`, if there is one.
async fn get(op: &AwsOp<Client>, name: &str) -> Result<Option<Role>, ProviderError> {
    let sent = op.client.get_role().role_name(name).send().await;
    let out = found(sent.map_err(|e| failed(op, "reading", &e, "")))?;
    Ok(out.and_then(|o| o.role))
}

/// The role with its attached and inline policies; `None` when it is gone.
async fn look(op: &AwsOp<Client>, name: &str) -> Result<Option<Live>, ProviderError> {
    let Some(role) = get(op, name).await? else {
        return Ok(None);
    };
    let Some(managed) = attached(op, name).await? else {
        return Ok(None);
    };
    let Some(inline) = inline(op, name).await? else {
        return Ok(None);
    };
    Ok(Some(Live {
        role,
        managed,
        inline,
    }))
}

/// The ARNs of the managed policies attached; `None` when the role is gone.
async fn attached(op: &AwsOp<Client>, name: &str) -> Result<Option<Vec<String>>, ProviderError> {
    let pages = op.client.list_attached_role_policies().role_name(name);
    let listed = pages.into_paginator().items().send().try_collect().await;
    let policies = found(listed.map_err(|e| failed(op, "listing the policies of", &e, "")))?;
    let arns = policies.map(|ps| {
        ps.iter()
            .filter_map(|p| p.policy_arn())
            .map(str::to_owned)
            .collect()
    });
    Ok(arns)
}

/// The inline policies by name; `None` when the role is gone.
async fn inline(
    op: &AwsOp<Client>,
    name: &str,
) -> Result<Option<BTreeMap<String, Value>>, ProviderError> {
    let pages = op.client.list_role_policies().role_name(name);
    let listed = pages.into_paginator().items().send().try_collect().await;
    let doing = "listing the inline policies of";
    let Some(names) = found(listed.map_err(|e| failed(op, doing, &e, "")))? else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    for policy_name in names {
        let request = op
            .client
            .get_role_policy()
            .role_name(name)
            .policy_name(&policy_name);
        let doing = format!("reading inline policy `{policy_name}` of");
        let sent = request.send().await.map_err(|e| failed(op, &doing, &e, ""));
        // Deleted since it was listed: it is not there.
        if let Some(got) = found(sent)? {
            let doc = policy::from_aws(got.policy_document()).unwrap_or(Value::Null);
            out.insert(policy_name, doc);
        }
    }
    Ok(Some(out))
}

/// Brings the role `live` describes to `spec`, call by call, skipping what
/// already matches. A role IAM does not show yet (just created) is
/// reported as not visible yet, for the engine to retry.
async fn converge(
    op: &AwsOp<Client>,
    spec: &Spec,
    live: &Live,
    creating: bool,
) -> Result<(), ProviderError> {
    let name = &spec.name;
    let role = &live.role;
    let not_yet = |e: ProviderError, doing: &str| {
        if creating && e.kind == infra_core::ErrorKind::NotFound {
            op.not_visible_yet(doing)
        } else {
            e
        }
    };
    let description = spec.description.as_deref().unwrap_or_default();
    if role.description().unwrap_or_default() != description
        || role.max_session_duration() != Some(spec.max_session_duration)
    {
        let request = op
            .client
            .update_role()
            .role_name(name)
            .description(description)
            .max_session_duration(spec.max_session_duration);
        let sent = request.send().await;
        sent.map_err(|e| not_yet(failed(op, "updating", &e, ""), "updating"))?;
    }
    if !policy::same_policy(&trust_policy(role), &spec.trust_policy) {
        let request = op
            .client
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(policy::to_json(&spec.trust_policy));
        let doing = "updating the trust policy of";
        let sent = request.send().await;
        sent.map_err(|e| not_yet(failed(op, doing, &e, spec.trust_inputs), doing))?;
    }
    let change = TagChange::between(&common::from_sdk(role.tags()), &spec.tags);
    if !change.remove.is_empty() {
        let request = op
            .client
            .untag_role()
            .role_name(name)
            .set_tag_keys(Some(change.remove));
        let sent = request.send().await;
        sent.map_err(|e| not_yet(failed(op, "untagging", &e, ""), "untagging"))?;
    }
    if !change.set.is_empty() {
        let tags = common::to_sdk(&change.set);
        let sent = op
            .client
            .tag_role()
            .role_name(name)
            .set_tags(Some(tags))
            .send()
            .await;
        sent.map_err(|e| not_yet(failed(op, "tagging", &e, ""), "tagging"))?;
    }
    if let Some(desired) = &spec.managed_policy_arns {
        for arn in live.managed.iter().filter(|a| !desired.contains(a)) {
            let request = op
                .client
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn);
            match request.send().await {
                Ok(_) => {}
                // Detached meanwhile.
                Err(e) if error_code(&e) == Some(NO_SUCH_ENTITY) && !creating => {}
                Err(e) => {
                    let doing = format!("detaching policy {arn} from");
                    return Err(not_yet(failed(op, &doing, &e, ""), &doing));
                }
            }
        }
        for arn in desired.iter().filter(|a| !live.managed.contains(a)) {
            let request = op
                .client
                .attach_role_policy()
                .role_name(name)
                .policy_arn(arn);
            if let Err(e) = request.send().await {
                let doing = format!("attaching policy {arn} to");
                // IAM says NoSuchEntity for a missing policy too, naming it.
                let missing_policy = error_code(&e) == Some(NO_SUCH_ENTITY)
                    && e.as_service_error()
                        .and_then(|s| s.message())
                        .is_some_and(|m| m.contains(arn.as_str()));
                let err = failed(op, &doing, &e, "");
                if missing_policy {
                    let mut err = err.hint(
                        "check `managed_policy_arns`: it names no policy that can be attached",
                    );
                    err.kind = infra_core::ErrorKind::Invalid;
                    return Err(err);
                }
                return Err(not_yet(err, &doing));
            }
        }
    }
    if let Some(desired) = &spec.inline_policies {
        for (policy_name, doc) in desired {
            if live
                .inline
                .get(policy_name)
                .is_some_and(|d| policy::same_policy(d, doc))
            {
                continue;
            }
            let request = op
                .client
                .put_role_policy()
                .role_name(name)
                .policy_name(policy_name)
                .policy_document(policy::to_json(doc));
            let doing = format!("putting inline policy `{policy_name}` on");
            let attribute = format!("inline_policies.{policy_name}");
            let sent = request.send().await;
            sent.map_err(|e| not_yet(failed(op, &doing, &e, &attribute), &doing))?;
        }
        for policy_name in live.inline.keys().filter(|n| !desired.contains_key(*n)) {
            let request = op
                .client
                .delete_role_policy()
                .role_name(name)
                .policy_name(policy_name);
            match request.send().await {
                Ok(_) => {}
                Err(e) if error_code(&e) == Some(NO_SUCH_ENTITY) && !creating => {}
                Err(e) => {
                    let doing = format!("deleting inline policy `{policy_name}` of");
                    return Err(not_yet(failed(op, &doing, &e, ""), &doing));
                }
            }
        }
    }
    Ok(())
}

/// A role of this name, if it is what this create (its token) made.
async fn ours(
    op: &AwsOp<Client>,
    ctx: &OpContext,
    name: &str,
) -> Result<Option<Live>, ProviderError> {
    let Some(role) = get(op, name).await? else {
        return Ok(None);
    };
    if !made_by(role.tags(), ctx) {
        let message = format!(
            "creating {}: a role named `{name}` already exists and infra did not create it here",
            op.what
        );
        let hint = format!(
            "to manage it with this stack, import it: `infra import {} {name}`; or choose another name",
            ctx.address
        );
        return Err(ProviderError::new(infra_core::ErrorKind::Invalid, message).hint(&hint));
    }
    look(op, name).await
}

/// Reads the inline policies: a table of policy name to document.
fn read_inline(f: &mut Fields<'_>) -> Option<BTreeMap<String, Value>> {
    const KEY: &str = "inline_policies";
    let policies = f.table(KEY, |t| t.inputs().as_map().cloned().unwrap_or_default())?;
    let phase = f.phase();
    for (name, doc) in &policies {
        let at = [PathSeg::Key(KEY.into()), PathSeg::Key(name.clone())];
        if !valid_name(name, 128) {
            let message = format!("`{KEY}.{name}`: a policy name must be 1 to 128 {NAME_CHARS}");
            f.problem(&at, message);
        }
        for (path, message) in policy::problems(doc, Kind::Identity, &at, phase) {
            f.problem(&path, message);
        }
    }
    Some(policies)
}

fn valid_name(name: &str, max: usize) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b);
    (1..=max).contains(&name.len()) && name.bytes().all(allowed)
}

#[async_trait]
impl Resource for IamRole {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        let name = Attribute::new("name", Type::String)
            .required()
            .forces_replacement()
            .validate(Validator::pattern(
                r"[A-Za-z0-9+=,.@_-]{1,64}",
                &format!("1 to 64 {NAME_CHARS}"),
            ));
        let path = Attribute::new("path", Type::String)
            .default("/")
            .forces_replacement()
            .validate(Validator::Length { min: 1, max: 512 })
            .validate(Validator::pattern(
                r"/|/[!-~]+/",
                "`/`, or printable ASCII between slashes such as `/airflow/`",
            ));
        let description = Attribute::new("description", Type::String)
            .validate(Validator::Length { min: 0, max: 1000 });
        let trust = Attribute::new("assume_role_policy", Type::map(Type::Any));
        let managed = Attribute::new("managed_policy_arns", Type::set(Type::String))
            .computed()
            .validate(Validator::Arn);
        let inline = Attribute::new("inline_policies", Type::map(Type::map(Type::Any))).computed();
        let duration = Attribute::new("max_session_duration", Type::Int)
            .default(DEFAULT_MAX_SESSION)
            .validate(Validator::Range {
                min: 3600,
                max: 43200,
            });
        Schema::new(TYPE_NAME)
            .attribute(name.describe("the role's name, unique in the account"))
            .attribute(path.describe("the role's path, part of its ARN"))
            .attribute(description.describe("a description, updated in place"))
            .attribute(trust.describe("the trust policy, a policy table naming who may assume the role; this, `service_account_trust` or both are required; updated in place"))
            .attribute(irsa::attribute())
            .attribute(managed.describe("ARNs of the managed policies attached, exactly these when set, synced in place"))
            .attribute(inline.describe("inline policies by name, each a policy table, exactly these when set, synced in place"))
            .attribute(duration.describe("the longest session, in seconds (3600 to 43200), updated in place"))
            .attribute(tags_attribute("role"))
            .output(Output::new("arn", Type::String, "the role's ARN"))
            .output(Output::new("name", Type::String, "the role's name"))
            .output(Output::new("unique_id", Type::String, "the role's stable unique id (AROA…)"))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        let name = f.required_string("name");
        let path = f.string_or("path", "/");
        let description = f.string("description");
        let given = f.is_set("assume_role_policy");
        let for_service_accounts = f.is_set(irsa::KEY);
        if !given && !for_service_accounts {
            let message = format!(
                "`assume_role_policy` or `{}` is required: a policy table naming who may assume the role, or the Kubernetes service accounts that may (or both)",
                irsa::KEY
            );
            f.problem_at("assume_role_policy", message);
        }
        let trust = policy::read(f, "assume_role_policy", Kind::Trust);
        let service_account_trust = irsa::read(f);
        let trust_inputs = match (given, for_service_accounts) {
            (true, true) => "assume_role_policy` with `service_account_trust",
            (false, true) => irsa::KEY,
            _ => "assume_role_policy",
        };
        let managed_policy_arns = f.strings("managed_policy_arns");
        let inline_policies = read_inline(f);
        let max_session_duration = f.i32("max_session_duration").unwrap_or(3600);
        let tags = read_user_tags(f);
        Spec {
            name,
            path,
            description,
            trust_policy: irsa::trust_document(trust.as_ref(), service_account_trust.as_ref()),
            trust_inputs,
            managed_policy_arns,
            inline_policies,
            max_session_duration,
            tags,
        }
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, &spec.name).await?;
        // Role names are unique: one carrying our token is what an
        // interrupted create made; converge it rather than make another.
        let live = match ours(&op, ctx, &spec.name).await? {
            Some(live) => {
                ctx.progress("adopting the IAM role an interrupted create made");
                live
            }
            None => {
                let request = op
                    .client
                    .create_role()
                    .role_name(&spec.name)
                    .path(&spec.path)
                    .set_description(spec.description.clone())
                    .assume_role_policy_document(policy::to_json(&spec.trust_policy))
                    .max_session_duration(spec.max_session_duration)
                    .set_tags(Some(create_tags(&spec.tags, ctx)));
                match request.send().await {
                    Ok(out) => match out.role {
                        Some(role) => Live {
                            role,
                            managed: Vec::new(),
                            inline: BTreeMap::new(),
                        },
                        None => return Err(op.not_visible_yet("creating")),
                    },
                    // Made meanwhile by a retried request: ours if tagged so.
                    Err(e) if error_code(&e) == Some("EntityAlreadyExists") => {
                        ours(&op, ctx, &spec.name)
                            .await?
                            .ok_or_else(|| op.not_visible_yet("creating"))?
                    }
                    Err(e) => return Err(failed(&op, "creating", &e, spec.trust_inputs)),
                }
            }
        };
        converge(&op, spec, &live, true).await?;
        // Eventually consistent: a role just made may not show yet.
        match look(&op, &spec.name).await {
            Ok(Some(live)) => Ok(observe(&live, inputs)),
            Ok(None) => Err(op.not_visible_yet("creating")),
            Err(e) => Err(e),
        }
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let op = self.op(ctx, &existing.id).await?;
        let live = look(&op, &existing.id).await?;
        Ok(live.map(|l| observe(&l, &existing.inputs)))
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, &spec.name).await?;
        let Some(role) = get(&op, &spec.name).await? else {
            return Ok(None);
        };
        if !made_by(role.tags(), ctx) {
            return Ok(None);
        }
        let live = look(&op, &spec.name).await?;
        Ok(live.map(|l| observe(&l, inputs)))
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, spec, inputs) = op.parts();
        let op = self.op(ctx, &existing.id).await?;
        let live = look(&op, &existing.id)
            .await?
            .ok_or_else(|| op.gone("updating"))?;
        converge(&op, spec, &live, false).await?;
        let live = look(&op, &existing.id).await?;
        let live = live.ok_or_else(|| op.gone("updating"))?;
        Ok(observe(&live, inputs))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let op = self.op(ctx, &existing.id).await?;
        let name = existing.id.as_str();
        // IAM refuses to delete a role still in an instance profile or with
        // policies (DeleteConflict): take those off first.
        let pages = op.client.list_instance_profiles_for_role().role_name(name);
        let listed = pages.into_paginator().items().send().try_collect().await;
        let doing = "listing the instance profiles of";
        let Some(profiles) = found(listed.map_err(|e| failed(&op, doing, &e, "")))? else {
            return Ok(());
        };
        for profile in profiles {
            let profile = profile.instance_profile_name();
            let request = op
                .client
                .remove_role_from_instance_profile()
                .instance_profile_name(profile)
                .role_name(name);
            let doing = format!("removing from instance profile {profile}");
            found(
                request
                    .send()
                    .await
                    .map_err(|e| failed(&op, &doing, &e, "")),
            )?;
        }
        let Some(managed) = attached(&op, name).await? else {
            return Ok(());
        };
        for arn in managed {
            let request = op
                .client
                .detach_role_policy()
                .role_name(name)
                .policy_arn(&arn);
            let doing = format!("detaching policy {arn} from");
            found(
                request
                    .send()
                    .await
                    .map_err(|e| failed(&op, &doing, &e, "")),
            )?;
        }
        let pages = op.client.list_role_policies().role_name(name);
        let listed = pages.into_paginator().items().send().try_collect().await;
        let doing = "listing the inline policies of";
        let Some(names) = found(listed.map_err(|e| failed(&op, doing, &e, "")))? else {
            return Ok(());
        };
        for policy_name in names {
            let request = op
                .client
                .delete_role_policy()
                .role_name(name)
                .policy_name(&policy_name);
            let doing = format!("deleting inline policy `{policy_name}` of");
            found(
                request
                    .send()
                    .await
                    .map_err(|e| failed(&op, &doing, &e, "")),
            )?;
        }
        let sent = op.client.delete_role().role_name(name).send().await;
        found(sent.map_err(|e| failed(&op, "deleting", &e, "")))?;
        op.wait_gone(ctx, || get(&op, name)).await
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Phase, display_path};

    use super::*;
    use infra_aws::AwsContext;

    fn trust() -> Value {
        let principal: Value = [("Service", Value::from("eks.amazonaws.com"))]
            .into_iter()
            .collect();
        let statement: Value = [
            ("Effect", Value::from("Allow")),
            ("Principal", principal),
            ("Action", Value::from("sts:AssumeRole")),
        ]
        .into_iter()
        .collect();
        [
            ("Version", Value::from("2012-10-17")),
            ("Statement", Value::List(vec![statement])),
        ]
        .into_iter()
        .collect()
    }

    fn inputs(pairs: Vec<(&str, Value)>) -> Value {
        let mut m: BTreeMap<String, Value> = [
            ("name".to_owned(), Value::from("airflow-eks")),
            ("assume_role_policy".to_owned(), trust()),
        ]
        .into_iter()
        .collect();
        for (k, v) in pairs {
            m.insert(k.to_owned(), v);
        }
        Value::Map(m)
    }

    /// Every plan-time problem: the schema's rules, then the parse's.
    fn problems(inputs: &Value) -> Vec<String> {
        let role = IamRole::new(AwsContext::new());
        let mut f = Fields::new(inputs, Phase::Plan);
        role.parse(&mut f);
        let schema = role.schema().validate(inputs);
        schema
            .into_iter()
            .chain(f.into_problems())
            .map(|(p, _)| display_path(&p))
            .collect()
    }

    /// The messages of every plan-time problem.
    fn messages(inputs: &Value) -> Vec<String> {
        let role = IamRole::new(AwsContext::new());
        let mut f = Fields::new(inputs, Phase::Plan);
        role.parse(&mut f);
        let schema = role.schema().validate(inputs);
        schema
            .into_iter()
            .chain(f.into_problems())
            .map(|(_, m)| m)
            .collect()
    }

    #[test]
    fn a_valid_role_has_no_problems() {
        assert!(problems(&inputs(vec![])).is_empty());
        let s3: Value = [
            ("Effect", Value::from("Allow")),
            ("Action", Value::from("s3:GetObject")),
            ("Resource", Value::Unknown),
        ]
        .into_iter()
        .collect();
        let doc: Value = [("Statement", s3)].into_iter().collect();
        let given = inputs(vec![
            (
                "managed_policy_arns",
                Value::List(vec![Value::from(
                    "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
                )]),
            ),
            ("inline_policies", [("logs", doc)].into_iter().collect()),
            ("max_session_duration", Value::Int(7200)),
        ]);
        assert!(problems(&given).is_empty(), "{:?}", problems(&given));
    }

    #[test]
    fn problems_name_the_attribute() {
        let bad = inputs(vec![
            ("name", Value::from("no spaces allowed")),
            ("path", Value::from("airflow")),
            ("max_session_duration", Value::Int(60)),
            (
                "managed_policy_arns",
                Value::List(vec![Value::from("AmazonEKSClusterPolicy")]),
            ),
        ]);
        assert_eq!(
            problems(&bad),
            [
                "name",
                "path",
                "managed_policy_arns[0]",
                "max_session_duration"
            ]
        );
        let mut no_trust = inputs(vec![]);
        if let Value::Map(m) = &mut no_trust {
            m.remove("assume_role_policy");
        }
        assert_eq!(problems(&no_trust), ["assume_role_policy"]);
        let message = messages(&no_trust).join("; ");
        assert!(
            message.contains("`assume_role_policy` or `service_account_trust` is required"),
            "{message}"
        );
        let tags: Value = [(common::TOKEN_TAG, Value::from("x"))]
            .into_iter()
            .collect();
        assert_eq!(
            problems(&inputs(vec![("tags", tags)])),
            ["tags.infra:token"]
        );
    }

    #[test]
    fn policy_problems_land_at_their_elements() {
        let wrong: Value = [("Statement", Value::List(vec![Value::map()]))]
            .into_iter()
            .collect();
        let given = inputs(vec![
            ("assume_role_policy", wrong.clone()),
            (
                "inline_policies",
                [("bad name!", wrong), ("ok", Value::from("x"))]
                    .into_iter()
                    .collect(),
            ),
        ]);
        assert_eq!(
            problems(&given),
            [
                "assume_role_policy.Statement[0]",
                "assume_role_policy.Statement[0]",
                "assume_role_policy.Statement[0]",
                "inline_policies.bad name!",
                "inline_policies.bad name!.Statement[0]",
                "inline_policies.bad name!.Statement[0]",
                "inline_policies.bad name!.Statement[0]",
                "inline_policies.ok",
            ]
        );
    }

    #[test]
    fn observe_reports_documents_as_applied_when_iam_means_the_same() {
        // IAM's spelling: URL-encoded, lists for lone strings.
        let iam = r#"{"Statement":[{"Action":["sts:AssumeRole"],"Effect":"Allow","Principal":{"Service":["eks.amazonaws.com"]}}],"Version":"2012-10-17"}"#;
        let encoded: String = iam
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let role = Role::builder()
            .path("/")
            .role_name("airflow-eks")
            .role_id("AROAEXAMPLE")
            .arn("arn:aws:iam::123456789012:role/airflow-eks")
            .create_date(aws_sdk_iam::primitives::DateTime::from_secs(0))
            .assume_role_policy_document(encoded)
            .max_session_duration(3600)
            .build()
            .expect("a role");
        let live = Live {
            role,
            managed: vec![],
            inline: BTreeMap::new(),
        };
        let given = inputs(vec![]);
        let o = observe(&live, &given);
        assert_eq!(
            o.inputs.get("assume_role_policy"),
            given.get("assume_role_policy")
        );
        assert_eq!(
            o.outputs.get("unique_id").and_then(Value::as_str),
            Some("AROAEXAMPLE")
        );
        assert_eq!(o.inputs.get("description"), Some(&Value::Null));
    }

    const PROVIDER: &str =
        "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC";

    fn service_account_trust(accounts: &[&str]) -> Value {
        let accounts = accounts.iter().map(|a| Value::from(*a)).collect();
        [
            ("oidc_provider_arn", Value::from(PROVIDER)),
            ("service_accounts", Value::List(accounts)),
        ]
        .into_iter()
        .collect()
    }

    /// Inputs for a role trusting service accounts alone.
    fn irsa_inputs(trust: Value) -> Value {
        [
            ("name", Value::from("airflow-task-logs")),
            (irsa::KEY, trust),
        ]
        .into_iter()
        .collect()
    }

    /// The spec an apply gets from `inputs` (every value known).
    fn spec(inputs: &Value) -> Spec {
        let role = IamRole::new(AwsContext::new());
        let mut f = Fields::new(inputs, Phase::Apply);
        let spec = role.parse(&mut f);
        f.finish("iam_role.test", spec).expect("a valid spec")
    }

    /// `text` URL-encoded, as IAM returns documents.
    fn url_encoded(text: &str) -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    /// A role whose trust policy IAM returns as `json`.
    fn live(json: &str) -> Live {
        let role = Role::builder()
            .path("/")
            .role_name("airflow-task-logs")
            .role_id("AROAEXAMPLE")
            .arn("arn:aws:iam::123456789012:role/airflow-task-logs")
            .create_date(aws_sdk_iam::primitives::DateTime::from_secs(0))
            .assume_role_policy_document(url_encoded(json))
            .max_session_duration(3600)
            .build()
            .expect("a role");
        Live {
            role,
            managed: vec![],
            inline: BTreeMap::new(),
        }
    }

    #[test]
    fn service_account_trust_alone_is_a_trust_policy() {
        let given = irsa_inputs(service_account_trust(&["airflow:airflow-worker"]));
        assert!(problems(&given).is_empty(), "{:?}", messages(&given));
        let spec = spec(&given);
        let expected = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Federated": PROVIDER },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": { "StringEquals": {
                    "oidc.eks.us-east-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
                    "oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": ["system:serviceaccount:airflow:airflow-worker"]
                } }
            }]
        });
        let sent: serde_json::Value =
            serde_json::from_str(&policy::to_json(&spec.trust_policy)).expect("JSON");
        assert_eq!(sent, expected);
        assert_eq!(spec.trust_inputs, "service_account_trust");
    }

    #[test]
    fn with_both_the_statement_is_appended() {
        let given = inputs(vec![(
            irsa::KEY,
            service_account_trust(&["airflow:airflow-worker"]),
        )]);
        assert!(problems(&given).is_empty(), "{:?}", messages(&given));
        let spec = spec(&given);
        let statements = spec
            .trust_policy
            .get("Statement")
            .and_then(Value::as_list)
            .expect("statements");
        assert_eq!(statements.len(), 2);
        assert_eq!(
            statements[0],
            trust()
                .get("Statement")
                .and_then(Value::as_list)
                .expect("given")[0]
        );
        assert_eq!(
            statements[1].get("Action"),
            Some(&Value::from("sts:AssumeRoleWithWebIdentity"))
        );
    }

    #[test]
    fn service_account_problems_land_at_their_paths() {
        let bad = irsa_inputs(service_account_trust(&[
            "airflow:airflow-worker",
            "airflow/airflow-scheduler",
            "Airflow:worker",
        ]));
        assert_eq!(
            problems(&bad),
            [
                "service_account_trust.service_accounts[1]",
                "service_account_trust.service_accounts[2]"
            ]
        );
        let message = messages(&bad).join("; ");
        assert!(message.contains("must be `namespace:name`"), "{message}");
        assert!(message.contains("namespace `Airflow`"), "{message}");
        // Empty, repeated: the schema's rules.
        let empty = irsa_inputs(service_account_trust(&[]));
        assert_eq!(problems(&empty), ["service_account_trust.service_accounts"]);
        let twice = irsa_inputs(service_account_trust(&["a:b", "a:b"]));
        assert_eq!(
            problems(&twice),
            ["service_account_trust.service_accounts[1]"]
        );
        // Not an ARN, an ARN of something else.
        let mut not_arn = service_account_trust(&["a:b"]);
        if let Value::Map(m) = &mut not_arn {
            m.insert("oidc_provider_arn".into(), Value::from("oidc.eks/id/ABC"));
        }
        assert_eq!(
            problems(&irsa_inputs(not_arn)),
            ["service_account_trust.oidc_provider_arn"]
        );
        let mut role_arn = service_account_trust(&["a:b"]);
        if let Value::Map(m) = &mut role_arn {
            let arn = Value::from("arn:aws:iam::123456789012:role/airflow");
            m.insert("oidc_provider_arn".into(), arn);
        }
        assert_eq!(
            problems(&irsa_inputs(role_arn)),
            ["service_account_trust.oidc_provider_arn"]
        );
    }

    #[test]
    fn a_provider_made_in_the_same_apply_passes_the_plan() {
        let mut trust = service_account_trust(&["airflow:airflow-worker"]);
        if let Value::Map(m) = &mut trust {
            m.insert("oidc_provider_arn".into(), Value::Unknown);
        }
        let given = irsa_inputs(trust);
        assert!(problems(&given).is_empty(), "{:?}", messages(&given));
        let whole = irsa_inputs(Value::Unknown);
        assert!(problems(&whole).is_empty(), "{:?}", messages(&whole));
        // At apply it must be known.
        let role = IamRole::new(AwsContext::new());
        let mut f = Fields::new(&given, Phase::Apply);
        let spec = role.parse(&mut f);
        let err = f.finish("iam_role.task_logs", spec).unwrap_err();
        assert!(
            err.message.contains("iam_role.task_logs"),
            "{}",
            err.message
        );
        assert!(
            err.message
                .contains("`service_account_trust.oidc_provider_arn` is not known yet"),
            "{}",
            err.message
        );
    }

    #[test]
    fn observe_reports_service_account_trust_as_applied_or_drift() {
        let recorded = irsa_inputs(service_account_trust(&[
            "airflow:airflow-worker",
            "airflow:airflow-scheduler",
        ]));
        // As IAM returns it: its own key order, lists, subjects reordered.
        let iam = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":["arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"]},"Action":["sts:AssumeRoleWithWebIdentity"],"Condition":{"StringEquals":{"oidc.eks.us-east-1.amazonaws.com/id/ABC:sub":["system:serviceaccount:airflow:airflow-scheduler","system:serviceaccount:airflow:airflow-worker"],"oidc.eks.us-east-1.amazonaws.com/id/ABC:aud":["sts.amazonaws.com"]}}}]}"#;
        let o = observe(&live(iam), &recorded);
        assert_eq!(o.inputs.get(irsa::KEY), recorded.get(irsa::KEY));
        assert_eq!(o.inputs.get("assume_role_policy"), Some(&Value::Null));

        // Another subject added by hand: the live document, no trust input.
        let drifted = iam.replace(
            r#""system:serviceaccount:airflow:airflow-worker""#,
            r#""system:serviceaccount:airflow:airflow-worker","system:serviceaccount:default:default""#,
        );
        let o = observe(&live(&drifted), &recorded);
        assert_eq!(o.inputs.get(irsa::KEY), Some(&Value::Null));
        let reported = o.inputs.get("assume_role_policy").expect("reported");
        assert_eq!(
            Some(reported),
            policy::from_aws(&drifted).as_ref(),
            "the live document, so the drift shows"
        );

        // Both given: both reported as recorded.
        let both = inputs(vec![(
            irsa::KEY,
            service_account_trust(&["airflow:airflow-worker"]),
        )]);
        let built = spec(&both).trust_policy;
        let o = observe(&live(&policy::to_json(&built)), &both);
        assert_eq!(o.inputs.get(irsa::KEY), both.get(irsa::KEY));
        assert_eq!(
            o.inputs.get("assume_role_policy"),
            both.get("assume_role_policy")
        );
        // Only the given statement left: drift, reported as it is.
        let o = observe(&live(&policy::to_json(&trust())), &both);
        assert_eq!(o.inputs.get(irsa::KEY), Some(&Value::Null));
        assert_eq!(o.inputs.get("assume_role_policy"), Some(&trust()));

        // Recorded without it (imported): the live document.
        let o = observe(&live(iam), &Value::Null);
        assert_eq!(o.inputs.get(irsa::KEY), Some(&Value::Null));
        assert_eq!(
            o.inputs.get("assume_role_policy"),
            policy::from_aws(iam).as_ref()
        );
    }
}
