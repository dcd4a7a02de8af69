//! `eks_addon`: an EKS managed add-on (vpc-cni, kube-proxy, coredns, ...),
//! created with `CreateAddon` at an explicit version (EKS's default for the
//! cluster's Kubernetes version when the stack sets none), changed in place
//! with one `UpdateAddon` waited for through `DescribeUpdate`, deleted with
//! `DeleteAddon`.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{Addon, AddonStatus, ResolveConflicts};
use infra_aws::{Poll, Tags, error_code, poll_until, read_tags};
use infra_core::{
    Attribute, ErrorKind, Existing, Fields, Observed, OpContext, OpKind, Output, Phase,
    ProviderError, Request, Resource, Schema, Type, UpdateRequest, Validator, Value,
};
use tokio::time::Instant;

use crate::common::{
    ObservedInputs, UpdateTarget, already_exists, differs, id_parts, name_rule, none_if_missing,
    retag, revealed, scoped_id, tags_of, token, unimplemented, update_error, wait_for_update,
};

/// The resource type name.
pub const TYPE_NAME: &str = "eks_addon";

/// How long an add-on may stay `DEGRADED` during a create before that is
/// an error: EKS often reports it for a minute while the pods start.
const DEGRADED_GRACE: Duration = Duration::from_secs(5 * 60);

/// What a stack may ask for when a field conflicts with one changed on the
/// cluster.
const RESOLVE_CONFLICTS: [&str; 3] = ["OVERWRITE", "NONE", "PRESERVE"];

/// At most this many pages of `DescribeAddonVersions` are read.
const MAX_PAGES: usize = 20;

/// What to do about an add-on that is not healthy.
const UNHEALTHY_HINT: &str = "add-ons that run pods (coredns, aws-ebs-csi-driver) stay DEGRADED until nodes run: give this add-on `depends_on` on an eks_node_group of the cluster; otherwise fix what the issues name, delete the add-on and apply again";

infra_aws::resource_type! {
    /// The `eks_addon` resource type.
    pub struct EksAddon(Client, "EKS add-on");
}

fn schema() -> Schema {
    Schema::new(TYPE_NAME)
        .attribute(
            Attribute::new("cluster", Type::String)
                .required()
                .forces_replacement()
                .validate(name_rule(100))
                .describe("the name of the EKS cluster the add-on runs on"),
        )
        .attribute(
            Attribute::new("name", Type::String)
                .required()
                .forces_replacement()
                .validate(Validator::Length { min: 1, max: 100 })
                .describe("the add-on, e.g. \"vpc-cni\", \"kube-proxy\", \"coredns\", \"aws-ebs-csi-driver\", \"eks-pod-identity-agent\""),
        )
        .attribute(
            Attribute::new("version", Type::String)
                .computed()
                .describe("add-on version, e.g. \"v1.19.2-eksbuild.1\"; changed in place; unset: EKS's default for the cluster's Kubernetes version, resolved at create"),
        )
        .attribute(
            Attribute::new("configuration_values", Type::map(Type::Any))
                .describe("the add-on's configuration (its schema: `aws eks describe-addon-configuration`), sent as JSON and compared as JSON; changed in place"),
        )
        .attribute(
            Attribute::new("service_account_role_arn", Type::String)
                .validate(Validator::Arn)
                .describe("IAM role for the add-on's Kubernetes service account (IRSA); changed in place"),
        )
        .attribute(
            Attribute::new("resolve_conflicts", Type::String)
                .default("OVERWRITE")
                .validate(Validator::one_of(&RESOLVE_CONFLICTS))
                .describe("what EKS does with fields changed on the cluster that conflict with the add-on's: OVERWRITE them, NONE (fail), or PRESERVE them; PRESERVE applies to updates only, so at create NONE is sent for it"),
        )
        .attribute(Attribute::new("tags", Type::map(Type::String)).describe("tags on the add-on"))
        .output(Output::new("arn", Type::String, "the add-on's ARN"))
        .output(Output::new("status", Type::String, "the add-on status, e.g. ACTIVE"))
}

/// The inputs of an add-on.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    cluster: String,
    name: String,
    version: Option<String>,
    /// The configuration as the JSON text EKS takes.
    configuration_values: Option<String>,
    service_account_role_arn: Option<String>,
    resolve_conflicts: String,
    tags: Tags,
}

fn parse(f: &mut Fields<'_>) -> Spec {
    Spec {
        cluster: f.required_string("cluster"),
        name: f.required_string("name"),
        version: f.string("version"),
        configuration_values: configuration(f),
        service_account_role_arn: f.string("service_account_role_arn"),
        resolve_conflicts: f.string_or("resolve_conflicts", "OVERWRITE"),
        tags: read_tags(f, "tags"),
    }
}

/// The configuration values as JSON text; `None` when unset or not known
/// yet (a problem at apply).
fn configuration(f: &mut Fields<'_>) -> Option<String> {
    const KEY: &str = "configuration_values";
    let phase = f.phase();
    let v = f.value(KEY)?;
    if !matches!(v, Value::Map(_)) {
        // The type check reports the kind; nothing to send.
        return None;
    }
    if v.has_unknown() {
        if phase == Phase::Apply {
            f.problem_at(
                KEY,
                format!("`{KEY}` is not known yet; it cannot be applied"),
            );
        }
        return None;
    }
    match v.to_json() {
        Ok(json) => Some(json.to_string()),
        Err(why) => {
            f.problem_at(KEY, format!("`{KEY}` cannot be sent as JSON: {why}"));
            None
        }
    }
}

impl Spec {
    fn id(&self) -> String {
        scoped_id(&self.cluster, &self.name)
    }

    fn target(&self) -> UpdateTarget<'_> {
        UpdateTarget::Addon {
            cluster: &self.cluster,
            name: &self.name,
        }
    }
}

/// What EKS reports, as inputs, normalised against `reference`.
fn observed(addon: &Addon, reference: &Value) -> Observed {
    let mut inputs = ObservedInputs::new(reference);
    let given = |k: &str| inputs.given(k).and_then(Value::as_str).map(str::to_owned);
    let cluster = addon
        .cluster_name()
        .map(str::to_owned)
        .or_else(|| given("cluster"));
    let name = addon
        .addon_name()
        .map(str::to_owned)
        .or_else(|| given("name"));
    let (cluster, name) = (cluster.unwrap_or_default(), name.unwrap_or_default());
    inputs.set("cluster", Value::String(cluster.clone()));
    inputs.set("name", Value::String(name.clone()));
    // Always reported: `version` is computed, so the version EKS picked at
    // create is recorded, and a stack that leaves it unset keeps it.
    inputs.set_or_given("version", addon.addon_version().map(Value::from));
    let given_config = inputs.given("configuration_values");
    if let Some(config) = reported_configuration(addon.configuration_values(), given_config) {
        inputs.set("configuration_values", config);
    }
    if let Some(role) = addon.service_account_role_arn().filter(|r| !r.is_empty()) {
        inputs.set("service_account_role_arn", Value::from(role));
    }
    // EKS does not report how conflicts are resolved: what was applied.
    let resolve = inputs.given("resolve_conflicts").cloned();
    inputs.set(
        "resolve_conflicts",
        resolve.unwrap_or_else(|| Value::from("OVERWRITE")),
    );
    inputs.optional_map("tags", &tags_of(addon.tags()));

    let text = |s: Option<&str>| s.map_or(Value::Null, Value::from);
    let outputs: Value = [
        ("arn", text(addon.addon_arn())),
        ("status", text(addon.status().map(AddonStatus::as_str))),
    ]
    .into_iter()
    .collect();
    Observed {
        id: scoped_id(&cluster, &name),
        inputs: inputs.finish(),
        outputs,
    }
}

/// The configuration EKS reports (JSON text) as the table the stack writes:
/// compared as JSON, so the key order and spacing EKS returns are no
/// change. Text that is not JSON (YAML set outside infra) is reported as
/// the text, which differs from any table. No configuration, or an empty
/// one, is "not set" unless the stack sets an empty table.
fn reported_configuration(text: Option<&str>, given: Option<&Value>) -> Option<Value> {
    let text = text.map(str::trim).unwrap_or_default();
    let mut seen = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json) => Value::from_json(json),
        Err(_) if text.is_empty() => Value::map(),
        Err(_) => Value::String(text.to_owned()),
    };
    if seen.as_map().is_some_and(|m| m.is_empty()) && given.is_none() {
        return None;
    }
    if let Some(given) = given {
        keep_secrets(&mut seen, given);
    }
    Some(seen)
}

/// Where the stack gave a secret, the secret as given: state holds only its
/// digest, which is all there is to compare with.
fn keep_secrets(seen: &mut Value, given: &Value) {
    match (seen, given) {
        (seen, Value::Sensitive(_)) => *seen = given.clone(),
        (Value::Map(s), Value::Map(g)) => {
            for (k, gv) in g {
                if let Some(sv) = s.get_mut(k) {
                    keep_secrets(sv, gv);
                }
            }
        }
        (Value::List(s), Value::List(g)) => {
            for (sv, gv) in s.iter_mut().zip(g) {
                keep_secrets(sv, gv);
            }
        }
        _ => {}
    }
}

/// The health issues EKS reports for an add-on, as one line.
fn health_issues(addon: &Addon) -> String {
    let issues: Vec<String> = addon
        .health()
        .map(|h| h.issues())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            let mut s = i.code().map_or("issue", |c| c.as_str()).to_owned();
            if let Some(m) = i.message() {
                s.push_str(": ");
                s.push_str(m);
            }
            if !i.resource_ids().is_empty() {
                s.push_str(&format!(" (resources: {})", i.resource_ids().join(", ")));
            }
            s
        })
        .collect();
    if issues.is_empty() {
        "EKS reported no health issues".to_owned()
    } else {
        issues.join("; ")
    }
}

/// The error for an add-on that is not healthy, naming EKS's issues.
fn unhealthy(addon: &Addon, label: &str) -> ProviderError {
    let status = addon.status().map_or("(no status)", AddonStatus::as_str);
    let message = format!("{label} is {status}: {}", health_issues(addon));
    ProviderError::new(ErrorKind::Failed, message).hint(UNHEALTHY_HINT)
}

/// Describes an add-on; `None` when it (or its cluster) does not exist.
async fn describe(
    client: &Client,
    cluster: &str,
    name: &str,
    what: &str,
) -> Result<Option<Addon>, ProviderError> {
    let call = client
        .describe_addon()
        .cluster_name(cluster)
        .addon_name(name);
    Ok(none_if_missing(what, call.send().await)?.and_then(|out| out.addon))
}

/// Waits until the add-on is `ACTIVE`. `CREATE_FAILED` (and the other
/// failed states) are errors at once; `DEGRADED` only once it has lasted
/// [`DEGRADED_GRACE`], as it often clears by itself while pods start.
async fn wait_active(
    ctx: &OpContext,
    client: &Client,
    spec: &Spec,
    label: &str,
) -> Result<Addon, ProviderError> {
    let what = format!("waiting for {label} to be ACTIVE");
    let degraded_since: Mutex<Option<Instant>> = Mutex::new(None);
    poll_until(ctx, &what, || async {
        let Some(addon) = describe(client, &spec.cluster, &spec.name, &what).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        // How long it has been DEGRADED without a break.
        let degraded_for = {
            let mut since = degraded_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if addon.status() == Some(&AddonStatus::Degraded) {
                since.get_or_insert_with(Instant::now).elapsed()
            } else {
                *since = None;
                Duration::ZERO
            }
        };
        match addon.status() {
            Some(AddonStatus::Active) => Ok(Poll::Ready(addon)),
            Some(
                AddonStatus::CreateFailed
                | AddonStatus::UpdateFailed
                | AddonStatus::DeleteFailed
                | AddonStatus::Deleting,
            ) => Err(unhealthy(&addon, label)),
            Some(AddonStatus::Degraded) if degraded_for >= DEGRADED_GRACE => {
                Err(unhealthy(&addon, label))
            }
            Some(AddonStatus::Degraded) => Ok(Poll::Pending(format!(
                "DEGRADED for {}s (an error after {}s): {}",
                degraded_for.as_secs(),
                DEGRADED_GRACE.as_secs(),
                health_issues(&addon)
            ))),
            status => Ok(Poll::Pending(format!(
                "status {}",
                status.map_or("(none)", AddonStatus::as_str)
            ))),
        }
    })
    .await
}

/// EKS's default version of add-on `name` for the Kubernetes version the
/// cluster runs (`DescribeCluster`, then the compatibility that
/// `DescribeAddonVersions` marks as the default).
async fn default_version(
    client: &Client,
    spec: &Spec,
    label: &str,
) -> Result<String, ProviderError> {
    let what = format!("finding the default version of {label}");
    let invalid = |message: String| ProviderError::new(ErrorKind::Invalid, message);
    let cluster = crate::cluster::describe(client, &spec.cluster, &what).await?;
    let cluster = cluster.ok_or_else(|| {
        invalid(format!(
            "{what}: EKS cluster `{}` does not exist; create the cluster first",
            spec.cluster
        ))
    })?;
    let Some(kubernetes) = cluster.version().map(str::to_owned) else {
        return Err(invalid(format!(
            "{what}: EKS reports no Kubernetes version for cluster `{}`; set `version`",
            spec.cluster
        )));
    };
    let mut listed = Vec::new();
    let mut next = None;
    for _ in 0..MAX_PAGES {
        let out = client
            .describe_addon_versions()
            .addon_name(&spec.name)
            .kubernetes_version(&kubernetes)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| update_error(&what, "DescribeAddonVersions", &e))?;
        for version in out.addons().iter().flat_map(|a| a.addon_versions()) {
            let Some(v) = version.addon_version() else {
                continue;
            };
            let default = version.compatibilities().iter().any(|c| {
                c.default_version() && c.cluster_version().is_none_or(|k| k == kubernetes)
            });
            if default {
                return Ok(v.to_owned());
            }
            listed.push(v.to_owned());
        }
        next = out.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    Err(invalid(if listed.is_empty() {
        format!(
            "{what}: EKS offers no add-on named `{}` for Kubernetes {kubernetes}; check the name (`aws eks describe-addon-versions --kubernetes-version {kubernetes}` lists them)",
            spec.name
        )
    } else {
        format!(
            "{what}: EKS marks none of {} as the default for Kubernetes {kubernetes}; set `version`",
            listed.join(", ")
        )
    }))
}

#[async_trait]
impl Resource for EksAddon {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        schema()
    }

    fn parse(&self, fields: &mut Fields<'_>) -> Spec {
        revealed(fields, parse)
    }

    fn default_timeout(&self, op: OpKind) -> Duration {
        // Terraform's aws_eks_addon: 20 minutes to create or update, 40 to
        // delete.
        match op {
            OpKind::Create | OpKind::Update => Duration::from_secs(20 * 60),
            OpKind::Delete => Duration::from_secs(40 * 60),
            OpKind::Read => Duration::from_secs(5 * 60),
        }
    }

    fn estimate(&self, op: OpKind, _inputs: &Value) -> Duration {
        // Most add-ons are ACTIVE a minute or two after CreateAddon.
        match op {
            OpKind::Create => Duration::from_secs(90),
            OpKind::Update | OpKind::Delete => Duration::from_secs(60),
            OpKind::Read => Duration::from_secs(1),
        }
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, &spec.id()).await?;
        let client = &op.client;
        let version = match &spec.version {
            Some(v) => v.clone(),
            None => default_version(client, spec, &op.what).await?,
        };
        // PRESERVE is for updates only; at create it means NONE.
        let resolve = match spec.resolve_conflicts.as_str() {
            "PRESERVE" => "NONE",
            other => other,
        };
        let tags = (!spec.tags.is_empty()).then(|| spec.tags.clone().into_iter().collect());
        let call = client
            .create_addon()
            .cluster_name(&spec.cluster)
            .addon_name(&spec.name)
            .addon_version(&version)
            .set_service_account_role_arn(spec.service_account_role_arn.clone())
            .set_configuration_values(spec.configuration_values.clone())
            .resolve_conflicts(ResolveConflicts::from(resolve))
            .set_tags(tags)
            .set_client_request_token(token(ctx, ""));
        if let Err(err) = call.send().await {
            if unimplemented(&err) {
                let what = format!("creating {}", op.what);
                return Err(update_error(&what, "CreateAddon", &err));
            }
            let mapped = op.failed("creating", &err);
            if error_code(&err) == Some("ResourceInUseException") && already_exists(&mapped.message)
            {
                // Made by an earlier attempt: adopt it once visible.
                let what = format!("creating {}", op.what);
                if describe(client, &spec.cluster, &spec.name, &what)
                    .await?
                    .is_none()
                {
                    return Err(op.not_visible_yet("creating"));
                }
            } else if mapped.kind == ErrorKind::NotFound {
                return Err(ProviderError::new(ErrorKind::Invalid, mapped.message)
                    .hint("create the cluster first"));
            } else {
                return Err(mapped);
            }
        }
        ctx.progress(&format!(
            "waiting for add-on {} {version} to be ACTIVE",
            spec.name
        ));
        let addon = wait_active(ctx, client, spec, &op.what).await?;
        Ok(observed(&addon, inputs))
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let (cluster, name) = id_parts(existing, "cluster", "name");
        let op = self.op(ctx, &scoped_id(&cluster, &name)).await?;
        let what = format!("reading {}", op.what);
        Ok(describe(&op.client, &cluster, &name, &what)
            .await?
            .map(|a| observed(&a, &existing.inputs)))
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, &spec.id()).await?;
        let what = format!("looking for {}", op.what);
        let Some(addon) = describe(&op.client, &spec.cluster, &spec.name, &what).await? else {
            return Ok(None);
        };
        // An interrupted create may have left it coming up, or failed:
        // finish the wait, which reports a failed one, so nothing broken
        // goes into state as done.
        let addon = if addon.status() == Some(&AddonStatus::Active) {
            addon
        } else {
            wait_active(ctx, &op.client, spec, &op.what).await?
        };
        Ok(Some(observed(&addon, inputs)))
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, new, inputs) = op.parts();
        let op = self.op(ctx, &new.id()).await?;
        let client = &op.client;
        // Compared as recorded (secrets by digest), not revealed; the
        // configuration as tables, so key order is no change.
        let changed = |key: &str| differs(existing.inputs.get(key), inputs.get(key));
        let version = changed("version").then(|| new.version.clone()).flatten();
        // A removed configuration or role is sent as "" (as Terraform
        // does), which EKS takes as none.
        let config = changed("configuration_values")
            .then(|| new.configuration_values.clone().unwrap_or_default());
        let role = changed("service_account_role_arn")
            .then(|| new.service_account_role_arn.clone().unwrap_or_default());
        if version.is_some() || config.is_some() || role.is_some() {
            let what = format!("updating {}", op.what);
            let out = client
                .update_addon()
                .cluster_name(&new.cluster)
                .addon_name(&new.name)
                .set_addon_version(version)
                .set_configuration_values(config)
                .set_service_account_role_arn(role)
                .resolve_conflicts(ResolveConflicts::from(new.resolve_conflicts.as_str()))
                .set_client_request_token(token(ctx, "update"))
                .send()
                .await
                .map_err(|e| update_error(&what, "UpdateAddon", &e))?;
            ctx.progress(&format!("waiting for the update of add-on {}", new.name));
            wait_for_update(ctx, client, new.target(), out.update()).await?;
        }

        let what = format!("reading {}", op.what);
        let mut addon = describe(client, &new.cluster, &new.name, &what)
            .await?
            .ok_or_else(|| op.gone("updating"))?;
        if changed("tags") {
            let arn = addon.addon_arn().ok_or_else(|| {
                let message = format!("{}: EKS reported no ARN", op.what);
                ProviderError::new(ErrorKind::Invalid, message)
            })?;
            // Diff against what the add-on has, so tags changed outside
            // infra converge too.
            retag(client, arn, &op.what, &tags_of(addon.tags()), &new.tags).await?;
            addon = describe(client, &new.cluster, &new.name, &what)
                .await?
                .ok_or_else(|| op.gone("updating"))?;
        }
        Ok(observed(&addon, inputs))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let (cluster, name) = id_parts(existing, "cluster", "name");
        let op = self.op(ctx, &scoped_id(&cluster, &name)).await?;
        let client = &op.client;
        // preserve = false: the add-on's Kubernetes objects go with it.
        let call = client
            .delete_addon()
            .cluster_name(&cluster)
            .addon_name(&name)
            .preserve(false);
        if none_if_missing(&format!("deleting {}", op.what), call.send().await)?.is_none() {
            return Ok(());
        }
        let wait = format!("waiting for {} to be deleted", op.what);
        poll_until(ctx, &wait, || async {
            let Some(addon) = describe(client, &cluster, &name, &wait).await? else {
                return Ok(Poll::Ready(()));
            };
            match addon.status() {
                Some(AddonStatus::DeleteFailed) => Err(ProviderError::new(
                    ErrorKind::Failed,
                    format!(
                        "{} could not be deleted (DELETE_FAILED): {}",
                        op.what,
                        health_issues(&addon)
                    ),
                )),
                status => Ok(Poll::Pending(format!(
                    "status {}",
                    status.map_or("(none)", AddonStatus::as_str)
                ))),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Secret, Typed};

    use super::*;
    use infra_aws::AwsContext;

    /// The plan-time problems, as the planner finds them.
    fn check(inputs: serde_json::Value) -> Vec<String> {
        let provider = Typed::new(EksAddon::new(AwsContext::new()));
        infra_aws::testing::plan_problems(&provider, &Value::from_json(inputs))
    }

    #[test]
    fn validate_reports_problems_at_their_paths() {
        let good = serde_json::json!({
            "cluster": "main", "name": "vpc-cni", "resolve_conflicts": "OVERWRITE",
            "configuration_values": {"env": {"WARM_IP_TARGET": "5"}},
            "service_account_role_arn": "arn:aws:iam::123456789012:role/vpc-cni",
        });
        assert!(check(good.clone()).is_empty(), "{:?}", check(good));
        let got = check(serde_json::json!({
            "cluster": "-bad", "name": "", "resolve_conflicts": "SOMETIMES",
            "service_account_role_arn": "role/vpc-cni",
            "tags": {"aws:x": "y"},
        }));
        let paths: Vec<&str> = got
            .iter()
            .map(|s| s.split(" | ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            paths,
            [
                "cluster",
                "name",
                "service_account_role_arn",
                "resolve_conflicts",
                "tags.aws:x"
            ],
            "{got:#?}"
        );
    }

    #[test]
    fn configuration_is_json_with_secrets_revealed_and_unknowns_waited_for() {
        let secret = Value::Sensitive(Secret::new("d", "s3cr3t".into()));
        let config: Value = [
            ("b", Value::Int(1)),
            ("a", [("token", secret)].into_iter().collect()),
        ]
        .into_iter()
        .collect();
        let inputs: Value = [
            ("cluster", Value::from("main")),
            ("name", Value::from("x")),
            ("configuration_values", config),
        ]
        .into_iter()
        .collect();
        let mut f = Fields::new(&inputs, Phase::Apply);
        let spec = revealed(&mut f, parse);
        assert!(f.into_problems().is_empty());
        assert_eq!(
            spec.configuration_values.as_deref(),
            Some(r#"{"a":{"token":"s3cr3t"},"b":1}"#)
        );

        let unknown: Value = [("a", Value::Unknown)].into_iter().collect();
        let inputs: Value = [
            ("cluster", Value::from("main")),
            ("name", Value::from("x")),
            ("configuration_values", unknown),
        ]
        .into_iter()
        .collect();
        let mut f = Fields::new(&inputs, Phase::Plan);
        assert_eq!(parse(&mut f).configuration_values, None);
        assert!(f.into_problems().is_empty(), "unknown is fine at plan");
        let mut f = Fields::new(&inputs, Phase::Apply);
        parse(&mut f);
        let problems = f.into_problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].1.contains("not known yet"), "{problems:?}");
    }

    #[test]
    fn reported_configuration_is_compared_as_json() {
        let given = Value::from_json(serde_json::json!({"env": {"A": "1", "B": 2}}));
        let text = "{ \"env\" : {\"B\": 2.0,\n \"A\": \"1\"} }";
        assert_eq!(
            reported_configuration(Some(text), Some(&given)),
            Some(given.clone())
        );
        assert_eq!(reported_configuration(Some("{}"), None), None);
        assert_eq!(reported_configuration(None, None), None);
        let yaml = reported_configuration(Some("env:\n  A: 1"), Some(&given));
        assert_eq!(yaml, Some(Value::from("env:\n  A: 1")));
        let secret = Value::Sensitive(Secret::redacted("d"));
        let given: Value = [("token", secret.clone())].into_iter().collect();
        let seen = reported_configuration(Some(r#"{"token":"s3cr3t"}"#), Some(&given));
        assert_eq!(seen, Some(given), "the secret is kept as given");
    }
}
