//! Test support: an in-memory cloud provider that counts what it does, and
//! helpers to build stacks in code.

#![allow(dead_code, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use infra_core::{
    Address, Attribute, ErrorKind, Existing, Observed, OpContext, Provider, ProviderError,
    Registry, Schema, Type, Value,
};
use infra_engine::{
    ApplyOptions, ApplyReport, Engine, Event, LockOptions, Plan, PlanOptions, SecretKey, Stack,
};
use infra_stack::{Expr, Reference, StackBuilder};

/// A cloud in memory: objects by id, with counters and a concurrency gauge.
#[derive(Default)]
pub struct MemCloud {
    pub objects: Mutex<HashMap<String, (Address, Value)>>,
    pub creates: Mutex<BTreeMap<Address, usize>>,
    pub deletes: Mutex<BTreeMap<Address, usize>>,
    pub running: AtomicUsize,
    pub max_running: AtomicUsize,
    pub log: Mutex<Vec<String>>,
}

pub struct MemProvider {
    pub cloud: Arc<MemCloud>,
    schema: Schema,
}

impl MemProvider {
    pub fn new(cloud: Arc<MemCloud>) -> Self {
        MemProvider {
            cloud,
            schema: Schema::new("mem")
                .attribute(Attribute::new("value", Type::Any))
                .attribute(Attribute::new("key", Type::Any).forces_replacement())
                .attribute(Attribute::new("secret", Type::String).sensitive())
                .attribute(Attribute::new("delay_ms", Type::Int).default(0))
                .attribute(Attribute::new("fail", Type::String)),
        }
    }

    async fn work(&self, ctx: &OpContext, inputs: &Value, op: &str) -> Result<(), ProviderError> {
        let now = self.cloud.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.cloud.max_running.fetch_max(now, Ordering::SeqCst);
        let ms = inputs.get("delay_ms").and_then(Value::as_int).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
        self.cloud.running.fetch_sub(1, Ordering::SeqCst);
        self.cloud
            .log
            .lock()
            .unwrap()
            .push(format!("{op} {}", ctx.address));
        if inputs.get("fail").and_then(Value::as_str) == Some(op) {
            return Err(ProviderError::new(
                ErrorKind::Failed,
                format!("{op} failed on purpose"),
            ));
        }
        Ok(())
    }
}

fn observed(id: &str, inputs: &Value) -> Observed {
    Observed {
        id: id.to_owned(),
        inputs: inputs.clone(),
        outputs: [("arn", Value::from(format!("arn:{id}")))]
            .into_iter()
            .collect(),
    }
}

#[async_trait]
impl Provider for MemProvider {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn deletable(&self, existing: &Existing) -> Result<(), String> {
        match existing.inputs.get("value").and_then(Value::as_str) {
            Some("protected") => {
                Err("its value is \"protected\": change it and apply first".into())
            }
            _ => Ok(()),
        }
    }

    fn validate(&self, inputs: &Value) -> Vec<(infra_core::ValuePath, String)> {
        match inputs.get("fail").and_then(Value::as_str) {
            Some("create" | "update" | "delete") | None => Vec::new(),
            Some(other) => vec![(
                vec![infra_core::PathSeg::Key("fail".into())],
                format!("`fail` must be create, update or delete, not {other:?}"),
            )],
        }
    }

    async fn create(&self, ctx: &OpContext, inputs: &Value) -> Result<Observed, ProviderError> {
        self.work(ctx, inputs, "create").await?;
        let id = format!("id-{}", ctx.token);
        let mut objects = self.cloud.objects.lock().unwrap();
        if !objects.contains_key(&id) {
            *self
                .cloud
                .creates
                .lock()
                .unwrap()
                .entry(ctx.address.clone())
                .or_default() += 1;
            objects.insert(id.clone(), (ctx.address.clone(), inputs.clone()));
        }
        Ok(observed(&id, inputs))
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        e: &Existing,
    ) -> Result<Option<Observed>, ProviderError> {
        Ok(self
            .cloud
            .objects
            .lock()
            .unwrap()
            .get(&e.id)
            .map(|(_, v)| observed(&e.id, v)))
    }

    async fn find(
        &self,
        ctx: &OpContext,
        _inputs: &Value,
    ) -> Result<Option<Observed>, ProviderError> {
        let id = format!("id-{}", ctx.token);
        Ok(self
            .cloud
            .objects
            .lock()
            .unwrap()
            .get(&id)
            .map(|(_, v)| observed(&id, v)))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        e: &Existing,
        inputs: &Value,
    ) -> Result<Observed, ProviderError> {
        self.work(ctx, inputs, "update").await?;
        let mut objects = self.cloud.objects.lock().unwrap();
        objects.insert(e.id.clone(), (ctx.address.clone(), inputs.clone()));
        Ok(observed(&e.id, inputs))
    }

    async fn delete(&self, ctx: &OpContext, e: &Existing) -> Result<(), ProviderError> {
        self.work(ctx, &e.inputs, "delete").await?;
        if self.cloud.objects.lock().unwrap().remove(&e.id).is_some() {
            *self
                .cloud
                .deletes
                .lock()
                .unwrap()
                .entry(ctx.address.clone())
                .or_default() += 1;
        }
        Ok(())
    }
}

impl MemCloud {
    pub fn live(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .objects
            .lock()
            .unwrap()
            .values()
            .map(|(a, _)| a.to_string())
            .collect();
        v.sort();
        v
    }
}

pub fn addr(s: &str) -> Address {
    s.parse().unwrap()
}

pub fn reference(s: &str) -> Expr {
    Expr::Ref(Reference::parse(s).unwrap())
}

pub fn lit(v: impl Into<Value>) -> Expr {
    Expr::Literal(v.into())
}

pub fn inputs(pairs: Vec<(&str, Expr)>) -> BTreeMap<String, Expr> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A harness: a project dir, an in-memory cloud, and captured events.
pub struct World {
    pub dir: tempfile::TempDir,
    pub cloud: Arc<MemCloud>,
    pub events: Arc<Mutex<Vec<Event>>>,
    pub engine: Engine,
}

impl Default for World {
    fn default() -> Self {
        let cloud = Arc::new(MemCloud::default());
        let mut registry = Registry::new();
        registry.register(Arc::new(MemProvider::new(cloud.clone())));
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let engine = Engine::new(registry)
            .with_events(Arc::new(move |e: &Event| {
                sink.lock().unwrap().push(e.clone())
            }))
            .with_secret_key(SecretKey::from_bytes(b"test-key"))
            .with_env(|_| None);
        World {
            dir: tempfile::tempdir().unwrap(),
            cloud,
            events,
            engine,
        }
    }
}

impl World {
    pub fn new() -> Self {
        World::default()
    }

    pub fn stack(&self) -> StackBuilder {
        StackBuilder::new("t", self.dir.path())
    }

    pub async fn plan(&self, stack: &Stack, opts: PlanOptions) -> Plan {
        let mut s = self
            .engine
            .open(stack, &LockOptions::new("plan"))
            .await
            .unwrap();
        let plan = s.plan(&opts).await.unwrap();
        s.close().await.unwrap();
        plan
    }

    pub async fn apply_with(
        &self,
        stack: &Stack,
        opts: PlanOptions,
        apply: ApplyOptions,
    ) -> (Plan, ApplyReport) {
        let mut s = self
            .engine
            .open(stack, &LockOptions::new("apply"))
            .await
            .unwrap();
        let plan = s.plan(&opts).await.unwrap();
        let report = s.apply(&plan, &apply).await.unwrap();
        s.close().await.unwrap();
        (plan, report)
    }

    pub async fn apply(&self, stack: &Stack) -> (Plan, ApplyReport) {
        self.apply_with(
            stack,
            PlanOptions {
                refresh: true,
                ..Default::default()
            },
            ApplyOptions::default(),
        )
        .await
    }

    pub fn state_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state/t.json")).unwrap_or_default()
    }
}
