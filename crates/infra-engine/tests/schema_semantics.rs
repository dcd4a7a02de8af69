//! Schema semantics the planner follows: sets compare as sets, computed
//! inputs the stack leaves unset keep what the cloud picked, and
//! validators report at the TOML line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use infra_core::{
    Attribute, Existing, Observed, OpContext, Provider, ProviderError, Registry, Schema, Type,
    Validator, Value,
};
use infra_engine::{ApplyOptions, Engine, LockOptions, Plan, PlanOptions, SecretKey};

/// A cloud that fills `zone` when it is not given and reports `sgs` in
/// its own order.
struct Zoned {
    schema: Schema,
    objects: Mutex<HashMap<String, Value>>,
    calls: Mutex<Vec<String>>,
}

impl Zoned {
    fn new() -> Arc<Self> {
        Arc::new(Zoned {
            schema: Schema::new("zoned")
                .attribute(Attribute::new("name", Type::String).required())
                .attribute(Attribute::new("zone", Type::String).computed())
                .attribute(Attribute::new("sgs", Type::set(Type::String)))
                .attribute(
                    Attribute::new("port", Type::Int)
                        .default(80)
                        .validate(Validator::Range { min: 1, max: 65535 }),
                ),
            objects: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn store(&self, id: &str, inputs: &Value) -> Observed {
        let mut v = inputs.clone();
        if let Value::Map(m) = &mut v {
            m.entry("zone".into()).or_insert(Value::from("az-1"));
            if let Some(Value::List(l)) = m.get_mut("sgs") {
                l.sort_by(|a, b| b.as_str().cmp(&a.as_str()));
            }
        }
        self.objects.lock().unwrap().insert(id.into(), v.clone());
        Observed {
            id: id.into(),
            inputs: v,
            outputs: Value::map(),
        }
    }
}

#[async_trait]
impl Provider for Zoned {
    fn schema(&self) -> &Schema {
        &self.schema
    }
    async fn create(&self, _: &OpContext, i: &Value) -> Result<Observed, ProviderError> {
        self.calls.lock().unwrap().push(format!("create {i}"));
        Ok(self.store("id1", i))
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
        self.calls.lock().unwrap().push(format!("update {i}"));
        Ok(self.store(&e.id, i))
    }
    async fn delete(&self, _: &OpContext, _: &Existing) -> Result<(), ProviderError> {
        Ok(())
    }
}

struct World {
    dir: tempfile::TempDir,
    cloud: Arc<Zoned>,
    engine: Engine,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("stacks")).unwrap();
        let cloud = Zoned::new();
        let mut registry = Registry::new();
        registry.register(cloud.clone());
        let engine = Engine::new(registry)
            .with_secret_key(SecretKey::from_bytes(b"k"))
            .with_env(|_| None);
        World { dir, cloud, engine }
    }

    /// Plans `[resources.zoned.a]` with `body`, applying when asked;
    /// `Err` holds the diagnostics.
    async fn run(&self, body: &str, apply: bool) -> Result<Plan, String> {
        let toml = format!("[resources.zoned.a]\nname = \"a\"\n{body}");
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
            s.apply(p, &ApplyOptions::default()).await.unwrap();
        }
        s.close().await.unwrap();
        plan
    }
}

fn changes(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .flat_map(|c| &c.attributes)
        .map(|a| format!("{}: {:?} -> {:?}", a.path, a.before, a.after))
        .collect()
}

#[tokio::test]
async fn sets_compare_as_sets() {
    let w = World::new();
    w.run("sgs = [\"sg-a\", \"sg-b\"]\n", true).await.unwrap();
    // The cloud reports them in another order: no drift, no change.
    let plan = w.run("sgs = [\"sg-a\", \"sg-b\"]\n", false).await.unwrap();
    assert!(plan.drift.is_empty(), "{:?}", plan.drift);
    assert!(!plan.has_changes(), "{:?}", plan.changes);
    let plan = w.run("sgs = [\"sg-b\", \"sg-a\"]\n", false).await.unwrap();
    assert!(!plan.has_changes(), "{:?}", plan.changes);
    // A changed set is one change of the whole set.
    let plan = w.run("sgs = [\"sg-b\", \"sg-c\"]\n", false).await.unwrap();
    assert_eq!(
        changes(&plan),
        [
            r#"sgs: Some(List([String("sg-a"), String("sg-b")])) -> Some(List([String("sg-b"), String("sg-c")]))"#
        ]
    );
}

#[tokio::test]
async fn computed_inputs_keep_what_the_cloud_picked() {
    let w = World::new();
    w.run("", true).await.unwrap();
    let state = std::fs::read_to_string(w.dir.path().join("state/t.json")).unwrap();
    assert!(
        state.contains("\"zone\": \"az-1\""),
        "state records it: {state}"
    );
    let plan = w.run("", false).await.unwrap();
    assert!(plan.drift.is_empty() && !plan.has_changes(), "{plan:?}");
    // An update of something else passes the kept value on.
    w.run("port = 81\n", true).await.unwrap();
    let calls = w.cloud.calls.lock().unwrap().clone();
    assert_eq!(
        calls[1],
        r#"update { name = "a", port = 81, zone = "az-1" }"#
    );
    // Setting it is a change like any other.
    let plan = w.run("port = 81\nzone = \"az-2\"\n", false).await.unwrap();
    assert_eq!(
        changes(&plan),
        [r#"zone: Some(String("az-1")) -> Some(String("az-2"))"#]
    );
    // The cloud moving it is reported, never planned back.
    if let Some(Value::Map(m)) = w.cloud.objects.lock().unwrap().get_mut("id1") {
        m.insert("zone".into(), "az-9".into());
    }
    let plan = w.run("port = 81\n", false).await.unwrap();
    assert_eq!(plan.drift.len(), 1);
    assert!(!plan.has_changes(), "{:?}", plan.changes);
}

#[tokio::test]
async fn validators_and_set_repeats_report_at_their_lines() {
    let w = World::new();
    let e = w
        .run("sgs = [\"sg-b\", \"sg-b\"]\nport = 70000\n", false)
        .await
        .unwrap_err();
    assert!(
        e.contains("stacks/t.toml:3:16: zoned.a: `sgs` is a set, but lists \"sg-b\" twice (items 0 and 1): remove one"),
        "{e}"
    );
    assert!(
        e.contains("stacks/t.toml:4:8: zoned.a: `port` must be between 1 and 65535, found 70000"),
        "{e}"
    );
}
