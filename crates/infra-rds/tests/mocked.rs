//! Paths moto cannot produce, with mocked SDK responses (aws-smithy-mocks):
//! conflicts classified for the engine's retries, throttling classified, pending modifications, waits
//! through intermediate and failed statuses, deletes already under way,
//! and the exact requests sent; and the conformance suite's updates of a
//! subnet group, against a small stateful fake (moto loses a group on
//! ModifyDBSubnetGroup). For parameter groups, what moto lacks: reset of a
//! removed parameter (no ResetDBParameterGroup), `ApplyType` (so the
//! immediate / pending-reboot choice), paging, and a group still in use
//! (moto deletes it). Time is paused, so waits cost nothing.

mod support;

use infra_aws::testing::as_the_engine_retries;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput;
use aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput;
use aws_sdk_rds::operation::create_db_parameter_group::{
    CreateDBParameterGroupError, CreateDbParameterGroupOutput,
};
use aws_sdk_rds::operation::create_db_subnet_group::{
    CreateDBSubnetGroupError, CreateDbSubnetGroupOutput,
};
use aws_sdk_rds::operation::delete_db_instance::{DeleteDBInstanceError, DeleteDbInstanceOutput};
use aws_sdk_rds::operation::delete_db_parameter_group::{
    DeleteDBParameterGroupError, DeleteDbParameterGroupOutput,
};
use aws_sdk_rds::operation::delete_db_subnet_group::{
    DeleteDBSubnetGroupError, DeleteDbSubnetGroupOutput,
};
use aws_sdk_rds::operation::describe_db_instances::{
    DescribeDBInstancesError, DescribeDbInstancesOutput,
};
use aws_sdk_rds::operation::describe_db_parameter_groups::{
    DescribeDBParameterGroupsError, DescribeDbParameterGroupsOutput,
};
use aws_sdk_rds::operation::describe_db_parameters::{
    DescribeDBParametersError, DescribeDbParametersOutput,
};
use aws_sdk_rds::operation::describe_db_subnet_groups::{
    DescribeDBSubnetGroupsError, DescribeDbSubnetGroupsOutput,
};
use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_rds::operation::modify_db_instance::{ModifyDBInstanceError, ModifyDbInstanceOutput};
use aws_sdk_rds::operation::modify_db_parameter_group::{
    ModifyDBParameterGroupError, ModifyDbParameterGroupOutput,
};
use aws_sdk_rds::operation::modify_db_subnet_group::{
    ModifyDBSubnetGroupError, ModifyDbSubnetGroupOutput,
};
use aws_sdk_rds::operation::remove_tags_from_resource::RemoveTagsFromResourceOutput;
use aws_sdk_rds::operation::reset_db_parameter_group::{
    ResetDBParameterGroupError, ResetDbParameterGroupOutput,
};
use aws_sdk_rds::types::error::{DbInstanceNotFoundFault, InvalidDbInstanceStateFault};
use aws_sdk_rds::types::{
    ApplyMethod, DbInstance, DbInstanceStatusInfo, DbParameterGroup, DbParameterGroupStatus,
    DbSubnetGroup, Parameter, PendingModifiedValues, Subnet, Tag,
};
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use infra_aws::AwsContext;
use infra_core::conformance::{self, Case};
use infra_core::{ErrorKind, Existing, Provider, Typed, Value};
use infra_rds::{MAX_PARAMETERS_PER_CALL, RdsInstance, RdsParameterGroup, RdsSubnetGroup};
use support::{ctx_with, inputs, secret, strings, with};

const ID: &str = "mockdb";

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn not_found() -> DescribeDBInstancesError {
    DescribeDBInstancesError::DbInstanceNotFoundFault(
        DbInstanceNotFoundFault::builder()
            .message("DBInstance mockdb not found.")
            .meta(meta("DBInstanceNotFound", "DBInstance mockdb not found."))
            .build(),
    )
}

fn db(status: &str, class: &str) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier(ID)
        .db_instance_status(status)
        .engine("postgres")
        .engine_version("16.3")
        .db_instance_class(class)
        .allocated_storage(20)
        .storage_type("gp3")
        .storage_encrypted(true)
        .master_username("airflow")
        .multi_az(false)
        .publicly_accessible(false)
        .backup_retention_period(7)
        .deletion_protection(false)
        .build()
}

fn described(db: DbInstance) -> DescribeDbInstancesOutput {
    DescribeDbInstancesOutput::builder()
        .db_instances(db)
        .build()
}

fn instance(client: Client) -> Typed<RdsInstance> {
    Typed::new(RdsInstance::with_client(AwsContext::new(), client))
}

fn spec(p: &Typed<RdsInstance>, class: &str, apply_immediately: bool) -> Value {
    inputs(
        p,
        vec![
            ("identifier", Value::from(ID)),
            ("engine_version", Value::from("16.3")),
            ("instance_class", Value::from(class)),
            ("allocated_storage", Value::Int(20)),
            ("username", Value::from("airflow")),
            ("password", secret("first-password-1")),
            ("skip_final_snapshot", Value::Bool(true)),
            ("apply_immediately", Value::Bool(apply_immediately)),
        ],
    )
}

fn existing(inputs: &Value) -> Existing {
    Existing {
        id: ID.into(),
        inputs: inputs.clone(),
        outputs: Value::map(),
    }
}

fn ctx() -> infra_core::OpContext {
    ctx_with("rds_instance.mock", "tok", Value::Null)
}

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_rds, RuleMode::MatchAny, rules)
}

#[tokio::test(start_paused = true)]
async fn modify_is_retried_while_the_instance_is_busy() {
    // Each attempt reads the instance first; the last one's wait sees the
    // new class.
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(|| described(db("available", "db.t4g.micro")))
        .times(4)
        .output(|| described(db("available", "db.t4g.large")))
        .repeatedly()
        .build();
    let busy = || {
        ModifyDBInstanceError::InvalidDbInstanceStateFault(
            InvalidDbInstanceStateFault::builder()
                .message("Database instance is not in available state.")
                .meta(meta(
                    "InvalidDBInstanceState",
                    "Database instance is not in available state.",
                ))
                .build(),
        )
    };
    let modify = mock!(Client::modify_db_instance)
        .sequence()
        .error(busy)
        .times(3)
        .output(|| ModifyDbInstanceOutput::builder().build())
        .build();
    let p = instance(client(&[&describe, &modify]));
    let before = spec(&p, "db.t4g.micro", false);
    let after = spec(&p, "db.t4g.large", false);
    let (ctx, recorded) = (ctx(), existing(&before));
    let (updated, retried) = as_the_engine_retries(|| p.update(&ctx, &recorded, &after)).await;
    let updated = updated.expect("retried until the instance accepted the change");
    assert_eq!(retried, [ErrorKind::Transient; 3], "busy is retryable");
    assert_eq!(modify.num_calls(), 4);
    assert_eq!(updated.inputs, after);
}

#[tokio::test(start_paused = true)]
async fn a_change_already_pending_is_not_issued_again() {
    let describe = mock!(Client::describe_db_instances).then_output(|| {
        let mut d = db("available", "db.t4g.micro");
        d.pending_modified_values = Some(
            PendingModifiedValues::builder()
                .db_instance_class("db.t4g.large")
                .build(),
        );
        described(d)
    });
    let modify =
        mock!(Client::modify_db_instance).then_output(|| ModifyDbInstanceOutput::builder().build());
    let p = instance(client(&[&describe, &modify]));
    let before = spec(&p, "db.t4g.micro", false);
    let after = spec(&p, "db.t4g.large", false);
    let updated = p
        .update(&ctx(), &existing(&before), &after)
        .await
        .expect("update");
    assert_eq!(modify.num_calls(), 0, "the pending change is not re-issued");
    // And read shows the scheduled value: no endless diff.
    assert_eq!(updated.inputs, after);
}

#[tokio::test(start_paused = true)]
async fn apply_immediately_waits_until_pending_values_clear() {
    let pending = || {
        let mut d = db("available", "db.t4g.micro");
        d.pending_modified_values = Some(
            PendingModifiedValues::builder()
                .db_instance_class("db.t4g.large")
                .build(),
        );
        described(d)
    };
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(|| described(db("available", "db.t4g.micro")))
        // Still reads `available` before the change starts.
        .output(pending)
        .times(2)
        .output(|| described(db("modifying", "db.t4g.micro")))
        .output(|| described(db("available", "db.t4g.large")))
        .repeatedly()
        .build();
    // Only the changed attribute, ApplyImmediately, and DeletionProtection
    // (always sent); never the unchanged password.
    let modify = mock!(Client::modify_db_instance)
        .match_requests(|r| {
            r.db_instance_class() == Some("db.t4g.large")
                && r.apply_immediately() == Some(true)
                && r.deletion_protection() == Some(false)
                && r.master_user_password().is_none()
                && r.backup_retention_period().is_none()
                && r.allocated_storage().is_none()
                && r.engine_version().is_none()
        })
        .then_output(|| ModifyDbInstanceOutput::builder().build());
    let p = instance(client(&[&describe, &modify]));
    let before = spec(&p, "db.t4g.micro", true);
    let after = spec(&p, "db.t4g.large", true);
    let updated = p
        .update(&ctx(), &existing(&before), &after)
        .await
        .expect("update");
    assert_eq!(modify.num_calls(), 1);
    assert_eq!(
        describe.num_calls(),
        5,
        "waited through pending and modifying"
    );
    assert_eq!(updated.inputs, after);
}

#[tokio::test(start_paused = true)]
async fn a_new_password_is_sent_and_only_then() {
    let describe = mock!(Client::describe_db_instances)
        .then_output(|| described(db("available", "db.t4g.micro")));
    let modify = mock!(Client::modify_db_instance)
        .match_requests(|r| {
            r.master_user_password() == Some("second-password-22")
                && r.db_instance_class().is_none()
        })
        .then_output(|| ModifyDbInstanceOutput::builder().build());
    let p = instance(client(&[&describe, &modify]));
    let before = spec(&p, "db.t4g.micro", false);
    let after = with(&before, "password", secret("second-password-22"));
    let updated = p
        .update(&ctx(), &existing(&before), &after)
        .await
        .expect("update");
    assert_eq!(modify.num_calls(), 1);
    assert_eq!(updated.inputs.get("password"), after.get("password"));
    // Unchanged inputs: no call at all.
    p.update(&ctx(), &existing(&after), &after)
        .await
        .expect("no-op update");
    assert_eq!(modify.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_password_known_only_by_digest_is_not_sent() {
    let describe = mock!(Client::describe_db_instances)
        .then_output(|| described(db("available", "db.t4g.micro")));
    let p = instance(client(&[&describe]));
    let before = spec(&p, "db.t4g.micro", false);
    let after = with(
        &before,
        "password",
        Value::Sensitive(infra_core::Secret::redacted("other-digest")),
    );
    let err = p
        .update(&ctx(), &existing(&before), &after)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("password is not available"),
        "{}",
        err.message
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_is_classified_as_retryable() {
    let describe = mock!(Client::describe_db_instances)
        .then_error(|| DescribeDBInstancesError::generic(meta("Throttling", "Rate exceeded")));
    let p = instance(client(&[&describe]));
    let err = p
        .read(&ctx(), &existing(&spec(&p, "db.t4g.micro", false)))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Throttled);
    assert!(err.kind.is_retryable());
    assert!(err.message.contains("rds_instance.mock"), "{}", err.message);
    assert!(
        err.message.contains("Throttling: Rate exceeded"),
        "{}",
        err.message
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_instance_ends_the_create_with_aws_reason() {
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .error(not_found)
        .output(|| described(db("creating", "db.t4g.micro")))
        .output(|| {
            let mut d = db("failed", "db.t4g.micro");
            d.status_infos = Some(vec![
                DbInstanceStatusInfo::builder()
                    .status_type("read replication")
                    .message("the KMS key is disabled")
                    .build(),
            ]);
            described(d)
        })
        .repeatedly()
        .build();
    let create = mock!(Client::create_db_instance)
        .match_requests(|r| {
            r.master_user_password() == Some("first-password-1")
                && r.db_instance_identifier() == Some(ID)
                && r.storage_encrypted() == Some(true)
                && r.backup_retention_period() == Some(7)
        })
        .then_output(|| CreateDbInstanceOutput::builder().build());
    let p = instance(client(&[&describe, &create]));
    let err = p
        .create(&ctx(), &spec(&p, "db.t4g.micro", false))
        .await
        .unwrap_err();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(err.message.contains("is `failed`"), "{}", err.message);
    assert!(
        err.message.contains("the KMS key is disabled"),
        "{}",
        err.message
    );
}

#[tokio::test(start_paused = true)]
async fn a_delete_already_under_way_is_waited_for() {
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(|| described(db("available", "db.t4g.micro")))
        .output(|| described(db("deleting", "db.t4g.micro")))
        .times(2)
        .error(not_found)
        .repeatedly()
        .build();
    let delete = mock!(Client::delete_db_instance)
        .match_requests(|r| {
            r.skip_final_snapshot() == Some(true) && r.final_db_snapshot_identifier().is_none()
        })
        .then_error(|| {
            DeleteDBInstanceError::generic(meta(
                "InvalidDBInstanceState",
                "Instance mockdb is already being deleted.",
            ))
        });
    let p = instance(client(&[&describe, &delete]));
    p.delete(&ctx(), &existing(&spec(&p, "db.t4g.micro", false)))
        .await
        .expect("waits until gone");
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(describe.num_calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn protection_turned_on_behind_our_back_is_reported_clearly() {
    // The describe said unprotected, but the delete raced a change.
    let describe = mock!(Client::describe_db_instances)
        .then_output(|| described(db("available", "db.t4g.micro")));
    let delete = mock!(Client::delete_db_instance).then_error(|| {
        DeleteDBInstanceError::generic(meta(
            "InvalidParameterCombination",
            "Cannot delete protected DB Instance, please disable deletion protection and try again.",
        ))
    });
    let p = instance(client(&[&describe, &delete]));
    let err = p
        .delete(&ctx(), &existing(&spec(&p, "db.t4g.micro", false)))
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "`rds_instance.mock` has deletion_protection = true: set it to false and apply, then destroy"
    );
}

#[tokio::test(start_paused = true)]
async fn a_final_snapshot_name_is_required_to_delete() {
    let describe = mock!(Client::describe_db_instances)
        .then_output(|| described(db("available", "db.t4g.micro")));
    let delete =
        mock!(Client::delete_db_instance).then_output(|| DeleteDbInstanceOutput::builder().build());
    let p = instance(client(&[&describe, &delete]));
    let stale = with(
        &spec(&p, "db.t4g.micro", false),
        "skip_final_snapshot",
        Value::Bool(false),
    );
    let err = p.delete(&ctx(), &existing(&stale)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("final_snapshot_identifier"),
        "{}",
        err.message
    );
    assert_eq!(delete.num_calls(), 0, "nothing deleted without a snapshot");
}

fn group(description: &str, subnets: &[&str]) -> DbSubnetGroup {
    let mut b = DbSubnetGroup::builder()
        .db_subnet_group_name("airflow")
        .db_subnet_group_description(description)
        .vpc_id("vpc-1");
    for s in subnets {
        b = b.subnets(Subnet::builder().subnet_identifier(*s).build());
    }
    b.build()
}

#[tokio::test(start_paused = true)]
async fn subnet_group_modify_sends_the_whole_list_and_reads_back() {
    let describe = mock!(Client::describe_db_subnet_groups)
        .sequence()
        .output(|| {
            DescribeDbSubnetGroupsOutput::builder()
                .db_subnet_groups(group("old", &["subnet-a", "subnet-b"]))
                .build()
        })
        .output(|| {
            DescribeDbSubnetGroupsOutput::builder()
                .db_subnet_groups(group("new", &["subnet-c", "subnet-a"]))
                .build()
        })
        .repeatedly()
        .build();
    let modify = mock!(Client::modify_db_subnet_group)
        .match_requests(|r| {
            r.db_subnet_group_name() == Some("airflow")
                && r.db_subnet_group_description() == Some("new")
                && r.subnet_ids() == ["subnet-a", "subnet-c"]
        })
        .then_output(|| {
            ModifyDbSubnetGroupOutput::builder()
                .db_subnet_group(group("new", &["subnet-c", "subnet-a"]))
                .build()
        });
    let p = Typed::new(RdsSubnetGroup::with_client(
        AwsContext::new(),
        client(&[&describe, &modify]),
    ));
    let c = ctx_with("rds_subnet_group.db", "tok", Value::Null);
    let before = inputs(
        &p,
        vec![
            ("name", Value::from("airflow")),
            ("description", Value::from("old")),
            ("subnet_ids", strings(&["subnet-a", "subnet-b"])),
        ],
    );
    let after = with(
        &with(&before, "description", Value::from("new")),
        "subnet_ids",
        strings(&["subnet-a", "subnet-c"]),
    );
    let old = Existing {
        id: "airflow".into(),
        inputs: before,
        outputs: Value::map(),
    };
    let updated = p.update(&c, &old, &after).await.expect("update");
    assert_eq!(modify.num_calls(), 1);
    let schema = p.schema();
    assert_eq!(
        schema.normalize(&updated.inputs),
        schema.normalize(&after),
        "AWS's subnet order is not drift"
    );
    let read = p
        .read(
            &c,
            &Existing {
                id: "airflow".into(),
                inputs: updated.inputs.clone(),
                outputs: updated.outputs.clone(),
            },
        )
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, updated);
}

#[tokio::test(start_paused = true)]
async fn a_subnet_group_in_use_is_not_deleted() {
    let delete = mock!(Client::delete_db_subnet_group).then_error(|| {
        DeleteDBSubnetGroupError::generic(meta(
            "InvalidDBSubnetGroupStateFault",
            "Cannot delete the subnet group 'airflow' because at least one database instance: mockdb is still using it.",
        ))
    });
    let p = Typed::new(RdsSubnetGroup::with_client(
        AwsContext::new(),
        client(&[&delete]),
    ));
    let c = ctx_with("rds_subnet_group.db", "tok", Value::Null);
    let err = p
        .delete(
            &c,
            &Existing {
                id: "airflow".into(),
                inputs: Value::map(),
                outputs: Value::map(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("still used by a DB instance"),
        "{}",
        err.message
    );
}

/// DB subnet groups by (lowercase) name, with their tags: what the fake
/// below keeps, as AWS does.
type Groups = Arc<Mutex<BTreeMap<String, (DbSubnetGroup, BTreeMap<String, String>)>>>;

fn stored(name: &str, description: &str, subnets: &[String]) -> DbSubnetGroup {
    let mut b = DbSubnetGroup::builder()
        .db_subnet_group_name(name)
        .db_subnet_group_description(description)
        .db_subnet_group_arn(format!("arn:aws:rds:us-east-1:123456789012:subgrp:{name}"))
        .vpc_id("vpc-1");
    for s in subnets {
        b = b.subnets(Subnet::builder().subnet_identifier(s).build());
    }
    b.build()
}

/// The group an ARN names.
fn named(arn: &str) -> String {
    arn.rsplit(':').next().unwrap_or_default().to_owned()
}

/// The subnet group calls, answered from `groups`.
fn fake_subnet_groups(groups: &Groups) -> Vec<Rule> {
    let gone = || meta("DBSubnetGroupNotFoundFault", "DB subnet group not found");
    let g = Arc::clone(groups);
    let describe = mock!(Client::describe_db_subnet_groups).then_compute_response(move |r| {
        let store = g.lock().unwrap();
        match r.db_subnet_group_name().and_then(|n| store.get(n)) {
            Some((group, _)) => MockResponse::Output(
                DescribeDbSubnetGroupsOutput::builder()
                    .db_subnet_groups(group.clone())
                    .build(),
            ),
            None => MockResponse::Error(DescribeDBSubnetGroupsError::generic(gone())),
        }
    });
    let g = Arc::clone(groups);
    let create = mock!(Client::create_db_subnet_group).then_compute_response(move |r| {
        let name = r
            .db_subnet_group_name()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut store = g.lock().unwrap();
        if store.contains_key(&name) {
            let exists = meta("DBSubnetGroupAlreadyExists", "already exists");
            return MockResponse::Error(CreateDBSubnetGroupError::generic(exists));
        }
        let description = r.db_subnet_group_description().unwrap_or_default();
        let group = stored(&name, description, r.subnet_ids());
        let tags = r.tags().iter().map(|t| {
            let (k, v) = (t.key().unwrap_or_default(), t.value().unwrap_or_default());
            (k.to_owned(), v.to_owned())
        });
        store.insert(name, (group.clone(), tags.collect()));
        MockResponse::Output(
            CreateDbSubnetGroupOutput::builder()
                .db_subnet_group(group)
                .build(),
        )
    });
    let g = Arc::clone(groups);
    let modify = mock!(Client::modify_db_subnet_group).then_compute_response(move |r| {
        let mut store = g.lock().unwrap();
        let Some((group, _)) = r.db_subnet_group_name().and_then(|n| store.get_mut(n)) else {
            return MockResponse::Error(ModifyDBSubnetGroupError::generic(gone()));
        };
        let name = group.db_subnet_group_name().unwrap_or_default().to_owned();
        let description = r
            .db_subnet_group_description()
            .or(group.db_subnet_group_description())
            .unwrap_or_default()
            .to_owned();
        *group = stored(&name, &description, r.subnet_ids());
        MockResponse::Output(
            ModifyDbSubnetGroupOutput::builder()
                .db_subnet_group(group.clone())
                .build(),
        )
    });
    let g = Arc::clone(groups);
    let delete = mock!(Client::delete_db_subnet_group).then_compute_response(move |r| {
        let mut store = g.lock().unwrap();
        match r.db_subnet_group_name().and_then(|n| store.remove(n)) {
            Some(_) => MockResponse::Output(DeleteDbSubnetGroupOutput::builder().build()),
            None => MockResponse::Error(DeleteDBSubnetGroupError::generic(gone())),
        }
    });
    let g = Arc::clone(groups);
    let list = mock!(Client::list_tags_for_resource).then_compute_output(move |r| {
        let store = g.lock().unwrap();
        let tags = store.get(&named(r.resource_name().unwrap_or_default()));
        let tags = tags.into_iter().flat_map(|(_, t)| t);
        let tags = tags.map(|(k, v)| Tag::builder().key(k).value(v).build());
        ListTagsForResourceOutput::builder()
            .set_tag_list(Some(tags.collect()))
            .build()
    });
    let g = Arc::clone(groups);
    let add = mock!(Client::add_tags_to_resource).then_compute_output(move |r| {
        let mut store = g.lock().unwrap();
        if let Some((_, tags)) = store.get_mut(&named(r.resource_name().unwrap_or_default())) {
            for t in r.tags() {
                let (k, v) = (t.key().unwrap_or_default(), t.value().unwrap_or_default());
                tags.insert(k.to_owned(), v.to_owned());
            }
        }
        AddTagsToResourceOutput::builder().build()
    });
    let g = Arc::clone(groups);
    let remove = mock!(Client::remove_tags_from_resource).then_compute_output(move |r| {
        let mut store = g.lock().unwrap();
        if let Some((_, tags)) = store.get_mut(&named(r.resource_name().unwrap_or_default())) {
            for k in r.tag_keys() {
                tags.remove(k);
            }
        }
        RemoveTagsFromResourceOutput::builder().build()
    });
    vec![describe, create, modify, delete, list, add, remove]
}

#[tokio::test(start_paused = true)]
async fn subnet_group_conformance_with_updates_moto_cannot_keep() {
    let groups = Groups::default();
    let rules = fake_subnet_groups(&groups);
    let rules: Vec<&Rule> = rules.iter().collect();
    let p = Typed::new(RdsSubnetGroup::with_client(
        AwsContext::new(),
        client(&rules),
    ));
    let case = Case {
        inputs: [
            ("name", Value::from("Airflow-Conf")),
            ("subnet_ids", strings(&["subnet-b", "subnet-a"])),
            (
                "tags",
                [("team", Value::from("data"))].into_iter().collect(),
            ),
        ]
        .into_iter()
        .collect(),
        updates: vec![
            ("description", Value::from("airflow metadata database")),
            ("subnet_ids", strings(&["subnet-c", "subnet-b"])),
            ("tags", [("env", Value::from("dev"))].into_iter().collect()),
        ],
        replacing: vec!["name"],
    };
    let ctx = |token: &str| ctx_with("rds_subnet_group.conformance", token, Value::Null);
    let passed = conformance::run(&p, &ctx, case).await;
    assert_eq!(passed.len(), 7, "every check ran: {passed:?}");
    assert!(groups.lock().unwrap().is_empty(), "deleted");
}

/// One parameter group the fake below keeps: its group, parameters set
/// (value and apply method) and tags.
#[derive(Clone, Debug)]
struct StoredGroup {
    group: DbParameterGroup,
    parameters: BTreeMap<String, (String, String)>,
    tags: BTreeMap<String, String>,
}

/// What the parameter group fake keeps, and what it was asked.
#[derive(Default)]
struct PgStore {
    groups: BTreeMap<String, StoredGroup>,
    /// Each ModifyDBParameterGroup: (name, value, apply method).
    modified: Vec<Vec<(String, String, String)>>,
    /// Each ResetDBParameterGroup: (name, apply method).
    reset: Vec<Vec<(String, String)>>,
    /// DescribeDBParameters pages read without `Source`.
    catalog_pages: usize,
}

type Pg = Arc<Mutex<PgStore>>;

/// The family's parameters as AWS describes them: `ApplyType` per name
/// (`p00`..`p29`, the even ones dynamic; `log_connections` and `work_mem`
/// dynamic, `max_connections` static). Any other name is not in it.
fn catalog() -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = (0..30)
        .map(|i| {
            (
                format!("p{i:02}"),
                if i % 2 == 0 { "dynamic" } else { "static" },
            )
        })
        .collect();
    out.push(("max_connections".into(), "static"));
    out.push(("log_connections".into(), "dynamic"));
    out.push(("work_mem".into(), "dynamic"));
    out
}

/// The catalog page size: small, so paging is exercised.
const PAGE: usize = 7;

fn pg_gone() -> ErrorMetadata {
    meta("DBParameterGroupNotFound", "DBParameterGroup not found")
}

/// The parameter group calls, answered from `store`.
fn fake_parameter_groups(store: &Pg) -> Vec<Rule> {
    let s = Arc::clone(store);
    let describe = mock!(Client::describe_db_parameter_groups).then_compute_response(move |r| {
        let st = s.lock().unwrap();
        match r.db_parameter_group_name().and_then(|n| st.groups.get(n)) {
            Some(g) => MockResponse::Output(
                DescribeDbParameterGroupsOutput::builder()
                    .db_parameter_groups(g.group.clone())
                    .build(),
            ),
            None => MockResponse::Error(DescribeDBParameterGroupsError::generic(pg_gone())),
        }
    });
    let s = Arc::clone(store);
    let create = mock!(Client::create_db_parameter_group).then_compute_response(move |r| {
        let name = r
            .db_parameter_group_name()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut st = s.lock().unwrap();
        if st.groups.contains_key(&name) {
            let exists = meta("DBParameterGroupAlreadyExists", "already exists");
            return MockResponse::Error(CreateDBParameterGroupError::generic(exists));
        }
        let group = DbParameterGroup::builder()
            .db_parameter_group_name(&name)
            .db_parameter_group_family(r.db_parameter_group_family().unwrap_or_default())
            .description(r.description().unwrap_or_default())
            .db_parameter_group_arn(format!("arn:aws:rds:us-east-1:123456789012:pg:{name}"))
            .build();
        let tags = r.tags().iter().map(|t| {
            let (k, v) = (t.key().unwrap_or_default(), t.value().unwrap_or_default());
            (k.to_owned(), v.to_owned())
        });
        let stored = StoredGroup {
            group: group.clone(),
            parameters: BTreeMap::new(),
            tags: tags.collect(),
        };
        st.groups.insert(name, stored);
        MockResponse::Output(
            CreateDbParameterGroupOutput::builder()
                .db_parameter_group(group)
                .build(),
        )
    });
    let s = Arc::clone(store);
    let parameters = mock!(Client::describe_db_parameters).then_compute_response(move |r| {
        let mut st = s.lock().unwrap();
        let Some(g) = r.db_parameter_group_name().and_then(|n| st.groups.get(n)) else {
            return MockResponse::Error(DescribeDBParametersError::generic(pg_gone()));
        };
        let types: BTreeMap<String, &str> = catalog().into_iter().collect();
        let param = |name: &str, value: Option<&str>, source: &str| {
            Parameter::builder()
                .parameter_name(name)
                .set_parameter_value(value.map(str::to_owned))
                .source(source)
                .set_apply_type(types.get(name).map(|t| (*t).to_owned()))
                .build()
        };
        if r.source() == Some("user") {
            let user = g
                .parameters
                .iter()
                .map(|(k, (v, _))| param(k, Some(v), "user"));
            return MockResponse::Output(
                DescribeDbParametersOutput::builder()
                    .set_parameters(Some(user.collect()))
                    .build(),
            );
        }
        // Every parameter of the family, a page at a time.
        let all: Vec<Parameter> = catalog()
            .iter()
            .map(|(k, _)| match g.parameters.get(k) {
                Some((v, _)) => param(k, Some(v), "user"),
                None => param(k, None, "engine-default"),
            })
            .collect();
        let start: usize = r.marker().and_then(|m| m.parse().ok()).unwrap_or(0);
        let end = (start + PAGE).min(all.len());
        st.catalog_pages += 1;
        MockResponse::Output(
            DescribeDbParametersOutput::builder()
                .set_parameters(Some(all[start..end].to_vec()))
                .set_marker((end < all.len()).then(|| end.to_string()))
                .build(),
        )
    });
    let s = Arc::clone(store);
    let modify = mock!(Client::modify_db_parameter_group).then_compute_response(move |r| {
        let mut st = s.lock().unwrap();
        if r.parameters().len() > MAX_PARAMETERS_PER_CALL {
            let e = meta("InvalidParameterValue", "at most 20 parameters per call");
            return MockResponse::Error(ModifyDBParameterGroupError::generic(e));
        }
        let call: Vec<(String, String, String)> = r
            .parameters()
            .iter()
            .map(|p| {
                (
                    p.parameter_name().unwrap_or_default().to_owned(),
                    p.parameter_value().unwrap_or_default().to_owned(),
                    p.apply_method().map_or("", ApplyMethod::as_str).to_owned(),
                )
            })
            .collect();
        let Some(g) = r
            .db_parameter_group_name()
            .and_then(|n| st.groups.get_mut(n))
        else {
            return MockResponse::Error(ModifyDBParameterGroupError::generic(pg_gone()));
        };
        for (k, v, m) in &call {
            g.parameters.insert(k.clone(), (v.clone(), m.clone()));
        }
        st.modified.push(call);
        MockResponse::Output(ModifyDbParameterGroupOutput::builder().build())
    });
    let s = Arc::clone(store);
    let reset = mock!(Client::reset_db_parameter_group).then_compute_response(move |r| {
        let mut st = s.lock().unwrap();
        if r.parameters().len() > MAX_PARAMETERS_PER_CALL || r.reset_all_parameters() == Some(true)
        {
            let e = meta(
                "InvalidParameterValue",
                "at most 20 named parameters per call",
            );
            return MockResponse::Error(ResetDBParameterGroupError::generic(e));
        }
        let call: Vec<(String, String)> = r
            .parameters()
            .iter()
            .map(|p| {
                (
                    p.parameter_name().unwrap_or_default().to_owned(),
                    p.apply_method().map_or("", ApplyMethod::as_str).to_owned(),
                )
            })
            .collect();
        let Some(g) = r
            .db_parameter_group_name()
            .and_then(|n| st.groups.get_mut(n))
        else {
            return MockResponse::Error(ResetDBParameterGroupError::generic(pg_gone()));
        };
        for (k, _) in &call {
            g.parameters.remove(k);
        }
        st.reset.push(call);
        MockResponse::Output(ResetDbParameterGroupOutput::builder().build())
    });
    let s = Arc::clone(store);
    let delete = mock!(Client::delete_db_parameter_group).then_compute_response(move |r| {
        let mut st = s.lock().unwrap();
        match r
            .db_parameter_group_name()
            .and_then(|n| st.groups.remove(n))
        {
            Some(_) => MockResponse::Output(DeleteDbParameterGroupOutput::builder().build()),
            None => MockResponse::Error(DeleteDBParameterGroupError::generic(pg_gone())),
        }
    });
    let s = Arc::clone(store);
    let list = mock!(Client::list_tags_for_resource).then_compute_output(move |r| {
        let st = s.lock().unwrap();
        let tags = st.groups.get(&named(r.resource_name().unwrap_or_default()));
        let tags = tags.into_iter().flat_map(|g| &g.tags);
        let tags = tags.map(|(k, v)| Tag::builder().key(k).value(v).build());
        ListTagsForResourceOutput::builder()
            .set_tag_list(Some(tags.collect()))
            .build()
    });
    let s = Arc::clone(store);
    let add = mock!(Client::add_tags_to_resource).then_compute_output(move |r| {
        let mut st = s.lock().unwrap();
        if let Some(g) = st
            .groups
            .get_mut(&named(r.resource_name().unwrap_or_default()))
        {
            for t in r.tags() {
                let (k, v) = (t.key().unwrap_or_default(), t.value().unwrap_or_default());
                g.tags.insert(k.to_owned(), v.to_owned());
            }
        }
        AddTagsToResourceOutput::builder().build()
    });
    let s = Arc::clone(store);
    let remove = mock!(Client::remove_tags_from_resource).then_compute_output(move |r| {
        let mut st = s.lock().unwrap();
        if let Some(g) = st
            .groups
            .get_mut(&named(r.resource_name().unwrap_or_default()))
        {
            for k in r.tag_keys() {
                g.tags.remove(k);
            }
        }
        RemoveTagsFromResourceOutput::builder().build()
    });
    vec![
        describe, create, parameters, modify, reset, delete, list, add, remove,
    ]
}

fn parameter_group(rules: &[Rule]) -> Typed<RdsParameterGroup> {
    let rules: Vec<&Rule> = rules.iter().collect();
    Typed::new(RdsParameterGroup::with_client(
        AwsContext::new(),
        client(&rules),
    ))
}

fn pg_ctx(token: &str) -> infra_core::OpContext {
    ctx_with("rds_parameter_group.pg", token, Value::Null)
}

#[tokio::test(start_paused = true)]
async fn parameter_group_conformance_with_a_parameter_removed() {
    let store = Pg::default();
    let p = parameter_group(&fake_parameter_groups(&store));
    let table =
        |pairs: &[(&str, Value)]| -> Value { pairs.iter().map(|(k, v)| (*k, v.clone())).collect() };
    let case = Case {
        inputs: [
            ("name", Value::from("Airflow-Conf")),
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
        updates: vec![
            // One changed, one removed (reset), one added.
            (
                "parameters",
                table(&[
                    ("max_connections", Value::Int(300)),
                    ("work_mem", Value::from("8192")),
                ]),
            ),
            ("parameters", Value::map()),
            ("tags", table(&[("env", Value::from("dev"))])),
        ],
        replacing: vec!["name", "family", "description"],
    };
    let passed = conformance::run(&p, &pg_ctx, case).await;
    assert_eq!(passed.len(), 7, "every check ran: {passed:?}");
    let st = store.lock().unwrap();
    assert!(st.groups.is_empty(), "deleted");
    let reset: Vec<&Vec<(String, String)>> = st.reset.iter().collect();
    assert_eq!(
        reset,
        [
            &vec![("log_connections".to_owned(), "immediate".to_owned())],
            &vec![
                ("max_connections".to_owned(), "pending-reboot".to_owned()),
                ("work_mem".to_owned(), "immediate".to_owned()),
            ],
        ],
        "removed parameters are reset, each with the method AWS allows"
    );
}

#[tokio::test(start_paused = true)]
async fn parameters_go_out_twenty_a_call_with_the_method_aws_describes() {
    let store = Pg::default();
    let p = parameter_group(&fake_parameter_groups(&store));
    // 25 parameters: p00..p23 in the catalog (even dynamic, odd static),
    // and one AWS does not describe.
    let mut params: Vec<(String, Value)> = (0..24)
        .map(|i| (format!("p{i:02}"), Value::Int(i)))
        .collect();
    params.push(("unlisted".into(), Value::Bool(true)));
    let params: Value = params.into_iter().collect();
    let given = inputs(
        &p,
        vec![
            ("name", Value::from("bulk")),
            ("family", Value::from("postgres16")),
            ("parameters", params.clone()),
        ],
    );
    let created = p.create(&pg_ctx("tok-bulk"), &given).await.expect("create");
    assert_eq!(created.inputs, given);
    {
        let st = store.lock().unwrap();
        let sizes: Vec<usize> = st.modified.iter().map(Vec::len).collect();
        assert_eq!(sizes, [20, 5], "at most 20 a call");
        let sent: BTreeMap<&str, (&str, &str)> = st
            .modified
            .iter()
            .flatten()
            .map(|(k, v, m)| (k.as_str(), (v.as_str(), m.as_str())))
            .collect();
        assert_eq!(sent.get("p00"), Some(&("0", "immediate")));
        assert_eq!(sent.get("p01"), Some(&("1", "pending-reboot")));
        assert_eq!(sent.get("unlisted"), Some(&("1", "pending-reboot")));
        assert!(
            st.catalog_pages > 1,
            "the catalog was paged: {}",
            st.catalog_pages
        );
    }
    // Keep p00 and p01, drop the other 23: reset 20 + 3, nothing set.
    let kept: Value = [("p00", Value::Int(0)), ("p01", Value::Int(1))]
        .into_iter()
        .collect();
    let fewer = with(&given, "parameters", kept);
    let c = pg_ctx("tok-bulk-2");
    let recorded = Existing {
        id: created.id.clone(),
        inputs: created.inputs.clone(),
        outputs: created.outputs.clone(),
    };
    let updated = p.update(&c, &recorded, &fewer).await.expect("update");
    assert_eq!(updated.inputs, fewer);
    let st = store.lock().unwrap();
    assert_eq!(st.modified.len(), 2, "unchanged values are not sent again");
    let sizes: Vec<usize> = st.reset.iter().map(Vec::len).collect();
    assert_eq!(sizes, [20, 3]);
    let reset: BTreeMap<&str, &str> = st
        .reset
        .iter()
        .flatten()
        .map(|(k, m)| (k.as_str(), m.as_str()))
        .collect();
    assert_eq!(reset.get("p02"), Some(&"immediate"));
    assert_eq!(reset.get("p03"), Some(&"pending-reboot"));
    assert!(!reset.contains_key("p00"));
}

fn using(status: &str, apply_status: &str) -> DbInstance {
    let mut d = db(status, "db.t4g.micro");
    d.db_parameter_groups = Some(vec![
        DbParameterGroupStatus::builder()
            .db_parameter_group_name("airflow-pg")
            .parameter_apply_status(apply_status)
            .build(),
    ]);
    d
}

fn in_use() -> DeleteDBParameterGroupError {
    DeleteDBParameterGroupError::generic(meta(
        "InvalidDBParameterGroupState",
        "One or more database instances are still members of this parameter group airflow-pg, so the group cannot be deleted",
    ))
}

fn pg_existing() -> Existing {
    Existing {
        id: "airflow-pg".into(),
        inputs: Value::map(),
        outputs: Value::map(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_group_is_deleted_once_the_instance_going_away_releases_it() {
    let delete = mock!(Client::delete_db_parameter_group)
        .sequence()
        .error(in_use)
        .times(2)
        .output(|| DeleteDbParameterGroupOutput::builder().build())
        .build();
    let instances = mock!(Client::describe_db_instances)
        .then_output(|| described(using("deleting", "in-sync")));
    let groups = mock!(Client::describe_db_parameter_groups)
        .then_error(|| DescribeDBParameterGroupsError::generic(pg_gone()));
    let p = Typed::new(RdsParameterGroup::with_client(
        AwsContext::new(),
        client(&[&delete, &instances, &groups]),
    ));
    p.delete(&pg_ctx("tok-del"), &pg_existing())
        .await
        .expect("deleted once released");
    assert_eq!(delete.num_calls(), 3);
    assert_eq!(
        instances.num_calls(),
        2,
        "asked who holds it at each refusal"
    );
}

#[tokio::test(start_paused = true)]
async fn a_group_a_running_instance_uses_is_refused_naming_it() {
    let delete = mock!(Client::delete_db_parameter_group).then_error(in_use);
    let instances = mock!(Client::describe_db_instances)
        .then_output(|| described(using("available", "in-sync")));
    let p = Typed::new(RdsParameterGroup::with_client(
        AwsContext::new(),
        client(&[&delete, &instances]),
    ));
    let err = p
        .delete(&pg_ctx("tok-del"), &pg_existing())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.starts_with(
            "deleting `rds_parameter_group.pg` (DB parameter group airflow-pg): it is still used by DB instance `mockdb`"
        ),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("create_before_destroy"),
        "{}",
        err.message
    );
    assert_eq!(
        delete.num_calls(),
        1,
        "not retried: it cannot release itself"
    );
}
