//! The EKS resource types, driven through `aws-sdk-eks`: a control plane,
//! its managed node groups, its managed add-ons, and who may reach its
//! Kubernetes API.
//!
//! - [`EksCluster`] (`eks_cluster`): `CreateCluster` with the journal's
//!   idempotency token, a wait for `ACTIVE`, in-place updates issued one
//!   kind at a time (version, endpoint access, subnets, security groups,
//!   logging, authentication mode, upgrade policy, tags), each waited for
//!   through `DescribeUpdate`. The authentication mode moves only
//!   `CONFIG_MAP` -> `API_AND_CONFIG_MAP` -> `API`; a move back is refused
//!   before anything changes.
//! - [`EksNodeGroup`] (`eks_node_group`): `CreateNodegroup`, a wait for
//!   `ACTIVE` that reports `CREATE_FAILED`/`DEGRADED` with EKS's health
//!   issues, version updates before config updates (scaling, labels and
//!   taints as diffs, update policy), tags.
//! - [`EksAddon`] (`eks_addon`): `CreateAddon` at an explicit version (EKS's
//!   default for the cluster's Kubernetes version when the stack sets none,
//!   from `DescribeAddonVersions`), a wait for `ACTIVE` that reports
//!   `CREATE_FAILED` at once and `DEGRADED` once it lasts, with the
//!   add-on's health issues; `UpdateAddon` waited for through
//!   `DescribeUpdate`; configuration values as a table, sent and compared
//!   as JSON.
//! - [`EksAccessEntry`] (`eks_access_entry`): an access entry and its
//!   access-policy associations in one (Terraform's `aws_eks_access_entry`
//!   and `aws_eks_access_policy_association`); a policy change associates
//!   and disassociates only the difference.
//!
//! - [`token`]: EKS bearer tokens signed in-process (presigned STS
//!   `GetCallerIdentity`), and the `ExecCredential` that kubeconfig `exec`
//!   entries print, so helm reaches a cluster without the aws CLI.
//!
//! Each type is a [`infra_core::Resource`]: its schema, one spec parsed
//! from the inputs (plan-time validation is that parse), and its
//! operations; [`providers`] wraps them in [`Typed`]. Each builds its SDK
//! client from the stack's `[aws]` table only when an operation needs the
//! cloud, so planning over an empty state makes no call.
//!
//! [`Typed`]: infra_core::Typed

mod access_entry;
mod addon;
mod cluster;
mod common;
mod node_group;
pub mod token;

use std::sync::Arc;

use infra_aws::AwsContext;
use infra_core::Provider;

pub use access_entry::EksAccessEntry;
pub use addon::EksAddon;
pub use cluster::EksCluster;
pub use node_group::EksNodeGroup;
pub use token::{
    EksToken, TokenError, exec_credential, exec_credential_json, presign_token, token_for,
};

/// The type name of [`EksCluster`].
pub const CLUSTER_TYPE: &str = cluster::TYPE_NAME;
/// The type name of [`EksNodeGroup`].
pub const NODE_GROUP_TYPE: &str = node_group::TYPE_NAME;
/// The type name of [`EksAddon`].
pub const ADDON_TYPE: &str = addon::TYPE_NAME;
/// The type name of [`EksAccessEntry`].
pub const ACCESS_ENTRY_TYPE: &str = access_entry::TYPE_NAME;

/// Every EKS resource type, sharing one lazily configured AWS context.
pub fn providers(aws: Arc<AwsContext>) -> Vec<Arc<dyn Provider>> {
    vec![
        infra_aws::typed(EksCluster::new(Arc::clone(&aws))),
        infra_aws::typed(EksNodeGroup::new(Arc::clone(&aws))),
        infra_aws::typed(EksAddon::new(Arc::clone(&aws))),
        infra_aws::typed(EksAccessEntry::new(aws)),
    ]
}
