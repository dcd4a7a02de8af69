//! Whatever the loader accepts, state, journal and saved plans hold and
//! read back unchanged, and it plans as no change once applied: generated
//! values (marker-shaped keys, `$` keys, odd strings, floats, nesting up to
//! the limit) go through a stack file, the loader and the planner, then
//! through each format.

use std::sync::Arc;

use infra_core::{MAX_NESTING, Registry, Value};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

use crate::graph::DepGraph;
use crate::journal::{self, Intent, Outcome, Record, Step};
use crate::plan::{Plan, PlanOptions, Planner, diff};
use crate::secrets::SecretKey;
use crate::state::{ResourceState, State};

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(infra_sim::SimProvider::default()));
    r
}

/// A TOML rendering of `v`, inline.
fn toml(v: &Value) -> String {
    match v {
        Value::Null => unreachable!("TOML has no null"),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => "nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.into(),
        Value::Float(f) => format!("{f:?}"),
        Value::String(s) => serde_json::to_string(s).unwrap(),
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(toml).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Map(m) => {
            let entries: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{} = {}", serde_json::to_string(k).unwrap(), toml(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
        Value::Sensitive(_) | Value::Unknown => unreachable!("not generated"),
    }
}

/// Strings without `${` (which would be a reference in a stack file).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("$sensitive".to_owned()),
        Just("$unknown".to_owned()),
        Just("$$sensitive".to_owned()),
        Just("$".to_owned()),
        Just(String::new()),
        "[a-z$ \"\\\\.\u{e9}\u{1F600}\n\t]{0,8}"
            .prop_filter("no references", |s| !s.contains("${")),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        text().prop_map(Value::String),
        Just(Value::Bool(true)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::btree_map(text(), inner, 0..4).prop_map(Value::Map),
        ]
    })
}

/// `v` wrapped in single-entry tables until it is `depth` deep, the keys
/// shaped like markers.
fn deepen(mut v: Value, depth: usize) -> Value {
    let keys = ["$sensitive", "$unknown", "$$x", "a"];
    let mut i = 0;
    while v.nesting() < depth {
        v = Value::Map([(keys[i % keys.len()].to_owned(), v)].into_iter().collect());
        i += 1;
    }
    v
}

/// The inputs the loader and planner make of `payload = <v>`, or `None`
/// if the loader refuses it.
fn planned(registry: &Registry, dir: &std::path::Path, v: &Value) -> Option<(Plan, Value)> {
    std::fs::create_dir_all(dir.join("stacks")).unwrap();
    let text = format!("[resources.sim_resource.a]\npayload = {}\n", toml(v));
    std::fs::write(dir.join("stacks/x.toml"), text).unwrap();
    let loaded = infra_stack::load_stack(dir, "x", registry, &|_| None);
    let stack = loaded.stack?;
    if loaded.diagnostics.iter().any(|d| d.is_error()) {
        return None;
    }
    let graph = DepGraph::build(&stack).ok()?;
    let state = State::new();
    let key = SecretKey::from_bytes(b"k");
    let plan = Planner {
        stack: &stack,
        graph: &graph,
        state: &state,
        registry,
        key: &key,
    }
    .plan(&PlanOptions::default(), Vec::new())
    .ok()?;
    let after = plan.changes[0].after.clone().unwrap();
    Some((plan, after))
}

fn check_round_trips(registry: &Registry, dir: &std::path::Path, v: &Value) -> bool {
    let Some((plan, inputs)) = planned(registry, dir, v) else {
        return false;
    };
    let address: infra_core::Address = "sim_resource.a".parse().unwrap();
    let schema = registry.get("sim_resource").unwrap().schema().clone();

    // State.
    let mut state = State::new();
    state.put(ResourceState {
        address: address.clone(),
        id: "i".into(),
        inputs: inputs.clone(),
        outputs: inputs.clone(),
        dependencies: Vec::new(),
        prevent_destroy: false,
        created_at: String::new(),
        updated_at: String::new(),
    });
    let decoded = State::decode(&state.encode(), "state").expect("state reads back");
    let back = decoded.get(&address).unwrap();
    assert_eq!(back.inputs, inputs);
    assert_eq!(back.outputs, inputs);
    assert!(diff(&schema, &inputs, &back.inputs).is_empty());

    // Journal.
    let records = [
        Record::Begin {
            version: journal::JOURNAL_VERSION,
            lineage: state.lineage.clone(),
            base_serial: 0,
            operation: "apply".into(),
            started: String::new(),
        },
        Record::Intent(Intent {
            seq: 1,
            address: address.clone(),
            step: Step::Create,
            token: "t".into(),
            target_id: None,
            inputs: Some(inputs.clone()),
            dependencies: Vec::new(),
            prevent_destroy: false,
        }),
        Record::Result {
            seq: 1,
            outcome: Outcome::Applied {
                id: "i".into(),
                inputs: inputs.clone(),
                outputs: inputs.clone(),
            },
        },
    ];
    let parsed = journal::parse(&journal::encode(&records), "journal").expect("journal reads back");
    let (intent, outcome) = &parsed.entries[0];
    assert_eq!(intent.inputs.as_ref(), Some(&inputs));
    assert!(
        matches!(outcome, Some(Outcome::Applied { inputs: i, outputs: o, .. }) if *i == inputs && *o == inputs)
    );

    // Saved plan.
    let key = SecretKey::from_bytes(b"k");
    let read = crate::planfile::decode(&crate::planfile::encode(&plan, &key), &key, "plan")
        .expect("plan reads back");
    assert_eq!(read, plan);

    // Applied, it plans as no change.
    let stack = infra_stack::load_stack(dir, "x", registry, &|_| None)
        .stack
        .unwrap();
    let graph = DepGraph::build(&stack).unwrap();
    let again = Planner {
        stack: &stack,
        graph: &graph,
        state: &decoded,
        registry,
        key: &key,
    }
    .plan(&PlanOptions::default(), Vec::new())
    .unwrap();
    assert!(!again.has_changes(), "{:?}", again.changes);
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn accepted_values_round_trip(v in value()) {
        let dir = tempfile::tempdir().unwrap();
        check_round_trips(&registry(), dir.path(), &v);
    }
}

#[test]
fn values_at_the_nesting_limit_round_trip() {
    let registry = registry();
    let dir = tempfile::tempdir().unwrap();
    for leaf in [Value::String("$sensitive".into()), Value::List(Vec::new())] {
        let deepest = deepen(leaf, MAX_NESTING);
        assert_eq!(deepest.nesting(), MAX_NESTING);
        assert!(
            check_round_trips(&registry, dir.path(), &deepest),
            "the loader accepts a value {MAX_NESTING} deep"
        );
    }
    let too_deep = deepen(Value::Int(1), MAX_NESTING + 1);
    assert!(planned(&registry, dir.path(), &too_deep).is_none());
}

#[test]
fn most_generated_values_are_accepted() {
    // The property is not vacuous: the loader takes what is generated.
    let registry = registry();
    let dir = tempfile::tempdir().unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let accepted = (0..64)
        .filter(|_| {
            let v = value().new_tree(&mut runner).unwrap().current();
            check_round_trips(&registry, dir.path(), &v)
        })
        .count();
    assert!(accepted >= 48, "only {accepted} of 64 accepted");
}
