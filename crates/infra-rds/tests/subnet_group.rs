//! `rds_subnet_group` against moto: create, read back, update, delete,
//! find, idempotent create and not-found paths.
//!
//! moto (5.2.5) findings, as these tests rely on them:
//! - subnet ids must exist in its EC2 backend: arbitrary ids fail with
//!   `InvalidSubnetID.NotFound` (tested below), so each test makes a VPC
//!   and two subnets through moto's EC2 API (`support::network`);
//! - it does not enforce the two-AZ rule (`DBSubnetGroupDoesNotCoverEnoughAZs`);
//!   parsing the inputs asks for two subnets instead (at plan and at apply);
//! - `ModifyDBSubnetGroup` answers correctly but then drops the group from
//!   its store (`subnet_groups.pop` without re-inserting), so the state
//!   after an in-place update is checked from the response here, and the
//!   read-back after a modify is covered with mocked responses in
//!   `tests/mocked.rs`, and so are the conformance suite's in-place
//!   updates of `description` and `subnet_ids`.

mod support;

use infra_aws::testing::Emulator;
use infra_core::conformance::{self, Case};
use infra_core::{ErrorKind, Provider, Typed, Value};
use infra_rds::RdsSubnetGroup;
use support::{ctx, existing, inputs, network, network_in, sdk, strings, unique, with};

fn provider() -> Typed<RdsSubnetGroup> {
    Typed::new(RdsSubnetGroup::new(Emulator::shared().context()))
}

fn tags(pairs: &[(&str, &str)]) -> Value {
    pairs.iter().map(|(k, v)| (*k, Value::from(*v))).collect()
}

#[tokio::test]
async fn create_read_tag_and_delete() {
    let p = provider();
    let net = network(1);
    // Mixed case on purpose: AWS stores the name lowercase.
    let name = format!("Airflow-{}", unique("sg"));
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("subnet_ids", strings(&[&net.subnets[1], &net.subnets[0]])),
            ("tags", tags(&[("team", "data")])),
        ],
    );
    let c = ctx("rds_subnet_group.main", "tok-1");
    let created = p.create(&c, &given).await.expect("create");
    assert_eq!(created.id, name.to_lowercase());
    assert_eq!(
        created.inputs, given,
        "observed inputs equal what was applied"
    );
    assert_eq!(
        created.outputs.get("vpc_id").and_then(Value::as_str),
        Some(net.vpc.as_str())
    );

    // The emulator has what was asked.
    let client = sdk().await;
    let groups = client
        .describe_db_subnet_groups()
        .db_subnet_group_name(&created.id)
        .send()
        .await
        .expect("describe");
    let group = &groups.db_subnet_groups()[0];
    assert_eq!(
        group.db_subnet_group_description(),
        Some(infra_rds::SUBNET_GROUP_DEFAULT_DESCRIPTION)
    );
    let mut ids: Vec<&str> = group
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .collect();
    ids.sort_unstable();
    let mut want: Vec<&str> = net.subnets.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(ids, want);
    let arn = created
        .outputs
        .get("arn")
        .and_then(Value::as_str)
        .expect("arn")
        .to_owned();
    let listed = client
        .list_tags_for_resource()
        .resource_name(&arn)
        .send()
        .await
        .expect("tags");
    assert_eq!(listed.tag_list().len(), 1);

    // Reading back changes nothing: the second plan is empty.
    let read = p
        .read(&c, &existing(&created))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, created);

    // A tags-only update makes no ModifyDBSubnetGroup call.
    let retagged = with(
        &given,
        "tags",
        tags(&[("team", "platform"), ("env", "dev")]),
    );
    let updated = p
        .update(&c, &existing(&created), &retagged)
        .await
        .expect("update tags");
    assert_eq!(updated.inputs, retagged);
    let listed = client
        .list_tags_for_resource()
        .resource_name(&arn)
        .send()
        .await
        .expect("tags");
    let mut now: Vec<(String, String)> = listed
        .tag_list()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    now.sort();
    assert_eq!(
        now,
        [
            ("env".to_owned(), "dev".to_owned()),
            ("team".to_owned(), "platform".to_owned())
        ]
    );
    let read = p
        .read(&c, &existing(&updated))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read.inputs, retagged);

    p.delete(&c, &existing(&updated)).await.expect("delete");
    let gone = client
        .describe_db_subnet_groups()
        .db_subnet_group_name(&created.id)
        .send()
        .await;
    assert_eq!(
        gone.err()
            .and_then(|e| e.into_service_error().meta().code().map(str::to_owned)),
        Some("DBSubnetGroupNotFoundFault".to_owned())
    );
    // Not-found paths: read says gone, delete succeeds again.
    assert_eq!(p.read(&c, &existing(&updated)).await.expect("read"), None);
    p.delete(&c, &existing(&updated))
        .await
        .expect("deleting what is gone succeeds");
}

#[tokio::test]
async fn update_in_place_sends_the_full_subnet_list_and_description() {
    let p = provider();
    let net = network_in(3, &["a", "b", "c"]);
    let name = unique("sg-update");
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("subnet_ids", strings(&[&net.subnets[0], &net.subnets[1]])),
        ],
    );
    let c = ctx("rds_subnet_group.update", "tok-2");
    let created = p.create(&c, &given).await.expect("create");
    let changed = with(
        &with(&given, "description", Value::from("airflow metadata db")),
        "subnet_ids",
        strings(&[&net.subnets[1], &net.subnets[2]]),
    );
    let updated = p
        .update(&c, &existing(&created), &changed)
        .await
        .expect("update");
    // Built from moto's ModifyDBSubnetGroup answer: the emulator changed.
    assert_eq!(updated.inputs, changed);
    assert_eq!(updated.id, created.id);
}

#[tokio::test]
async fn create_is_idempotent_and_find_locates_it() {
    let p = provider();
    let net = network(5);
    let name = unique("sg-idem");
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("subnet_ids", strings(&[&net.subnets[0], &net.subnets[1]])),
        ],
    );
    let c = ctx("rds_subnet_group.idem", "tok-3");
    assert_eq!(p.find(&c, &given).await.expect("find"), None);
    let first = p.create(&c, &given).await.expect("create");
    let again = p.create(&c, &given).await.expect("create again adopts");
    assert_eq!(again, first);
    let found = p.find(&c, &given).await.expect("find").expect("found");
    assert_eq!(found, first);
    let all = sdk()
        .await
        .describe_db_subnet_groups()
        .send()
        .await
        .expect("list");
    let count = all
        .db_subnet_groups()
        .iter()
        .filter(|g| g.db_subnet_group_name() == Some(name.as_str()))
        .count();
    assert_eq!(count, 1, "one group, not two");
    p.delete(&c, &existing(&first)).await.expect("delete");
    assert_eq!(p.find(&c, &given).await.expect("find"), None);
}

#[tokio::test]
async fn unknown_subnets_are_refused_with_aws_message() {
    let p = provider();
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(unique("sg-bad"))),
            (
                "subnet_ids",
                strings(&["subnet-00000000", "subnet-11111111"]),
            ),
        ],
    );
    let err = p
        .create(&ctx("rds_subnet_group.bad", "tok-4"), &given)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
    assert!(
        err.message.contains("InvalidSubnetID.NotFound"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("rds_subnet_group.bad"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn conformance() {
    let p = provider();
    let net = network(9);
    let case = Case {
        inputs: [
            ("name", Value::from(format!("Conf-{}", unique("sg")))),
            ("subnet_ids", strings(&[&net.subnets[1], &net.subnets[0]])),
            ("tags", tags(&[("team", "data")])),
        ]
        .into_iter()
        .collect(),
        // Only tags: moto loses a group on ModifyDBSubnetGroup (see the
        // top), so `description` and `subnet_ids` run through the suite
        // against mocked responses (tests/mocked.rs).
        updates: vec![("tags", tags(&[("team", "platform"), ("env", "dev")]))],
        replacing: vec!["name"],
    };
    let ctx = |token: &str| ctx("rds_subnet_group.conformance", token);
    let passed = conformance::run(&p, &ctx, case).await;
    assert_eq!(passed.len(), 7, "every check ran: {passed:?}");
}
