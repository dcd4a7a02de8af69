//! Attributes set only at create, through the engine: a stack loaded from
//! TOML, planned and applied against an in-memory cloud whose "autoscaler"
//! moves the desired size. Without `lifecycle.own` neither that nor a
//! changed declared value is a diff (and an update never sends it back);
//! with it, both are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use infra_core::{
    Attribute, Existing, Observed, OpContext, Provider, ProviderError, Registry, Schema, Type,
    Value,
};

use crate::{Action, ApplyOptions, Engine, LockOptions, Plan, PlanOptions, SecretKey};

/// A pool of nodes whose `size.desired` the cloud takes over after create.
struct Pools {
    schema: Schema,
    objects: Mutex<HashMap<String, Value>>,
    calls: Mutex<Vec<String>>,
}

impl Pools {
    fn new() -> Arc<Self> {
        let size = Type::Object(vec![
            Attribute::new("min", Type::Int).required(),
            Attribute::new("max", Type::Int).required(),
            Attribute::new("desired", Type::Int).set_at_create("resetting it may drain nodes"),
        ]);
        Arc::new(Pools {
            schema: Schema::new("pool")
                .attribute(
                    Attribute::new("name", Type::String)
                        .required()
                        .forces_replacement(),
                )
                .attribute(Attribute::new("size", size).required()),
            objects: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn store(&self, inputs: &Value) -> Observed {
        let id = inputs.get("name").and_then(Value::as_str).unwrap_or("?");
        self.objects
            .lock()
            .unwrap()
            .insert(id.to_owned(), inputs.clone());
        Observed {
            id: id.to_owned(),
            inputs: inputs.clone(),
            outputs: Value::map(),
        }
    }

    /// The autoscaler at work: the live desired size becomes `n`.
    fn scale(&self, id: &str, n: i64) {
        let mut objects = self.objects.lock().unwrap();
        let Some(Value::Map(m)) = objects.get_mut(id) else {
            panic!("no pool {id}");
        };
        if let Some(Value::Map(size)) = m.get_mut("size") {
            size.insert("desired".into(), Value::Int(n));
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl Provider for Pools {
    fn schema(&self) -> &Schema {
        &self.schema
    }
    async fn create(&self, _: &OpContext, i: &Value) -> Result<Observed, ProviderError> {
        self.calls.lock().unwrap().push(format!("create {i}"));
        Ok(self.store(i))
    }
    async fn read(&self, _: &OpContext, e: &Existing) -> Result<Option<Observed>, ProviderError> {
        let found = self.objects.lock().unwrap().get(&e.id).cloned();
        Ok(found.map(|inputs| Observed {
            id: e.id.clone(),
            inputs,
            outputs: Value::map(),
        }))
    }
    async fn find(&self, _: &OpContext, _: &Value) -> Result<Option<Observed>, ProviderError> {
        Ok(None)
    }
    async fn update(
        &self,
        _: &OpContext,
        e: &Existing,
        i: &Value,
    ) -> Result<Observed, ProviderError> {
        // What a provider decides on: the desired size as recorded and as
        // given, which differ only when the stack owns it.
        let desired = |v: &Value| v.at(&desired_path()).cloned().unwrap_or(Value::Null);
        self.calls.lock().unwrap().push(format!(
            "update {i} (recorded desired {})",
            desired(&e.inputs)
        ));
        Ok(self.store(i))
    }
    async fn delete(&self, _: &OpContext, e: &Existing) -> Result<(), ProviderError> {
        self.calls.lock().unwrap().push(format!("delete {}", e.id));
        self.objects.lock().unwrap().remove(&e.id);
        Ok(())
    }
}

fn desired_path() -> Vec<infra_core::PathSeg> {
    vec![
        infra_core::PathSeg::Key("size".into()),
        infra_core::PathSeg::Key("desired".into()),
    ]
}

struct World {
    dir: tempfile::TempDir,
    cloud: Arc<Pools>,
    engine: Engine,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("stacks")).unwrap();
        let cloud = Pools::new();
        let mut registry = Registry::new();
        registry.register(cloud.clone());
        let engine = Engine::new(registry)
            .with_secret_key(SecretKey::from_bytes(b"k"))
            .with_env(|_| None);
        World { dir, cloud, engine }
    }

    /// Plans `[resources.pool.workers]` with `body` (refreshing first),
    /// applying when asked; `Err` holds the diagnostics.
    async fn run(&self, body: &str, apply: bool) -> Result<Plan, String> {
        let toml = format!("[resources.pool.workers]\n{body}");
        std::fs::write(self.dir.path().join("stacks/t.toml"), toml).unwrap();
        let (stack, _) = self.engine.load(self.dir.path(), "t").map_err(|d| {
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let opened = self.engine.open(&stack, &LockOptions::new("t")).await;
        let mut s = opened.map_err(|e| e.to_string())?;
        let opts = PlanOptions {
            refresh: true,
            ..Default::default()
        };
        let plan = s.plan(&opts).await.map_err(|e| e.to_string());
        if let (true, Ok(p)) = (apply, &plan) {
            let report = s.apply(p, &ApplyOptions::default()).await.unwrap();
            assert!(report.succeeded(), "{:?}", report.failures);
        }
        s.close().await.unwrap();
        plan
    }
}

fn pool(name: &str, min: i64, max: i64, desired: i64, lifecycle: &str) -> String {
    format!(
        "name = \"{name}\"\nsize = {{ min = {min}, max = {max}, desired = {desired} }}\n{lifecycle}"
    )
}

const OWN: &str = "lifecycle = { own = [\"size.desired\"] }\n";

/// Each planned attribute line: `path: before -> after  # note`.
fn lines(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .flat_map(|c| &c.attributes)
        .map(|a| {
            let show = |v: &Option<Value>| v.as_ref().map_or("none".into(), ToString::to_string);
            let mut line = format!("{}: {} -> {}", a.path, show(&a.before), show(&a.after));
            if let Some(note) = &a.note {
                line.push_str(&format!("  # {note}"));
            }
            line
        })
        .collect()
}

fn drifted(plan: &Plan) -> Vec<String> {
    plan.drift
        .iter()
        .flat_map(|d| &d.attributes)
        .map(|a| a.path.clone())
        .collect()
}

#[tokio::test]
async fn a_create_sends_the_value_and_says_who_owns_it_next() {
    let w = World::new();
    let plan = w.run(&pool("a", 1, 9, 3, ""), true).await.unwrap();
    assert_eq!(
        lines(&plan),
        [
            "name: none -> \"a\"",
            "size: none -> { desired = 3, max = 9, min = 1 }  # size.desired: at create; then the cloud's — lifecycle.own = [\"size.desired\"] to keep it at 3",
        ]
    );
    assert_eq!(
        w.cloud.calls(),
        [r#"create { name = "a", size = { desired = 3, max = 9, min = 1 } }"#]
    );
    let owned = World::new();
    let plan = owned.run(&pool("a", 1, 9, 3, OWN), false).await.unwrap();
    assert_eq!(
        lines(&plan)[1],
        "size: none -> { desired = 3, max = 9, min = 1 }  # size.desired: owned by the stack (lifecycle.own): kept at 3"
    );
}

#[tokio::test]
async fn drift_and_a_changed_declared_value_are_no_diff_unless_owned() {
    let w = World::new();
    w.run(&pool("a", 1, 9, 3, ""), true).await.unwrap();
    // The autoscaler moved it: neither drift shown nor a change planned.
    w.cloud.scale("a", 5);
    let plan = w.run(&pool("a", 1, 9, 3, ""), false).await.unwrap();
    assert!(plan.drift.is_empty(), "{:?}", plan.drift);
    assert!(!plan.has_changes(), "{:?}", lines(&plan));
    // A new declared value is no change either.
    let plan = w.run(&pool("a", 1, 9, 4, ""), false).await.unwrap();
    assert!(!plan.has_changes(), "{:?}", lines(&plan));
    // Another change is planned alone, and the update is given the live
    // value, the same as recorded: nothing for the provider to send.
    let plan = w.run(&pool("a", 1, 10, 4, ""), true).await.unwrap();
    assert_eq!(lines(&plan), ["size.max: 9 -> 10"]);
    assert_eq!(
        w.cloud.calls().last().map(String::as_str),
        Some(
            r#"update { name = "a", size = { desired = 5, max = 10, min = 1 } } (recorded desired 5)"#
        )
    );

    // Owned: the drift is shown and planned back, with what that does.
    w.cloud.scale("a", 6);
    let plan = w.run(&pool("a", 1, 10, 4, OWN), false).await.unwrap();
    assert_eq!(drifted(&plan), ["size.desired"]);
    assert_eq!(
        lines(&plan),
        [
            "size.desired: 6 -> 4  # owned by the stack (lifecycle.own); resetting it may drain nodes"
        ]
    );
    assert_eq!(plan.changes[0].action, Action::Update);
    // And a changed declared value is a change.
    w.run(&pool("a", 1, 10, 4, OWN), true).await.unwrap();
    let plan = w.run(&pool("a", 1, 10, 2, OWN), true).await.unwrap();
    assert_eq!(
        lines(&plan),
        [
            "size.desired: 4 -> 2  # owned by the stack (lifecycle.own); resetting it may drain nodes"
        ]
    );
    assert_eq!(
        w.cloud.calls().last().map(String::as_str),
        Some(
            r#"update { name = "a", size = { desired = 2, max = 10, min = 1 } } (recorded desired 4)"#
        )
    );
    // Back to the cloud's: no change, whatever the stack says.
    w.cloud.scale("a", 8);
    let plan = w.run(&pool("a", 1, 10, 2, ""), false).await.unwrap();
    assert!(plan.drift.is_empty() && !plan.has_changes(), "{plan:?}");
}

#[tokio::test]
async fn a_replacement_is_a_create_and_gets_the_stacks_value() {
    let w = World::new();
    w.run(&pool("a", 1, 9, 3, ""), true).await.unwrap();
    w.cloud.scale("a", 7);
    let plan = w.run(&pool("b", 1, 9, 3, ""), true).await.unwrap();
    assert_eq!(plan.changes[0].action, Action::Replace);
    assert_eq!(
        lines(&plan),
        [
            "name: \"a\" -> \"b\"",
            "size.desired: 7 -> 3  # at create; then the cloud's — lifecycle.own = [\"size.desired\"] to keep it at 3",
        ]
    );
    let calls = w.cloud.calls();
    assert!(
        calls.contains(
            &r#"create { name = "b", size = { desired = 3, max = 9, min = 1 } }"#.to_owned()
        ),
        "{calls:?}"
    );
}
