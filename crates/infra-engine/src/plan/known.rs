//! What the planner knows of the resources walked so far, and how
//! references read it.

use infra_core::{Address, PathSeg, Registry, Value};
use infra_stack::{Reference, Stack};

use super::ResourceChange;
use crate::eval::Resolve;

/// What the planner knows of a resource while walking the graph. Borrowed
/// rather than cloned: inputs live in the plan's changes, in state, or in
/// `kept` (unchanged resources).
#[derive(Clone, Copy)]
pub(super) struct Known<'s> {
    pub(super) inputs: Inputs<'s>,
    /// `None` while the outputs are known only after apply.
    pub(super) outputs: Option<&'s Value>,
}

/// Where the known inputs of a resource are.
#[derive(Clone, Copy)]
pub(super) enum Inputs<'s> {
    /// In state (resources outside `--target`).
    State(&'s Value),
    /// `after` of `changes[i]`.
    Change(usize),
    /// `kept[i]`: the desired inputs of a resource without changes.
    Kept(usize),
}

/// The planner's knowledge, indexed like `stack.resources`.
pub(super) struct KnownResolver<'k, 's> {
    pub(super) stack: &'s Stack,
    pub(super) known: &'k [Option<Known<'s>>],
    pub(super) changes: &'k [ResourceChange],
    pub(super) kept: &'k [Value],
    pub(super) registry: &'k Registry,
}

impl<'s> KnownResolver<'_, 's> {
    /// The planned inputs of a resource the walk has reached.
    pub(super) fn inputs<'x>(&'x self, known: &Known<'s>) -> Option<&'x Value> {
        match known.inputs {
            Inputs::State(v) => Some(v),
            Inputs::Change(i) => self.changes[i].after.as_ref(),
            Inputs::Kept(i) => Some(&self.kept[i]),
        }
    }
}

impl Resolve for KnownResolver<'_, '_> {
    fn attribute(&self, r: &Reference) -> Result<Value, String> {
        let Some(PathSeg::Key(attr)) = r.path.first() else {
            return Err(format!("`{r}` does not name an attribute"));
        };
        let known = resource_index(self.stack, &r.address).and_then(|i| self.known[i].as_ref());
        let Some(known) = known else {
            // Not planned (outside --target) and not in state.
            return Ok(Value::Unknown);
        };
        let schema = self.registry.get(&r.address.ty).map(|p| p.schema());
        let inputs = self.inputs(known);
        if schema.is_some_and(|s| s.reads_input(attr, inputs)) {
            return Ok(inputs
                .and_then(|v| v.get(attr))
                .cloned()
                .unwrap_or(Value::Null));
        }
        match known.outputs {
            None => Ok(Value::Unknown),
            Some(outputs) => outputs.get(attr).cloned().ok_or_else(|| {
                format!(
                    "`{r}` does not exist: `{}` has no attribute `{attr}`",
                    r.address
                )
            }),
        }
    }
}

/// The position of a resource in `stack.resources` (sorted by address).
pub(super) fn resource_index(stack: &Stack, address: &Address) -> Option<usize> {
    stack
        .resources
        .binary_search_by(|r| r.address.cmp(address))
        .ok()
}
