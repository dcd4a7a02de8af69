//! End-to-end tests of the `infra` binary against a simulated cloud that
//! injects faults (`[sim] faults`): throttling, 5xx, timeouts after the
//! change took effect, slow calls, a permanent failure and an exhausted
//! retry budget, on a stack of independent chains. Run with
//! `cargo test --features sim --test faults -- --nocapture` to see the
//! figures.
#![cfg(feature = "sim")]

mod cli_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cli_support::{Project, Run};
use infra_sim::{Fault, InjectedFault, Operation};

/// Independent chains in the stack.
const CHAINS: usize = 6;
/// Resources per chain, each referencing the one before.
const LENGTH: usize = 8;

/// The address of resource `i` of chain `c`.
fn address(c: usize, i: usize) -> String {
    format!("sim_resource.c{c}_{i}")
}

/// `CHAINS` chains of `LENGTH` resources with small latencies; `extra`
/// adds lines to the resource at (chain, index).
fn resources(payload: &str, extra: Option<((usize, usize), &str)>) -> String {
    let mut text = String::new();
    for c in 0..CHAINS {
        for i in 0..LENGTH {
            text.push_str(&format!(
                "[resources.sim_resource.c{c}_{i}]\ncreate_ms = 5\nupdate_ms = 2\ndelete_ms = 2\nread_ms = 1\n"
            ));
            if i == 0 {
                text.push_str(&format!("payload = \"{payload}\"\n"));
            } else {
                text.push_str(&format!(
                    "payload = {{ after = \"${{sim_resource.c{c}_{}.id}}\", v = \"{payload}\" }}\n",
                    i - 1
                ));
            }
            if let Some((at, lines)) = extra
                && at == (c, i)
            {
                text.push_str(lines);
                text.push('\n');
            }
            text.push('\n');
        }
    }
    text
}

/// A project whose `[sim]` table is `faults = <faults>` and whose resources
/// are `resources`.
fn project(faults: &str, resources: &str) -> Project {
    let p = Project::new("");
    set_stack(&p, faults, resources);
    p
}

/// Rewrites the stack with another faults table.
fn set_stack(p: &Project, faults: &str, resources: &str) {
    p.write_raw(&format!(
        "[sim]\ndir = \".sim\"\nfaults = {faults}\n\n{resources}"
    ));
}

fn every_address() -> Vec<String> {
    let mut all: Vec<String> = (0..CHAINS)
        .flat_map(|c| (0..LENGTH).map(move |i| address(c, i)))
        .collect();
    all.sort();
    all
}

/// The faults injected so far.
fn injected(p: &Project) -> Vec<InjectedFault> {
    infra_sim::faults(&p.root().join(".sim")).expect("faults.log")
}

/// How many faults of each kind were injected into each operation.
fn counts(log: &[InjectedFault]) -> BTreeMap<(Operation, Fault), usize> {
    let mut counts = BTreeMap::new();
    for record in log {
        *counts.entry((record.operation, record.fault)).or_default() += 1;
    }
    counts
}

/// The engine's retries, as printed in its progress lines.
fn retries(run: &Run) -> usize {
    run.stdout.matches(": retrying in ").count()
}

/// Runs `infra ARGS`, printing what it took.
fn timed(p: &Project, what: &str, args: &[&str]) -> Run {
    let start = Instant::now();
    let run = p.infra(args);
    let log = injected(p);
    eprintln!(
        "{what}: exit {} in {:.1?}, {} retries; faults so far: {} {:?}",
        run.code,
        start.elapsed(),
        retries(&run),
        log.len(),
        counts(&log)
    );
    run
}

/// Asserts every address was created exactly once and is live.
#[track_caller]
fn assert_created_once(p: &Project, addresses: &[String]) {
    let ledger = p.ledger();
    for a in addresses {
        let entry = ledger.get(a).unwrap_or_else(|| panic!("{a} never created"));
        assert_eq!(
            (entry.creates, entry.deletes, entry.live),
            (1, 0, true),
            "{a}"
        );
    }
}

#[test]
fn thirty_percent_throttling_converges() {
    let throttled = "{ seed = 11, throttle = 0.3, throttle_burst = 2 }";
    let p = project(throttled, &resources("v1", None));
    let run = timed(&p, "apply, 30% throttled", &["apply", "--auto-approve"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .ends_with("Apply complete: 48 created, 0 updated, 0 replaced, 0 destroyed.\n"),
        "{}",
        run.stdout
    );
    assert_created_once(&p, &every_address());
    assert_eq!(p.live(), every_address());
    let log = injected(&p);
    let throttles = log.iter().filter(|f| f.fault == Fault::Throttle).count();
    assert!(throttles > 10, "{throttles} throttled calls");
    // Every throttled call was retried by the engine.
    assert_eq!(retries(&run), throttles);

    // Refresh reads are throttled as much, and retried.
    let plan = timed(&p, "plan, 30% throttled", &["plan", "--detailed-exitcode"]);
    plan.expect_code(0);
    assert!(
        plan.stdout
            .ends_with("No changes. The stack matches the cloud.\n"),
        "{}",
        plan.stdout
    );
    // The retries are shown, not waited out in silence.
    assert!(plan.stdout.contains("retrying in"), "{}", plan.stdout);
    let read_throttles = counts(&injected(&p))
        .get(&(Operation::Read, Fault::Throttle))
        .copied()
        .unwrap_or(0);
    assert!(read_throttles > 5, "{read_throttles} throttled reads");

    // Deletes converge under throttling too (updates: see the next test).
    let run = timed(&p, "destroy, 30% throttled", &["destroy", "--auto-approve"]);
    run.expect_code(0);
    assert!(p.live().is_empty(), "{:?}", p.live());
    for (a, entry) in p.ledger() {
        assert_eq!((entry.creates, entry.deletes), (1, 1), "{a}");
    }
    let counts = counts(&injected(&p));
    for op in [Operation::Create, Operation::Read, Operation::Delete] {
        assert!(counts.contains_key(&(op, Fault::Throttle)), "{counts:?}");
    }
}

#[test]
fn transient_errors_and_timeouts_converge_without_duplicates() {
    let faults = "{ seed = 21, transient = 0.15, timeout = 0.15, slow = 0.2, slow_factor = 3 }";
    let p = project(faults, &resources("v1", None));
    let run = timed(
        &p,
        "apply, 15% transient + 15% timeouts",
        &["apply", "--auto-approve"],
    );
    run.expect_code(0);
    assert_created_once(&p, &every_address());
    let log = injected(&p);
    let timeouts: Vec<&InjectedFault> = log
        .iter()
        .filter(|f| f.fault == Fault::Timeout && f.operation == Operation::Create)
        .collect();
    // Each of these creates made its resource and was retried with the same
    // token; the ledger above shows none was made twice.
    assert!(timeouts.len() >= 3, "{} timed-out creates", timeouts.len());
    assert!(
        run.stdout.contains(": retrying in ") && run.stdout.contains("request timed out"),
        "{}",
        run.stdout
    );
    let plan = timed(&p, "plan", &["plan", "--detailed-exitcode"]);
    plan.expect_code(0);

    set_stack(&p, faults, &resources("v2", None));
    timed(&p, "update", &["apply", "--auto-approve"]).expect_code(0);
    timed(&p, "plan", &["plan", "--detailed-exitcode"]).expect_code(0);
    timed(&p, "destroy", &["destroy", "--auto-approve"]).expect_code(0);
    assert!(p.live().is_empty(), "{:?}", p.live());
    for (a, entry) in p.ledger() {
        assert_eq!((entry.creates, entry.deletes), (1, 1), "{a}");
    }
    let counts = counts(&injected(&p));
    for op in [
        Operation::Create,
        Operation::Read,
        Operation::Update,
        Operation::Delete,
    ] {
        for fault in [Fault::Transient, Fault::Timeout] {
            assert!(counts.contains_key(&(op, fault)), "{counts:?}");
        }
    }
}

#[test]
fn the_same_seed_injects_the_same_faults_end_to_end() {
    let faults = "{ seed = 51, throttle = 0.3, transient = 0.1, timeout = 0.1, slow = 0.1, \
                  operations = [\"create\"] }";
    let (first, second) = (
        project(faults, &resources("v1", None)),
        project(faults, &resources("v1", None)),
    );
    let mut logs = Vec::new();
    for (p, what) in [(&first, "first run"), (&second, "second run")] {
        timed(p, what, &["apply", "--auto-approve"]).expect_code(0);
        assert_created_once(p, &every_address());
        let mut log = injected(p);
        log.sort_by(|a, b| {
            (&a.address, a.operation, a.call, a.fault).cmp(&(
                &b.address,
                b.operation,
                b.call,
                b.fault,
            ))
        });
        logs.push(log);
    }
    // The runs scheduled their operations differently; the faults are the same.
    assert!(logs[0].len() > 10, "{}", logs[0].len());
    assert_eq!(logs[0], logs[1]);
}

#[test]
fn a_permanent_failure_skips_only_its_dependents() {
    let failing = (2, 3);
    let stack = resources("v1", Some((failing, "fail_on = \"create\"")));
    let p = project("{ seed = 31, throttle = 0.3, throttle_burst = 1 }", &stack);
    let start = Instant::now();
    let run = timed(
        &p,
        "apply, one fail_on + 30% throttled",
        &["apply", "--auto-approve"],
    );
    assert!(start.elapsed() < Duration::from_secs(40));
    run.expect_code(1);
    assert!(
        run.stderr
            .starts_with("error: sim_resource.c2_3: create failed as configured"),
        "{}",
        run.stderr
    );
    for i in 4..LENGTH {
        let line = format!(
            "{}: skipped because sim_resource.c2_3 failed\n",
            address(2, i)
        );
        assert!(run.stdout.contains(&line), "{line}\n{}", run.stdout);
    }
    assert!(
        run.stdout.ends_with(
            "Apply finished with errors: 43 created, 0 updated, 0 replaced, 0 destroyed, 1 failed, 4 not started.\n"
        ),
        "{}",
        run.stdout
    );
    let completed: Vec<String> = every_address()
        .into_iter()
        .filter(|a| !(3..LENGTH).any(|i| *a == address(2, i)))
        .collect();
    assert_created_once(&p, &completed);
    assert_eq!(p.live(), completed);
}

#[test]
fn an_exhausted_retry_budget_gives_up_naming_the_resource() {
    let faults = "{ seed = 41, throttle = 1.0, addresses = [\"sim_resource.c4_2\"] }";
    let p = project(faults, &resources("v1", None));
    let start = Instant::now();
    let run = timed(
        &p,
        "apply, c4_2 always throttled",
        &["apply", "--auto-approve"],
    );
    let elapsed = start.elapsed();
    // 8 attempts with full-jitter backoff from 100 ms: at most ~23 s.
    assert!(elapsed < Duration::from_secs(40), "{elapsed:?}");
    run.expect_code(1);
    assert!(
        run.stderr.starts_with(
            "error: sim_resource.c4_2: gave up after 8 attempts: sim_resource.c4_2: throttled: rate exceeded on create call 8"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(retries(&run), 7);
    assert_eq!(injected(&p).len(), 8);
    assert!(
        run.stdout.ends_with(
            "Apply finished with errors: 42 created, 0 updated, 0 replaced, 0 destroyed, 1 failed, 5 not started.\n"
        ),
        "{}",
        run.stdout
    );
    let completed: Vec<String> = every_address()
        .into_iter()
        .filter(|a| !(2..LENGTH).any(|i| *a == address(4, i)))
        .collect();
    assert_eq!(p.live(), completed);
}
