//! `s3_bucket` against moto's S3: create, read back, update in place,
//! adopt, delete (with and without force_destroy), find, and not-found paths.

mod support;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ExpirationStatus};
use infra_core::{ErrorKind, Existing, Observed, Provider, Value};
use support::{ctx, inputs, json, plain_provider, provider, sdk, unique};

fn existing(o: &Observed, inputs: &Value) -> Existing {
    Existing {
        id: o.id.clone(),
        inputs: inputs.clone(),
        outputs: o.outputs.clone(),
    }
}

fn logs_bucket(name: &str) -> String {
    format!(
        r#"{{
            "name": "{name}",
            "versioning": true,
            "tags": {{"team": "data", "env": "dev"}},
            "lifecycle_rules": [
                {{"id": "delete-old-logs", "expiration_days": 90,
                  "transitions": [{{"days": 30, "storage_class": "STANDARD_IA"}},
                                  {{"days": 60, "storage_class": "GLACIER"}}]}},
                {{"id": "uploads", "prefix": "tmp/", "enabled": false,
                  "abort_incomplete_multipart_upload_days": 7,
                  "noncurrent_version_expiration_days": 30}}
            ]
        }}"#
    )
}

async fn head_status(name: &str) -> Option<u16> {
    match sdk().await.head_bucket().bucket(name).send().await {
        Ok(_) => Some(200),
        Err(e) => e.raw_response().map(|r| r.status().as_u16()),
    }
}

#[tokio::test]
async fn create_applies_every_sub_configuration_and_reads_back_equal() {
    let p = provider().await;
    let name = unique("create");
    let given = inputs(&p, &logs_bucket(&name));
    let made = p.create(&ctx("tok-create"), &given).await.unwrap();

    assert_eq!(made.id, name);
    assert_eq!(made.inputs, given, "create reports what was applied");
    assert_eq!(
        made.outputs.get("arn"),
        Some(&Value::from(format!("arn:aws:s3:::{name}")))
    );
    assert_eq!(made.outputs.get("region"), Some(&Value::from("us-east-1")));
    assert_eq!(
        made.outputs.get("bucket_regional_domain_name"),
        Some(&Value::from(format!("{name}.s3.us-east-1.amazonaws.com")))
    );

    // What the emulator holds, through the plain SDK.
    let s3 = sdk().await;
    let v = s3
        .get_bucket_versioning()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let lc = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    let rules = lc.rules();
    assert_eq!(rules.len(), 2);
    let old = rules
        .iter()
        .find(|r| r.id() == Some("delete-old-logs"))
        .unwrap();
    assert_eq!(old.status(), &ExpirationStatus::Enabled);
    assert_eq!(old.expiration().and_then(|e| e.days()), Some(90));
    let classes: Vec<(Option<i32>, &str)> = old
        .transitions()
        .iter()
        .map(|t| (t.days(), t.storage_class().map_or("", |c| c.as_str())))
        .collect();
    assert_eq!(classes, [(Some(30), "STANDARD_IA"), (Some(60), "GLACIER")]);
    let uploads = rules.iter().find(|r| r.id() == Some("uploads")).unwrap();
    assert_eq!(uploads.status(), &ExpirationStatus::Disabled);
    assert_eq!(uploads.filter().and_then(|f| f.prefix()), Some("tmp/"));
    assert_eq!(
        uploads
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(7)
    );
    let tags = s3.get_bucket_tagging().bucket(&name).send().await.unwrap();
    let mut tags: Vec<(&str, &str)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    tags.sort();
    assert_eq!(tags, [("env", "dev"), ("team", "data")]);
    let enc = s3
        .get_bucket_encryption()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    let algo = enc
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_owned());
    assert_eq!(algo.as_deref(), Some("AES256"));
    let pab = s3
        .get_public_access_block()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    let pab = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        [
            pab.block_public_acls(),
            pab.ignore_public_acls(),
            pab.block_public_policy(),
            pab.restrict_public_buckets()
        ],
        [Some(true); 4]
    );

    // read() of the unchanged bucket equals what was applied.
    let read = p
        .read(&ctx("tok-read"), &existing(&made, &given))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, made);

    // find() locates what an interrupted create made.
    let found = p.find(&ctx("tok-create"), &given).await.unwrap();
    assert_eq!(found, Some(made.clone()));

    // Creating again with the same token adopts and converges: same result.
    let again = p.create(&ctx("tok-create"), &given).await.unwrap();
    assert_eq!(again, made);

    p.delete(&ctx("tok-del"), &existing(&made, &given))
        .await
        .unwrap();
    assert_eq!(head_status(&name).await, Some(404));
}

#[tokio::test]
async fn read_matches_inputs_without_nested_defaults() {
    // Inputs built in code may leave nested defaults out; a read must not
    // report those as drift.
    let p = provider().await;
    let name = unique("sparse");
    let mut given = inputs(&p, &format!(r#"{{"name": "{name}"}}"#));
    if let Value::Map(m) = &mut given {
        m.insert(
            "lifecycle_rules".into(),
            json(r#"[{"id": "x", "expiration_days": 5}]"#),
        );
    }
    let made = p.create(&ctx("tok-sparse"), &given).await.unwrap();
    assert_eq!(made.inputs, given);
    p.delete(&ctx("d"), &existing(&made, &given)).await.unwrap();
}

#[tokio::test]
async fn update_changes_lifecycle_tags_and_versioning_in_place() {
    let p = provider().await;
    let name = unique("update");
    let first = inputs(&p, &logs_bucket(&name));
    let made = p.create(&ctx("tok-u1"), &first).await.unwrap();

    let second = inputs(
        &p,
        &format!(
            r#"{{
                "name": "{name}",
                "versioning": false,
                "tags": {{"team": "platform"}},
                "public_access_block": {{"block_public_policy": false}},
                "lifecycle_rules": [
                    {{"id": "archive", "transitions": [{{"days": 0, "storage_class": "GLACIER_IR"}},
                                                       {{"days": 180, "storage_class": "DEEP_ARCHIVE"}}]}},
                    {{"id": "delete-old-logs", "expiration_days": 30}}
                ]
            }}"#
        ),
    );
    let updated = p
        .update(&ctx("tok-u2"), &existing(&made, &first), &second)
        .await
        .unwrap();
    assert_eq!(updated.inputs, second);
    assert_eq!(updated.id, name);

    let s3 = sdk().await;
    let v = s3
        .get_bucket_versioning()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        v.status(),
        Some(&BucketVersioningStatus::Suspended),
        "false after true suspends versioning"
    );
    let lc = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    let mut ids: Vec<&str> = lc.rules().iter().filter_map(|r| r.id()).collect();
    ids.sort();
    assert_eq!(ids, ["archive", "delete-old-logs"]);
    let tags = s3.get_bucket_tagging().bucket(&name).send().await.unwrap();
    let tags: Vec<(&str, &str)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(tags, [("team", "platform")]);
    let pab = s3
        .get_public_access_block()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        pab.public_access_block_configuration()
            .and_then(|c| c.block_public_policy()),
        Some(false)
    );
    let read = p
        .read(&ctx("r"), &existing(&updated, &second))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.inputs, second, "rules read back in the order given");

    // Empty lists and maps remove the configurations.
    let third = inputs(&p, &format!(r#"{{"name": "{name}"}}"#));
    let cleared = p
        .update(&ctx("tok-u3"), &existing(&updated, &second), &third)
        .await
        .unwrap();
    assert_eq!(cleared.inputs, third);
    let lc = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        infra_aws::error_code(&lc),
        Some("NoSuchLifecycleConfiguration")
    );
    let tags = s3
        .get_bucket_tagging()
        .bucket(&name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(infra_aws::error_code(&tags), Some("NoSuchTagSet"));

    // Drift: a tag added behind infra's back shows up in read().
    s3.put_bucket_tagging()
        .bucket(&name)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("owner")
                        .value("someone")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let drifted = p
        .read(&ctx("r"), &existing(&cleared, &third))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        drifted.inputs.get("tags"),
        Some(&json(r#"{"owner": "someone"}"#))
    );

    p.delete(&ctx("d"), &existing(&cleared, &third))
        .await
        .unwrap();
}

#[tokio::test]
async fn create_adopts_a_bucket_that_is_already_ours() {
    let p = provider().await;
    let name = unique("adopt");
    let s3 = sdk().await;
    s3.create_bucket().bucket(&name).send().await.unwrap();
    s3.put_object()
        .bucket(&name)
        .key("keep.txt")
        .body(ByteStream::from_static(b"still here"))
        .send()
        .await
        .unwrap();

    let given = inputs(
        &p,
        &format!(
            r#"{{"name": "{name}", "versioning": true, "tags": {{"adopted": "yes"}}, "force_destroy": true}}"#
        ),
    );
    let made = p.create(&ctx("tok-adopt"), &given).await.unwrap();
    assert_eq!(made.inputs, given);
    // The bucket was not made anew: its object survived.
    let obj = s3
        .get_object()
        .bucket(&name)
        .key("keep.txt")
        .send()
        .await
        .unwrap();
    let body = obj.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"still here");
    let v = s3
        .get_bucket_versioning()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));

    p.delete(&ctx("d"), &existing(&made, &given)).await.unwrap();
    assert_eq!(head_status(&name).await, Some(404));
}

#[tokio::test]
async fn force_destroy_empties_a_versioned_bucket_with_delete_markers() {
    let p = provider().await;
    let name = unique("force");
    let given = inputs(
        &p,
        &format!(r#"{{"name": "{name}", "versioning": true, "force_destroy": true}}"#),
    );
    let made = p.create(&ctx("tok-force"), &given).await.unwrap();
    let s3 = sdk().await;
    // More versions than one ListObjectVersions page / DeleteObjects batch.
    let mut puts = tokio::task::JoinSet::new();
    for i in 0..1030 {
        let (s3, name) = (s3.clone(), name.clone());
        puts.spawn(async move {
            s3.put_object()
                .bucket(&name)
                .key(format!("logs/{}.log", i % 515))
                .body(ByteStream::from(format!("v{i}").into_bytes()))
                .send()
                .await
                .map(|_| ())
        });
    }
    while let Some(r) = puts.join_next().await {
        r.unwrap().unwrap();
    }
    // Deleting keys in a versioned bucket leaves delete markers.
    for i in 0..5 {
        s3.delete_object()
            .bucket(&name)
            .key(format!("logs/{i}.log"))
            .send()
            .await
            .unwrap();
    }
    // More than one page: 1030 versions and 5 delete markers.
    let (mut versions, mut markers, mut pages) = (0, 0, 0);
    let (mut km, mut vm) = (None::<String>, None::<String>);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(&name)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        versions += page.versions().len();
        markers += page.delete_markers().len();
        if page.is_truncated() != Some(true) {
            break;
        }
        km = page.next_key_marker().map(str::to_owned);
        vm = page.next_version_id_marker().map(str::to_owned);
    }
    assert_eq!((versions, markers), (1030, 5));
    assert!(pages > 1, "the listing spans pages");

    p.delete(&ctx("tok-force-del"), &existing(&made, &given))
        .await
        .unwrap();
    assert_eq!(head_status(&name).await, Some(404));
    // Deleting what is gone succeeds.
    p.delete(&ctx("tok-force-del"), &existing(&made, &given))
        .await
        .unwrap();
}

#[tokio::test]
async fn delete_without_force_destroy_refuses_a_non_empty_bucket() {
    let p = provider().await;
    let name = unique("nonempty");
    let given = inputs(&p, &format!(r#"{{"name": "{name}"}}"#));
    let made = p.create(&ctx("tok-ne"), &given).await.unwrap();
    let s3 = sdk().await;
    s3.put_object()
        .bucket(&name)
        .key("a.log")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();

    let err = p
        .delete(&ctx("d"), &existing(&made, &given))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains(&name), "{}", err.message);
    assert!(
        err.message.contains("set force_destroy = true"),
        "{}",
        err.message
    );
    assert_eq!(head_status(&name).await, Some(200), "the bucket is kept");

    // Turning force_destroy on is an update without any API call; then the
    // delete goes through.
    let forced = inputs(
        &p,
        &format!(r#"{{"name": "{name}", "force_destroy": true}}"#),
    );
    let updated = p
        .update(&ctx("u"), &existing(&made, &given), &forced)
        .await
        .unwrap();
    assert_eq!(updated.inputs, forced);
    p.delete(&ctx("d2"), &existing(&updated, &forced))
        .await
        .unwrap();
    assert_eq!(head_status(&name).await, Some(404));
}

#[tokio::test]
async fn missing_buckets_read_as_none_and_delete_as_done() {
    // The provider as the engine builds it: lazy config, path-style.
    let p = plain_provider();
    let name = unique("missing");
    let given = inputs(&p, &format!(r#"{{"name": "{name}"}}"#));
    let gone = Existing {
        id: name.clone(),
        inputs: given.clone(),
        outputs: Value::map(),
    };
    assert_eq!(p.read(&ctx("r"), &gone).await.unwrap(), None);
    assert_eq!(p.find(&ctx("f"), &given).await.unwrap(), None);
    p.delete(&ctx("d"), &gone).await.unwrap();
    let err = p.update(&ctx("u"), &gone, &given).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.message);
    assert!(err.message.contains(&name), "{}", err.message);
}

#[tokio::test]
async fn create_refuses_invalid_inputs_before_calling_aws() {
    let p = plain_provider();
    let given = inputs(&p, r#"{"name": "Not_A_Bucket"}"#);
    let err = p.create(&ctx("x"), &given).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message
            .starts_with("s3_bucket.logs: invalid bucket name \"Not_A_Bucket\""),
        "{}",
        err.message
    );
}

/// The conformance suite: idempotent create, read after create, each
/// in-place attribute updated and read back, `name` replaces, import by
/// id, idempotent delete.
#[tokio::test]
async fn conformance() {
    let p = plain_provider();
    let name = unique("conformance");
    let passed = infra_core::conformance::run(
        &p,
        &|token| ctx(token),
        infra_core::conformance::Case {
            inputs: json(&format!(r#"{{"name": "{name}", "tags": {{"team": "data"}}}}"#)),
            updates: vec![
                ("versioning", Value::Bool(true)),
                ("encryption", Value::from("aws:kms")),
                (
                    "public_access_block",
                    json(
                        r#"{"block_public_acls": true, "ignore_public_acls": true, "block_public_policy": false, "restrict_public_buckets": true}"#,
                    ),
                ),
                (
                    "lifecycle_rules",
                    json(
                        r#"[{"id": "old", "expiration_days": 90, "transitions": [{"days": 30, "storage_class": "STANDARD_IA"}]}]"#,
                    ),
                ),
                ("tags", json(r#"{"team": "platform", "env": "dev"}"#)),
                ("force_destroy", Value::Bool(true)),
            ],
            replacing: vec!["name"],
        },
    )
    .await;
    assert_eq!(passed.len(), 7, "{passed:?}");
}
