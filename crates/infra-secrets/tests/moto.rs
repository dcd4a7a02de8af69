//! `secretsmanager_secret` against moto: the conformance suite, generated
//! and given values, in-place value updates, deletion with and without a
//! recovery window, adoption and restoring by token, a value changed
//! outside infra, and plaintext kept out of every error message.
//!
//! moto (5.1) findings, as these tests rely on them:
//! - `UpdateSecret` cannot clear a description (it keeps the old one when
//!   the new one is empty), so the suite updates it to another text;
//! - it never quotes a request's value in its errors, so the scrubbing of
//!   errors that might is checked with mocked responses (`moto/mocked.rs`).

#[path = "moto/mocked.rs"]
mod mocked;
#[path = "moto/support.rs"]
#[allow(dead_code)]
mod support;

use std::sync::{Arc, Mutex};

use infra_aws::testing::Emulator;
use infra_core::conformance::{self, Case};
use infra_core::{ErrorKind, Provider, Typed, Value};
use infra_secrets::{SecretsManagerSecret, request_token};
use support::{
    ctx, ctx_logged, current_value, existing, inputs, output, redacted, sdk, secret, table, unique,
    with,
};

/// The input `key` (which must be there).
fn field<'a>(inputs: &'a Value, key: &str) -> &'a Value {
    inputs
        .get(key)
        .unwrap_or_else(|| panic!("no input `{key}`"))
}

fn provider() -> Typed<SecretsManagerSecret> {
    Typed::new(SecretsManagerSecret::new(Emulator::shared().context()))
}

#[tokio::test]
async fn conformance() {
    let p = provider();
    let case = Case {
        inputs: [
            ("name", Value::from(unique("conf/secret"))),
            ("description", Value::from("first")),
            ("value", secret("conformance-value-1")),
            ("tags", table(&[("team", "data")])),
        ]
        .into_iter()
        .collect(),
        updates: vec![
            ("value", secret("conformance-value-2")),
            ("description", Value::from("second")),
            ("kms_key_id", Value::from("alias/infra-test")),
            ("tags", table(&[("team", "platform"), ("env", "dev")])),
            // Last: the suite's delete then removes the secret at once.
            ("recovery_window_days", Value::Int(0)),
        ],
        replacing: vec!["name"],
    };
    let ctx = |token: &str| ctx("secretsmanager_secret.conformance", token);
    let passed = conformance::run(&p, &ctx, case).await;
    assert_eq!(passed.len(), 7, "every check ran: {passed:?}");
}

#[tokio::test]
async fn a_generated_value_is_made_in_the_cloud_and_read_back() {
    let p = provider();
    let generate: Value = [
        ("length", Value::Int(40)),
        ("exclude_punctuation", Value::Bool(true)),
    ]
    .into_iter()
    .collect();
    let given = inputs(
        &p,
        vec![("name", Value::from(unique("gen"))), ("generate", generate)],
    );
    let c = ctx("secretsmanager_secret.generated", "tok-generated");
    let created = p.create(&c, &given).await.expect("create");
    assert_eq!(
        created.inputs, given,
        "observed inputs equal what was applied"
    );
    let value = output(&created, "value").to_owned();
    assert_eq!(value.chars().count(), 40, "the requested length");
    assert!(
        !value.chars().any(|c| c.is_ascii_punctuation()),
        "no punctuation when excluded"
    );
    assert_eq!(current_value(&created.id).await, value, "what AWS holds");
    assert_eq!(
        output(&created, "version_id"),
        request_token("tok-generated", "create"),
        "the create's token is the first version"
    );

    // Read returns the same value, and the inputs as applied, twice over
    // (the second from what the engine recorded of the first).
    let read = p
        .read(&c, &existing(&created))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(output(&read, "value"), value);
    assert_eq!(read.inputs, given);
    let again = p
        .read(&c, &existing(&read))
        .await
        .expect("read again")
        .expect("exists");
    assert_eq!(again.inputs, given, "a second plan is empty");
    assert_eq!(again.outputs, created.outputs);

    // Changing `generate` later generates nothing.
    let longer = with(
        &given,
        "generate",
        [("length", Value::Int(64))].into_iter().collect(),
    );
    let updated = p
        .update(&c, &existing(&read), &longer)
        .await
        .expect("update");
    assert_eq!(output(&updated, "value"), value, "not regenerated");
    assert_eq!(updated.inputs, longer);

    let gone = with(&given, "recovery_window_days", Value::Int(0));
    p.delete(&c, &existing(&updated).with_inputs(gone))
        .await
        .expect("delete");
}

/// `Existing` with other recorded inputs.
trait WithInputs {
    fn with_inputs(self, inputs: Value) -> Self;
}

impl WithInputs for infra_core::Existing {
    fn with_inputs(mut self, inputs: Value) -> Self {
        self.inputs = inputs;
        self
    }
}

#[tokio::test]
async fn a_given_value_is_updated_in_place_as_a_new_version() {
    let p = provider();
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(unique("given"))),
            ("value", secret("value-one")),
            ("recovery_window_days", Value::Int(0)),
        ],
    );
    let c = ctx("secretsmanager_secret.given", "tok-given");
    let created = p.create(&c, &given).await.expect("create");
    assert_eq!(current_value(&created.id).await, "value-one");
    assert_eq!(output(&created, "value"), "value-one");

    // As state holds it: the value only as its digest.
    let mut recorded = existing(&created);
    recorded.inputs = with(&created.inputs, "value", redacted(field(&given, "value")));
    let unchanged = p.read(&c, &recorded).await.expect("read").expect("exists");
    assert_eq!(unchanged.inputs, recorded.inputs, "no drift by digest");

    let desired = with(&given, "value", secret("value-two"));
    let u = ctx("secretsmanager_secret.given", "tok-given-update");
    let updated = p.update(&u, &recorded, &desired).await.expect("update");
    assert_eq!(updated.id, created.id, "updated in place");
    assert_eq!(current_value(&created.id).await, "value-two");
    assert_eq!(output(&updated, "value"), "value-two");
    assert_ne!(
        output(&updated, "version_id"),
        output(&created, "version_id"),
        "a new version"
    );
    assert_eq!(
        output(&updated, "version_id"),
        request_token("tok-given-update", "put")
    );
    // A retried put (same token) adds no version.
    let retried = p.update(&u, &recorded, &desired).await.expect("retry");
    assert_eq!(
        output(&retried, "version_id"),
        output(&updated, "version_id")
    );
    let versions = sdk()
        .await
        .list_secret_version_ids()
        .secret_id(&created.id)
        .send()
        .await
        .expect("versions");
    assert_eq!(versions.versions().len(), 2, "{versions:?}");
    let read = p
        .read(&u, &existing(&updated))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read.inputs, desired);

    // Changed outside infra: the value reads as changed, and the next
    // update puts the stack's value back.
    sdk()
        .await
        .put_secret_value()
        .secret_id(&created.id)
        .secret_string("changed-by-hand")
        .send()
        .await
        .expect("put by hand");
    let drifted = p
        .read(&u, &existing(&updated))
        .await
        .expect("read")
        .expect("exists");
    assert_ne!(
        field(&drifted.inputs, "value"),
        field(&desired, "value"),
        "drift is seen"
    );
    assert_eq!(field(&drifted.inputs, "name"), field(&desired, "name"));
    let d = ctx("secretsmanager_secret.given", "tok-given-revert");
    let reverted = p
        .update(&d, &existing(&drifted), &desired)
        .await
        .expect("revert");
    assert_eq!(current_value(&created.id).await, "value-two");
    assert_eq!(reverted.inputs, desired);

    p.delete(&d, &existing(&reverted)).await.expect("delete");
}

#[tokio::test]
async fn recovery_window_zero_deletes_at_once() {
    let p = provider();
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(unique("now"))),
            ("value", secret("short-lived")),
            ("recovery_window_days", Value::Int(0)),
        ],
    );
    let c = ctx("secretsmanager_secret.now", "tok-now");
    let created = p.create(&c, &given).await.expect("create");
    p.delete(&c, &existing(&created)).await.expect("delete");
    let err = sdk()
        .await
        .describe_secret()
        .secret_id(&created.id)
        .send()
        .await
        .expect_err("deleted without recovery");
    assert!(
        format!("{err:?}").contains("ResourceNotFoundException"),
        "{err:?}"
    );
    // The name is free again at once.
    let again = p
        .create(&ctx("secretsmanager_secret.now", "tok-now-2"), &given)
        .await
        .expect("create again");
    p.delete(&c, &existing(&again)).await.expect("delete again");
}

#[tokio::test]
async fn the_default_window_schedules_deletion_and_our_token_restores() {
    let p = provider();
    let name = unique("later");
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("value", secret("kept-for-30-days")),
            ("tags", table(&[("team", "data")])),
        ],
    );
    let c = ctx("secretsmanager_secret.later", "tok-later");
    let created = p.create(&c, &given).await.expect("create");
    p.delete(&c, &existing(&created)).await.expect("delete");
    let described = sdk()
        .await
        .describe_secret()
        .secret_id(&created.id)
        .send()
        .await
        .expect("still there, scheduled");
    assert!(described.deleted_date().is_some(), "scheduled for deletion");
    assert!(
        p.read(&c, &existing(&created))
            .await
            .expect("read")
            .is_none(),
        "a secret scheduled for deletion is gone"
    );
    p.delete(&c, &existing(&created))
        .await
        .expect("deleting what is scheduled succeeds");
    assert!(
        p.find(&c, &given).await.expect("find").is_none(),
        "find sees no live secret"
    );

    // Another create (another token) is told what to do.
    let err = p
        .create(&ctx("secretsmanager_secret.later", "tok-other"), &given)
        .await
        .expect_err("the name is taken");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("scheduled for deletion"),
        "{}",
        err.message
    );
    assert!(err.message.contains("restore-secret"), "{}", err.message);
    assert!(
        err.message.contains("force-delete-without-recovery"),
        "{}",
        err.message
    );

    // The create that made it (same token) restores and adopts it.
    let log = Arc::new(Mutex::new(Vec::new()));
    let logged = ctx_logged("secretsmanager_secret.later", "tok-later", &log);
    let restored = p.create(&logged, &given).await.expect("restore");
    assert_eq!(restored.id, created.id);
    assert_eq!(restored.inputs, given);
    assert_eq!(output(&restored, "value"), "kept-for-30-days");
    let described = sdk()
        .await
        .describe_secret()
        .secret_id(&created.id)
        .send()
        .await
        .expect("describe");
    assert!(described.deleted_date().is_none(), "restored");
    assert!(
        log.lock().unwrap().iter().any(|m| m.contains("restoring")),
        "{log:?}"
    );
    let gone = with(&given, "recovery_window_days", Value::Int(0));
    let mut recorded = existing(&restored);
    recorded.inputs = gone;
    p.delete(&c, &recorded).await.expect("delete");
}

#[tokio::test]
async fn a_secret_someone_else_made_is_not_adopted() {
    let p = provider();
    let name = unique("theirs");
    sdk()
        .await
        .create_secret()
        .name(&name)
        .secret_string("not-ours")
        .send()
        .await
        .expect("create by hand");
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("value", secret("ours")),
        ],
    );
    let c = ctx("secretsmanager_secret.theirs", "tok-theirs");
    let err = p.create(&c, &given).await.expect_err("exists");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("already exists"), "{}", err.message);
    assert!(
        err.message
            .contains("infra import secretsmanager_secret.theirs"),
        "{}",
        err.message
    );
    assert!(p.find(&c, &given).await.expect("find").is_none());
    assert_eq!(current_value(&name).await, "not-ours", "left alone");
}

/// A sentinel plaintext in every failed operation: none of their messages
/// holds it.
#[tokio::test]
async fn the_plaintext_never_appears_in_an_error() {
    const SENTINEL: &str = "SENTINEL-plaintext-4f1b";
    let p = provider();
    let name = unique("sentinel");
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("value", secret(SENTINEL)),
            ("recovery_window_days", Value::Int(0)),
        ],
    );
    let mut messages = Vec::new();

    // The name is taken by a secret infra did not make.
    sdk()
        .await
        .create_secret()
        .name(&name)
        .secret_string(SENTINEL)
        .send()
        .await
        .expect("create by hand");
    let c = ctx("secretsmanager_secret.sentinel", "tok-sentinel");
    messages.push(p.create(&c, &given).await.expect_err("taken").message);

    // The secret vanishes before an update writes the value.
    let found = sdk()
        .await
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .expect("describe");
    let arn = found.arn().expect("arn").to_owned();
    sdk()
        .await
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete by hand");
    let recorded = infra_core::Existing {
        id: arn,
        inputs: with(&given, "value", secret("older")),
        outputs: Value::map(),
    };
    let err = p.update(&c, &recorded, &given).await.expect_err("gone");
    assert_eq!(err.kind, ErrorKind::NotFound);
    messages.push(err.message);

    // A value the engine could not reveal (state holds only its digest).
    let sealed = with(&given, "value", redacted(field(&given, "value")));
    messages.push(p.create(&c, &sealed).await.expect_err("sealed").message);

    for m in &messages {
        assert!(!m.contains(SENTINEL), "{m}");
        assert!(m.contains("secretsmanager_secret.sentinel"), "{m}");
    }
    assert_eq!(messages.len(), 3);
}
