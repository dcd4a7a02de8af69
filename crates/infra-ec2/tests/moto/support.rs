//! Test support: operation contexts with unique tokens, inputs completed
//! with the schema's defaults (as the engine does), an EC2 client on the
//! shared emulator, and objects made directly through the SDK.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::Client;
use infra_aws::testing::Emulator;
use infra_core::{Observed, OpContext, Value};

pub use infra_aws::testing::{existing, inputs, strings, unique};

/// A context for `address` on the shared emulator.
pub fn ctx(address: &str, token: &str) -> OpContext {
    ctx_with(
        address,
        token,
        Emulator::shared().settings(),
        Duration::from_secs(120),
    )
}

/// A context with explicit settings and timeout (mock tests use `Null`).
pub fn ctx_with(address: &str, token: &str, settings: Value, timeout: Duration) -> OpContext {
    OpContext::new(
        address.parse().expect("a valid address"),
        token.to_owned(),
        settings,
        ".".into(),
        timeout,
        Arc::new(|_| {}),
    )
}

/// A context whose progress messages are collected in `seen`.
pub fn ctx_seen(address: &str, timeout: Duration, seen: Arc<Mutex<Vec<String>>>) -> OpContext {
    OpContext::new(
        address.parse().expect("a valid address"),
        "tok".to_owned(),
        Value::Null,
        ".".into(),
        timeout,
        Arc::new(move |m: &str| seen.lock().unwrap().push(m.to_owned())),
    )
}

pub fn table(pairs: &[(&str, Value)]) -> Value {
    pairs.iter().map(|(k, v)| (*k, v.clone())).collect()
}

pub fn tags(pairs: &[(&str, &str)]) -> Value {
    pairs.iter().map(|(k, v)| (*k, Value::from(*v))).collect()
}

pub fn output<'a>(o: &'a Observed, key: &str) -> &'a str {
    o.outputs
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no output `{key}`"))
}

/// An EC2 client on the shared emulator, to check what it holds.
pub async fn sdk() -> Client {
    let emulator = Emulator::shared();
    let config = emulator
        .context()
        .sdk_config(&emulator.settings())
        .await
        .expect("sdk config");
    Client::new(&config)
}

/// A VPC made directly, for the types that need one.
pub async fn vpc(cidr: &str) -> String {
    let out = sdk()
        .await
        .create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .expect("create vpc");
    out.vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_owned()
}

/// A subnet made directly.
pub async fn subnet(vpc: &str, cidr: &str, az: &str) -> String {
    let request = sdk()
        .await
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone(az);
    let out = request.send().await.expect("create subnet");
    out.subnet()
        .and_then(|s| s.subnet_id())
        .expect("subnet id")
        .to_owned()
}

/// An internet gateway made and attached directly.
pub async fn gateway(vpc: &str) -> String {
    let client = sdk().await;
    let out = client
        .create_internet_gateway()
        .send()
        .await
        .expect("create igw");
    let id = out
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .expect("igw id")
        .to_owned();
    let attach = client
        .attach_internet_gateway()
        .internet_gateway_id(&id)
        .vpc_id(vpc);
    attach.send().await.expect("attach igw");
    id
}

/// An Elastic IP allocated directly.
pub async fn address() -> String {
    let out = sdk()
        .await
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await;
    out.expect("allocate")
        .allocation_id()
        .expect("allocation id")
        .to_owned()
}

/// The EC2 error code of a failed call.
pub fn code<E: aws_sdk_ec2::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_ec2::error::SdkError<E, R>,
) -> Option<String> {
    e.as_service_error()
        .and_then(|s| s.code())
        .map(str::to_owned)
}
