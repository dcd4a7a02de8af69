//! The `s3_bucket` resource type for infra: an S3 bucket with versioning,
//! default encryption, a public access block, lifecycle rules and tags,
//! each sub-configuration updated in place with its own idempotent PUT.
//!
//! | input | type | change | default |
//! | --- | --- | --- | --- |
//! | `name` | string | replace | required |
//! | `versioning` | bool | in place | `false` (after `true`: suspended) |
//! | `encryption` | string | in place | `"AES256"` (or `"aws:kms"`) |
//! | `kms_key_id` | string | in place | unset |
//! | `public_access_block` | table of 4 bools | in place | all `true` |
//! | `lifecycle_rules` | list of tables | in place | `[]` |
//! | `tags` | table of strings | in place | `{}` |
//! | `force_destroy` | bool | in place, client-side only | `false` |
//!
//! Outputs: `arn`, `region`, `bucket_domain_name`,
//! `bucket_regional_domain_name`.

mod api;
mod bucket;
mod lifecycle;
mod schema;
mod spec;

use std::sync::Arc;

use infra_aws::AwsContext;
use infra_core::Provider;

pub use bucket::S3Bucket;
pub use lifecycle::STORAGE_CLASSES;
pub use schema::TYPE_NAME;
pub use spec::check_name;

/// The resource types of this crate, sharing one lazily built AWS context.
pub fn providers(aws: Arc<AwsContext>) -> Vec<Arc<dyn Provider>> {
    vec![infra_aws::typed(S3Bucket::new(aws))]
}
