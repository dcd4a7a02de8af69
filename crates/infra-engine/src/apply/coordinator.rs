//! The coordinator: the one owner of the working state, the ready queue and
//! the journal while operations run. Operation tasks report to it over a
//! channel; it journals each batch of intents before their provider calls
//! and each batch of results after, then folds the results into state.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use infra_core::{Address, ErrorKind, OpContext, Provider, ProviderError, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::ops::{Op, yields_outputs};
use super::prepare::Prepared;
use super::{ApplyOptions, ApplyReport, Executor, append, token};
use crate::EngineError;
use crate::events::EventKind;
use crate::journal::{self, Intent, Outcome, Record, Step};
use crate::plan::{Action, Plan};
use crate::retry::retrying;

/// What an operation task tells the coordinator.
enum Report {
    Progress(usize, String),
    Done(usize, Result<infra_core::Observed, ProviderError>, Duration),
}

/// One apply's scheduling: which operations wait, run and are done.
pub(super) struct Coordinator<'x, 'a> {
    exec: &'x mut Executor<'a>,
    plan: &'x Plan,
    ops: Vec<Op>,
    /// Per operation, how many of its predecessors have not finished; a
    /// skipped operation's never reaches zero.
    waiting_on: Vec<usize>,
    ready: VecDeque<usize>,
    done: Vec<bool>,
    running: usize,
    parallelism: usize,
    tasks: JoinSet<()>,
    tx: mpsc::UnboundedSender<Report>,
    rx: mpsc::UnboundedReceiver<Report>,
    interrupt: watch::Receiver<u8>,
    /// After the first interrupt: start nothing new.
    stopping: bool,
    report: ApplyReport,
    /// Replacements one of whose two operations has finished.
    replaced: BTreeSet<Address>,
    // The journal.
    lineage: String,
    base_serial: u64,
    seq: u64,
    intents: HashMap<usize, Intent>,
    /// Inputs as evaluated, per address.
    evaluated: HashMap<Address, Value>,
    /// Addresses whose outputs come only when their operation finishes.
    pending_outputs: BTreeSet<Address>,
}

impl<'x, 'a> Coordinator<'x, 'a> {
    pub(super) fn new(
        exec: &'x mut Executor<'a>,
        plan: &'x Plan,
        opts: &ApplyOptions,
        ops: Vec<Op>,
        evaluated: HashMap<Address, Value>,
        pending_outputs: BTreeSet<Address>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel::<Report>();
        let waiting_on: Vec<usize> = ops.iter().map(|o| o.predecessors).collect();
        let ready = (0..ops.len()).filter(|&i| waiting_on[i] == 0).collect();
        let interrupt = opts.interrupt.0.clone();
        let stopping = *interrupt.borrow() >= 1;
        Coordinator {
            lineage: exec.state.lineage.clone(),
            base_serial: exec.state.serial,
            exec,
            plan,
            done: vec![false; ops.len()],
            ops,
            waiting_on,
            ready,
            running: 0,
            parallelism: opts.parallelism.max(1),
            tasks: JoinSet::new(),
            tx,
            rx,
            interrupt,
            stopping,
            report: ApplyReport::default(),
            replaced: BTreeSet::new(),
            seq: 0,
            intents: HashMap::new(),
            evaluated,
            pending_outputs,
        }
    }

    /// Whether nothing runs and nothing more will start.
    pub(super) fn is_idle(&self) -> bool {
        self.running == 0 && (self.ready.is_empty() || self.stopping)
    }

    /// Starts what is ready, up to the parallelism, journaling all intents
    /// in one append before any provider is called.
    pub(super) async fn start_ready(&mut self) -> Result<(), EngineError> {
        let mut batch = Vec::new();
        while !self.stopping && self.running + batch.len() < self.parallelism {
            let Some(i) = self.ready.pop_front() else {
                break;
            };
            match self.exec.prepare(
                &self.ops[i],
                self.plan,
                &self.evaluated,
                &self.pending_outputs,
            ) {
                Ok(prepared) => batch.push((i, prepared)),
                Err(message) => self.fail(i, message),
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let mut records = Vec::with_capacity(batch.len());
        for (i, p) in &mut batch {
            records.push(Record::Intent(self.intend(*i, p)));
        }
        append(self.exec.backend, &records).await?;
        for (i, p) in batch {
            self.spawn(i, p);
        }
        Ok(())
    }

    /// The intent of a prepared operation, remembered for its result.
    fn intend(&mut self, i: usize, p: &mut Prepared) -> Intent {
        self.seq += 1;
        let seq = self.seq;
        let op = &self.ops[i];
        let change = &self.plan.changes[op.change];
        let intent = Intent {
            seq,
            address: op.address.clone(),
            step: op.step,
            token: token(&self.lineage, self.base_serial, seq, &op.address, op.step),
            target_id: op.target_id.clone(),
            inputs: p.inputs.clone(),
            dependencies: change.dependencies.clone(),
            prevent_destroy: change.prevent_destroy,
        };
        p.token = intent.token.clone();
        self.intents.insert(i, intent.clone());
        intent
    }

    /// Runs a journaled operation's provider call as a task.
    fn spawn(&mut self, i: usize, p: Prepared) {
        let op = &self.ops[i];
        if let Some(v) = &p.inputs {
            self.evaluated.insert(op.address.clone(), v.clone());
        }
        self.exec.emitter.emit(EventKind::OperationStarted {
            address: op.address.clone(),
            step: op.step,
        });
        self.running += 1;
        let tx = self.tx.clone();
        let progress_tx = tx.clone();
        let ctx = OpContext::new(
            op.address.clone(),
            p.token,
            self.exec.settings_for(&p.provider),
            self.exec.stack.root.clone(),
            Duration::from_millis(self.plan.changes[op.change].timeout_ms),
            Arc::new(move |m: &str| {
                let _ = progress_tx.send(Report::Progress(i, m.to_owned()));
            }),
        );
        let step = op.step;
        self.tasks.spawn(async move {
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

    /// Waits for reports, handling every one already queued together, or
    /// for an interrupt.
    pub(super) async fn wait(&mut self) -> Result<(), EngineError> {
        let first = tokio::select! {
            r = self.rx.recv() => r,
            changed = self.interrupt.changed(), if *self.interrupt.borrow() < 2 => {
                return self.on_interrupt(changed.is_ok());
            }
        };
        let mut reports: Vec<Report> = first.into_iter().collect();
        while let Ok(r) = self.rx.try_recv() {
            reports.push(r);
        }
        self.on_reports(reports).await
    }

    /// The first interrupt starts nothing new; the second stops now,
    /// leaving the journal for the next run to recover from.
    fn on_interrupt(&mut self, changed: bool) -> Result<(), EngineError> {
        let level = if changed { *self.interrupt.borrow() } else { 0 };
        if level >= 1 {
            self.exec.emitter.emit(EventKind::Interrupted { level });
            self.stopping = true;
            self.report.interrupted = true;
        }
        if level >= 2 {
            self.tasks.abort_all();
            return Err(EngineError::Interrupted);
        }
        Ok(())
    }

    /// Journals the results among `reports` in one append, then folds each.
    async fn on_reports(&mut self, reports: Vec<Report>) -> Result<(), EngineError> {
        let mut records = Vec::new();
        let mut finished = Vec::new();
        for r in reports {
            match r {
                Report::Progress(i, message) => {
                    self.exec.emitter.emit(EventKind::OperationProgress {
                        address: self.ops[i].address.clone(),
                        message,
                    })
                }
                Report::Done(i, result, elapsed) => {
                    self.running -= 1;
                    let intent = &self.intents[&i];
                    let schema = self.exec.registry.get(&self.ops[i].address.ty);
                    let schema = schema.map(|p| p.schema());
                    let outcome = outcome(self.ops[i].step, intent, result, schema, self.exec.key);
                    records.push(Record::Result {
                        seq: intent.seq,
                        outcome: outcome.clone(),
                    });
                    finished.push((i, outcome, elapsed));
                }
            }
        }
        if !records.is_empty() {
            append(self.exec.backend, &records).await?;
        }
        for (i, outcome, elapsed) in finished {
            self.on_finished(i, outcome, elapsed);
        }
        Ok(())
    }

    /// Folds a journaled result into state and releases, or skips, what
    /// waits on the operation.
    fn on_finished(&mut self, i: usize, outcome: Outcome, elapsed: Duration) {
        journal::fold(self.exec.state, &self.intents[&i], &outcome);
        if let Outcome::Failed { message } = outcome {
            let op = &self.ops[i];
            self.exec.emitter.emit(EventKind::OperationFailed {
                address: op.address.clone(),
                step: op.step,
                error: message.clone(),
            });
            self.fail(i, message);
            return;
        }
        self.done[i] = true;
        let op = &self.ops[i];
        if yields_outputs(op.step) {
            self.pending_outputs.remove(&op.address);
        }
        let summary = &mut self.report.summary;
        match self.plan.changes[op.change].action {
            Action::Create => summary.created += 1,
            Action::Update => summary.updated += 1,
            Action::Delete | Action::DeleteDeposed => summary.deleted += 1,
            Action::Replace => {
                if !self.replaced.insert(op.address.clone()) {
                    summary.replaced += 1;
                }
            }
        }
        self.exec.emitter.emit(EventKind::OperationFinished {
            address: op.address.clone(),
            step: op.step,
            elapsed_ms: elapsed.as_millis() as u64,
        });
        for &s in &op.successors {
            self.waiting_on[s] -= 1;
            if self.waiting_on[s] == 0 && !self.done[s] {
                self.ready.push_back(s);
            }
        }
    }

    /// Marks an operation failed and skips everything that waits on it.
    fn fail(&mut self, i: usize, message: String) {
        self.report.summary.failed += 1;
        self.report
            .failures
            .push((self.ops[i].address.clone(), message));
        self.done[i] = false;
        self.skip_dependents(i);
    }

    /// Skips everything that waits, directly or not, on operation `i`.
    fn skip_dependents(&mut self, i: usize) {
        let mut stack = self.ops[i].successors.clone();
        let mut seen = BTreeSet::new();
        while let Some(s) = stack.pop() {
            if seen.insert(s) {
                self.exec.emitter.emit(EventKind::OperationSkipped {
                    address: self.ops[s].address.clone(),
                    because: self.ops[i].address.clone(),
                });
                // Never becomes ready: its counter stays above zero.
                self.waiting_on[s] += self.ops.len();
                stack.extend(self.ops[s].successors.iter().copied());
            }
        }
    }

    /// The report, once nothing runs any more: what never finished and did
    /// not fail was skipped.
    pub(super) fn finish(self) -> ApplyReport {
        let mut report = self.report;
        report.summary.skipped += self.done.iter().filter(|d| !**d).count() - report.failures.len();
        report
    }
}

/// What a provider call's result means for the journal and state.
fn outcome(
    step: Step,
    intent: &Intent,
    result: Result<infra_core::Observed, ProviderError>,
    schema: Option<&infra_core::Schema>,
    key: &crate::secrets::SecretKey,
) -> Outcome {
    match result {
        Ok(observed) => match step {
            Step::Delete | Step::DeleteDeposed => Outcome::Deleted,
            _ => {
                let outputs =
                    crate::secrets::recorded_outputs(&observed.id, observed.outputs, schema, key);
                Outcome::Applied {
                    id: observed.id,
                    // State records what the cloud picked for computed
                    // inputs the stack left unset, for references and plans.
                    inputs: {
                        let mut inputs = intent.inputs.clone().unwrap_or_else(Value::map);
                        if let Some(schema) = schema {
                            schema.fill_computed(&mut inputs, &observed.inputs);
                        }
                        inputs
                    },
                    outputs,
                }
            }
        },
        Err(e) => Outcome::Failed { message: e.message },
    }
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
