//! The infra engine: load a stack, plan it against state and the cloud,
//! apply the plan in parallel with every step made durable, and report
//! what happens as typed events.
//!
//! ```no_run
//! # async fn demo(registry: infra_core::Registry) -> Result<(), infra_engine::EngineError> {
//! use infra_engine::{ApplyOptions, Engine, LockOptions, PlanOptions};
//! let engine = Engine::new(registry).with_events(std::sync::Arc::new(|e| {
//!     let _ = e; // render, log or forward the event
//! }));
//! let (stack, _warnings) = engine.load(".".as_ref(), "dev").map_err(infra_engine::EngineError::Diagnostics)?;
//! let mut session = engine.open(&stack, &LockOptions::new("apply")).await?;
//! let plan = session.plan(&PlanOptions { refresh: true, ..Default::default() }).await?;
//! let report = session.apply(&plan, &ApplyOptions::default()).await;
//! session.close().await?;
//! # report.map(|_| ()) }
//! ```

mod apply;
mod backends;
mod error;
mod eval;
mod events;
mod graph;
mod journal;
mod local;
mod plan;
mod planfile;
mod recheck;
mod retry;
mod secrets;
mod session;
mod state;

pub use apply::{ApplyOptions, ApplyReport, Interrupt, InterruptHandle};
pub use backends::Migrated;
pub use error::EngineError;
pub use events::{ApplySummary, Event, EventKind, EventSink};
pub use graph::GraphFormat;
pub use journal::Step;
pub use local::LocalBackend;
pub use plan::{
    Action, AttrChange, DEFAULT_TIMEOUT, Drift, PLAN_VERSION, Plan, PlanMode, PlanOptions,
    ResourceChange, StateOnlyChange, Summary, UnsetInput,
};
pub use secrets::SecretKey;
pub use session::{Engine, LockOptions, Session};
pub use state::{
    Deposed, MissingOutput, OutputError, ResourceState, STATE_VERSION, State, find_output,
};

pub use infra_stack::{Expr, Part, Reference, ResourceConfig, Stack, StackBuilder};
#[cfg(test)]
mod roundtrip_tests;
