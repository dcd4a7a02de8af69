//! Typed views of the inputs: [`Target`] (which release, on which cluster,
//! with which limits: all that read, delete and recovery need, readable from
//! state without any secret) and [`ReleaseSpec`] (what to install, with the
//! values revealed for the values file), plus the `[helm]` settings.

use std::path::{Path, PathBuf};

use infra_core::{ErrorKind, ProviderError, Value};

use crate::schema::{DEFAULT_MAX_HISTORY, DEFAULT_NAMESPACE, DEFAULT_TIMEOUT};
use crate::validate::{check_name, parse_timeout};

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
        /// The file, resolved against the project root.
        path: PathBuf,
        /// The context; the file's current context when `None`.
        context: Option<String>,
    },
}

/// Which release, where, and helm's limits.
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
    /// The values with every secret revealed: written only to the values file.
    pub values: Value,
    /// The plaintext of every secret in the inputs, to redact from messages.
    pub secrets: Vec<String>,
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

/// Reads typed fields of the inputs, naming the attribute in errors.
struct Fields<'a>(&'a Value);

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !matches!(v, Value::Null))
    }

    fn string(&self, key: &str) -> Result<Option<String>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Unknown) => Err(invalid(format!(
                "`{key}` is not known yet; it must be known before helm runs"
            ))),
            Some(other) => Err(invalid(format!(
                "`{key}` must be a string, not a {}",
                other.kind()
            ))),
        }
    }

    fn required(&self, key: &str) -> Result<String, ProviderError> {
        self.string(key)?
            .ok_or_else(|| invalid(format!("missing required attribute `{key}`")))
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, ProviderError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(invalid(format!(
                "`{key}` must be a boolean, not a {}",
                other.kind()
            ))),
        }
    }
}

impl Target {
    /// The target of a release's inputs (as given, or as recorded in state).
    pub fn from_inputs(inputs: &Value, root: &Path) -> Result<Self, ProviderError> {
        // Connection settings are not secret; reveal in case a reference
        // made one sensitive (its plaintext is then needed to connect).
        let inputs = inputs.reveal();
        let f = Fields(&inputs);
        let name = f.required("name")?;
        check_name(&name).map_err(invalid)?;
        let namespace = f
            .string("namespace")?
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        let timeout = f
            .string("timeout")?
            .unwrap_or_else(|| DEFAULT_TIMEOUT.to_owned());
        parse_timeout(&timeout).map_err(invalid)?;
        let max_history = match f.get("max_history") {
            None => DEFAULT_MAX_HISTORY,
            Some(Value::Int(n)) if *n >= 0 => *n,
            Some(other) => {
                return Err(invalid(format!(
                    "`max_history` must be an integer of 0 or more, not {other}"
                )));
            }
        };
        let kube = match (f.get("kubernetes"), f.string("kubeconfig")?) {
            (Some(k), None) => {
                let k = Fields(k);
                Kube::Eks {
                    cluster: k.required("eks_cluster")?,
                    endpoint: k.required("endpoint")?,
                    ca_data: k.required("ca_data")?,
                    region: k.string("region")?,
                }
            }
            (None, Some(path)) => Kube::Kubeconfig {
                path: resolve_path(root, &path),
                context: f.string("context")?,
            },
            _ => {
                return Err(invalid(
                    "set exactly one of `kubernetes` (an EKS cluster) and `kubeconfig`",
                ));
            }
        };
        Ok(Target {
            name,
            namespace,
            kube,
            timeout,
            wait: f.bool("wait", true)?,
            max_history,
        })
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
    /// The spec of a release's inputs; every secret must have its plaintext.
    pub fn from_inputs(inputs: &Value, root: &Path) -> Result<Self, ProviderError> {
        let target = Target::from_inputs(inputs, root)?;
        let f = Fields(inputs);
        let chart = f.required("chart")?;
        if chart.trim().is_empty() {
            return Err(invalid("`chart` is empty"));
        }
        let values = match inputs.get("values") {
            None | Some(Value::Null) => Value::map(),
            Some(v) => v.reveal(),
        };
        if !matches!(values, Value::Map(_)) {
            return Err(invalid(format!(
                "`values` must be a table, not a {}",
                values.kind()
            )));
        }
        if values.has_unknown() {
            return Err(invalid(
                "`values` holds a value that is not known (a reference not yet resolved, or a secret whose plaintext this run does not have); plan and apply in one run",
            ));
        }
        let mut secrets = Vec::new();
        collect_secrets(inputs, &mut secrets);
        Ok(ReleaseSpec {
            target,
            chart,
            repository: f.string("repository")?,
            version: f.string("version")?,
            create_namespace: f.bool("create_namespace", false)?,
            atomic: f.bool("atomic", true)?,
            values,
            secrets,
        })
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
