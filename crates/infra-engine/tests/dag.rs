//! Property tests on random DAGs of simulated resources: dependencies are
//! respected, the parallelism bound holds, a second plan after apply is
//! empty, and destroy leaves the simulated cloud empty.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use infra_core::{Address, Registry, Value};
use infra_engine::{
    ApplyOptions, Engine, Event, EventKind, Interrupt, LockOptions, PlanOptions, SecretKey, Stack,
    StackBuilder, Step,
};
use infra_stack::{Expr, Reference};
use proptest::prelude::*;

/// A random DAG: node i may depend on any j < i.
#[derive(Debug, Clone)]
struct Dag {
    /// deps[i] = the nodes i depends on, and whether through a reference
    /// (true) or `depends_on` (false).
    deps: Vec<Vec<(usize, bool)>>,
    latency_ms: Vec<i64>,
    parallelism: usize,
}

fn dag() -> impl Strategy<Value = Dag> {
    (1usize..28, 1usize..6).prop_flat_map(|(n, parallelism)| {
        let deps = (0..n)
            .map(|i| proptest::collection::vec((0..i.max(1), any::<bool>()), 0..=i.min(3)))
            .collect::<Vec<_>>();
        (deps, proptest::collection::vec(0i64..4, n)).prop_map(move |(deps, latency_ms)| Dag {
            deps: deps
                .into_iter()
                .enumerate()
                .map(|(i, d)| d.into_iter().filter(|(j, _)| *j < i).collect())
                .collect(),
            latency_ms,
            parallelism,
        })
    })
}

fn address(i: usize) -> Address {
    Address::new("sim_resource", &format!("r{i}")).unwrap()
}

fn stack(dag: &Dag, root: &std::path::Path) -> Stack {
    let mut b = StackBuilder::new("p", root)
        .settings("sim", [("dir", Value::from(".sim"))].into_iter().collect());
    for (i, deps) in dag.deps.iter().enumerate() {
        let refs: Vec<Expr> = deps
            .iter()
            .filter(|(_, by_ref)| *by_ref)
            .map(|(j, _)| Expr::Ref(Reference::parse(&format!("sim_resource.r{j}.id")).unwrap()))
            .collect();
        let explicit: Vec<Address> = deps
            .iter()
            .filter(|(_, r)| !*r)
            .map(|(j, _)| address(*j))
            .collect();
        let mut inputs = BTreeMap::new();
        inputs.insert("payload".to_owned(), Expr::List(refs));
        inputs.insert(
            "create_ms".to_owned(),
            Expr::Literal(Value::Int(dag.latency_ms[i])),
        );
        inputs.insert(
            "delete_ms".to_owned(),
            Expr::Literal(Value::Int(dag.latency_ms[i])),
        );
        b = b.resource(address(i), inputs, explicit);
    }
    b.build()
}

fn engine(events: Arc<Mutex<Vec<Event>>>) -> Engine {
    let mut registry = Registry::new();
    registry.register(Arc::new(infra_sim::SimProvider::default()));
    Engine::new(registry)
        .with_secret_key(SecretKey::from_bytes(b"k"))
        .with_events(Arc::new(move |e: &Event| {
            events.lock().unwrap().push(e.clone())
        }))
}

/// Checks order and concurrency from the event stream: each operation
/// starts after the operations it must follow finished, and no more than
/// `parallelism` run at once.
fn check_events(events: &[Event], dag: &Dag, destroy: bool) -> Result<(), TestCaseError> {
    let mut started: HashMap<Address, u64> = HashMap::new();
    let mut finished: HashMap<Address, u64> = HashMap::new();
    let mut running = 0usize;
    let mut max = 0usize;
    for e in events {
        match &e.kind {
            EventKind::OperationStarted { address, step } => {
                prop_assert!(matches!(step, Step::Create | Step::Delete));
                started.insert(address.clone(), e.seq);
                running += 1;
                max = max.max(running);
            }
            EventKind::OperationFinished { address, .. } => {
                finished.insert(address.clone(), e.seq);
                running -= 1;
            }
            EventKind::OperationFailed { .. } => prop_assert!(false, "no operation should fail"),
            _ => {}
        }
    }
    prop_assert!(
        max <= dag.parallelism,
        "{max} ran at once, bound {}",
        dag.parallelism
    );
    prop_assert_eq!(finished.len(), dag.deps.len());
    for (i, deps) in dag.deps.iter().enumerate() {
        for (j, _) in deps {
            let (first, then) = if destroy {
                (address(i), address(*j))
            } else {
                (address(*j), address(i))
            };
            prop_assert!(
                finished[&first] < started[&then],
                "{then} started before {first} finished"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_dags_apply_in_order_and_destroy_to_nothing(dag in dag()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let stack = stack(&dag, dir.path());
            let events = Arc::new(Mutex::new(Vec::new()));
            let engine = engine(events.clone());
            let opts = ApplyOptions { parallelism: dag.parallelism, interrupt: Interrupt::never() };

            let mut s = engine.open(&stack, &LockOptions::new("apply")).await.unwrap();
            let plan = s.plan(&PlanOptions { refresh: true, ..Default::default() }).await.unwrap();
            prop_assert_eq!(plan.summary.add, dag.deps.len());
            let report = s.apply(&plan, &opts).await.unwrap();
            prop_assert!(report.succeeded(), "{:?}", report);
            let second = s.plan(&PlanOptions { refresh: true, ..Default::default() }).await.unwrap();
            prop_assert!(!second.has_changes(), "second plan: {:?}", second.changes);
            s.close().await.unwrap();
            check_events(&events.lock().unwrap(), &dag, false)?;

            events.lock().unwrap().clear();
            let mut s = engine.open(&stack, &LockOptions::new("destroy")).await.unwrap();
            let plan = s.plan(&PlanOptions { destroy: true, refresh: true, ..Default::default() }).await.unwrap();
            let report = s.apply(&plan, &opts).await.unwrap();
            prop_assert!(report.succeeded(), "{:?}", report);
            s.close().await.unwrap();
            check_events(&events.lock().unwrap(), &dag, true)?;

            let sim = dir.path().join(".sim");
            prop_assert!(infra_sim::live_resources(&sim).unwrap().is_empty());
            for (address, entry) in infra_sim::ledger(&sim).unwrap() {
                prop_assert_eq!(entry.creates, 1, "{} created {} times", address, entry.creates);
                prop_assert_eq!(entry.deletes, 1);
                prop_assert!(!entry.live);
            }
            Ok(())
        })?;
    }
}
