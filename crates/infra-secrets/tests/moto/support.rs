//! Test support: operation contexts, inputs completed with the schema's
//! defaults (as the engine does), secrets as the engine hands them over,
//! and an SDK client on the emulator to check what it holds.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use infra_aws::testing::Emulator;
use infra_core::{Observed, OpContext, Secret, Value};

pub use infra_aws::testing::{existing, inputs, unique, with};

/// A context for `address` on the shared emulator.
pub fn ctx(address: &str, token: &str) -> OpContext {
    ctx_with(
        address,
        token,
        Emulator::shared().settings(),
        Arc::new(|_| {}),
    )
}

/// A context whose progress messages are collected in `log`.
pub fn ctx_logged(address: &str, token: &str, log: &Arc<Mutex<Vec<String>>>) -> OpContext {
    let log = Arc::clone(log);
    let progress = Arc::new(move |m: &str| log.lock().unwrap().push(m.to_owned()));
    ctx_with(address, token, Emulator::shared().settings(), progress)
}

/// A context with explicit settings (mock tests use `Null`).
pub fn ctx_with(
    address: &str,
    token: &str,
    settings: Value,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
) -> OpContext {
    OpContext::new(
        address.parse().expect("a valid address"),
        token.to_owned(),
        settings,
        ".".into(),
        Duration::from_secs(120),
        progress,
    )
}

/// A secret as the engine hands it over: plaintext plus a digest (here a
/// plain hash, not the engine's keyed one, and never the plaintext).
pub fn secret(plaintext: &str) -> Value {
    let mut h = DefaultHasher::new();
    plaintext.hash(&mut h);
    Value::Sensitive(Secret::new(
        format!("test-digest:{:016x}", h.finish()),
        plaintext.into(),
    ))
}

/// The same secret as state holds it: its digest only.
pub fn redacted(v: &Value) -> Value {
    match v {
        Value::Sensitive(s) => Value::Sensitive(Secret::redacted(s.digest())),
        other => other.clone(),
    }
}

/// A table of strings.
pub fn table(pairs: &[(&str, &str)]) -> Value {
    pairs.iter().map(|(k, v)| (*k, Value::from(*v))).collect()
}

/// The string output `key`.
pub fn output<'a>(o: &'a Observed, key: &str) -> &'a str {
    o.outputs
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string output `{key}`"))
}

/// A Secrets Manager client on the shared emulator, to check what it holds.
pub async fn sdk() -> aws_sdk_secretsmanager::Client {
    let emulator = Emulator::shared();
    let config = emulator
        .context()
        .sdk_config(&emulator.settings())
        .await
        .expect("sdk config");
    aws_sdk_secretsmanager::Client::new(&config)
}

/// The plaintext of the current version of `id`, read directly.
pub async fn current_value(id: &str) -> String {
    let out = sdk()
        .await
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .expect("GetSecretValue");
    out.secret_string().expect("a string value").to_owned()
}
