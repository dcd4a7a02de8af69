//! Secrets Manager resource type for infra: `secretsmanager_secret`, a
//! secret and its current value (Terraform's `aws_secretsmanager_secret`
//! and `aws_secretsmanager_secret_version` in one), with values given
//! (sensitive inputs) or generated in the cloud, through
//! `aws-sdk-secretsmanager`.
//!
//! The type takes its SDK configuration from the stack's `[aws]` table
//! through a shared, lazily built [`AwsContext`]: constructing it, and
//! planning over an empty state, touches neither credentials nor network.

use std::sync::Arc;

use infra_aws::AwsContext;
use infra_core::Provider;

mod secret;
mod tags;

pub use secret::{
    DEFAULT_LENGTH, DEFAULT_RECOVERY_WINDOW_DAYS, SecretsManagerSecret, Spec as SecretSpec,
    TYPE_NAME as SECRET_TYPE, request_token,
};
pub use tags::TOKEN_TAG;

/// The Secrets Manager resource types, sharing one AWS context.
pub fn providers(aws: Arc<AwsContext>) -> Vec<Arc<dyn Provider>> {
    vec![infra_aws::typed(SecretsManagerSecret::new(aws))]
}
