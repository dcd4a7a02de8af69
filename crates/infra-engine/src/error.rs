//! The engine's errors.

use std::path::Path;

use infra_core::{BackendError, Diagnostic, LockInfo};

/// Why an engine call failed. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Problems in the stack or the plan, each with its place.
    #[error("{}", render(.0))]
    Diagnostics(Vec<Diagnostic>),
    /// Another process holds the stack's lock.
    #[error("{state} is locked by {} on {} (pid {}, running `{}` since {}){}", .holder.holder, .holder.host, .holder.pid, .holder.operation, .holder.created, lock_hint(.holder))]
    Locked {
        /// Where the state lives.
        state: String,
        /// Who holds the lock.
        holder: Box<LockInfo>,
    },
    /// The state cannot be trusted; it is left exactly as it is.
    #[error(
        "the state in {origin} is unreadable ({reason}); it was not modified\n  hint: restore it from a backup or version history, or fix it by hand"
    )]
    CorruptState {
        /// The file or object.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The state was written by a newer infra.
    #[error(
        "the state in {origin} has format version {found}, newer than this infra understands ({supported}); it was not modified\n  hint: upgrade infra"
    )]
    NewerState {
        /// The file or object.
        origin: String,
        /// The version found.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A saved plan no longer matches the state or the config.
    #[error(
        "the saved plan is stale: {0}\n  hint: run `infra plan --out FILE` again and apply the new plan"
    )]
    StalePlan(String),
    /// A saved plan that this project did not write, or that was changed
    /// since; nothing was applied.
    #[error(
        "refusing the saved plan {origin}: {reason}; nothing was applied\n  hint: make the plan again with `infra plan --out FILE`, with the same INFRA_SECRET_KEY (or state/.secret-key) as the apply"
    )]
    BadPlan {
        /// The plan file.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// A plan whose actions contradict the state or the stack it was
    /// made for; nothing was applied.
    #[error(
        "refusing the plan: {0}; nothing was applied\n  hint: make a new plan; if this plan came from `infra plan`, please report it as a bug"
    )]
    InconsistentPlan(String),
    /// A run was interrupted while operations were in flight; what they
    /// did is known only once the next writing command asks the cloud.
    #[error(
        "{state} has an interrupted run awaiting recovery: the outcome of {} is known only to the cloud, so the state is not shown without it\n  hint: run `infra plan` (or `infra apply`), which recovers it first", .unresolved.join(", ")
    )]
    AwaitsRecovery {
        /// Where the state lives.
        state: String,
        /// The addresses whose operations have no recorded outcome.
        unresolved: Vec<String>,
    },
    /// A state backend failed.
    #[error("{0}")]
    Backend(BackendError),
    /// A file operation failed.
    #[error("cannot {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An interrupted operation could not be resolved against the cloud.
    #[error(
        "cannot recover the interrupted run: {0}\n  hint: the journal is kept; run again once the cloud is reachable"
    )]
    Recovery(String),
    /// The run was stopped by a second interrupt; the journal holds what
    /// happened and the next run recovers it.
    #[error("stopped; the next run recovers from the journal")]
    Interrupted,
}

/// What to do about a held lock. A holder on this machine whose process
/// is gone left the lock behind (its lease not yet expired): say so.
fn lock_hint(holder: &LockInfo) -> String {
    let this_host = hostname::get().is_ok_and(|h| h.to_string_lossy() == holder.host);
    // Only a lease-based lock outlives its process; a held OS file lock
    // proves its holder alive (its pid may be in another PID namespace).
    let gone = holder.expires.is_some()
        && this_host
        && holder.pid != 0
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{}", holder.pid)).exists();
    let expires = holder
        .expires
        .as_deref()
        .map(|e| format!(", or wait for its lease to expire at {e}"))
        .unwrap_or_default();
    if gone {
        format!(
            "\n  the holder is gone: pid {} is not running on this machine\n  hint: run `infra force-unlock {}`{expires}",
            holder.pid, holder.id
        )
    } else {
        format!(
            "\n  hint: wait for it to finish, retry with --lock-timeout, or if that process is gone run `infra force-unlock {}`{expires}",
            holder.id
        )
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl EngineError {
    pub(crate) fn io(path: &Path, what: &'static str, source: std::io::Error) -> Self {
        EngineError::Io {
            what,
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<BackendError> for EngineError {
    fn from(e: BackendError) -> Self {
        EngineError::Backend(e)
    }
}
