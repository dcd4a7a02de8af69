//! The IAM types against moto's IAM (and, where moto lacks an API, mocked
//! SDK responses, in `moto/mocked.rs`): one test binary for the crate.
//!
//! moto (5.x) findings these tests rely on:
//! - it returns policy documents URL-encoded (Python's `quote`), as IAM
//!   does (checked in `moto/role.rs`);
//! - it loads no AWS managed policies by default, so the tests create
//!   customer managed policies to attach;
//! - it has no `AddClientIDToOpenIDConnectProvider` /
//!   `RemoveClientIDFromOpenIDConnectProvider`: in-place changes of
//!   `client_id_list` run against mocked responses;
//! - it does not model IAM's eventual consistency (a role not visible right
//!   after create), nor `MalformedPolicyDocument` for trust policies:
//!   mocked too.

#[path = "moto/irsa.rs"]
mod irsa;
#[path = "moto/mocked.rs"]
mod mocked;
#[path = "moto/oidc.rs"]
mod oidc;
#[path = "moto/role.rs"]
mod role;
#[path = "moto/support.rs"]
mod support;
