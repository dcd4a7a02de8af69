//! The `helm_release` resource type for infra: a Helm release installed,
//! upgraded, read and uninstalled by running the `helm` executable (Helm 3
//! or 4, found on PATH or at `[helm] binary`).
//!
//! | input | type | change | default |
//! | --- | --- | --- | --- |
//! | `name` | string, 1-53 chars, DNS label | replace | required |
//! | `namespace` | string | replace | `"default"` |
//! | `create_namespace` | bool | in place | `false` |
//! | `chart` | string: repo chart name, chart directory or .tgz | in place | required |
//! | `repository` | string (URL) | in place | unset |
//! | `version` | string | in place | unset (latest) |
//! | `values` | table, references and secrets anywhere | in place | `{}` |
//! | `atomic` | bool | in place | `true` |
//! | `wait` | bool | in place | `true` |
//! | `timeout` | duration string | in place | `"10m"` |
//! | `max_history` | int | in place | `10` |
//! | `kubernetes` | `{ eks_cluster, endpoint, ca_data }` | in place | unset |
//! | `kubeconfig` + `context` | strings | in place | unset |
//!
//! Exactly one of `kubernetes` and `kubeconfig` says how helm reaches the
//! cluster. Outputs: `revision`, `status`, `chart_version`, `app_version`;
//! the id is `namespace/name`.
//!
//! Settings, `[helm]`: `binary` (the helm executable) and `token_command`
//! (what the EKS kubeconfig's exec entry runs instead of this executable;
//! embedders whose binary has no `eks token` command set it).
//!
//! Secrets: the values, revealed, exist on disk only in a 0600 file in a
//! 0700 temporary directory for the duration of one `helm upgrade`; argv
//! carries paths and names only; the child's environment is an allowlist of
//! the parent's (locale, proxies, `HELM_*`, `AWS_*` for the token command)
//! minus any variable holding a secret of the values; helm's stderr is
//! redacted before it reaches an error. A failed release is drift (see
//! [`DRIFT_STATUS_KEY`]); a pending one is refused with its recovery, which
//! [`ReleaseType::recover_pending`] performs when the engine knows the
//! pending operation was its own.

mod cli;
mod redact;
mod release;
mod release_type;
mod schema;
mod spec;
mod validate;
mod workdir;

use std::sync::Arc;

use infra_core::Provider;

pub use cli::{Major, child_env};
pub use redact::Redactor;
pub use release_type::{
    DRIFT_STATUS_KEY, HelmRelease, Recovery, ReleaseType, merge_values, observed_inputs,
};
pub use schema::{SETTINGS_SECTION, TYPE_NAME};
pub use validate::{check_name, parse_timeout};
pub use workdir::{EXEC_API_VERSION, eks_kubeconfig};

/// The resource types of this crate.
pub fn providers() -> Vec<Arc<dyn Provider>> {
    vec![Arc::new(HelmRelease::default())]
}
