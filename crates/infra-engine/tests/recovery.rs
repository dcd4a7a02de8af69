//! Recovery from runs that died: the journal is folded, operations with an
//! intent and no result are resolved by asking the cloud, nothing is
//! orphaned and nothing is created twice.

mod support;

use std::time::Duration;

use infra_engine::{ApplyOptions, EngineError, EventKind, Interrupt, LockOptions, PlanOptions};
use support::*;

fn refresh() -> PlanOptions {
    PlanOptions {
        refresh: true,
        ..Default::default()
    }
}

fn journal_path(w: &World) -> std::path::PathBuf {
    w.dir.path().join("state/t.journal")
}

#[tokio::test]
async fn a_create_that_reached_the_cloud_is_adopted_not_repeated() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(addr("mem.a"), inputs(vec![("value", lit("A"))]), vec![])
        .build();
    // The run died after the provider created the object, before the result
    // record: the cloud has it under the intent's token.
    std::fs::create_dir_all(w.dir.path().join("state")).unwrap();
    std::fs::write(
        journal_path(&w),
        concat!(
            r#"{"record":"begin","version":1,"lineage":"L1","base_serial":0,"operation":"apply","started":"x"}"#, "\n",
            r#"{"record":"intent","seq":1,"address":"mem.a","step":"create","token":"tok1","inputs":{"value":"A","delay_ms":0}}"#, "\n",
        ),
    )
    .unwrap();
    w.cloud.objects.lock().unwrap().insert(
        "id-tok1".into(),
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
    w.cloud.creates.lock().unwrap().insert(addr("mem.a"), 1);

    let plan = w.plan(&stack, refresh()).await;
    assert!(!plan.has_changes(), "{:?}", plan.changes);
    let recovered: Vec<String> = w
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Recovered {
                address, outcome, ..
            } => Some(format!("{address}: {outcome}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        recovered,
        ["mem.a: found id-tok1 in the cloud and recorded it"]
    );
    assert!(
        !journal_path(&w).exists(),
        "the journal is folded and removed"
    );
    let state = w.state_text();
    assert!(
        state.contains("\"lineage\": \"L1\"") && state.contains("id-tok1"),
        "{state}"
    );
    assert_eq!(w.cloud.creates.lock().unwrap()[&addr("mem.a")], 1);
}

#[tokio::test]
async fn a_create_that_never_reached_the_cloud_is_planned_again() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(addr("mem.a"), inputs(vec![]), vec![])
        .build();
    std::fs::create_dir_all(w.dir.path().join("state")).unwrap();
    std::fs::write(
        journal_path(&w),
        concat!(
            r#"{"record":"begin","version":1,"lineage":"L1","base_serial":0,"operation":"apply","started":"x"}"#, "\n",
            r#"{"record":"intent","seq":1,"address":"mem.a","step":"create","token":"tok1","inputs":{}}"#, "\n",
            r#"{"record":"res"#,
        ),
    )
    .unwrap();
    let plan = w.plan(&stack, refresh()).await;
    assert_eq!(plan.summary.add, 1);
}

#[tokio::test]
async fn a_journal_already_folded_into_the_snapshot_is_discarded() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(addr("mem.a"), inputs(vec![]), vec![])
        .build();
    w.apply(&stack).await;
    let state: serde_json::Value = serde_json::from_str(&w.state_text()).unwrap();
    let lineage = state["lineage"].as_str().unwrap();
    // The run died after writing the snapshot (serial 1), before removing
    // its journal (based on serial 0): replaying it would be wrong.
    std::fs::write(
        journal_path(&w),
        format!(
            "{}\n{}\n{}\n",
            format_args!(r#"{{"record":"begin","version":1,"lineage":"{lineage}","base_serial":0,"operation":"apply","started":"x"}}"#),
            r#"{"record":"intent","seq":1,"address":"mem.a","step":"delete","token":"t","target_id":"whatever"}"#,
            r#"{"record":"result","seq":1,"outcome":{"outcome":"deleted"}}"#,
        ),
    )
    .unwrap();
    let plan = w.plan(&stack, refresh()).await;
    assert!(!plan.has_changes());
    assert!(!journal_path(&w).exists());
}

#[tokio::test]
async fn a_journal_from_another_lineage_is_refused_and_kept() {
    let w = World::new();
    let stack = w
        .stack()
        .resource(addr("mem.a"), inputs(vec![]), vec![])
        .build();
    w.apply(&stack).await;
    let before = w.state_text();
    let journal = r#"{"record":"begin","version":1,"lineage":"other","base_serial":1,"operation":"apply","started":"x"}"#;
    std::fs::write(journal_path(&w), format!("{journal}\n")).unwrap();
    let err = match w.engine.open(&stack, &LockOptions::new("plan")).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a foreign journal must be refused"),
    };
    assert!(
        err.contains("lineage other") && err.contains("not modified"),
        "{err}"
    );
    assert_eq!(w.state_text(), before);
    assert!(journal_path(&w).exists());
    // The refusal released the lock.
    std::fs::remove_file(journal_path(&w)).unwrap();
    w.engine
        .open(&stack, &LockOptions::new("plan"))
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
}

#[tokio::test]
async fn stopping_now_leaves_a_journal_the_next_run_converges_from() {
    let w = World::new();
    let mut b = w.stack();
    for i in 0..6 {
        b = b.resource(
            addr(&format!("mem.r{i}")),
            inputs(vec![("delay_ms", lit(if i < 3 { 10 } else { 500 }))]),
            vec![],
        );
    }
    let stack = b.build();
    let (handle, interrupt) = Interrupt::new();
    let run = async {
        let mut s = w
            .engine
            .open(&stack, &LockOptions::new("apply"))
            .await
            .unwrap();
        let plan = s.plan(&refresh()).await.unwrap();
        let result = s
            .apply(
                &plan,
                &ApplyOptions {
                    parallelism: 10,
                    interrupt,
                },
            )
            .await;
        drop(s); // a real process would die here: no close, no snapshot
        result
    };
    let stop = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        handle.interrupt();
        handle.interrupt();
    };
    let (result, ()) = tokio::join!(run, stop);
    assert!(
        matches!(result, Err(EngineError::Interrupted)),
        "{result:?}"
    );
    assert!(journal_path(&w).exists(), "the journal stays for recovery");
    assert_eq!(w.cloud.live().len(), 3, "the fast ones finished");

    let (plan, report) = w.apply(&stack).await;
    assert_eq!(plan.summary.add, 3, "only the unfinished ones are created");
    assert!(report.succeeded());
    assert_eq!(w.cloud.live().len(), 6);
    assert!(
        w.cloud.creates.lock().unwrap().values().all(|&n| n == 1),
        "no duplicates"
    );
}
