//! A sentinel secret planted in every sensitive position — a resource's
//! secret input and a Helm release's values, both `{ from_env = ... }` —
//! appears nowhere infra writes: state, journal (kept by a killed run),
//! saved plans, `--json` output, logs at the highest verbosity, helm's argv
//! and environment. Only helm's 0600 values file may hold it. State files
//! are created 0600. (The RDS password's path to the AWS API is checked
//! the same way in tests/aws_local.rs.)

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cli_support::{Project, install_standin_helm};

const SENTINEL: &str = "SENTINEL-9f3a-do-not-leak";

fn stack(slow_ms: u64) -> String {
    format!(
        r#"[helm]
binary = "bin/helm"

[resources.sim_resource.db]
payload = {{ password = {{ from_env = "SECRET" }} }}

[resources.sim_resource.slow]
update_ms = {slow_ms}
payload = {{ token = {{ from_env = "SECRET" }}, after = "${{sim_resource.db.id}}" }}

[resources.helm_release.app]
name = "app"
chart = "oci://registry.example/app"
version = "1.0.0"
kubeconfig = "kubeconfig"
values = {{ db = {{ host = "${{sim_resource.db.id}}", password = {{ from_env = "SECRET" }} }}, list = [{{ from_env = "SECRET" }}] }}
"#
    )
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path);
            }
        }
    }
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(SENTINEL),
        "the secret leaked into {what}:\n{text}"
    );
}

#[test]
fn the_sentinel_secret_appears_nowhere_infra_writes() {
    let p = Project::new(&stack(0)).env("SECRET", SENTINEL);
    install_standin_helm(p.root(), false);
    std::fs::write(
        p.root().join("kubeconfig"),
        "apiVersion: v1\nkind: Config\n",
    )
    .expect("kube");
    let mut checked = 0;

    let plan = p.infra(&["plan", "--out", "saved.plan", "-vvv"]);
    plan.expect_code(0);
    assert_clean("plan output", &(plan.stdout.clone() + &plan.stderr));
    assert!(plan.stdout.contains("(sensitive)"), "{}", plan.stdout);
    let saved = std::fs::read_to_string(p.root().join("saved.plan")).expect("saved plan");
    assert_clean("the saved plan", &saved);
    let json = p.infra(&["plan", "--json"]);
    json.expect_code(0);
    assert_clean("plan --json", &(json.stdout.clone() + &json.stderr));
    checked += 3;

    let apply = p.infra(&["apply", "saved.plan", "-vvv"]);
    apply.expect_code(0);
    assert_clean("apply logs", &(apply.stdout.clone() + &apply.stderr));
    assert!(
        apply.stderr.contains("TRACE") && apply.stderr.contains("running helm"),
        "the logs are at the highest verbosity: {}",
        apply.stderr
    );
    let json = p.infra(&["apply", "--auto-approve", "--json", "-vvv"]);
    json.expect_code(0);
    assert_clean("apply --json", &(json.stdout.clone() + &json.stderr));
    for cmd in [
        &["output", "--json"][..],
        &["state", "pull"],
        &["state", "show", "helm_release.app", "--json"],
    ] {
        let run = p.infra(cmd);
        run.expect_code(0);
        assert_clean(&format!("infra {cmd:?}"), &run.stdout);
        checked += 1;
    }
    checked += 2;

    // A run killed mid-apply leaves its journal: no secret there either.
    p.set_stack(&stack(3_000).replace("token = {", "rotated = true, token = {"));
    let mut child = p
        .command(&["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let journal = p.root().join("state/x.journal");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&journal).map_or(true, |j| !j.contains("\"record\":\"intent\"")) {
        assert!(
            Instant::now() < deadline,
            "the apply never journaled an intent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    assert!(journal.exists(), "the killed run left its journal");

    // Everything on disk: state, journal, lock, key, the sim's cloud.
    let mut all = Vec::new();
    files(&p.root().join("state"), &mut all);
    files(&p.root().join(".sim"), &mut all);
    for f in &all {
        let bytes = std::fs::read(f).expect("read");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SENTINEL),
            "the secret leaked into {}",
            f.display()
        );
        checked += 1;
    }
    for f in all.iter().filter(|f| f.starts_with(p.root().join("state"))) {
        let mode = std::fs::metadata(f).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", f.display());
    }

    // helm: argv and environment never; the values file (0600) only.
    let standin = p.root().join("helm-standin");
    for log in ["argv.log", "env.log", "kubeconfig.log"] {
        let text = std::fs::read_to_string(standin.join(log)).unwrap_or_default();
        assert_clean(log, &text);
        checked += 1;
    }
    let values = std::fs::read_to_string(standin.join("values.log")).expect("values.log");
    assert!(
        values.contains(SENTINEL),
        "helm did get the secret in its values file"
    );
    assert!(values.contains("\"mode\": \"0600\""), "{values}");

    // The next run recovers, and still writes no secret.
    let run = p.infra(&["apply", "--auto-approve", "-vvv"]);
    run.expect_code(0);
    assert_clean("the recovering run", &(run.stdout.clone() + &run.stderr));
    let state = std::fs::read_to_string(p.root().join("state/x.json")).expect("state");
    assert_clean("state after recovery", &state);
    println!("sentinel checked in {checked} outputs and files");
}

fn generated_stack(revision: u32) -> String {
    generated_stack_slow(revision, 0)
}

fn generated_stack_slow(revision: u32, update_ms: u64) -> String {
    format!(
        r#"[helm]
binary = "bin/helm"

[resources.sim_resource.gen]

[resources.sim_resource.user]
update_ms = {update_ms}
payload = {{ password = "${{sim_resource.gen.secret}}", revision = {revision} }}

[resources.helm_release.app]
name = "app"
chart = "oci://registry.example/app"
version = "1.0.0"
kubeconfig = "kubeconfig"
values = {{ db = {{ password = "${{sim_resource.gen.secret}}" }}, revision = {revision} }}
"#
    )
}

/// The `secret` the simulated cloud generated for `sim_resource.gen`.
fn generated_secret(root: &Path) -> String {
    let mut all = Vec::new();
    files(&root.join(".sim/resources"), &mut all);
    all.iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .find(|file| file["address"] == "sim_resource.gen")
        .and_then(|file| file["secret"].as_str().map(str::to_owned))
        .filter(|s| !s.is_empty())
        .expect("the sim generated a secret for sim_resource.gen")
}

/// A secret the cloud generates (a sensitive output) feeds a dependent's
/// input and a Helm release's values. Its plaintext reaches both (the sim
/// refuses a secret input without its plaintext): in the run that creates
/// it, from a saved plan applied by another process, and in a run without
/// refresh. It appears nowhere infra writes.
#[test]
fn a_generated_secret_reaches_its_dependents_and_appears_nowhere_infra_writes() {
    let p = Project::new(&generated_stack(1));
    install_standin_helm(p.root(), false);
    std::fs::write(
        p.root().join("kubeconfig"),
        "apiVersion: v1\nkind: Config\n",
    )
    .expect("kube");
    let mut logs = String::new();
    let mut run = |args: &[&str]| {
        let r = p.infra(args);
        r.expect_code(0);
        logs.push_str(&r.stdout);
        logs.push_str(&r.stderr);
    };

    run(&["apply", "--auto-approve", "-vvv"]);
    let secret = generated_secret(p.root());
    let values_with_secret = || {
        let values =
            std::fs::read_to_string(p.root().join("helm-standin/values.log")).expect("values.log");
        values.matches(secret.as_str()).count()
    };
    assert_eq!(values_with_secret(), 1, "helm got the plaintext at create");

    // Another process applies a saved plan: state holds only the digest,
    // so the engine reads the secret from the cloud again.
    p.set_stack(&generated_stack(2));
    run(&["plan", "--out", "saved.plan", "-vvv"]);
    run(&["apply", "saved.plan", "-vvv"]);
    assert_eq!(values_with_secret(), 2, "and again from the saved plan");
    p.set_stack(&generated_stack(3));
    run(&[
        "apply",
        "--auto-approve",
        "--refresh=false",
        "--json",
        "-vvv",
    ]);
    assert_eq!(values_with_secret(), 3, "and without refresh");
    // A run killed while the dependent is being updated leaves its
    // journal; the next run recovers.
    p.set_stack(&generated_stack_slow(4, 3_000));
    let mut child = p
        .command(&["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let journal = p.root().join("state/x.journal");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&journal).map_or(true, |j| !j.contains("\"record\":\"intent\"")) {
        assert!(
            Instant::now() < deadline,
            "the apply never journaled an intent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let killed = std::fs::read_to_string(&journal).expect("the killed run left its journal");
    assert!(
        !killed.contains(&secret),
        "the generated secret leaked into the journal"
    );
    run(&["apply", "--auto-approve", "-vvv"]);
    run(&["plan", "--json"]);
    run(&["output", "--json"]);
    run(&["state", "pull"]);
    run(&["state", "show", "sim_resource.user", "--json"]);

    assert!(
        !logs.contains(&secret),
        "the generated secret leaked into infra's output or logs"
    );
    let mut written = Vec::new();
    files(&p.root().join("state"), &mut written);
    written.push(p.root().join("saved.plan"));
    for log in ["argv.log", "env.log", "kubeconfig.log"] {
        written.push(p.root().join("helm-standin").join(log));
    }
    for f in &written {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()).into_owned();
        assert!(
            !text.contains(&secret),
            "the generated secret leaked into {}",
            f.display()
        );
    }
    let state = std::fs::read_to_string(p.root().join("state/x.json")).expect("state");
    assert!(
        state.contains("$sensitive"),
        "state records the digest: {state}"
    );
}
