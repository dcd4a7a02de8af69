//! `rds_parameter_group` against moto: create with parameters, read back,
//! change parameters and tags in place, an instance that uses the group,
//! delete, and the conformance suite.
//!
//! moto (5.1.22) findings, as these tests rely on them:
//! - `DescribeDBParameters` returns only the parameters set (it ignores
//!   `Source`) and no `ApplyType`, so every parameter goes out
//!   `pending-reboot` here (the `dynamic` → `immediate` choice is covered
//!   with mocked responses in `tests/mocked.rs`);
//! - it has no `ResetDBParameterGroup` (`NotImplementedError`), so a
//!   parameter removed from the stack, and the conformance suite's update
//!   that removes one, run against mocked responses (`tests/mocked.rs`);
//! - `DescribeDBParameterGroups` of a missing group answers an empty list
//!   (AWS: `DBParameterGroupNotFound`); both read as gone;
//! - it deletes a group an instance still uses (AWS refuses with
//!   `InvalidDBParameterGroupState`, also mocked), and then fails to
//!   describe that instance: the instance is deleted first here.

mod support;

use std::collections::BTreeMap;

use infra_aws::testing::Emulator;
use infra_core::conformance::{self, Case};
use infra_core::{Provider, Typed, Value};
use infra_rds::{RdsInstance, RdsParameterGroup};
use support::{ctx, existing, inputs, sdk, secret, unique, with};

fn provider() -> Typed<RdsParameterGroup> {
    Typed::new(RdsParameterGroup::new(Emulator::shared().context()))
}

fn table(pairs: &[(&str, Value)]) -> Value {
    pairs.iter().map(|(k, v)| (*k, v.clone())).collect()
}

/// What the emulator holds: each parameter set, with its apply method.
async fn parameters(name: &str) -> BTreeMap<String, (String, String)> {
    let out = sdk()
        .await
        .describe_db_parameters()
        .db_parameter_group_name(name)
        .source("user")
        .send()
        .await
        .expect("describe parameters");
    out.parameters()
        .iter()
        .map(|p| {
            (
                p.parameter_name().unwrap_or_default().to_owned(),
                (
                    p.parameter_value().unwrap_or_default().to_owned(),
                    p.apply_method().map_or("", |m| m.as_str()).to_owned(),
                ),
            )
        })
        .collect()
}

fn pair(value: &str, method: &str) -> (String, String) {
    (value.to_owned(), method.to_owned())
}

#[tokio::test]
async fn create_read_change_and_delete() {
    let p = provider();
    // Mixed case on purpose: AWS stores the name lowercase.
    let name = format!("Airflow-{}", unique("pg"));
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("family", Value::from("postgres16")),
            (
                "parameters",
                table(&[
                    ("max_connections", Value::Int(200)),
                    ("log_connections", Value::Bool(true)),
                    ("timezone", Value::from("UTC")),
                ]),
            ),
            ("tags", table(&[("team", Value::from("data"))])),
        ],
    );
    let c = ctx("rds_parameter_group.pg", "tok-pg-1");
    let created = p.create(&c, &given).await.expect("create");
    let id = name.to_lowercase();
    assert_eq!(created.id, id);
    assert_eq!(
        created.inputs, given,
        "observed inputs equal what was applied"
    );
    assert_eq!(
        created.outputs.get("name").and_then(Value::as_str),
        Some(id.as_str())
    );
    let arn = created
        .outputs
        .get("arn")
        .and_then(Value::as_str)
        .expect("arn")
        .to_owned();
    assert!(arn.ends_with(&format!(":pg:{id}")), "{arn}");

    // The emulator has what was asked, values as strings, booleans as 1/0.
    assert_eq!(
        parameters(&id).await,
        [
            ("log_connections".to_owned(), pair("1", "pending-reboot")),
            ("max_connections".to_owned(), pair("200", "pending-reboot")),
            ("timezone".to_owned(), pair("UTC", "pending-reboot")),
        ]
        .into_iter()
        .collect()
    );
    let groups = sdk()
        .await
        .describe_db_parameter_groups()
        .db_parameter_group_name(&id)
        .send()
        .await
        .expect("describe");
    let group = &groups.db_parameter_groups()[0];
    assert_eq!(group.db_parameter_group_family(), Some("postgres16"));
    assert_eq!(
        group.description(),
        Some(infra_rds::PARAMETER_GROUP_DEFAULT_DESCRIPTION)
    );

    // Reading back changes nothing: the second plan is empty.
    let read = p
        .read(&c, &existing(&created))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, created);

    // In place: one value changed, one added, the tags.
    let changed = with(
        &with(
            &given,
            "parameters",
            table(&[
                ("max_connections", Value::Int(300)),
                ("log_connections", Value::Bool(true)),
                ("timezone", Value::from("UTC")),
                ("work_mem", Value::from("8192")),
            ]),
        ),
        "tags",
        table(&[("team", Value::from("platform"))]),
    );
    let updated = p
        .update(&c, &existing(&created), &changed)
        .await
        .expect("update");
    assert_eq!(updated.id, created.id, "in place");
    assert_eq!(updated.inputs, changed);
    let now = parameters(&id).await;
    assert_eq!(
        now.get("max_connections"),
        Some(&pair("300", "pending-reboot"))
    );
    assert_eq!(now.get("work_mem"), Some(&pair("8192", "pending-reboot")));
    let read = p
        .read(&c, &existing(&updated))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read.inputs, changed);

    // A value set outside infra shows as drift, in AWS's spelling.
    sdk()
        .await
        .modify_db_parameter_group()
        .db_parameter_group_name(&id)
        .parameters(
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name("max_connections")
                .parameter_value("500")
                .apply_method(aws_sdk_rds::types::ApplyMethod::PendingReboot)
                .build(),
        )
        .send()
        .await
        .expect("modify outside infra");
    let drifted = p
        .read(&c, &existing(&updated))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        drifted
            .inputs
            .get("parameters")
            .and_then(|t| t.get("max_connections")),
        Some(&Value::from("500"))
    );

    p.delete(&c, &existing(&updated)).await.expect("delete");
    let gone = sdk()
        .await
        .describe_db_parameter_groups()
        .db_parameter_group_name(&id)
        .send()
        .await;
    // AWS answers DBParameterGroupNotFound; moto an empty list.
    match gone {
        Ok(out) => assert!(out.db_parameter_groups().is_empty(), "{out:?}"),
        Err(e) => assert_eq!(
            e.into_service_error().meta().code(),
            Some("DBParameterGroupNotFound")
        ),
    }
    // Not-found paths: read says gone, delete succeeds again.
    assert_eq!(p.read(&c, &existing(&updated)).await.expect("read"), None);
    p.delete(&c, &existing(&updated))
        .await
        .expect("deleting what is gone succeeds");
}

#[tokio::test]
async fn an_instance_uses_the_group_and_reads_it_back() {
    let groups = provider();
    let name = format!("Airflow-{}", unique("pg-db"));
    let group_inputs = inputs(
        &groups,
        vec![
            ("name", Value::from(name.clone())),
            ("family", Value::from("postgres16")),
            (
                "parameters",
                table(&[("log_min_duration_statement", Value::Int(1000))]),
            ),
        ],
    );
    let gc = ctx("rds_parameter_group.db", "tok-pg-2");
    let group = groups.create(&gc, &group_inputs).await.expect("group");

    let p = Typed::new(RdsInstance::new(Emulator::shared().context()));
    let id = unique("db-pg");
    let plain = inputs(
        &p,
        vec![
            ("identifier", Value::from(id.clone())),
            ("engine_version", Value::from("16.3")),
            ("instance_class", Value::from("db.t4g.micro")),
            ("allocated_storage", Value::Int(20)),
            ("username", Value::from("airflow")),
            ("password", secret("first-password-1")),
            ("skip_final_snapshot", Value::Bool(true)),
            ("apply_immediately", Value::Bool(true)),
        ],
    );
    // As a reference to the group's name reads it: the stack's spelling.
    let given = with(&plain, "parameter_group_name", Value::from(name.clone()));
    let c = ctx("rds_instance.pg", "tok-db-pg");
    let created = p.create(&c, &given).await.expect("create");
    assert_eq!(created.inputs, given, "the group is read back as named");
    let db = sdk()
        .await
        .describe_db_instances()
        .db_instance_identifier(&id)
        .send()
        .await
        .expect("describe");
    let names: Vec<&str> = db.db_instances()[0]
        .db_parameter_groups()
        .iter()
        .filter_map(|g| g.db_parameter_group_name())
        .collect();
    assert_eq!(names, [name.to_lowercase().as_str()]);
    let read = p
        .read(&c, &existing(&created))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read.inputs, given);

    // Back to AWS's default group, in place.
    let default = with(
        &plain,
        "parameter_group_name",
        Value::from("default.postgres16"),
    );
    let moved = p
        .update(&c, &existing(&created), &default)
        .await
        .expect("update");
    assert_eq!(moved.id, created.id);
    assert_eq!(moved.inputs, default);

    p.delete(&c, &existing(&moved)).await.expect("delete");
    groups
        .delete(&gc, &existing(&group))
        .await
        .expect("delete group");
}

#[tokio::test]
async fn an_instance_without_a_group_has_no_drift() {
    let p = Typed::new(RdsInstance::new(Emulator::shared().context()));
    let id = unique("db-nopg");
    let given = inputs(
        &p,
        vec![
            ("identifier", Value::from(id.clone())),
            ("engine_version", Value::from("16.3")),
            ("instance_class", Value::from("db.t4g.micro")),
            ("allocated_storage", Value::Int(20)),
            ("username", Value::from("airflow")),
            ("password", secret("first-password-1")),
            ("skip_final_snapshot", Value::Bool(true)),
        ],
    );
    let c = ctx("rds_instance.nopg", "tok-db-nopg");
    let created = p.create(&c, &given).await.expect("create");
    // AWS put it in default.postgres16; the stack did not ask for a group.
    let db = sdk()
        .await
        .describe_db_instances()
        .db_instance_identifier(&id)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        db.db_instances()[0].db_parameter_groups()[0].db_parameter_group_name(),
        Some("default.postgres16")
    );
    assert_eq!(created.inputs, given);
    assert_eq!(created.inputs.get("parameter_group_name"), None);
    p.delete(&c, &existing(&created)).await.expect("delete");
}

#[tokio::test]
async fn conformance() {
    let p = provider();
    let case = Case {
        inputs: [
            ("name", Value::from(format!("Conf-{}", unique("pg")))),
            ("family", Value::from("postgres16")),
            (
                "parameters",
                table(&[
                    ("max_connections", Value::Int(200)),
                    ("log_connections", Value::Bool(true)),
                ]),
            ),
            ("tags", table(&[("team", Value::from("data"))])),
        ]
        .into_iter()
        .collect(),
        // No parameter removed: moto cannot reset one (see the top); the
        // suite runs that update against mocked responses.
        updates: vec![
            (
                "parameters",
                table(&[
                    ("max_connections", Value::Int(300)),
                    ("log_connections", Value::Bool(false)),
                    ("work_mem", Value::from("8192")),
                ]),
            ),
            ("tags", table(&[("team", Value::from("platform"))])),
        ],
        replacing: vec!["name", "family", "description"],
    };
    let ctx = |token: &str| ctx("rds_parameter_group.conformance", token);
    let passed = conformance::run(&p, &ctx, case).await;
    assert_eq!(passed.len(), 7, "every check ran: {passed:?}");
}
