//! Paths moto cannot produce, with mocked SDK responses (aws-smithy-mocks):
//! UpdateClusterVersion / UpdateNodegroupVersion and DescribeUpdate
//! (moto implements neither), the access configuration and upgrade policy
//! updates (moto neither stores nor returns them), update failures, the
//! emulator fallback of the
//! update waiter, node group tags (moto tags clusters only), DEGRADED /
//! CREATE_FAILED / DELETE_FAILED node groups, throttling and conflicts.
//!
//! Rules run in `RuleMode::Sequential`, so each test also asserts the order
//! of the calls. Tests run on tokio's paused clock: waits cost nothing.

mod support;

use infra_aws::testing::as_the_engine_retries;
use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_eks::Client;
use aws_sdk_eks::operation::create_cluster::{CreateClusterError, CreateClusterOutput};
use aws_sdk_eks::operation::create_nodegroup::{CreateNodegroupError, CreateNodegroupOutput};
use aws_sdk_eks::operation::delete_cluster::{DeleteClusterError, DeleteClusterOutput};
use aws_sdk_eks::operation::delete_nodegroup::DeleteNodegroupOutput;
use aws_sdk_eks::operation::describe_cluster::{DescribeClusterError, DescribeClusterOutput};
use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::tag_resource::TagResourceOutput;
use aws_sdk_eks::operation::untag_resource::UntagResourceOutput;
use aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigOutput;
use aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionOutput;
use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
use aws_sdk_eks::operation::update_nodegroup_version::UpdateNodegroupVersionOutput;
use aws_sdk_eks::types::error::{
    InvalidParameterException, InvalidRequestException, ResourceInUseException,
    ResourceNotFoundException,
};
use aws_sdk_eks::types::{
    AccessConfigResponse, AuthenticationMode, AutoScalingGroup, Cluster, ClusterHealth,
    ClusterIssue, ClusterIssueCode, ClusterStatus, ErrorCode, ErrorDetail, Issue, LogSetup,
    LogType, Logging, Nodegroup, NodegroupHealth, NodegroupIssueCode, NodegroupResources,
    NodegroupScalingConfig, NodegroupStatus, SupportType, Taint, TaintEffect, Update, UpdateStatus,
    UpgradePolicyResponse, VpcConfigResponse,
};
use aws_smithy_mocks::{Rule, mock};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use infra_aws::AwsContext;
use infra_core::{ErrorKind, Existing, Provider, Typed, Value};
use infra_eks::{EksCluster, EksNodeGroup};
use support::*;

const NAME: &str = "airflow";
const ARN: &str = "arn:aws:eks:us-east-1:123456789012:cluster/airflow";
const NG_ARN: &str = "arn:aws:eks:us-east-1:123456789012:nodegroup/airflow/workers/abc";

fn cluster_provider(rules: &[&Rule]) -> Typed<EksCluster> {
    Typed::new(EksCluster::with_client(AwsContext::new(), client(rules)))
}

fn node_group_provider(rules: &[&Rule]) -> Typed<EksNodeGroup> {
    Typed::new(EksNodeGroup::with_client(AwsContext::new(), client(rules)))
}

/// A throttling answer as EKS sends it: 400 with the error type header.
fn throttled() -> HttpResponse {
    let mut response = HttpResponse::new(
        StatusCode::try_from(400).unwrap_or_else(|_| unreachable!()),
        SdkBody::from(r#"{"message":"Rate exceeded"}"#),
    );
    response
        .headers_mut()
        .insert("x-amzn-ErrorType", "ThrottlingException");
    response
        .headers_mut()
        .insert("Content-Type", "application/json");
    response
}

fn update(id: &str, status: UpdateStatus) -> Update {
    Update::builder().id(id).status(status).build()
}

fn describe_update(status: UpdateStatus) -> DescribeUpdateOutput {
    DescribeUpdateOutput::builder()
        .update(update("u", status))
        .build()
}

/// What EKS would report for the cluster inputs `spec`.
fn cluster_like(spec: &Value, status: ClusterStatus) -> Cluster {
    let strings = |k: &str| {
        spec.get(k).and_then(Value::as_list).map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
    };
    let flag = |k: &str| spec.get(k).and_then(Value::as_bool).unwrap_or(false);
    let enabled: Vec<LogType> = strings("enabled_log_types")
        .unwrap_or_default()
        .iter()
        .map(|t| LogType::from(t.as_str()))
        .collect();
    let mut cluster = Cluster::builder()
        .name(NAME)
        .arn(ARN)
        .status(status)
        .role_arn(ROLE)
        .endpoint("https://example.eks.amazonaws.com")
        .resources_vpc_config(
            VpcConfigResponse::builder()
                .set_subnet_ids(strings("subnet_ids"))
                .set_security_group_ids(strings("security_group_ids"))
                .endpoint_private_access(flag("endpoint_private_access"))
                .endpoint_public_access(flag("endpoint_public_access"))
                .public_access_cidrs("0.0.0.0/0")
                .cluster_security_group_id("sg-cluster")
                .build(),
        )
        .logging(
            Logging::builder()
                .cluster_logging(
                    LogSetup::builder()
                        .set_types(Some(enabled))
                        .enabled(true)
                        .build(),
                )
                .build(),
        );
    if let Some(v) = spec.get("version").and_then(Value::as_str) {
        cluster = cluster.version(v);
    }
    cluster.build()
}

fn describe_cluster_as(spec: &Value, status: ClusterStatus) -> DescribeClusterOutput {
    DescribeClusterOutput::builder()
        .cluster(cluster_like(spec, status))
        .build()
}

fn cluster_spec() -> serde_json::Value {
    let mut spec = cluster_inputs(NAME);
    spec["version"] = "1.30".into();
    spec["security_group_ids"] = serde_json::json!(["sg-1"]);
    spec["enabled_log_types"] = serde_json::json!(["api"]);
    spec
}

fn recorded_cluster(spec: &Value) -> Existing {
    Existing {
        id: NAME.into(),
        inputs: spec.clone(),
        outputs: Value::map(),
    }
}

#[tokio::test(start_paused = true)]
async fn cluster_updates_run_one_kind_at_a_time_version_first() {
    let old = inputs(cluster_spec());
    let mut spec = cluster_spec();
    spec["version"] = "1.31".into();
    spec["endpoint_private_access"] = true.into();
    spec["subnet_ids"] = serde_json::json!(["subnet-a", "subnet-b", "subnet-c"]);
    spec["security_group_ids"] = serde_json::json!(["sg-2"]);
    spec["enabled_log_types"] = serde_json::json!(["audit"]);
    let new = inputs(spec);

    let version = mock!(Client::update_cluster_version)
        .match_requests(|r| {
            r.name() == Some(NAME)
                && r.version() == Some("1.31")
                && r.client_request_token() == Some("tok-version")
        })
        .then_output(|| {
            UpdateClusterVersionOutput::builder()
                .update(update("u-version", UpdateStatus::InProgress))
                .build()
        });
    let version_wait = mock!(Client::describe_update)
        .match_requests(|r| {
            r.name() == Some(NAME)
                && r.update_id() == Some("u-version")
                && r.nodegroup_name().is_none()
        })
        .sequence()
        .output(|| describe_update(UpdateStatus::InProgress))
        .times(2)
        .output(|| describe_update(UpdateStatus::Successful))
        .build();
    let config = |token: &'static str,
                  check: fn(
        &aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigInput,
    ) -> bool| {
        mock!(Client::update_cluster_config)
            .match_requests(move |r| r.client_request_token() == Some(token) && check(r))
            .then_output(move || {
                UpdateClusterConfigOutput::builder()
                    .update(update(token, UpdateStatus::InProgress))
                    .build()
            })
    };
    let success = |id: &'static str| {
        mock!(Client::describe_update)
            .match_requests(move |r| r.update_id() == Some(id))
            .then_output(|| describe_update(UpdateStatus::Successful))
    };
    let endpoint = config("tok-endpoint-access", |r| {
        let vpc = r.resources_vpc_config();
        r.logging().is_none()
            && vpc.is_some_and(|v| {
                v.endpoint_private_access() == Some(true)
                    && v.endpoint_public_access() == Some(true)
                    && v.subnet_ids().is_empty()
                    && v.security_group_ids().is_empty()
            })
    });
    let subnets = config("tok-subnets", |r| {
        r.logging().is_none()
            && r.resources_vpc_config().is_some_and(|v| {
                v.subnet_ids() == ["subnet-a", "subnet-b", "subnet-c"]
                    && v.endpoint_private_access().is_none()
                    && v.security_group_ids().is_empty()
            })
    });
    let groups = config("tok-security-groups", |r| {
        r.logging().is_none()
            && r.resources_vpc_config()
                .is_some_and(|v| v.security_group_ids() == ["sg-2"] && v.subnet_ids().is_empty())
    });
    let logging = config("tok-logging", |r| {
        r.resources_vpc_config().is_none()
            && r.logging().is_some_and(|l| {
                let setups = l.cluster_logging();
                setups.len() == 2
                    && setups[0].enabled() == Some(true)
                    && setups[0].types() == [LogType::Audit]
                    && setups[1].enabled() == Some(false)
                    && setups[1].types().len() == 4
            })
    });
    let endpoint_done = success("tok-endpoint-access");
    let subnets_done = success("tok-subnets");
    let groups_done = success("tok-security-groups");
    let logging_done = success("tok-logging");
    let spec_after = new.clone();
    let describe = mock!(Client::describe_cluster)
        .then_output(move || describe_cluster_as(&spec_after, ClusterStatus::Active));

    let p = cluster_provider(&[
        &version,
        &version_wait,
        &endpoint,
        &endpoint_done,
        &subnets,
        &subnets_done,
        &groups,
        &groups_done,
        &logging,
        &logging_done,
        &describe,
    ]);
    let got = p
        .update(
            &mock_ctx("eks_cluster.main", "tok"),
            &recorded_cluster(&old),
            &new,
        )
        .await
        .expect("update");
    assert_eq!(got.inputs, new, "read after update equals what was applied");
    assert_eq!(version_wait.num_calls(), 3);
    for rule in [&endpoint, &subnets, &groups, &logging, &describe] {
        assert_eq!(rule.num_calls(), 1);
    }
    assert_eq!(
        got.outputs.get("cluster_security_group_id"),
        Some(&Value::from("sg-cluster"))
    );
}

#[tokio::test(start_paused = true)]
async fn failed_and_cancelled_updates_report_their_errors() {
    for (status, expected) in [
        (UpdateStatus::Failed, "failed"),
        (UpdateStatus::Cancelled, "was cancelled"),
    ] {
        let old = inputs(cluster_spec());
        let mut spec = cluster_spec();
        spec["version"] = "1.31".into();
        let version = mock!(Client::update_cluster_version).then_output(|| {
            UpdateClusterVersionOutput::builder()
                .update(update("u-1", UpdateStatus::InProgress))
                .build()
        });
        let status_now = status.clone();
        let wait = mock!(Client::describe_update).then_output(move || {
            DescribeUpdateOutput::builder()
                .update(
                    Update::builder()
                        .id("u-1")
                        .status(status_now.clone())
                        .r#type(aws_sdk_eks::types::UpdateType::VersionUpdate)
                        .errors(
                            ErrorDetail::builder()
                                .error_code(ErrorCode::SubnetNotFound)
                                .error_message("subnet-x does not exist")
                                .resource_ids("subnet-x")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
        let p = cluster_provider(&[&version, &wait]);
        let err = p
            .update(
                &mock_ctx("eks_cluster.main", "tok"),
                &recorded_cluster(&old),
                &inputs(spec),
            )
            .await
            .expect_err("the update did not succeed");
        assert_eq!(err.kind, ErrorKind::Failed, "{err}");
        for part in [
            "update u-1 (VersionUpdate) of EKS cluster `airflow`",
            expected,
            "SubnetNotFound: subnet-x does not exist (resources: subnet-x)",
        ] {
            assert!(err.message.contains(part), "{part:?} in {err}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn without_describe_update_the_waiter_polls_the_cluster() {
    // An emulator: the update has an id but DescribeUpdate is a 404 with
    // no AWS error code (moto's answer to an unknown route).
    let old = inputs(cluster_spec());
    let mut spec = cluster_spec();
    spec["version"] = "1.31".into();
    let new = inputs(spec);
    let version = mock!(Client::update_cluster_version).then_output(|| {
        UpdateClusterVersionOutput::builder()
            .update(update("u-1", UpdateStatus::InProgress))
            .build()
    });
    let missing = mock!(Client::describe_update).then_http_response(|| {
        HttpResponse::new(
            StatusCode::try_from(404).unwrap_or_else(|_| unreachable!()),
            SdkBody::from("<html><title>404 Not Found</title></html>"),
        )
    });
    let (updating, active) = (new.clone(), new.clone());
    let polled = mock!(Client::describe_cluster)
        .sequence()
        .output(move || describe_cluster_as(&updating, ClusterStatus::Updating))
        .output(move || describe_cluster_as(&active, ClusterStatus::Active))
        .build();
    let spec_after = new.clone();
    let last = mock!(Client::describe_cluster)
        .then_output(move || describe_cluster_as(&spec_after, ClusterStatus::Active));
    let p = cluster_provider(&[&version, &missing, &polled, &last]);
    let got = p
        .update(
            &mock_ctx("eks_cluster.main", "tok"),
            &recorded_cluster(&old),
            &new,
        )
        .await
        .expect("update");
    assert_eq!(got.inputs, new);
    assert_eq!(polled.num_calls(), 2);

    // No update in the answer at all (moto's UpdateClusterConfig).
    let mut spec = cluster_spec();
    spec["enabled_log_types"] = serde_json::json!(["audit"]);
    let new = inputs(spec);
    let config = mock!(Client::update_cluster_config)
        .then_output(|| UpdateClusterConfigOutput::builder().build());
    let (updating, active, after) = (new.clone(), new.clone(), new.clone());
    let polled = mock!(Client::describe_cluster)
        .sequence()
        .output(move || describe_cluster_as(&updating, ClusterStatus::Updating))
        .output(move || describe_cluster_as(&active, ClusterStatus::Active))
        .output(move || describe_cluster_as(&after, ClusterStatus::Active))
        .build();
    let p = cluster_provider(&[&config, &polled]);
    let got = p
        .update(
            &mock_ctx("eks_cluster.main", "tok"),
            &recorded_cluster(&old),
            &new,
        )
        .await
        .expect("update");
    assert_eq!(got.inputs, new);
    assert_eq!(polled.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn cluster_create_waits_out_iam_propagation_and_leaves_throttling_to_the_engine() {
    let spec = inputs(cluster_spec());
    let create = mock!(Client::create_cluster)
        .match_requests(|r| {
            r.client_request_token() == Some("tok")
                && r.name() == Some(NAME)
                && r.version() == Some("1.30")
                && r.logging().is_some()
        })
        .sequence()
        .http_response(throttled)
        .times(2)
        .error(|| {
            CreateClusterError::InvalidParameterException(
                InvalidParameterException::builder()
                    .meta(meta(
                        "InvalidParameterException",
                        "Role with arn: arn:aws:iam::123456789012:role/eks-cluster, does not exist",
                    ))
                    .build(),
            )
        })
        .output(|| CreateClusterOutput::builder().build())
        .build();
    let (creating, active) = (spec.clone(), spec.clone());
    let describe = mock!(Client::describe_cluster)
        .sequence()
        .http_response(throttled)
        .output(move || describe_cluster_as(&creating, ClusterStatus::Creating))
        .output(move || describe_cluster_as(&active, ClusterStatus::Active))
        .build();
    let p = cluster_provider(&[&create, &describe]);
    let ctx = mock_ctx("eks_cluster.main", "tok");
    let (got, retried) = as_the_engine_retries(|| p.create(&ctx, &spec)).await;
    assert_eq!(got.expect("create").inputs, spec);
    // Throttled twice (the engine retries), then the role is still
    // propagating (the create waits that out itself); the wait for ACTIVE
    // looks past the throttled DescribeCluster.
    assert_eq!(retried, [ErrorKind::Throttled, ErrorKind::Throttled]);
    assert_eq!(create.num_calls(), 4);
    assert_eq!(describe.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_role_that_never_becomes_assumable_fails_after_the_propagation_window() {
    let spec = inputs(cluster_spec());
    let create = mock!(Client::create_cluster)
        .sequence()
        .error(|| {
            CreateClusterError::InvalidParameterException(
                InvalidParameterException::builder()
                    .meta(meta(
                        "InvalidParameterException",
                        "Role could not be assumed because the trusted entity is not correct",
                    ))
                    .build(),
            )
        })
        .repeatedly()
        .build();
    let p = cluster_provider(&[&create]);
    let started = tokio::time::Instant::now();
    let err = p
        .create(&mock_ctx("eks_cluster.main", "tok"), &spec)
        .await
        .expect_err("never settles");
    let waited = started.elapsed();
    assert!(waited <= Duration::from_secs(120), "bounded: {waited:?}");
    assert!(
        waited >= Duration::from_secs(60),
        "waited it out: {waited:?}"
    );
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("to be assumable by EKS"), "{err}");
    assert!(
        create.num_calls() > 3,
        "looked again: {}",
        create.num_calls()
    );
}

#[tokio::test(start_paused = true)]
async fn cluster_create_reports_failed_with_health_issues() {
    let spec = inputs(cluster_spec());
    let create =
        mock!(Client::create_cluster).then_output(|| CreateClusterOutput::builder().build());
    let failed = spec.clone();
    let describe = mock!(Client::describe_cluster).then_output(move || {
        let mut c = cluster_like(&failed, ClusterStatus::Failed);
        c.health = Some(
            ClusterHealth::builder()
                .issues(
                    ClusterIssue::builder()
                        .code(ClusterIssueCode::Ec2SubnetNotFound)
                        .message("subnet-a was deleted")
                        .build(),
                )
                .build(),
        );
        DescribeClusterOutput::builder().cluster(c).build()
    });
    let p = cluster_provider(&[&create, &describe]);
    let err = p
        .create(&mock_ctx("eks_cluster.main", "tok"), &spec)
        .await
        .expect_err("FAILED");
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(
        err.message
            .contains("Ec2SubnetNotFound: subnet-a was deleted"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn cluster_delete_retries_an_update_in_progress() {
    let delete = mock!(Client::delete_cluster)
        .sequence()
        .error(|| {
            DeleteClusterError::ResourceInUseException(
                ResourceInUseException::builder()
                    .meta(meta(
                        "ResourceInUseException",
                        "Cannot delete because cluster airflow currently has an update in progress",
                    ))
                    .build(),
            )
        })
        .times(2)
        .output(|| DeleteClusterOutput::builder().build())
        .build();
    let deleting = inputs(cluster_spec());
    let describe = mock!(Client::describe_cluster)
        .sequence()
        .output(move || describe_cluster_as(&deleting, ClusterStatus::Deleting))
        .error(|| {
            DescribeClusterError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .meta(meta(
                        "ResourceNotFoundException",
                        "No cluster found for name: airflow.",
                    ))
                    .build(),
            )
        })
        .build();
    let p = cluster_provider(&[&delete, &describe]);
    let (ctx, recorded) = (
        mock_ctx("eks_cluster.main", "tok"),
        recorded_cluster(&inputs(cluster_spec())),
    );
    let (got, retried) = as_the_engine_retries(|| p.delete(&ctx, &recorded)).await;
    got.expect("delete");
    assert_eq!(retried, [ErrorKind::Transient, ErrorKind::Transient]);
    assert_eq!(delete.num_calls(), 3);
    assert_eq!(describe.num_calls(), 2);
}

/// The cluster for `spec`, reporting its authentication mode as `mode`.
fn cluster_in_mode(spec: &Value, mode: AuthenticationMode) -> DescribeClusterOutput {
    let mut c = cluster_like(spec, ClusterStatus::Active);
    // EKS does not report bootstrap_cluster_creator_admin_permissions.
    let access = AccessConfigResponse::builder().authentication_mode(mode);
    c.access_config = Some(access.build());
    DescribeClusterOutput::builder().cluster(c).build()
}

#[tokio::test(start_paused = true)]
async fn an_authentication_mode_change_is_one_access_config_update() {
    let mut spec = cluster_spec();
    spec["access_config"] = serde_json::json!({
        "authentication_mode": "CONFIG_MAP",
        "bootstrap_cluster_creator_admin_permissions": true,
    });
    let old = inputs(spec.clone());
    spec["access_config"]["authentication_mode"] = "API_AND_CONFIG_MAP".into();
    let new = inputs(spec);
    let before = old.clone();
    let now = mock!(Client::describe_cluster)
        .then_output(move || cluster_in_mode(&before, AuthenticationMode::ConfigMap));
    let config = mock!(Client::update_cluster_config)
        .match_requests(|r| {
            r.name() == Some(NAME)
                && r.access_config().and_then(|a| a.authentication_mode())
                    == Some(&AuthenticationMode::ApiAndConfigMap)
                && r.resources_vpc_config().is_none()
                && r.logging().is_none()
                && r.upgrade_policy().is_none()
                && r.client_request_token() == Some("tok-access-config")
        })
        .then_output(|| {
            UpdateClusterConfigOutput::builder()
                .update(update("u-access", UpdateStatus::InProgress))
                .build()
        });
    let wait = mock!(Client::describe_update)
        .match_requests(|r| r.name() == Some(NAME) && r.update_id() == Some("u-access"))
        .then_output(|| describe_update(UpdateStatus::Successful));
    let after = new.clone();
    let last = mock!(Client::describe_cluster)
        .then_output(move || cluster_in_mode(&after, AuthenticationMode::ApiAndConfigMap));
    let p = cluster_provider(&[&now, &config, &wait, &last]);
    let got = p
        .update(
            &mock_ctx("eks_cluster.main", "tok"),
            &recorded_cluster(&old),
            &new,
        )
        .await
        .expect("update");
    assert_eq!(config.num_calls(), 1);
    // The mode as EKS reports it; the bootstrap flag, which EKS does not
    // report, as applied.
    assert_eq!(got.inputs, new);
}

/// EKS moves one step per update: CONFIG_MAP -> API goes through
/// API_AND_CONFIG_MAP, each step waited for.
#[tokio::test(start_paused = true)]
async fn config_map_to_api_is_two_updates_in_order() {
    let mut spec = cluster_spec();
    spec["access_config"] = serde_json::json!({
        "authentication_mode": "CONFIG_MAP",
        "bootstrap_cluster_creator_admin_permissions": true,
    });
    let old = inputs(spec.clone());
    spec["access_config"]["authentication_mode"] = "API".into();
    let new = inputs(spec);
    let before = old.clone();
    let now = mock!(Client::describe_cluster)
        .then_output(move || cluster_in_mode(&before, AuthenticationMode::ConfigMap));
    let step = |mode: AuthenticationMode, token: &'static str, id: &'static str| {
        mock!(Client::update_cluster_config)
            .match_requests(move |r| {
                r.access_config().and_then(|a| a.authentication_mode()) == Some(&mode)
                    && r.client_request_token() == Some(token)
            })
            .then_output(move || {
                UpdateClusterConfigOutput::builder()
                    .update(update(id, UpdateStatus::InProgress))
                    .build()
            })
    };
    let first = step(
        AuthenticationMode::ApiAndConfigMap,
        "tok-access-config-step",
        "u-1",
    );
    let wait_first = mock!(Client::describe_update)
        .match_requests(|r| r.update_id() == Some("u-1"))
        .then_output(|| describe_update(UpdateStatus::Successful));
    let second = step(AuthenticationMode::Api, "tok-access-config", "u-2");
    let wait_second = mock!(Client::describe_update)
        .match_requests(|r| r.update_id() == Some("u-2"))
        .then_output(|| describe_update(UpdateStatus::Successful));
    let after = new.clone();
    let last = mock!(Client::describe_cluster)
        .then_output(move || cluster_in_mode(&after, AuthenticationMode::Api));
    let p = cluster_provider(&[&now, &first, &wait_first, &second, &wait_second, &last]);
    p.update(
        &mock_ctx("eks_cluster.main", "tok"),
        &recorded_cluster(&old),
        &new,
    )
    .await
    .expect("update");
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    assert_eq!((wait_first.num_calls(), wait_second.num_calls()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn an_authentication_mode_cannot_go_back() {
    let mut spec = cluster_spec();
    spec["access_config"] = serde_json::json!({
        "authentication_mode": "API",
        "bootstrap_cluster_creator_admin_permissions": true,
    });
    let old = inputs(spec.clone());
    spec["access_config"]["authentication_mode"] = "CONFIG_MAP".into();
    spec["version"] = "1.31".into();
    let new = inputs(spec);
    let before = old.clone();
    let now = mock!(Client::describe_cluster)
        .then_output(move || cluster_in_mode(&before, AuthenticationMode::Api));
    // Nothing else: no update of any kind may start.
    let p = cluster_provider(&[&now]);
    let err = p
        .update(
            &mock_ctx("eks_cluster.main", "tok"),
            &recorded_cluster(&old),
            &new,
        )
        .await
        .expect_err("EKS cannot go back to CONFIG_MAP");
    assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
    for part in [
        "`eks_cluster.main` (EKS cluster `airflow`): `access_config.authentication_mode` cannot go from API back to CONFIG_MAP",
        "keep authentication_mode = \"API\"",
        "replace the cluster",
    ] {
        assert!(err.message.contains(part), "{part:?} in {err}");
    }
    assert_eq!(now.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_upgrade_policy_change_is_its_own_update() {
    let old = inputs(cluster_spec());
    let mut spec = cluster_spec();
    spec["upgrade_policy"] = serde_json::json!({"support_type": "STANDARD"});
    let new = inputs(spec);
    let config = mock!(Client::update_cluster_config)
        .match_requests(|r| {
            r.upgrade_policy().and_then(|u| u.support_type()) == Some(&SupportType::Standard)
                && r.access_config().is_none()
                && r.resources_vpc_config().is_none()
                && r.client_request_token() == Some("tok-upgrade-policy")
        })
        .then_output(|| {
            UpdateClusterConfigOutput::builder()
                .update(update("u-policy", UpdateStatus::InProgress))
                .build()
        });
    let wait = mock!(Client::describe_update)
        .match_requests(|r| r.update_id() == Some("u-policy"))
        .then_output(|| describe_update(UpdateStatus::Successful));
    let after = new.clone();
    let last = mock!(Client::describe_cluster).then_output(move || {
        let mut c = cluster_like(&after, ClusterStatus::Active);
        let policy = UpgradePolicyResponse::builder().support_type(SupportType::Standard);
        c.upgrade_policy = Some(policy.build());
        DescribeClusterOutput::builder().cluster(c).build()
    });
    let p = cluster_provider(&[&config, &wait, &last]);
    let got = p
        .update(
            &mock_ctx("eks_cluster.main", "tok"),
            &recorded_cluster(&old),
            &new,
        )
        .await
        .expect("update");
    assert_eq!(got.inputs, new);
    assert_eq!(config.num_calls(), 1);
}

// ---- node groups ----

fn ng_spec() -> serde_json::Value {
    let mut spec = node_group_inputs(NAME, "workers");
    spec["version"] = "1.30".into();
    spec["labels"] = serde_json::json!({"a": "1", "b": "2"});
    spec["taints"] = serde_json::json!([{"key": "k1", "value": "v1", "effect": "NO_SCHEDULE"}]);
    spec["tags"] = serde_json::json!({"a": "1", "b": "2"});
    spec
}

/// What EKS would report for the node group inputs `spec`.
fn node_group_like(spec: &Value, status: NodegroupStatus) -> Nodegroup {
    let strings = |k: &str| {
        spec.get(k).and_then(Value::as_list).map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
    };
    let map = |k: &str| {
        spec.get(k).and_then(Value::as_map).map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect::<HashMap<_, _>>()
        })
    };
    let count = |k: &str| {
        spec.get("scaling")
            .and_then(|s| s.get(k))
            .and_then(Value::as_int)
            .and_then(|v| i32::try_from(v).ok())
    };
    let taints: Vec<Taint> = spec
        .get("taints")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let text = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_owned);
            Taint::builder()
                .set_key(text("key"))
                .set_value(text("value"))
                .set_effect(text("effect").map(|e| TaintEffect::from(e.as_str())))
                .build()
        })
        .collect();
    Nodegroup::builder()
        .cluster_name(NAME)
        .nodegroup_name("workers")
        .nodegroup_arn(NG_ARN)
        .status(status)
        .node_role(NODE_ROLE)
        .set_subnets(strings("subnet_ids"))
        .set_instance_types(strings("instance_types"))
        .capacity_type(aws_sdk_eks::types::CapacityTypes::OnDemand)
        .set_disk_size(
            spec.get("disk_size")
                .and_then(Value::as_int)
                .and_then(|d| i32::try_from(d).ok()),
        )
        .set_version(
            spec.get("version")
                .and_then(Value::as_str)
                .map(str::to_owned),
        )
        .scaling_config(
            NodegroupScalingConfig::builder()
                .set_min_size(count("min"))
                .set_max_size(count("max"))
                .set_desired_size(count("desired"))
                .build(),
        )
        .set_labels(map("labels"))
        .set_taints(Some(taints))
        .set_tags(map("tags"))
        .resources(
            NodegroupResources::builder()
                .auto_scaling_groups(AutoScalingGroup::builder().name("eks-workers-abc").build())
                .build(),
        )
        .build()
}

fn describe_ng_as(spec: &Value, status: NodegroupStatus) -> DescribeNodegroupOutput {
    DescribeNodegroupOutput::builder()
        .nodegroup(node_group_like(spec, status))
        .build()
}

fn recorded_ng(spec: &Value) -> Existing {
    Existing {
        id: format!("{NAME}:workers"),
        inputs: spec.clone(),
        outputs: Value::map(),
    }
}

#[tokio::test(start_paused = true)]
async fn node_group_version_goes_before_one_config_update_with_diffs() {
    let old = inputs(ng_spec());
    let mut spec = ng_spec();
    spec["version"] = "1.31".into();
    spec["scaling"] = serde_json::json!({"min": 2, "max": 5, "desired": 3});
    spec["labels"] = serde_json::json!({"a": "1", "c": "3"});
    spec["taints"] = serde_json::json!([{"key": "k2", "effect": "NO_EXECUTE"}]);
    let new = inputs(spec);

    let version = mock!(Client::update_nodegroup_version)
        .match_requests(|r| {
            r.cluster_name() == Some(NAME)
                && r.nodegroup_name() == Some("workers")
                && r.version() == Some("1.31")
                && r.client_request_token() == Some("tok-version")
        })
        .then_output(|| {
            UpdateNodegroupVersionOutput::builder()
                .update(update("u-version", UpdateStatus::InProgress))
                .build()
        });
    let version_wait = mock!(Client::describe_update)
        .match_requests(|r| {
            r.name() == Some(NAME)
                && r.nodegroup_name() == Some("workers")
                && r.update_id() == Some("u-version")
        })
        .sequence()
        .output(|| describe_update(UpdateStatus::InProgress))
        .output(|| describe_update(UpdateStatus::Successful))
        .build();
    let current = old.clone();
    let describe_now = mock!(Client::describe_nodegroup)
        .then_output(move || describe_ng_as(&current, NodegroupStatus::Active));
    let config = mock!(Client::update_nodegroup_config)
        .match_requests(|r| {
            let labels = r.labels();
            let taints = r.taints();
            let scaling = r.scaling_config();
            r.client_request_token() == Some("tok-config")
                && labels.is_some_and(|l| {
                    l.add_or_update_labels()
                        == Some(&HashMap::from([("c".to_owned(), "3".to_owned())]))
                        && l.remove_labels() == ["b"]
                })
                && taints.is_some_and(|t| {
                    t.add_or_update_taints().len() == 1
                        && t.add_or_update_taints()[0].key() == Some("k2")
                        && t.add_or_update_taints()[0].value().is_none()
                        && t.remove_taints().len() == 1
                        && t.remove_taints()[0].key() == Some("k1")
                })
                && scaling.is_some_and(|s| {
                    (s.min_size(), s.max_size(), s.desired_size()) == (Some(2), Some(5), Some(3))
                })
                && r.update_config().is_none()
        })
        .then_output(|| {
            UpdateNodegroupConfigOutput::builder()
                .update(update("u-config", UpdateStatus::InProgress))
                .build()
        });
    let config_wait = mock!(Client::describe_update)
        .match_requests(|r| {
            r.update_id() == Some("u-config") && r.nodegroup_name() == Some("workers")
        })
        .then_output(|| describe_update(UpdateStatus::Successful));
    let after = new.clone();
    let describe_after = mock!(Client::describe_nodegroup)
        .then_output(move || describe_ng_as(&after, NodegroupStatus::Active));

    let p = node_group_provider(&[
        &version,
        &version_wait,
        &describe_now,
        &config,
        &config_wait,
        &describe_after,
    ]);
    let got = p
        .update(
            &mock_ctx("eks_node_group.workers", "tok"),
            &recorded_ng(&old),
            &new,
        )
        .await
        .expect("update");
    assert_eq!(got.inputs, new);
    assert_eq!(config.num_calls(), 1);
    assert_eq!(
        got.outputs.get("autoscaling_groups"),
        Some(&Value::List(vec!["eks-workers-abc".into()]))
    );
}

#[tokio::test(start_paused = true)]
async fn node_group_tags_change_through_tag_and_untag() {
    // moto tags clusters only; node group tags are covered here.
    let old = inputs(ng_spec());
    let mut spec = ng_spec();
    spec["tags"] = serde_json::json!({"a": "1", "c": "3"});
    let new = inputs(spec);
    let current = old.clone();
    let describe_now = mock!(Client::describe_nodegroup)
        .then_output(move || describe_ng_as(&current, NodegroupStatus::Active));
    let untag = mock!(Client::untag_resource)
        .match_requests(|r| r.resource_arn() == Some(NG_ARN) && r.tag_keys() == ["b"])
        .then_output(|| UntagResourceOutput::builder().build());
    let tag = mock!(Client::tag_resource)
        .match_requests(|r| {
            r.resource_arn() == Some(NG_ARN)
                && r.tags() == Some(&HashMap::from([("c".to_owned(), "3".to_owned())]))
        })
        .then_output(|| TagResourceOutput::builder().build());
    let after = new.clone();
    let describe_after = mock!(Client::describe_nodegroup)
        .then_output(move || describe_ng_as(&after, NodegroupStatus::Active));
    let p = node_group_provider(&[&describe_now, &untag, &tag, &describe_after]);
    let got = p
        .update(
            &mock_ctx("eks_node_group.workers", "tok"),
            &recorded_ng(&old),
            &new,
        )
        .await
        .expect("update");
    assert_eq!(got.inputs, new);
    assert_eq!((untag.num_calls(), tag.num_calls()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn node_group_create_reports_degraded_and_create_failed_with_health_issues() {
    for status in [NodegroupStatus::Degraded, NodegroupStatus::CreateFailed] {
        let spec = inputs(ng_spec());
        let create = mock!(Client::create_nodegroup)
            .match_requests(|r| {
                r.client_request_token() == Some("tok")
                    && r.labels().is_some_and(|l| l.len() == 2)
                    && r.taints().len() == 1
                    && r.scaling_config().and_then(|s| s.desired_size()) == Some(2)
            })
            .then_output(|| CreateNodegroupOutput::builder().build());
        let (creating, broken) = (spec.clone(), spec.clone());
        let status_now = status.clone();
        let describe = mock!(Client::describe_nodegroup)
            .sequence()
            .output(move || describe_ng_as(&creating, NodegroupStatus::Creating))
            .output(move || {
                let mut ng = node_group_like(&broken, status_now.clone());
                ng.health = Some(
                    NodegroupHealth::builder()
                        .issues(
                            Issue::builder()
                                .code(NodegroupIssueCode::AsgInstanceLaunchFailures)
                                .message("Could not launch On-Demand Instances. InsufficientInstanceCapacity")
                                .resource_ids("eks-workers-abc")
                                .build(),
                        )
                        .build(),
                );
                DescribeNodegroupOutput::builder().nodegroup(ng).build()
            })
            .build();
        let p = node_group_provider(&[&create, &describe]);
        let err = p
            .create(&mock_ctx("eks_node_group.workers", "tok"), &spec)
            .await
            .expect_err("not healthy");
        assert_eq!(err.kind, ErrorKind::Failed, "{err}");
        for part in [
            status.as_str(),
            "AsgInstanceLaunchFailures: Could not launch On-Demand Instances",
            "(resources: eks-workers-abc)",
        ] {
            assert!(err.message.contains(part), "{part:?} in {err}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn node_group_create_retries_while_the_cluster_is_updating() {
    let spec = inputs(ng_spec());
    let create = mock!(Client::create_nodegroup)
        .sequence()
        .error(|| {
            CreateNodegroupError::InvalidRequestException(
                InvalidRequestException::builder()
                    .meta(meta(
                        "InvalidRequestException",
                        "Nodegroup cannot be created given the state of the cluster",
                    ))
                    .build(),
            )
        })
        .http_response(throttled)
        .output(|| CreateNodegroupOutput::builder().build())
        .build();
    let active = spec.clone();
    let describe = mock!(Client::describe_nodegroup)
        .then_output(move || describe_ng_as(&active, NodegroupStatus::Active));
    let p = node_group_provider(&[&create, &describe]);
    let ctx = mock_ctx("eks_node_group.workers", "tok");
    let (got, retried) = as_the_engine_retries(|| p.create(&ctx, &spec)).await;
    assert_eq!(got.expect("create").inputs, spec);
    assert_eq!(retried, [ErrorKind::Transient, ErrorKind::Throttled]);
    assert_eq!(create.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn node_group_delete_reports_delete_failed() {
    let spec = inputs(ng_spec());
    let delete =
        mock!(Client::delete_nodegroup).then_output(|| DeleteNodegroupOutput::builder().build());
    let (deleting, failed) = (spec.clone(), spec.clone());
    let describe = mock!(Client::describe_nodegroup)
        .sequence()
        .output(move || describe_ng_as(&deleting, NodegroupStatus::Deleting))
        .output(move || {
            let mut ng = node_group_like(&failed, NodegroupStatus::DeleteFailed);
            ng.health = Some(
                NodegroupHealth::builder()
                    .issues(
                        Issue::builder()
                            .code(NodegroupIssueCode::Ec2SecurityGroupDeletionFailure)
                            .message("security group sg-1 has a dependent object")
                            .build(),
                    )
                    .build(),
            );
            DescribeNodegroupOutput::builder().nodegroup(ng).build()
        })
        .build();
    let p = node_group_provider(&[&delete, &describe]);
    let err = p
        .delete(
            &mock_ctx("eks_node_group.workers", "tok"),
            &recorded_ng(&spec),
        )
        .await
        .expect_err("DELETE_FAILED");
    assert_eq!(err.kind, ErrorKind::Failed, "{err}");
    assert!(err.message.contains("DELETE_FAILED"), "{err}");
    assert!(
        err.message.contains(
            "Ec2SecurityGroupDeletionFailure: security group sg-1 has a dependent object"
        ),
        "{err}"
    );
}
