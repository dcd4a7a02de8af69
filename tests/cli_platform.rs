//! The acceptance run, end to end through the binary: a stack of
//! ~200 simulated resources with latencies converges, a second plan is
//! empty, one changed payload is exactly one update, and destroy leaves
//! the simulated cloud empty. Also: the shipped demo stack works as the
//! README says. Run with `cargo test --features sim`.

mod cli_support;

use cli_support::Project;

/// 200 resources in five layers of 40; each reads the id of one resource
/// of the layer below, so the graph is deep and wide at once.
fn platform() -> String {
    let mut s = String::new();
    for layer in 0..5 {
        for i in 0..40 {
            s.push_str(&format!("[resources.sim_resource.l{layer}_{i}]\n"));
            s.push_str(&format!("create_ms = {}\ndelete_ms = 5\n", 5 + (i % 4) * 5));
            if layer == 0 {
                s.push_str(&format!("payload = \"seed-{i}\"\n"));
            } else {
                let below = (i * 7) % 40;
                s.push_str(&format!(
                    "payload = {{ parent = \"${{sim_resource.l{}_{below}.id}}\", n = {i} }}\n",
                    layer - 1
                ));
            }
        }
    }
    s
}

#[test]
fn two_hundred_resources_converge_update_one_and_destroy_to_nothing() {
    let p = Project::new(&platform());
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(p.live().len(), 200);
    let ledger = p.ledger();
    assert_eq!(ledger.len(), 200);
    assert!(
        ledger.values().all(|e| e.creates == 1 && e.live),
        "no duplicates"
    );

    p.infra(&["plan", "--detailed-exitcode"]).expect_code(0);

    p.set_stack(&platform().replace("payload = \"seed-3\"", "payload = \"seed-3b\""));
    let run = p.infra(&["plan", "--detailed-exitcode"]);
    run.expect_code(2);
    assert!(
        run.stdout
            .contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."),
        "{}",
        run.stdout
    );

    p.infra(&["destroy", "--auto-approve"]).expect_code(0);
    assert!(p.live().is_empty());
    assert!(
        p.ledger()
            .values()
            .all(|e| e.creates == 1 && e.deletes == 1 && !e.live)
    );
}

#[test]
fn the_shipped_demo_stack_applies_and_destroys() {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/demo.toml"))
        .expect("stacks/demo.toml is shipped");
    let p = Project::new("").env("DEMO_DB_PASSWORD", "demo-sentinel-password");
    p.write_raw(&demo);
    p.infra(&["validate"]).expect_code(0);
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(p.live().len(), 7);
    p.infra(&["plan", "--detailed-exitcode"]).expect_code(0);
    let state = std::fs::read_to_string(p.root().join("state/x.json")).unwrap();
    assert!(!state.contains("demo-sentinel-password"));
    p.infra(&["destroy", "--auto-approve"]).expect_code(0);
    assert!(p.live().is_empty());
}
