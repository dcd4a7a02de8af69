//! Shared AWS plumbing for the resource crates (EKS, RDS, S3).
//!
//! - [`AwsContext`]: SDK configuration from the stack's `[aws]` table
//!   (`region`, `profile`, `endpoint_url`) and the standard AWS environment,
//!   built lazily: nothing touches credentials or the network until an
//!   operation needs the cloud.
//! - [`classify`]: SDK errors mapped onto the engine's [`ErrorKind`]s
//!   (throttling and transient conflicts are retryable, not-found is
//!   recognised, anything else carries AWS's own message).
//! - [`poll_until`] and [`retry_transient`]: waits for a resource to become
//!   ready, and retries of the conflicts the SDK does not retry, within the
//!   operation's timeout.
//! - [`testing`]: moto's AWS emulator, started on 127.0.0.1, for the
//!   integration tests of the resource crates (and of embedders).
//!
//! [`ErrorKind`]: infra_core::ErrorKind

mod context;
mod error;
mod settings;
pub mod testing;
mod wait;

pub use context::{AwsContext, has_custom_endpoint};
pub use error::{classify, error_code};
pub use settings::AwsSettings;
pub use wait::{Poll, poll_until, retry_transient};
