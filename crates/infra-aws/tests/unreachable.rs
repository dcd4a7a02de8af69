//! The HTTP client an `AwsContext` configures, against endpoints nobody
//! answers on: its errors name the endpoint, say what went wrong, are left
//! to the engine's retries (not the SDK's), and come back quickly.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_types::error::ErrorMetadata;
use infra_aws::{AwsContext, CONNECT_TIMEOUT, classify, testing};
use infra_core::{ErrorKind, Value};

/// A port on 127.0.0.1 nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn settings(endpoint: &str) -> Value {
    [
        ("region", Value::from(testing::REGION)),
        ("endpoint_url", Value::from(endpoint)),
    ]
    .into_iter()
    .collect()
}

/// Sends one request to `url` through the HTTP client of the context's
/// configuration for `endpoint`, as an SDK client would.
async fn send(endpoint: &str, url: &str) -> ConnectorError {
    let aws = AwsContext::with_credentials(testing::credentials());
    let config = aws.sdk_config(&settings(endpoint)).await.unwrap();
    let client = config
        .http_client()
        .expect("the context sets an HTTP client");
    let components = RuntimeComponentsBuilder::for_tests()
        .with_sleep_impl(config.sleep_impl())
        .with_time_source(config.time_source())
        .build()
        .unwrap();
    let settings = HttpConnectorSettings::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build();
    let connector = client.http_connector(&settings, &components);
    connector
        .call(HttpRequest::get(url).unwrap())
        .await
        .expect_err("nobody answers")
}

#[tokio::test]
async fn a_refused_connection_names_the_endpoint_and_what_to_check() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let started = Instant::now();
    let err = send(&endpoint, &format!("{endpoint}/clusters/x")).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    // The SDK does not retry it: the engine does.
    assert!(!err.is_io() && !err.is_timeout() && err.as_other().is_none());
    let err = classify(
        "creating EKS cluster `x`",
        &SdkError::<ErrorMetadata, HttpResponse>::dispatch_failure(err),
    );
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(
        err.message,
        format!(
            "creating EKS cluster `x`: cannot reach AWS at {endpoint} (connection refused): check [aws] endpoint_url / AWS_ENDPOINT_URL, the network and the region"
        )
    );
}

#[tokio::test]
async fn a_name_that_does_not_resolve_names_the_endpoint() {
    let endpoint = "http://infra-test.invalid:4566";
    let err = send(endpoint, &format!("{endpoint}/")).await;
    let err = classify(
        "reading S3 bucket `x`",
        &SdkError::<ErrorMetadata, HttpResponse>::dispatch_failure(err),
    );
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(
        err.message.starts_with(&format!(
            "reading S3 bucket `x`: cannot reach AWS at {endpoint} (DNS lookup failed: "
        )),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn the_context_sets_a_connect_timeout() {
    let aws = AwsContext::with_credentials(testing::credentials());
    let config = aws
        .sdk_config(&settings("http://127.0.0.1:1"))
        .await
        .unwrap();
    let timeouts = config.timeout_config().expect("a timeout configuration");
    assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
}
