//! The private scratch directory of one operation (0700, removed when
//! dropped, also on error) and the files helm reads from it: the values
//! file (the only place secret plaintext is written) and, for EKS, a
//! kubeconfig whose user runs `infra eks token` instead of holding a token.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use infra_core::{ErrorKind, ProviderError, Value};
use serde_json::json;
use tempfile::TempDir;

use crate::spec::Kube;

/// The exec credential API version written into EKS kubeconfigs.
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";

/// A temporary directory for one operation's files.
#[derive(Debug)]
pub struct Workdir {
    dir: TempDir,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> ProviderError {
    ProviderError::new(ErrorKind::Failed, format!("{what} {}: {e}", path.display()))
}

impl Workdir {
    /// A new private directory (0700) under the system's temp directory.
    pub fn new() -> Result<Self, ProviderError> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("infra-helm-");
        // tempfile's default is 0777 less the umask (0755, typically):
        // others could list the directory and watch the values file come.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o700));
        }
        let dir = builder.tempdir().map_err(|e| {
            io_error(
                "creating a temporary directory in",
                &std::env::temp_dir(),
                e,
            )
        })?;
        Ok(Workdir { dir })
    }

    /// Writes a file only the owner can read (0600), failing if it exists.
    pub fn write_private(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, ProviderError> {
        let path = self.dir.path().join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&path)
            .map_err(|e| io_error("creating", &path, e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error("writing", &path, e))?;
        Ok(path)
    }

    /// Writes the values file: the revealed values as JSON (valid YAML).
    pub fn write_values(&self, values: &Value) -> Result<PathBuf, ProviderError> {
        let bytes = serde_json::to_vec_pretty(values).map_err(|e| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("the values cannot be written as JSON: {e}"),
            )
        })?;
        self.write_private("values.json", &bytes)
    }

    /// The `--kubeconfig`/`--kube-context` flags for `kube`, writing the
    /// EKS kubeconfig here first when needed.
    pub fn kube_args(
        &self,
        kube: &Kube,
        token_command: &Path,
    ) -> Result<Vec<OsString>, ProviderError> {
        match kube {
            Kube::Eks {
                cluster,
                endpoint,
                ca_data,
                region,
            } => {
                let config =
                    eks_kubeconfig(cluster, endpoint, ca_data, region.as_deref(), token_command);
                let bytes = serde_json::to_vec_pretty(&config).map_err(|e| {
                    ProviderError::new(ErrorKind::Failed, format!("writing a kubeconfig: {e}"))
                })?;
                let path = self.write_private("kubeconfig.json", &bytes)?;
                Ok(vec![
                    "--kubeconfig".into(),
                    path.into_os_string(),
                    "--kube-context".into(),
                    cluster.into(),
                ])
            }
            Kube::Kubeconfig { path, context } => {
                let mut out = vec!["--kubeconfig".into(), path.clone().into_os_string()];
                if let Some(c) = context {
                    out.push("--kube-context".into());
                    out.push(c.into());
                }
                Ok(out)
            }
        }
    }
}

/// A kubeconfig for an EKS cluster (JSON, which is valid YAML). Its user is
/// an exec entry that runs `<token_command> eks token --cluster NAME
/// [--region REGION]`, so
/// helm gets a fresh token whenever the old one nears its 15 minutes and
/// no token is ever written down (reference §4.3).
pub fn eks_kubeconfig(
    cluster: &str,
    endpoint: &str,
    ca_data: &str,
    region: Option<&str>,
    token_command: &Path,
) -> serde_json::Value {
    let mut args = vec!["eks", "token", "--cluster", cluster];
    if let Some(region) = region {
        args.extend(["--region", region]);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": cluster,
            "cluster": {
                "server": endpoint,
                "certificate-authority-data": ca_data,
            },
        }],
        "users": [{
            "name": "infra",
            "user": {
                "exec": {
                    "apiVersion": EXEC_API_VERSION,
                    "command": token_command.to_string_lossy(),
                    "args": args,
                    "interactiveMode": "Never",
                    "provideClusterInfo": false,
                },
            },
        }],
        "contexts": [{
            "name": cluster,
            "context": { "cluster": cluster, "user": "infra" },
        }],
        "current-context": cluster,
        "preferences": {},
    })
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_directory_and_its_files_are_private() {
        let work = Workdir::new().expect("workdir");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(work.dir.path()), 0o700);
        let file = work.write_private("f", b"x").expect("write");
        assert_eq!(mode(&file), 0o600);
        assert!(work.write_private("f", b"y").is_err(), "never overwrites");
    }
}
