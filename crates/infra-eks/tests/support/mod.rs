//! Test support: operation contexts, unique names, stack-like inputs, and
//! SDK clients for the emulator and for mocked responses.

#![allow(dead_code, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use infra_aws::testing::Emulator;
use infra_core::{Existing, Observed, OpContext, Value};

/// A context for one operation against the shared emulator.
pub fn ctx(address: &str, token: &str) -> OpContext {
    context(
        address,
        token,
        Emulator::shared().settings(),
        Duration::from_secs(120),
    )
}

/// A context for mocked clients: no settings, a long timeout (tests with
/// mocks run on tokio's paused clock, so waits cost nothing).
pub fn mock_ctx(address: &str, token: &str) -> OpContext {
    context(address, token, Value::Null, Duration::from_secs(3600))
}

fn context(address: &str, token: &str, settings: Value, timeout: Duration) -> OpContext {
    OpContext::new(
        address.parse().expect("a valid address"),
        token.to_owned(),
        settings,
        ".".into(),
        timeout,
        Arc::new(|_| {}),
    )
}

/// A name no other test of this process (or an earlier run against the
/// same emulator) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Inputs from JSON, as the engine hands them over (defaults filled in).
pub fn inputs(json: serde_json::Value) -> Value {
    Value::from_json(json)
}

/// The recorded form of what a create or update returned.
pub fn existing(o: &Observed, applied: &Value) -> Existing {
    Existing {
        id: o.id.clone(),
        inputs: applied.clone(),
        outputs: o.outputs.clone(),
    }
}

/// An SDK client on the shared emulator, to check what it holds.
pub async fn emulator_client() -> aws_sdk_eks::Client {
    let emulator = Emulator::shared();
    let config = emulator
        .context()
        .sdk_config(&emulator.settings())
        .await
        .expect("sdk config for the emulator");
    aws_sdk_eks::Client::new(&config)
}

pub const ROLE: &str = "arn:aws:iam::123456789012:role/eks-cluster";
pub const NODE_ROLE: &str = "arn:aws:iam::123456789012:role/eks-nodes";

/// Cluster inputs with the schema's defaults filled in, as the planner does.
pub fn cluster_inputs(name: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "role_arn": ROLE,
        "subnet_ids": ["subnet-b", "subnet-a"],
        "endpoint_private_access": false,
        "endpoint_public_access": true,
    })
}

/// Node group inputs with defaults filled in.
pub fn node_group_inputs(cluster: &str, name: &str) -> serde_json::Value {
    serde_json::json!({
        "cluster": cluster,
        "name": name,
        "node_role_arn": NODE_ROLE,
        "subnet_ids": ["subnet-a"],
        "instance_types": ["m5.2xlarge"],
        "capacity_type": "ON_DEMAND",
        "disk_size": 50,
        "scaling": {"min": 1, "max": 4, "desired": 2},
    })
}

/// A client answering with `rules` in order (aws-smithy-mocks). SDK
/// retries are off, so what is tested is how throttling and conflicts are
/// classified for the engine's retries.
pub fn client(rules: &[&aws_smithy_mocks::Rule]) -> aws_sdk_eks::Client {
    aws_smithy_mocks::mock_client!(
        aws_sdk_eks,
        aws_smithy_mocks::RuleMode::Sequential,
        rules.iter().copied(),
        |c| c.retry_config(aws_smithy_types::retry::RetryConfig::disabled())
    )
}

/// The error metadata an AWS error answer carries.
pub fn meta(code: &str, message: &str) -> aws_smithy_types::error::ErrorMetadata {
    aws_smithy_types::error::ErrorMetadata::builder()
        .code(code)
        .message(message)
        .build()
}
