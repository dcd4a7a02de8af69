//! Running the helm executable: finding it, telling Helm 3 from Helm 4, the
//! child's environment (an allowlist, never a secret of ours), a time limit,
//! and turning a failure into a [`ProviderError`] with helm's stderr redacted.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use infra_core::{ErrorKind, ProviderError};
use tokio::process::Command;

use crate::redact::Redactor;

/// The major version of helm, which decides flag spellings (reference §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Major {
    /// Helm 3: `--atomic`.
    V3,
    /// Helm 4: `--rollback-on-failure`.
    V4,
}

impl Major {
    /// Parses `helm version --short`, e.g. `v3.19.0+g3d8990f`.
    pub fn parse(text: &str) -> Option<Major> {
        let t = text.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        match t.split('.').next()? {
            "3" => Some(Major::V3),
            "4" => Some(Major::V4),
            _ => None,
        }
    }
}

/// How much of helm's stderr an error message keeps (its end).
const STDERR_KEEP: usize = 4000;

/// Variables passed to helm by name.
const PASS_EXACT: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "TZ",
    "LANG",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// Variables passed to helm by prefix: locale, XDG and helm's own directories,
/// and AWS's credential chain, which `infra eks token` (run by helm through
/// the kubeconfig's exec entry) needs just as `aws eks get-token` would.
const PASS_PREFIXES: &[&str] = &["LC_", "XDG_", "HELM_", "AWS_"];

/// helm variables that would override the connection infra passes as flags.
const BLOCK_PREFIXES: &[&str] = &["HELM_KUBE", "HELM_NAMESPACE"];

/// The environment of a helm child, from the parent's: only allowlisted
/// variables, and none whose value holds one of `secrets` (a secret taken
/// from an environment variable must not travel on in that variable).
pub fn child_env(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    secrets: &[String],
) -> Vec<(OsString, OsString)> {
    parent
        .into_iter()
        .filter(|(k, v)| {
            let Some(k) = k.to_str() else { return false };
            let allowed = PASS_EXACT.contains(&k)
                || (PASS_PREFIXES.iter().any(|p| k.starts_with(p))
                    && !BLOCK_PREFIXES.iter().any(|p| k.starts_with(p)));
            let v = v.to_string_lossy();
            allowed && !secrets.iter().any(|s| v.contains(s.as_str()))
        })
        .collect()
}

/// Finds the helm executable: `[helm] binary` if set (a bare name is looked
/// up on PATH), else `helm` on PATH.
pub fn resolve_binary(configured: Option<&Path>) -> Result<PathBuf, ProviderError> {
    let wanted = configured.unwrap_or(Path::new("helm"));
    if wanted.components().count() > 1 || wanted.is_absolute() {
        return if wanted.is_file() {
            Ok(wanted.to_owned())
        } else {
            Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "helm executable {} does not exist: fix [helm] binary",
                    wanted.display()
                ),
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(wanted))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "`{}` was not found on PATH: install helm 3.19 or newer, or set [helm] binary = \"/path/to/helm\"",
                    wanted.display()
                ),
            )
        })
}

/// What a finished helm command printed.
#[derive(Debug)]
pub struct Finished {
    /// Whether it exited 0.
    pub success: bool,
    /// The exit code, if it exited.
    pub code: Option<i32>,
    /// stdout, lossily decoded.
    pub stdout: String,
    /// stderr, lossily decoded (not yet redacted).
    pub stderr: String,
}

/// One helm executable, ready to run commands for one operation.
#[derive(Clone, Debug)]
pub struct Helm {
    /// The executable.
    pub binary: PathBuf,
    /// Its major version (`V3` until detected).
    pub major: Major,
    env: Vec<(OsString, OsString)>,
    redactor: Redactor,
}

impl Helm {
    /// helm at `binary`, with the parent's allowlisted environment.
    pub fn new(binary: PathBuf, secrets: Vec<String>) -> Self {
        let env = child_env(std::env::vars_os(), &secrets);
        Helm {
            binary,
            major: Major::V3,
            env,
            redactor: Redactor::new(secrets),
        }
    }

    /// Runs `helm ARGS`, killed after `limit`. A failure to start is an
    /// error; a non-zero exit is returned for the caller to judge.
    pub async fn run(&self, args: &[OsString], limit: Duration) -> Result<Finished, ProviderError> {
        // Safe to log: values and tokens never travel in argv.
        tracing::debug!(binary = %self.binary.display(), ?args, "running helm");
        let mut cmd = Command::new(&self.binary);
        cmd.args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let what = describe(args);
        let child = cmd.spawn().map_err(|e| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "cannot run {} ({what}): {e}; check [helm] binary",
                    self.binary.display()
                ),
            )
        })?;
        let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(r) => r.map_err(|e| {
                ProviderError::new(ErrorKind::Failed, format!("waiting for `helm {what}`: {e}"))
            })?,
            Err(_) => {
                // Dropping the future drops the child, which kills it.
                return Err(ProviderError::new(
                    ErrorKind::Timeout,
                    format!(
                        "`helm {what}` did not finish within {}s and was stopped; raise the release's `timeout` or lifecycle timeouts",
                        limit.as_secs()
                    ),
                ));
            }
        };
        Ok(Finished {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// The error for a failed command: what was attempted, helm's stderr
    /// (redacted, its last lines), and a kind from helm's message.
    pub fn failure(&self, doing: &str, out: &Finished) -> ProviderError {
        let stderr = self.redactor.redact(out.stderr.trim());
        let stderr = tail(&stderr, STDERR_KEEP);
        let code = out
            .code
            .map_or_else(|| "killed by a signal".to_owned(), |c| format!("exit {c}"));
        let mut message = format!("{doing}: helm failed ({code})");
        if !stderr.is_empty() {
            message.push_str(": ");
            message.push_str(stderr);
        }
        let kind = classify(&out.stderr);
        if kind == ErrorKind::Failed && out.stderr.contains("another operation") {
            message.push_str(
                "; the release is locked by a pending operation: if no other helm run is active, roll it back (see `helm history`) and apply again",
            );
        }
        ProviderError::new(kind, message)
    }
}

/// The last `max` bytes of `s`, on a character boundary.
fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The subcommand and release of an argv, for messages (never flags' values).
fn describe(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .take_while(|a| !a.starts_with('-') || a == "--install")
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether helm's stderr says the release does not exist.
pub fn is_not_found(stderr: &str) -> bool {
    stderr.contains("release: not found")
}

/// The error kind helm's message implies.
pub fn classify(stderr: &str) -> ErrorKind {
    const TRANSIENT: &[&str] = &[
        "connection refused",
        "i/o timeout",
        "TLS handshake timeout",
        "connection reset by peer",
        "the server is currently unable to handle the request",
        "etcdserver: request timed out",
        "Too Many Requests",
    ];
    if is_not_found(stderr) {
        ErrorKind::NotFound
    } else if stderr.contains("timed out waiting for the condition")
        || stderr.contains("context deadline exceeded")
    {
        ErrorKind::Timeout
    } else if TRANSIENT.iter().any(|t| stderr.contains(t)) {
        ErrorKind::Transient
    } else {
        ErrorKind::Failed
    }
}

/// `OsString`s from anything string-like.
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn child_env_is_an_allowlist_without_secrets() {
        let parent = vars(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/home/u"),
            ("HELM_CACHE_HOME", "/c"),
            ("HELM_KUBETOKEN", "abc"),
            ("HELM_NAMESPACE", "x"),
            ("AWS_PROFILE", "prod"),
            ("AWS_SESSION_TOKEN", "the-db-password"),
            ("AIRFLOW_DB_PASSWORD", "the-db-password"),
            ("INFRA_SECRET_KEY", "k"),
            ("LC_ALL", "C"),
        ]);
        let env = child_env(parent, &["the-db-password".to_owned()]);
        let names: Vec<_> = env.iter().map(|(k, _)| k.to_string_lossy()).collect();
        assert_eq!(
            names,
            ["PATH", "HOME", "HELM_CACHE_HOME", "AWS_PROFILE", "LC_ALL"]
        );
    }

    #[test]
    fn versions_and_errors_are_recognised() {
        assert_eq!(Major::parse("v3.19.0+g3d8990f\n"), Some(Major::V3));
        assert_eq!(Major::parse("v4.2.0"), Some(Major::V4));
        assert_eq!(Major::parse("v2.17.0"), None);
        assert_eq!(Major::parse(""), None);
        assert_eq!(classify("Error: release: not found"), ErrorKind::NotFound);
        assert_eq!(
            classify("Error: UPGRADE FAILED: timed out waiting for the condition"),
            ErrorKind::Timeout
        );
        assert_eq!(
            classify("dial tcp 10.0.0.1:443: connect: connection refused"),
            ErrorKind::Transient
        );
        assert_eq!(classify("Error: boom"), ErrorKind::Failed);
        assert_eq!(tail("héllo", 4), "llo");
    }
}
