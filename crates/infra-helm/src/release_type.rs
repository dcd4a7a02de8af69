//! [`ReleaseType`]: the `helm_release` type ([`HelmRelease`] as the
//! engine's provider). Every operation first asks
//! `helm status` whether a pending operation holds the release's lock;
//! create and update are one `helm upgrade --install`, read is `status` +
//! `get values` + `history`, delete is `helm uninstall`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use infra_core::{
    CheckContext, ErrorKind, Existing, Fields, Observed, OpContext, OpKind, ProviderError, Request,
    Resource, Schema, SettingsTable, Typed, UpdateRequest, Value, ValuePath,
};

use crate::cli::{Finished, Helm, Major, args, is_not_found, resolve_binary};
use crate::release::{
    HistoryEntry, RecoveryPlan, ReleaseInfo, Status, parse_history, parse_values, recovery_plan,
};
use crate::schema::{SETTINGS_SECTION, schema};
use crate::spec::{Kube, ReleaseSpec, Settings, Target, collect_secrets};
use crate::validate::SchemaCache;
use crate::workdir::Workdir;

/// The key of observed inputs that reports a release whose status is not
/// `deployed` (e.g. `failed`). It is no schema attribute: the stack never
/// sets it, so a refresh that finds it makes the plan show
/// `status: "failed" → null` and schedule an in-place upgrade, after which
/// the state's inputs (the desired ones) no longer hold it. Terraform gets
/// the same effect by always planning `status = "deployed"`.
pub const DRIFT_STATUS_KEY: &str = "status";

/// Grace beyond helm's own `--timeout` before infra stops a helm command, so
/// helm itself gives up (and rolls back when atomic) before it is killed.
const HELM_GRACE: Duration = Duration::from_secs(60);

/// How an interrupted operation's pending release was recovered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// The release was not pending (or does not exist): nothing was done.
    NotPending,
    /// `helm rollback` to the last deployed revision.
    RolledBack {
        /// The pending revision that was abandoned.
        from: Option<i64>,
        /// The revision rolled back to.
        to: i64,
    },
    /// No revision was ever deployed: `helm uninstall`.
    Uninstalled,
}

/// The `helm_release` provider: `HelmRelease::default()`. Nothing runs
/// until an operation does.
pub type HelmRelease = Typed<ReleaseType>;

/// The `helm_release` resource type.
#[derive(Default)]
pub struct ReleaseType {
    /// Helm's major version per executable, detected once.
    versions: Mutex<HashMap<PathBuf, Major>>,
    /// Chart values schemas, compiled once.
    schemas: SchemaCache,
}

impl std::fmt::Debug for ReleaseType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseType").finish_non_exhaustive()
    }
}

impl ReleaseType {
    /// Helm's major version for `helm`, from `helm version --short` once.
    async fn major(&self, helm: &Helm, ctx: &OpContext) -> Result<Major, ProviderError> {
        let cached = self
            .versions
            .lock()
            .ok()
            .and_then(|m| m.get(&helm.binary).copied());
        if let Some(m) = cached {
            return Ok(m);
        }
        let out = helm
            .run(
                &args(["version", "--short"]),
                ctx.timeout.min(Duration::from_secs(60)),
            )
            .await?;
        if !out.success {
            return Err(helm.failure("asking helm for its version", &out));
        }
        let major = Major::parse(&out.stdout).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{} says its version is `{}`: helm_release needs Helm 3 (3.19 or newer) or Helm 4",
                    helm.binary.display(),
                    out.stdout.trim()
                ),
            )
        })?;
        if let Ok(mut m) = self.versions.lock() {
            m.insert(helm.binary.clone(), major);
        }
        Ok(major)
    }

    /// Everything one operation needs: helm, its version, the scratch
    /// directory and the connection flags.
    async fn session<'a>(
        &self,
        ctx: &'a OpContext,
        target: Target,
        secrets: Vec<String>,
    ) -> Result<Session<'a>, ProviderError> {
        let settings = Settings::from_value(&ctx.settings, &ctx.root)?;
        let target = Target {
            kube: target.kube.resolved(&ctx.root),
            ..target
        };
        let mut helm = Helm::new(resolve_binary(settings.binary.as_deref())?, secrets);
        helm.major = self.major(&helm, ctx).await?;
        let work = Workdir::new()?;
        let token_command = match (&target.kube, settings.token_command) {
            // A relative path in a kubeconfig's exec entry is relative to
            // the kubeconfig's directory (client-go), which is the scratch
            // directory, not the project: write it absolute. A bare name
            // stays one, looked up on PATH.
            (_, Some(c)) if c.components().count() > 1 && c.is_relative() => {
                std::path::absolute(&c).map_err(|e| {
                    ProviderError::new(
                        ErrorKind::Invalid,
                        format!(
                            "cannot make [helm] token_command {} absolute ({e}); write it as an absolute path",
                            c.display()
                        ),
                    )
                })?
            }
            (_, Some(c)) => c,
            (Kube::Eks { .. }, None) => std::env::current_exe().map_err(|e| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "cannot find this executable for the kubeconfig's `eks token` command ({e}); set [helm] token_command = \"/path/to/infra\""
                    ),
                )
            })?,
            (Kube::Kubeconfig { .. }, None) => PathBuf::new(),
        };
        let kube = work.kube_args(&target.kube, &token_command)?;
        Ok(Session {
            ctx,
            helm,
            target,
            work,
            kube,
        })
    }

    /// Performs the recovery a pending release needs: `helm rollback` to the
    /// last deployed revision, or `helm uninstall` when none was ever
    /// deployed. `inputs` are the release's inputs (from state or the
    /// journal's intent).
    ///
    /// Only for when the journal proves that the pending operation was
    /// infra's own, interrupted (an intent without a result for this
    /// address): a pending release may also be another helm run still in
    /// progress, which only the user can judge. Every other operation
    /// refuses a pending release and names this recovery instead.
    pub async fn recover_pending(
        &self,
        ctx: &OpContext,
        inputs: &Value,
    ) -> Result<Recovery, ProviderError> {
        let target = Target::from_inputs(ctx, inputs)?;
        let mut secrets = Vec::new();
        collect_secrets(inputs, &mut secrets);
        let s = self.session(ctx, target, secrets).await?;
        let Some(info) = s.status().await? else {
            return Ok(Recovery::NotPending);
        };
        if !matches!(status_of(&info), Status::Pending(_)) {
            return Ok(Recovery::NotPending);
        }
        let history = s.history().await?;
        match recovery_plan(&history) {
            RecoveryPlan::Rollback(to) => {
                ctx.progress(&format!("rolling back pending release to revision {to}"));
                s.rollback(to).await?;
                Ok(Recovery::RolledBack {
                    from: info.revision,
                    to,
                })
            }
            RecoveryPlan::Uninstall => {
                ctx.progress("uninstalling a release that was never deployed");
                s.uninstall().await?;
                Ok(Recovery::Uninstalled)
            }
        }
    }

    async fn apply(
        &self,
        ctx: &OpContext,
        spec: &ReleaseSpec,
        inputs: &Value,
    ) -> Result<Observed, ProviderError> {
        spec.ready()?;
        let s = self
            .session(ctx, spec.target.clone(), spec.secrets.clone())
            .await?;
        if let Some(info) = s.status().await? {
            s.refuse_locked(&info).await?;
        }
        let info = s.upgrade(spec).await?;
        Ok(Observed {
            id: s.target.id(),
            inputs: inputs.clone(),
            outputs: outputs(&info),
        })
    }
}

/// One operation's helm, target and files; the files go when it is dropped.
struct Session<'a> {
    ctx: &'a OpContext,
    helm: Helm,
    target: Target,
    /// Holds the kubeconfig and values files until the operation ends.
    work: Workdir,
    kube: Vec<OsString>,
}

fn status_of(info: &ReleaseInfo) -> Status {
    Status::parse(info.status.as_deref().unwrap_or("unknown"))
}

impl Session<'_> {
    /// How long a command that changes the cluster may run.
    fn change_limit(&self) -> Duration {
        self.ctx.timeout.max(self.target.timeout() + HELM_GRACE)
    }

    /// `helm SUB NAME -n NS [extra] <kube flags>`.
    fn argv(&self, sub: &[&str], extra: &[&str]) -> Vec<OsString> {
        let mut a = args(sub);
        a.extend(args([
            self.target.name.as_str(),
            "-n",
            &self.target.namespace,
        ]));
        a.extend(args(extra));
        a.extend(self.kube.iter().cloned());
        a
    }

    fn doing(&self, what: &str) -> String {
        format!(
            "{what} helm release `{}` in namespace `{}`",
            self.target.name, self.target.namespace
        )
    }

    async fn read_json(&self, sub: &[&str], what: &str) -> Result<Option<Finished>, ProviderError> {
        let out = self
            .helm
            .run(&self.argv(sub, &["-o", "json"]), self.ctx.timeout)
            .await?;
        if out.success {
            Ok(Some(out))
        } else if is_not_found(&out.stderr) {
            Ok(None)
        } else {
            Err(self.helm.failure(&self.doing(what), &out))
        }
    }

    fn unreadable(&self, what: &str) -> ProviderError {
        ProviderError::new(
            ErrorKind::Failed,
            format!(
                "{}: helm's answer is not the JSON expected",
                self.doing(what)
            ),
        )
    }

    /// `helm status`; `None` when there is no such release.
    async fn status(&self) -> Result<Option<ReleaseInfo>, ProviderError> {
        let what = "reading the status of";
        match self.read_json(&["status"], what).await? {
            None => Ok(None),
            Some(out) => ReleaseInfo::parse(&out.stdout)
                .map(Some)
                .ok_or_else(|| self.unreadable(what)),
        }
    }

    /// `helm get values`: the user-supplied values (empty for `null`).
    async fn values(&self) -> Result<Option<Value>, ProviderError> {
        let what = "reading the values of";
        match self.read_json(&["get", "values"], what).await? {
            None => Ok(None),
            Some(out) => parse_values(&out.stdout)
                .map(Some)
                .ok_or_else(|| self.unreadable(what)),
        }
    }

    /// `helm history`; empty when there is no such release.
    async fn history(&self) -> Result<Vec<HistoryEntry>, ProviderError> {
        Ok(self
            .read_json(&["history"], "reading the history of")
            .await?
            .map(|out| parse_history(&out.stdout))
            .unwrap_or_default())
    }

    /// An error naming the exact recovery when a pending operation (or an
    /// unfinished uninstall) holds the release; `Ok` otherwise.
    async fn refuse_locked(&self, info: &ReleaseInfo) -> Result<(), ProviderError> {
        let (name, ns) = (&self.target.name, &self.target.namespace);
        let status = status_of(info);
        let revision = info
            .revision
            .map_or_else(String::new, |r| format!(" (revision {r})"));
        let command = match &status {
            Status::Pending(_) => match recovery_plan(&self.history().await?) {
                RecoveryPlan::Rollback(rev) => format!(
                    "`helm rollback {name} {rev} -n {ns}{}` (the last deployed revision)",
                    self.kube_hint()
                ),
                RecoveryPlan::Uninstall => format!(
                    "`helm uninstall {name} -n {ns}{}` (no revision was ever deployed)",
                    self.kube_hint()
                ),
            },
            Status::Uninstalling => format!("`helm uninstall {name} -n {ns}{}`", self.kube_hint()),
            _ => return Ok(()),
        };
        Err(ProviderError::new(
            ErrorKind::Failed,
            format!(
                "helm release `{name}` in namespace `{ns}` is {}{revision}: an interrupted or still running helm operation holds its lock; if no helm command is working on it, recover with {command} and apply again",
                status.as_str()
            ),
        ))
    }

    /// The connection part of a command shown to the user.
    fn kube_hint(&self) -> String {
        match &self.target.kube {
            Kube::Kubeconfig { path, context } => {
                let mut s = format!(" --kubeconfig {}", path.display());
                if let Some(c) = context {
                    s.push_str(&format!(" --kube-context {c}"));
                }
                s
            }
            Kube::Eks { cluster, .. } => {
                format!(" --kube-context <a context for EKS cluster {cluster}>")
            }
        }
    }

    /// Reads the release, reported in the shape of `given`.
    async fn observe(&self, given: &Value) -> infra_core::ReadResult {
        let Some(info) = self.status().await? else {
            return Ok(None);
        };
        if status_of(&info) == Status::Uninstalled {
            return Ok(None);
        }
        self.refuse_locked(&info).await?;
        // Gone between the calls: as gone as it gets.
        let Some(released) = self.values().await? else {
            return Ok(None);
        };
        let history = self.history().await?;
        let info = complete(info, &history);
        Ok(Some(Observed {
            id: self.target.id(),
            inputs: observed_inputs(given, &released, &info),
            outputs: outputs(&info),
        }))
    }

    /// `helm upgrade --install`, with the values in a private file that is
    /// gone when this returns.
    async fn upgrade(&self, spec: &ReleaseSpec) -> Result<ReleaseInfo, ProviderError> {
        let values = self.work.write_values(&spec.values)?;
        let t = &self.target;
        let mut a = args(["upgrade", "--install", &t.name, &spec.chart]);
        if let Some(repo) = &spec.repository {
            a.extend(args(["--repo", repo]));
        }
        if let Some(v) = &spec.version {
            a.extend(args(["--version", v]));
        }
        a.extend(args(["-n", &t.namespace]));
        if spec.create_namespace {
            a.extend(args(["--create-namespace"]));
        }
        a.extend(args(["-f".as_ref(), values.as_os_str()]));
        if t.wait {
            a.extend(args(["--wait"]));
        }
        let history_max = t.max_history.to_string();
        a.extend(args([
            "--timeout",
            &t.timeout,
            "--history-max",
            &history_max,
        ]));
        if spec.atomic {
            a.extend(args([match self.helm.major {
                Major::V3 => "--atomic",
                Major::V4 => "--rollback-on-failure",
            }]));
        }
        a.extend(args(["-o", "json"]));
        a.extend(self.kube.iter().cloned());
        self.ctx.progress(&format!(
            "helm upgrade --install (waiting up to {})",
            t.timeout
        ));
        let out = self.helm.run(&a, self.change_limit()).await;
        // The plaintext goes now, whatever happened.
        let _ = std::fs::remove_file(&values);
        let out = out?;
        if !out.success {
            return Err(self
                .helm
                .failure(&self.doing("installing or upgrading"), &out));
        }
        let mut info = ReleaseInfo::parse(&out.stdout).unwrap_or_default();
        if (info.revision.is_none() || info.status.is_none())
            && let Some(s) = self.status().await?
        {
            info.revision = info.revision.or(s.revision);
            info.status = info.status.or(s.status);
        }
        if info.chart_version.is_none() || info.app_version.is_none() {
            info = complete(info, &self.history().await?);
        }
        Ok(info)
    }

    /// `helm uninstall`; a release already gone is fine.
    async fn uninstall(&self) -> Result<(), ProviderError> {
        let t = &self.target;
        let mut extra = Vec::new();
        if t.wait {
            extra.push("--wait");
        }
        extra.extend(["--timeout", &t.timeout, "--ignore-not-found"]);
        let out = self
            .helm
            .run(&self.argv(&["uninstall"], &extra), self.change_limit())
            .await?;
        if out.success || is_not_found(&out.stderr) {
            Ok(())
        } else {
            Err(self.helm.failure(&self.doing("uninstalling"), &out))
        }
    }

    /// `helm rollback NAME REV`.
    async fn rollback(&self, revision: i64) -> Result<(), ProviderError> {
        let t = &self.target;
        let rev = revision.to_string();
        let history_max = t.max_history.to_string();
        let mut a = args(["rollback", t.name.as_str(), &rev, "-n", &t.namespace]);
        if t.wait {
            a.extend(args(["--wait"]));
        }
        a.extend(args([
            "--timeout",
            &t.timeout,
            "--history-max",
            &history_max,
        ]));
        a.extend(self.kube.iter().cloned());
        let out = self.helm.run(&a, self.change_limit()).await?;
        if out.success {
            Ok(())
        } else {
            Err(self.helm.failure(
                &self.doing(&format!("rolling back to revision {revision}")),
                &out,
            ))
        }
    }
}

/// Fills chart and app version from the history entry of the release's
/// revision (the newest entry when the revision is unknown).
fn complete(mut info: ReleaseInfo, history: &[HistoryEntry]) -> ReleaseInfo {
    let entry = history
        .iter()
        .find(|e| e.revision.is_some() && e.revision == info.revision)
        .or_else(|| history.iter().max_by_key(|e| e.revision));
    if let Some(e) = entry {
        info.revision = info.revision.or(e.revision);
        info.status = info.status.or_else(|| e.status.clone());
        if info.chart_version.is_none() {
            info.chart_version = e.chart_version().map(str::to_owned);
        }
        if info.app_version.is_none() {
            info.app_version = e.app_version.clone();
        }
    }
    info
}

/// The computed outputs; what helm did not say is null.
fn outputs(info: &ReleaseInfo) -> Value {
    let s = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    [
        ("revision", info.revision.map_or(Value::Null, Value::Int)),
        ("status", s(&info.status)),
        ("chart_version", s(&info.chart_version)),
        ("app_version", s(&info.app_version)),
    ]
    .into_iter()
    .collect()
}

/// The inputs as the cluster has them: `given` with `values` replaced by
/// the release's (secrets kept, see [`merge_values`]), the chart version
/// actually deployed when `given` pins one, and [`DRIFT_STATUS_KEY`] when
/// the release is not `deployed`.
pub fn observed_inputs(given: &Value, released: &Value, info: &ReleaseInfo) -> Value {
    let mut inputs = match given {
        Value::Map(m) => m.clone(),
        _ => BTreeMap::new(),
    };
    inputs.insert(
        "values".into(),
        merge_values(inputs.get("values"), released),
    );
    if let (Some(Value::String(_)), Some(actual)) = (inputs.get("version"), &info.chart_version) {
        inputs.insert("version".into(), Value::String(actual.clone()));
    }
    match info.status.as_deref() {
        Some("deployed") => {}
        other => {
            inputs.insert(
                DRIFT_STATUS_KEY.into(),
                Value::String(other.unwrap_or("unknown").to_owned()),
            );
        }
    }
    Value::Map(inputs)
}

/// The release's values in the shape of the recorded ones. Where the record
/// holds a secret and the release has a value, the secret is kept: state
/// holds only its keyed digest, which the provider cannot recompute, so a
/// change to a secret made by hand is not seen (every other leaf is).
pub fn merge_values(given: Option<&Value>, released: &Value) -> Value {
    match (given, released) {
        (Some(g @ Value::Sensitive(_)), _) => g.clone(),
        (Some(Value::Map(g)), Value::Map(r)) => Value::Map(
            r.iter()
                .map(|(k, v)| (k.clone(), merge_values(g.get(k), v)))
                .collect(),
        ),
        (Some(Value::List(g)), Value::List(r)) if g.len() == r.len() => Value::List(
            g.iter()
                .zip(r)
                .map(|(g, r)| merge_values(Some(g), r))
                .collect(),
        ),
        (_, r) => r.clone(),
    }
}

#[async_trait]
impl Resource for ReleaseType {
    type Spec = ReleaseSpec;

    fn schema(&self) -> Schema {
        schema()
    }

    fn parse(&self, f: &mut Fields<'_>) -> ReleaseSpec {
        ReleaseSpec::parse(f)
    }

    fn settings(&self) -> Option<SettingsTable> {
        Some(SettingsTable {
            section: SETTINGS_SECTION,
            check: |table| {
                infra_core::settings_problems(table, |t| {
                    Settings::from_value(t, std::path::Path::new("."))
                        .err()
                        .map(|e| e.message)
                })
            },
        })
    }

    fn check_project(
        &self,
        project: &CheckContext<'_>,
        spec: &ReleaseSpec,
    ) -> Vec<(ValuePath, String)> {
        match &spec.chart_check {
            Some((chart, version)) => {
                self.schemas
                    .check(project, chart, version.as_deref(), &spec.given_values)
            }
            None => Vec::new(),
        }
    }

    fn default_timeout(&self, op: OpKind) -> Duration {
        // Above helm's own default `--timeout` of 10m, which limits the wait.
        Duration::from_secs(match op {
            OpKind::Create | OpKind::Update => 30 * 60,
            OpKind::Delete => 15 * 60,
            OpKind::Read => 5 * 60,
        })
    }

    fn estimate(&self, op: OpKind, _inputs: &Value) -> Duration {
        // An Airflow install waits for its pods and migrations.
        Duration::from_secs(match op {
            OpKind::Create => 300,
            OpKind::Update => 180,
            OpKind::Delete => 60,
            OpKind::Read => 2,
        })
    }

    async fn interrupted(
        &self,
        ctx: &OpContext,
        _op: OpKind,
        inputs: &Value,
    ) -> Result<Option<String>, ProviderError> {
        // The journal proves the pending operation was ours: undo it.
        Ok(match self.recover_pending(ctx, inputs).await? {
            Recovery::NotPending => None,
            Recovery::RolledBack { from, to } => Some(match from {
                Some(from) => {
                    format!("rolled the release back from pending revision {from} to revision {to}")
                }
                None => format!("rolled the pending release back to revision {to}"),
            }),
            Recovery::Uninstalled => {
                Some("uninstalled a pending release that was never deployed".to_owned())
            }
        })
    }

    async fn create(&self, op: Request<'_, ReleaseSpec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        // `upgrade --install` adopts a release an interrupted create made.
        self.apply(ctx, spec, inputs).await
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let target = Target::from_inputs(ctx, &existing.inputs)?;
        let s = self.session(ctx, target, Vec::new()).await?;
        s.observe(&existing.inputs).await
    }

    async fn find(&self, op: Request<'_, ReleaseSpec>) -> infra_core::ReadResult {
        let (ctx, spec, inputs) = op.parts();
        // The name and namespace are the release's identity.
        let s = self
            .session(ctx, spec.target.clone(), spec.secrets.clone())
            .await?;
        s.observe(inputs).await
    }

    async fn update(&self, op: UpdateRequest<'_, ReleaseSpec>) -> Result<Observed, ProviderError> {
        let (ctx, _, spec, inputs) = op.parts();
        self.apply(ctx, spec, inputs).await
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let target = Target::from_inputs(ctx, &existing.inputs)?;
        let s = self.session(ctx, target, Vec::new()).await?;
        match s.status().await? {
            None => return Ok(()),
            Some(info) => match status_of(&info) {
                Status::Uninstalled => return Ok(()),
                // An interrupted uninstall: uninstalling again finishes it.
                Status::Uninstalling => {}
                _ => s.refuse_locked(&info).await?,
            },
        }
        s.uninstall().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use infra_core::Secret;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).expect("json")
    }

    #[test]
    fn merge_keeps_secrets_and_reports_other_leaves() {
        let secret = Value::Sensitive(Secret::redacted("hmac:1"));
        let given: Value = [
            ("executor", Value::from("KubernetesExecutor")),
            ("data", [("pass", secret.clone())].into_iter().collect()),
        ]
        .into_iter()
        .collect();
        let released =
            json(r#"{"executor": "CeleryExecutor", "data": {"pass": "plain"}, "extra": [1, 2]}"#);
        let merged = merge_values(Some(&given), &released);
        assert_eq!(merged.get("executor"), Some(&Value::from("CeleryExecutor")));
        assert_eq!(
            merged.at(&[
                infra_core::PathSeg::Key("data".into()),
                infra_core::PathSeg::Key("pass".into())
            ]),
            Some(&secret)
        );
        assert_eq!(merged.get("extra"), Some(&json("[1, 2]")));
        // A secret removed by hand disappears.
        let merged = merge_values(Some(&given), &json(r#"{"data": {}}"#));
        assert_eq!(merged, json(r#"{"data": {}}"#));
    }

    #[test]
    fn a_release_not_deployed_is_drift() {
        let given = json(r#"{"name": "a", "version": "1.0.0", "values": {}}"#);
        let info = ReleaseInfo {
            status: Some("failed".into()),
            chart_version: Some("1.1.0".into()),
            ..ReleaseInfo::default()
        };
        let observed = observed_inputs(&given, &Value::map(), &info);
        assert_eq!(
            observed,
            json(r#"{"name": "a", "version": "1.1.0", "values": {}, "status": "failed"}"#)
        );
        let deployed = ReleaseInfo {
            status: Some("deployed".into()),
            chart_version: Some("1.0.0".into()),
            ..ReleaseInfo::default()
        };
        assert_eq!(observed_inputs(&given, &Value::map(), &deployed), given);
    }
}
