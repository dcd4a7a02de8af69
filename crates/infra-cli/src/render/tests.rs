//! Snapshot tests of the renderers: one `check` per kind of output.

use expect_test::{Expect, expect};
use infra_core::{Address, Diagnostic, Location, Secret, Value};
use infra_engine::{
    Action, ApplyReport, ApplySummary, AttrChange, Deposed, Drift, Event, EventKind, Plan,
    PlanMode, ResourceChange, ResourceState, State, StateOnlyChange, Step, Summary, UnsetInput,
};

use super::*;

fn addr(s: &str) -> Address {
    s.parse().unwrap()
}

fn attr(path: &str, before: Option<Value>, after: Option<Value>) -> AttrChange {
    AttrChange {
        path: path.to_owned(),
        before,
        after,
        forces_replacement: false,
        note: None,
    }
}

fn s(v: &str) -> Option<Value> {
    Some(Value::from(v))
}

fn secret(plain: &str) -> Value {
    Value::Sensitive(Secret::new("hmac:0123", Value::from(plain)))
}

fn change(address: &str, action: Action, attributes: Vec<AttrChange>) -> ResourceChange {
    ResourceChange {
        address: addr(address),
        action,
        reason: None,
        target_id: (action != Action::Create).then(|| "sim-1".to_owned()),
        attributes,
        after: None,
        dependencies: Vec::new(),
        create_before_destroy: false,
        prevent_destroy: false,
        timeout_ms: 60_000,
    }
}

fn plan(changes: Vec<ResourceChange>) -> Plan {
    let mut summary = Summary::default();
    for c in &changes {
        match c.action {
            Action::Create => summary.add += 1,
            Action::Update => summary.change += 1,
            Action::Replace => summary.replace += 1,
            Action::Delete | Action::DeleteDeposed => summary.destroy += 1,
        }
    }
    Plan {
        version: 1,
        stack: "dev".into(),
        mode: PlanMode::Apply,
        lineage: None,
        serial: 0,
        config_hash: String::new(),
        drift: Vec::new(),
        changes,
        state_only: Vec::new(),
        summary,
        estimate_ms: 90_000,
        warnings: Vec::new(),
        missing_env: Vec::new(),
        unset: Vec::new(),
    }
}

fn check(p: &Plan, expected: Expect) {
    let text = super::plan(p, Style::PLAIN);
    assert!(!text.contains("hunter2"), "a secret leaked:\n{text}");
    expected.assert_eq(&text);
}

#[test]
fn create_with_sensitive_and_unknown_values() {
    let p = plan(vec![change(
        "sim_resource.db",
        Action::Create,
        vec![
            attr("create_ms", None, Some(Value::Int(500))),
            attr("password", None, Some(secret("hunter2"))),
            attr(
                "payload",
                None,
                Some(
                    [
                        ("bucket", Value::Unknown),
                        ("token", secret("hunter2")),
                        ("size", Value::Int(3)),
                    ]
                    .into_iter()
                    .collect(),
                ),
            ),
        ],
    )]);
    check(
        &p,
        expect![[r#"
            infra will perform the following actions:

              + sim_resource.db
                  + create_ms = 500
                  + password  = (sensitive)
                  + payload   = { bucket = (known after apply), size = 3, token = (sensitive) }

            Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy.
            Estimated apply time: 1m 30s (critical path).
        "#]],
    );
}

#[test]
fn attributes_set_only_at_create_say_who_owns_them() {
    let scaling: Value = [
        ("desired", Value::Int(3)),
        ("max", Value::Int(10)),
        ("min", Value::Int(1)),
    ]
    .into_iter()
    .collect();
    let create = change(
        "eks_node_group.workers",
        Action::Create,
        vec![
            attr("name", None, s("workers")),
            AttrChange {
                note: Some(
                    "scaling.desired: at create; then the cloud's — lifecycle.own = [\"scaling.desired\"] to keep it at 3"
                        .into(),
                ),
                ..attr("scaling", None, Some(scaling))
            },
        ],
    );
    let owned = change(
        "eks_node_group.batch",
        Action::Update,
        vec![AttrChange {
            note: Some("owned by the stack (lifecycle.own); resetting it may drain nodes".into()),
            ..attr("scaling.desired", Some(Value::Int(7)), Some(Value::Int(3)))
        }],
    );
    check(
        &plan(vec![create, owned]),
        expect![[r#"
            infra will perform the following actions:

              + eks_node_group.workers
                  + name    = "workers"
                  + scaling = { desired = 3, max = 10, min = 1 }  # scaling.desired: at create; then the cloud's — lifecycle.own = ["scaling.desired"] to keep it at 3

              ~ eks_node_group.batch
                  ~ scaling.desired = 7 -> 3  # owned by the stack (lifecycle.own); resetting it may drain nodes

            Plan: 1 to add, 1 to change, 0 to replace, 0 to destroy.
            Estimated apply time: 1m 30s (critical path).
        "#]],
    );
    // Kept in the JSON of a plan, and absent where there is none, so
    // plans saved before notes existed still read.
    let json = serde_json::to_string(&plan(vec![change(
        "eks_node_group.batch",
        Action::Update,
        vec![AttrChange {
            note: Some("owned by the stack (lifecycle.own)".into()),
            ..attr("scaling.desired", Some(Value::Int(7)), Some(Value::Int(3)))
        }],
    )]))
    .expect("json");
    assert!(
        json.contains(r#""note":"owned by the stack (lifecycle.own)""#),
        "{json}"
    );
    let without = attr("tags.team", None, s("data"));
    let text = serde_json::to_string(&without).expect("json");
    assert!(!text.contains("note"), "{text}");
    let read: AttrChange = serde_json::from_str(
        r#"{"path": "size", "before": null, "after": 1, "forces_replacement": false}"#,
    )
    .expect("an attribute change without a note reads");
    assert_eq!(read.note, None);
}

#[test]
fn update_replace_and_delete() {
    let mut replace = change(
        "sim_resource.cluster",
        Action::Replace,
        vec![
            AttrChange {
                forces_replacement: true,
                ..attr("replace_key", s("v1"), s("v2"))
            },
            attr("payload.endpoint", s("https://a"), Some(Value::Unknown)),
        ],
    );
    replace.dependencies = vec![addr("sim_resource.vpc")];
    let mut cbd = change(
        "sim_resource.nodes",
        Action::Replace,
        vec![AttrChange {
            forces_replacement: true,
            ..attr("replace_key", s("a"), s("b"))
        }],
    );
    cbd.create_before_destroy = true;
    let mut forced = change("sim_resource.cache", Action::Replace, Vec::new());
    forced.reason = Some("replacement requested with --replace".into());
    let mut deposed = change("sim_resource.nodes", Action::DeleteDeposed, Vec::new());
    deposed.target_id = Some("sim-old".into());
    let p = plan(vec![
        change(
            "sim_resource.logs",
            Action::Update,
            vec![
                attr("payload", s("a"), s("b")),
                attr("tags.team", None, s("data")),
                attr("tags.owner", s("bob"), None),
                attr("password", Some(secret("old")), Some(secret("hunter2"))),
            ],
        ),
        replace,
        cbd,
        forced,
        change("sim_resource.old", Action::Delete, Vec::new()),
        deposed,
    ]);
    check(
        &p,
        expect![[r#"
            infra will perform the following actions:

              ~ sim_resource.logs
                  ~ payload    = "a" -> "b"
                  + tags.team  = "data"
                  - tags.owner = "bob" -> null
                  ~ password   = (sensitive) -> (sensitive)

              -/+ sim_resource.cluster
                  ~ replace_key      = "v1" -> "v2" # forces replacement
                  ~ payload.endpoint = "https://a" -> (known after apply)

              +/- sim_resource.nodes
                  ~ replace_key = "a" -> "b" # forces replacement

              -/+ sim_resource.cache
                  # replacement requested with --replace

              - sim_resource.old

              - sim_resource.nodes (deposed object sim-old)

            Plan: 0 to add, 1 to change, 3 to replace, 2 to destroy.
            Estimated apply time: 1m 30s (critical path).
        "#]],
    );
}

#[test]
fn drift_warnings_and_state_only_changes() {
    let mut p = plan(vec![change(
        "sim_resource.b",
        Action::Create,
        vec![attr("payload", None, s("x"))],
    )]);
    p.drift = vec![
        Drift {
            address: addr("sim_resource.a"),
            deleted: false,
            attributes: vec![attr("payload", s("mine"), s("theirs"))],
        },
        Drift {
            address: addr("sim_resource.b"),
            deleted: true,
            attributes: Vec::new(),
        },
    ];
    p.warnings = vec!["environment variable X is not set, so a sensitive input is unknown; apply will fail until it is set".into()];
    p.state_only = vec![StateOnlyChange {
        address: addr("sim_resource.c"),
        attributes: vec![attr(
            "lifecycle.prevent_destroy",
            Some(Value::Bool(false)),
            Some(Value::Bool(true)),
        )],
    }];
    p.estimate_ms = 1_200;
    check(
        &p,
        expect![[r#"
            Objects changed outside infra:

              ~ sim_resource.a
                  ~ payload = "mine" -> "theirs"

              - sim_resource.b (deleted outside infra)

            warning: environment variable X is not set, so a sensitive input is unknown; apply will fail until it is set

            infra will perform the following actions:

              + sim_resource.b
                  + payload = "x"

              # sim_resource.c: lifecycle recorded in state
                  ~ lifecycle.prevent_destroy = false -> true

            Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy.
            Estimated apply time: 1.2s (critical path).
        "#]],
    );
}

#[test]
fn no_changes() {
    check(
        &plan(Vec::new()),
        expect![[r#"
            No changes. The stack matches the cloud.
        "#]],
    );
}

#[test]
fn colours_only_when_asked() {
    let p = plan(vec![change(
        "sim_resource.a",
        Action::Create,
        vec![attr("payload", None, s("x"))],
    )]);
    assert!(!super::plan(&p, Style::PLAIN).contains('\x1b'));
    let coloured = super::plan(&p, Style { color: true });
    assert!(
        coloured.contains("\x1b[32m+\x1b[0m sim_resource.a"),
        "{coloured}"
    );
}

#[test]
fn durations() {
    let all: Vec<String> = [0, 250, 1_234, 9_999, 10_000, 90_000, 120_000, 3_905_000]
        .into_iter()
        .map(duration)
        .collect();
    expect![[r#"["0s", "250ms", "1.2s", "10s", "10s", "1m 30s", "2m", "1h 5m 5s"]"#]]
        .assert_eq(&format!("{all:?}"));
}

#[test]
fn diagnostics_keep_their_place_and_hint() {
    let d = vec![
        Diagnostic::error("unknown attribute `paylod` for `sim_resource`")
            .at(Location {
                file: std::path::Path::new("stacks/x.toml").into(),
                line: 2,
                column: 1,
            })
            .on(addr("sim_resource.a"))
            .hint("did you mean `payload`?"),
        Diagnostic::warning("sensitive attribute `password` is written in the stack file"),
    ];
    expect![[r#"
        error: stacks/x.toml:2:1: sim_resource.a: unknown attribute `paylod` for `sim_resource`
          hint: did you mean `payload`?
        warning: sensitive attribute `password` is written in the stack file
    "#]]
    .assert_eq(&diagnostics(&d, Style::PLAIN));
}

fn ev(seq: u64, kind: EventKind) -> Event {
    Event { seq, kind }
}

#[test]
fn events_as_plain_lines() {
    let a = addr("sim_resource.a");
    let b = addr("sim_resource.b");
    let events = [
        ev(
            1,
            EventKind::Recovered {
                address: a.clone(),
                step: Step::Create,
                outcome: "found sim-1 in the cloud and recorded it".into(),
            },
        ),
        ev(
            2,
            EventKind::PlanReady {
                summary: Summary::default(),
                estimate_ms: 0,
            },
        ),
        ev(
            3,
            EventKind::OperationStarted {
                address: a.clone(),
                step: Step::Create,
            },
        ),
        ev(
            4,
            EventKind::OperationProgress {
                address: a.clone(),
                message: "waiting for ACTIVE".into(),
            },
        ),
        ev(
            5,
            EventKind::OperationFinished {
                address: a.clone(),
                step: Step::Create,
                elapsed_ms: 1_200,
            },
        ),
        ev(
            6,
            EventKind::OperationFailed {
                address: a.clone(),
                step: Step::DeleteDeposed,
                error: "sim_resource.a: deletion protection is on".into(),
            },
        ),
        ev(
            7,
            EventKind::OperationSkipped {
                address: b.clone(),
                because: a.clone(),
            },
        ),
        ev(
            8,
            EventKind::OperationFinished {
                address: b,
                step: Step::Delete,
                elapsed_ms: 61_000,
            },
        ),
    ];
    let lines: String = events
        .iter()
        .filter_map(event)
        .map(|l| format!("{l}\n"))
        .collect();
    expect![[r#"
        sim_resource.a: recovered an interrupted create: found sim-1 in the cloud and recorded it
        sim_resource.a: creating...
        sim_resource.a: waiting for ACTIVE
        sim_resource.a: created in 1.2s
        sim_resource.a: destroy deposed object failed: deletion protection is on
        sim_resource.b: skipped because sim_resource.a failed
        sim_resource.b: destroyed in 1m 1s
    "#]]
    .assert_eq(&lines);
}

#[test]
fn apply_summaries() {
    let ok = ApplyReport {
        summary: ApplySummary {
            created: 2,
            updated: 1,
            replaced: 1,
            deleted: 0,
            failed: 0,
            skipped: 0,
        },
        failures: Vec::new(),
        interrupted: false,
    };
    let failed = ApplyReport {
        summary: ApplySummary {
            created: 1,
            failed: 1,
            skipped: 2,
            ..ApplySummary::default()
        },
        failures: vec![(addr("sim_resource.b"), "boom".into())],
        interrupted: false,
    };
    let interrupted = ApplyReport {
        summary: ApplySummary {
            deleted: 1,
            skipped: 3,
            ..ApplySummary::default()
        },
        failures: Vec::new(),
        interrupted: true,
    };
    let text = [
        apply_summary(&ok, PlanMode::Apply, Style::PLAIN),
        apply_summary(&ok, PlanMode::Destroy, Style::PLAIN),
        apply_summary(&failed, PlanMode::Apply, Style::PLAIN),
        failures(&failed, Style::PLAIN),
        apply_summary(&interrupted, PlanMode::Destroy, Style::PLAIN),
    ]
    .concat();
    expect![[r#"
        Apply complete: 2 created, 1 updated, 1 replaced, 0 destroyed.
        Destroy complete: 0 destroyed.
        Apply finished with errors: 1 created, 0 updated, 0 replaced, 0 destroyed, 1 failed, 2 not started.
        error: sim_resource.b: boom
        Destroy interrupted: 1 destroyed, 3 not started.
    "#]]
    .assert_eq(&text);
}

fn state() -> State {
    let mut st = State::new();
    st.put(ResourceState {
        address: addr("sim_resource.db"),
        id: "sim-2".into(),
        inputs: [
            ("payload", Value::from("x")),
            ("password", secret("hunter2")),
        ]
        .into_iter()
        .collect(),
        outputs: [("id", Value::from("sim-2"))].into_iter().collect(),
        dependencies: vec![addr("sim_resource.net")],
        prevent_destroy: true,
        created_at: "2025-01-01T00:00:00Z".into(),
        updated_at: "2025-01-02T00:00:00Z".into(),
    });
    st.put(ResourceState {
        address: addr("sim_resource.net"),
        id: "sim-1".into(),
        inputs: Value::map(),
        outputs: [("id", Value::from("sim-1"))].into_iter().collect(),
        dependencies: Vec::new(),
        prevent_destroy: false,
        created_at: "2025-01-01T00:00:00Z".into(),
        updated_at: "2025-01-01T00:00:00Z".into(),
    });
    st
}

#[test]
fn state_and_outputs() {
    let st = state();
    let db = st.get(&addr("sim_resource.db")).unwrap();
    let old = Deposed {
        address: addr("sim_resource.db"),
        id: "sim-0".into(),
        inputs: Value::map(),
        outputs: Value::map(),
        dependencies: Vec::new(),
    };
    let text = [state_list(&st), outputs(&st), state_show(db, &[&old])].join("--\n");
    assert!(!text.contains("hunter2"));
    expect![[r#"
        sim_resource.db
        sim_resource.net
        --
        sim_resource.db.id = "sim-2"
        sim_resource.net.id = "sim-1"
        --
        # sim_resource.db
        id              = "sim-2"
        prevent_destroy = true
        dependencies    = [sim_resource.net]
        created_at      = 2025-01-01T00:00:00Z
        updated_at      = 2025-01-02T00:00:00Z

        inputs:
          password = (sensitive)
          payload  = "x"

        outputs:
          id = "sim-2"

        deposed object sim-0 (awaiting deletion)
    "#]]
    .assert_eq(&text);
}

#[test]
fn a_full_disk_is_said_once_in_words() {
    let enospc = "No space left on device (os error 28)";
    let check = |message: &str, expected: Expect| {
        expected.assert_eq(&error(message, Style::PLAIN));
    };
    check(
        &format!("cannot create ./state/.secret-key: {enospc}: {enospc}"),
        expect![[r#"
            error: cannot create ./state/.secret-key: disk full (no space left on device)
              hint: free space on that disk (`df -h` shows which one is full), then run the command again
        "#]],
    );
    check(
        &format!("cannot append to ./state/x.journal: {enospc}"),
        expect![[r#"
            error: cannot append to ./state/x.journal: disk full (no space left on device)
              hint: free space on that disk (`df -h` shows which one is full), then run the command again
        "#]],
    );
    check(
        "cannot read x: permission denied",
        expect![[r#"
            error: cannot read x: permission denied
        "#]],
    );
    let report = ApplyReport {
        failures: vec![
            (addr("sim_resource.a"), format!("cannot write a: {enospc}")),
            (addr("sim_resource.b"), format!("cannot write b: {enospc}")),
        ],
        ..ApplyReport::default()
    };
    expect![[r#"
        error: sim_resource.a: cannot write a: disk full (no space left on device)
        error: sim_resource.b: cannot write b: disk full (no space left on device)
          hint: free space on that disk (`df -h` shows which one is full), then run the command again
    "#]]
    .assert_eq(&failures(&report, Style::PLAIN));
}

#[test]
fn unset_sensitive_inputs_show_their_variable() {
    let unset = |address: &str, path: &str, var: &str| UnsetInput {
        address: addr(address),
        path: path.to_owned(),
        var: var.to_owned(),
    };
    let long = "x".repeat(80);
    let mut p = plan(vec![
        change(
            "sim_resource.db",
            Action::Create,
            vec![
                attr("password", None, Some(Value::Unknown)),
                attr(
                    "payload",
                    None,
                    Some(
                        [("endpoint", Value::Unknown), ("token", Value::Unknown)]
                            .into_iter()
                            .collect(),
                    ),
                ),
                attr(
                    "list",
                    None,
                    Some(Value::List(vec![Value::Int(1), Value::Unknown])),
                ),
                attr(
                    "values",
                    None,
                    Some(
                        [
                            ("long", Value::from(long.as_str())),
                            ("token", Value::Unknown),
                        ]
                        .into_iter()
                        .collect(),
                    ),
                ),
            ],
        ),
        change(
            "sim_resource.app",
            Action::Update,
            vec![attr(
                "password",
                Some(secret("hunter2")),
                Some(Value::Unknown),
            )],
        ),
        // Unknown for another reason: known after apply.
        change(
            "sim_resource.other",
            Action::Create,
            vec![attr("password", None, Some(Value::Unknown))],
        ),
    ]);
    p.unset = vec![
        unset("sim_resource.db", "password", "DB_PASSWORD"),
        unset("sim_resource.db", "list[1]", "ITEM"),
        unset("sim_resource.db", "payload.token", "TOKEN"),
        unset("sim_resource.db", "values.token", "TOKEN"),
        unset("sim_resource.app", "password", "DB_PASSWORD"),
    ];
    check(
        &p,
        expect![[r#"
        infra will perform the following actions:

          + sim_resource.db
              + password = (unset: $DB_PASSWORD)
              + payload  = { endpoint = (known after apply), token = (unset: $TOKEN) }
              + list     = [1, (unset: $ITEM)]
              + values   = {
                  long = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                  token = (unset: $TOKEN)
                }

          ~ sim_resource.app
              ~ password = (sensitive) -> (unset: $DB_PASSWORD)

          + sim_resource.other
              + password = (known after apply)

        Plan: 2 to add, 1 to change, 0 to replace, 0 to destroy.
        Estimated apply time: 1m 30s (critical path).
    "#]],
    );
}
