//! End-to-end tests of the `infra` binary on the simulated cloud: plan,
//! apply, saved plans, destroy, JSON output, the lock, confirmation and
//! Ctrl-C. Run with `cargo test --features sim`.
#![cfg(feature = "sim")]

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cli_support::{Project, Run};
use expect_test::expect;

const SMALL: &str = r#"
[resources.sim_resource.network]
payload = { cidr = "10.0.0.0/16" }

[resources.sim_resource.db]
payload = { network = "${sim_resource.network.id}", size = 3 }
replace_key = "v1"

[resources.sim_resource.logs]
payload = "logs"
depends_on = ["sim_resource.db"]
"#;

fn applied(stack: &str) -> Project {
    let p = Project::new(stack);
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    p
}

#[test]
fn plan_of_a_small_stack() {
    let p = Project::new(SMALL);
    let run = p.infra(&["plan"]);
    run.expect_code(0);
    expect![[r#"
        infra will perform the following actions:

          + sim_resource.network
              + create_ms = 0
              + delete_ms = 0
              + payload   = { cidr = "10.0.0.0/16" }
              + read_ms   = 0
              + update_ms = 0

          + sim_resource.db
              + create_ms   = 0
              + delete_ms   = 0
              + payload     = { network = (known after apply), size = 3 }
              + read_ms     = 0
              + replace_key = "v1"
              + update_ms   = 0

          + sim_resource.logs
              + create_ms = 0
              + delete_ms = 0
              + payload   = "logs"
              + read_ms   = 0
              + update_ms = 0

        Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy.
        Estimated apply time: 0s (critical path).
    "#]]
    .assert_eq(&run.stdout);
    assert_eq!(run.stderr, "");
    assert!(p.live().is_empty(), "plan must not create anything");
}

#[test]
fn apply_converges_and_a_change_is_planned_as_an_update() {
    let p = Project::new(SMALL);
    let run = p.infra(&["apply", "--auto-approve"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("sim_resource.db: creating...")
            && run.stdout.contains("sim_resource.db: created in"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("Apply complete: 3 created, 0 updated, 0 replaced, 0 destroyed.\n"),
        "{}",
        run.stdout
    );
    let again = p.infra(&["plan", "--detailed-exitcode"]);
    again.expect_code(0);
    assert_eq!(again.stdout, "No changes. The stack matches the cloud.\n");

    p.set_stack(&SMALL.replace("payload = \"logs\"", "payload = \"more logs\""));
    let changed = p.infra(&["plan", "--detailed-exitcode"]);
    changed.expect_code(2);
    assert!(
        changed
            .stdout
            .contains("  ~ sim_resource.logs\n      ~ payload = \"logs\" -> \"more logs\"\n")
            && changed
                .stdout
                .contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."),
        "{}",
        changed.stdout
    );
    // Without --detailed-exitcode, changes are still a success.
    p.infra(&["plan"]).expect_code(0);

    p.set_stack(&SMALL.replace("\"v1\"", "\"v2\""));
    let replace = p.infra(&["apply", "--auto-approve"]);
    replace.expect_code(0);
    assert!(
        replace
            .stdout
            .contains("~ replace_key = \"v1\" -> \"v2\" # forces replacement")
            && replace
                .stdout
                .contains("Apply complete: 0 created, 0 updated, 1 replaced, 0 destroyed."),
        "{}",
        replace.stdout
    );
    for (address, entry) in p.ledger() {
        assert!(entry.creates - entry.deletes <= 1, "duplicate at {address}");
    }
}

#[test]
fn destroy_leaves_nothing_live() {
    let p = applied(SMALL);
    assert_eq!(
        p.live(),
        [
            "sim_resource.db",
            "sim_resource.logs",
            "sim_resource.network"
        ]
    );
    let run = p.infra(&["destroy", "--auto-approve"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("Plan: 0 to add, 0 to change, 0 to replace, 3 to destroy.")
            && run.stdout.ends_with("Destroy complete: 3 destroyed.\n"),
        "{}",
        run.stdout
    );
    // Dependents go first.
    let logs = run.stdout.find("sim_resource.logs: destroying").unwrap();
    let db = run.stdout.find("sim_resource.db: destroying").unwrap();
    let network = run.stdout.find("sim_resource.network: destroying").unwrap();
    assert!(logs < db && db < network, "{}", run.stdout);
    assert!(p.live().is_empty());
    assert!(
        p.ledger()
            .values()
            .all(|e| !e.live && e.creates == 1 && e.deletes == 1)
    );
    assert_eq!(p.state()["resources"], serde_json::json!([]));
    p.infra(&["state", "list"]).expect_code(0);
    let second = p.infra(&["destroy", "--auto-approve"]);
    second.expect_code(0);
    assert!(second.stdout.contains("No changes."), "{}", second.stdout);
}

#[test]
fn saved_plans_apply_once_and_stale_ones_are_refused() {
    let p = Project::new(SMALL);
    p.infra(&["plan", "--out", "first.plan"]).expect_code(0);
    let mode = std::fs::metadata(p.root().join("first.plan"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A saved plan is applied without asking (stdin is not a terminal here).
    let run = p.infra(&["apply", "first.plan"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("Apply complete: 3 created"),
        "{}",
        run.stdout
    );

    p.set_stack(&SMALL.replace("payload = \"logs\"", "payload = \"v2\""));
    p.infra(&["plan", "--out", "second.plan"]).expect_code(0);
    let before = p.state_files();
    // Applying the first plan again: the state moved on since it was made.
    let stale = p.infra(&["apply", "first.plan"]);
    stale.expect_code(1);
    assert!(stale.stderr.contains("stale"), "{}", stale.stderr);
    assert_eq!(p.state_files(), before);

    // The state changes after the second plan was made: it is stale too.
    p.set_stack(&SMALL.replace("payload = \"logs\"", "payload = \"v3\""));
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    p.set_stack(&SMALL.replace("payload = \"logs\"", "payload = \"v2\""));
    let stale = p.infra(&["apply", "second.plan"]);
    stale.expect_code(1);
    assert!(
        stale
            .stderr
            .starts_with("error: the saved plan is stale: the state changed since")
            && stale.stderr.contains("infra plan --out"),
        "{}",
        stale.stderr
    );
    assert_eq!(p.state()["resources"][1]["inputs"]["payload"], "v3");

    // Flags fixed in the plan cannot be given again.
    p.infra(&["plan", "--out", "third.plan"]).expect_code(0);
    let run = p.infra(&["apply", "third.plan", "--target", "sim_resource.db"]);
    run.expect_code(1);
    assert!(run.stderr.contains("saved plan"), "{}", run.stderr);
    p.infra(&["apply", "third.plan"]).expect_code(0);

    let garbage = p.root().join("garbage.plan");
    std::fs::write(&garbage, "not json").unwrap();
    let run = p.infra(&["apply", "garbage.plan"]);
    run.expect_code(1);
    assert!(run.stderr.contains("is not a plan file"), "{}", run.stderr);
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let p = Project::new(SMALL);
    for cmd in [&["apply"][..], &["destroy"], &["force-unlock", "some-id"]] {
        let run = p.infra(cmd);
        run.expect_code(1);
        assert!(run.stderr.contains("--auto-approve"), "{}", run.stderr);
    }
    assert!(p.live().is_empty());
    assert!(p.state_files().is_empty());
}

/// Starts `infra ARGS` and returns once a line containing `marker` is on
/// its output, with a channel of the rest of its output.
fn spawn_until(p: &Project, args: &[&str], marker: &str) -> (Child, mpsc::Receiver<String>) {
    cli_support::spawn_until(p.command(args), marker)
}

fn rest(rx: mpsc::Receiver<String>) -> String {
    rx.iter().map(|l| l + "\n").collect()
}

#[test]
fn a_second_run_fails_at_once_while_the_lock_is_held() {
    let p = Project::new(
        r#"
[resources.sim_resource.slow]
create_ms = 3000
"#,
    );
    let (mut child, rx) = spawn_until(
        &p,
        &["apply", "--auto-approve"],
        "sim_resource.slow: creating...",
    );
    let started = Instant::now();
    let run = p.infra(&["apply", "--auto-approve"]);
    let took = started.elapsed();
    run.expect_code(1);
    assert!(
        run.stderr.contains("is locked by")
            && run.stderr.contains("running `apply`")
            && run.stderr.contains(&format!("pid {}", child.id()))
            && run.stderr.contains("infra force-unlock "),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let plan = p.infra(&["plan"]);
    plan.expect_code(1);
    assert!(plan.stderr.contains("is locked by"), "{}", plan.stderr);

    let status = child.wait().expect("wait");
    assert!(status.success(), "{}", rest(rx));
    assert_eq!(p.live(), ["sim_resource.slow"]);
    // Released: the next run takes the lock.
    p.infra(&["plan", "--detailed-exitcode"]).expect_code(0);
}

#[test]
fn lock_timeout_waits_for_the_holder() {
    let p = Project::new(
        r#"
[resources.sim_resource.slow]
create_ms = 1500
"#,
    );
    let (mut child, _rx) = spawn_until(
        &p,
        &["apply", "--auto-approve"],
        "sim_resource.slow: creating...",
    );
    let run = p.infra(&["plan", "--lock-timeout", "30s", "--detailed-exitcode"]);
    run.expect_code(0);
    assert!(child.wait().unwrap().success());
}

#[test]
fn json_plans_and_events_hold_no_plaintext_secret() {
    const SECRET: &str = "hunter2-correct-horse";
    let p = Project::new(
        r#"
[resources.sim_resource.db]
payload = { password = { from_env = "DB_PASSWORD" }, user = "airflow" }
"#,
    )
    .env("DB_PASSWORD", SECRET);
    let run = p.infra(&["plan", "--json"]);
    run.expect_code(0);
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("plan json");
    assert_eq!(plan["version"], 2);
    assert_eq!(plan["changes"][0]["address"], "sim_resource.db");
    assert_eq!(plan["changes"][0]["action"], "create");
    assert!(
        plan["changes"][0]["after"]["payload"]["password"]["$sensitive"].is_string(),
        "{plan:#}"
    );

    let human = p.infra(&["plan"]);
    assert!(
        human.stdout.contains("password = (sensitive)"),
        "{}",
        human.stdout
    );
    assert!(!human.stdout.contains(SECRET));

    p.infra(&["plan", "--out", "saved.plan"]).expect_code(0);
    let saved = std::fs::read_to_string(p.root().join("saved.plan")).unwrap();
    assert!(!saved.contains(SECRET));

    let run = p.infra(&["apply", "--auto-approve", "--json"]);
    run.expect_code(0);
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "plan_ready",
            "operation_started",
            "operation_finished",
            "apply_finished"
        ]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(events.iter().all(|e| e["version"] == 1));
    for (_, bytes) in p.state_files() {
        assert!(!String::from_utf8_lossy(&bytes).contains(SECRET));
    }

    let show = p.infra(&["state", "show", "sim_resource.db"]);
    show.expect_code(0);
    assert!(
        show.stdout.contains("password = (sensitive)"),
        "{}",
        show.stdout
    );
    let show = p.infra(&["state", "show", "sim_resource.db", "--json"]);
    show.expect_code(0);
    assert!(!show.stdout.contains(SECRET));
    let doc: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(doc["resource"]["address"], "sim_resource.db");

    // --json cannot ask for confirmation.
    let run = p.infra(&["destroy", "--json"]);
    run.expect_code(1);
    assert!(run.stderr.contains("--auto-approve"), "{}", run.stderr);
}

#[test]
fn outputs_and_state_commands() {
    let p = applied(SMALL);
    let list = p.infra(&["state", "list"]);
    list.expect_code(0);
    assert_eq!(
        list.stdout,
        "sim_resource.db\nsim_resource.logs\nsim_resource.network\n"
    );
    let id = p.state()["resources"][0]["id"].as_str().unwrap().to_owned();
    let outputs = p.infra(&["output"]);
    outputs.expect_code(0);
    assert!(
        outputs
            .stdout
            .starts_with(&format!("sim_resource.db.id = \"{id}\"\n")),
        "{}",
        outputs.stdout
    );
    let one = p.infra(&["output", "sim_resource.db.id"]);
    one.expect_code(0);
    assert_eq!(one.stdout, format!("\"{id}\"\n"));
    let json = p.infra(&["output", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["outputs"]["sim_resource.db"]["id"], id.as_str());
    let missing = p.infra(&["output", "sim_resource.db.nope"]);
    missing.expect_code(1);
    assert!(missing.stderr.contains("no output"), "{}", missing.stderr);

    let show = p.infra(&["state", "show", "sim_resource.db"]);
    show.expect_code(0);
    assert!(
        show.stdout.starts_with("# sim_resource.db\n")
            && show
                .stdout
                .contains("dependencies    = [sim_resource.network]")
            && show.stdout.contains("replace_key = \"v1\""),
        "{}",
        show.stdout
    );
    let missing = p.infra(&["state", "show", "sim_resource.nope"]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("is not in the state"),
        "{}",
        missing.stderr
    );
}

#[test]
fn graph_formats() {
    let p = Project::new(SMALL);
    let dot = p.infra(&["graph"]);
    dot.expect_code(0);
    expect![[r#"
        digraph infra {
          rankdir = LR;
          "sim_resource.db";
          "sim_resource.logs";
          "sim_resource.network";
          "sim_resource.db" -> "sim_resource.logs";
          "sim_resource.network" -> "sim_resource.db";
        }
    "#]]
    .assert_eq(&dot.stdout);
    assert_eq!(p.infra(&["graph", "--format", "dot"]).stdout, dot.stdout);
    let mermaid = p.infra(&["graph", "--format", "mermaid"]);
    mermaid.expect_code(0);
    expect![[r#"
        flowchart LR
          sim_resource__db["sim_resource.db"]
          sim_resource__logs["sim_resource.logs"]
          sim_resource__network["sim_resource.network"]
          sim_resource__db --> sim_resource__logs
          sim_resource__network --> sim_resource__db
    "#]]
    .assert_eq(&mermaid.stdout);
    p.infra(&["graph", "--format", "png"]).expect_code(1);
    assert!(p.state_files().is_empty());
}

#[test]
fn validate_and_usage_errors() {
    let p = Project::new(SMALL);
    let run = p.infra(&["validate"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "The stack is valid.\n");
    let json = p.infra(&["validate", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["valid"], true);

    // No stack at all, then the stack from the environment.
    let run = Run::from(p.bare(&["plan"]).output().unwrap());
    run.expect_code(1);
    assert!(run.stderr.contains("--stack NAME"), "{}", run.stderr);
    let run = Run::from(
        p.bare(&["validate"])
            .env("INFRA_STACK", "x")
            .output()
            .unwrap(),
    );
    run.expect_code(0);
    let run = Run::from(p.bare(&["plan", "--stack", "nope"]).output().unwrap());
    run.expect_code(1);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
    // Bad flags exit 1, not clap's 2 (2 means "changes").
    let run = p.infra(&["plan", "--parallelism", "3"]);
    run.expect_code(1);
    let run = p.infra(&["apply", "--parallelism", "0", "--auto-approve"]);
    run.expect_code(1);
    let run = p.infra(&["plan", "--target", "not-an-address"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("not a resource address"),
        "{}",
        run.stderr
    );
    let run = p.infra(&["plan", "--target", "sim_resource.nope"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("neither in the stack nor in state"),
        "{}",
        run.stderr
    );
    let run = p.infra(&["--help"]);
    run.expect_code(0);
}

#[test]
fn targets_and_forced_replacement() {
    let p = Project::new(SMALL);
    let run = p.infra(&["apply", "--auto-approve", "--target", "sim_resource.db"]);
    run.expect_code(0);
    assert_eq!(p.live(), ["sim_resource.db", "sim_resource.network"]);
    let run = p.infra(&["plan", "--replace", "sim_resource.network"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("  -/+ sim_resource.network\n      # replacement requested with --replace\n"),
        "{}",
        run.stdout
    );
    let run = p.infra(&["plan", "--refresh=false", "--detailed-exitcode"]);
    run.expect_code(2);
    assert!(run.stdout.contains("Plan: 1 to add"), "{}", run.stdout);
}

fn interrupt(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
}

const CHAIN: &str = r#"
[resources.sim_resource.first]
create_ms = 1500

[resources.sim_resource.second]
payload = "${sim_resource.first.id}"
"#;

#[test]
fn first_ctrl_c_finishes_in_flight_work_and_starts_nothing_new() {
    let p = Project::new(CHAIN);
    let (mut child, rx) = spawn_until(
        &p,
        &["apply", "--auto-approve"],
        "sim_resource.first: creating...",
    );
    interrupt(&child);
    let status = child.wait().unwrap();
    let out = rest(rx);
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(
        out.contains("stderr: interrupt received: finishing in-flight operations, starting nothing new (press Ctrl-C again to stop now)")
            && out.contains("sim_resource.first: created in")
            && !out.contains("sim_resource.second: creating")
            && out.contains("Apply interrupted: 1 created"),
        "{out}"
    );
    assert_eq!(p.live(), ["sim_resource.first"]);
    // The next run picks up where this one stopped.
    let run = p.infra(&["apply", "--auto-approve"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("Apply complete: 1 created"),
        "{}",
        run.stdout
    );
}

#[test]
fn second_ctrl_c_stops_now_and_the_next_run_recovers() {
    let p = Project::new(CHAIN);
    let (mut child, rx) = spawn_until(
        &p,
        &["apply", "--auto-approve"],
        "sim_resource.first: creating...",
    );
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(200));
    interrupt(&child);
    let status = child.wait().unwrap();
    let out = rest(rx);
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(out.contains("stderr: error: stopped"), "{out}");
    // The create reached the cloud before it was abandoned; recovery finds it.
    let run = p.infra(&["apply", "--auto-approve"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("sim_resource.first: recovered an interrupted create"),
        "{}",
        run.stdout
    );
    assert_eq!(p.live(), ["sim_resource.first", "sim_resource.second"]);
    for (address, entry) in p.ledger() {
        assert_eq!(entry.creates, 1, "{address} created twice");
    }
}

#[test]
fn a_failed_operation_skips_its_dependents_and_exits_1() {
    let stack = r#"
[resources.sim_resource.a]
payload = "a"

[resources.sim_resource.b]
payload = "${sim_resource.a.id}"
fail_on = "create"

[resources.sim_resource.c]
payload = "${sim_resource.b.id}"
"#;
    let p = Project::new(stack);
    let run = p.infra(&["apply", "--auto-approve"]);
    run.expect_code(1);
    assert!(
        run.stdout.contains("sim_resource.b: create failed: create failed as configured")
            && run
                .stdout
                .contains("sim_resource.c: skipped because sim_resource.b failed")
            && run.stdout.ends_with(
                "Apply finished with errors: 1 created, 0 updated, 0 replaced, 0 destroyed, 1 failed, 1 not started.\n"
            ),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .starts_with("error: sim_resource.b: create failed as configured"),
        "{}",
        run.stderr
    );
    assert_eq!(p.live(), ["sim_resource.a"]);
    // Fixed, the next apply finishes the job.
    p.set_stack(&stack.replace("fail_on = \"create\"", ""));
    let run = p.infra(&["apply", "--auto-approve"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("Apply complete: 2 created"),
        "{}",
        run.stdout
    );
}

#[test]
fn drift_is_shown_before_the_changes() {
    let p = applied(SMALL);
    let resources = p.root().join(".sim").join("resources");
    for entry in std::fs::read_dir(&resources).unwrap() {
        let path = entry.unwrap().path();
        let mut doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        match doc["address"].as_str().unwrap() {
            "sim_resource.logs" => doc["inputs"]["payload"] = "edited by hand".into(),
            "sim_resource.db" => doc["live"] = false.into(),
            _ => continue,
        }
        std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    }
    let run = p.infra(&["plan", "--detailed-exitcode"]);
    run.expect_code(2);
    assert!(
        run.stdout.starts_with(
            "Objects changed outside infra:\n\n  - sim_resource.db (deleted outside infra)\n\n  ~ sim_resource.logs\n      ~ payload = \"logs\" -> \"edited by hand\"\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  + sim_resource.db\n")
            && run.stdout.contains(
                "  ~ sim_resource.logs\n      ~ payload = \"edited by hand\" -> \"logs\"\n"
            ),
        "{}",
        run.stdout
    );
    // Plan does not write the refreshed state.
    let state = p.state();
    assert_eq!(state["resources"].as_array().unwrap().len(), 3);
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    p.infra(&["plan", "--detailed-exitcode"]).expect_code(0);
}

#[test]
fn force_unlock_takes_the_id_from_the_lock_message() {
    let p = Project::new(
        r#"
[resources.sim_resource.slow]
create_ms = 2000
"#,
    );
    let (mut child, _rx) = spawn_until(
        &p,
        &["apply", "--auto-approve"],
        "sim_resource.slow: creating...",
    );
    let locked = p.infra(&["plan"]);
    locked.expect_code(1);
    let id = locked
        .stderr
        .split("infra force-unlock ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("a lock id in the message")
        .to_owned();
    let wrong = p.infra(&["force-unlock", "not-the-id", "--auto-approve"]);
    wrong.expect_code(1);
    assert!(wrong.stderr.contains(&id), "{}", wrong.stderr);
    // The holder is alive on this machine: its lock stays.
    let run = p.infra(&["force-unlock", &id, "--auto-approve"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("still running on this machine"),
        "{}",
        run.stderr
    );
    p.infra(&["plan", "--refresh=false"]).expect_code(1);
    assert!(child.wait().unwrap().success());
    let again = p.infra(&["force-unlock", &id, "--auto-approve"]);
    again.expect_code(1);
    assert!(again.stderr.contains("not locked"), "{}", again.stderr);
}

// Signals, durations, messages and JSON errors (issue 10).

/// Sends `signal` (`TERM`, `INT`, `HUP`) to the process.
fn send(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// `infra ARGS --stack x` run through `sh -c 'PREFIX; exec infra ...'`.
fn through_shell(p: &Project, prefix: &str, args: &[&str]) -> std::process::Command {
    let inner = p.command(args);
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg(format!("{prefix}; exec \"$0\" \"$@\""))
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(p.root())
        .env("NO_COLOR", "1")
        .env_remove("INFRA_STACK")
        .stdin(Stdio::null());
    sh
}

/// Waits at most `limit` for the child; kills it and fails after that.
fn wait_at_most(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn journal(p: &Project) -> Option<String> {
    std::fs::read_to_string(p.root().join("state").join("x.journal")).ok()
}

/// Whether this test process has SIGHUP ignored (run under `nohup`): its
/// children then cannot be hung up.
fn hangup_ignored_here() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let mask = s.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & 1 != 0)
}

#[test]
fn sigterm_and_sighup_finish_in_flight_work_like_the_first_ctrl_c() {
    let mut cases = vec![("TERM", "SIGTERM", 143)];
    if !hangup_ignored_here() {
        cases.push(("HUP", "SIGHUP", 129));
    }
    for (signal, name, code) in cases {
        let p = Project::new(CHAIN);
        let (mut child, rx) = spawn_until(
            &p,
            &["apply", "--auto-approve"],
            "sim_resource.first: creating...",
        );
        send(signal, child.id());
        let status = wait_at_most(&mut child, Duration::from_secs(20), signal);
        let out = rest(rx);
        assert_eq!(status.code(), Some(code), "{signal}: {out}");
        assert!(
            out.contains(&format!(
                "stderr: {name} received: finishing in-flight operations, starting nothing new"
            )) && out.contains("sim_resource.first: created in")
                && !out.contains("sim_resource.second: creating")
                && out.contains("Apply interrupted: 1 created"),
            "{signal}: {out}"
        );
        // The state holds the in-flight create; the journal is folded.
        assert_eq!(journal(&p), None, "{signal}: {out}");
        let state = p.state();
        let addresses: Vec<&str> = state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["address"].as_str().unwrap())
            .collect();
        assert_eq!(addresses, ["sim_resource.first"], "{signal}");
        assert_eq!(p.live(), ["sim_resource.first"]);
        let run = p.infra(&["apply", "--auto-approve"]);
        run.expect_code(0);
        assert!(
            run.stdout.contains("Apply complete: 1 created"),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn a_second_signal_of_any_kind_stops_at_once_and_leaves_the_journal() {
    for (first, second) in [("TERM", "TERM"), ("TERM", "INT"), ("INT", "TERM")] {
        let p = Project::new(CHAIN);
        let (mut child, rx) = spawn_until(
            &p,
            &["apply", "--auto-approve"],
            "sim_resource.first: creating...",
        );
        send(first, child.id());
        std::thread::sleep(Duration::from_millis(200));
        send(second, child.id());
        let status = wait_at_most(&mut child, Duration::from_secs(3), second);
        let out = rest(rx);
        // The code of the first signal.
        let code = if first == "TERM" { 143 } else { 130 };
        assert_eq!(status.code(), Some(code), "{first} {second}: {out}");
        assert!(
            out.contains("stderr: stopping now") && out.contains("stderr: error: stopped"),
            "{first} {second}: {out}"
        );
        let left = journal(&p).unwrap_or_default();
        assert!(
            left.contains("sim_resource.first"),
            "{first} {second}: journal {left:?}"
        );
        let run = p.infra(&["apply", "--auto-approve"]);
        run.expect_code(0);
        assert!(
            run.stdout
                .contains("sim_resource.first: recovered an interrupted create"),
            "{}",
            run.stdout
        );
        for (address, entry) in p.ledger() {
            assert_eq!(entry.creates, 1, "{address} created twice");
        }
    }
}

#[test]
fn nohup_keeps_sighup_ignored() {
    let p = Project::new(CHAIN);
    let inner = p.command(&["apply", "--auto-approve"]);
    let mut cmd = std::process::Command::new("nohup");
    cmd.arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(p.root())
        .env("NO_COLOR", "1")
        .env_remove("INFRA_STACK")
        .stdin(Stdio::null());
    let (mut child, rx) = cli_support::spawn_until(cmd, "sim_resource.first: creating...");
    send("HUP", child.id());
    let status = wait_at_most(&mut child, Duration::from_secs(20), "nohup");
    let out = rest(rx);
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(out.contains("Apply complete: 2 created"), "{out}");
}

#[test]
fn plan_stops_at_the_first_signal_while_waiting_for_the_lock() {
    let p = Project::new(
        r#"
[resources.sim_resource.slow]
create_ms = 20000
"#,
    );
    let (mut holder, _rx) = spawn_until(
        &p,
        &["apply", "--auto-approve"],
        "sim_resource.slow: creating...",
    );
    let plan = ["plan", "--lock-timeout", "1m"];
    let cases = [
        ("INT", p.command(&plan), 130, "interrupted"),
        // A background job of a script starts with SIGINT ignored.
        (
            "INT",
            through_shell(&p, "trap '' INT", &plan),
            130,
            "interrupted",
        ),
        ("TERM", p.command(&plan), 143, "terminated (SIGTERM)"),
    ];
    for (signal, cmd, code, message) in cases {
        let (mut child, rx) = cli_support::spawn_until(cmd, "");
        // Long enough to be waiting for the lock.
        std::thread::sleep(Duration::from_millis(700));
        let sent = Instant::now();
        send(signal, child.id());
        let status = wait_at_most(&mut child, Duration::from_secs(5), signal);
        let took = sent.elapsed();
        let out = rest(rx);
        assert_eq!(status.code(), Some(code), "{signal}: {out}");
        assert!(
            out.contains(&format!("stderr: {message}")),
            "{signal}: {out}"
        );
        assert!(took < Duration::from_secs(2), "{signal}: took {took:?}");
    }
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn durations_too_long_are_refused_without_a_panic() {
    let p = Project::new(SMALL);
    for flag in ["300000000000y", "10000000000000000000s", "400d"] {
        let run = p.infra(&["plan", "--lock-timeout", flag]);
        run.expect_code(1);
        assert!(
            run.stderr
                .contains(&format!("`{flag}` is longer than the limit of 1 year"))
                && !run.stderr.contains("panicked"),
            "{}",
            run.stderr
        );
    }
    p.infra(&["plan", "--lock-timeout", "1y"]).expect_code(0);

    let p = Project::new(
        r#"
[resources.sim_resource.a]
lifecycle = { timeouts = { create = "9999999999999999999s" } }
"#,
    );
    let run = p.infra(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("x.toml:6:")
            && run.stderr.contains(
                "timeout `9999999999999999999s` of `lifecycle.timeouts.create` is longer than the limit of 8766h (1 year)"
            ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn a_missing_output_is_named_with_what_there_is() {
    let p = applied(SMALL);
    let run = p.infra(&["output", "sim_resource.db.nope"]);
    run.expect_code(1);
    assert!(
        run.stderr.starts_with(
            "error: no output `sim_resource.db.nope` in the state of stack `x`\n  hint: available: sim_resource.db.id, sim_resource.db.secret;"
        ),
        "{}",
        run.stderr
    );
    let run = p.infra(&["output", "sim_resource.gone.id"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("no output `sim_resource.gone.id` in the state of stack `x`")
            && run.stderr.contains(
                "available: sim_resource.db.id, sim_resource.db.secret, sim_resource.logs.id"
            ),
        "{}",
        run.stderr
    );
    let fresh = Project::new(SMALL);
    let run = fresh.infra(&["output", "sim_resource.db.id"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("stack `x` has no state yet"),
        "{}",
        run.stderr
    );
}

#[test]
fn graph_json_has_the_nodes_and_edges_of_the_dot_graph() {
    let p = Project::new(SMALL);
    let run = p.infra(&["graph", "--json"]);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("graph json");
    assert_eq!(
        doc,
        serde_json::json!({
            "version": 1,
            "nodes": ["sim_resource.db", "sim_resource.logs", "sim_resource.network"],
            "edges": [
                { "from": "sim_resource.db", "to": "sim_resource.logs" },
                { "from": "sim_resource.network", "to": "sim_resource.db" },
            ],
        })
    );
    // The same edges as the dot graph.
    let dot = p.infra(&["graph"]).stdout;
    for e in doc["edges"].as_array().unwrap() {
        let line = format!(
            "  \"{}\" -> \"{}\";",
            e["from"].as_str().unwrap(),
            e["to"].as_str().unwrap()
        );
        assert!(dot.contains(&line), "{line} not in\n{dot}");
    }
    let run = p.infra(&["graph", "--json", "--format", "mermaid"]);
    run.expect_code(1);
    assert!(run.stderr.contains("--format and --json"), "{}", run.stderr);
}

#[test]
fn errors_under_json_are_json_on_stdout() {
    let p = Project::new(
        r#"
[resources.sim_resource.a]
payload = "a"
nope = 1
"#,
    );
    for cmd in [
        &["plan", "--json"][..],
        &["apply", "--json", "--auto-approve"],
    ] {
        let run = p.infra(cmd);
        run.expect_code(1);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}: {:?}", run.stdout));
        assert_eq!(doc["version"], 1);
        let d = &doc["error"]["diagnostics"][0];
        assert_eq!(d["severity"], "error", "{doc:#}");
        assert!(
            d["message"].as_str().unwrap().contains("nope")
                && d["file"].as_str().unwrap().ends_with("x.toml")
                && d["line"] == 7
                && d["address"] == "sim_resource.a",
            "{doc:#}"
        );
        assert_eq!(doc["error"]["message"], d["message"], "{doc:#}");
        // People still read stderr.
        assert!(run.stderr.contains("nope"), "{}", run.stderr);
    }
    // An error that is not about the stack file.
    let p = Project::new(SMALL);
    let run = p.infra(&["plan", "--json", "--target", "sim_resource.nope"]);
    run.expect_code(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("error json");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("sim_resource.nope"), "{doc:#}");
    assert_eq!(doc["error"]["diagnostics"][0]["message"], message);
}

// Hardening (issue 10): what infra writes it reads back, saved plans that
// cannot be altered, read commands and destroy that never hide live
// resources.

#[test]
fn user_data_shaped_like_markers_converges() {
    let p = applied(
        r#"
[resources.sim_resource.a]
payload = { "$sensitive" = "hello" }

[resources.sim_resource.b]
payload = { tags = { "$unknown" = true }, "$$" = "x" }
"#,
    );
    let run = p.infra(&["plan", "--detailed-exitcode"]);
    run.expect_code(0);
    assert!(
        !run.stdout.contains("outside infra") && run.stdout.contains("No changes"),
        "{}",
        run.stdout
    );
    let show = p.infra(&["state", "show", "sim_resource.a"]);
    show.expect_code(0);
    assert!(
        show.stdout
            .contains(r#"payload   = { "$sensitive" = "hello" }"#),
        "{}",
        show.stdout
    );
    assert_eq!(
        p.state()["resources"][0]["inputs"]["payload"],
        serde_json::json!({ "$$sensitive": "hello" }),
        "user keys are escaped in state"
    );
}

#[test]
fn altered_saved_plans_are_refused_before_anything_is_written() {
    let p = applied(SMALL);
    p.set_stack(&SMALL.replace("payload = \"logs\"", "payload = \"v2\""));
    p.infra(&["plan", "--out", "saved.plan"]).expect_code(0);
    let path = p.root().join("saved.plan");
    let signed = std::fs::read_to_string(&path).unwrap();
    assert!(signed.contains("\"mac\": \"hmac-sha256:"), "{signed}");
    let before = (p.state_files(), p.ledger());
    let edits = [
        ("\"update\"", "\"delete\""),
        ("\"mode\": \"apply\"", "\"mode\": \"destroy\""),
        ("\"v2\"", "\"v3\""),
        ("\"changes\": [", "\"changes\":  ["),
    ];
    for (from, to) in edits {
        assert!(signed.contains(from), "{from} in {signed}");
        std::fs::write(&path, signed.replacen(from, to, 1)).unwrap();
        let run = p.infra(&["apply", "saved.plan"]);
        run.expect_code(1);
        assert!(
            run.stderr.contains("refusing the saved plan")
                && run.stderr.contains("signature does not match")
                && run.stderr.contains("nothing was applied"),
            "{from} -> {to}: {}",
            run.stderr
        );
        assert_eq!((p.state_files(), p.ledger()), before, "{from} -> {to}");
    }
    // Truncated, or signed with another key.
    std::fs::write(&path, &signed[..signed.len() / 2]).unwrap();
    p.infra(&["apply", "saved.plan"]).expect_code(1);
    std::fs::write(&path, &signed).unwrap();
    let foreign = p
        .command(&["apply", "saved.plan"])
        .env("INFRA_SECRET_KEY", "another key")
        .output()
        .unwrap();
    assert_eq!(foreign.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("signature does not match"));
    assert_eq!((p.state_files(), p.ledger()), before);
    // The plan as written applies.
    let run = p.infra(&["apply", "saved.plan"]);
    run.expect_code(0);
    assert!(run.stdout.contains("1 updated"), "{}", run.stdout);
}

#[test]
fn saved_plans_travel_between_checkouts_that_share_the_key() {
    // CI: `plan --out` in one job, `apply FILE` in another, the same
    // INFRA_SECRET_KEY in both.
    let p = Project::new(SMALL).env("INFRA_SECRET_KEY", "ci secret");
    p.infra(&["plan", "--out", "ci.plan"]).expect_code(0);
    assert!(!p.root().join("state/.secret-key").exists());
    p.infra(&["apply", "ci.plan"]).expect_code(0);
    assert_eq!(p.live().len(), 3);
}

#[test]
fn destroy_of_resources_deleted_outside_infra_empties_state() {
    let p = applied(SMALL);
    let resources = p.root().join(".sim").join("resources");
    for entry in std::fs::read_dir(&resources).unwrap() {
        let path = entry.unwrap().path();
        let mut doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        doc["live"] = false.into();
        std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    }
    let run = p.infra(&["destroy", "--auto-approve"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("Removed from state, already deleted outside infra: sim_resource.db, sim_resource.logs, sim_resource.network"),
        "{}",
        run.stdout
    );
    assert_eq!(p.state()["resources"], serde_json::json!([]));
    let list = p.infra(&["state", "list"]);
    list.expect_code(0);
    assert!(!list.stdout.contains("sim_resource"), "{}", list.stdout);
}

#[test]
fn read_commands_fold_a_pending_journal_or_say_it_awaits_recovery() {
    let p = Project::new(
        r#"
[resources.sim_resource.fast]
payload = "f"

[resources.sim_resource.slow]
create_ms = 30000
depends_on = ["sim_resource.fast"]
"#,
    );
    let (mut child, _rx) = spawn_until(
        &p,
        &["apply", "--auto-approve"],
        "sim_resource.slow: creating...",
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let journal_path = p.root().join("state/x.journal");
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    assert!(journal.contains("sim_resource.slow"), "{journal}");
    let before = p.state_files();
    for cmd in [
        &["state", "list"][..],
        &["state", "show", "sim_resource.fast"],
        &["state", "pull"],
        &["output"],
        &["output", "--json"],
    ] {
        let run = p.infra(cmd);
        run.expect_code(1);
        assert!(
            run.stderr.contains("interrupted run awaiting recovery")
                && run.stderr.contains("sim_resource.slow"),
            "{cmd:?}: {}",
            run.stderr
        );
        assert_eq!(p.state_files(), before, "{cmd:?} writes nothing");
    }
    // Without the open intent, what the journal recorded is shown.
    let finished: String = journal
        .lines()
        .filter(|l| !l.contains("sim_resource.slow"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&journal_path, finished).unwrap();
    let list = p.infra(&["state", "list"]);
    list.expect_code(0);
    assert!(list.stdout.contains("sim_resource.fast"), "{}", list.stdout);
    let pulled = p.infra(&["state", "pull"]);
    pulled.expect_code(0);
    assert!(
        pulled.stdout.contains("sim_resource.fast"),
        "{}",
        pulled.stdout
    );
    let output = p.infra(&["output", "sim_resource.fast.id"]);
    output.expect_code(0);
    assert!(!output.stdout.trim().is_empty(), "{}", output.stdout);
    assert!(
        journal_path.exists(),
        "read commands leave the journal to recovery"
    );
}

#[test]
fn import_refuses_an_object_already_managed_at_another_address() {
    let p = applied(SMALL);
    let id = p.state()["resources"][2]["id"].as_str().unwrap().to_owned();
    let address = p.state()["resources"][2]["address"]
        .as_str()
        .unwrap()
        .to_owned();
    p.set_stack(&format!(
        "{SMALL}\n[resources.sim_resource.copy]\npayload = \"logs\"\n"
    ));
    let before = p.state_files();
    let run = p.infra(&["import", "sim_resource.copy", &id]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains(&format!("is already in state as `{address}`")),
        "{}",
        run.stderr
    );
    assert_eq!(p.state_files(), before);
}

#[test]
fn clearing_prevent_destroy_shows_in_the_plan() {
    let stack = r#"
[resources.sim_resource.db]
payload = "db"
lifecycle = { prevent_destroy = true }
"#;
    let p = applied(stack);
    p.set_stack(&stack.replace("true", "false"));
    let run = p.infra(&["plan", "--detailed-exitcode"]);
    run.expect_code(2);
    assert!(
        run.stdout.contains("sim_resource.db")
            && run
                .stdout
                .contains("lifecycle.prevent_destroy = true -> false"),
        "{}",
        run.stdout
    );
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(p.state()["resources"][0]["prevent_destroy"], false);
    p.infra(&["destroy", "--auto-approve"]).expect_code(0);
}

#[test]
fn a_resource_disabled_after_apply_is_planned_for_deletion_and_deleted() {
    let p = applied(SMALL);
    p.set_stack(&format!("{SMALL}enabled = false\n"));
    let plan = p.infra(&["plan"]);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains("- sim_resource.logs")
            && plan
                .stdout
                .contains("Plan: 0 to add, 0 to change, 0 to replace, 1 to destroy."),
        "{}",
        plan.stdout
    );
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(p.live(), ["sim_resource.db", "sim_resource.network"]);
}
