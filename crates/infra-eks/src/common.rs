//! What both EKS resource types share: the SDK client, reading inputs,
//! normalising what EKS reports so it compares equal to what was applied,
//! validation helpers, and the waiter for EKS updates.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_eks::Client;
use aws_sdk_eks::types::{Update, UpdateStatus};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use infra_aws::{AwsContext, Poll, classify, poll_until};
use infra_core::{ErrorKind, OpContext, PathSeg, ProviderError, Value, ValuePath};

/// Where a provider gets its SDK client: built from the stack's `[aws]`
/// table at operation time, or fixed (tests with mocked responses).
#[derive(Clone, Debug)]
pub(crate) struct ClientSource {
    aws: Arc<AwsContext>,
    fixed: Option<Client>,
}

impl ClientSource {
    pub(crate) fn new(aws: Arc<AwsContext>) -> Self {
        ClientSource { aws, fixed: None }
    }

    pub(crate) fn fixed(&mut self, client: Client) {
        self.fixed = Some(client);
    }

    /// The client for this operation. Building it is what first needs the
    /// `[aws]` settings and credentials, so a plan never gets here.
    pub(crate) async fn get(&self, ctx: &OpContext) -> Result<Client, ProviderError> {
        if let Some(client) = &self.fixed {
            return Ok(client.clone());
        }
        let config = self.aws.sdk_config(&ctx.settings).await?;
        Ok(Client::new(&config))
    }
}

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

pub(crate) fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

/// Reads typed values out of a resource's inputs (already revealed).
pub(crate) struct Inputs<'a> {
    what: &'a str,
    value: &'a Value,
}

impl<'a> Inputs<'a> {
    pub(crate) fn new(what: &'a str, value: &'a Value) -> Self {
        Inputs { what, value }
    }

    fn present(&self, key: &str) -> Option<&'a Value> {
        self.value.get(key).filter(|v| !matches!(v, Value::Null))
    }

    fn wrong(&self, key: &str, expected: &str, found: &Value) -> ProviderError {
        invalid(format!(
            "{}: `{key}` must be {expected}, found {}",
            self.what,
            found.kind()
        ))
    }

    pub(crate) fn string(&self, key: &str) -> Result<String, ProviderError> {
        self.opt_string(key)?
            .ok_or_else(|| invalid(format!("{}: `{key}` is required", self.what)))
    }

    pub(crate) fn opt_string(&self, key: &str) -> Result<Option<String>, ProviderError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, ProviderError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }

    pub(crate) fn opt_int(&self, key: &str) -> Result<Option<i32>, ProviderError> {
        match self.present(key) {
            None => Ok(None),
            Some(v) => Ok(Some(int32(v).ok_or_else(|| {
                self.wrong(key, "an integer between 0 and 2147483647", v)
            })?)),
        }
    }

    pub(crate) fn opt_strings(&self, key: &str) -> Result<Option<Vec<String>>, ProviderError> {
        match self.present(key) {
            None => Ok(None),
            Some(v) => Ok(Some(
                string_list(v).ok_or_else(|| self.wrong(key, "a list of strings", v))?,
            )),
        }
    }

    pub(crate) fn strings(&self, key: &str) -> Result<Vec<String>, ProviderError> {
        self.opt_strings(key)?
            .ok_or_else(|| invalid(format!("{}: `{key}` is required", self.what)))
    }

    pub(crate) fn opt_string_map(
        &self,
        key: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
        match self.present(key) {
            None => Ok(None),
            Some(v) => Ok(Some(
                string_map(v).ok_or_else(|| self.wrong(key, "a table of strings", v))?,
            )),
        }
    }

    /// The raw value of an attribute, for nested objects.
    pub(crate) fn raw(&self, key: &str) -> Option<&'a Value> {
        self.present(key)
    }
}

/// An integer that fits the i32 EKS uses, and is not negative.
pub(crate) fn int32(v: &Value) -> Option<i32> {
    match v {
        Value::Int(i) => i32::try_from(*i).ok().filter(|i| *i >= 0),
        Value::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(i32::MAX) => {
            Some(*f as i32)
        }
        _ => None,
    }
}

pub(crate) fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_list()?
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect()
}

pub(crate) fn string_map(v: &Value) -> Option<BTreeMap<String, String>> {
    v.as_map()?
        .iter()
        .map(|(k, item)| Some((k.clone(), item.as_str()?.to_owned())))
        .collect()
}

pub(crate) fn strings_value(items: &[String]) -> Value {
    Value::List(items.iter().cloned().map(Value::String).collect())
}

pub(crate) fn map_value(map: &BTreeMap<String, String>) -> Value {
    map.iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

pub(crate) fn hash_map(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Orders what the cloud reports like the reference (what was applied):
/// items the reference has come first in its order, the rest follow
/// sorted. EKS may return a set in any order; this makes read-after-apply
/// equal to what was applied while still showing added or missing items.
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

    fn given(&self, key: &str) -> Option<&'a Value> {
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

    /// A set of strings (order does not matter to AWS).
    pub(crate) fn set_of(&mut self, key: &str, cloud: &[String]) {
        let items = cloud.iter().cloned().map(Value::String).collect();
        let aligned = align(items, self.given(key));
        self.out.insert(key.to_owned(), Value::List(aligned));
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
        self.out.insert(key.to_owned(), map_value(cloud));
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

/// Whether two lists differ as sets.
pub(crate) fn set_differs(old: Option<&[String]>, new: Option<&[String]>) -> bool {
    let sorted = |l: Option<&[String]>| {
        let mut v = l.unwrap_or(&[]).to_vec();
        v.sort();
        v.dedup();
        v
    };
    sorted(old) != sorted(new)
}

/// Plan-time problems, collected with their paths.
#[derive(Default)]
pub(crate) struct Problems(pub(crate) Vec<(ValuePath, String)>);

impl Problems {
    pub(crate) fn push(&mut self, path: &[&str], message: impl Into<String>) {
        self.push_path(
            path.iter().map(|k| PathSeg::Key((*k).to_owned())).collect(),
            message,
        );
    }

    pub(crate) fn push_path(&mut self, path: ValuePath, message: impl Into<String>) {
        self.0.push((path, message.into()));
    }
}

/// Checks a tags table: at most 50 tags, keys 1–128 characters, values up
/// to 256, no `aws:` prefix (AWS reserves it).
pub(crate) fn validate_tags(inputs: &Value, problems: &mut Problems) {
    let Some(Value::Map(tags)) = inputs.get("tags") else {
        return;
    };
    if tags.len() > 50 {
        problems.push(&["tags"], format!("at most 50 tags, found {}", tags.len()));
    }
    for (key, value) in tags {
        let path = vec![PathSeg::Key("tags".into()), PathSeg::Key(key.clone())];
        if key.is_empty() || key.chars().count() > 128 {
            problems.push_path(path.clone(), "tag keys are 1 to 128 characters");
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            problems.push_path(path.clone(), "tag keys starting with `aws:` are reserved");
        }
        if let Value::String(v) = value
            && v.chars().count() > 256
        {
            problems.push_path(path, "tag values are at most 256 characters");
        }
    }
}

/// Whether a name is 1..=max characters of letters, digits, `-` and `_`,
/// starting with a letter or digit.
pub(crate) fn valid_name(name: &str, max: usize) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.chars().count() <= max
        && first.is_ascii_alphanumeric()
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Which EKS object an update runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum UpdateTarget<'a> {
    Cluster(&'a str),
    NodeGroup { cluster: &'a str, name: &'a str },
}

impl std::fmt::Display for UpdateTarget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpdateTarget::Cluster(name) => write!(f, "EKS cluster `{name}`"),
            UpdateTarget::NodeGroup { cluster, name } => {
                write!(f, "EKS node group `{name}` of cluster `{cluster}`")
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

/// Maps an update call's error; an endpoint that does not implement the
/// call (an emulator) gets a message saying so rather than "not found".
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
/// `UpdateNodegroupVersion`, `UpdateNodegroupConfig`) to finish.
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
    let Some(update) = update else {
        return wait_until_active(ctx, client, target).await;
    };
    let Some(id) = update.id() else {
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
    match update.status() {
        Some(UpdateStatus::Successful) => Ok(Some(())),
        Some(status @ (UpdateStatus::Failed | UpdateStatus::Cancelled)) => {
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
                    "update {} ({}) of {target} {}: {detail}",
                    update.id().unwrap_or("?"),
                    update.r#type().map_or("update", |t| t.as_str()),
                    match status {
                        UpdateStatus::Failed => "failed",
                        _ => "was cancelled",
                    }
                ),
            ))
        }
        _ => Ok(None),
    }
}

/// Polls the cluster or node group until its status is `ACTIVE` (the
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
        assert!(valid_name("airflow-prod_1", 100));
        assert!(valid_name("1abc", 100));
        assert!(!valid_name("", 100));
        assert!(!valid_name("-abc", 100));
        assert!(!valid_name("a.b", 100));
        assert!(!valid_name(&"a".repeat(64), 63));
        assert!(valid_name(&"a".repeat(63), 63));
    }

    #[test]
    fn sets_compare_without_order() {
        let a = ["x".to_owned(), "y".to_owned()];
        let b = ["y".to_owned(), "x".to_owned()];
        assert!(!set_differs(Some(&a), Some(&b)));
        assert!(set_differs(Some(&a), None));
        assert!(!set_differs(Some(&[]), None));
    }

    #[test]
    fn integers_must_fit_eks() {
        assert_eq!(int32(&Value::Int(5)), Some(5));
        assert_eq!(int32(&Value::Float(5.0)), Some(5));
        assert_eq!(int32(&Value::Int(-1)), None);
        assert_eq!(int32(&Value::Int(i64::MAX)), None);
        assert_eq!(int32(&Value::from("5")), None);
    }
}
