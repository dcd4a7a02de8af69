//! The executor: runs a plan's operations as a DAG, in parallel where the
//! graph allows, recording every step in the journal.
//!
//! One coordinator owns the working state, the ready queue and the journal;
//! operation tasks report to it over a channel. Intents of operations that
//! start together, and results that arrive together, share one journal
//! append (group commit), so durability costs one small flushed write per
//! batch, never a rewrite of the state.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use infra_core::{Address, ErrorKind, OpContext, Provider, ProviderError, Value};
use infra_stack::{Reference, Stack};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::EngineError;
use crate::eval::Resolve;
use crate::events::{ApplySummary, Emitter, EventKind};
use crate::journal::{self, Intent, Outcome, Record, Step};
use crate::plan::{Action, Plan, check_context, desired_inputs};
use crate::retry::retrying;
use crate::secrets::SecretKey;
use crate::state::State;
use infra_core::{Registry, StateBackend};

/// How an apply runs.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// At most this many operations at once (`--parallelism`, default 10).
    pub parallelism: usize,
    /// Ctrl-C, or an embedder's wish to stop.
    pub interrupt: Interrupt,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            interrupt: Interrupt::never(),
        }
    }
}

/// The receiving side of interrupts: the first means "start nothing new",
/// the second "stop now".
#[derive(Clone, Debug)]
pub struct Interrupt(watch::Receiver<u8>);

/// The sending side of interrupts (the CLI's Ctrl-C handler holds it).
#[derive(Debug)]
pub struct InterruptHandle(watch::Sender<u8>);

impl Interrupt {
    /// A pair: the handle to signal, and the interrupt to pass to apply.
    pub fn new() -> (InterruptHandle, Interrupt) {
        let (tx, rx) = watch::channel(0);
        (InterruptHandle(tx), Interrupt(rx))
    }

    /// An interrupt that never fires.
    pub fn never() -> Interrupt {
        Interrupt::new().1
    }
}

impl InterruptHandle {
    /// Signals one more interrupt; returns how many so far.
    pub fn interrupt(&self) -> u8 {
        let mut level = 0;
        self.0.send_modify(|l| {
            *l = l.saturating_add(1);
            level = *l;
        });
        level
    }
}

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyReport {
    /// Counts.
    pub summary: ApplySummary,
    /// Each failed operation and why.
    pub failures: Vec<(Address, String)>,
    /// Whether an interrupt stopped it early.
    pub interrupted: bool,
}

impl ApplyReport {
    /// Whether every planned operation succeeded.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty() && self.summary.skipped == 0 && !self.interrupted
    }
}

/// One unit of work for the scheduler.
#[derive(Debug)]
struct Op {
    address: Address,
    step: Step,
    change: usize,
    target_id: Option<String>,
    successors: Vec<usize>,
    waiting_on: usize,
}

enum Report {
    Progress(usize, String),
    Done(usize, Result<infra_core::Observed, ProviderError>, Duration),
}

pub(crate) struct Executor<'a> {
    pub(crate) stack: &'a Stack,
    pub(crate) graph: &'a crate::graph::DepGraph,
    pub(crate) registry: &'a Registry,
    pub(crate) key: &'a SecretKey,
    pub(crate) emitter: &'a Emitter,
    pub(crate) backend: &'a dyn StateBackend,
    pub(crate) state: &'a mut State,
}

impl Executor<'_> {
    pub(crate) async fn run(
        &mut self,
        plan: &Plan,
        opts: &ApplyOptions,
        operation: &str,
    ) -> Result<ApplyReport, EngineError> {
        let started = Instant::now();
        let mut ops = build_ops(plan, self.state);
        check_acyclic(&ops)?;
        let base_serial = self.state.serial;
        let lineage = self.state.lineage.clone();
        append(
            self.backend,
            &[Record::Begin {
                version: journal::JOURNAL_VERSION,
                lineage: lineage.clone(),
                base_serial,
                operation: operation.to_owned(),
                started: crate::state::now(),
            }],
        )
        .await?;

        // Inputs as evaluated, per address: every config resource up front
        // (what references to unchanged resources read), each again when its
        // own operation starts and its dependencies' outputs are known.
        let mut pending_outputs: BTreeSet<Address> = ops
            .iter()
            .filter(|o| {
                matches!(
                    o.step,
                    Step::Create | Step::CreateReplacement | Step::Update
                )
            })
            .map(|o| o.address.clone())
            .collect();
        let mut evaluated: HashMap<Address, Value> = HashMap::new();
        let order = self.graph.order();
        for address in &order {
            if let Some(config) = self.stack.resource(address)
                && let Some(provider) = self.registry.get(&address.ty)
            {
                let resolver = ApplyResolver {
                    evaluated: &evaluated,
                    state: self.state,
                    pending: &pending_outputs,
                    registry: self.registry,
                };
                let mut sink = Vec::new();
                let mut missing = Vec::new();
                if let Some(v) = desired_inputs(
                    config,
                    &**provider,
                    &check_context(self.stack, &**provider),
                    self.key,
                    &resolver,
                    &mut sink,
                    &mut missing,
                ) {
                    evaluated.insert(address.clone(), v);
                }
            }
        }

        let (tx, mut rx) = mpsc::unbounded_channel::<Report>();
        let mut tasks = JoinSet::new();
        let mut ready: VecDeque<usize> =
            (0..ops.len()).filter(|&i| ops[i].waiting_on == 0).collect();
        let mut running = 0usize;
        let mut done = vec![false; ops.len()];
        let mut report = ApplyReport::default();
        let mut interrupt = opts.interrupt.0.clone();
        let mut stopping = *interrupt.borrow() >= 1;
        let mut seq = 0u64;
        let mut intents: HashMap<usize, Intent> = HashMap::new();
        let mut replaced: BTreeSet<Address> = BTreeSet::new();
        let parallelism = opts.parallelism.max(1);

        loop {
            // Start what is ready, journaling all intents in one append.
            let mut batch = Vec::new();
            while !stopping && running + batch.len() < parallelism {
                let Some(i) = ready.pop_front() else { break };
                match self.prepare(&ops[i], plan, &evaluated, &pending_outputs) {
                    Ok(prepared) => batch.push((i, prepared)),
                    Err(message) => {
                        self.fail(&mut ops, &mut done, i, message, &mut report);
                    }
                }
            }
            if !batch.is_empty() {
                let mut records = Vec::with_capacity(batch.len());
                for (i, p) in &mut batch {
                    seq += 1;
                    let op = &ops[*i];
                    let change = &plan.changes[op.change];
                    let intent = Intent {
                        seq,
                        address: op.address.clone(),
                        step: op.step,
                        token: token(&lineage, base_serial, seq, &op.address, op.step),
                        target_id: op.target_id.clone(),
                        inputs: p.inputs.clone(),
                        dependencies: change.dependencies.clone(),
                        prevent_destroy: change.prevent_destroy,
                    };
                    p.token = intent.token.clone();
                    records.push(Record::Intent(intent.clone()));
                    intents.insert(*i, intent);
                }
                append(self.backend, &records).await?;
                for (i, p) in batch {
                    let op = &ops[i];
                    if let Some(v) = &p.inputs {
                        evaluated.insert(op.address.clone(), v.clone());
                    }
                    self.emitter.emit(EventKind::OperationStarted {
                        address: op.address.clone(),
                        step: op.step,
                    });
                    running += 1;
                    let tx = tx.clone();
                    let progress_tx = tx.clone();
                    let ctx = OpContext::new(
                        op.address.clone(),
                        p.token,
                        self.settings_for(&p.provider),
                        self.stack.root.clone(),
                        Duration::from_millis(plan.changes[op.change].timeout_ms),
                        Arc::new(move |m: &str| {
                            let _ = progress_tx.send(Report::Progress(i, m.to_owned()));
                        }),
                    );
                    let step = op.step;
                    tasks.spawn(async move {
                        let t = Instant::now();
                        tracing::debug!(address = %ctx.address, ?step, token = %ctx.token, "provider call");
                        if let Some(inputs) = &p.inputs {
                            // Display redacts secrets.
                            tracing::trace!(address = %ctx.address, %inputs, "provider call inputs");
                        }
                        let result = call_with_retry(
                            &*p.provider,
                            &ctx,
                            step,
                            p.inputs.as_ref(),
                            p.existing.as_ref(),
                        )
                        .await;
                        match &result {
                            Ok(o) => tracing::debug!(address = %ctx.address, ?step, id = %o.id, elapsed = ?t.elapsed(), "provider call finished"),
                            Err(e) => tracing::debug!(address = %ctx.address, ?step, kind = ?e.kind, error = %e, "provider call failed"),
                        }
                        let _ = tx.send(Report::Done(i, result, t.elapsed()));
                    });
                }
            }
            if running == 0 && (ready.is_empty() || stopping) {
                break;
            }

            // Wait for reports; fold every one already queued in one append.
            let first = tokio::select! {
                r = rx.recv() => r,
                changed = interrupt.changed(), if *interrupt.borrow() < 2 => {
                    let level = if changed.is_ok() { *interrupt.borrow() } else { 0 };
                    if level >= 1 {
                        self.emitter.emit(EventKind::Interrupted { level });
                        stopping = true;
                        report.interrupted = true;
                    }
                    if level >= 2 {
                        tasks.abort_all();
                        return Err(EngineError::Interrupted);
                    }
                    continue;
                }
            };
            let mut reports: Vec<Report> = first.into_iter().collect();
            while let Ok(r) = rx.try_recv() {
                reports.push(r);
            }
            let mut records = Vec::new();
            let mut finished = Vec::new();
            for r in reports {
                match r {
                    Report::Progress(i, message) => {
                        self.emitter.emit(EventKind::OperationProgress {
                            address: ops[i].address.clone(),
                            message,
                        })
                    }
                    Report::Done(i, result, elapsed) => {
                        running -= 1;
                        let intent = &intents[&i];
                        let outcome = match result {
                            Ok(observed) => match ops[i].step {
                                Step::Delete | Step::DeleteDeposed => Outcome::Deleted,
                                _ => {
                                    let mut outputs = observed.outputs;
                                    if let Value::Map(m) = &mut outputs {
                                        m.insert("id".into(), Value::String(observed.id.clone()));
                                    }
                                    Outcome::Applied {
                                        id: observed.id,
                                        inputs: intent.inputs.clone().unwrap_or_else(Value::map),
                                        outputs,
                                    }
                                }
                            },
                            Err(e) => Outcome::Failed { message: e.message },
                        };
                        records.push(Record::Result {
                            seq: intent.seq,
                            outcome: outcome.clone(),
                        });
                        finished.push((i, outcome, elapsed));
                    }
                }
            }
            if !records.is_empty() {
                append(self.backend, &records).await?;
            }
            for (i, outcome, elapsed) in finished {
                journal::fold(self.state, &intents[&i], &outcome);
                let op = &ops[i];
                if let Outcome::Failed { message } = outcome {
                    self.emitter.emit(EventKind::OperationFailed {
                        address: op.address.clone(),
                        step: op.step,
                        error: message.clone(),
                    });
                    self.fail(&mut ops, &mut done, i, message, &mut report);
                    continue;
                }
                done[i] = true;
                if matches!(
                    op.step,
                    Step::Create | Step::CreateReplacement | Step::Update
                ) {
                    pending_outputs.remove(&op.address);
                }
                let action = plan.changes[op.change].action;
                match (action, op.step) {
                    (Action::Create, _) => report.summary.created += 1,
                    (Action::Update, _) => report.summary.updated += 1,
                    (Action::Delete | Action::DeleteDeposed, _) => report.summary.deleted += 1,
                    (Action::Replace, _) => {
                        if !replaced.insert(op.address.clone()) {
                            report.summary.replaced += 1;
                        }
                    }
                }
                self.emitter.emit(EventKind::OperationFinished {
                    address: op.address.clone(),
                    step: op.step,
                    elapsed_ms: elapsed.as_millis() as u64,
                });
                for s in ops[i].successors.clone() {
                    ops[s].waiting_on -= 1;
                    if ops[s].waiting_on == 0 && !done[s] {
                        ready.push_back(s);
                    }
                }
            }
        }
        report.summary.skipped += done.iter().filter(|d| !**d).count() - report.failures.len();

        // Lifecycle facts that changed without a cloud operation.
        for address in plan.state_only.iter().map(|s| &s.address) {
            if let (Some(config), Some(r)) =
                (self.stack.resource(address), self.state.get_mut(address))
            {
                r.prevent_destroy = config.lifecycle.prevent_destroy;
                if let Some(c) = plan.changes.iter().find(|c| &c.address == address) {
                    r.dependencies = c.dependencies.clone();
                } else {
                    r.dependencies = crate::graph::direct_dependencies(config)
                        .into_iter()
                        .collect();
                }
            }
        }
        self.emitter.emit(EventKind::ApplyFinished {
            summary: report.summary,
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
        Ok(report)
    }

    fn settings_for(&self, provider: &Arc<dyn Provider>) -> Value {
        provider
            .settings_section()
            .and_then(|s| self.stack.settings.get(s))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Marks an operation failed and skips everything that waits on it.
    fn fail(
        &self,
        ops: &mut [Op],
        done: &mut [bool],
        i: usize,
        message: String,
        report: &mut ApplyReport,
    ) {
        report.summary.failed += 1;
        report.failures.push((ops[i].address.clone(), message));
        done[i] = false;
        let mut stack = ops[i].successors.clone();
        let mut seen = BTreeSet::new();
        while let Some(s) = stack.pop() {
            if seen.insert(s) {
                self.emitter.emit(EventKind::OperationSkipped {
                    address: ops[s].address.clone(),
                    because: ops[i].address.clone(),
                });
                // Never becomes ready: its counter stays above zero.
                ops[s].waiting_on += ops.len();
                stack.extend(ops[s].successors.iter().copied());
            }
        }
    }

    fn prepare(
        &self,
        op: &Op,
        plan: &Plan,
        evaluated: &HashMap<Address, Value>,
        pending: &BTreeSet<Address>,
    ) -> Result<Prepared, String> {
        let provider = self
            .registry
            .get(&op.address.ty)
            .ok_or_else(|| format!("no provider for resource type `{}`", op.address.ty))?
            .clone();
        let existing = match op.step {
            Step::Update | Step::Delete => self.state.get(&op.address).map(|r| r.existing()),
            Step::DeleteDeposed => self
                .state
                .deposed
                .iter()
                .find(|d| d.address == op.address && Some(&d.id) == op.target_id.as_ref())
                .map(|d| d.existing()),
            Step::Create | Step::CreateReplacement => None,
        };
        let inputs = match op.step {
            Step::Create | Step::CreateReplacement | Step::Update => {
                let config = self
                    .stack
                    .resource(&op.address)
                    .ok_or_else(|| format!("`{}` is no longer in the stack", op.address))?;
                let resolver = ApplyResolver {
                    evaluated,
                    state: self.state,
                    pending,
                    registry: self.registry,
                };
                let mut problems = Vec::new();
                let mut missing = Vec::new();
                let mut v = desired_inputs(
                    config,
                    &*provider,
                    &check_context(self.stack, &*provider),
                    self.key,
                    &resolver,
                    &mut problems,
                    &mut missing,
                )
                .ok_or_else(|| {
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })?;
                if let Some(var) = missing.first() {
                    return Err(format!(
                        "environment variable {var} is not set; export it and apply again"
                    ));
                }
                // Ignored paths keep the values the plan took from state.
                if let Some(planned) = &plan.changes[op.change].after {
                    for path in &config.lifecycle.ignore_changes {
                        crate::plan::keep_prior(&mut v, planned, path);
                    }
                }
                if v.has_unknown() {
                    return Err(
                        "some inputs are still unknown after their dependencies were applied"
                            .into(),
                    );
                }
                Some(v)
            }
            Step::Delete | Step::DeleteDeposed => None,
        };
        // A delete of what is already gone from state succeeds (see
        // call_with_retry); an update needs the resource.
        if op.step == Step::Update && existing.is_none() {
            return Err(format!(
                "`{}` is not in state any more; plan again",
                op.address
            ));
        }
        Ok(Prepared {
            provider,
            inputs,
            existing,
            token: String::new(),
        })
    }
}

struct Prepared {
    provider: Arc<dyn Provider>,
    inputs: Option<Value>,
    existing: Option<infra_core::Existing>,
    token: String,
}

/// What references read during apply: inputs as evaluated, outputs from
/// state once the referenced resource's own operation has finished.
struct ApplyResolver<'a> {
    evaluated: &'a HashMap<Address, Value>,
    state: &'a State,
    pending: &'a BTreeSet<Address>,
    registry: &'a Registry,
}

impl Resolve for ApplyResolver<'_> {
    fn attribute(&self, r: &Reference) -> Result<Value, String> {
        let Some(infra_core::PathSeg::Key(attr)) = r.path.first() else {
            return Err(format!("`{r}` does not name an attribute"));
        };
        let is_input = self
            .registry
            .get(&r.address.ty)
            .is_some_and(|p| p.schema().input(attr).is_some());
        if is_input {
            return Ok(self
                .evaluated
                .get(&r.address)
                .and_then(|v| v.get(attr))
                .cloned()
                .unwrap_or(Value::Null));
        }
        if self.pending.contains(&r.address) {
            return Ok(Value::Unknown);
        }
        match self.state.get(&r.address) {
            Some(res) => Ok(res.outputs.get(attr).cloned().unwrap_or(Value::Unknown)),
            None => Ok(Value::Unknown),
        }
    }
}

async fn append(backend: &dyn StateBackend, records: &[Record]) -> Result<(), EngineError> {
    let bytes = journal::encode(records);
    tracing::trace!(
        records = records.len(),
        bytes = bytes.len(),
        "journal append"
    );
    backend
        .append_journal(&bytes)
        .await
        .map_err(EngineError::Backend)
}

/// The idempotency token of an intent: the same intent always yields the
/// same token, different intents different ones.
pub(crate) fn token(
    lineage: &str,
    base_serial: u64,
    seq: u64,
    address: &Address,
    step: Step,
) -> String {
    let mut h = Sha256::new();
    h.update(format!("{lineage}/{base_serial}/{seq}/{address}/{step:?}"));
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One scheduled operation's provider call, retried as [`retrying`] does.
async fn call_with_retry(
    provider: &dyn Provider,
    ctx: &OpContext,
    step: Step,
    inputs: Option<&Value>,
    existing: Option<&infra_core::Existing>,
) -> Result<infra_core::Observed, ProviderError> {
    let empty = Value::map();
    retrying(ctx, &format!("{step:?}"), || async {
        match (step, existing) {
            (Step::Create | Step::CreateReplacement, _) => {
                provider.create(ctx, inputs.unwrap_or(&empty)).await
            }
            (Step::Update, Some(e)) => provider.update(ctx, e, inputs.unwrap_or(&empty)).await,
            (Step::Delete | Step::DeleteDeposed, Some(e)) => {
                provider
                    .delete(ctx, e)
                    .await
                    .map(|()| infra_core::Observed {
                        id: e.id.clone(),
                        inputs: Value::Null,
                        outputs: Value::Null,
                    })
            }
            (Step::Delete | Step::DeleteDeposed, None) => Ok(infra_core::Observed {
                id: String::new(),
                inputs: Value::Null,
                outputs: Value::Null,
            }),
            (Step::Update, None) => {
                Err(ProviderError::new(ErrorKind::NotFound, "nothing to update"))
            }
        }
    })
    .await
}

/// Turns plan changes into scheduled operations with their ordering.
fn build_ops(plan: &Plan, state: &State) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    let mut forward: HashMap<Address, usize> = HashMap::new();
    let mut deletes: HashMap<Address, usize> = HashMap::new();
    let mut deposed: Vec<usize> = Vec::new();
    let push = |ops: &mut Vec<Op>, address: &Address, step, change, target_id: Option<String>| {
        ops.push(Op {
            address: address.clone(),
            step,
            change,
            target_id,
            successors: Vec::new(),
            waiting_on: 0,
        });
        ops.len() - 1
    };
    for (ci, c) in plan.changes.iter().enumerate() {
        match c.action {
            Action::Create => {
                forward.insert(
                    c.address.clone(),
                    push(&mut ops, &c.address, Step::Create, ci, None),
                );
            }
            Action::Update => {
                forward.insert(
                    c.address.clone(),
                    push(&mut ops, &c.address, Step::Update, ci, c.target_id.clone()),
                );
            }
            Action::Delete => {
                deletes.insert(
                    c.address.clone(),
                    push(&mut ops, &c.address, Step::Delete, ci, c.target_id.clone()),
                );
            }
            Action::DeleteDeposed => {
                deposed.push(push(
                    &mut ops,
                    &c.address,
                    Step::DeleteDeposed,
                    ci,
                    c.target_id.clone(),
                ));
            }
            Action::Replace if c.create_before_destroy => {
                forward.insert(
                    c.address.clone(),
                    push(&mut ops, &c.address, Step::CreateReplacement, ci, None),
                );
                deposed.push(push(
                    &mut ops,
                    &c.address,
                    Step::DeleteDeposed,
                    ci,
                    c.target_id.clone(),
                ));
            }
            Action::Replace => {
                let d = push(&mut ops, &c.address, Step::Delete, ci, c.target_id.clone());
                let f = push(&mut ops, &c.address, Step::Create, ci, None);
                deletes.insert(c.address.clone(), d);
                forward.insert(c.address.clone(), f);
            }
        }
    }
    let mut edges: Vec<(usize, usize)> = Vec::new();
    // Forward operations follow their dependencies' forward operations; a
    // delete-then-create follows its own delete.
    for c in &plan.changes {
        if let Some(&f) = forward.get(&c.address) {
            for d in &c.dependencies {
                if let Some(&df) = forward.get(d) {
                    edges.push((df, f));
                }
            }
            if let Some(&del) = deletes.get(&c.address) {
                edges.push((del, f));
            }
        }
    }
    // Deletes run after the deletes of whatever depended on the resource,
    // as recorded in state (the config may no longer mention it).
    let state_deps = |a: &Address| -> Vec<Address> {
        state
            .get(a)
            .map(|r| r.dependencies.clone())
            .or_else(|| {
                state
                    .deposed
                    .iter()
                    .find(|d| &d.address == a)
                    .map(|d| d.dependencies.clone())
            })
            .unwrap_or_default()
    };
    for (a, &del) in &deletes {
        for dep in state_deps(a) {
            if let Some(&dd) = deletes.get(&dep) {
                edges.push((del, dd));
            }
        }
    }
    // A deposed object goes once everything that used it has moved on.
    for &dp in &deposed {
        let a = ops[dp].address.clone();
        if let Some(&f) = forward.get(&a) {
            edges.push((f, dp));
        }
        for c in &plan.changes {
            if c.dependencies.contains(&a)
                && let Some(&f) = forward.get(&c.address)
            {
                edges.push((f, dp));
            }
        }
        for (b, &del) in &deletes {
            if state_deps(b).contains(&a) {
                edges.push((del, dp));
            }
        }
        // ...and before what it depended on goes: the old object still
        // holds its dependencies' ids (a subnet its VPC's).
        let id = ops[dp].target_id.as_deref();
        let its_deps = state
            .deposed
            .iter()
            .find(|d| d.address == a && Some(d.id.as_str()) == id)
            .map(|d| d.dependencies.clone())
            .unwrap_or_else(|| state_deps(&a));
        for dep in its_deps {
            for &other in &deposed {
                if ops[other].address == dep {
                    edges.push((dp, other));
                }
            }
            // A dependency deleted and created again in this run is not
            // waited for: that would be a cycle (its new object must exist
            // before ours, which must exist before the deposed one goes).
            if let Some(&dd) = deletes.get(&dep)
                && !forward.contains_key(&dep)
            {
                edges.push((dp, dd));
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    for (from, to) in edges {
        if from != to {
            ops[from].successors.push(to);
            ops[to].waiting_on += 1;
        }
    }
    ops
}

fn check_acyclic(ops: &[Op]) -> Result<(), EngineError> {
    let mut indegree: Vec<usize> = ops.iter().map(|o| o.waiting_on).collect();
    let mut queue: Vec<usize> = (0..ops.len()).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = queue.pop() {
        seen += 1;
        for &s in &ops[i].successors {
            indegree[s] -= 1;
            if indegree[s] == 0 {
                queue.push(s);
            }
        }
    }
    if seen == ops.len() {
        Ok(())
    } else {
        let stuck: Vec<String> = (0..ops.len())
            .filter(|&i| indegree[i] > 0)
            .map(|i| format!("{} ({:?})", ops[i].address, ops[i].step))
            .collect();
        Err(EngineError::Diagnostics(vec![infra_core::Diagnostic::error(format!(
            "these operations cannot be ordered: {}",
            stuck.join(", ")
        ))
        .hint("mixing create_before_destroy with resources replaced the other way round can do this; set create_before_destroy the same on both")]))
    }
}
