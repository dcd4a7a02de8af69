//! What an operation sends to its provider: inputs evaluated with the
//! outputs of what has been applied so far.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use infra_core::{Address, Provider, Value};
use infra_stack::Reference;

use super::Executor;
use super::ops::Op;
use crate::eval::Resolve;
use crate::journal::Step;
use crate::plan::{Plan, check_context, cloud_owned, desired_inputs, keep_recorded};
use crate::state::State;
use infra_core::Registry;

impl Executor<'_> {
    /// Inputs as evaluated, per address: every config resource up front
    /// (what references to unchanged resources read); each is evaluated
    /// again when its own operation starts and its dependencies' outputs
    /// are known.
    pub(super) fn evaluate_all(
        &self,
        pending_outputs: &BTreeSet<Address>,
    ) -> HashMap<Address, Value> {
        let mut evaluated: HashMap<Address, Value> = HashMap::new();
        let order = self.graph.order();
        for address in &order {
            if let Some(config) = self.stack.resource(address)
                && let Some(provider) = self.registry.get(&address.ty)
            {
                let resolver = ApplyResolver {
                    evaluated: &evaluated,
                    state: self.state,
                    pending: pending_outputs,
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
        evaluated
    }

    pub(super) fn prepare(
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
                    // An update keeps the computed values the plan kept; a
                    // create (or replacement) lets the cloud pick afresh.
                    if op.step == Step::Update {
                        provider.schema().fill_computed(&mut v, planned);
                    }
                }
                // Set at create, then the cloud's: an update is given what
                // state holds now (not the plan's copy, which a saved plan
                // may have taken from an older read), so a provider that
                // sends only what differs from `existing` leaves it alone.
                if let (Step::Update, Some(e)) = (op.step, &existing) {
                    let owned_by_cloud = cloud_owned(provider.schema(), &config.lifecycle);
                    keep_recorded(&mut v, &e.inputs, &owned_by_cloud);
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

/// An operation ready to call its provider.
pub(super) struct Prepared {
    pub(super) provider: Arc<dyn Provider>,
    /// What is sent (create and update).
    pub(super) inputs: Option<Value>,
    /// What is acted on (update and delete).
    pub(super) existing: Option<infra_core::Existing>,
    /// The intent's idempotency token, set when the intent is journaled.
    pub(super) token: String,
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
        let inputs = self.evaluated.get(&r.address);
        let is_input = self
            .registry
            .get(&r.address.ty)
            .is_some_and(|p| p.schema().reads_input(attr, inputs));
        if is_input {
            return Ok(inputs
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
