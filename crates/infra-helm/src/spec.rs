//! The inputs, read once with [`Fields`] (so plan-time validation and
//! every operation apply the same rules): [`Target`] (which release, on
//! which cluster, with which limits: all that read, delete and recovery
//! need, readable from state without any secret) and [`ReleaseSpec`] (what
//! to install, with the values revealed for the values file), plus the
//! `[helm]` settings.

use std::path::{Path, PathBuf};

use infra_core::{ErrorKind, Fields, OpContext, Phase, ProviderError, Value};

use crate::schema::{DEFAULT_MAX_HISTORY, DEFAULT_NAMESPACE, DEFAULT_TIMEOUT};
use crate::validate::{check_name, check_namespace, parse_timeout};

/// How helm reaches the cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Kube {
    /// An EKS cluster: a temporary kubeconfig whose user runs `eks token`.
    Eks {
        /// The cluster name, for the token.
        cluster: String,
        /// The API server URL.
        endpoint: String,
        /// The certificate authority, base64 PEM.
        ca_data: String,
        /// The cluster's region, passed to `eks token`; the environment's
        /// when `None`.
        region: Option<String>,
    },
    /// A kubeconfig file of the user's, and optionally a context in it.
    Kubeconfig {
        /// The file, as written until [`Kube::resolved`] against the
        /// project root.
        path: PathBuf,
        /// The context; the file's current context when `None`.
        context: Option<String>,
    },
}

impl Kube {
    /// With the kubeconfig path resolved against the project root.
    pub fn resolved(self, root: &Path) -> Kube {
        match self {
            Kube::Kubeconfig { path, context } => Kube::Kubeconfig {
                path: resolve_path(root, &path.to_string_lossy()),
                context,
            },
            eks => eks,
        }
    }
}

/// Which release, where, and helm's limits. Read from inputs with
/// problems, the fields are placeholders (never used: the operation fails).
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The release name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// How to reach the cluster.
    pub kube: Kube,
    /// `--timeout`, as written.
    pub timeout: String,
    /// Whether to pass `--wait`.
    pub wait: bool,
    /// `--history-max`.
    pub max_history: i64,
}

/// Everything `helm upgrade --install` needs.
#[derive(Clone, Debug)]
pub struct ReleaseSpec {
    /// Which release.
    pub target: Target,
    /// The chart reference.
    pub chart: String,
    /// `--repo`.
    pub repository: Option<String>,
    /// `--version`.
    pub version: Option<String>,
    /// `--create-namespace`.
    pub create_namespace: bool,
    /// `--atomic` / `--rollback-on-failure`.
    pub atomic: bool,
    /// The values with every secret revealed: written only to the values
    /// file. May hold unknown values until [`ReleaseSpec::ready`].
    pub values: Value,
    /// The plaintext of every secret in the inputs, to redact from messages.
    pub secrets: Vec<String>,
    /// The chart and version to check the values against at plan time;
    /// `None` when either is not known yet.
    pub chart_check: Option<(String, Option<String>)>,
    /// The values as given (secrets kept), for that check.
    pub given_values: Value,
}

/// The `[helm]` settings table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// The helm executable; `helm` on PATH when unset.
    pub binary: Option<PathBuf>,
    /// What the EKS kubeconfig's exec entry runs; this executable when unset.
    pub token_command: Option<PathBuf>,
    /// helm's cache home, where `helm repo update` / `helm pull` keep
    /// repository charts; helm's own default (`$HELM_CACHE_HOME`,
    /// `~/.cache/helm`) when unset. Read for plan-time values validation.
    pub cache: Option<PathBuf>,
}

pub(crate) fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

/// Resolves a path setting against the project root; `~/` is the home directory.
pub(crate) fn resolve_path(root: &Path, raw: &str) -> PathBuf {
    if let Some(rest) = raw.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let p = PathBuf::from(raw);
    if p.is_absolute() { p } else { root.join(p) }
}

impl Settings {
    /// Reads `[helm]`; `Null` (no table) means all defaults.
    pub fn from_value(settings: &Value, root: &Path) -> Result<Self, ProviderError> {
        let path = |key: &str| -> Result<Option<PathBuf>, ProviderError> {
            match settings.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.contains('/') => Ok(Some(resolve_path(root, s))),
                Some(Value::String(s)) => Ok(Some(PathBuf::from(s))),
                Some(other) => Err(invalid(format!(
                    "[helm] {key} must be a string (a path), not a {}",
                    other.kind()
                ))),
            }
        };
        const KEYS: [&str; 3] = ["binary", "token_command", "cache"];
        if let Value::Map(m) = settings
            && let Some(key) = m.keys().find(|k| !KEYS.contains(&k.as_str()))
        {
            return Err(invalid(format!(
                "unknown key `{key}` in [helm]; the keys are {}",
                KEYS.join(", ")
            )));
        }
        Ok(Settings {
            binary: path("binary")?,
            token_command: path("token_command")?,
            cache: path("cache")?.map(|p| root.join(p)),
        })
    }
}

/// A required string checked by `rule` when known; `None` when it is not
/// given or not known yet.
fn required_with(
    f: &mut Fields<'_>,
    key: &str,
    rule: impl FnOnce(&str) -> Result<(), String>,
) -> Option<String> {
    if f.is_set(key) {
        f.string_with(key, rule)
    } else {
        f.required_string(key);
        None
    }
}

/// The release's name and namespace.
fn identity(f: &mut Fields<'_>) -> (String, String) {
    let name = required_with(f, "name", check_name).unwrap_or_default();
    let namespace = f
        .string_with("namespace", check_namespace)
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    (name, namespace)
}

/// helm's limits: `timeout`, `wait`, `max_history`.
fn limits(f: &mut Fields<'_>) -> (String, bool, i64) {
    let timeout = f
        .string_with("timeout", |t| parse_timeout(t).map(drop))
        .unwrap_or_else(|| DEFAULT_TIMEOUT.to_owned());
    let wait = f.bool_or("wait", true);
    let max_history = match f.int("max_history") {
        None => DEFAULT_MAX_HISTORY,
        Some(n) if n >= 0 => n,
        Some(n) => {
            f.problem_at(
                "max_history",
                format!("max_history must be 0 (keep all) or more, not {n}"),
            );
            DEFAULT_MAX_HISTORY
        }
    };
    (timeout, wait, max_history)
}

/// How the cluster is reached: exactly one of `kubernetes` and `kubeconfig`.
fn kube(f: &mut Fields<'_>) -> Kube {
    let (eks, file) = (f.is_set("kubernetes"), f.is_set("kubeconfig"));
    match (eks, file) {
        (true, true) => f.problem_at(
            "kubeconfig",
            "set either `kubernetes` (an EKS cluster) or `kubeconfig`, not both",
        ),
        (false, false) => f.problem_at(
            "kubernetes",
            "say how to reach the cluster: `kubernetes = { eks_cluster, endpoint, ca_data }` or `kubeconfig = \"path\"`",
        ),
        _ => {}
    }
    if eks && f.is_set("context") {
        f.problem_at(
            "context",
            "`context` selects a context of `kubeconfig`; remove it when using `kubernetes`",
        );
    }
    let kube = match (eks, file) {
        (true, false) => f.table("kubernetes", |k| Kube::Eks {
            cluster: k.required_string("eks_cluster"),
            endpoint: k.required_string("endpoint"),
            ca_data: k.required_string("ca_data"),
            region: k.string("region"),
        }),
        (false, true) => f.string("kubeconfig").map(|path| Kube::Kubeconfig {
            path: PathBuf::from(path),
            context: f.string("context"),
        }),
        _ => None,
    };
    kube.unwrap_or(Kube::Kubeconfig {
        path: PathBuf::new(),
        context: None,
    })
}

impl Target {
    /// The target of a release's inputs as recorded (state, the journal).
    pub fn from_inputs(ctx: &OpContext, inputs: &Value) -> Result<Self, ProviderError> {
        // Connection settings are not secret; reveal in case a reference
        // made one sensitive (its plaintext is then needed to connect).
        let revealed = inputs.reveal();
        let mut f = Fields::new(&revealed, Phase::Apply);
        let (name, namespace) = identity(&mut f);
        let target = Target::rest(&mut f, name, namespace);
        f.finish(&ctx.address.to_string(), target)
    }

    /// The rest of a target, after its identity.
    fn rest(f: &mut Fields<'_>, name: String, namespace: String) -> Target {
        let (timeout, wait, max_history) = limits(f);
        Target {
            name,
            namespace,
            kube: kube(f),
            timeout,
            wait,
            max_history,
        }
    }

    /// The resource's id: `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// helm's own limit.
    pub fn timeout(&self) -> std::time::Duration {
        parse_timeout(&self.timeout).unwrap_or_default()
    }
}

impl ReleaseSpec {
    /// Reads the spec into `f`'s problems: `f` reads the inputs with every
    /// secret revealed (helm needs the plaintext), `given` is them as
    /// given.
    pub fn read(f: &mut Fields<'_>, given: &Value) -> ReleaseSpec {
        let (name, namespace) = identity(f);
        let chart = required_with(f, "chart", |c| {
            if c.trim().is_empty() {
                Err("chart is empty: name a chart in `repository`, a chart directory or a .tgz file".to_owned())
            } else {
                Ok(())
            }
        });
        let repository = f.string("repository");
        let version = f.string("version");
        let chart_check = match chart {
            Some(ref c) if !f.is_unknown("version") => Some((c.clone(), version.clone())),
            _ => None,
        };
        let create_namespace = f.bool_or("create_namespace", false);
        let atomic = f.bool_or("atomic", true);
        let (timeout, wait, max_history) = limits(f);
        // Values not known yet (a reference, a secret without plaintext in
        // this run) wait for `ready`: recovery's `find` needs none of them.
        let values = match f.inputs().get("values") {
            None | Some(Value::Null) => Value::map(),
            Some(v @ (Value::Map(_) | Value::Unknown)) => v.clone(),
            Some(other) => {
                f.problem_at(
                    "values",
                    format!("values must be a table, not a {}", other.kind()),
                );
                Value::map()
            }
        };
        let target = Target {
            name,
            namespace,
            kube: kube(f),
            timeout,
            wait,
            max_history,
        };
        let mut secrets = Vec::new();
        collect_secrets(given, &mut secrets);
        ReleaseSpec {
            target,
            chart: chart.unwrap_or_default(),
            repository,
            version,
            create_namespace,
            atomic,
            values,
            secrets,
            chart_check,
            given_values: given
                .get("values")
                .filter(|v| !matches!(v, Value::Null))
                .cloned()
                .unwrap_or_else(Value::map),
        }
    }

    /// Reads the spec of the resource's inputs `f` (reading them again
    /// with their secrets revealed).
    pub fn parse(f: &mut Fields<'_>) -> ReleaseSpec {
        let given = f.inputs();
        let revealed = given.reveal();
        let mut r = Fields::new(&revealed, f.phase());
        let spec = ReleaseSpec::read(&mut r, given);
        for (path, message) in r.into_problems() {
            // The inputs' own shape is `f`'s problem already.
            if !path.is_empty() {
                f.problem(&path, message);
            }
        }
        spec
    }

    /// Whether helm can run: every value known, every secret's plaintext
    /// here to write into the values file.
    pub fn ready(&self) -> Result<(), ProviderError> {
        if self.values.has_unknown() {
            return Err(invalid(
                "`values` holds a value that is not known (a reference not yet resolved, or a secret whose plaintext this run does not have); plan and apply in one run",
            ));
        }
        Ok(())
    }
}

/// The plaintext leaves of every secret inside `v`, as text.
pub(crate) fn collect_secrets(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Sensitive(s) => {
            if let Some(p) = s.plaintext() {
                leaves(&p.reveal(), out);
            }
        }
        Value::List(l) => l.iter().for_each(|x| collect_secrets(x, out)),
        Value::Map(m) => m.values().for_each(|x| collect_secrets(x, out)),
        _ => {}
    }
}

fn leaves(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        // Short numbers and booleans would redact every digit of a message.
        Value::Int(_) | Value::Float(_) => {
            let s = v.to_string();
            if s.len() >= 4 {
                out.push(s);
            }
        }
        Value::List(l) => l.iter().for_each(|x| leaves(x, out)),
        Value::Map(m) => m.values().for_each(|x| leaves(x, out)),
        _ => {}
    }
}
