//! Test support: contexts against the shared moto emulator, an SDK client
//! to check what the emulator holds, and inputs shaped as the engine hands
//! them over (schema defaults filled at every level, as the stack loader does).

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use infra_aws::testing::Emulator;
use infra_core::{OpContext, Presence, Provider, Type, Typed, Value};
use infra_s3::S3Bucket;

/// A bucket name unique to this test and process.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "infra-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// An operation context on the emulator.
pub fn ctx(token: &str) -> OpContext {
    OpContext::new(
        "s3_bucket.logs".parse().expect("an address"),
        token.to_owned(),
        Emulator::shared().settings(),
        ".".into(),
        Duration::from_secs(60),
        Arc::new(|_| {}),
    )
}

/// The provider as the engine builds it: an SDK client made lazily from
/// the `[aws]` table.
pub fn plain_provider() -> Typed<S3Bucket> {
    Typed::new(S3Bucket::new(Emulator::shared().context()))
}

/// The provider as the engine builds it (async for the tests' convenience).
pub async fn provider() -> Typed<S3Bucket> {
    plain_provider()
}

/// An SDK client on the emulator, to look behind the provider's back.
pub async fn sdk() -> Client {
    let emu = Emulator::shared();
    let config = emu
        .context()
        .sdk_config(&emu.settings())
        .await
        .expect("an SDK config");
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// JSON text as a value.
pub fn json(text: &str) -> Value {
    Value::from_json(serde_json::from_str(text).expect("valid JSON"))
}

/// `inputs` with the schema's defaults filled in, as the loader does.
pub fn inputs(provider: &dyn Provider, text: &str) -> Value {
    let mut v = json(text);
    fill(&Type::Object(provider.schema().attributes.clone()), &mut v);
    v
}

fn fill(ty: &Type, v: &mut Value) {
    match (ty, v) {
        (Type::Object(attrs), Value::Map(m)) => {
            for a in attrs {
                if let (Presence::Default(d), None) = (&a.presence, m.get(&a.name)) {
                    m.insert(a.name.clone(), d.clone());
                }
                if let Some(inner) = m.get_mut(&a.name) {
                    fill(&a.ty, inner);
                }
            }
        }
        (Type::List(item), Value::List(l)) => l.iter_mut().for_each(|x| fill(item, x)),
        _ => {}
    }
}
