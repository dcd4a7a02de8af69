//! Where a stack's state lives, and moving it: `--state` / `state = "..."`
//! select a backend registered for the location's scheme (local files when
//! unset); `pull`, `push` and `migrate` copy snapshots between backends,
//! refusing anything that would lose an update.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use infra_core::{BackendError, Diagnostic, LockInfo, StateBackend, Value};
use infra_stack::{Stack, load_stack};

use crate::local::LocalBackend;
use crate::state::State;
use crate::{Engine, EngineError};

/// What a migration copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// Where the state was.
    pub from: String,
    /// Where it is now.
    pub to: String,
    /// Its lineage, unchanged.
    pub lineage: String,
    /// Its serial, unchanged.
    pub serial: u64,
    /// How many resources it holds.
    pub resources: usize,
}

fn refuse(message: String, hint: &str) -> EngineError {
    EngineError::Diagnostics(vec![Diagnostic::error(message).hint(hint)])
}

impl Engine {
    /// The backend at `location` (`None`: the local files under
    /// `<root>/state`), opened with the stack's provider settings. With
    /// `force_foreign`, local files let `force_unlock` remove a lock taken
    /// on another machine (`infra force-unlock --force`).
    pub(crate) async fn open_backend(
        &self,
        location: Option<&str>,
        settings: &BTreeMap<String, Value>,
        root: &Path,
        name: &str,
        force_foreign: bool,
    ) -> Result<Box<dyn StateBackend>, EngineError> {
        let Some(location) = location.filter(|l| *l != "local") else {
            return Ok(Box::new(
                LocalBackend::new(&root.join("state"), name).force_foreign_unlock(force_foreign),
            ));
        };
        let known = || {
            let schemes: Vec<String> = self
                .registry
                .backend_schemes()
                .map(|s| format!("{s}://..."))
                .collect();
            if schemes.is_empty() {
                "this build has no remote state backends; remove `state = ...` to keep state under state/".to_owned()
            } else {
                format!(
                    "write one of: {}; or remove `state = ...` to keep state under state/",
                    schemes.join(", ")
                )
            }
        };
        let Some((scheme, _)) = location.split_once("://") else {
            return Err(refuse(
                format!("state location `{location}` has no scheme"),
                &known(),
            ));
        };
        let Some(factory) = self.registry.backend(scheme) else {
            return Err(refuse(
                format!("state backend `{scheme}://` is not supported by this build"),
                &known(),
            ));
        };
        Ok(factory.open(location, settings, root).await?)
    }

    /// Where the stack's state lives: `--state`, else the stack file's
    /// `state`, else local.
    pub(crate) fn location<'a>(&'a self, stack: &'a Stack) -> Option<&'a str> {
        self.state_location.as_deref().or(stack.state.as_deref())
    }

    pub(crate) async fn backend(
        &self,
        stack: &Stack,
    ) -> Result<Box<dyn StateBackend>, EngineError> {
        self.open_backend(
            self.location(stack),
            &stack.settings,
            &stack.root,
            &stack.name,
            false,
        )
        .await
    }

    /// The backend of stack `name`: `--state` when given (so that state
    /// commands and `force-unlock` work while the stack file is broken),
    /// else as the stack file says. A stack file that does not load is an
    /// error, never a silent fall back to local files it may not use.
    pub(crate) async fn backend_at(
        &self,
        root: &Path,
        name: &str,
    ) -> Result<Box<dyn StateBackend>, EngineError> {
        self.backend_forcing(root, name, false).await
    }

    /// [`Engine::backend_at`], with `force_foreign` as for `open_backend`.
    async fn backend_forcing(
        &self,
        root: &Path,
        name: &str,
        force_foreign: bool,
    ) -> Result<Box<dyn StateBackend>, EngineError> {
        let env = self.env.clone();
        let loaded = load_stack(root, name, &self.registry, &move |k| env(k));
        match (loaded.stack, self.state_location.as_deref()) {
            (Some(stack), _) => {
                self.open_backend(
                    self.location(&stack),
                    &stack.settings,
                    &stack.root,
                    &stack.name,
                    force_foreign,
                )
                .await
            }
            (None, Some(location)) => {
                self.open_backend(Some(location), &BTreeMap::new(), root, name, force_foreign)
                    .await
            }
            (None, None) => {
                let mut problems: Vec<Diagnostic> = loaded
                    .diagnostics
                    .into_iter()
                    .filter(Diagnostic::is_error)
                    .collect();
                if let Some(first) = problems.first_mut() {
                    first.hint = Some(
                        "fix the stack file, or name where its state is with --state LOCATION (`--state local` for state/)".into(),
                    );
                }
                Err(EngineError::Diagnostics(problems))
            }
        }
    }

    /// Removes lock `id` of stack `name` (`infra force-unlock`) when its
    /// holder is provably gone. A holder alive on this machine keeps its
    /// lock; `force` also removes one the backend cannot check: for local
    /// state, a lock taken on another machine. S3 locks follow their own
    /// rules (the id, and fencing of the old holder) either way.
    pub async fn force_unlock_with(
        &self,
        root: &Path,
        name: &str,
        id: &str,
        force: bool,
    ) -> Result<(), EngineError> {
        let backend = self.backend_forcing(root, name, force).await?;
        Ok(backend.force_unlock(id).await?)
    }

    /// The snapshot of stack `name` exactly as stored (`infra state
    /// pull`), checked to be a state this build reads, or with a pending
    /// journal folded in (see [`Engine::read_state`]); `None` when the
    /// stack has never been applied.
    pub async fn pull_state(
        &self,
        root: &Path,
        name: &str,
    ) -> Result<Option<Vec<u8>>, EngineError> {
        let backend = self.backend_at(root, name).await?;
        Ok(match crate::session::read_current(&*backend).await? {
            (Some(bytes), _) => Some(bytes),
            // A pending journal folded in: the state as it stands.
            (None, state) => state.map(|s| s.encode()),
        })
    }

    /// Replaces the state of stack `name` with `bytes` (`infra state
    /// push`), under the lock. Refused unless `force`: a different lineage
    /// (another stack's state) or a lower serial (an older copy, which
    /// would lose updates). Always refused while a journal holds an
    /// unrecovered run.
    pub async fn push_state(
        &self,
        root: &Path,
        name: &str,
        bytes: &[u8],
        origin: &str,
        force: bool,
    ) -> Result<(), EngineError> {
        let mut pushed = State::decode(bytes, origin)?;
        let backend = self.backend_at(root, name).await?;
        let info = lock_info("push");
        self.take_lock(&*backend, &info, Duration::ZERO).await?;
        let result = async {
            refuse_journal(&*backend).await?;
            if let Some(current) = backend.read_snapshot().await? {
                if current == bytes {
                    return Ok(());
                }
                let current = State::decode(&current, &backend.describe())?;
                check_replaceable(&current, &pushed, &backend.describe(), force)?;
                // A new serial: plans made against the replaced state are
                // stale, and other copies of the pushed one are older.
                pushed.serial = current.serial.max(pushed.serial) + 1;
            }
            backend.write_snapshot(&pushed.encode()).await?;
            Ok(())
        }
        .await;
        first_error(result, backend.unlock(&info.id).await)
    }

    /// Copies the stack's state to `to` (`infra state migrate`; `None` is
    /// the local files), keeping its lineage and serial: recovers any
    /// interrupted run first, then writes the snapshot to the new backend
    /// under both locks. The old copy is left in place; the stack file must
    /// then name `to`.
    pub async fn migrate_state(
        &self,
        stack: &Stack,
        to: Option<&str>,
    ) -> Result<Migrated, EngineError> {
        let target = self
            .open_backend(to, &stack.settings, &stack.root, &stack.name, false)
            .await?;
        let session = self
            .open(stack, &crate::LockOptions::new("migrate"))
            .await?;
        let from = session.describe_backend();
        if from == target.describe() {
            session.close().await?;
            return Err(refuse(
                format!("the state of `{}` is already in {from}", stack.name),
                "name another location with --to",
            ));
        }
        let state = session.state().clone();
        let info = lock_info("migrate");
        let copied = async {
            self.take_lock(&*target, &info, Duration::ZERO).await?;
            let result = async {
                refuse_journal(&*target).await?;
                if let Some(current) = target.read_snapshot().await? {
                    let current = State::decode(&current, &target.describe())?;
                    if current.lineage != state.lineage || current.serial > state.serial {
                        return Err(refuse(
                            format!(
                                "{} already holds a state (lineage {}, serial {}); refusing to overwrite it with {from} (lineage {}, serial {})",
                                target.describe(),
                                current.lineage,
                                current.serial,
                                state.lineage,
                                state.serial
                            ),
                            "choose an empty location, or `infra state pull` it to see what it is",
                        ));
                    }
                }
                target.write_snapshot(&state.encode()).await?;
                Ok(())
            }
            .await;
            first_error(result, target.unlock(&info.id).await)
        }
        .await;
        let closed = session.close().await;
        copied?;
        closed?;
        Ok(Migrated {
            from,
            to: target.describe(),
            lineage: state.lineage.clone(),
            serial: state.serial,
            resources: state.resources().len(),
        })
    }

    /// Creates the storage a state location needs (`infra backend
    /// bootstrap`), with the settings of `stack` when given.
    pub async fn bootstrap_backend(
        &self,
        location: &str,
        stack: Option<&Stack>,
        root: &Path,
    ) -> Result<String, EngineError> {
        let scheme = location.split_once("://").map_or("", |(s, _)| s);
        let Some(factory) = self.registry.backend(scheme) else {
            return Err(refuse(
                format!("state backend `{location}` is not supported by this build"),
                "name a location such as s3://bucket",
            ));
        };
        let empty = BTreeMap::new();
        let settings = stack.map_or(&empty, |s| &s.settings);
        Ok(factory.bootstrap(location, settings, root).await?)
    }

    /// Takes `backend`'s lock, retrying while another holds it for up to
    /// `timeout` (zero: fail at once), and reports a lease taken over.
    pub(crate) async fn take_lock(
        &self,
        backend: &dyn StateBackend,
        info: &LockInfo,
        timeout: Duration,
    ) -> Result<(), EngineError> {
        // A deadline past what the clock can represent is no deadline.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match backend.lock(info).await {
                Ok(None) => return Ok(()),
                Ok(Some(previous)) => {
                    self.emitter
                        .emit(crate::events::EventKind::LockTakenOver { previous });
                    return Ok(());
                }
                Err(BackendError::Locked(holder))
                    if deadline.is_some_and(|d| Instant::now() >= d) =>
                {
                    return Err(EngineError::Locked {
                        state: backend.describe(),
                        holder,
                    });
                }
                Err(BackendError::Locked(_)) => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A lock record for this process doing `operation`.
pub(crate) fn lock_info(operation: &str) -> LockInfo {
    LockInfo {
        id: uuid::Uuid::new_v4().to_string(),
        holder: std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into()),
        host: crate::local::this_host(),
        pid: std::process::id(),
        operation: operation.to_owned(),
        created: crate::state::now(),
        expires: None,
    }
}

async fn refuse_journal(backend: &dyn StateBackend) -> Result<(), EngineError> {
    if backend.read_journal().await?.is_empty() {
        return Ok(());
    }
    Err(refuse(
        format!(
            "{} has a journal of an interrupted run that is not recovered yet",
            backend.describe()
        ),
        "run `infra plan` once to recover it, then try again",
    ))
}

fn check_replaceable(
    current: &State,
    pushed: &State,
    origin: &str,
    force: bool,
) -> Result<(), EngineError> {
    if force {
        return Ok(());
    }
    if current.lineage != pushed.lineage {
        return Err(refuse(
            format!(
                "{origin} holds another state (lineage {}), not the one pushed (lineage {})",
                current.lineage, pushed.lineage
            ),
            "push a state of this stack, or pass --force to replace it anyway",
        ));
    }
    if current.serial >= pushed.serial {
        return Err(refuse(
            format!(
                "{origin} is at serial {}, and the pushed state at {} differs from it: pushing would lose updates",
                current.serial, pushed.serial
            ),
            "`infra state pull` the current state and merge by hand, or pass --force",
        ));
    }
    Ok(())
}

/// The work's result unless it succeeded and releasing the lock did not:
/// the first error wins.
fn first_error<T>(
    result: Result<T, EngineError>,
    unlocked: Result<(), BackendError>,
) -> Result<T, EngineError> {
    let value = result?;
    unlocked?;
    Ok(value)
}
