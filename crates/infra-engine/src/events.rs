//! Typed, sequence-numbered events: how the engine tells the CLI and
//! embedders what it is doing. The engine never prints.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use infra_core::Address;
use serde::Serialize;

use crate::journal::Step;
use crate::plan::{Drift, Summary};

/// One event. `seq` increases by one per event within an [`crate::Engine`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Sequence number, from 1.
    pub seq: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The lock's previous holder let its lease expire (it died or lost
    /// the network) and this run took the lock over.
    LockTakenOver {
        /// Who held it.
        previous: infra_core::LockInfo,
    },
    /// An operation interrupted by an earlier run was resolved from the
    /// journal and the cloud.
    Recovered {
        /// The resource.
        address: Address,
        /// The step that was interrupted.
        step: Step,
        /// What was found and recorded.
        outcome: String,
    },
    /// A resource was changed outside infra.
    Drifted(Drift),
    /// A plan is ready.
    PlanReady {
        /// Counts of changes.
        summary: Summary,
        /// Estimated duration of the apply, from the critical path.
        estimate_ms: u64,
    },
    /// An operation started.
    OperationStarted {
        /// The resource.
        address: Address,
        /// What is being done.
        step: Step,
    },
    /// A long operation reports progress (waiting, retrying).
    OperationProgress {
        /// The resource.
        address: Address,
        /// What it is doing.
        message: String,
    },
    /// An operation finished.
    OperationFinished {
        /// The resource.
        address: Address,
        /// What was done.
        step: Step,
        /// How long it took.
        elapsed_ms: u64,
    },
    /// An operation failed; its dependents are skipped.
    OperationFailed {
        /// The resource.
        address: Address,
        /// What was attempted.
        step: Step,
        /// Why it failed.
        error: String,
    },
    /// An operation was not started because something it needs failed.
    OperationSkipped {
        /// The resource.
        address: Address,
        /// The failure it waited on.
        because: Address,
    },
    /// An interrupt was received: 1 = finish in-flight work, 2 = stop now.
    Interrupted {
        /// How many interrupts so far.
        level: u8,
    },
    /// The apply ended.
    ApplyFinished {
        /// What was done.
        summary: ApplySummary,
        /// How long it took.
        elapsed_ms: u64,
    },
}

/// Counts of what an apply did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApplySummary {
    /// Resources created.
    pub created: usize,
    /// Resources updated in place.
    pub updated: usize,
    /// Resources replaced.
    pub replaced: usize,
    /// Resources deleted.
    pub deleted: usize,
    /// Operations that failed.
    pub failed: usize,
    /// Operations not started because a dependency failed or the run was
    /// interrupted.
    pub skipped: usize,
}

/// A receiver of events.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// Numbers events and hands them to the sink.
#[derive(Clone)]
pub(crate) struct Emitter {
    seq: Arc<AtomicU64>,
    sink: Option<EventSink>,
}

impl Emitter {
    pub(crate) fn new(sink: Option<EventSink>) -> Self {
        Emitter {
            seq: Arc::new(AtomicU64::new(0)),
            sink,
        }
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        if let Some(sink) = &self.sink {
            let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
            sink(&Event { seq, kind });
        }
    }
}
