//! Tests of seeded fault injection (`[sim] faults`) through the provider's
//! public API: determinism, rates, effects before and after a fault, bursts,
//! slow calls, `fail_on`, selection and bad settings. The figures they
//! measure are printed for `--nocapture`.
#![allow(
    clippy::print_stderr,
    reason = "a test binary, not the library: its figures show with --nocapture"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use infra_core::{Address, ErrorKind, Existing, Observed, OpContext, Provider, Value};
use infra_sim::{Fault, InjectedFault, Operation, SimProvider, faults, ledger};

fn inputs(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

/// A context whose `[sim]` table is `{ faults = <faults> }`.
fn ctx(root: &Path, name: &str, token: &str, faults: &str) -> OpContext {
    let settings = inputs(&format!(r#"{{"faults": {faults}}}"#));
    OpContext::new(
        Address::new("sim_resource", name).unwrap(),
        token.to_owned(),
        settings,
        root.to_owned(),
        Duration::from_secs(3600),
        Arc::new(|_: &str| {}),
    )
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

/// How many times each fault was injected.
fn tally(log: &[InjectedFault]) -> BTreeMap<Fault, usize> {
    let mut counts = BTreeMap::new();
    for record in log {
        *counts.entry(record.fault).or_default() += 1;
    }
    counts
}

/// Creates with the same token until it succeeds, as the engine's retry
/// does; returns the result and how many attempts failed.
async fn create_with_retry(
    sim: &SimProvider,
    c: &OpContext,
    given: &Value,
) -> (Observed, Vec<ErrorKind>) {
    let mut errors = Vec::new();
    loop {
        match sim.create(c, given).await {
            Ok(observed) => return (observed, errors),
            Err(e) if e.kind.is_retryable() => errors.push(e.kind),
            Err(e) => panic!("create of {} failed: {e}", c.address),
        }
        assert!(errors.len() < 100, "{}: never succeeded", c.address);
    }
}

const MIXED: &str = r#"{"seed": SEED, "throttle": 0.3, "throttle_burst": 2, "transient": 0.1,
    "timeout": 0.1, "slow": 0.2, "slow_factor": 2}"#;

/// Creates 40 resources, reads each 5 times and deletes them, every call
/// retried until it succeeds; `parallel` runs the resources as concurrent
/// tasks. Returns the faults log sorted, as concurrent appends interleave.
async fn workload(root: &Path, faults_json: &str, parallel: bool) -> Vec<InjectedFault> {
    let sim = Arc::new(SimProvider::default());
    let one = |i: usize| {
        let (sim, root, faults_json) = (Arc::clone(&sim), root.to_owned(), faults_json.to_owned());
        async move {
            let c = ctx(&root, &format!("r{i}"), &format!("tok-{i}"), &faults_json);
            let (made, _) = create_with_retry(&sim, &c, &inputs(r#"{"read_ms": 1}"#)).await;
            for _ in 0..5 {
                while sim.read(&c, &existing(&made)).await.is_err() {}
            }
            while sim.delete(&c, &existing(&made)).await.is_err() {}
        }
    };
    if parallel {
        let tasks: Vec<_> = (0..40).map(|i| tokio::spawn(one(i))).collect();
        for task in tasks {
            task.await.unwrap();
        }
    } else {
        for i in 0..40 {
            one(i).await;
        }
    }
    drop(sim);
    let mut log = faults(&sim_dir(root)).unwrap();
    log.sort_by(|a, b| {
        (&a.address, a.operation, a.call, a.fault).cmp(&(&b.address, b.operation, b.call, b.fault))
    });
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seed_reproduces_the_faults_whatever_the_scheduling() {
    let (first, second, other) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let seeded = |seed: &str| MIXED.replace("SEED", seed);
    let sequential = workload(first.path(), &seeded("7"), false).await;
    let parallel = workload(second.path(), &seeded("7"), true).await;
    let reseeded = workload(other.path(), &seeded("8"), true).await;
    eprintln!(
        "seed 7: {} faults {:?}; seed 8: {} faults {:?}",
        sequential.len(),
        tally(&sequential),
        reseeded.len(),
        tally(&reseeded)
    );
    assert_eq!(sequential, parallel);
    assert_ne!(sequential, reseeded);
    assert_eq!(tally(&sequential).len(), 4, "every kind of fault occurs");
    assert!(sequential.iter().all(|record| record.version == 1));
    for dir in [&first, &second, &other] {
        let ledger = ledger(&sim_dir(dir.path())).unwrap();
        assert_eq!(ledger.len(), 40);
        for (address, entry) in ledger {
            assert_eq!((entry.creates, entry.deletes), (1, 1), "{address}");
        }
    }
}

/// Makes `calls` reads of one resource at each of `addresses` addresses
/// and returns the share of calls that failed with each error kind, and
/// the faults log.
async fn read_many(
    faults_json: &str,
    addresses: usize,
    calls: usize,
) -> (BTreeMap<String, f64>, Vec<InjectedFault>) {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let plain = OpContext::new(
        Address::new("sim_resource", "made").unwrap(),
        "tok".into(),
        Value::Null,
        root.path().to_owned(),
        Duration::from_secs(3600),
        Arc::new(|_: &str| {}),
    );
    let made = sim.create(&plain, &Value::Null).await.unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for a in 0..addresses {
        let c = ctx(root.path(), &format!("r{a}"), "tok", faults_json);
        for _ in 0..calls {
            let key = match sim.read(&c, &existing(&made)).await {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("{:?}", e.kind),
            };
            *counts.entry(key).or_default() += 1;
        }
    }
    let total = (addresses * calls) as f64;
    let shares = counts
        .into_iter()
        .map(|(k, n)| (k, n as f64 / total))
        .collect();
    (shares, faults(&sim_dir(root.path())).unwrap())
}

#[tokio::test]
async fn rates_are_roughly_as_configured() {
    let near = |got: f64, want: f64, what: &str| {
        assert!(
            (got - want).abs() < 0.04,
            "{what}: {got:.3}, configured {want}"
        );
    };
    // Throttling keeps its share with and without bursts.
    for burst in [0, 3] {
        let (shares, log) = read_many(
            &format!(r#"{{"seed": 1, "throttle": 0.3, "throttle_burst": {burst}}}"#),
            50,
            100,
        )
        .await;
        eprintln!("throttle 0.3, burst {burst}: {shares:?}");
        near(shares["Throttled"], 0.3, "throttled share");
        assert_eq!(log.len() as f64, (shares["Throttled"] * 5000.0).round());
    }
    // Each later check sees only the calls the earlier ones let through.
    let (shares, log) = read_many(
        r#"{"seed": 2, "throttle": 0.2, "transient": 0.1, "timeout": 0.05, "slow": 0.25}"#,
        50,
        100,
    )
    .await;
    let counts = tally(&log);
    let of = |fault| counts.get(&fault).copied().unwrap_or(0) as f64 / 5000.0;
    eprintln!("mixed: {shares:?}, injected {counts:?}");
    near(of(Fault::Throttle), 0.2, "throttle");
    near(of(Fault::Transient), 0.8 * 0.1, "transient");
    near(of(Fault::Timeout), 0.8 * 0.9 * 0.05, "timeout");
    near(of(Fault::Slow), 0.8 * 0.9 * 0.25, "slow");
    // Reads report timeouts as transient errors, like 5xx.
    near(shares["Throttled"], of(Fault::Throttle), "throttled errors");
    near(
        shares["Transient"],
        of(Fault::Transient) + of(Fault::Timeout),
        "transient errors",
    );
}

#[tokio::test]
async fn throttled_and_transient_calls_change_nothing() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    for (name, faults_json, kind, says) in [
        (
            "t",
            r#"{"seed": 3, "throttle": 1, "operations": ["create"]}"#,
            ErrorKind::Throttled,
            "sim_resource.t: throttled: rate exceeded on create call 1 (injected by [sim] faults, seed 3); retry with backoff",
        ),
        (
            "u",
            r#"{"seed": 3, "transient": 1, "operations": ["create"]}"#,
            ErrorKind::Transient,
            "sim_resource.u: 503 service unavailable on create call 1 (injected by [sim] faults, seed 3); nothing changed, retry",
        ),
    ] {
        let c = ctx(root.path(), name, name, faults_json);
        let err = sim.create(&c, &Value::Null).await.unwrap_err();
        assert_eq!((err.kind, err.message.as_str()), (kind, says));
        assert_eq!(sim.find(&c, &Value::Null).await.unwrap(), None);
    }
    drop(sim);
    assert!(ledger(&sim_dir(root.path())).unwrap().is_empty());
}

#[tokio::test]
async fn a_timed_out_create_took_effect_and_its_retry_does_not_duplicate() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let given = inputs(r#"{"payload": 1}"#);

    // Every create times out: the first has made the resource all the same.
    let c = ctx(
        root.path(),
        "a",
        "tok-a",
        r#"{"seed": 4, "timeout": 1, "operations": ["create"]}"#,
    );
    let err = sim.create(&c, &given).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(
        err.message
            .starts_with("sim_resource.a: request timed out: create call 1 took effect"),
        "{}",
        err.message
    );
    let found = sim.find(&c, &given).await.unwrap().expect("it was made");
    let err = sim.create(&c, &given).await.unwrap_err();
    assert!(err.message.contains("create call 2"), "{}", err.message);
    // Once the responses get through, the retry returns the same resource.
    let calm = ctx(root.path(), "a", "tok-a", r#"{"seed": 4}"#);
    assert_eq!(sim.create(&calm, &given).await.unwrap(), found);

    // Many creates, each retried with its token until it succeeds.
    let mut timeouts = 0;
    for i in 0..50 {
        let c = ctx(
            root.path(),
            &format!("r{i}"),
            &format!("tok-{i}"),
            r#"{"seed": 4, "timeout": 0.5}"#,
        );
        let (made, errors) = create_with_retry(&sim, &c, &given).await;
        assert!(made.id.starts_with("sim-"));
        timeouts += errors.len();
    }
    eprintln!("50 creates with timeout = 0.5: {timeouts} timed out after taking effect");
    assert!(timeouts > 10, "{timeouts}");

    // An update and a delete that time out have taken effect too.
    let u = ctx(
        root.path(),
        "a",
        "tok-u",
        r#"{"seed": 4, "timeout": 1, "operations": ["update", "delete"]}"#,
    );
    let changed = inputs(r#"{"payload": 2}"#);
    let err = sim
        .update(&u, &existing(&found), &changed)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    let read = sim.read(&u, &existing(&found)).await.unwrap().unwrap();
    assert_eq!(read.inputs, changed);
    let err = sim.delete(&u, &existing(&found)).await.unwrap_err();
    assert!(
        err.message.contains("delete call 1 took effect"),
        "{}",
        err.message
    );
    assert_eq!(sim.read(&u, &existing(&found)).await.unwrap(), None);

    drop(sim);
    let ledger = ledger(&sim_dir(root.path())).unwrap();
    assert_eq!(ledger.len(), 51);
    for (address, entry) in &ledger {
        let deleted = u64::from(address == "sim_resource.a");
        assert_eq!(
            (entry.creates, entry.deletes, entry.live),
            (1, deleted, deleted == 0),
            "{address}"
        );
    }
    let log = faults(&sim_dir(root.path())).unwrap();
    assert_eq!(tally(&log)[&Fault::Timeout], timeouts + 4);
}

#[tokio::test]
async fn bursts_throttle_the_calls_after_a_throttled_one() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let c = ctx(
        root.path(),
        "a",
        "tok-a",
        r#"{"seed": 5, "throttle": 0.3, "throttle_burst": 4, "operations": ["find"]}"#,
    );
    let mut pattern = String::new();
    for _ in 0..300 {
        let throttled = sim.find(&c, &Value::Null).await.is_err();
        pattern.push(if throttled { 'T' } else { '.' });
    }
    eprintln!("throttle 0.3, burst 4: {pattern}");
    // Every complete run of throttled calls is made of bursts of 5.
    let runs: Vec<usize> = pattern
        .trim_end_matches('T')
        .split('.')
        .map(str::len)
        .filter(|&n| n > 0)
        .collect();
    assert!(runs.len() > 5, "{pattern}");
    assert!(runs.iter().all(|n| n % 5 == 0), "{pattern}");
}

#[tokio::test(start_paused = true)]
async fn slow_calls_wait_longer() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let c = ctx(
        root.path(),
        "a",
        "tok-a",
        r#"{"seed": 6, "slow": 1, "slow_factor": 5}"#,
    );
    let spec = inputs(r#"{"create_ms": 1000, "read_ms": 100}"#);
    let start = tokio::time::Instant::now();
    let made = sim.create(&c, &spec).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let start = tokio::time::Instant::now();
    sim.read(&c, &existing(&made)).await.unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_millis(1000),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn fail_on_still_fails_once_calls_get_through() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let given = inputs(r#"{"fail_on": "create"}"#);
    let mut retried = 0;
    for seed in 0..20 {
        let c = ctx(
            root.path(),
            &format!("b{seed}"),
            &format!("tok-{seed}"),
            &format!(r#"{{"seed": {seed}, "throttle": 0.5, "transient": 0.3}}"#),
        );
        let err = loop {
            match sim.create(&c, &given).await {
                Err(e) if e.kind.is_retryable() => retried += 1,
                other => break other.unwrap_err(),
            }
        };
        assert_eq!(err.kind, ErrorKind::Failed);
        let want = format!("sim_resource.b{seed}: create failed as configured");
        assert!(err.message.starts_with(&want), "{}", err.message);
    }
    eprintln!("20 creates with fail_on = \"create\": {retried} retryable errors first");
    assert!(retried > 10, "{retried}");
    drop(sim);
    assert!(ledger(&sim_dir(root.path())).unwrap().is_empty());
}

#[tokio::test]
async fn addresses_and_operations_select_the_calls() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    let faults_json =
        r#"{"throttle": 1, "addresses": ["sim_resource.a"], "operations": ["update"]}"#;
    let a = ctx(root.path(), "a", "tok-a", faults_json);
    let b = ctx(root.path(), "b", "tok-b", faults_json);
    let made_a = sim.create(&a, &Value::Null).await.unwrap();
    let made_b = sim.create(&b, &Value::Null).await.unwrap();
    sim.read(&a, &existing(&made_a)).await.unwrap();
    let err = sim
        .update(&a, &existing(&made_a), &Value::Null)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Throttled);
    assert!(err.message.contains("seed 0"), "{}", err.message);
    sim.update(&b, &existing(&made_b), &Value::Null)
        .await
        .unwrap();
    sim.delete(&a, &existing(&made_a)).await.unwrap();
    let log = faults(&sim_dir(root.path())).unwrap();
    assert_eq!(
        log,
        [InjectedFault {
            version: 1,
            seed: 0,
            address: "sim_resource.a".into(),
            operation: Operation::Update,
            call: 1,
            fault: Fault::Throttle,
        }]
    );
}

#[tokio::test]
async fn without_faults_nothing_is_logged() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    for faults_json in ["{}", r#"{"seed": 1, "throttle": 0}"#] {
        let c = ctx(root.path(), "a", "tok-a", faults_json);
        let made = sim.create(&c, &Value::Null).await.unwrap();
        sim.read(&c, &existing(&made)).await.unwrap();
        sim.delete(&c, &existing(&made)).await.unwrap();
    }
    assert!(!sim_dir(root.path()).join("faults.log").exists());
    assert!(faults(&sim_dir(root.path())).unwrap().is_empty());
}

#[tokio::test]
async fn bad_fault_settings_are_invalid_and_name_the_key() {
    let root = tempfile::tempdir().unwrap();
    let sim = SimProvider::default();
    for (faults_json, says) in [
        (
            "0.3",
            "[sim] faults must be a table such as { seed = 7, throttle = 0.3 }, found float",
        ),
        (
            r#"{"throttle": 1.5}"#,
            "[sim] faults.throttle must be a probability from 0 to 1, found 1.5",
        ),
        (
            r#"{"timeout": -0.1}"#,
            "[sim] faults.timeout must be a probability from 0 to 1, found -0.1",
        ),
        (
            r#"{"transient": "often"}"#,
            r#"[sim] faults.transient must be a probability from 0 to 1, found "often""#,
        ),
        (
            r#"{"seed": 1.5}"#,
            "[sim] faults.seed must be an integer, found 1.5",
        ),
        (
            r#"{"throttle_burst": -1}"#,
            "[sim] faults.throttle_burst must be a number of calls (0 or more), found -1",
        ),
        (
            r#"{"slow_factor": 0.5}"#,
            "[sim] faults.slow_factor must be a number from 1 to 1000000, found 0.5",
        ),
        (
            r#"{"addresses": "sim_resource.a"}"#,
            r#"[sim] faults.addresses must be a list of resource addresses such as ["sim_resource.db"], found "sim_resource.a""#,
        ),
        (
            r#"{"addresses": ["db"]}"#,
            "[sim] faults.addresses: `db` is not a resource address: expected `<type>.<name>` with ASCII letters, digits, `_` or `-`",
        ),
        (
            r#"{"operations": ["create", "list"]}"#,
            r#"[sim] faults.operations must be a list of "create", "read", "find", "update", "delete", found "list""#,
        ),
        (
            r#"{"throtle": 0.3}"#,
            "unknown key `throtle` in [sim] faults: expected one of `seed`, `throttle`, `throttle_burst`, `transient`, `timeout`, `slow`, `slow_factor`, `addresses`, `operations`",
        ),
    ] {
        let c = ctx(root.path(), "a", "tok-a", faults_json);
        let want = format!("sim_resource.a: {says}");
        let err = sim.create(&c, &Value::Null).await.unwrap_err();
        assert_eq!(
            (err.kind, err.message.as_str()),
            (ErrorKind::Invalid, want.as_str())
        );
        // Every call checks them, reads included.
        let gone = Existing {
            id: "sim-0123456789abcdef".into(),
            inputs: Value::Null,
            outputs: Value::Null,
        };
        let err = sim.read(&c, &gone).await.unwrap_err();
        assert_eq!(
            (err.kind, err.message.as_str()),
            (ErrorKind::Invalid, want.as_str())
        );
    }
    assert!(ledger(&sim_dir(root.path())).unwrap().is_empty());
}
