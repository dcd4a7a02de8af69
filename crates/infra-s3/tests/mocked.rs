//! `s3_bucket` error paths moto cannot produce, on SDK clients answering
//! from `aws-smithy-mocks` rules: throttling (SlowDown), conflicts
//! (OperationAborted), a bucket name owned by another account (HeadBucket
//! 403, BucketAlreadyExists), a bucket in another region, the location
//! constraint outside us-east-1, and partial DeleteObjects failures.

mod support;

use infra_aws::testing::as_the_engine_retries;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::operation::create_bucket::{CreateBucketError, CreateBucketOutput};
use aws_sdk_s3::operation::delete_bucket::DeleteBucketOutput;
use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
use aws_sdk_s3::operation::get_bucket_encryption::GetBucketEncryptionOutput;
use aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput;
use aws_sdk_s3::operation::get_bucket_versioning::GetBucketVersioningOutput;
use aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockOutput;
use aws_sdk_s3::operation::head_bucket::{HeadBucketError, HeadBucketOutput};
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::operation::put_bucket_encryption::PutBucketEncryptionOutput;
use aws_sdk_s3::operation::put_bucket_tagging::PutBucketTaggingOutput;
use aws_sdk_s3::operation::put_public_access_block::PutPublicAccessBlockOutput;
use aws_sdk_s3::types::error::{BucketAlreadyExists, NotFound};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, Error as S3Error, ObjectVersion,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use infra_core::{ErrorKind, Existing, OpContext, Provider, Typed, Value};
use infra_s3::S3Bucket;
use support::{inputs, json};

const BUCKET: &str = "airflow-logs";

fn ctx() -> OpContext {
    OpContext::new(
        "s3_bucket.logs".parse().expect("an address"),
        "token".into(),
        Value::Null,
        ".".into(),
        Duration::from_secs(300),
        Arc::new(|_| {}),
    )
}

fn provider(rules: &[&Rule]) -> Typed<S3Bucket> {
    Typed::new(S3Bucket::with_client(mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        rules
    )))
}

fn provider_in(region: &'static str, rules: &[&Rule]) -> Typed<S3Bucket> {
    let client: Client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules, |c| c
        .region(Region::new(region)));
    Typed::new(S3Bucket::with_client(client))
}

fn s3_error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).expect("a status"),
        SdkBody::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        )),
    )
}

fn bucket_inputs(extra: &str) -> Value {
    let p = Typed::new(S3Bucket::with_client(mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        &[] as &[&Rule]
    )));
    inputs(&p, &format!(r#"{{"name": "{BUCKET}"{extra}}}"#))
}

/// Rules answering every read of a bucket that has `tags = {team = data}`
/// and the schema's defaults.
fn reads() -> Vec<Rule> {
    vec![
        mock!(Client::get_bucket_versioning)
            .then_output(|| GetBucketVersioningOutput::builder().build()),
        mock!(Client::get_bucket_encryption).then_output(|| {
            let by_default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .expect("valid");
            GetBucketEncryptionOutput::builder()
                .server_side_encryption_configuration(
                    ServerSideEncryptionConfiguration::builder()
                        .rules(
                            ServerSideEncryptionRule::builder()
                                .apply_server_side_encryption_by_default(by_default)
                                .build(),
                        )
                        .build()
                        .expect("valid"),
                )
                .build()
        }),
        mock!(Client::get_public_access_block).then_output(|| {
            GetPublicAccessBlockOutput::builder()
                .public_access_block_configuration(
                    PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .build()
        }),
        mock!(Client::get_bucket_lifecycle_configuration)
            .then_http_response(|| s3_error(404, "NoSuchLifecycleConfiguration", "none")),
        mock!(Client::get_bucket_tagging).then_output(|| {
            GetBucketTaggingOutput::builder()
                .tag_set(
                    Tag::builder()
                        .key("team")
                        .value("data")
                        .build()
                        .expect("valid"),
                )
                .build()
                .expect("valid")
        }),
    ]
}

#[tokio::test(start_paused = true)]
async fn slow_down_on_a_read_is_classified_throttled() {
    let head = mock!(Client::head_bucket).then_output(|| HeadBucketOutput::builder().build());
    let versioning = mock!(Client::get_bucket_versioning)
        .then_http_response(|| s3_error(503, "SlowDown", "Please reduce your request rate."));
    let p = provider(&[&head, &versioning]);
    let existing = Existing {
        id: BUCKET.into(),
        inputs: bucket_inputs(""),
        outputs: Value::map(),
    };
    let err = p.read(&ctx(), &existing).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Throttled, "{}", err.message);
    assert!(err.message.contains("SlowDown"), "{}", err.message);
    assert!(err.message.contains(BUCKET), "{}", err.message);
    assert!(err.kind.is_retryable());
}

#[tokio::test(start_paused = true)]
async fn a_put_that_is_throttled_then_conflicts_is_retried() {
    let tagging = mock!(Client::put_bucket_tagging)
        .sequence()
        .http_response(|| s3_error(503, "SlowDown", "Please reduce your request rate."))
        .times(3)
        .http_response(|| {
            s3_error(
                409,
                "OperationAborted",
                "A conflicting conditional operation is currently in progress against this resource.",
            )
        })
        .output(|| PutBucketTaggingOutput::builder().build())
        .build();
    let reads = reads();
    let mut rules: Vec<&Rule> = reads.iter().collect();
    rules.push(&tagging);
    let p = provider(&rules);
    let before = bucket_inputs(r#", "tags": {"team": "ml"}"#);
    let after = bucket_inputs(r#", "tags": {"team": "data"}"#);
    let existing = Existing {
        id: BUCKET.into(),
        inputs: before,
        outputs: Value::map(),
    };
    let ctx = ctx();
    let (updated, retried) = as_the_engine_retries(|| p.update(&ctx, &existing, &after)).await;
    assert_eq!(updated.unwrap().inputs, after);
    // The SDK's own retry mode takes the three SlowDowns in one attempt;
    // the conflict, which it does not retry, is left to the engine.
    assert_eq!(retried, [ErrorKind::Throttled, ErrorKind::Transient]);
    assert_eq!(
        tagging.num_calls(),
        5,
        "3 throttled + 1 conflict + 1 success"
    );
}

#[tokio::test]
async fn a_name_owned_by_another_account_fails_create() {
    let head = mock!(Client::head_bucket).then_http_response(|| {
        HttpResponse::new(StatusCode::try_from(403).expect("403"), SdkBody::empty())
    });
    let create = mock!(Client::create_bucket).then_output(|| CreateBucketOutput::builder().build());
    let p = provider(&[&head, &create]);
    let err = p.create(&ctx(), &bucket_inputs("")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("already taken"), "{}", err.message);
    assert!(
        err.message.contains("choose another name"),
        "{}",
        err.message
    );
    assert_eq!(
        create.num_calls(),
        0,
        "never CreateBucket on a foreign name"
    );
}

#[tokio::test]
async fn bucket_already_exists_from_create_is_not_retried() {
    let head = mock!(Client::head_bucket)
        .then_error(|| HeadBucketError::NotFound(NotFound::builder().build()));
    let create = mock!(Client::create_bucket).then_error(|| {
        CreateBucketError::BucketAlreadyExists(BucketAlreadyExists::builder().build())
    });
    let p = provider(&[&head, &create]);
    let err = p.create(&ctx(), &bucket_inputs("")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
    assert!(
        err.message.contains("BucketAlreadyExists"),
        "{}",
        err.message
    );
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn an_existing_bucket_in_another_region_is_not_adopted() {
    let head = mock!(Client::head_bucket).then_output(|| {
        HeadBucketOutput::builder()
            .bucket_region("eu-west-1")
            .build()
    });
    let p = provider(&[&head]);
    let err = p.create(&ctx(), &bucket_inputs("")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("region = \"eu-west-1\""),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn create_outside_us_east_1_sends_the_location_constraint() {
    let head = mock!(Client::head_bucket)
        .sequence()
        .error(|| HeadBucketError::NotFound(NotFound::builder().build()))
        .output(|| {
            HeadBucketOutput::builder()
                .bucket_region("eu-west-1")
                .build()
        })
        .repeatedly()
        .build();
    let create = mock!(Client::create_bucket)
        .match_requests(|req| {
            req.create_bucket_configuration()
                .and_then(|c| c.location_constraint())
                == Some(&BucketLocationConstraint::EuWest1)
        })
        .then_output(|| CreateBucketOutput::builder().build());
    let encryption = mock!(Client::put_bucket_encryption)
        .then_output(|| PutBucketEncryptionOutput::builder().build());
    let pab = mock!(Client::put_public_access_block)
        .then_output(|| PutPublicAccessBlockOutput::builder().build());
    let tagging =
        mock!(Client::put_bucket_tagging).then_output(|| PutBucketTaggingOutput::builder().build());
    let reads = reads();
    let mut rules: Vec<&Rule> = vec![&head, &create, &encryption, &pab, &tagging];
    rules.extend(reads.iter());
    let p = provider_in("eu-west-1", &rules);
    let given = bucket_inputs(r#", "tags": {"team": "data"}"#);
    let made = p.create(&ctx(), &given).await.unwrap();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(made.inputs, given);
    assert_eq!(made.outputs.get("region"), Some(&Value::from("eu-west-1")));
    assert_eq!(
        made.outputs.get("bucket_regional_domain_name"),
        Some(&Value::from("airflow-logs.s3.eu-west-1.amazonaws.com"))
    );
    // A new bucket is unversioned and has no lifecycle: nothing to send.
    assert_eq!(encryption.num_calls(), 1);
    assert_eq!(pab.num_calls(), 1);
    assert_eq!(tagging.num_calls(), 1);
}

#[tokio::test]
async fn objects_that_cannot_be_deleted_fail_force_destroy() {
    let list = mock!(Client::list_object_versions).then_output(|| {
        ListObjectVersionsOutput::builder()
            .versions(
                ObjectVersion::builder()
                    .key("locked.log")
                    .version_id("v1")
                    .build(),
            )
            .is_truncated(false)
            .build()
    });
    let delete_objects = mock!(Client::delete_objects).then_output(|| {
        DeleteObjectsOutput::builder()
            .errors(
                S3Error::builder()
                    .key("locked.log")
                    .code("AccessDenied")
                    .message("Access Denied")
                    .build(),
            )
            .build()
    });
    let delete_bucket =
        mock!(Client::delete_bucket).then_output(|| DeleteBucketOutput::builder().build());
    let p = provider(&[&list, &delete_objects, &delete_bucket]);
    let existing = Existing {
        id: BUCKET.into(),
        inputs: bucket_inputs(r#", "force_destroy": true"#),
        outputs: Value::map(),
    };
    let err = p.delete(&ctx(), &existing).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(err.message.contains("locked.log"), "{}", err.message);
    assert!(err.message.contains("AccessDenied"), "{}", err.message);
    assert_eq!(delete_bucket.num_calls(), 0);
}

#[tokio::test]
async fn suspended_versioning_reads_as_false() {
    let head = mock!(Client::head_bucket).then_output(|| HeadBucketOutput::builder().build());
    let suspended = mock!(Client::get_bucket_versioning).then_output(|| {
        GetBucketVersioningOutput::builder()
            .status(BucketVersioningStatus::Suspended)
            .build()
    });
    let reads = reads();
    // The first matching rule answers: the suspended versioning comes first.
    let mut rules: Vec<&Rule> = vec![&head, &suspended];
    rules.extend(reads.iter());
    let p = provider(&rules);
    let given = bucket_inputs(r#", "tags": {"team": "data"}"#);
    let existing = Existing {
        id: BUCKET.into(),
        inputs: given.clone(),
        outputs: Value::map(),
    };
    let read = p.read(&ctx(), &existing).await.unwrap().unwrap();
    assert_eq!(read.inputs, given);
    assert_eq!(read.inputs.get("versioning"), Some(&json("false")));
}
