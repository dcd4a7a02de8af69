//! End-to-end behaviour of the engine against an in-memory cloud: plans,
//! applies, replacement orders, failures, interrupts, secrets, recovery.

mod support;

use std::time::Duration;

use infra_engine::{Action, ApplyOptions, EventKind, Interrupt, LockOptions, PlanOptions, Stack};
use infra_stack::Expr;
use support::*;

fn chain(w: &World) -> Stack {
    // a <- b <- c, b reads a's computed arn
    w.stack()
        .resource(addr("mem.a"), inputs(vec![("value", lit("A"))]), vec![])
        .resource(
            addr("mem.b"),
            inputs(vec![("value", reference("mem.a.arn"))]),
            vec![],
        )
        .resource(
            addr("mem.c"),
            inputs(vec![("value", reference("mem.b.value"))]),
            vec![],
        )
        .build()
}

fn refresh() -> PlanOptions {
    PlanOptions {
        refresh: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn apply_converges_and_a_second_plan_is_empty() {
    let w = World::new();
    let stack = chain(&w);
    let (plan, report) = w.apply(&stack).await;
    assert_eq!(plan.summary.add, 3);
    assert_eq!(
        plan.changes[1].after.as_ref().unwrap().get("value"),
        Some(&infra_core::Value::Unknown)
    );
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(w.cloud.live(), ["mem.a", "mem.b", "mem.c"]);
    let log = w.cloud.log.lock().unwrap().clone();
    assert_eq!(log, ["create mem.a", "create mem.b", "create mem.c"]);
    let again = w.plan(&stack, refresh()).await;
    assert!(!again.has_changes(), "{:?}", again.changes);
    // c got b's value, which was a's arn.
    let state = w.state_text();
    assert!(state.contains("\"value\": \"arn:id-"), "{state}");
}

#[tokio::test]
async fn changes_are_classified_from_the_schema() {
    let w = World::new();
    w.apply(&chain(&w)).await;
    let mut stack = chain(&w);
    stack.resources[0].inputs.insert("value".into(), lit("A2"));
    let plan = w.plan(&stack, refresh()).await;
    let actions: Vec<(String, Action)> = plan
        .changes
        .iter()
        .map(|c| (c.address.to_string(), c.action))
        .collect();
    assert_eq!(actions, [("mem.a".to_owned(), Action::Update)]);

    stack.resources[0].inputs.insert("key".into(), lit("k"));
    let plan = w.plan(&stack, refresh()).await;
    let actions: Vec<(String, Action)> = plan
        .changes
        .iter()
        .map(|c| (c.address.to_string(), c.action))
        .collect();
    // a is replaced; b reads a's arn, which becomes unknown: b updates;
    // c reads b's input value, which is unknown too.
    assert_eq!(
        actions,
        [
            ("mem.a".to_owned(), Action::Replace),
            ("mem.b".to_owned(), Action::Update),
            ("mem.c".to_owned(), Action::Update)
        ]
    );
    let (_, report) = w.apply(&stack).await;
    assert!(report.succeeded());
    assert_eq!(report.summary.replaced, 1);
    assert_eq!(w.cloud.live(), ["mem.a", "mem.b", "mem.c"]);
    assert!(!w.plan(&stack, refresh()).await.has_changes());
}

#[tokio::test]
async fn create_before_destroy_creates_first_and_leaves_no_orphan() {
    let w = World::new();
    let mut stack = chain(&w);
    w.apply(&stack).await;
    w.cloud.log.lock().unwrap().clear();
    stack.resources[0].inputs.insert("key".into(), lit("k"));
    stack.resources[0].lifecycle.create_before_destroy = true;
    let (_, report) = w.apply(&stack).await;
    assert!(report.succeeded(), "{report:?}");
    let log = w.cloud.log.lock().unwrap().clone();
    let at = |op: &str| log.iter().position(|l| l == op).unwrap();
    // The old object goes only after its replacement exists and its direct
    // dependent has moved to the new one.
    assert_eq!(log[0], "create mem.a");
    assert!(at("delete mem.a") > at("update mem.b"), "{log:?}");
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(w.cloud.live(), ["mem.a", "mem.b", "mem.c"]);
    assert!(!w.state_text().contains("deposed"));
}

#[tokio::test]
async fn a_failure_skips_only_its_dependents() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(
            addr("mem.bad"),
            inputs(vec![("fail", lit("create"))]),
            vec![],
        )
        .resource(
            addr("mem.child"),
            inputs(vec![("value", reference("mem.bad.arn"))]),
            vec![],
        )
        .resource(
            addr("mem.free"),
            inputs(vec![("delay_ms", lit(20))]),
            vec![],
        )
        .build();
    let (_, report) = w.apply(&stack).await;
    assert!(!report.succeeded());
    assert_eq!(report.summary.failed, 1);
    assert_eq!(report.summary.skipped, 1);
    assert_eq!(report.summary.created, 1);
    assert_eq!(w.cloud.live(), ["mem.free"]);
    let events = w.events.lock().unwrap();
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::OperationSkipped { address, .. } if address.to_string() == "mem.child")));
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|p| p[1] == p[0] + 1),
        "sequence numbers are consecutive"
    );
}

#[tokio::test]
async fn prevent_destroy_is_kept_in_state() {
    let w = World::new();
    let mut stack = chain(&w);
    stack.resources[2].lifecycle.prevent_destroy = true;
    w.apply(&stack).await;
    // The config block disappears; state still protects the resource.
    let without: Stack = w
        .stack()
        .resource(addr("mem.a"), inputs(vec![("value", lit("A"))]), vec![])
        .resource(
            addr("mem.b"),
            inputs(vec![("value", reference("mem.a.arn"))]),
            vec![],
        )
        .build();
    let mut s = w
        .engine
        .open(&without, &LockOptions::new("plan"))
        .await
        .unwrap();
    let err = s.plan(&refresh()).await.unwrap_err().to_string();
    s.close().await.unwrap();
    assert!(err.contains("refusing to destroy `mem.c`"), "{err}");
    let mut s = w
        .engine
        .open(&stack, &LockOptions::new("destroy"))
        .await
        .unwrap();
    let err = s
        .plan(&PlanOptions {
            destroy: true,
            ..Default::default()
        })
        .await
        .unwrap_err()
        .to_string();
    s.close().await.unwrap();
    assert!(err.contains("prevent_destroy"), "{err}");
    assert_eq!(w.cloud.live().len(), 3);
}

#[tokio::test]
async fn secrets_reach_the_provider_but_never_the_disk() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(
            addr("mem.db"),
            inputs(vec![
                ("secret", lit("hunter2-sentinel")),
                (
                    "value",
                    Expr::FromEnv {
                        var: "PW".into(),
                        value: Some("env-sentinel".into()),
                    },
                ),
            ]),
            vec![],
        )
        .build();
    let (plan, report) = w.apply(&stack).await;
    assert!(report.succeeded());
    let plan_json = serde_json::to_string(&plan).unwrap();
    let state = w.state_text();
    for text in [&plan_json, &state] {
        assert!(!text.contains("sentinel"), "{text}");
        assert!(text.contains("hmac-sha256:"), "{text}");
    }
    // The cloud got the sealed values; revealing them gives the plaintext.
    let inputs = w
        .cloud
        .objects
        .lock()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .1
        .clone();
    assert_eq!(
        inputs.get("secret").unwrap().reveal(),
        "hunter2-sentinel".into()
    );
    assert!(
        !w.plan(&stack, refresh()).await.has_changes(),
        "same secret, no change"
    );
}

#[tokio::test]
async fn unset_sensitive_env_warns_in_plan_and_fails_apply() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(
            addr("mem.db"),
            inputs(vec![(
                "value",
                Expr::FromEnv {
                    var: "PW".into(),
                    value: None,
                },
            )]),
            vec![],
        )
        .build();
    let plan = w.plan(&stack, refresh()).await;
    assert!(
        plan.warnings[0].contains("PW is not set"),
        "{:?}",
        plan.warnings
    );
    let mut s = w
        .engine
        .open(&stack, &LockOptions::new("apply"))
        .await
        .unwrap();
    let plan = s.plan(&refresh()).await.unwrap();
    let err = s
        .apply(&plan, &ApplyOptions::default())
        .await
        .unwrap_err()
        .to_string();
    s.close().await.unwrap();
    assert!(err.contains("export PW"), "{err}");
    assert!(w.cloud.live().is_empty());
}

#[tokio::test]
async fn first_interrupt_finishes_in_flight_work_and_starts_nothing_new() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(
            addr("mem.slow"),
            inputs(vec![("delay_ms", lit(300))]),
            vec![],
        )
        .resource(
            addr("mem.next"),
            inputs(vec![("value", reference("mem.slow.arn"))]),
            vec![],
        )
        .build();
    let (handle, interrupt) = Interrupt::new();
    let task = {
        let stop = async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            handle.interrupt();
            handle
        };
        let run = w.apply_with(
            &stack,
            refresh(),
            ApplyOptions {
                parallelism: 10,
                interrupt,
            },
        );
        tokio::join!(run, stop)
    };
    let ((_, report), _) = task;
    assert!(report.interrupted);
    assert_eq!(report.summary.created, 1);
    assert_eq!(report.summary.skipped, 1);
    assert_eq!(w.cloud.live(), ["mem.slow"]);
    // State recorded what finished: the next plan only creates the rest.
    let plan = w.plan(&stack, refresh()).await;
    assert_eq!(plan.summary.add, 1);
}

#[tokio::test]
async fn the_lock_is_exclusive_and_names_its_holder() {
    let w = World::new();
    let stack = chain(&w);
    let held = w
        .engine
        .open(&stack, &LockOptions::new("apply"))
        .await
        .unwrap();
    let err = match w.engine.open(&stack, &LockOptions::new("plan")).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("second open should fail"),
    };
    assert!(
        err.contains("running `apply`") && err.contains("force-unlock"),
        "{err}"
    );
    held.close().await.unwrap();
    w.engine
        .open(&stack, &LockOptions::new("plan"))
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
}

#[tokio::test]
async fn targets_include_their_dependencies_only() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(addr("mem.a"), inputs(vec![]), vec![])
        .resource(addr("mem.b"), inputs(vec![]), vec![addr("mem.a")])
        .resource(addr("mem.c"), inputs(vec![]), vec![])
        .build();
    let plan = w
        .plan(
            &stack,
            PlanOptions {
                targets: vec![addr("mem.b")],
                ..Default::default()
            },
        )
        .await;
    let planned: Vec<String> = plan.changes.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(planned, ["mem.a", "mem.b"]);
}

#[tokio::test]
async fn destroy_runs_in_reverse_order() {
    let w = World::new();
    let stack = chain(&w);
    w.apply(&stack).await;
    w.cloud.log.lock().unwrap().clear();
    let (_, report) = w
        .apply_with(
            &stack,
            PlanOptions {
                destroy: true,
                ..Default::default()
            },
            ApplyOptions::default(),
        )
        .await;
    assert!(report.succeeded());
    assert_eq!(
        *w.cloud.log.lock().unwrap(),
        ["delete mem.c", "delete mem.b", "delete mem.a"]
    );
    assert!(w.cloud.live().is_empty());
}

#[tokio::test]
async fn drift_is_detected_and_repaired() {
    let w = World::new();
    let stack = chain(&w);
    w.apply(&stack).await;
    {
        let mut objects = w.cloud.objects.lock().unwrap();
        let (_, v) = objects
            .values_mut()
            .find(|(a, _)| a.to_string() == "mem.a")
            .unwrap();
        *v = [("value", infra_core::Value::from("changed by hand"))]
            .into_iter()
            .collect();
    }
    let plan = w.plan(&stack, refresh()).await;
    assert_eq!(plan.drift.len(), 1);
    assert_eq!(plan.drift[0].address.to_string(), "mem.a");
    assert_eq!(plan.summary.change, 1);
    w.apply(&stack).await;
    assert!(!w.plan(&stack, refresh()).await.has_changes());
}

#[tokio::test]
async fn provider_validation_fails_before_the_stack_is_locked() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(
            addr("mem.a"),
            inputs(vec![("fail", lit("sometimes"))]),
            vec![],
        )
        .build();
    let err = match w.engine.open(&stack, &LockOptions::new("plan")).await {
        Ok(_) => panic!("a stack with invalid inputs was opened"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("mem.a: `fail` must be create, update or delete"),
        "{err}"
    );
    assert!(
        !w.dir.path().join("state").exists(),
        "nothing was written for a stack that cannot be planned"
    );
}

#[tokio::test]
async fn what_refresh_finds_is_recorded_even_without_changes() {
    let w = World::new();
    let both = w
        .stack()
        .resource(addr("mem.a"), inputs(vec![]), vec![])
        .resource(addr("mem.b"), inputs(vec![]), vec![])
        .build();
    w.apply(&both).await;
    // b leaves the config and, by hand, the cloud.
    w.cloud
        .objects
        .lock()
        .unwrap()
        .retain(|_, (a, _)| a.to_string() != "mem.b");
    let only_a = w
        .stack()
        .resource(addr("mem.a"), inputs(vec![]), vec![])
        .build();
    let (plan, _) = w.apply(&only_a).await;
    assert!(!plan.has_changes());
    assert!(plan.drift[0].deleted);
    assert!(!w.state_text().contains("mem.b"), "{}", w.state_text());
    assert!(w.plan(&only_a, refresh()).await.drift.is_empty());
}

#[tokio::test]
async fn import_adopts_an_existing_object_and_refuses_the_impossible() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(addr("mem.a"), inputs(vec![("value", lit("A"))]), vec![])
        .build();
    w.cloud.objects.lock().unwrap().insert(
        "made-by-hand".into(),
        (
            addr("mem.a"),
            [
                ("value", infra_core::Value::from("A")),
                ("delay_ms", 0.into()),
            ]
            .into_iter()
            .collect(),
        ),
    );
    let mut s = w
        .engine
        .open(&stack, &LockOptions::new("import"))
        .await
        .unwrap();
    let missing = s
        .import(&addr("mem.a"), "no-such-id")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("no mem with id `no-such-id` exists"),
        "{missing}"
    );
    let undeclared = s
        .import(&addr("mem.zzz"), "made-by-hand")
        .await
        .unwrap_err()
        .to_string();
    assert!(undeclared.contains("not declared"), "{undeclared}");
    s.import(&addr("mem.a"), "made-by-hand").await.unwrap();
    let again = s
        .import(&addr("mem.a"), "made-by-hand")
        .await
        .unwrap_err()
        .to_string();
    assert!(again.contains("already in state"), "{again}");
    s.close().await.unwrap();
    assert!(w.state_text().contains("made-by-hand"));
    let plan = w.plan(&stack, refresh()).await;
    assert!(!plan.has_changes(), "{:?}", plan.changes);
    assert_eq!(
        w.cloud.creates.lock().unwrap().len(),
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn providers_can_refuse_a_delete_at_plan_time() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(
            addr("mem.db"),
            inputs(vec![("value", lit("protected"))]),
            vec![],
        )
        .resource(addr("mem.other"), inputs(vec![]), vec![])
        .build();
    w.apply(&stack).await;
    let mut s = w
        .engine
        .open(&stack, &LockOptions::new("destroy"))
        .await
        .unwrap();
    let err = s
        .plan(&PlanOptions {
            destroy: true,
            ..Default::default()
        })
        .await
        .unwrap_err()
        .to_string();
    s.close().await.unwrap();
    assert!(
        err.contains("cannot destroy `mem.db`: its value is \"protected\""),
        "{err}"
    );
    assert_eq!(
        w.cloud.live(),
        ["mem.db", "mem.other"],
        "nothing was deleted"
    );
}
