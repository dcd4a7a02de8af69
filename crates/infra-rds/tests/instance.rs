//! `rds_instance` against moto: create, read back, in-place updates,
//! password changes, deletion protection, final snapshots, find, idempotent
//! create and not-found paths.
//!
//! moto (5.2.5) makes an instance `available` at once, applies every
//! modification immediately and keeps no `PendingModifiedValues`; waits on
//! other statuses, pending values and conflicts are covered with mocked
//! responses in `tests/mocked.rs`.

mod support;

use infra_aws::testing::Emulator;
use infra_core::conformance::{self, Case};
use infra_core::{ErrorKind, Provider, Typed, Value};
use infra_rds::{RdsInstance, RdsSubnetGroup};
use support::{ctx, existing, inputs, network, sdk, secret, strings, unique, with};

fn provider() -> Typed<RdsInstance> {
    Typed::new(RdsInstance::new(Emulator::shared().context()))
}

fn base(p: &Typed<RdsInstance>, identifier: &str, extra: Vec<(&str, Value)>) -> Value {
    let mut pairs = vec![
        ("identifier", Value::from(identifier)),
        ("engine_version", Value::from("16.3")),
        ("instance_class", Value::from("db.t4g.micro")),
        ("allocated_storage", Value::Int(20)),
        ("db_name", Value::from("airflow")),
        ("username", Value::from("airflow")),
        ("password", secret("first-password-1")),
        ("skip_final_snapshot", Value::Bool(true)),
        ("apply_immediately", Value::Bool(true)),
        (
            "tags",
            [("team", Value::from("data"))].into_iter().collect(),
        ),
    ];
    pairs.extend(extra);
    inputs(p, pairs)
}

async fn describe(identifier: &str) -> Option<aws_sdk_rds::types::DbInstance> {
    match sdk()
        .await
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => out.db_instances().first().cloned(),
        Err(e) => {
            let code = e.into_service_error().meta().code().map(str::to_owned);
            assert_eq!(code.as_deref(), Some("DBInstanceNotFound"));
            None
        }
    }
}

#[tokio::test]
async fn create_read_update_and_delete() {
    let p = provider();
    let id = unique("db");
    let given = base(&p, &id, vec![]);
    let c = ctx("rds_instance.airflow_db", "tok-create");
    let created = p.create(&c, &given).await.expect("create");
    assert_eq!(created.id, id);
    assert_eq!(
        created.inputs, given,
        "observed inputs equal what was applied"
    );
    for key in ["address", "endpoint", "arn", "resource_id"] {
        assert!(
            created.outputs.get(key).and_then(Value::as_str).is_some(),
            "output {key}: {:?}",
            created.outputs
        );
    }
    assert_eq!(
        created.outputs.get("status").and_then(Value::as_str),
        Some("available")
    );
    assert_eq!(created.outputs.get("port"), Some(&Value::Int(5432)));

    // The emulator has what was asked.
    let db = describe(&id).await.expect("instance exists");
    assert_eq!(db.db_instance_class(), Some("db.t4g.micro"));
    assert_eq!(db.engine(), Some("postgres"));
    assert_eq!(db.engine_version(), Some("16.3"));
    assert_eq!(db.storage_type(), Some("gp3"));
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.backup_retention_period(), Some(7));
    assert_eq!(db.master_username(), Some("airflow"));
    assert_eq!(db.tag_list().len(), 1);

    // Reading back changes nothing: the second plan is empty.
    let read = p
        .read(&c, &existing(&created))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, created);

    // In place: instance class, backup retention, tags.
    let changed = with(
        &with(
            &with(&given, "instance_class", Value::from("db.t4g.large")),
            "backup_retention_period",
            Value::Int(14),
        ),
        "tags",
        [("team", Value::from("platform"))].into_iter().collect(),
    );
    let updated = p
        .update(&c, &existing(&created), &changed)
        .await
        .expect("update");
    assert_eq!(updated.inputs, changed);
    assert_eq!(
        updated.outputs.get("resource_id"),
        created.outputs.get("resource_id")
    );
    let db = describe(&id).await.expect("instance exists");
    assert_eq!(db.db_instance_class(), Some("db.t4g.large"));
    assert_eq!(db.backup_retention_period(), Some(14));
    assert_eq!(
        db.tag_list()
            .iter()
            .map(|t| (t.key(), t.value()))
            .collect::<Vec<_>>(),
        [(Some("team"), Some("platform"))]
    );
    let read = p
        .read(&c, &existing(&updated))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read.inputs, changed);

    // Client-side only: no API call needed, and the flag is kept.
    let flagged = with(&changed, "apply_immediately", Value::Bool(false));
    let same = p
        .update(&c, &existing(&updated), &flagged)
        .await
        .expect("client-side update");
    assert_eq!(same.inputs, flagged);

    p.delete(&c, &existing(&same)).await.expect("delete");
    assert!(
        describe(&id).await.is_none(),
        "the emulator has no instance"
    );
    // Not-found paths.
    assert_eq!(p.read(&c, &existing(&same)).await.expect("read"), None);
    p.delete(&c, &existing(&same))
        .await
        .expect("deleting what is gone succeeds");
    let err = p.update(&c, &existing(&same), &flagged).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn a_password_change_is_in_place_and_never_stored_in_plaintext() {
    let p = provider();
    let id = unique("db-pw");
    let given = base(&p, &id, vec![]);
    let c = ctx("rds_instance.pw", "tok-pw");
    let created = p.create(&c, &given).await.expect("create");
    let changed = with(&given, "password", secret("second-password-22"));
    assert_ne!(changed.get("password"), given.get("password"));
    let updated = p
        .update(&c, &existing(&created), &changed)
        .await
        .expect("password update");
    assert_eq!(updated.id, created.id, "updated in place, same instance");
    assert_eq!(updated.inputs.get("password"), changed.get("password"));
    // What the engine would store: the digest only.
    let stored = serde_json::to_string(&updated.inputs).expect("json");
    assert!(!stored.contains("second-password-22"), "{stored}");
    assert!(!stored.contains("first-password-1"), "{stored}");
    assert!(stored.contains("$sensitive"), "{stored}");
    // Read copies it from state (AWS never returns it).
    let read = p
        .read(&c, &existing(&updated))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read.inputs, changed);
    p.delete(&c, &existing(&updated)).await.expect("delete");
}

#[tokio::test]
async fn deletion_protection_blocks_destroy_even_with_stale_state() {
    let p = provider();
    let id = unique("db-protected");
    let given = base(&p, &id, vec![("deletion_protection", Value::Bool(true))]);
    let c = ctx("rds_instance.protected", "tok-prot");
    let created = p.create(&c, &given).await.expect("create");
    let err = p.delete(&c, &existing(&created)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert_eq!(
        err.message,
        "`rds_instance.protected` has deletion_protection = true: set it to false and apply, then destroy"
    );
    // State saying "unprotected" does not matter: the live setting decides.
    let mut stale = existing(&created);
    stale.inputs = with(&stale.inputs, "deletion_protection", Value::Bool(false));
    let err = p.delete(&c, &stale).await.unwrap_err();
    assert!(
        err.message.contains("deletion_protection = true"),
        "{}",
        err.message
    );
    assert!(describe(&id).await.is_some(), "still there");

    // The documented way out: set it to false, apply, destroy.
    let unprotected = with(&given, "deletion_protection", Value::Bool(false));
    let updated = p
        .update(&c, &existing(&created), &unprotected)
        .await
        .expect("update");
    assert_eq!(
        describe(&id).await.and_then(|d| d.deletion_protection()),
        Some(false)
    );
    p.delete(&c, &existing(&updated)).await.expect("delete");
    assert!(describe(&id).await.is_none());
}

#[tokio::test]
async fn a_final_snapshot_is_taken_unless_skipped() {
    let p = provider();
    let client = sdk().await;
    let id = unique("db-snap");
    let snapshot = format!("{id}-final");
    let given = base(
        &p,
        &id,
        vec![
            ("skip_final_snapshot", Value::Bool(false)),
            ("final_snapshot_identifier", Value::from(snapshot.clone())),
        ],
    );
    // Each destroy names its own snapshot (the name, and a suffix from its
    // journal token): destroying a re-created instance does not collide.
    for token in ["tok-snap1", "tok-snap2"] {
        let c = ctx("rds_instance.snap", token);
        let created = p.create(&c, &given).await.expect("create");
        p.delete(&c, &existing(&created)).await.expect("delete");
        let suffix = token.replace('-', "");
        let snaps = client
            .describe_db_snapshots()
            .db_snapshot_identifier(format!("{snapshot}-{suffix}"))
            .send()
            .await
            .expect("the final snapshot exists");
        assert_eq!(snaps.db_snapshots().len(), 1);
        assert_eq!(
            snaps.db_snapshots()[0].db_instance_identifier(),
            Some(id.as_str())
        );
    }
    let c = ctx("rds_instance.snap", "tok-snap3");

    let skipped_id = unique("db-nosnap");
    let given = base(&p, &skipped_id, vec![]);
    let created = p.create(&c, &given).await.expect("create");
    p.delete(&c, &existing(&created)).await.expect("delete");
    let snaps = client
        .describe_db_snapshots()
        .db_instance_identifier(&skipped_id)
        .send()
        .await
        .expect("list snapshots");
    assert!(
        snaps.db_snapshots().is_empty(),
        "no snapshot when skip_final_snapshot: {:?}",
        snaps.db_snapshots()
    );
}

#[tokio::test]
async fn create_is_idempotent_and_find_locates_it() {
    let p = provider();
    let id = unique("db-idem");
    let given = base(&p, &id, vec![]);
    let c = ctx("rds_instance.idem", "tok-idem");
    assert_eq!(p.find(&c, &given).await.expect("find"), None);
    let first = p.create(&c, &given).await.expect("create");
    // A retried create (same token, e.g. after a crash) adopts the instance.
    let again = p.create(&c, &given).await.expect("create again");
    assert_eq!(again, first);
    let found = p.find(&c, &given).await.expect("find").expect("found");
    assert_eq!(found, first);
    let all = sdk()
        .await
        .describe_db_instances()
        .send()
        .await
        .expect("list");
    let count = all
        .db_instances()
        .iter()
        .filter(|d| d.db_instance_identifier() == Some(id.as_str()))
        .count();
    assert_eq!(count, 1, "one instance, not two");
    p.delete(&c, &existing(&first)).await.expect("delete");
    assert_eq!(p.find(&c, &given).await.expect("find"), None);
}

#[tokio::test]
async fn an_instance_in_a_subnet_group() {
    let groups = Typed::new(RdsSubnetGroup::new(Emulator::shared().context()));
    let net = network(7);
    let group_name = unique("Airflow-Subnets");
    let group_inputs = inputs(
        &groups,
        vec![
            ("name", Value::from(group_name.clone())),
            ("subnet_ids", strings(&[&net.subnets[0], &net.subnets[1]])),
        ],
    );
    let gc = ctx("rds_subnet_group.db", "tok-g");
    let group = groups.create(&gc, &group_inputs).await.expect("group");

    let p = provider();
    let id = unique("db-vpc");
    // The group named as written in the stack (mixed case).
    let given = base(
        &p,
        &id,
        vec![
            ("db_subnet_group", Value::from(group_name.clone())),
            ("backup_window", Value::from("03:00-03:30")),
            ("maintenance_window", Value::from("Sun:05:00-Sun:06:00")),
        ],
    );
    let c = ctx("rds_instance.vpc", "tok-vpc");
    let created = p.create(&c, &given).await.expect("create");
    assert_eq!(created.inputs, given);
    let db = describe(&id).await.expect("exists");
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        Some(group_name.to_lowercase().as_str())
    );
    assert_eq!(
        db.preferred_maintenance_window(),
        Some("sun:05:00-sun:06:00")
    );
    let read = p
        .read(&c, &existing(&created))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read.inputs, given);
    p.delete(&c, &existing(&created)).await.expect("delete");
    groups
        .delete(&gc, &existing(&group))
        .await
        .expect("delete group");
}

#[tokio::test]
async fn conformance() {
    let p = provider();
    let tags = |team: &str| [("team", Value::from(team))].into_iter().collect::<Value>();
    let case = Case {
        inputs: [
            ("identifier", Value::from(format!("Conf-{}", unique("db")))),
            ("engine_version", Value::from("16.3")),
            ("instance_class", Value::from("db.t4g.micro")),
            ("allocated_storage", Value::Int(20)),
            ("db_name", Value::from("airflow")),
            ("username", Value::from("airflow")),
            ("password", secret("first-password-1")),
            ("skip_final_snapshot", Value::Bool(true)),
            ("apply_immediately", Value::Bool(true)),
            ("tags", tags("data")),
        ]
        .into_iter()
        .collect(),
        updates: vec![
            ("instance_class", Value::from("db.t4g.large")),
            ("allocated_storage", Value::Int(30)),
            ("max_allocated_storage", Value::Int(100)),
            ("storage_type", Value::from("gp2")),
            ("engine_version", Value::from("16.4")),
            ("multi_az", Value::Bool(true)),
            ("publicly_accessible", Value::Bool(true)),
            ("backup_retention_period", Value::Int(14)),
            // AWS's default group for the family, named explicitly.
            ("parameter_group_name", Value::from("default.postgres16")),
            ("backup_window", Value::from("04:00-04:30")),
            ("maintenance_window", Value::from("Mon:05:00-Mon:06:00")),
            ("password", secret("second-password-22")),
            ("tags", tags("platform")),
            (
                "enabled_cloudwatch_logs_exports",
                Value::List(vec![Value::from("postgresql"), Value::from("upgrade")]),
            ),
            ("deletion_protection", Value::Bool(true)),
            ("deletion_protection", Value::Bool(false)),
            ("final_snapshot_identifier", Value::from("conf-final")),
            ("apply_immediately", Value::Bool(false)),
        ],
        replacing: vec![
            "identifier",
            "engine",
            "storage_encrypted",
            "kms_key_id",
            "db_name",
            "username",
        ],
    };
    let ctx = |token: &str| ctx("rds_instance.conformance", token);
    let passed = conformance::run(&p, &ctx, case).await;
    assert_eq!(passed.len(), 7, "every check ran: {passed:?}");
}
