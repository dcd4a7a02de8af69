//! The executor: runs a plan's operations as a DAG, in parallel where the
//! graph allows, recording every step in the journal.
//!
//! - `ops`: the plan turned into operations and the order between them, a
//!   pure function of plan and state;
//! - `coordinator`: the one task that owns the working state, the ready
//!   queue and the journal while operations run; operation tasks report to
//!   it over a channel. Intents of operations that start together, and
//!   results that arrive together, share one journal append (group commit),
//!   so durability costs one small flushed write per batch, never a rewrite
//!   of the state;
//! - `prepare`: what an operation sends to its provider, evaluated when it
//!   starts.

use std::sync::Arc;
use std::time::Instant;

use infra_core::{Address, Provider, Registry, StateBackend, Value};
use infra_stack::Stack;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::EngineError;
use crate::events::{ApplySummary, Emitter, EventKind};
use crate::journal::{self, Record, Step};
use crate::plan::Plan;
use crate::secrets::SecretKey;
use crate::state::State;

mod coordinator;
mod ops;
mod prepare;

use coordinator::Coordinator;

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
        let ops = ops::build_ops(plan, self.state);
        ops::check_acyclic(&ops)?;
        append(
            self.backend,
            &[Record::Begin {
                version: journal::JOURNAL_VERSION,
                lineage: self.state.lineage.clone(),
                base_serial: self.state.serial,
                operation: operation.to_owned(),
                started: crate::state::now(),
            }],
        )
        .await?;
        let pending_outputs = ops::with_pending_outputs(&ops);
        let evaluated = self.evaluate_all(&pending_outputs);

        let mut coordinator = Coordinator::new(self, plan, opts, ops, evaluated, pending_outputs);
        loop {
            coordinator.start_ready().await?;
            if coordinator.is_idle() {
                break;
            }
            coordinator.wait().await?;
        }
        let report = coordinator.finish();

        self.record_lifecycle(plan);
        self.emitter.emit(EventKind::ApplyFinished {
            summary: report.summary,
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
        Ok(report)
    }

    /// Lifecycle facts that changed without a cloud operation.
    fn record_lifecycle(&mut self, plan: &Plan) {
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
    }

    fn settings_for(&self, provider: &Arc<dyn Provider>) -> Value {
        provider
            .settings_section()
            .and_then(|s| self.stack.settings.get(s))
            .cloned()
            .unwrap_or(Value::Null)
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
