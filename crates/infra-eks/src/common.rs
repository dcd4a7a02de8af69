//! What the EKS resource types share: idempotency tokens, the name rule,
//! "not found" as `None`, tags, observed inputs in the order applied, and
//! the waiter for EKS updates (of clusters, node groups and add-ons).

use std::collections::BTreeMap;

use aws_sdk_eks::Client;
use aws_sdk_eks::types::{Update, UpdateStatus};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use infra_aws::{AwsOp, Poll, Tags, classify, poll_until};
use infra_core::{
    ErrorKind, Existing, Fields, OpContext, ProviderError, Validator, Value, same_order,
};

/// The idempotency token for an operation: the journal's token, with a
/// suffix naming the call, so each call of a multi-call update has its own
/// token and the same call retried after a crash carries the same one.
/// `None` when the engine gave no token (the SDK then makes one up).
pub(crate) fn token(ctx: &OpContext, call: &str) -> Option<String> {
    match (ctx.token.is_empty(), call.is_empty()) {
        (true, _) => None,
        (false, true) => Some(ctx.token.clone()),
        (false, false) => Some(format!("{}-{call}", ctx.token)),
    }
}

/// EKS names: 1..=max letters, digits, `-` and `_`, starting with a letter
/// or digit.
pub(crate) fn name_rule(max: usize) -> Validator {
    Validator::pattern(
        &format!("[A-Za-z0-9][A-Za-z0-9_-]{{0,{}}}", max - 1),
        &format!("1-{max} letters, digits, `-` and `_`, starting with a letter or digit"),
    )
}

/// Whether a `ResourceInUseException` says the object already exists
/// (EKS's words: "already exists", and "already in use" for an access
/// entry), rather than that something else is in progress.
pub(crate) fn already_exists(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("already exists") || message.contains("already in use")
}

/// The id of an object inside a cluster: `<cluster>:<rest>` (node
/// groups, add-ons, access entries), as Terraform writes them.
pub(crate) fn scoped_id(cluster: &str, rest: &str) -> String {
    format!("{cluster}:{rest}")
}

/// The two parts of a recorded `<cluster>:<rest>` id (add-ons, access
/// entries; the rest may hold colons, as an ARN does), else the inputs
/// `first` and `second`.
pub(crate) fn id_parts(existing: &Existing, first: &str, second: &str) -> (String, String) {
    if let Some((a, b)) = existing.id.split_once(':') {
        return (a.to_owned(), b.to_owned());
    }
    let text = |k: &str| {
        let v = existing.inputs.get(k).and_then(Value::as_str);
        v.unwrap_or_default().to_owned()
    };
    (text(first), text(second))
}

/// A list of strings that must be given and not be empty.
pub(crate) fn required_strings(f: &mut Fields<'_>, key: &str, empty: &str) -> Vec<String> {
    if !f.is_set(key) {
        f.problem_at(key, format!("`{key}` is required"));
    }
    let items = f.strings(key);
    if items.as_ref().is_some_and(Vec::is_empty) {
        f.problem_at(key, empty);
    }
    items.unwrap_or_default()
}

/// Parses with `parse` the inputs with their secrets revealed, as the old
/// `Spec::read(&inputs.reveal())` did: what EKS gets is the plaintext (a
/// tag or label from `{ from_env = ... }`). A secret without plaintext
/// reads as unknown. A message that would quote a secret's plaintext
/// shows `(sensitive)` instead.
pub(crate) fn revealed<T>(f: &mut Fields<'_>, parse: fn(&mut Fields<'_>) -> T) -> T {
    let given = f.inputs();
    if !given.has_sensitive() {
        return parse(f);
    }
    let plain = given.reveal();
    let mut inner = Fields::new(&plain, f.phase());
    let spec = parse(&mut inner);
    let mut secrets = Vec::new();
    plaintexts(given, false, &mut secrets);
    for (path, mut message) in inner.into_problems() {
        for s in &secrets {
            message = message.replace(s.as_str(), "(sensitive)");
        }
        f.problem(&path, message);
    }
    spec
}

/// The scalars inside secrets, as a message would show them.
fn plaintexts(v: &Value, secret: bool, out: &mut Vec<String>) {
    match v {
        Value::Sensitive(s) => {
            if let Some(p) = s.plaintext() {
                plaintexts(p, true, out);
            }
        }
        Value::List(l) => l.iter().for_each(|x| plaintexts(x, secret, out)),
        Value::Map(m) => m.values().for_each(|x| plaintexts(x, secret, out)),
        Value::String(s) if secret && !s.is_empty() => out.push(s.clone()),
        Value::Int(_) | Value::Float(_) if secret => out.push(v.to_string()),
        _ => {}
    }
}

/// A cloud answer as `Some`, "not found" as `None`. An endpoint that does
/// not implement the call at all stays an error.
pub(crate) fn none_if_missing<T, E>(
    what: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Result<Option<T>, ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) => {
            let err = classify(what, &e);
            if err.kind == ErrorKind::NotFound && !unimplemented(&e) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// The tags EKS reports.
pub(crate) fn tags_of(tags: Option<&std::collections::HashMap<String, String>>) -> Tags {
    tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Brings the tags of `arn` from `now` to `desired`: `UntagResource` for
/// keys that went away, then `TagResource` for keys added or changed.
pub(crate) async fn retag(
    client: &Client,
    arn: &str,
    what: &str,
    now: &Tags,
    desired: &Tags,
) -> Result<(), ProviderError> {
    let op = AwsOp {
        client: client.clone(),
        what: what.to_owned(),
    };
    let remove = |keys| {
        client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys))
            .send()
    };
    let set = |tags: Tags| {
        let tags = Some(tags.into_iter().collect());
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(tags)
            .send()
    };
    op.sync_tags(now, desired, remove, set).await
}

/// Orders what the cloud reports like the reference (what was applied):
/// items the reference has come first in its order, the rest follow
/// sorted. For lists of objects EKS keeps as a set (taints).
pub(crate) fn align(mut cloud: Vec<Value>, reference: Option<&Value>) -> Vec<Value> {
    let mut out = Vec::with_capacity(cloud.len());
    for want in reference.and_then(Value::as_list).unwrap_or(&[]) {
        if let Some(i) = cloud.iter().position(|c| c == want) {
            out.push(cloud.remove(i));
        }
    }
    cloud.sort_by_key(|v| v.to_string());
    out.extend(cloud);
    out
}

/// Builds the observed inputs of a resource, one attribute at a time,
/// against the inputs it is compared with.
pub(crate) struct ObservedInputs<'a> {
    reference: &'a Value,
    out: BTreeMap<String, Value>,
}

impl<'a> ObservedInputs<'a> {
    pub(crate) fn new(reference: &'a Value) -> Self {
        ObservedInputs {
            reference,
            out: BTreeMap::new(),
        }
    }

    pub(crate) fn given(&self, key: &str) -> Option<&'a Value> {
        self.reference
            .get(key)
            .filter(|v| !matches!(v, Value::Null))
    }

    /// An attribute the cloud always reports.
    pub(crate) fn set(&mut self, key: &str, value: Value) {
        self.out.insert(key.to_owned(), value);
    }

    /// An attribute the cloud reports, or, when it does not (an emulator,
    /// an older API), the value given.
    pub(crate) fn set_or_given(&mut self, key: &str, value: Option<Value>) {
        if let Some(v) = value.or_else(|| self.given(key).cloned()) {
            self.out.insert(key.to_owned(), v);
        }
    }

    /// An optional attribute AWS computes when it is not given (a version,
    /// an AMI type): reported only when the stack sets it, as Terraform's
    /// optional+computed attributes are, so leaving it out is no drift.
    pub(crate) fn computed(&mut self, key: &str, value: Option<Value>) {
        if self.given(key).is_some() {
            self.set_or_given(key, value);
        }
    }

    /// A set of strings, in the order given when it holds the same items.
    pub(crate) fn set_of(&mut self, key: &str, cloud: &[String]) {
        let reference: Option<Vec<String>> = self.given(key).and_then(|v| {
            v.as_list()?
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect()
        });
        let items = same_order(cloud.to_vec(), reference.as_deref());
        self.out
            .insert(key.to_owned(), infra_core::string_list(&items));
    }

    /// An optional set: an empty one is "not set" unless the stack sets it.
    pub(crate) fn optional_set_of(&mut self, key: &str, cloud: &[String]) {
        if cloud.is_empty() && self.given(key).is_none() {
            return;
        }
        self.set_of(key, cloud);
    }

    /// An optional list of objects whose order AWS does not keep.
    pub(crate) fn optional_objects(&mut self, key: &str, cloud: Vec<Value>) {
        if cloud.is_empty() && self.given(key).is_none() {
            return;
        }
        let aligned = align(cloud, self.given(key));
        self.out.insert(key.to_owned(), Value::List(aligned));
    }

    /// An optional map: an empty one is "not set" unless the stack sets it.
    pub(crate) fn optional_map(&mut self, key: &str, cloud: &BTreeMap<String, String>) {
        if cloud.is_empty() && self.given(key).is_none() {
            return;
        }
        self.out
            .insert(key.to_owned(), infra_core::string_map(cloud));
    }

    pub(crate) fn finish(self) -> Value {
        Value::Map(self.out)
    }
}

/// Whether two values of an attribute differ, null and absent being the same.
pub(crate) fn differs(old: Option<&Value>, new: Option<&Value>) -> bool {
    let old = old.filter(|v| !matches!(v, Value::Null));
    let new = new.filter(|v| !matches!(v, Value::Null));
    old != new
}

/// Which EKS object an update runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum UpdateTarget<'a> {
    Cluster(&'a str),
    NodeGroup { cluster: &'a str, name: &'a str },
    Addon { cluster: &'a str, name: &'a str },
}

impl std::fmt::Display for UpdateTarget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpdateTarget::Cluster(name) => write!(f, "EKS cluster `{name}`"),
            UpdateTarget::NodeGroup { cluster, name } => {
                write!(f, "EKS node group `{name}` of cluster `{cluster}`")
            }
            UpdateTarget::Addon { cluster, name } => {
                write!(f, "EKS add-on `{name}` of cluster `{cluster}`")
            }
        }
    }
}

/// An error from an endpoint that does not implement the operation at all
/// (an emulator answering 404 without an AWS error code, or 501). Real
/// EKS always names its errors (`ResourceNotFoundException`), so this is
/// never mistaken for a missing resource.
pub(crate) fn unimplemented<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            let code = e.err().code();
            matches!(
                code,
                Some("UnknownOperationException" | "NotImplemented" | "InvalidAction")
            ) || status == 501
                || (status == 404 && code.is_none_or(str::is_empty))
        }
        _ => false,
    }
}

/// Maps an update call's error (or any call an emulator may lack); an
/// endpoint that does not implement the call gets a message saying so
/// rather than "not found".
pub(crate) fn update_error<E>(
    what: &str,
    operation: &str,
    err: &SdkError<E, HttpResponse>,
) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if unimplemented(err) {
        return ProviderError::new(
            ErrorKind::Failed,
            format!("{what}: the AWS endpoint does not implement {operation} (an emulator?)"),
        );
    }
    classify(what, err)
}

/// Waits for an EKS update (`UpdateClusterVersion`, `UpdateClusterConfig`,
/// `UpdateNodegroupVersion`, `UpdateNodegroupConfig`, `UpdateAddon`) to
/// finish.
///
/// Polls `DescribeUpdate` until the update is `Successful`; `Failed` and
/// `Cancelled` are errors carrying the update's errors. The SDK has no
/// waiter for this.
///
/// Emulator fallback: when the response carries no update id (moto answers
/// `UpdateClusterConfig` with the cluster instead of an update) or the
/// endpoint does not implement `DescribeUpdate` (moto), the object itself is
/// polled until it is `ACTIVE` again. Real EKS always returns an update id
/// and implements `DescribeUpdate`, so there this path is not taken.
pub(crate) async fn wait_for_update(
    ctx: &OpContext,
    client: &Client,
    target: UpdateTarget<'_>,
    update: Option<&Update>,
) -> Result<(), ProviderError> {
    let Some((update, id)) = update.and_then(|u| Some((u, u.id()?))) else {
        return wait_until_active(ctx, client, target).await;
    };
    if let Some(done) = finished(target, update)? {
        return Ok(done);
    }
    let what = format!("waiting for update {id} of {target}");
    let fallback = poll_until(ctx, &what, || async {
        let mut call = client.describe_update().update_id(id);
        call = match target {
            UpdateTarget::Cluster(name) => call.name(name),
            UpdateTarget::NodeGroup { cluster, name } => call.name(cluster).nodegroup_name(name),
            UpdateTarget::Addon { cluster, name } => call.name(cluster).addon_name(name),
        };
        let update = match call.send().await {
            Ok(out) => out.update,
            Err(e) if unimplemented(&e) => return Ok(Poll::Ready(true)),
            Err(e) => return Err(classify(&what, &e)),
        };
        let Some(update) = update else {
            return Ok(Poll::Pending("no update reported yet".into()));
        };
        match finished(target, &update)? {
            Some(()) => Ok(Poll::Ready(false)),
            None => Ok(Poll::Pending(format!(
                "update {}",
                update.status().map_or("(no status)", UpdateStatus::as_str)
            ))),
        }
    })
    .await?;
    if fallback {
        wait_until_active(ctx, client, target).await
    } else {
        Ok(())
    }
}

/// `Some(())` when the update succeeded, `None` while it runs, an error
/// when it failed or was cancelled.
fn finished(target: UpdateTarget<'_>, update: &Update) -> Result<Option<()>, ProviderError> {
    let failed = match update.status() {
        Some(UpdateStatus::Successful) => return Ok(Some(())),
        Some(UpdateStatus::Failed) => "failed",
        Some(UpdateStatus::Cancelled) => "was cancelled",
        _ => return Ok(None),
    };
    let errors: Vec<String> = update
        .errors()
        .iter()
        .map(|e| {
            let mut s = e
                .error_code()
                .map_or_else(|| "error".to_owned(), |c| c.as_str().to_owned());
            if let Some(m) = e.error_message() {
                s.push_str(": ");
                s.push_str(m);
            }
            if !e.resource_ids().is_empty() {
                s.push_str(&format!(" (resources: {})", e.resource_ids().join(", ")));
            }
            s
        })
        .collect();
    let detail = if errors.is_empty() {
        "AWS gave no reason".to_owned()
    } else {
        errors.join("; ")
    };
    Err(ProviderError::new(
        ErrorKind::Failed,
        format!(
            "update {} ({}) of {target} {failed}: {detail}",
            update.id().unwrap_or("?"),
            update.r#type().map_or("update", |t| t.as_str()),
        ),
    ))
}

/// Polls the cluster, node group or add-on until its status is `ACTIVE` (the
/// emulator fallback of [`wait_for_update`]).
async fn wait_until_active(
    ctx: &OpContext,
    client: &Client,
    target: UpdateTarget<'_>,
) -> Result<(), ProviderError> {
    let what = format!("waiting for {target} to be ACTIVE after an update");
    poll_until(ctx, &what, || async {
        let status = match target {
            UpdateTarget::Cluster(name) => client
                .describe_cluster()
                .name(name)
                .send()
                .await
                .map_err(|e| classify(&what, &e))?
                .cluster
                .and_then(|c| c.status)
                .map(|s| s.as_str().to_owned()),
            UpdateTarget::NodeGroup { cluster, name } => client
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .send()
                .await
                .map_err(|e| classify(&what, &e))?
                .nodegroup
                .and_then(|n| n.status)
                .map(|s| s.as_str().to_owned()),
            UpdateTarget::Addon { cluster, name } => client
                .describe_addon()
                .cluster_name(cluster)
                .addon_name(name)
                .send()
                .await
                .map_err(|e| classify(&what, &e))?
                .addon
                .and_then(|a| a.status)
                .map(|s| s.as_str().to_owned()),
        };
        match status.as_deref() {
            Some("ACTIVE") => Ok(Poll::Ready(())),
            Some("UPDATING") | None => Ok(Poll::Pending(format!(
                "status {}",
                status.as_deref().unwrap_or("(none)")
            ))),
            Some(other) => Err(ProviderError::new(
                ErrorKind::Failed,
                format!("{target} went to status {other} during an update"),
            )),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::from(*s)).collect())
    }

    #[test]
    fn align_follows_the_reference_then_sorts_the_rest() {
        let cloud = vec!["c".into(), "a".into(), "z".into(), "b".into()];
        let got = align(cloud, Some(&strings(&["b", "c", "x"])));
        assert_eq!(Value::List(got), strings(&["b", "c", "a", "z"]));
        let got = align(vec!["b".into(), "a".into()], None);
        assert_eq!(Value::List(got), strings(&["a", "b"]));
    }

    #[test]
    fn names_follow_the_eks_pattern() {
        let ok = |rule: &Validator, s: &str| rule.check(&Value::from(s), false).is_ok();
        let (cluster, node_group) = (name_rule(100), name_rule(63));
        assert!(ok(&cluster, "airflow-prod_1"));
        assert!(ok(&cluster, "1abc"));
        assert!(!ok(&cluster, ""));
        assert!(!ok(&cluster, "-abc"));
        assert!(!ok(&cluster, "a.b"));
        assert!(!ok(&node_group, &"a".repeat(64)));
        assert!(ok(&node_group, &"a".repeat(63)));
        assert!(ok(&cluster, &"a".repeat(100)));
        assert!(!ok(&cluster, &"a".repeat(101)));
    }
}
