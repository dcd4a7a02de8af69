//! Embedding the engine: build a stack in code (no TOML), plan it, apply it
//! on the simulated cloud, and print the events as they arrive.
//!
//!     cargo run --features sim --example embed
//!
//! The project root is a fresh temporary directory, so the example leaves
//! nothing behind.

use std::collections::BTreeMap;
use std::sync::Arc;

use infra::infra_core::{Address, Value};
use infra::infra_engine::{
    ApplyOptions, Engine, Event, EventKind, LockOptions, PlanOptions, StackBuilder,
};
use infra::infra_stack::{Expr, Reference};

fn address(s: &str) -> Address {
    s.parse().expect("a valid address")
}

fn reference(s: &str) -> Expr {
    Expr::Ref(Reference::parse(s).expect("a valid reference"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = tempfile::tempdir()?;

    // A database, a bucket, and a release that needs both.
    let inputs = |pairs: Vec<(&str, Expr)>| -> BTreeMap<String, Expr> {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    };
    let stack = StackBuilder::new("embedded", root.path())
        .settings("sim", [("dir", Value::from(".sim"))].into_iter().collect())
        .resource(
            address("sim_resource.database"),
            inputs(vec![
                ("payload", Expr::Literal("postgres 15".into())),
                ("create_ms", Expr::Literal(Value::Int(300))),
            ]),
            vec![],
        )
        .resource(
            address("sim_resource.bucket"),
            inputs(vec![("payload", Expr::Literal("airflow-logs".into()))]),
            vec![],
        )
        .resource(
            address("sim_resource.release"),
            inputs(vec![(
                "payload",
                Expr::Map(
                    [
                        ("database".to_owned(), reference("sim_resource.database.id")),
                        ("logs".to_owned(), reference("sim_resource.bucket.id")),
                    ]
                    .into(),
                ),
            )]),
            vec![],
        )
        .build();

    // Events arrive in order, numbered; an embedder renders or forwards them.
    let on_event = Arc::new(|e: &Event| match &e.kind {
        EventKind::PlanReady {
            summary,
            estimate_ms,
        } => println!(
            "#{} plan: {} to add, {} to change (about {estimate_ms} ms)",
            e.seq, summary.add, summary.change
        ),
        EventKind::OperationStarted { address, step } => {
            println!("#{} {address}: {step:?} started", e.seq)
        }
        EventKind::OperationProgress { address, message } => {
            println!("#{} {address}: {message}", e.seq)
        }
        EventKind::OperationFinished {
            address,
            elapsed_ms,
            ..
        } => {
            println!("#{} {address}: done in {elapsed_ms} ms", e.seq)
        }
        EventKind::ApplyFinished { summary, .. } => {
            println!("#{} apply finished: {} created", e.seq, summary.created)
        }
        other => println!("#{} {other:?}", e.seq),
    });
    let engine = Engine::new(infra::default_registry()).with_events(on_event);

    let mut session = engine.open(&stack, &LockOptions::new("apply")).await?;
    let result = async {
        let plan = session
            .plan(&PlanOptions {
                refresh: true,
                ..Default::default()
            })
            .await?;
        let report = session.apply(&plan, &ApplyOptions::default()).await?;
        let again = session
            .plan(&PlanOptions {
                refresh: true,
                ..Default::default()
            })
            .await?;
        Ok::<_, infra::infra_engine::EngineError>((report, again.has_changes()))
    }
    .await;
    session.close().await?;
    let (report, changes_left) = result?;
    println!(
        "succeeded: {}, changes left after apply: {changes_left}",
        report.succeeded()
    );
    for r in engine
        .read_state(root.path(), "embedded")
        .await?
        .iter()
        .flat_map(|s| s.resources())
    {
        println!("{} = {}", r.address, r.id);
    }
    Ok(())
}
