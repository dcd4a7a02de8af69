//! The StateBackend trait: where a stack's state, journal and lock live.
//!
//! Backends move bytes; the engine owns the formats. That keeps this crate
//! free of the state schema and lets a backend (local files, S3) be written
//! against this contract alone.

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Value;

/// Who holds a stack's lock, written into the lock itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A unique id for `infra force-unlock ID`.
    pub id: String,
    /// The user holding it.
    pub holder: String,
    /// The machine.
    pub host: String,
    /// The process.
    pub pid: u32,
    /// What it is doing: `apply`, `destroy`, …
    pub operation: String,
    /// When it was taken, RFC 3339 UTC.
    pub created: String,
    /// When the lease runs out unless the holder renews it, RFC 3339 UTC.
    /// Only backends whose locks outlive a dead process (S3) set it; an
    /// OS file lock dies with its process and needs no lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// A backend failure.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Someone else holds the lock.
    #[error("the state is locked by {} on {} (pid {}, {} since {}, lock id {})", .0.holder, .0.host, .0.pid, .0.operation, .0.created, .0.id)]
    Locked(Box<LockInfo>),
    /// The state changed since it was read (a concurrent writer).
    #[error("the state was changed by someone else since it was read: {0}")]
    Conflict(String),
    /// Anything else, with context naming the file or object.
    #[error("{0}")]
    Io(String),
}

/// Storage for one stack's state snapshot, journal and lock.
#[async_trait]
pub trait StateBackend: Send + Sync {
    /// Where the state lives, for messages (`state/prod.json`, `s3://b/k`).
    fn describe(&self) -> String;

    /// Takes the exclusive lock, or fails at once with `Locked`. Returns
    /// the previous holder when its lease had expired and was taken over,
    /// so the engine can warn about it.
    async fn lock(&self, info: &LockInfo) -> Result<Option<LockInfo>, BackendError>;

    /// Releases a lock this process took.
    async fn unlock(&self, id: &str) -> Result<(), BackendError>;

    /// The current lock, if any.
    async fn lock_info(&self) -> Result<Option<LockInfo>, BackendError>;

    /// Removes a lock by id, whoever holds it (`infra force-unlock`).
    async fn force_unlock(&self, id: &str) -> Result<(), BackendError>;

    /// The snapshot, `None` when the stack has never been applied.
    async fn read_snapshot(&self) -> Result<Option<Vec<u8>>, BackendError>;

    /// Replaces the snapshot atomically: readers see the old or the new
    /// bytes, never a mix, and the new bytes are durable on return.
    async fn write_snapshot(&self, bytes: &[u8]) -> Result<(), BackendError>;

    /// Appends records to the journal, durable on return. Costs O(bytes).
    async fn append_journal(&self, bytes: &[u8]) -> Result<(), BackendError>;

    /// The whole journal; empty when there is none.
    async fn read_journal(&self) -> Result<Vec<u8>, BackendError>;

    /// Empties the journal after its records were folded into a snapshot.
    async fn clear_journal(&self) -> Result<(), BackendError>;
}

/// Opens the backends of one location scheme, for `state = "s3://bucket/key"`
/// in a stack file. The engine knows none of them; the embedding program
/// registers what it was built with.
#[async_trait]
pub trait BackendFactory: Send + Sync {
    /// The scheme it serves, without `://` (`s3`).
    fn scheme(&self) -> &str;

    /// The backend for `location` (the whole URL). `settings` are the
    /// stack's provider tables by section (`aws` holds region, profile,
    /// endpoint); `root` is the project root.
    async fn open(
        &self,
        location: &str,
        settings: &BTreeMap<String, Value>,
        root: &Path,
    ) -> Result<Box<dyn StateBackend>, BackendError>;

    /// Creates the storage `location` needs (`infra backend bootstrap`),
    /// idempotently, and says what it did.
    async fn bootstrap(
        &self,
        location: &str,
        _settings: &BTreeMap<String, Value>,
        _root: &Path,
    ) -> Result<String, BackendError> {
        Err(BackendError::Io(format!(
            "{location}: this backend needs no bootstrap"
        )))
    }
}
