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
        if plan.mode == PlanMode::Destroy
            && !matches!(c.action, Action::Delete | Action::DeleteDeposed)
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
            Action::Create | Action::Update | Action::Replace if declared.is_none() => {
                Some(format!(
                    "it would {} `{a}`, which the stack does not declare",
                    verb(c.action)
                ))
            }
            Action::Create | Action::Update | Action::Replace if c.after.is_none() => {
                Some(format!("it would {} `{a}` without inputs", verb(c.action)))
            }
            Action::Create => recorded.map(|r| {
                format!(
                    "it would create `{a}`, which state already records (id {})",
                    r.id
                )
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
    for a in plan.state_only.iter().map(|s| &s.address) {
        if plan.mode == PlanMode::Destroy {
            return Some(format!(
                "it is a destroy plan but would update `{a}` in state"
            ));
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use infra_core::{Registry, Value};

    use super::*;
    use crate::graph::DepGraph;
    use crate::plan::{PlanOptions, Planner};
    use crate::secrets::SecretKey;
    use crate::state::ResourceState;

    /// A stack of `a` and `b` (b depends on a), `a` in state, and the plan
    /// that updates `a` and creates `b`.
    fn fixture() -> (tempfile::TempDir, Stack, State, Plan) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("stacks")).unwrap();
        std::fs::write(
            dir.path().join("stacks/x.toml"),
            "[resources.sim_resource.a]\npayload = \"new\"\n\n[resources.sim_resource.b]\npayload = \"${sim_resource.a.id}\"\n",
        )
        .unwrap();
        let mut registry = Registry::new();
        registry.register(Arc::new(infra_sim::SimProvider::default()));
        let stack = infra_stack::load_stack(dir.path(), "x", &registry, &|_| None)
            .stack
            .unwrap();
        let mut state = State::new();
        state.put(ResourceState {
            address: "sim_resource.a".parse().unwrap(),
            id: "a-1".into(),
            inputs: [("payload", Value::from("old"))].into_iter().collect(),
            outputs: [("id", Value::from("a-1"))].into_iter().collect(),
            dependencies: Vec::new(),
            prevent_destroy: false,
            created_at: String::new(),
            updated_at: String::new(),
        });
        let graph = DepGraph::build(&stack).unwrap();
        let plan = Planner {
            stack: &stack,
            graph: &graph,
            state: &state,
            registry: &registry,
            key: &SecretKey::from_bytes(b"k"),
        }
        .plan(&PlanOptions::default(), Vec::new())
        .unwrap();
        (dir, stack, state, plan)
    }

    fn refused(edit: impl FnOnce(&mut Plan)) -> String {
        let (_dir, stack, state, mut plan) = fixture();
        assert_eq!(inconsistency(&plan, &stack, &state), None);
        edit(&mut plan);
        inconsistency(&plan, &stack, &state).expect("the edited plan is refused")
    }

    #[test]
    fn the_planners_own_plan_passes() {
        let (_dir, stack, state, plan) = fixture();
        let actions: Vec<Action> = plan.changes.iter().map(|c| c.action).collect();
        assert_eq!(actions, [Action::Update, Action::Create]);
        assert_eq!(inconsistency(&plan, &stack, &state), None);
    }

    #[test]
    fn a_declared_resource_is_not_deleted_outside_a_replacement() {
        let why = refused(|p| p.changes[0].action = Action::Delete);
        assert!(why.contains("still declares"), "{why}");
    }

    #[test]
    fn each_address_once() {
        let why = refused(|p| {
            let twice = p.changes[1].clone();
            p.changes.push(twice);
        });
        assert!(why.contains("twice"), "{why}");
    }

    #[test]
    fn the_mode_matches_the_actions() {
        let why = refused(|p| p.mode = PlanMode::Destroy);
        assert!(why.contains("destroy plan but would update"), "{why}");
    }

    #[test]
    fn creates_and_updates_match_state() {
        let why = refused(|p| p.changes[0].action = Action::Create);
        assert!(why.contains("already records"), "{why}");
        let why = refused(|p| p.changes[0].target_id = Some("someone-else".into()));
        assert!(why.contains("state records id a-1"), "{why}");
        let why = refused(|p| p.changes[1].action = Action::Update);
        assert!(why.contains("not in state"), "{why}");
        let why = refused(|p| p.changes[0].address = "sim_resource.z".parse().unwrap());
        assert!(why.contains("does not declare"), "{why}");
    }

    #[test]
    fn deposed_deletes_need_a_deposed_object() {
        let why = refused(|p| {
            p.changes[1].action = Action::DeleteDeposed;
            p.changes[1].target_id = Some("ghost".into());
        });
        assert!(why.contains("deposed"), "{why}");
    }
}
