//! The last look before apply: each action of a plan must be one the
//! planner could have made from this stack and this state. A saved plan is
//! signed, so this catches our own bugs rather than an attacker; it is
//! still checked, so that a bug cannot do what an attacker cannot (delete a
//! declared resource, create one twice).

use std::collections::BTreeSet;

use infra_core::Address;
use infra_stack::Stack;

use crate::plan::{Action, Plan, PlanMode};
use crate::state::State;

/// Why `plan` cannot be applied to `state` for `stack`, if it cannot.
pub(crate) fn inconsistency(plan: &Plan, stack: &Stack, state: &State) -> Option<String> {
    let mut seen: BTreeSet<&Address> = BTreeSet::new();
    let mut deposed_seen: BTreeSet<(&Address, Option<&String>)> = BTreeSet::new();
    for c in &plan.changes {
        let a = &c.address;
        let declared = stack.resource(a);
        let recorded = state.get(a);
        let fresh_address = if c.action == Action::DeleteDeposed {
            deposed_seen.insert((a, c.target_id.as_ref()))
        } else {
            seen.insert(a)
        };
        if !fresh_address {
            return Some(format!("it changes `{a}` twice"));
        }
        if plan.mode == PlanMode::Destroy && !matches!(c.action, Action::Delete | Action::DeleteDeposed)
        {
            return Some(format!(
                "it is a destroy plan but would {} `{a}`",
                verb(c.action)
            ));
        }
        let targets_recorded = || match recorded {
            Some(r) if c.target_id.as_deref() == Some(r.id.as_str()) => None,
            Some(r) => Some(format!(
                "it would {} `{a}` with id {}, but state records id {}",
                verb(c.action),
                c.target_id.as_deref().unwrap_or("(none)"),
                r.id
            )),
            None => Some(format!(
                "it would {} `{a}`, which is not in state",
                verb(c.action)
            )),
        };
        let problem = match c.action {
            Action::Create | Action::Update | Action::Replace if declared.is_none() => Some(format!(
                "it would {} `{a}`, which the stack does not declare",
                verb(c.action)
            )),
            Action::Create | Action::Update | Action::Replace if c.after.is_none() => {
                Some(format!("it would {} `{a}` without inputs", verb(c.action)))
            }
            Action::Create => recorded.map(|r| {
                format!("it would create `{a}`, which state already records (id {})", r.id)
            }),
            Action::Update | Action::Replace => targets_recorded(),
            Action::Delete if plan.mode == PlanMode::Apply && declared.is_some() => Some(format!(
                "it would delete `{a}`, which the stack still declares (outside a replacement)"
            )),
            Action::Delete => targets_recorded(),
            Action::DeleteDeposed => {
                let exists = state
                    .deposed
                    .iter()
                    .any(|d| &d.address == a && Some(&d.id) == c.target_id.as_ref());
                (!exists).then(|| {
                    format!(
                        "it would delete a deposed object of `{a}` (id {}) that state does not record",
                        c.target_id.as_deref().unwrap_or("(none)")
                    )
                })
            }
        };
        if problem.is_some() {
            return problem;
        }
        let protected = matches!(c.action, Action::Delete | Action::Replace)
            && (recorded.is_some_and(|r| r.prevent_destroy)
                || declared.is_some_and(|d| d.lifecycle.prevent_destroy));
        if protected {
            return Some(format!(
                "it would {} `{a}`, which has lifecycle.prevent_destroy set",
                verb(c.action)
            ));
        }
    }
    let mut state_only = BTreeSet::new();
    for a in &plan.state_only {
        if plan.mode == PlanMode::Destroy {
            return Some(format!("it is a destroy plan but would update `{a}` in state"));
        }
        if !state_only.insert(a) || stack.resource(a).is_none() || state.get(a).is_none() {
            return Some(format!(
                "its state-only change of `{a}` names a resource that is not both declared and recorded once"
            ));
        }
    }
    None
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::DeleteDeposed => "delete",
    }
}
