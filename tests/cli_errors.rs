//! End-to-end tests of bad input: every kind of mistake in a stack file
//! exits 1 naming `stacks/x.toml:LINE:COL`, and leaves `state/` exactly as
//! it was. Run with `cargo test --features sim`.
#![cfg(feature = "sim")]

mod cli_support;

use std::process::Command;
use std::sync::Arc;

use async_trait::async_trait;
use cli_support::{Project, Run};
use expect_test::{Expect, expect};
use infra_core::{
    Attribute, ErrorKind, Existing, Observed, OpContext, Provider, ProviderError, Registry, Schema,
    Type, Value,
};

const GOOD: &str = r#"[sim]
dir = ".sim"

[resources.sim_resource.a]
payload = "a"

[resources.sim_resource.b]
payload = "${sim_resource.a.id}"
"#;

/// Runs every command that loads the stack on a fresh project and on an
/// applied one: each must fail with the same diagnostics and touch no state.
fn check(stack: &str, expected: Expect) {
    let fresh = Project::new("");
    fresh.write_raw(stack);
    let applied = Project::new("");
    applied.write_raw(GOOD);
    applied.infra(&["apply", "--auto-approve"]).expect_code(0);
    applied.write_raw(stack);
    let before = applied.state_files();
    let mut first: Option<String> = None;
    for p in [&fresh, &applied] {
        for cmd in [
            &["validate"][..],
            &["plan"],
            &["apply", "--auto-approve"],
            &["destroy", "--auto-approve"],
            &["graph"],
        ] {
            let run = p.infra(cmd);
            run.expect_code(1);
            assert_eq!(run.stdout, "", "{cmd:?}");
            match &first {
                None => first = Some(run.stderr.clone()),
                Some(f) => assert_eq!(&run.stderr, f, "{cmd:?}"),
            }
        }
    }
    assert!(fresh.state_files().is_empty(), "state/ was created");
    assert_eq!(applied.state_files(), before, "state/ was modified");
    assert_eq!(applied.live(), ["sim_resource.a", "sim_resource.b"]);
    expected.assert_eq(&first.unwrap_or_default());
}

#[test]
fn syntax_error() {
    check(
        "[sim]\ndir = \".sim\"\n\n[resources.sim_resource.a\npayload = 1\n",
        expect![[r#"
            error: stacks/x.toml:4:26: invalid toml: unclosed table, expected `]`
        "#]],
    );
}

#[test]
fn unknown_attribute() {
    check(
        &GOOD.replace("payload = \"a\"", "paylod = \"a\""),
        expect![[r#"
            error: stacks/x.toml:5:1: sim_resource.a: unknown attribute `paylod` for `sim_resource`
              hint: did you mean `payload`?
        "#]],
    );
}

#[test]
fn wrong_type() {
    check(
        &GOOD.replace("payload = \"a\"", "create_ms = \"slow\""),
        expect![[r#"
            error: stacks/x.toml:5:13: sim_resource.a: wrong type for `create_ms`: expected integer, found string
        "#]],
    );
}

#[test]
fn dangling_reference() {
    check(
        &GOOD.replace("sim_resource.a.id", "sim_resource.nope.id"),
        expect![[r#"
            error: stacks/x.toml:8:12: sim_resource.b: dangling reference `${sim_resource.nope.id}`: no resource `sim_resource.nope` in the stack
              hint: did you mean `sim_resource.a`?
        "#]],
    );
}

#[test]
fn unknown_resource_type() {
    check(
        &format!("{GOOD}\n[resources.sim_resorce.c]\npayload = 1\n"),
        expect![[r#"
            error: stacks/x.toml:10:12: unknown resource type `sim_resorce`
              hint: did you mean `sim_resource`?
        "#]],
    );
}

#[test]
fn cycle() {
    check(
        &GOOD.replace("payload = \"a\"", "payload = \"${sim_resource.b.id}\""),
        expect![[r#"
            error: stacks/x.toml:4:1: sim_resource.a: dependency cycle: sim_resource.a -> sim_resource.b -> sim_resource.a
              hint: break the cycle by removing one of these references or depends_on entries: sim_resource.a at stacks/x.toml:4:1, sim_resource.b at stacks/x.toml:7:1
        "#]],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let stack = GOOD
        .replace("payload = \"a\"", "paylod = \"a\"")
        .replace("sim_resource.a.id", "sim_resource.nope.id");
    let p = Project::new("");
    p.write_raw(&stack);
    let run = p.infra(&["plan"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("stacks/x.toml:5:1") && run.stderr.contains("stacks/x.toml:8:12"),
        "{}",
        run.stderr
    );
    let json = p.infra(&["validate", "--json"]);
    json.expect_code(1);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["diagnostics"][0]["file"], "stacks/x.toml");
    assert_eq!(doc["diagnostics"][0]["line"], 5);
}

// `sim_resource` has no required attribute, so the missing-required case
// runs the command line in a child process of this test binary, over a
// registry with a type that has one.

/// A resource type with one required attribute; never reaches a cloud.
struct Required(Schema);

#[async_trait]
impl Provider for Required {
    fn schema(&self) -> &Schema {
        &self.0
    }

    async fn create(&self, _: &OpContext, _: &Value) -> Result<Observed, ProviderError> {
        Err(ProviderError::new(ErrorKind::Failed, "not a real cloud"))
    }

    async fn read(&self, _: &OpContext, _: &Existing) -> Result<Option<Observed>, ProviderError> {
        Ok(None)
    }

    async fn find(&self, _: &OpContext, _: &Value) -> Result<Option<Observed>, ProviderError> {
        Ok(None)
    }

    async fn update(
        &self,
        _: &OpContext,
        _: &Existing,
        _: &Value,
    ) -> Result<Observed, ProviderError> {
        Err(ProviderError::new(ErrorKind::Failed, "not a real cloud"))
    }

    async fn delete(&self, _: &OpContext, _: &Existing) -> Result<(), ProviderError> {
        Ok(())
    }
}

const CHILD_ARGS: &str = "INFRA_TEST_CHILD_ARGS";

/// In the child: the `infra` command line over a registry with
/// `req_resource`. In the parent (no env var): nothing.
#[test]
fn child_main() {
    let Ok(args) = std::env::var(CHILD_ARGS) else {
        return;
    };
    let mut registry = Registry::new();
    registry.register(Arc::new(Required(
        Schema::new("req_resource").attribute(
            Attribute::new("name", Type::String)
                .required()
                .describe("the name"),
        ),
    )));
    let args = std::iter::once("infra").chain(args.split('\u{1f}'));
    let code = infra_cli::main_from(registry, args);
    let code = [0u8, 1, 2, 130]
        .into_iter()
        .find(|&c| code == std::process::ExitCode::from(c))
        .map_or(99, i32::from);
    std::process::exit(code);
}

fn child(p: &Project, args: &[&str]) -> Run {
    let exe = std::env::current_exe().expect("test binary");
    Command::new(exe)
        .args(["--exact", "child_main", "--nocapture", "--test-threads=1"])
        .env(CHILD_ARGS, args.join("\u{1f}"))
        .current_dir(p.root())
        .output()
        .expect("run child")
        .into()
}

#[test]
fn missing_required_attribute() {
    let p = Project::new("");
    p.write_raw("[resources.req_resource.a]\n\n[resources.req_resource.b]\nname = \"b\"\n");
    for cmd in [&["validate"][..], &["plan"], &["apply", "--auto-approve"]] {
        let mut args = cmd.to_vec();
        args.extend(["--stack", "x", "--no-color"]);
        let run = child(&p, &args);
        run.expect_code(1);
        expect![[r#"
            error: stacks/x.toml:1:1: req_resource.a: missing required attribute `name`
              hint: add `name` (string): the name
        "#]]
        .assert_eq(&run.stderr);
    }
    assert!(p.state_files().is_empty(), "state/ was created");
}

/// The lock id a run found the stack locked with, from its hint.
fn lock_id(locked: &Run) -> String {
    locked
        .stderr
        .split("infra force-unlock ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no lock id in {}", locked.stderr))
        .to_owned()
}

#[test]
fn force_unlock_refuses_the_lock_of_a_live_run() {
    let p = Project::new("[resources.sim_resource.slow]\ncreate_ms = 5000\n");
    let (mut apply, _output) = cli_support::spawn_until(
        p.command(&["apply", "--auto-approve"]),
        "sim_resource.slow: creating...",
    );
    let locked = p.infra(&["plan"]);
    locked.expect_code(1);
    let id = lock_id(&locked);
    let lock = p.root().join("state/x.lock");
    for force in [false, true] {
        let mut args = vec!["force-unlock", &id, "--auto-approve"];
        if force {
            args.push("--force");
        }
        let run = p.infra(&args);
        run.expect_code(1);
        assert_eq!(run.stdout, "", "{args:?}");
        for part in [
            format!("refusing to remove lock {id} of ./state/x.json"),
            format!("(pid {}, running `apply` since ", apply.id()),
            "still running on this machine".to_owned(),
            format!("`kill {}`", apply.id()),
        ] {
            assert!(
                run.stderr.contains(&part),
                "{part:?} in {args:?}:\n{}",
                run.stderr
            );
        }
        assert_eq!(
            run.stderr.contains("warning: --force"),
            force,
            "{}",
            run.stderr
        );
        let record = std::fs::read_to_string(&lock).expect("the lock file stays");
        assert!(record.contains(&id), "{record}");
        p.infra(&["plan"]).expect_code(1);
    }
    assert!(apply.wait().expect("wait").success());
    // One run created the resource, once.
    p.infra(&["plan", "--detailed-exitcode"]).expect_code(0);
    assert_eq!(p.live(), ["sim_resource.slow"]);
}

#[test]
fn force_unlock_clears_the_lock_of_a_killed_run() {
    let p = Project::new("[resources.sim_resource.slow]\ncreate_ms = 5000\n");
    let (mut apply, _output) = cli_support::spawn_until(
        p.command(&["apply", "--auto-approve"]),
        "sim_resource.slow: creating...",
    );
    apply.kill().expect("SIGKILL");
    apply.wait().expect("wait");
    let lock = p.root().join("state/x.lock");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&lock).expect("the dead run's lock file"))
            .expect("its lock record");
    let id = record["id"].as_str().expect("an id").to_owned();
    let run = p.infra(&["force-unlock", &id, "--auto-approve"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "The lock of stack `x` was removed.\n");
    assert_eq!(
        std::fs::read(&lock).unwrap_or_default(),
        b"",
        "lock record left"
    );
    let again = p.infra(&["force-unlock", &id, "--auto-approve"]);
    again.expect_code(1);
    assert!(again.stderr.contains("not locked"), "{}", again.stderr);
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(p.live(), ["sim_resource.slow"]);
}

#[test]
fn force_unlock_of_a_lock_from_another_machine_needs_force() {
    let p = Project::new("[resources.sim_resource.a]\npayload = \"a\"\n");
    // A holder on another machine sharing state/ (NFS, say): its OS lock
    // is visible here, its process is not.
    std::fs::create_dir_all(p.root().join("state")).expect("state dir");
    let lock = p.root().join("state/x.lock");
    let mut remote = std::fs::File::create(&lock).expect("lock file");
    remote.lock().expect("flock");
    std::io::Write::write_all(
        &mut remote,
        br#"{"id":"remote-1","holder":"bob","host":"elsewhere.example","pid":4242,"operation":"apply","created":"2026-01-01T00:00:00Z"}"#,
    )
    .expect("lock record");
    p.infra(&["plan"]).expect_code(1);
    let refused = p.infra(&["force-unlock", "remote-1", "--auto-approve"]);
    refused.expect_code(1);
    for part in [
        "refusing to remove lock remote-1 of ./state/x.json",
        "bob on elsewhere.example (pid 4242, running `apply` since 2026-01-01T00:00:00Z)",
        "another machine",
        "`infra force-unlock remote-1 --force`",
    ] {
        assert!(
            refused.stderr.contains(part),
            "{part:?}:\n{}",
            refused.stderr
        );
    }
    assert!(
        std::fs::read_to_string(&lock)
            .expect("lock file")
            .contains("remote-1")
    );
    p.infra(&["plan"]).expect_code(1);
    let forced = p.infra(&["force-unlock", "remote-1", "--auto-approve", "--force"]);
    forced.expect_code(0);
    assert_eq!(forced.stdout, "The lock of stack `x` was removed.\n");
    assert!(
        forced
            .stderr
            .starts_with("warning: --force removes lock remote-1 of stack `x`")
            && forced.stderr.contains("another machine"),
        "{}",
        forced.stderr
    );
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(p.live(), ["sim_resource.a"]);
    drop(remote);
}

#[test]
fn apply_through_a_linked_state_file_updates_its_target() {
    let p = Project::new("[resources.sim_resource.a]\npayload = \"a\"\n");
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    let serial = p.state()["serial"].as_u64().expect("serial");
    let shared = p.root().join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    let link = p.root().join("state/x.json");
    std::fs::rename(&link, shared.join("prod.json")).expect("move the state");
    std::os::unix::fs::symlink("../shared/prod.json", &link).expect("link");
    p.set_stack(
        "[resources.sim_resource.a]\npayload = \"a\"\n\n[resources.sim_resource.b]\npayload = \"b\"\n",
    );
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    let meta = std::fs::symlink_metadata(&link).expect("the link");
    assert!(meta.file_type().is_symlink(), "state/x.json was replaced");
    let target: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shared.join("prod.json")).expect("target"))
            .expect("target json");
    assert!(
        target["serial"].as_u64().expect("serial") > serial,
        "{target}"
    );
    assert_eq!(target["resources"].as_array().expect("resources").len(), 2);
    // The lock lives beside the target, so every link to it shares one.
    assert!(shared.join("prod.lock").exists());
    assert!(!shared.join("prod.json.tmp").exists());
    p.infra(&["plan", "--detailed-exitcode"]).expect_code(0);
    assert_eq!(p.live(), ["sim_resource.a", "sim_resource.b"]);
}

#[test]
fn an_unset_sensitive_input_shows_as_unset_from_its_variable() {
    let p = Project::new(
        r#"[resources.sim_resource.a]
payload = { from_env = "X_UNSET_FOR_TEST" }

[resources.sim_resource.b]
payload = { token = { from_env = "X_UNSET_FOR_TEST" }, user = "u" }
"#,
    );
    let mut cmd = p.command(&["plan"]);
    cmd.env_remove("X_UNSET_FOR_TEST");
    let run: Run = cmd.output().expect("run infra").into();
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("+ payload   = (unset: $X_UNSET_FOR_TEST)\n")
            && run
                .stdout
                .contains("+ payload   = { token = (unset: $X_UNSET_FOR_TEST), user = \"u\" }\n")
            && !run.stdout.contains("known after apply"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("warning: environment variable X_UNSET_FOR_TEST is not set"),
        "{}",
        run.stdout
    );
    // The JSON plan says where, too.
    let mut cmd = p.command(&["plan", "--json"]);
    cmd.env_remove("X_UNSET_FOR_TEST");
    let run: Run = cmd.output().expect("run infra").into();
    run.expect_code(0);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("plan json");
    assert_eq!(
        plan["unset"],
        serde_json::json!([
            { "address": "sim_resource.a", "path": "payload", "var": "X_UNSET_FOR_TEST" },
            { "address": "sim_resource.b", "path": "payload.token", "var": "X_UNSET_FOR_TEST" },
        ])
    );
}

/// A subnet's block must lie inside its VPC's and apart from its siblings':
/// checked at plan time across resources, when the blocks are known, each
/// problem at the subnet's `cidr_block` line. Nothing reaches the cloud.
#[test]
fn subnet_blocks_are_checked_against_the_vpc_and_each_other() {
    let p = Project::new("");
    p.write_raw(
        r#"[aws]
endpoint_url = "http://127.0.0.1:1"

[resources.vpc.main]
cidr_block = "10.40.0.0/16"

[resources.subnet.a]
vpc_id = "${vpc.main.id}"
cidr_block = "10.40.0.0/20"

[resources.subnet.b]
vpc_id = "${vpc.main.id}"
cidr_block = "10.40.8.0/24"

[resources.subnet.c]
vpc_id = "${vpc.main.id}"
cidr_block = "10.41.0.0/24"

[resources.subnet.d]
vpc_id = "${vpc.main.id}"
cidr_block = "10.40.16.0/20"
"#,
    );
    let run = p.infra(&["plan"]);
    run.expect_code(1);
    expect![[r#"
        error: stacks/x.toml:9:14: subnet.a: subnet block 10.40.0.0/20 overlaps 10.40.8.0/24, the block of `subnet.b` in the same VPC: the subnets of a VPC must not overlap
        error: stacks/x.toml:13:14: subnet.b: subnet block 10.40.8.0/24 overlaps 10.40.0.0/20, the block of `subnet.a` in the same VPC: the subnets of a VPC must not overlap
        error: stacks/x.toml:17:14: subnet.c: subnet block 10.41.0.0/24 is not inside 10.40.0.0/16, the block of `vpc.main`: choose one inside it
    "#]]
    .assert_eq(&run.stderr);
    assert!(p.state_files().is_empty(), "state/ was created");
}
