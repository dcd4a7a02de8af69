//! Tests of the simulated cloud through its public API, each on a temp root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use infra_core::{
    Address, ErrorKind, Existing, Observed, OpContext, OpKind, Provider, Secret, Value,
};
use infra_sim::{LedgerEntry, SimProvider, ledger, live_resources};

fn ctx_with(root: &Path, name: &str, token: &str, settings: Value) -> OpContext {
    OpContext::new(
        Address::new("sim_resource", name).unwrap(),
        token.to_owned(),
        settings,
        root.to_owned(),
        Duration::from_secs(3600),
        Arc::new(|_: &str| {}),
    )
}

fn ctx(root: &Path, name: &str, token: &str) -> OpContext {
    ctx_with(root, name, token, Value::Null)
}

fn inputs(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

fn existing(observed: &Observed) -> Existing {
    Existing {
        id: observed.id.clone(),
        inputs: observed.inputs.clone(),
        outputs: observed.outputs.clone(),
    }
}

fn sim_dir(root: &Path) -> PathBuf {
    root.join(".sim")
}

fn resource_file(root: &Path, id: &str) -> PathBuf {
    sim_dir(root).join("resources").join(format!("{id}.json"))
}

/// `ledger.json` as written, without rebuilding it.
fn ledger_json(root: &Path) -> BTreeMap<String, LedgerEntry> {
    let text = std::fs::read_to_string(sim_dir(root).join("ledger.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The expected ledger: `(address, creates, deletes, live)`.
fn expect(rows: &[(&str, u64, u64, bool)]) -> BTreeMap<String, LedgerEntry> {
    rows.iter()
        .map(|&(address, creates, deletes, live)| {
            let entry = LedgerEntry {
                creates,
                deletes,
                live,
            };
            (address.to_owned(), entry)
        })
        .collect()
}

#[tokio::test]
async fn create_read_update_delete_round_trip() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let c = ctx(root.path(), "a", "tok-a");

    let made = sim
        .create(&c, &inputs(r#"{"payload": {"size": 1}}"#))
        .await
        .unwrap();
    assert!(made.id.starts_with("sim-"), "{}", made.id);
    assert_eq!(made.outputs.get("id"), Some(&Value::from(made.id.as_str())));
    let secret = made.outputs.get("secret").and_then(Value::as_str);
    assert_eq!(
        secret.map(str::len),
        Some(24),
        "a generated secret: {secret:?}"
    );
    assert_eq!(
        sim.read(&c, &existing(&made)).await.unwrap(),
        Some(made.clone())
    );

    let changed = sim
        .update(&c, &existing(&made), &inputs(r#"{"payload": {"size": 2}}"#))
        .await
        .unwrap();
    assert_eq!(changed.id, made.id);
    assert_eq!(changed.outputs, made.outputs, "an update keeps the secret");
    let read = sim.read(&c, &existing(&made)).await.unwrap().unwrap();
    assert_eq!(read.inputs, inputs(r#"{"payload": {"size": 2}}"#));

    sim.delete(&c, &existing(&changed)).await.unwrap();
    assert_eq!(sim.read(&c, &existing(&made)).await.unwrap(), None);
    let err = sim
        .update(&c, &existing(&made), &inputs("{}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(
        err.message.starts_with("sim_resource.a: "),
        "{}",
        err.message
    );

    drop(sim);
    assert_eq!(
        ledger_json(root.path()),
        expect(&[("sim_resource.a", 1, 1, false)])
    );
    assert!(live_resources(&sim_dir(root.path())).unwrap().is_empty());
}

#[tokio::test]
async fn create_with_the_same_token_is_idempotent() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let c = ctx(root.path(), "a", "tok-a");
    let first = sim.create(&c, &inputs(r#"{"payload": 1}"#)).await.unwrap();
    let again = sim.create(&c, &inputs(r#"{"payload": 1}"#)).await.unwrap();
    assert_eq!(first, again);

    assert_eq!(
        sim.find(&c, &Value::Null).await.unwrap(),
        Some(first.clone())
    );
    let other = ctx(root.path(), "a", "tok-other");
    assert_eq!(sim.find(&other, &Value::Null).await.unwrap(), None);

    // The same token at another address is an engine bug, not a new resource.
    let elsewhere = ctx(root.path(), "b", "tok-a");
    let err = sim.create(&elsewhere, &Value::Null).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("sim_resource.a"), "{}", err.message);

    drop(sim);
    assert_eq!(
        ledger_json(root.path()),
        expect(&[("sim_resource.a", 1, 0, true)])
    );
}

#[tokio::test]
async fn deleting_what_is_gone_succeeds_without_counting() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let c = ctx(root.path(), "a", "tok-a");
    for id in ["sim-0123456789abcdef", "not-a-sim-id", "../escape"] {
        let gone = Existing {
            id: id.into(),
            inputs: Value::Null,
            outputs: Value::Null,
        };
        sim.delete(&c, &gone).await.unwrap();
        assert_eq!(sim.read(&c, &gone).await.unwrap(), None);
    }
    let made = sim.create(&c, &Value::Null).await.unwrap();
    sim.delete(&c, &existing(&made)).await.unwrap();
    sim.delete(&c, &existing(&made)).await.unwrap();
    assert_eq!(sim.find(&c, &Value::Null).await.unwrap(), None);
    drop(sim);
    assert_eq!(
        ledger_json(root.path()),
        expect(&[("sim_resource.a", 1, 1, false)])
    );
}

#[tokio::test]
async fn fail_on_fails_that_operation_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();

    let c = ctx(root.path(), "c", "tok-c");
    let err = sim
        .create(&c, &inputs(r#"{"fail_on": "create"}"#))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(
        err.message.starts_with("sim_resource.c: create failed"),
        "{}",
        err.message
    );
    assert_eq!(sim.find(&c, &Value::Null).await.unwrap(), None);

    let u = ctx(root.path(), "u", "tok-u");
    let made = sim.create(&u, &inputs(r#"{"payload": 1}"#)).await.unwrap();
    let err = sim
        .update(
            &u,
            &existing(&made),
            &inputs(r#"{"payload": 2, "fail_on": "update"}"#),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(
        err.message.starts_with("sim_resource.u: update failed"),
        "{}",
        err.message
    );
    let read = sim.read(&u, &existing(&made)).await.unwrap().unwrap();
    assert_eq!(read.inputs, inputs(r#"{"payload": 1}"#));

    let d = ctx(root.path(), "d", "tok-d");
    let made = sim
        .create(&d, &inputs(r#"{"fail_on": "delete"}"#))
        .await
        .unwrap();
    let err = sim.delete(&d, &existing(&made)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(
        err.message.starts_with("sim_resource.d: delete failed"),
        "{}",
        err.message
    );
    assert!(sim.read(&d, &existing(&made)).await.unwrap().is_some());

    drop(sim);
    assert_eq!(
        ledger_json(root.path()),
        expect(&[
            ("sim_resource.d", 1, 0, true),
            ("sim_resource.u", 1, 0, true)
        ])
    );
}

#[tokio::test]
async fn validate_rejects_bad_fail_on_and_latencies() {
    let sim = SimProvider::default();
    assert!(
        sim.validate(&inputs(r#"{"fail_on": "delete", "create_ms": 5}"#))
            .is_empty()
    );
    assert!(sim.validate(&Value::Null).is_empty());
    let problems: Vec<String> = sim
        .validate(&inputs(r#"{"fail_on": "read", "update_ms": -1}"#))
        .into_iter()
        .map(|(path, message)| format!("{}: {message}", infra_core::display_path(&path)))
        .collect();
    assert_eq!(
        problems,
        [
            "update_ms: `update_ms`: expected a number of milliseconds (0 or more), found -1",
            r#"fail_on: `fail_on`: expected "create", "update" or "delete", found "read""#,
        ]
    );

    // The same check guards the operation itself.
    let root = tempfile::tempdir().unwrap();
    let err = sim
        .create(
            &ctx(root.path(), "a", "t"),
            &inputs(r#"{"fail_on": "sometimes"}"#),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.starts_with("sim_resource.a: `fail_on`"),
        "{}",
        err.message
    );
}

#[tokio::test(start_paused = true)]
async fn latencies_are_honoured_and_estimated() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let c = ctx(root.path(), "slow", "tok-slow");
    let spec =
        inputs(r#"{"create_ms": 40000, "update_ms": 3000, "delete_ms": 5000, "read_ms": 700}"#);
    assert_eq!(sim.estimate(OpKind::Create, &spec), Duration::from_secs(40));
    assert_eq!(
        sim.estimate(OpKind::Read, &spec),
        Duration::from_millis(700)
    );
    assert_eq!(sim.estimate(OpKind::Update, &Value::Null), Duration::ZERO);

    let start = tokio::time::Instant::now();
    let made = sim.create(&c, &spec).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(40),
        "{:?}",
        start.elapsed()
    );

    let start = tokio::time::Instant::now();
    sim.update(&c, &existing(&made), &spec).await.unwrap();
    assert!(start.elapsed() >= Duration::from_secs(3));

    let start = tokio::time::Instant::now();
    sim.read(&c, &existing(&made)).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(700));

    let start = tokio::time::Instant::now();
    sim.delete(&c, &existing(&made)).await.unwrap();
    assert!(start.elapsed() >= Duration::from_secs(5));
}

#[tokio::test]
async fn a_create_cut_short_has_made_the_resource() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let c = ctx(root.path(), "a", "tok-a");
    let slow = inputs(r#"{"create_ms": 60000}"#);
    let cut = tokio::time::timeout(Duration::from_millis(200), sim.create(&c, &slow)).await;
    assert!(cut.is_err(), "the create should still be waiting");
    let found = sim
        .find(&c, &slow)
        .await
        .unwrap()
        .expect("the cloud accepted the create");
    // Recovery adopts it; the retried create is a replay that does not wait.
    assert_eq!(sim.create(&c, &slow).await.unwrap(), found);
    drop(sim);
    assert_eq!(
        ledger_json(root.path()),
        expect(&[("sim_resource.a", 1, 0, true)])
    );
}

#[tokio::test]
async fn two_providers_on_one_dir_share_the_cloud() {
    let root = tempfile::tempdir().unwrap();
    let (first, second) = (SimProvider::default(), SimProvider::default());
    let a = ctx(root.path(), "a", "tok-a");
    let made = first
        .create(&a, &inputs(r#"{"payload": "x"}"#))
        .await
        .unwrap();
    assert_eq!(
        second.find(&a, &Value::Null).await.unwrap(),
        Some(made.clone())
    );
    assert_eq!(
        second.read(&a, &existing(&made)).await.unwrap(),
        Some(made.clone())
    );
    second.delete(&a, &existing(&made)).await.unwrap();
    assert_eq!(first.read(&a, &existing(&made)).await.unwrap(), None);
    second
        .create(&ctx(root.path(), "b", "tok-b"), &Value::Null)
        .await
        .unwrap();

    // Either one's ledger includes the other's changes, read from the log.
    let want = expect(&[
        ("sim_resource.a", 1, 1, false),
        ("sim_resource.b", 1, 0, true),
    ]);
    drop(first);
    assert_eq!(ledger_json(root.path()), want);
    drop(second);
    assert_eq!(ledger_json(root.path()), want);
}

#[tokio::test]
async fn ledger_json_is_exact_after_drop_and_rebuilt_after_a_kill() {
    let root = tempfile::tempdir().unwrap();
    let dir = sim_dir(root.path());
    let sim = SimProvider::default();
    // A create-before-destroy replacement: two resources at one address.
    let old = sim
        .create(&ctx(root.path(), "r", "tok-1"), &Value::Null)
        .await
        .unwrap();
    let new = sim
        .create(&ctx(root.path(), "r", "tok-2"), &Value::Null)
        .await
        .unwrap();
    assert_ne!(old.id, new.id);
    sim.create(&ctx(root.path(), "s", "tok-3"), &Value::Null)
        .await
        .unwrap();
    assert_eq!(live_resources(&dir).unwrap().len(), 3);
    sim.delete(&ctx(root.path(), "r", "tok-4"), &existing(&old))
        .await
        .unwrap();

    let want = expect(&[
        ("sim_resource.r", 2, 1, true),
        ("sim_resource.s", 1, 0, true),
    ]);
    drop(sim);
    assert_eq!(ledger_json(root.path()), want);

    // A process that dies without dropping its provider leaves ledger.json
    // stale; the resource files still hold the truth.
    let sim = SimProvider::default();
    let s = live_resources(&dir)
        .unwrap()
        .into_iter()
        .find(|r| r.address == "sim_resource.s");
    let s = s.unwrap();
    let gone = Existing {
        id: s.id,
        inputs: s.inputs,
        outputs: Value::Null,
    };
    sim.delete(&ctx(root.path(), "s", "tok-5"), &gone)
        .await
        .unwrap();
    std::mem::forget(sim);
    std::fs::remove_file(dir.join("ledger.json")).unwrap();
    let want = expect(&[
        ("sim_resource.r", 2, 1, true),
        ("sim_resource.s", 1, 1, false),
    ]);
    assert_eq!(ledger(&dir).unwrap(), want);
    assert_eq!(ledger_json(root.path()), want);
    let live: Vec<String> = live_resources(&dir)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(live, [new.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn parallel_operations_keep_the_ledger_correct() {
    let root = tempfile::tempdir().unwrap();
    let sim = Arc::new(SimProvider::default());
    let mut tasks = Vec::new();
    for i in 0..200 {
        // Every create is sent twice at once: the replay must not count.
        for _ in 0..2 {
            let (sim, root) = (Arc::clone(&sim), root.path().to_owned());
            tasks.push(tokio::spawn(async move {
                let c = ctx(&root, &format!("r{i}"), &format!("tok-{i}"));
                sim.create(&c, &inputs(r#"{"payload": 1}"#)).await.unwrap()
            }));
        }
    }
    let mut made = Vec::new();
    for task in tasks {
        made.push(task.await.unwrap());
    }
    let mut tasks = Vec::new();
    for (i, observed) in made.iter().enumerate().step_by(4) {
        let (sim, root, gone) = (Arc::clone(&sim), root.path().to_owned(), existing(observed));
        tasks.push(tokio::spawn(async move {
            let c = ctx(&root, &format!("r{}", i / 2), &format!("del-{i}"));
            sim.delete(&c, &gone).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    drop(sim);

    let want: BTreeMap<String, LedgerEntry> = (0..200)
        .map(|i| {
            let deleted = i % 2 == 0;
            let entry = LedgerEntry {
                creates: 1,
                deletes: u64::from(deleted),
                live: !deleted,
            };
            (format!("sim_resource.r{i}"), entry)
        })
        .collect();
    assert_eq!(ledger_json(root.path()), want);
    assert_eq!(ledger(&sim_dir(root.path())).unwrap(), want);
    assert_eq!(live_resources(&sim_dir(root.path())).unwrap().len(), 100);
}

#[tokio::test]
async fn ledger_json_refreshes_while_the_provider_lives() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    sim.create(&ctx(root.path(), "a", "tok-a"), &Value::Null)
        .await
        .unwrap();
    let want = expect(&[("sim_resource.a", 1, 0, true)]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let path = sim_dir(root.path()).join("ledger.json");
        if path.exists() && ledger_json(root.path()) == want {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ledger.json was not refreshed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn read_returns_drifted_inputs() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let c = ctx(root.path(), "a", "tok-a");
    let made = sim.create(&c, &inputs(r#"{"payload": 1}"#)).await.unwrap();
    let path = resource_file(root.path(), &made.id);
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(file["address"], "sim_resource.a");
    assert_eq!(file["token"], "tok-a");
    assert_eq!(file["live"], true);
    file["inputs"]["payload"] = 2.into();
    std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
    let read = sim.read(&c, &existing(&made)).await.unwrap().unwrap();
    assert_eq!(read.inputs, inputs(r#"{"payload": 2}"#));
}

#[tokio::test]
async fn secrets_are_stored_as_digests_only() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let c = ctx(root.path(), "a", "tok-a");
    let secret = Value::Sensitive(Secret::new("hmac:abc", "hunter2".into()));
    let given: Value = [("payload", secret.clone())].into_iter().collect();
    let made = sim.create(&c, &given).await.unwrap();
    let text = std::fs::read_to_string(resource_file(root.path(), &made.id)).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("hmac:abc"), "{text}");
    let read = sim.read(&c, &existing(&made)).await.unwrap().unwrap();
    assert_eq!(read.inputs, given, "secrets compare by digest");
}

#[tokio::test]
async fn settings_choose_the_dir_and_are_checked() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    assert_eq!(sim.settings_section(), Some("sim"));
    let settings = inputs(r#"{"dir": "clouds/one"}"#);
    let c = ctx_with(root.path(), "a", "tok-a", settings);
    let made = sim.create(&c, &Value::Null).await.unwrap();
    let dir = root.path().join("clouds/one");
    assert!(
        dir.join("resources")
            .join(format!("{}.json", made.id))
            .exists()
    );
    assert_eq!(live_resources(&dir).unwrap().len(), 1);
    assert!(live_resources(&sim_dir(root.path())).unwrap().is_empty());

    for (bad, says) in [
        (
            r#"{"dir": 3}"#,
            "sim_resource.a: [sim] dir must be a non-empty path, found integer",
        ),
        (
            r#"{"seed": 1}"#,
            "sim_resource.a: unknown key `seed` in [sim]: expected `dir` or `faults`",
        ),
    ] {
        let c = ctx_with(root.path(), "a", "tok-a", inputs(bad));
        let err = sim.create(&c, &Value::Null).await.unwrap_err();
        assert_eq!((err.kind, err.message.as_str()), (ErrorKind::Invalid, says));
    }
}

#[tokio::test]
async fn a_corrupt_resource_file_is_an_error_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = sim_dir(root.path());
    let sim = SimProvider::default();
    let c = ctx(root.path(), "a", "tok-a");
    let made = sim.create(&c, &Value::Null).await.unwrap();
    let path = resource_file(root.path(), &made.id);
    std::fs::write(&path, "{ not json").unwrap();
    let shown = path.display().to_string();

    let err = sim.read(&c, &existing(&made)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(
        err.message
            .starts_with("sim_resource.a: corrupt sim resource file "),
        "{}",
        err.message
    );
    assert!(err.message.contains(&shown), "{}", err.message);
    let err = sim.find(&c, &Value::Null).await.unwrap_err();
    assert!(err.message.contains(&shown), "{}", err.message);
    let err = sim.delete(&c, &existing(&made)).await.unwrap_err();
    assert!(err.message.contains(&shown), "{}", err.message);

    assert!(ledger(&dir).unwrap_err().to_string().contains(&shown));
    assert!(
        live_resources(&dir)
            .unwrap_err()
            .to_string()
            .contains(&shown)
    );
    // A new process refuses the dir rather than miscounting.
    let fresh = SimProvider::default();
    let err = fresh
        .create(&ctx(root.path(), "b", "tok-b"), &Value::Null)
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("sim_resource.b: "),
        "{}",
        err.message
    );
    assert!(err.message.contains(&shown), "{}", err.message);
}

#[tokio::test]
async fn conformance() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let dir = root.path().to_owned();
    let case = infra_core::conformance::Case {
        inputs: inputs(r#"{"payload": {"size": 3}, "replace_key": "v1", "read_ms": 1}"#),
        updates: vec![
            ("payload", inputs(r#"{"size": 4, "tags": ["a"]}"#)),
            ("read_ms", Value::Int(2)),
            ("fail_on", Value::from("delete")),
            ("fail_on", Value::Null),
        ],
        replacing: vec!["replace_key"],
    };
    let passed =
        infra_core::conformance::run(&sim, &|token| ctx(&dir, "conformance", token), case).await;
    assert_eq!(passed.len(), 7, "{passed:?}");
}
