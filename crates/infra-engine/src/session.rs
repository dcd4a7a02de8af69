//! The engine's entry points: [`Engine`] (stateless: load, validate, graph)
//! and [`Session`] (a locked stack: recover, plan, apply).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use infra_core::{Diagnostic, OpContext, OpKind, Provider, Registry, StateBackend, Value};
use infra_stack::{Stack, load_stack};
use tokio::task::JoinSet;

use crate::EngineError;
use crate::apply::{ApplyOptions, ApplyReport, Executor};
use crate::events::{Emitter, EventKind, EventSink};
use crate::graph::{DepGraph, GraphFormat};
use crate::journal::{self, Outcome, Step};
use crate::plan::{Drift, Plan, PlanOptions, Planner, diff};
use crate::retry::retrying;
use crate::secrets::{SecretKey, recorded_outputs};
use crate::state::State;

type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The engine: resource types, the event sink, and how to read the
/// environment. Cheap to share; every stack operation goes through it.
#[derive(Clone)]
pub struct Engine {
    pub(crate) registry: Registry,
    pub(crate) emitter: Emitter,
    pub(crate) env: EnvLookup,
    key: Option<SecretKey>,
    /// `--state`: where state lives, overriding the stack files.
    pub(crate) state_location: Option<String>,
}

/// How to take a stack's lock.
#[derive(Clone, Debug)]
pub struct LockOptions {
    /// What the lock holder is doing (`plan`, `apply`, …), shown to others.
    pub operation: String,
    /// How long to wait for another holder (`--lock-timeout`); zero fails at once.
    pub timeout: Duration,
}

impl LockOptions {
    /// Fail at once if locked.
    pub fn new(operation: &str) -> Self {
        LockOptions {
            operation: operation.to_owned(),
            timeout: Duration::ZERO,
        }
    }
}

impl Engine {
    /// An engine over these resource types, reading the process environment.
    pub fn new(registry: Registry) -> Self {
        Engine {
            registry,
            emitter: Emitter::new(None),
            env: Arc::new(|k| std::env::var(k).ok()),
            key: None,
            state_location: None,
        }
    }

    /// Sends every event to `sink`.
    pub fn with_events(mut self, sink: EventSink) -> Self {
        self.emitter = Emitter::new(Some(sink));
        self
    }

    /// Reads environment variables (`${env.X}`, `from_env`) through `lookup`.
    pub fn with_env(
        mut self,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.env = Arc::new(lookup);
        self
    }

    /// Keeps state at `location` (`s3://bucket/key`) whatever the stack
    /// files say (`--state`); `None` leaves it to them.
    pub fn with_state(mut self, location: Option<String>) -> Self {
        self.state_location = location;
        self
    }

    /// Uses this key for sensitive values instead of the project's.
    pub fn with_secret_key(mut self, key: SecretKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The resource types.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Loads `<root>/stacks/<name>.toml` and checks what can be checked
    /// without evaluating it: syntax, schemas, references and dependency
    /// cycles. Returns the stack with the loader's warnings, or every
    /// problem found. Evaluated inputs are checked by planning, or by
    /// [`Engine::check`] without state.
    pub fn load(
        &self,
        root: &Path,
        name: &str,
    ) -> Result<(Stack, Vec<Diagnostic>), Vec<Diagnostic>> {
        let env = self.env.clone();
        let loaded = load_stack(root, name, &self.registry, &move |k| env(k));
        match loaded.stack {
            Some(stack) => match DepGraph::build(&stack) {
                Ok(_) => Ok((stack, loaded.diagnostics)),
                Err(errors) => Err(errors),
            },
            None => Err(loaded.diagnostics),
        }
    }

    /// Every problem in a stack that can be found without state: the
    /// graph (cycles, undeclared references) and each resource's inputs.
    pub fn check(&self, stack: &Stack) -> Vec<Diagnostic> {
        let graph = match DepGraph::build(stack) {
            Ok(g) => g,
            Err(problems) => return problems,
        };
        let key = SecretKey::from_bytes(b"check");
        let state = State::new();
        let planner = Planner {
            stack,
            graph: &graph,
            state: &state,
            registry: &self.registry,
            key: &key,
        };
        match planner.plan(&PlanOptions::default(), Vec::new()) {
            Ok(plan) => plan.warnings.into_iter().map(Diagnostic::warning).collect(),
            Err(problems) => problems,
        }
    }

    /// The dependency graph, rendered.
    pub fn graph(&self, stack: &Stack, format: GraphFormat) -> Result<String, Vec<Diagnostic>> {
        Ok(DepGraph::build(stack)?.render(format))
    }

    fn secret_key(&self, stack: &Stack) -> Result<SecretKey, EngineError> {
        match &self.key {
            Some(k) => Ok(k.clone()),
            None => SecretKey::for_project(&stack.root, (self.env)("INFRA_SECRET_KEY")),
        }
    }

    /// Saves `plan` to `path`, signed with the project's secret key (see
    /// [`Engine::read_plan`]).
    pub fn save_plan(&self, root: &Path, plan: &Plan, path: &Path) -> Result<(), EngineError> {
        let key = match &self.key {
            Some(k) => k.clone(),
            None => SecretKey::for_project(root, (self.env)("INFRA_SECRET_KEY"))?,
        };
        crate::planfile::write(path, plan, &key)
    }

    /// Reads a plan saved by [`Engine::save_plan`], refusing it unless the
    /// project's key signed exactly these bytes.
    pub fn read_plan(&self, root: &Path, path: &Path) -> Result<Plan, EngineError> {
        let key = match &self.key {
            Some(k) => Some(k.clone()),
            None => SecretKey::existing(root, (self.env)("INFRA_SECRET_KEY"))?,
        };
        let Some(key) = key else {
            return Err(EngineError::BadPlan {
                origin: path.display().to_string(),
                reason: "this project has no secret key (INFRA_SECRET_KEY unset, no state/.secret-key), so no plan of it can be checked".into(),
            });
        };
        crate::planfile::read(path, &key)
    }

    /// Reads the state of stack `name` without locking (for `state list`,
    /// `output`). `None` when the stack has never been applied.
    ///
    /// A journal left by a run that did not finish is folded in memory, so
    /// that what the cloud has is shown; when it holds an operation whose
    /// outcome only the cloud can tell, the state is refused with
    /// [`EngineError::AwaitsRecovery`] rather than shown without it.
    pub async fn read_state(&self, root: &Path, name: &str) -> Result<Option<State>, EngineError> {
        let backend = self.backend_at(root, name).await?;
        Ok(read_current(&*backend).await?.1)
    }

    /// Locks the stack's state, reads it, and recovers whatever an
    /// interrupted run left in the journal.
    pub async fn open<'a>(
        &'a self,
        stack: &'a Stack,
        lock: &LockOptions,
    ) -> Result<Session<'a>, EngineError> {
        let graph = DepGraph::build(stack).map_err(EngineError::Diagnostics)?;
        let backend = self.backend(stack).await?;
        // Nothing is written for bad input. A state that cannot be read is
        // refused before the lock file and the secret key are made
        // (snapshots are replaced atomically, so this read sees a whole
        // one; it is read again under the lock). A stack never applied has
        // neither yet, so its inputs are checked first too; once it has
        // state, a failed plan leaves the files as they were.
        match backend.read_snapshot().await? {
            Some(bytes) => {
                State::decode(&bytes, &backend.describe())?;
            }
            None => {
                let errors: Vec<Diagnostic> = self
                    .check(stack)
                    .into_iter()
                    .filter(Diagnostic::is_error)
                    .collect();
                if !errors.is_empty() {
                    return Err(EngineError::Diagnostics(errors));
                }
            }
        }
        let info = crate::backends::lock_info(&lock.operation);
        self.take_lock(&*backend, &info, lock.timeout).await?;
        let mut session = Session {
            engine: self,
            stack,
            graph,
            backend,
            lock_id: info.id,
            state: State::new(),
            persisted: None,
            key: SecretKey::from_bytes(b""),
        };
        if let Err(e) = session.load().await {
            let _ = session.backend.unlock(&session.lock_id).await;
            return Err(e);
        }
        Ok(session)
    }
}

/// A locked stack. Plan and apply through it; `close` releases the lock
/// (dropping it without closing releases the OS lock too, for local state).
pub struct Session<'a> {
    engine: &'a Engine,
    stack: &'a Stack,
    graph: DepGraph,
    backend: Box<dyn StateBackend>,
    lock_id: String,
    /// The working state: the snapshot, recovered, and refreshed by plan.
    state: State,
    /// The lineage and serial of the snapshot on disk, `None` if none.
    persisted: Option<(String, u64)>,
    key: SecretKey,
}

impl Session<'_> {
    /// The state as this session sees it.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Where this session's state lives, for messages.
    pub fn describe_backend(&self) -> String {
        self.backend.describe()
    }

    async fn load(&mut self) -> Result<(), EngineError> {
        self.key = self.engine.secret_key(self.stack)?;
        let origin = self.backend.describe();
        if let Some(bytes) = self.backend.read_snapshot().await? {
            self.state = State::decode(&bytes, &origin)?;
            self.persisted = Some((self.state.lineage.clone(), self.state.serial));
        }
        self.recover().await
    }

    /// Folds a journal left by a run that did not finish, resolving each
    /// operation that has an intent and no result by asking the cloud.
    async fn recover(&mut self) -> Result<(), EngineError> {
        let origin = format!("{} (journal)", self.backend.describe());
        let bytes = self.backend.read_journal().await?;
        let parsed = journal::parse(&bytes, &origin)?;
        let Some((lineage, base_serial)) = parsed.begin else {
            if !parsed.entries.is_empty() {
                return Err(no_begin(origin));
            }
            if !bytes.is_empty() {
                self.backend.clear_journal().await?;
            }
            return Ok(());
        };
        if !journal_pending(self.persisted.as_ref(), &lineage, base_serial, &origin)? {
            // Already folded into the snapshot before the run ended.
            self.backend.clear_journal().await?;
            return Ok(());
        }
        if self.persisted.is_none() {
            self.state.lineage = lineage;
            self.state.serial = base_serial;
        }
        for (intent, outcome) in &parsed.entries {
            let outcome = match outcome {
                Some(o) => o.clone(),
                None => {
                    let (resolved, released) = self.resolve(intent).await?;
                    let found = match &resolved {
                        Outcome::Applied { id, .. } => {
                            format!("found {id} in the cloud and recorded it")
                        }
                        Outcome::Deleted => "confirmed deleted".into(),
                        Outcome::Failed { message } => message.clone(),
                    };
                    self.engine.emitter.emit(EventKind::Recovered {
                        address: intent.address.clone(),
                        step: intent.step,
                        outcome: match (released, &resolved) {
                            // What the provider undid is gone: not "never
                            // reached the cloud".
                            (Some(done), Outcome::Failed { .. }) => {
                                format!("{done}; the next plan makes it again")
                            }
                            (Some(done), _) => format!("{done}; {found}"),
                            (None, _) => found,
                        },
                    });
                    resolved
                }
            };
            journal::fold(&mut self.state, intent, &outcome);
        }
        self.persist().await
    }

    /// Decides what an interrupted operation did by reading the cloud,
    /// after letting the provider release what the operation left locked
    /// (what it did, if anything, is the second value).
    async fn resolve(
        &self,
        intent: &journal::Intent,
    ) -> Result<(Outcome, Option<String>), EngineError> {
        let address = &intent.address;
        let provider = self.engine.registry.get(&address.ty).ok_or_else(|| {
            EngineError::Recovery(format!("no provider for `{address}` in this build"))
        })?;
        let ctx = self.context(
            provider,
            address,
            &intent.token,
            crate::plan::DEFAULT_TIMEOUT,
        );
        let fail = |e: infra_core::ProviderError| EngineError::Recovery(format!("{address}: {e}"));
        let existing = match intent.step {
            Step::DeleteDeposed => self
                .state
                .deposed
                .iter()
                .find(|d| &d.address == address && Some(&d.id) == intent.target_id.as_ref())
                .map(|d| d.existing()),
            _ => self.state.get(address).map(|r| r.existing()),
        };
        let (op, inputs) = match intent.step {
            Step::Create | Step::CreateReplacement => (OpKind::Create, intent.inputs.as_ref()),
            Step::Update => (OpKind::Update, intent.inputs.as_ref()),
            Step::Delete | Step::DeleteDeposed => (OpKind::Delete, None),
        };
        let inputs = inputs
            .cloned()
            .or_else(|| existing.as_ref().map(|e| e.inputs.clone()))
            .unwrap_or_else(Value::map);
        let released = retrying(&ctx, "recovery", || provider.interrupted(&ctx, op, &inputs))
            .await
            .map_err(fail)?;
        let outcome = match intent.step {
            Step::Create | Step::CreateReplacement => {
                match retrying(&ctx, "find", || provider.find(&ctx, &inputs))
                    .await
                    .map_err(fail)?
                {
                    Some(found) => applied(found, inputs, provider.schema(), &self.key),
                    None => Outcome::Failed {
                        message: "the create never reached the cloud; nothing to record".into(),
                    },
                }
            }
            Step::Update => match existing {
                Some(e) => match retrying(&ctx, "read", || provider.read(&ctx, &e))
                    .await
                    .map_err(fail)?
                {
                    // What the cloud has now; the next plan converges the rest.
                    Some(found) => {
                        let inputs = found.inputs.clone();
                        applied(found, inputs, provider.schema(), &self.key)
                    }
                    None => Outcome::Failed {
                        message: "the resource is gone; the next plan recreates it".into(),
                    },
                },
                None => Outcome::Failed {
                    message: "not in state".into(),
                },
            },
            Step::Delete | Step::DeleteDeposed => match existing {
                Some(e) if Some(&e.id) == intent.target_id.as_ref() => {
                    match retrying(&ctx, "read", || provider.read(&ctx, &e))
                        .await
                        .map_err(fail)?
                    {
                        None => Outcome::Deleted,
                        Some(_) => Outcome::Failed {
                            message: "the delete did not happen; the next plan deletes it again"
                                .into(),
                        },
                    }
                }
                _ => Outcome::Deleted,
            },
        };
        Ok((outcome, released))
    }

    fn context(
        &self,
        provider: &Arc<dyn Provider>,
        address: &infra_core::Address,
        token: &str,
        timeout: Duration,
    ) -> OpContext {
        let settings = provider
            .settings_section()
            .and_then(|s| self.stack.settings.get(s))
            .cloned()
            .unwrap_or(Value::Null);
        // Progress of reads and recovery (retries, rollbacks) reaches the
        // user like an apply's does.
        let emitter = self.engine.emitter.clone();
        let at = address.clone();
        OpContext::new(
            address.clone(),
            token.to_owned(),
            settings,
            self.stack.root.clone(),
            timeout,
            Arc::new(move |m: &str| {
                emitter.emit(EventKind::OperationProgress {
                    address: at.clone(),
                    message: m.to_owned(),
                })
            }),
        )
    }

    /// Writes the working state as a new snapshot and drops the journal.
    async fn persist(&mut self) -> Result<(), EngineError> {
        self.state.serial = self
            .state
            .serial
            .checked_add(1)
            .filter(|s| *s <= crate::state::MAX_SERIAL)
            .ok_or_else(|| EngineError::CorruptState {
                origin: self.backend.describe(),
                reason: format!("serial {} is out of range", self.state.serial),
            })?;
        self.backend.write_snapshot(&self.state.encode()).await?;
        self.backend.clear_journal().await?;
        self.persisted = Some((self.state.lineage.clone(), self.state.serial));
        Ok(())
    }

    /// Plans: refreshes (unless turned off) and diffs the stack against state.
    pub async fn plan(&mut self, opts: &PlanOptions) -> Result<Plan, EngineError> {
        let drift = if opts.refresh {
            self.refresh().await?
        } else {
            Vec::new()
        };
        let planner = Planner {
            stack: self.stack,
            graph: &self.graph,
            state: &self.state,
            registry: &self.engine.registry,
            key: &self.key,
        };
        let mut plan = planner
            .plan(opts, drift)
            .map_err(EngineError::Diagnostics)?;
        plan.lineage = self.persisted.as_ref().map(|(l, _)| l.clone());
        plan.serial = self.persisted.as_ref().map_or(0, |(_, s)| *s);
        self.refuse_cyclic_deletes(&plan)?;
        self.engine.emitter.emit(EventKind::PlanReady {
            summary: plan.summary,
            estimate_ms: plan.estimate_ms,
        });
        Ok(plan)
    }

    /// Deletes follow the dependencies recorded in state; a plan deleting
    /// resources whose recorded dependencies form a cycle (written by hand,
    /// or recorded by a crash between updates) cannot be ordered: say so
    /// at plan time, naming the state.
    fn refuse_cyclic_deletes(&self, plan: &Plan) -> Result<(), EngineError> {
        let Some(cycle) = self.state.dependency_cycle() else {
            return Ok(());
        };
        let deleted = plan.changes.iter().any(|c| {
            matches!(
                c.action,
                crate::plan::Action::Delete | crate::plan::Action::Replace
            ) && cycle.contains(&c.address)
        });
        if !deleted {
            return Ok(());
        }
        let path: Vec<String> = cycle.iter().map(ToString::to_string).collect();
        Err(EngineError::Diagnostics(vec![
            Diagnostic::error(format!(
                "the dependencies recorded in {} form a cycle, so these resources cannot be deleted in order: {}",
                self.backend.describe(),
                path.join(" -> ")
            ))
            .hint("fix the `dependencies` of these resources in the state file (keep a backup), then run again"),
        ]))
    }

    /// Reads every resource in state from the cloud, in parallel; records
    /// what changed outside infra into the working state and returns it.
    async fn refresh(&mut self) -> Result<Vec<Drift>, EngineError> {
        const PARALLEL_READS: usize = 16;
        let mut reads = JoinSet::new();
        let mut drift = Vec::new();
        let mut queue: Vec<crate::state::ResourceState> = self.state.resources().cloned().collect();
        queue.reverse();
        let mut results = Vec::new();
        loop {
            while reads.len() < PARALLEL_READS {
                let Some(r) = queue.pop() else { break };
                let Some(provider) = self.engine.registry.get(&r.address.ty).cloned() else {
                    continue;
                };
                let ctx = self.context(
                    &provider,
                    &r.address,
                    "refresh",
                    provider.default_timeout(infra_core::OpKind::Read),
                );
                reads.spawn(async move {
                    let existing = r.existing();
                    tracing::debug!(address = %r.address, id = %existing.id, "refresh read");
                    let result = retrying(&ctx, "read", || provider.read(&ctx, &existing)).await;
                    (r, result)
                });
            }
            match reads.join_next().await {
                Some(Ok(pair)) => results.push(pair),
                Some(Err(e)) => {
                    return Err(EngineError::Recovery(format!("a refresh task failed: {e}")));
                }
                None => break,
            }
        }
        results.sort_by(|a, b| a.0.address.cmp(&b.0.address));
        for (r, result) in results {
            let observed = result.map_err(|e| {
                EngineError::Diagnostics(vec![
                    Diagnostic::error(format!("cannot refresh `{}`: {e}", r.address))
                        .on(r.address.clone())
                        .hint("fix access to the cloud, or plan with --refresh=false"),
                ])
            })?;
            let schema = self
                .engine
                .registry
                .get(&r.address.ty)
                .map(|p| p.schema().clone());
            let Some(schema) = schema else { continue };
            match observed {
                None => {
                    let d = Drift {
                        address: r.address.clone(),
                        deleted: true,
                        attributes: Vec::new(),
                    };
                    self.engine.emitter.emit(EventKind::Drifted(d.clone()));
                    drift.push(d);
                    self.state.remove(&r.address);
                }
                Some(o) => {
                    // A computed input infra never set takes the cloud's value: no drift.
                    let recorded = schema.with_computed(&r.inputs, &o.inputs);
                    let changes = diff(&schema, &recorded, &o.inputs);
                    let entry = self
                        .state
                        .get_mut(&r.address)
                        .expect("refreshed resources are in state");
                    if !changes.is_empty() {
                        let d = Drift {
                            address: r.address.clone(),
                            deleted: false,
                            attributes: changes,
                        };
                        self.engine.emitter.emit(EventKind::Drifted(d.clone()));
                        drift.push(d);
                        entry.inputs = o.inputs;
                    } else {
                        entry.inputs = recorded;
                    }
                    entry.outputs = recorded_outputs(&o.id, o.outputs, Some(&schema), &self.key);
                }
            }
        }
        Ok(drift)
    }

    /// Applies a plan made in this session, or a saved one (checked for
    /// staleness against the state and config first).
    pub async fn apply(
        &mut self,
        plan: &Plan,
        opts: &ApplyOptions,
    ) -> Result<ApplyReport, EngineError> {
        if plan.version != crate::plan::PLAN_VERSION {
            return Err(EngineError::StalePlan(format!(
                "it has format version {}, this infra reads {}",
                plan.version,
                crate::plan::PLAN_VERSION
            )));
        }
        let current = self.persisted.as_ref().map(|(l, _)| l.clone());
        if plan.lineage != current {
            return Err(EngineError::StalePlan(
                "it was made for a different state (lineage differs)".into(),
            ));
        }
        let serial = self.persisted.as_ref().map_or(0, |(_, s)| *s);
        if plan.serial != serial {
            return Err(EngineError::StalePlan(format!(
                "the state changed since (serial {} then, {serial} now)",
                plan.serial
            )));
        }
        if plan.stack != self.stack.name {
            return Err(EngineError::StalePlan(format!(
                "it is for stack `{}`",
                plan.stack
            )));
        }
        if plan.config_hash != crate::plan::config_hash(self.stack, &self.key) {
            return Err(EngineError::StalePlan(
                "the stack's configuration changed since".into(),
            ));
        }
        // A saved plan was made after a refresh this session did not see:
        // what it found deleted outside infra leaves state first, as it did
        // in the session that planned.
        for d in plan.drift.iter().filter(|d| d.deleted) {
            self.state.remove(&d.address);
        }
        if let Some(why) = crate::recheck::inconsistency(plan, self.stack, &self.state) {
            return Err(EngineError::InconsistentPlan(why));
        }
        // Missing sensitive inputs fail before anything starts. (A saved
        // plan cannot hide them: they are part of the config hash.)
        if !plan.missing_env.is_empty() {
            return Err(EngineError::Diagnostics(
                plan.missing_env
                    .iter()
                    .map(|var| {
                        Diagnostic::error(format!(
                            "environment variable {var} is not set, so a sensitive input is unknown"
                        ))
                        .hint(format!("export {var} before running apply"))
                    })
                    .collect(),
            ));
        }
        if !plan.has_changes() {
            // What refresh found changed outside infra is recorded all the same.
            if !plan.drift.is_empty() {
                self.persist().await?;
            }
            return Ok(ApplyReport::default());
        }
        self.reveal_outputs(plan).await?;
        let operation = match plan.mode {
            crate::plan::PlanMode::Apply => "apply",
            crate::plan::PlanMode::Destroy => "destroy",
        };
        let report = Executor {
            stack: self.stack,
            graph: &self.graph,
            registry: &self.engine.registry,
            key: &self.key,
            emitter: &self.engine.emitter,
            backend: &*self.backend,
            state: &mut self.state,
        }
        .run(plan, opts, operation)
        .await?;
        self.persist().await?;
        Ok(report)
    }

    /// Reads again the sensitive outputs that the plan's creates and
    /// updates take from resources it does not change, where state holds
    /// only their digests (a saved plan, or one made with
    /// `--refresh=false`): their plaintext is needed for the provider call
    /// and is kept in memory only. A value that changed in the cloud since
    /// the plan makes the plan stale.
    async fn reveal_outputs(&mut self, plan: &Plan) -> Result<(), EngineError> {
        use std::collections::BTreeSet;
        let applied = plan.changes.iter().filter(|c| c.after.is_some());
        let changing: BTreeSet<&infra_core::Address> =
            applied.clone().map(|c| &c.address).collect();
        let read: BTreeSet<infra_core::Address> = applied
            .flat_map(|c| c.dependencies.iter())
            .filter(|a| !changing.contains(a))
            .cloned()
            .collect();
        for address in read {
            let (Some(r), Some(provider)) = (
                self.state.get(&address),
                self.engine.registry.get(&address.ty).cloned(),
            ) else {
                continue;
            };
            let redacted: Vec<&str> = provider
                .schema()
                .outputs
                .iter()
                .filter(|o| o.sensitive)
                .filter(|o| matches!(r.outputs.get(&o.name), Some(Value::Sensitive(s)) if s.plaintext().is_none()))
                .map(|o| o.name.as_str())
                .collect();
            if redacted.is_empty() {
                continue;
            }
            let ctx = self.context(
                &provider,
                &address,
                "read",
                provider.default_timeout(OpKind::Read),
            );
            let existing = r.existing();
            let found = retrying(&ctx, "read", || provider.read(&ctx, &existing))
                .await
                .map_err(|e| {
                    EngineError::Diagnostics(vec![
                        Diagnostic::error(format!(
                            "cannot read the sensitive outputs of `{address}`: {e}"
                        ))
                        .on(address.clone())
                        .hint("fix access to the cloud and apply again"),
                    ])
                })?;
            let Some(found) = found else {
                return Err(EngineError::StalePlan(format!(
                    "`{address}`, whose sensitive outputs it uses, no longer exists"
                )));
            };
            let fresh =
                recorded_outputs(&found.id, found.outputs, Some(provider.schema()), &self.key);
            let entry = self.state.get_mut(&address).expect("read from state");
            for name in redacted {
                let value = fresh.get(name).cloned().unwrap_or(Value::Null);
                if entry.outputs.get(name) != Some(&value) {
                    return Err(EngineError::StalePlan(format!(
                        "the sensitive output `{address}.{name}` changed in the cloud since the plan"
                    )));
                }
                if let Value::Map(m) = &mut entry.outputs {
                    m.insert(name.to_owned(), value);
                }
            }
        }
        Ok(())
    }

    /// Adopts a resource that exists in the cloud into state, at an address
    /// the stack declares (`infra import ADDR ID`). The next plan shows how
    /// the resource differs from the stack.
    pub async fn import(
        &mut self,
        address: &infra_core::Address,
        id: &str,
    ) -> Result<(), EngineError> {
        let refuse = |message: String, hint: &str| {
            EngineError::Diagnostics(vec![
                Diagnostic::error(message)
                    .on(address.clone())
                    .hint(hint.to_owned()),
            ])
        };
        let Some(config) = self.stack.resource(address) else {
            return Err(refuse(
                format!("`{address}` is not declared in stack `{}`", self.stack.name),
                "declare the resource in the stack file first, then import it",
            ));
        };
        if let Some(existing) = self.state.get(address) {
            return Err(refuse(
                format!("`{address}` is already in state (id {})", existing.id),
                "see it with `infra state show`; to adopt another object, destroy or rename this one first",
            ));
        }
        let provider = self
            .engine
            .registry
            .get(&address.ty)
            .cloned()
            .ok_or_else(|| {
                refuse(
                    format!("no provider for `{}` in this build", address.ty),
                    "check the resource type",
                )
            })?;
        // What the stack says, as far as it can be known without applying:
        // providers copy from it what the cloud cannot return (a password).
        let declared = crate::plan::desired_inputs(
            config,
            &*provider,
            &crate::plan::check_context(self.stack, &*provider),
            &self.key,
            &StateResolver {
                state: &self.state,
                registry: &self.engine.registry,
            },
            &mut Vec::new(),
            &mut Vec::new(),
        )
        .unwrap_or_else(Value::map);
        let ctx = self.context(
            &provider,
            address,
            "import",
            provider.default_timeout(infra_core::OpKind::Read),
        );
        let candidate = infra_core::Existing {
            id: id.to_owned(),
            inputs: declared,
            outputs: Value::map(),
        };
        let found = provider.read(&ctx, &candidate).await.map_err(|e| {
            refuse(
                format!("cannot read `{address}` with id {id}: {e}"),
                "check the id and access to the cloud",
            )
        })?;
        let Some(found) = found else {
            return Err(refuse(
                format!("no {} with id `{id}` exists", address.ty),
                "check the id: the bucket name, DB identifier, cluster name or `cluster:nodegroup`",
            ));
        };
        // Two addresses managing one object would each change and delete it.
        if let Some(other) = self
            .state
            .resources()
            .find(|r| r.address.ty == address.ty && r.id == found.id)
        {
            return Err(refuse(
                format!(
                    "{} `{}` is already in state as `{}`",
                    address.ty, found.id, other.address
                ),
                &format!(
                    "one object is managed at one address: import another object here, or keep managing this one at `{}`",
                    other.address
                ),
            ));
        }
        let outputs =
            recorded_outputs(&found.id, found.outputs, Some(provider.schema()), &self.key);
        let now = crate::state::now();
        self.state.put(crate::state::ResourceState {
            address: address.clone(),
            id: found.id,
            inputs: found.inputs,
            outputs,
            dependencies: self.graph.dependencies(address),
            prevent_destroy: config.lifecycle.prevent_destroy,
            created_at: now.clone(),
            updated_at: now,
        });
        self.persist().await
    }

    /// Releases the lock.
    pub async fn close(self) -> Result<(), EngineError> {
        Ok(self.backend.unlock(&self.lock_id).await?)
    }
}

fn no_begin(origin: String) -> EngineError {
    EngineError::CorruptState {
        origin,
        reason: "the journal has records but no begin record".into(),
    }
}

/// Whether a journal starting at `(lineage, base_serial)` still has to be
/// folded into the snapshot at `persisted`; an error if it belongs to
/// another state.
fn journal_pending(
    persisted: Option<&(String, u64)>,
    lineage: &str,
    base_serial: u64,
    origin: &str,
) -> Result<bool, EngineError> {
    match persisted {
        Some((l, _)) if l != lineage => Err(EngineError::CorruptState {
            origin: origin.to_owned(),
            reason: format!("the journal belongs to lineage {lineage}, the state to {l}"),
        }),
        Some((_, serial)) if base_serial < *serial => Ok(false),
        Some((_, serial)) if base_serial > *serial => Err(EngineError::CorruptState {
            origin: origin.to_owned(),
            reason: format!(
                "the journal starts at serial {base_serial}, after the state's {serial}"
            ),
        }),
        _ => Ok(true),
    }
}

/// The state as it stands, read without a lock: the snapshot with a
/// pending journal folded in memory, and the snapshot's bytes when they
/// are exactly that state (nothing was folded). Refused when the journal
/// holds an operation only recovery (asking the cloud) can resolve.
pub(crate) async fn read_current(
    backend: &dyn StateBackend,
) -> Result<(Option<Vec<u8>>, Option<State>), EngineError> {
    let origin = backend.describe();
    let snapshot = backend.read_snapshot().await?;
    let state = match &snapshot {
        Some(bytes) => Some(State::decode(bytes, &origin)?),
        None => None,
    };
    let journal_origin = format!("{origin} (journal)");
    let parsed = journal::parse(&backend.read_journal().await?, &journal_origin)?;
    let Some((lineage, base_serial)) = parsed.begin else {
        if !parsed.entries.is_empty() {
            return Err(no_begin(journal_origin));
        }
        return Ok((snapshot, state));
    };
    let persisted = state.as_ref().map(|s| (s.lineage.clone(), s.serial));
    if !journal_pending(persisted.as_ref(), &lineage, base_serial, &journal_origin)? {
        return Ok((snapshot, state));
    }
    let unresolved: Vec<String> = parsed
        .entries
        .iter()
        .filter(|(_, outcome)| outcome.is_none())
        .map(|(intent, _)| intent.address.to_string())
        .collect();
    if !unresolved.is_empty() {
        return Err(EngineError::AwaitsRecovery {
            state: origin,
            unresolved,
        });
    }
    let mut state = state.unwrap_or_else(|| {
        let mut s = State::new();
        s.lineage = lineage;
        s.serial = base_serial;
        s
    });
    for (intent, outcome) in &parsed.entries {
        if let Some(outcome) = outcome {
            journal::fold(&mut state, intent, outcome);
        }
    }
    Ok((None, Some(state)))
}

fn applied(
    found: infra_core::Observed,
    inputs: Value,
    schema: &infra_core::Schema,
    key: &SecretKey,
) -> Outcome {
    let outputs = recorded_outputs(&found.id, found.outputs, Some(schema), key);
    Outcome::Applied {
        id: found.id,
        inputs,
        outputs,
    }
}

/// References during import read what state holds; anything else is
/// unknown.
struct StateResolver<'a> {
    state: &'a State,
    registry: &'a Registry,
}

impl crate::eval::Resolve for StateResolver<'_> {
    fn attribute(&self, r: &infra_stack::Reference) -> Result<Value, String> {
        let (Some(infra_core::PathSeg::Key(attr)), Some(res)) =
            (r.path.first(), self.state.get(&r.address))
        else {
            return Ok(Value::Unknown);
        };
        let is_input = self
            .registry
            .get(&r.address.ty)
            .is_some_and(|p| p.schema().reads_input(attr, Some(&res.inputs)));
        let source = if is_input { &res.inputs } else { &res.outputs };
        Ok(source.get(attr).cloned().unwrap_or(Value::Unknown))
    }
}
