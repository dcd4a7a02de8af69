//! What moto cannot produce, with mocked SDK responses (aws-smithy-mocks):
//! an error that quotes the request's value (moto never does; AWS might),
//! which must reach no message.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ErrorMetadata;
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretError;
use aws_sdk_secretsmanager::operation::describe_secret::{
    DescribeSecretError, DescribeSecretOutput,
};
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use infra_aws::AwsContext;
use infra_core::{ErrorKind, Existing, Provider, Typed, Value};
use infra_secrets::SecretsManagerSecret;

use crate::support::{ctx_with, inputs, secret, with};

const SENTINEL: &str = "SENTINEL-echoed-9c2e";
const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mock-AbCdEf";

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn provider(rules: &[&Rule]) -> Typed<SecretsManagerSecret> {
    let client: Client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, rules);
    Typed::new(SecretsManagerSecret::with_client(AwsContext::new(), client))
}

fn ctx() -> infra_core::OpContext {
    ctx_with(
        "secretsmanager_secret.mock",
        "tok-mock",
        Value::Null,
        std::sync::Arc::new(|_| {}),
    )
}

fn given(p: &dyn Provider) -> Value {
    inputs(
        p,
        vec![("name", Value::from("mock")), ("value", secret(SENTINEL))],
    )
}

#[tokio::test]
async fn a_create_error_quoting_the_value_is_scrubbed() {
    let describe = mock!(Client::describe_secret).then_error(|| {
        DescribeSecretError::generic(meta("ResourceNotFoundException", "no such secret"))
    });
    let create = mock!(Client::create_secret).then_error(|| {
        CreateSecretError::generic(meta(
            "ValidationException",
            &format!("SecretString `{SENTINEL}` is not allowed"),
        ))
    });
    let p = provider(&[&describe, &create]);
    let err = p.create(&ctx(), &given(&p)).await.expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(!err.message.contains(SENTINEL), "{}", err.message);
    assert!(err.message.contains("(sensitive)"), "{}", err.message);
    assert!(
        err.message.contains("secretsmanager_secret.mock"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_put_error_quoting_the_value_is_scrubbed() {
    let describe = mock!(Client::describe_secret).then_output(|| {
        DescribeSecretOutput::builder()
            .arn(ARN)
            .name("mock")
            .build()
    });
    let put = mock!(Client::put_secret_value).then_error(|| {
        PutSecretValueError::generic(meta(
            "InvalidParameterException",
            &format!("cannot store {SENTINEL}"),
        ))
    });
    let p = provider(&[&describe, &put]);
    let desired = given(&p);
    let recorded = Existing {
        id: ARN.into(),
        inputs: with(&desired, "value", secret("older")),
        outputs: Value::map(),
    };
    let err = p
        .update(&ctx(), &recorded, &desired)
        .await
        .expect_err("refused");
    assert_eq!(put.num_calls(), 1);
    assert!(!err.message.contains(SENTINEL), "{}", err.message);
    assert!(
        err.message.contains("writing the value of"),
        "{}",
        err.message
    );
}
