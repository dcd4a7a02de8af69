//! Shared state in S3, through the binary, against moto's AWS emulator on
//! 127.0.0.1: bootstrap, concurrent applies (one proceeds, the other names
//! the holder; with --lock-timeout they take turns and no update is lost,
//! 20 trials), `kill -9` mid-apply recovered by the next run once the dead
//! run's lease expires, and migrate local → S3 → local keeping lineage and
//! serial.

mod cli_support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cli_support::{Project, output_text};
use infra_aws::testing::{Emulator, REGION};

const BUCKET: &str = "team-infra-state";

fn stack(emulator: &Emulator, key: &str, resources: &str) -> String {
    format!(
        "state = \"s3://{BUCKET}/{key}\"\n\n[sim]\ndir = \".sim\"\n\n[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\n\n{resources}",
        emulator.endpoint()
    )
}

fn project(emulator: &Emulator, key: &str, resources: &str) -> Project {
    let p = Project::new("")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("INFRA_S3_LOCK_LEASE", "3s");
    p.write_raw(&stack(emulator, key, resources));
    let out = p.infra(&["backend", "bootstrap", &format!("s3://{BUCKET}")]);
    out.expect_code(0);
    p
}

async fn s3(emulator: &Emulator) -> aws_sdk_s3::Client {
    let sdk = emulator
        .context()
        .sdk_config(&emulator.settings())
        .await
        .expect("sdk config");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    )
}

async fn state_of(emulator: &Emulator, key: &str) -> serde_json::Value {
    let body = s3(emulator)
        .await
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("state object")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    serde_json::from_slice(&body).expect("state JSON")
}

fn spawn(p: &Project, args: &[&str]) -> Child {
    p.command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn infra")
}

fn addresses(state: &serde_json::Value) -> Vec<String> {
    state["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r["address"].as_str().expect("address").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_is_idempotent_and_state_lives_in_the_bucket() {
    let emulator = Emulator::shared();
    let p = project(
        emulator,
        "boot/x.json",
        "[resources.sim_resource.a]\npayload = 1\n",
    );
    let again = p.infra(&["backend", "bootstrap", &format!("s3://{BUCKET}")]);
    again.expect_code(0);
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    assert!(
        !p.root().join("state/x.json").exists(),
        "no local state when state lives in S3"
    );
    let state = state_of(emulator, "boot/x.json").await;
    assert_eq!(addresses(&state), ["sim_resource.a"]);
    let versioning = s3(emulator)
        .await
        .get_bucket_versioning()
        .bucket(BUCKET)
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    p.infra(&["plan", "--detailed-exitcode"]).expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_apply_fails_at_once_naming_the_holder() {
    let emulator = Emulator::shared();
    let p = project(
        emulator,
        "busy/x.json",
        "[resources.sim_resource.slow]\ncreate_ms = 4000\npayload = 1\n",
    );
    let first = spawn(&p, &["apply", "--auto-approve"]);
    // Wait until the first holds the lock.
    let client = s3(emulator).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .head_object()
        .bucket(BUCKET)
        .key("busy/x.json.lock")
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the first apply never locked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = p.infra(&["apply", "--auto-approve"]);
    second.expect_code(1);
    assert!(
        second
            .stderr
            .contains(&format!("s3://{BUCKET}/busy/x.json is locked by"))
            && second.stderr.contains("running `apply` since")
            && second.stderr.contains("infra force-unlock"),
        "{}",
        second.stderr
    );
    let first = first.wait_with_output().expect("first");
    assert_eq!(first.status.code(), Some(0), "{}", output_text(&first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_applies_take_turns_and_lose_no_update() {
    const TRIALS: usize = 20;
    let emulator = Emulator::shared();
    let mut resources = String::new();
    for i in 0..2 * TRIALS {
        resources.push_str(&format!(
            "[resources.sim_resource.r{i}]\ncreate_ms = 50\npayload = {i}\n\n"
        ));
    }
    let p = project(emulator, "race/x.json", &resources);
    let started = Instant::now();
    for t in 0..TRIALS {
        let runs: Vec<Child> = [2 * t, 2 * t + 1]
            .iter()
            .map(|i| {
                spawn(
                    &p,
                    &[
                        "apply",
                        "--auto-approve",
                        "--lock-timeout",
                        "60s",
                        "--target",
                        &format!("sim_resource.r{i}"),
                    ],
                )
            })
            .collect();
        for run in runs {
            let out = run.wait_with_output().expect("apply");
            assert_eq!(
                out.status.code(),
                Some(0),
                "trial {t}: {}",
                output_text(&out)
            );
        }
        let state = state_of(emulator, "race/x.json").await;
        let held = addresses(&state);
        assert_eq!(
            held.len(),
            2 * (t + 1),
            "trial {t}: an update was lost: {held:?}"
        );
    }
    let live = p.live().len();
    assert_eq!(live, 2 * TRIALS, "every resource made is in state");
    println!(
        "{TRIALS} trials of two concurrent applies on one S3 state: 0 lost updates, {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_apply_is_recovered_once_its_lease_expires() {
    let emulator = Emulator::shared();
    let p = project(
        emulator,
        "killed/x.json",
        "[resources.sim_resource.a]\npayload = 1\n\n[resources.sim_resource.slow]\ncreate_ms = 3000\npayload = \"${sim_resource.a.id}\"\n",
    );
    let mut child = spawn(&p, &["apply", "--auto-approve"]);
    // Kill it while the slow create is in flight: its intent is journaled.
    let client = s3(emulator).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = client
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("killed/x.json.journal/")
            .send()
            .await
            .expect("list");
        let mut journal = String::new();
        for o in listed.contents() {
            let body = client
                .get_object()
                .bucket(BUCKET)
                .key(o.key().unwrap_or_default())
                .send()
                .await
                .expect("journal object")
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes();
            journal.push_str(&String::from_utf8_lossy(&body));
        }
        if journal.contains("sim_resource.slow") {
            break;
        }
        assert!(Instant::now() < deadline, "the slow create never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");

    // At once, the lock is still there, and its holder known to be gone.
    let blocked = p.infra(&["plan"]);
    blocked.expect_code(1);
    assert!(
        blocked.stderr.contains("the holder is gone")
            && blocked.stderr.contains("infra force-unlock"),
        "{}",
        blocked.stderr
    );

    // The dead run's lock holds until its lease (3 s here) runs out; then
    // the next run takes it over, says so, and recovers the journal.
    let out = p
        .command(&["apply", "--auto-approve", "--lock-timeout", "30s"])
        .output()
        .expect("rerun");
    let all = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("took over the state lock"), "{all}");
    assert!(all.contains("recovered an interrupted create"), "{all}");
    let ledger = p.ledger();
    for (address, entry) in &ledger {
        assert_eq!(
            (entry.creates, entry.live),
            (1, true),
            "{address}: no duplicate, no orphan"
        );
    }
    let state = state_of(emulator, "killed/x.json").await;
    assert_eq!(addresses(&state), ["sim_resource.a", "sim_resource.slow"]);
    p.infra(&["plan", "--detailed-exitcode"]).expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_to_s3_and_back_keeps_lineage_and_serial() {
    let emulator = Emulator::shared();
    let resources = "[resources.sim_resource.a]\npayload = 1\n";
    // Start local: the stack file names no state.
    let p = project(emulator, "unused.json", resources);
    let local_stack = format!(
        "[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\n\n{resources}",
        emulator.endpoint()
    );
    p.set_stack(&local_stack);
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    let local = p.state();

    let to = format!("s3://{BUCKET}/migrated/x.json");
    let out = p.infra(&["state", "migrate", "--to", &to]);
    out.expect_code(0);
    assert!(out.stderr.contains(&format!("to {to}")), "{}", out.stderr);
    let remote = state_of(emulator, "migrated/x.json").await;
    assert_eq!(remote["lineage"], local["lineage"]);
    assert_eq!(remote["serial"], local["serial"]);
    assert_eq!(addresses(&remote), addresses(&local));

    // Point the stack at S3: nothing to change.
    p.write_raw(&stack(emulator, "migrated/x.json", resources));
    p.infra(&["plan", "--detailed-exitcode"]).expect_code(0);
    // Applying with state in S3 moves its serial on.
    p.write_raw(&format!(
        "{}\n[resources.sim_resource.b]\npayload = 2\n",
        stack(emulator, "migrated/x.json", resources)
    ));
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    let newer = state_of(emulator, "migrated/x.json").await;
    assert!(newer["serial"].as_u64() > local["serial"].as_u64());

    // And back to local: lineage and serial as in S3.
    let out = p.infra(&["state", "migrate", "--to", "local"]);
    out.expect_code(0);
    let back = p.state();
    assert_eq!(back["lineage"], newer["lineage"]);
    assert_eq!(back["serial"], newer["serial"]);
    assert_eq!(addresses(&back), ["sim_resource.a", "sim_resource.b"]);
}
