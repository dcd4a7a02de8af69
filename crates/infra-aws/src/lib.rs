//! Shared AWS plumbing for the resource crates (EKS, RDS, S3).
//!
//! - [`AwsContext`]: SDK configuration from the stack's `[aws]` table
//!   (`region`, `profile`, `endpoint_url`) and the standard AWS environment,
//!   built lazily: nothing touches credentials or the network until an
//!   operation needs the cloud. Its HTTP client names the endpoint when a
//!   connection cannot be made, and leaves retrying that to the engine.
//! - [`Clients`] and [`AwsOp`]: a resource type's SDK client, built per
//!   operation, and the operation's name for the resource in messages.
//! - [`classify`]: SDK errors mapped onto the engine's [`ErrorKind`]s
//!   (throttling, unreachable endpoints and conflicts are retryable, used-up
//!   quotas are not, not-found is recognised, anything else carries AWS's
//!   own message).
//! - [`poll_until`]: waits for a resource to reach a state, within the
//!   operation's timeout; [`until_settled`] waits out a dependency the
//!   cloud is slow to settle (a new IAM role) through the call that needs it. Providers do not retry failed calls themselves:
//!   they classify the error and the engine's retry policy decides.
//! - [`testing`]: moto's AWS emulator, started on 127.0.0.1, for the
//!   integration tests of the resource crates (and of embedders).
//!
//! [`ErrorKind`]: infra_core::ErrorKind

mod clients;
mod context;
mod error;
mod op;
mod reach;
mod settings;
mod tags;
pub mod testing;

/// For [`resource_type!`]'s expansion.
#[doc(hidden)]
pub use infra_core as __core;
mod wait;

pub use clients::{Clients, found};
pub use context::{AwsContext, CONNECT_TIMEOUT, has_custom_endpoint};
pub use error::{classify, error_code};
pub use op::AwsOp;
pub use settings::{AWS_SETTINGS, AwsSettings, typed};

/// The description AWS requires where the stack gives none (a DB subnet
/// group, a security group).
pub const DEFAULT_DESCRIPTION: &str = "Managed by infra";
pub use tags::{MAX_TAGS, TagChange, Tags, read_tags, tag_problem, tags_attribute};
pub use wait::{MAX_FAILED_LOOKS, Poll, poll_until, until_settled};
