//! The estimate of an apply's duration: the critical path of the changes.

use std::collections::HashMap;
use std::time::Duration;

use infra_core::{Address, OpKind, Value};

use super::planner::Planner;
use super::{Action, ResourceChange};

impl Planner<'_> {
    /// The critical path through the changes, each weighted by its
    /// provider's estimate.
    pub(super) fn estimate(&self, changes: &[ResourceChange]) -> Duration {
        // Deletes wait on the deletes of what depended on them.
        let mut dependents: HashMap<&Address, Vec<&Address>> = HashMap::new();
        let deletes = changes
            .iter()
            .any(|c| matches!(c.action, Action::Delete | Action::DeleteDeposed));
        if deletes {
            for c in changes {
                for d in &c.dependencies {
                    dependents.entry(d).or_default().push(&c.address);
                }
            }
        }
        let empty = Value::map();
        let mut finish: HashMap<&Address, Duration> = HashMap::with_capacity(changes.len());
        let mut total = Duration::ZERO;
        // Creates and updates come in dependency order, deletes in reverse:
        // each starts when the slowest change it waits on ends.
        for c in changes {
            let Some(provider) = self.registry.get(&c.address.ty) else {
                continue;
            };
            let after = c.after.as_ref().unwrap_or(&empty);
            let (own, waits_on): (Duration, &[&Address]) = match c.action {
                Action::Create => (provider.estimate(OpKind::Create, after), &[]),
                Action::Update => (provider.estimate(OpKind::Update, after), &[]),
                Action::Replace => (
                    provider.estimate(OpKind::Create, after)
                        + provider.estimate(OpKind::Delete, after),
                    &[],
                ),
                Action::Delete | Action::DeleteDeposed => {
                    let before = self.state.get(&c.address).map_or(&empty, |r| &r.inputs);
                    (
                        provider.estimate(OpKind::Delete, before),
                        dependents.get(&c.address).map_or(&[], Vec::as_slice),
                    )
                }
            };
            // Creates, updates and replacements wait on their dependencies.
            let waits_on_dependencies = !matches!(c.action, Action::Delete | Action::DeleteDeposed);
            let start = waits_on
                .iter()
                .copied()
                .chain(c.dependencies.iter().filter(|_| waits_on_dependencies))
                .filter_map(|d| finish.get(d))
                .max()
                .copied()
                .unwrap_or_default();
            let end = start + own;
            total = total.max(end);
            finish.insert(&c.address, end);
        }
        total
    }
}
