//! Plan-time validation of `s3_bucket` inputs: each rule is reported at the
//! exact path of the offending value. No network: validation is offline.

use infra_aws::AwsContext;
use infra_core::{Provider, Typed, Value, display_path};
use infra_s3::S3Bucket;

/// Validates `inputs` (JSON; `"$unknown"` strings become unknown values)
/// as the planner does, the schema's rules then the provider's, and
/// compares the problems, as `(path, part of the message)`.
fn check(inputs: &str, expected: &[(&str, &str)]) {
    let p = Typed::new(S3Bucket::new(AwsContext::new()));
    let value = unknowns(Value::from_json(
        serde_json::from_str(inputs).expect("valid JSON"),
    ));
    let mut found = p.schema().validate(&value);
    found.extend(p.validate(&value));
    let rendered: Vec<(String, &str)> = found
        .iter()
        .map(|(path, m)| (display_path(path), m.as_str()))
        .collect();
    assert_eq!(
        found.len(),
        expected.len(),
        "for {inputs}\nfound: {rendered:#?}"
    );
    for ((path, message), (want_path, want_text)) in rendered.iter().zip(expected) {
        assert_eq!(path, want_path, "{message}");
        assert!(
            message.contains(want_text),
            "at {path}: {message:?} does not contain {want_text:?}"
        );
    }
}

fn unknowns(v: Value) -> Value {
    match v {
        Value::String(s) if s == "$unknown" => Value::Unknown,
        Value::List(l) => Value::List(l.into_iter().map(unknowns).collect()),
        Value::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, unknowns(v))).collect()),
        other => other,
    }
}

#[test]
fn the_blueprint_bucket_is_valid() {
    check(
        r#"{"name": "dev-airflow-logs", "versioning": true, "lifecycle_rules": [
            {"id": "delete-old-logs", "expiration_days": 90, "transitions": [
                {"days": 30, "storage_class": "STANDARD_IA"},
                {"days": 60, "storage_class": "GLACIER"}]},
            {"id": "archive", "transitions": [
                {"days": 0, "storage_class": "INTELLIGENT_TIERING"},
                {"days": 90, "storage_class": "GLACIER_IR"},
                {"days": 180, "storage_class": "DEEP_ARCHIVE"}]},
            {"id": "mpu", "abort_incomplete_multipart_upload_days": 7},
            {"id": "old-versions", "noncurrent_version_expiration_days": 30}]}"#,
        &[],
    );
}

#[test]
fn bucket_names() {
    check(r#"{"name": "Dev_Logs"}"#, &[("name", "'D' is not allowed")]);
    check(r#"{"name": "ab"}"#, &[("name", "3 to 63 characters")]);
    check(r#"{"name": "10.0.0.1"}"#, &[("name", "IP address")]);
    check(r#"{"name": "logs--x-s3"}"#, &[("name", "reserved")]);
    check(r#"{"name": "xn--logs"}"#, &[("name", "reserved")]);
    check(r#"{"name": "logs..old"}"#, &[("name", "adjacent periods")]);
    // Known only after apply (a reference): checked once known.
    check(r#"{"name": "$unknown"}"#, &[]);
    // Of the wrong type: the planner reports that first (and runs no other
    // check); the parse says the same.
    check(r#"{"name": 42}"#, &[("name", "`name` must be a string")]);
}

#[test]
fn rule_ids_are_unique_and_short() {
    check(
        r#"{"name": "logs", "lifecycle_rules": [
            {"id": "a", "expiration_days": 1},
            {"id": "b", "expiration_days": 1},
            {"id": "a", "expiration_days": 2}]}"#,
        &[(
            "lifecycle_rules[2].id",
            "already used by lifecycle_rules[0]",
        )],
    );
    let long = "x".repeat(256);
    check(
        &format!(
            r#"{{"name": "logs", "lifecycle_rules": [{{"id": "{long}", "expiration_days": 1}}]}}"#
        ),
        &[("lifecycle_rules[0].id", "between 1 and 255 characters long")],
    );
}

#[test]
fn storage_classes_come_from_the_allowed_set() {
    check(
        r#"{"name": "logs", "lifecycle_rules": [{"id": "a", "transitions": [
            {"days": 30, "storage_class": "STANDARD_IA"},
            {"days": 90, "storage_class": "GLACER"}]}]}"#,
        &[(
            "lifecycle_rules[0].transitions[1].storage_class",
            "must be one of `STANDARD_IA`, `INTELLIGENT_TIERING`, `ONEZONE_IA`, `GLACIER_IR`, `GLACIER`, `DEEP_ARCHIVE`, found \"GLACER\"",
        )],
    );
}

#[test]
fn infrequent_access_needs_thirty_days() {
    check(
        r#"{"name": "logs", "lifecycle_rules": [{"id": "a", "transitions": [
            {"days": 7, "storage_class": "ONEZONE_IA"}]}]}"#,
        &[(
            "lifecycle_rules[0].transitions[0].days",
            "at least 30 days old to move to ONEZONE_IA",
        )],
    );
    // ... and objects stay 30 days in it before the next transition.
    check(
        r#"{"name": "logs", "lifecycle_rules": [{"id": "a", "transitions": [
            {"days": 30, "storage_class": "STANDARD_IA"},
            {"days": 45, "storage_class": "GLACIER"}]}]}"#,
        &[(
            "lifecycle_rules[0].transitions[1].days",
            "use at least 60 days",
        )],
    );
}

#[test]
fn transitions_increase_strictly_in_days() {
    check(
        r#"{"name": "logs", "lifecycle_rules": [{"id": "a", "transitions": [
            {"days": 90, "storage_class": "GLACIER"},
            {"days": 90, "storage_class": "DEEP_ARCHIVE"}]}]}"#,
        &[(
            "lifecycle_rules[0].transitions[1].days",
            "strictly increasing",
        )],
    );
}

#[test]
fn colder_classes_come_after_warmer_ones() {
    check(
        r#"{"name": "logs", "lifecycle_rules": [{"id": "a", "transitions": [
            {"days": 30, "storage_class": "GLACIER"},
            {"days": 120, "storage_class": "STANDARD_IA"}]}]}"#,
        &[(
            "lifecycle_rules[0].transitions[1].storage_class",
            "cannot transition from GLACIER (transitions[0]) to STANDARD_IA",
        )],
    );
    check(
        r#"{"name": "logs", "lifecycle_rules": [{"id": "a", "transitions": [
            {"days": 90, "storage_class": "DEEP_ARCHIVE"},
            {"days": 180, "storage_class": "GLACIER"}]}]}"#,
        &[(
            "lifecycle_rules[0].transitions[1].storage_class",
            "from DEEP_ARCHIVE",
        )],
    );
}

#[test]
fn expiration_comes_after_the_last_transition() {
    check(
        r#"{"name": "logs", "lifecycle_rules": [{"id": "a", "expiration_days": 60, "transitions": [
            {"days": 30, "storage_class": "STANDARD_IA"},
            {"days": 60, "storage_class": "GLACIER"}]}]}"#,
        &[(
            "lifecycle_rules[0].expiration_days",
            "not after the last transition at 60 days",
        )],
    );
}

#[test]
fn every_rule_has_an_action() {
    check(
        r#"{"name": "logs", "lifecycle_rules": [
            {"id": "ok", "expiration_days": 3},
            {"id": "idle", "prefix": "tmp/", "transitions": []}]}"#,
        &[("lifecycle_rules[1]", "rule \"idle\" has no action")],
    );
}

#[test]
fn day_counts_are_positive() {
    check(
        r#"{"name": "logs", "lifecycle_rules": [{"id": "a",
            "expiration_days": 0,
            "noncurrent_version_expiration_days": -1,
            "abort_incomplete_multipart_upload_days": 0,
            "transitions": [{"days": -5, "storage_class": "GLACIER"}]}]}"#,
        &[
            (
                "lifecycle_rules[0].transitions[0].days",
                "must not be negative",
            ),
            ("lifecycle_rules[0].expiration_days", "at least 1"),
            (
                "lifecycle_rules[0].noncurrent_version_expiration_days",
                "at least 1",
            ),
            (
                "lifecycle_rules[0].abort_incomplete_multipart_upload_days",
                "at least 1",
            ),
        ],
    );
}

#[test]
fn unknown_days_are_checked_once_known() {
    check(
        r#"{"name": "logs", "lifecycle_rules": [{"id": "a", "expiration_days": 10, "transitions": [
            {"days": "$unknown", "storage_class": "GLACIER"}]}]}"#,
        &[],
    );
}

#[test]
fn problems_of_rules_after_unknown_items_are_at_their_index() {
    check(
        r#"{"name": "logs", "lifecycle_rules": ["$unknown",
            {"id": "a", "expiration_days": 0, "transitions": ["$unknown",
                {"days": 7, "storage_class": "STANDARD_IA"}]}]}"#,
        &[
            (
                "lifecycle_rules[1].transitions[1].days",
                "rule \"a\": objects must be at least 30 days old",
            ),
            ("lifecycle_rules[1].expiration_days", "at least 1, not 0"),
        ],
    );
}

#[test]
fn transitions_need_days_and_a_class() {
    check(
        r#"{"name": "logs", "lifecycle_rules": [{"id": "a", "transitions": [{"days": 30}]}]}"#,
        &[(
            "lifecycle_rules[0].transitions[0].storage_class",
            "`lifecycle_rules[0].transitions[0].storage_class` is required",
        )],
    );
}

#[test]
fn encryption_and_tags() {
    check(
        r#"{"name": "logs", "encryption": "aws:kms:dsse"}"#,
        &[("encryption", "\"AES256\" or \"aws:kms\"")],
    );
    check(
        r#"{"name": "logs", "encryption": "AES256", "kms_key_id": "alias/logs"}"#,
        &[("kms_key_id", "needs encryption = \"aws:kms\"")],
    );
    check(
        r#"{"name": "logs", "encryption": "aws:kms", "kms_key_id": "alias/logs"}"#,
        &[],
    );
    check(
        r#"{"name": "logs", "tags": {"aws:owner": "me"}}"#,
        &[(
            "tags.aws:owner",
            "must not start with `aws:`, which AWS reserves",
        )],
    );
}
