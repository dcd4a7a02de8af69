//! `infra state pull / push / migrate` with local state: what they refuse
//! is what would lose an update. (S3 round trips are in
//! tests/state_s3.rs against the AWS emulator.)

mod cli_support;

use cli_support::Project;

const STACK: &str = "[resources.sim_resource.a]\npayload = 1\n";

#[test]
fn pull_prints_the_state_and_push_refuses_older_or_foreign_states() {
    let p = Project::new(STACK);
    let out = p.infra(&["state", "pull"]);
    out.expect_code(1);
    assert!(out.stderr.contains("has no state yet"), "{}", out.stderr);

    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    let pulled = p.infra(&["state", "pull"]);
    pulled.expect_code(0);
    let old: serde_json::Value = serde_json::from_str(&pulled.stdout).expect("state JSON");
    assert_eq!(old, p.state());
    std::fs::write(p.root().join("old.json"), &pulled.stdout).expect("save");

    // A newer serial in the store: pushing the old copy would lose it.
    p.set_stack("[resources.sim_resource.a]\npayload = 2\n");
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    let before = p.state_files();
    let out = p.infra(&["state", "push", "old.json"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("pushing would lose updates"),
        "{}",
        out.stderr
    );
    assert_eq!(p.state_files(), before, "a refused push writes nothing");

    // Another lineage: another stack's state.
    let mut foreign = old.clone();
    foreign["lineage"] = "00000000-0000-0000-0000-000000000000".into();
    std::fs::write(p.root().join("foreign.json"), foreign.to_string()).expect("save");
    let out = p.infra(&["state", "push", "foreign.json"]);
    out.expect_code(1);
    assert!(out.stderr.contains("holds another state"), "{}", out.stderr);

    // Not a state at all.
    std::fs::write(p.root().join("junk.json"), "{ not json").expect("save");
    let out = p.infra(&["state", "push", "junk.json"]);
    out.expect_code(1);
    assert!(out.stderr.contains("junk.json"), "{}", out.stderr);
    assert_eq!(p.state_files(), before);

    // --force replaces, and the next plan sees the old payload again.
    p.infra(&["state", "push", "old.json", "--force"])
        .expect_code(0);
    let pushed = p.state();
    assert_eq!(pushed["lineage"], old["lineage"]);
    assert_eq!(pushed["resources"], old["resources"]);
    assert!(
        pushed["serial"].as_u64() > old["serial"].as_u64(),
        "a push makes a new serial, so plans against the replaced state are stale"
    );
}

#[test]
fn migrate_refuses_the_location_it_is_in_and_unknown_schemes() {
    let p = Project::new(STACK);
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    let out = p.infra(&["state", "migrate", "--to", "local"]);
    out.expect_code(1);
    assert!(out.stderr.contains("is already in"), "{}", out.stderr);
    let out = p.infra(&["state", "migrate", "--to", "gcs://bucket/key"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("state backend `gcs://` is not supported by this build"),
        "{}",
        out.stderr
    );
}
