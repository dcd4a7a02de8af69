//! Test support: operation contexts, inputs completed with the schema's
//! defaults (as the engine does), policy tables, and an IAM client on the
//! emulator to check what it holds.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use infra_aws::testing::Emulator;
use infra_core::{OpContext, Value};

pub use infra_aws::testing::{existing, inputs, strings, unique, with};

/// A context for `address` on the shared emulator.
pub fn ctx(address: &str, token: &str) -> OpContext {
    ctx_with(address, token, Emulator::shared().settings())
}

/// A context with explicit settings (mock tests use `Null`).
pub fn ctx_with(address: &str, token: &str, settings: Value) -> OpContext {
    OpContext::new(
        address.parse().expect("a valid address"),
        token.to_owned(),
        settings,
        ".".into(),
        Duration::from_secs(60),
        Arc::new(|_| {}),
    )
}

pub fn table(pairs: Vec<(&str, Value)>) -> Value {
    pairs.into_iter().collect()
}

/// A trust policy letting `service` assume the role, as a stack writes it.
pub fn trust(service: &str) -> Value {
    let statement = table(vec![
        ("Effect", "Allow".into()),
        ("Principal", table(vec![("Service", service.into())])),
        ("Action", "sts:AssumeRole".into()),
    ]);
    table(vec![
        ("Version", "2012-10-17".into()),
        ("Statement", Value::List(vec![statement])),
    ])
}

/// A permissions policy allowing `action` on `resource`, with its statement
/// as a lone table (IAM's documents always have the list).
pub fn allow(action: &str, resource: &str) -> Value {
    let statement = table(vec![
        ("Effect", "Allow".into()),
        ("Action", action.into()),
        ("Resource", resource.into()),
    ]);
    table(vec![
        ("Version", "2012-10-17".into()),
        ("Statement", statement),
    ])
}

/// An IAM client on the shared emulator.
pub async fn sdk() -> aws_sdk_iam::Client {
    let emulator = Emulator::shared();
    let config = emulator
        .context()
        .sdk_config(&emulator.settings())
        .await
        .expect("sdk config");
    aws_sdk_iam::Client::new(&config)
}

/// A customer managed policy made in the emulator; its ARN.
pub async fn managed_policy(sdk: &aws_sdk_iam::Client, prefix: &str) -> String {
    let document = infra_iam::policy::to_json(&allow("s3:ListBucket", "*"));
    let out = sdk
        .create_policy()
        .policy_name(unique(prefix))
        .policy_document(document)
        .send()
        .await
        .expect("create policy");
    out.policy()
        .and_then(|p| p.arn())
        .expect("policy arn")
        .to_owned()
}

/// The ARNs attached to `role`, sorted.
pub async fn attached(sdk: &aws_sdk_iam::Client, role: &str) -> Vec<String> {
    let out = sdk
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("list attached");
    let mut arns: Vec<String> = out
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect();
    arns.sort();
    arns
}

/// Whether `observed` inputs are what was `applied`: every applied value
/// reads back equal, and what was left unset reads as null or, for the
/// computed lists, as whatever IAM has.
pub fn assert_applied(observed: &Value, applied: &Value) {
    let (Some(o), Some(a)) = (observed.as_map(), applied.as_map()) else {
        panic!("inputs are tables: {observed:?} {applied:?}");
    };
    for (k, v) in a {
        assert_eq!(o.get(k), Some(v), "`{k}` reads back as applied");
    }
    for (k, v) in o.iter().filter(|(k, _)| !a.contains_key(*k)) {
        let computed = ["managed_policy_arns", "inline_policies", "thumbprint_list"];
        assert!(
            *v == Value::Null || computed.contains(&k.as_str()),
            "`{k}` was not applied but reads {v:?}"
        );
    }
}
