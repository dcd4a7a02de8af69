//! Stores moto cannot imitate, on SDK clients answering from
//! `aws-smithy-mocks` rules: S3-compatible stores that ignore conditional
//! writes (the startup check must refuse them), and the order in which the
//! journal is cleared.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::types::Object;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use infra_core::StateBackend;
use infra_state_s3::{DEFAULT_LEASE, S3Backend, S3Location, check_conditional_writes};

fn location() -> S3Location {
    S3Location::parse("s3://state-bucket/stacks/prod.json").unwrap()
}

fn s3_error(status: u16, code: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).expect("a status"),
        SdkBody::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
        )),
    )
}

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules)
}

fn deleted() -> Rule {
    mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build())
}

#[tokio::test]
async fn a_store_that_ignores_if_none_match_is_refused() {
    // Every PUT succeeds, whatever its conditions say.
    let put = mock!(Client::put_object)
        .then_output(|| PutObjectOutput::builder().e_tag("\"etag\"").build());
    let delete = deleted();
    let e = check_conditional_writes(&client(&[&put, &delete]), &location())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not honour conditional writes (If-None-Match)"),
        "{e}"
    );
    assert!(e.contains("infra cannot lock state there safely"), "{e}");
    assert!(e.contains("s3://state-bucket/stacks/prod.json"), "{e}");
    assert_eq!(put.num_calls(), 2, "refused at the second create");
    assert_eq!(delete.num_calls(), 1, "the probe is cleaned up");
}

#[tokio::test]
async fn a_store_that_ignores_if_match_is_refused() {
    let put = mock!(Client::put_object)
        .sequence()
        .output(|| PutObjectOutput::builder().e_tag("\"etag\"").build())
        .http_response(|| s3_error(412, "PreconditionFailed"))
        .output(|| PutObjectOutput::builder().e_tag("\"etag2\"").build())
        .build();
    let delete = deleted();
    let e = check_conditional_writes(&client(&[&put, &delete]), &location())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not honour conditional writes (If-Match)"),
        "{e}"
    );
    assert_eq!(delete.num_calls(), 1, "the probe is cleaned up");
}

#[tokio::test]
async fn a_store_that_honours_both_passes() {
    let put = mock!(Client::put_object)
        .sequence()
        .output(|| PutObjectOutput::builder().e_tag("\"etag\"").build())
        .http_response(|| s3_error(412, "PreconditionFailed"))
        .http_response(|| s3_error(412, "PreconditionFailed"))
        .build();
    let delete = deleted();
    check_conditional_writes(&client(&[&put, &delete]), &location())
        .await
        .unwrap();
    assert_eq!(put.num_calls(), 3);
    assert_eq!(delete.num_calls(), 1);
}

/// The journal is cleared newest first, so a run killed halfway leaves a
/// prefix of it: here the third delete fails, and what remains is records
/// 1 and 2, never a journal with a hole.
#[tokio::test]
async fn the_journal_is_cleared_newest_first() {
    let loc = location();
    let keys: Vec<String> = (1..=4).map(|n| loc.journal_key(n)).collect();
    let listed = keys.clone();
    let list = mock!(Client::list_objects_v2).then_output(move || {
        ListObjectsV2Output::builder()
            .set_contents(Some(
                // Listed in S3's order, but the backend must not rely on
                // deleting in it.
                listed
                    .iter()
                    .map(|k| Object::builder().key(k).build())
                    .collect(),
            ))
            .build()
    });
    let order = Arc::new(Mutex::new(Vec::new()));
    let seen = order.clone();
    let delete = mock!(Client::delete_object)
        .match_requests(move |req| {
            seen.lock()
                .unwrap()
                .push(req.key().unwrap_or_default().to_owned());
            true
        })
        .sequence()
        .output(|| DeleteObjectOutput::builder().build())
        .times(2)
        .http_response(|| s3_error(403, "AccessDenied"))
        .build();
    let backend = S3Backend::new(client(&[&list, &delete]), loc.clone(), DEFAULT_LEASE);
    let e = backend.clear_journal().await.unwrap_err().to_string();
    assert!(e.contains(&format!("s3://state-bucket/{}", keys[1])), "{e}");
    let order = order.lock().unwrap().clone();
    assert_eq!(
        order[..3],
        [keys[3].clone(), keys[2].clone(), keys[1].clone()]
    );
}
