//! The `eks_cluster` and `eks_node_group` resource types: an EKS control
//! plane and its managed node groups, driven through `aws-sdk-eks`.
//!
//! - [`EksCluster`]: `CreateCluster` with the journal's idempotency token,
//!   a wait for `ACTIVE`, in-place updates issued one kind at a time
//!   (version, endpoint access, subnets, security groups, logging, tags),
//!   each waited for through `DescribeUpdate`.
//! - [`EksNodeGroup`]: `CreateNodegroup`, a wait for `ACTIVE` that reports
//!   `CREATE_FAILED`/`DEGRADED` with EKS's health issues, version updates
//!   before config updates (scaling, labels and taints as diffs, update
//!   policy), tags.
//!
//! - [`token`]: EKS bearer tokens signed in-process (presigned STS
//!   `GetCallerIdentity`), and the `ExecCredential` that kubeconfig `exec`
//!   entries print, so helm reaches a cluster without the aws CLI.
//!
//! Each type is a [`infra_core::Resource`]: its schema, one spec parsed
//! from the inputs (plan-time validation is that parse), and its
//! operations; [`providers`] wraps them in [`Typed`]. Both build their SDK
//! client from the stack's `[aws]` table only when an operation needs the
//! cloud, so planning over an empty state makes no call.

mod cluster;
mod common;
mod node_group;
pub mod token;

use std::sync::Arc;

use infra_aws::AwsContext;
use infra_core::Provider;

pub use cluster::EksCluster;
pub use node_group::EksNodeGroup;
pub use token::{
    EksToken, TokenError, exec_credential, exec_credential_json, presign_token, token_for,
};

/// The type name of [`EksCluster`].
pub const CLUSTER_TYPE: &str = cluster::TYPE_NAME;
/// The type name of [`EksNodeGroup`].
pub const NODE_GROUP_TYPE: &str = node_group::TYPE_NAME;

/// Every EKS resource type, sharing one lazily configured AWS context.
pub fn providers(aws: Arc<AwsContext>) -> Vec<Arc<dyn Provider>> {
    vec![
        infra_aws::typed(EksCluster::new(Arc::clone(&aws))),
        infra_aws::typed(EksNodeGroup::new(aws)),
    ]
}
