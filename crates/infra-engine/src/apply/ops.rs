//! Turning a plan into operations: a pure function of the plan and the
//! state it was made against, with the order between the operations as
//! successor lists.
//!
//! - creates, updates and replacements follow their dependencies'
//!   (forward operations, in the config's order);
//! - a replacement deleted then created creates after its delete;
//! - deletes run after the deletes of whatever depended on the resource,
//!   as recorded in state;
//! - a deposed object (the old half of a create-before-destroy) is
//!   deleted once everything that used it has moved on, and before what it
//!   depended on is deleted.

use std::collections::{BTreeSet, HashMap};

use infra_core::Address;

use crate::EngineError;
use crate::journal::Step;
use crate::plan::{Action, Plan};
use crate::state::State;

/// One unit of work for the coordinator.
#[derive(Debug)]
pub(super) struct Op {
    pub(super) address: Address,
    pub(super) step: Step,
    /// The index of its change in the plan.
    pub(super) change: usize,
    /// The object acted on (update and deletes).
    pub(super) target_id: Option<String>,
    /// The operations that wait for this one, ascending.
    pub(super) successors: Vec<usize>,
    /// How many operations this one waits for.
    pub(super) predecessors: usize,
}

/// Whether a step leaves the resource with outputs that references read
/// once it has finished.
pub(super) fn yields_outputs(step: Step) -> bool {
    matches!(step, Step::Create | Step::CreateReplacement | Step::Update)
}

/// The addresses whose outputs are known only once their operation has
/// finished.
pub(super) fn with_pending_outputs(ops: &[Op]) -> BTreeSet<Address> {
    ops.iter()
        .filter(|o| yields_outputs(o.step))
        .map(|o| o.address.clone())
        .collect()
}

/// Turns plan changes into operations with their ordering: one operation
/// per change (two for a replacement), in the order of the changes, each
/// with the operations that must wait for it.
pub(super) fn build_ops(plan: &Plan, state: &State) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    let mut forward: HashMap<Address, usize> = HashMap::new();
    let mut deletes: HashMap<Address, usize> = HashMap::new();
    let mut deposed: Vec<usize> = Vec::new();
    let push = |ops: &mut Vec<Op>, address: &Address, step, change, target_id: Option<String>| {
        ops.push(Op {
            address: address.clone(),
            step,
            change,
            target_id,
            successors: Vec::new(),
            predecessors: 0,
        });
        ops.len() - 1
    };
    for (ci, c) in plan.changes.iter().enumerate() {
        match c.action {
            Action::Create => {
                forward.insert(
                    c.address.clone(),
                    push(&mut ops, &c.address, Step::Create, ci, None),
                );
            }
            Action::Update => {
                forward.insert(
                    c.address.clone(),
                    push(&mut ops, &c.address, Step::Update, ci, c.target_id.clone()),
                );
            }
            Action::Delete => {
                deletes.insert(
                    c.address.clone(),
                    push(&mut ops, &c.address, Step::Delete, ci, c.target_id.clone()),
                );
            }
            Action::DeleteDeposed => {
                deposed.push(push(
                    &mut ops,
                    &c.address,
                    Step::DeleteDeposed,
                    ci,
                    c.target_id.clone(),
                ));
            }
            Action::Replace if c.create_before_destroy => {
                forward.insert(
                    c.address.clone(),
                    push(&mut ops, &c.address, Step::CreateReplacement, ci, None),
                );
                deposed.push(push(
                    &mut ops,
                    &c.address,
                    Step::DeleteDeposed,
                    ci,
                    c.target_id.clone(),
                ));
            }
            Action::Replace => {
                let d = push(&mut ops, &c.address, Step::Delete, ci, c.target_id.clone());
                let f = push(&mut ops, &c.address, Step::Create, ci, None);
                deletes.insert(c.address.clone(), d);
                forward.insert(c.address.clone(), f);
            }
        }
    }
    let mut edges: Vec<(usize, usize)> = Vec::new();
    // Forward operations follow their dependencies' forward operations; a
    // delete-then-create follows its own delete.
    for c in &plan.changes {
        if let Some(&f) = forward.get(&c.address) {
            for d in &c.dependencies {
                if let Some(&df) = forward.get(d) {
                    edges.push((df, f));
                }
            }
            if let Some(&del) = deletes.get(&c.address) {
                edges.push((del, f));
            }
        }
    }
    // Deletes run after the deletes of whatever depended on the resource,
    // as recorded in state (the config may no longer mention it).
    let state_deps = |a: &Address| -> Vec<Address> {
        state
            .get(a)
            .map(|r| r.dependencies.clone())
            .or_else(|| {
                state
                    .deposed
                    .iter()
                    .find(|d| &d.address == a)
                    .map(|d| d.dependencies.clone())
            })
            .unwrap_or_default()
    };
    for (a, &del) in &deletes {
        for dep in state_deps(a) {
            if let Some(&dd) = deletes.get(&dep) {
                edges.push((del, dd));
            }
        }
    }
    // A deposed object goes once everything that used it has moved on.
    for &dp in &deposed {
        let a = ops[dp].address.clone();
        if let Some(&f) = forward.get(&a) {
            edges.push((f, dp));
        }
        for c in &plan.changes {
            if c.dependencies.contains(&a)
                && let Some(&f) = forward.get(&c.address)
            {
                edges.push((f, dp));
            }
        }
        for (b, &del) in &deletes {
            if state_deps(b).contains(&a) {
                edges.push((del, dp));
            }
        }
        // ...and before what it depended on goes: the old object still
        // holds its dependencies' ids (a subnet its VPC's).
        let id = ops[dp].target_id.as_deref();
        let its_deps = state
            .deposed
            .iter()
            .find(|d| d.address == a && Some(d.id.as_str()) == id)
            .map(|d| d.dependencies.clone())
            .unwrap_or_else(|| state_deps(&a));
        for dep in its_deps {
            for &other in &deposed {
                if ops[other].address == dep {
                    edges.push((dp, other));
                }
            }
            // A dependency deleted and created again in this run is not
            // waited for: that would be a cycle (its new object must exist
            // before ours, which must exist before the deposed one goes).
            if let Some(&dd) = deletes.get(&dep)
                && !forward.contains_key(&dep)
            {
                edges.push((dp, dd));
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    for (from, to) in edges {
        if from != to {
            ops[from].successors.push(to);
            ops[to].predecessors += 1;
        }
    }
    ops
}

/// Refuses operations that cannot be ordered, naming them.
pub(super) fn check_acyclic(ops: &[Op]) -> Result<(), EngineError> {
    let mut indegree: Vec<usize> = ops.iter().map(|o| o.predecessors).collect();
    let mut queue: Vec<usize> = (0..ops.len()).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = queue.pop() {
        seen += 1;
        for &s in &ops[i].successors {
            indegree[s] -= 1;
            if indegree[s] == 0 {
                queue.push(s);
            }
        }
    }
    if seen == ops.len() {
        Ok(())
    } else {
        let stuck: Vec<String> = (0..ops.len())
            .filter(|&i| indegree[i] > 0)
            .map(|i| format!("{} ({:?})", ops[i].address, ops[i].step))
            .collect();
        Err(EngineError::Diagnostics(vec![infra_core::Diagnostic::error(format!(
            "these operations cannot be ordered: {}",
            stuck.join(", ")
        ))
        .hint("mixing create_before_destroy with resources replaced the other way round can do this; set create_before_destroy the same on both")]))
    }
}

#[cfg(test)]
mod tests {
    //! Each row is a small plan against a small state. Changes are written
    //! `<action> <name>[#<target id>] [<- <dependencies>]` with actions
    //! `create`, `update`, `replace` (delete then create), `replace-cbd`
    //! (create before destroy), `delete` and `delete-deposed`; state as
    //! `<name> [<- <dependencies>]` (id `<name>-id`) or
    //! `deposed <name>#<id> [<- <dependencies>]`. Operations are written
    //! `<Step> <name>`, deposed deletes `DeleteDeposed <name>#<id>`.

    use infra_core::Value;

    use super::*;
    use crate::plan::{PLAN_VERSION, PlanMode, ResourceChange, Summary};
    use crate::state::{Deposed, ResourceState};

    struct Case {
        name: &'static str,
        state: &'static [&'static str],
        changes: &'static [&'static str],
        /// Every operation, in order.
        ops: &'static [&'static str],
        /// `(a, b)`: `b` waits, directly or not, for `a`.
        before: &'static [(&'static str, &'static str)],
        /// Neither waits for the other: they may run in parallel.
        unordered: &'static [(&'static str, &'static str)],
    }

    fn addr(name: &str) -> Address {
        Address::new("t", name).unwrap()
    }

    /// `head <- a b` as `head` and the addresses `a`, `b`.
    fn split_deps(line: &str) -> (&str, Vec<Address>) {
        match line.split_once(" <- ") {
            Some((head, deps)) => (head, deps.split_whitespace().map(addr).collect()),
            None => (line, Vec::new()),
        }
    }

    fn state_of(lines: &[&str]) -> State {
        let mut state = State::new();
        for line in lines {
            let (head, dependencies) = split_deps(line);
            if let Some(deposed) = head.strip_prefix("deposed ") {
                let (name, id) = deposed.split_once('#').expect("deposed name#id");
                state.deposed.push(Deposed {
                    address: addr(name),
                    id: id.to_owned(),
                    inputs: Value::map(),
                    outputs: Value::map(),
                    dependencies,
                });
            } else {
                state.put(ResourceState {
                    address: addr(head),
                    id: format!("{head}-id"),
                    inputs: Value::map(),
                    outputs: Value::map(),
                    dependencies,
                    prevent_destroy: false,
                    created_at: String::new(),
                    updated_at: String::new(),
                });
            }
        }
        state
    }

    fn plan_of(lines: &[&str]) -> Plan {
        let changes = lines
            .iter()
            .map(|line| {
                let (head, dependencies) = split_deps(line);
                let (verb, target) = head.split_once(' ').expect("action and name");
                let (name, id) = match target.split_once('#') {
                    Some((name, id)) => (name, id.to_owned()),
                    None => (target, format!("{target}-id")),
                };
                let (action, create_before_destroy) = match verb {
                    "create" => (Action::Create, false),
                    "update" => (Action::Update, false),
                    "replace" => (Action::Replace, false),
                    "replace-cbd" => (Action::Replace, true),
                    "delete" => (Action::Delete, false),
                    "delete-deposed" => (Action::DeleteDeposed, false),
                    other => panic!("unknown action `{other}`"),
                };
                ResourceChange {
                    address: addr(name),
                    action,
                    reason: None,
                    target_id: (action != Action::Create).then_some(id),
                    attributes: Vec::new(),
                    after: None,
                    dependencies,
                    create_before_destroy,
                    prevent_destroy: false,
                    timeout_ms: 0,
                }
            })
            .collect();
        Plan {
            version: PLAN_VERSION,
            stack: "test".into(),
            mode: PlanMode::Apply,
            lineage: None,
            serial: 0,
            config_hash: String::new(),
            drift: Vec::new(),
            changes,
            state_only: Vec::new(),
            summary: Summary::default(),
            estimate_ms: 0,
            warnings: Vec::new(),
            missing_env: Vec::new(),
            unset: Vec::new(),
        }
    }

    fn label(op: &Op) -> String {
        match (op.step, &op.target_id) {
            (Step::DeleteDeposed, Some(id)) => format!("{:?} {}#{id}", op.step, op.address.name),
            _ => format!("{:?} {}", op.step, op.address.name),
        }
    }

    /// Whether `to` waits, directly or not, for `from`.
    fn reaches(ops: &[Op], from: usize, to: usize) -> bool {
        let mut stack = vec![from];
        let mut seen = BTreeSet::new();
        while let Some(i) = stack.pop() {
            for &s in &ops[i].successors {
                if s == to {
                    return true;
                }
                if seen.insert(s) {
                    stack.push(s);
                }
            }
        }
        false
    }

    fn check(cases: &[Case]) {
        for case in cases {
            let plan = plan_of(case.changes);
            let ops = build_ops(&plan, &state_of(case.state));
            let labels: Vec<String> = ops.iter().map(label).collect();
            assert_eq!(labels, case.ops, "{}: operations", case.name);
            for op in &ops {
                assert_eq!(
                    plan.changes[op.change].address,
                    op.address,
                    "{}: {} belongs to its own change",
                    case.name,
                    label(op)
                );
            }
            for (i, op) in ops.iter().enumerate() {
                let waits_for = ops.iter().filter(|o| o.successors.contains(&i)).count();
                assert_eq!(
                    op.predecessors,
                    waits_for,
                    "{}: predecessors of {}",
                    case.name,
                    label(op)
                );
            }
            assert!(
                check_acyclic(&ops).is_ok(),
                "{}: operations can be ordered",
                case.name
            );
            let index = |l: &str| {
                labels
                    .iter()
                    .position(|x| x == l)
                    .unwrap_or_else(|| panic!("{}: no operation `{l}`", case.name))
            };
            for (a, b) in case.before {
                assert!(
                    reaches(&ops, index(a), index(b)),
                    "{}: `{a}` must come before `{b}`",
                    case.name
                );
                assert!(
                    !reaches(&ops, index(b), index(a)),
                    "{}: `{b}` must not come before `{a}`",
                    case.name
                );
            }
            for (a, b) in case.unordered {
                assert!(
                    !reaches(&ops, index(a), index(b)) && !reaches(&ops, index(b), index(a)),
                    "{}: `{a}` and `{b}` must not wait for each other",
                    case.name
                );
            }
        }
    }

    #[test]
    fn creates_and_updates_follow_their_dependencies() {
        check(&[
            Case {
                name: "creates after what they reference",
                state: &[],
                changes: &["create a", "create b <- a", "create c <- a"],
                ops: &["Create a", "Create b", "Create c"],
                before: &[("Create a", "Create b"), ("Create a", "Create c")],
                unordered: &[("Create b", "Create c")],
            },
            Case {
                name: "an update after a new dependency",
                state: &["a"],
                changes: &["create v", "update a <- v"],
                ops: &["Create v", "Update a"],
                before: &[("Create v", "Update a")],
                unordered: &[],
            },
            Case {
                name: "unchanged dependencies are not waited for",
                state: &["v", "a <- v"],
                changes: &["update a <- v"],
                ops: &["Update a"],
                before: &[],
                unordered: &[],
            },
            Case {
                name: "a chain of creates",
                state: &[],
                changes: &["create a", "create b <- a", "create c <- b"],
                ops: &["Create a", "Create b", "Create c"],
                before: &[("Create a", "Create b"), ("Create b", "Create c")],
                unordered: &[],
            },
        ]);
    }

    #[test]
    fn replacements_order_their_two_halves() {
        check(&[
            Case {
                name: "delete then create",
                state: &["a"],
                changes: &["replace a"],
                ops: &["Delete a", "Create a"],
                before: &[("Delete a", "Create a")],
                unordered: &[],
            },
            Case {
                name: "create replacement before delete deposed",
                state: &["a"],
                changes: &["replace-cbd a"],
                ops: &["CreateReplacement a", "DeleteDeposed a#a-id"],
                before: &[("CreateReplacement a", "DeleteDeposed a#a-id")],
                unordered: &[],
            },
            Case {
                name: "dependents move to the replacement before the deposed object goes",
                state: &["v", "a <- v"],
                changes: &["replace-cbd v", "update a <- v"],
                ops: &["CreateReplacement v", "DeleteDeposed v#v-id", "Update a"],
                before: &[
                    ("CreateReplacement v", "Update a"),
                    ("Update a", "DeleteDeposed v#v-id"),
                ],
                unordered: &[],
            },
            Case {
                name: "a dependent created after its dependency is deleted and created again",
                state: &["v", "a <- v"],
                changes: &["replace v", "replace a <- v"],
                ops: &["Delete v", "Create v", "Delete a", "Create a"],
                before: &[
                    ("Delete v", "Create v"),
                    ("Delete a", "Delete v"),
                    ("Create v", "Create a"),
                ],
                unordered: &[],
            },
            Case {
                name: "the deposed object of a dependent of a replaced-first dependency",
                // Waiting for the old v to go would be a cycle: the new v
                // comes before the new x, which comes before the old x goes.
                state: &["v", "x <- v"],
                changes: &["replace v", "replace-cbd x <- v"],
                ops: &[
                    "Delete v",
                    "Create v",
                    "CreateReplacement x",
                    "DeleteDeposed x#x-id",
                ],
                before: &[
                    ("Delete v", "Create v"),
                    ("Create v", "CreateReplacement x"),
                    ("CreateReplacement x", "DeleteDeposed x#x-id"),
                ],
                unordered: &[],
            },
        ]);
    }

    #[test]
    fn deletes_go_dependents_first() {
        check(&[
            Case {
                name: "delete b before delete a",
                state: &["a", "b <- a"],
                changes: &["delete b", "delete a"],
                ops: &["Delete b", "Delete a"],
                before: &[("Delete b", "Delete a")],
                unordered: &[],
            },
            Case {
                name: "the order comes from state, not from the plan's order",
                state: &["a", "b <- a", "c <- b"],
                changes: &["delete a", "delete b", "delete c"],
                ops: &["Delete a", "Delete b", "Delete c"],
                before: &[("Delete c", "Delete b"), ("Delete b", "Delete a")],
                unordered: &[],
            },
            Case {
                name: "unrelated deletes run in parallel",
                state: &["a", "b"],
                changes: &["delete a", "delete b"],
                ops: &["Delete a", "Delete b"],
                before: &[],
                unordered: &[("Delete a", "Delete b")],
            },
            Case {
                name: "a delete does not wait for creates",
                state: &["a"],
                changes: &["create b", "delete a"],
                ops: &["Create b", "Delete a"],
                before: &[],
                unordered: &[("Create b", "Delete a")],
            },
        ]);
    }

    #[test]
    fn deposed_objects_go_after_their_users_and_before_their_dependencies() {
        check(&[
            Case {
                // The bug the crash harness found.
                name: "deposed of x deleted before the object it depended on",
                state: &["v", "deposed x#old <- v"],
                changes: &["delete v", "delete-deposed x#old"],
                ops: &["Delete v", "DeleteDeposed x#old"],
                before: &[("DeleteDeposed x#old", "Delete v")],
                unordered: &[],
            },
            Case {
                name: "deposed of x deleted before the deposed object it depended on",
                state: &["deposed x#old <- v", "deposed v#vold"],
                changes: &["delete-deposed x#old", "delete-deposed v#vold"],
                ops: &["DeleteDeposed x#old", "DeleteDeposed v#vold"],
                before: &[("DeleteDeposed x#old", "DeleteDeposed v#vold")],
                unordered: &[],
            },
            Case {
                name: "a deposed object uses its own recorded dependencies",
                state: &["v", "w", "x <- w", "deposed x#old <- v"],
                changes: &["delete x", "delete w", "delete v", "delete-deposed x#old"],
                ops: &["Delete x", "Delete w", "Delete v", "DeleteDeposed x#old"],
                before: &[
                    ("Delete x", "Delete w"),
                    ("DeleteDeposed x#old", "Delete v"),
                ],
                unordered: &[("DeleteDeposed x#old", "Delete w")],
            },
            Case {
                name: "the object a replacement deposes goes before what it depended on",
                state: &["v", "x <- v"],
                changes: &["replace-cbd x", "delete v"],
                ops: &["CreateReplacement x", "DeleteDeposed x#x-id", "Delete v"],
                before: &[
                    ("CreateReplacement x", "DeleteDeposed x#x-id"),
                    ("DeleteDeposed x#x-id", "Delete v"),
                ],
                unordered: &[],
            },
            Case {
                name: "a deposed object waits for the deletes of what used it",
                state: &["b <- v", "deposed v#old"],
                changes: &["delete b", "delete-deposed v#old"],
                ops: &["Delete b", "DeleteDeposed v#old"],
                before: &[("Delete b", "DeleteDeposed v#old")],
                unordered: &[],
            },
            Case {
                name: "a deposed object waits for the updates of what uses its address",
                state: &["v", "a <- v", "deposed v#old"],
                changes: &["update a <- v", "delete-deposed v#old"],
                ops: &["Update a", "DeleteDeposed v#old"],
                before: &[("Update a", "DeleteDeposed v#old")],
                unordered: &[],
            },
        ]);
    }

    #[test]
    fn operations_that_cannot_be_ordered_are_refused() {
        // A crash between updates can record a cycle in state.
        let plan = plan_of(&["delete a", "delete b", "create c"]);
        let ops = build_ops(&plan, &state_of(&["a <- b", "b <- a"]));
        let Err(EngineError::Diagnostics(d)) = check_acyclic(&ops) else {
            panic!("a cycle of deletes is refused");
        };
        let message = d[0].to_string();
        assert!(
            message.contains("t.a (Delete)") && message.contains("t.b (Delete)"),
            "{message}"
        );
        assert!(!message.contains("t.c"), "{message}");
    }
}
