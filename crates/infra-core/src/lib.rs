//! The contract between the infra engine and everything that plugs into it.
//!
//! Resource providers (EKS, RDS, S3, Helm, the simulated cloud) depend on this
//! crate alone: they describe their resource type with a [`Schema`] and carry
//! out operations through the [`Provider`] trait. State backends implement
//! [`StateBackend`]. Nothing here does I/O, knows AWS, or knows the terminal.

mod address;
mod backend;
pub mod conformance;
mod diagnostic;
mod fields;
mod provider;
mod resource;
mod schema;
mod validators;
mod value;

pub use address::{Address, AddressError};
pub use backend::{BackendError, BackendFactory, LockInfo, StateBackend};
pub use diagnostic::{Diagnostic, Location, Severity};
pub use fields::{Fields, Phase, keep_case, same_order, same_set, string_list, string_map};
pub use provider::{
    CheckContext, ErrorKind, Existing, Observed, OpContext, OpKind, Peer, Peers, Provider,
    ProviderError, ReadResult, Registry, settings_problems,
};
pub use resource::{Request, Resource, SettingsTable, Typed, UpdateRequest};
pub use schema::{Attribute, Change, Output, Presence, Schema, Type, TypeMismatch};
pub use validators::{Pattern, Validator};
pub use value::{MAX_NESTING, PathSeg, Secret, Value, ValuePath, display_path, is_bare_key};
