//! IAM resource types for infra: `iam_role` and
//! `iam_openid_connect_provider`, through `aws-sdk-iam`.
//!
//! Both take their SDK configuration from the stack's `[aws]` table through
//! a shared, lazily built [`AwsContext`]. Their semantics follow Terraform's
//! `aws_iam_role` and `aws_iam_openid_connect_provider`. IAM takes no client
//! tokens, so a create tags what it makes with `infra:token` and a retried
//! or recovered create adopts what carries its token (names and URLs are
//! unique). Policy documents are TOML tables, compared as IAM means them
//! ([`policy::same_policy`]). A role for Kubernetes service accounts
//! (IRSA) names its OIDC provider and service accounts in
//! `service_account_trust`, and the trust statement, whose condition keys
//! hold the issuer's host path, is built from them.

use std::sync::Arc;

use infra_aws::AwsContext;
use infra_core::Provider;

mod common;
mod irsa;
mod oidc_provider;
pub mod policy;
mod role;

pub use oidc_provider::{
    IamOidcProvider, Spec as OidcProviderSpec, TYPE_NAME as OIDC_PROVIDER_TYPE,
};
pub use role::{DEFAULT_MAX_SESSION, IamRole, Spec as RoleSpec, TYPE_NAME as ROLE_TYPE};

/// The IAM resource types, sharing one AWS context.
pub fn providers(aws: Arc<AwsContext>) -> Vec<Arc<dyn Provider>> {
    vec![
        infra_aws::typed(IamRole::new(Arc::clone(&aws))),
        infra_aws::typed(IamOidcProvider::new(aws)),
    ]
}
