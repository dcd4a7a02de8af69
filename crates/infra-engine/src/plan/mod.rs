//! Planning: diffs the desired resources against state, attribute by
//! attribute, and classifies each resource's change from its schema.
//!
//! - `planner`: the walk over the graph (apply and destroy plans, the
//!   order of deletes, the lifecycle checks);
//! - `known`: what references read while planning;
//! - `inputs`: evaluating and checking one resource's inputs;
//! - `diff`: attribute-level differences;
//! - `hash`: the config hash a saved plan is bound to;
//! - `estimate`: the apply duration estimate.

use std::time::Duration;

use infra_core::{Address, Value};
use serde::{Deserialize, Serialize};

mod diff;
mod estimate;
mod hash;
mod inputs;
mod known;
mod peers;
mod planner;
#[cfg(test)]
mod tests;

pub(crate) use diff::diff;
pub(crate) use hash::config_hash;
pub(crate) use inputs::{check_context, cloud_owned, desired_inputs, keep_prior, keep_recorded};
pub(crate) use planner::Planner;

/// The plan format version.
pub const PLAN_VERSION: u32 = 2;

/// What a plan is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// Make the cloud match the stack.
    Apply,
    /// Delete everything in state.
    Destroy,
}

/// A plan: the changes an apply would make, bound to the state and config it
/// was computed from. Serializable (`infra plan --out`); secrets appear only
/// as digests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Plan format version.
    pub version: u32,
    /// The stack's name.
    pub stack: String,
    /// Apply or destroy.
    pub mode: PlanMode,
    /// The lineage of the state planned against; `None` when there was none.
    pub lineage: Option<String>,
    /// The serial of the state planned against.
    pub serial: u64,
    /// A hash of the stack's configuration; a saved plan whose config has
    /// changed since is refused.
    pub config_hash: String,
    /// Changes made outside infra, found by refresh.
    pub drift: Vec<Drift>,
    /// The changes, in dependency order.
    pub changes: Vec<ResourceChange>,
    /// Resources whose recorded lifecycle (prevent_destroy, dependencies)
    /// changes without touching the cloud.
    pub state_only: Vec<StateOnlyChange>,
    /// Counts.
    pub summary: Summary,
    /// Estimated apply duration: the critical path of the change graph.
    pub estimate_ms: u64,
    /// Warnings found while planning.
    pub warnings: Vec<String>,
    /// Environment variables of `from_env` inputs that were unset: such a
    /// plan shows, but cannot be applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_env: Vec<String>,
    /// Where the values of those variables go: the plan shows them as
    /// unset, not as known after apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unset: Vec<UnsetInput>,
}

/// An input whose `from_env` variable is unset, so its value is unknown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsetInput {
    /// The resource.
    pub address: Address,
    /// Where in its inputs, as in [`AttrChange::path`]: `password`,
    /// `payload.token`, `values.list[0]`.
    pub path: String,
    /// The environment variable.
    pub var: String,
}

/// Counts of planned changes, as in `Plan: N to add, ...`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Resources to create.
    pub add: usize,
    /// Resources to update in place.
    pub change: usize,
    /// Resources to replace.
    pub replace: usize,
    /// Resources (and deposed objects) to delete.
    pub destroy: usize,
}

/// What happens to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create it.
    Create,
    /// Update it in place.
    Update,
    /// Replace it: delete then create, or create then delete.
    Replace,
    /// Delete it.
    Delete,
    /// Delete an object left deposed by an earlier create-before-destroy.
    DeleteDeposed,
}

/// One resource's planned change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// The resource.
    pub address: Address,
    /// What happens.
    pub action: Action,
    /// Why, when it is not obvious from the attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The object a delete targets (the current id, or the deposed one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// Attribute-level changes.
    pub attributes: Vec<AttrChange>,
    /// The inputs to apply (create, update, replace); may hold unknowns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Dependencies, as recorded into state.
    pub dependencies: Vec<Address>,
    /// Replace by creating first.
    #[serde(default)]
    pub create_before_destroy: bool,
    /// Recorded into state.
    #[serde(default)]
    pub prevent_destroy: bool,
    /// Time limit for this resource's operations.
    pub timeout_ms: u64,
}

/// A change of one attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    /// The attribute path, e.g. `scaling.min`.
    pub path: String,
    /// The old value; `None` when it was absent.
    pub before: Option<Value>,
    /// The new value; `None` when it is removed.
    pub after: Option<Value>,
    /// Whether this change forces replacement.
    pub forces_replacement: bool,
    /// Something to know about this line, shown beside it: who owns an
    /// attribute the schema sets only at create ("at create; then the
    /// cloud's"). Absent in plans written before notes existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What changes in state alone for one resource: lifecycle facts, no
/// cloud operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateOnlyChange {
    /// The resource.
    pub address: Address,
    /// What changes: `lifecycle.prevent_destroy`, `dependencies`.
    pub attributes: Vec<AttrChange>,
}

/// A resource changed outside infra.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The resource.
    pub address: Address,
    /// `true` when it no longer exists.
    pub deleted: bool,
    /// The attributes that differ from state.
    pub attributes: Vec<AttrChange>,
}

impl Plan {
    /// Whether applying would change anything (cloud or state).
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || !self.state_only.is_empty()
    }
}

/// Options that shape a plan.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Apply or destroy (`None` means apply).
    pub destroy: bool,
    /// Compare against the cloud first (`--refresh=false` turns it off).
    pub refresh: bool,
    /// Plan only these resources and what they need (`--target`).
    pub targets: Vec<Address>,
    /// Replace these resources even if unchanged (`--replace`).
    pub replace: Vec<Address>,
}

/// The default time limit of an operation without `lifecycle.timeouts`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);
