//! `eks_addon` and `eks_access_entry` with mocked SDK responses
//! (aws-smithy-mocks): moto (5.1.22) implements none of the EKS add-on APIs
//! (CreateAddon, DescribeAddon, DescribeAddonVersions, UpdateAddon,
//! DeleteAddon) nor the access entry ones (CreateAccessEntry,
//! AssociateAccessPolicy, ListAssociatedAccessPolicies, ...), so these types
//! cannot run against the emulator.
//!
//! Rules run in `RuleMode::Sequential`, so each test also asserts the order
//! of the calls, and a call nobody expected fails it. Tests run on tokio's
//! paused clock: waits cost nothing.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_eks::Client;
use aws_sdk_eks::operation::associate_access_policy::AssociateAccessPolicyOutput;
use aws_sdk_eks::operation::create_access_entry::{
    CreateAccessEntryError, CreateAccessEntryOutput,
};
use aws_sdk_eks::operation::create_addon::CreateAddonOutput;
use aws_sdk_eks::operation::delete_access_entry::DeleteAccessEntryError;
use aws_sdk_eks::operation::delete_addon::{DeleteAddonError, DeleteAddonOutput};
use aws_sdk_eks::operation::describe_access_entry::{
    DescribeAccessEntryError, DescribeAccessEntryOutput,
};
use aws_sdk_eks::operation::describe_addon::{DescribeAddonError, DescribeAddonOutput};
use aws_sdk_eks::operation::describe_addon_versions::DescribeAddonVersionsOutput;
use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::disassociate_access_policy::DisassociateAccessPolicyOutput;
use aws_sdk_eks::operation::list_associated_access_policies::ListAssociatedAccessPoliciesOutput;
use aws_sdk_eks::operation::tag_resource::TagResourceOutput;
use aws_sdk_eks::operation::update_access_entry::UpdateAccessEntryOutput;
use aws_sdk_eks::operation::update_addon::UpdateAddonOutput;
use aws_sdk_eks::types::error::{InvalidRequestException, ResourceNotFoundException};
use aws_sdk_eks::types::{
    AccessEntry, AccessScope, AccessScopeType, Addon, AddonHealth, AddonInfo, AddonIssue,
    AddonIssueCode, AddonStatus, AddonVersionInfo, AssociatedAccessPolicy, Cluster, ClusterStatus,
    Compatibility, ResolveConflicts, Update, UpdateStatus,
};
use aws_smithy_mocks::{Rule, mock};
use infra_aws::AwsContext;
use infra_core::{ErrorKind, Existing, Provider, Typed, Value, display_path};
use infra_eks::{EksAccessEntry, EksAddon};
use support::*;

const CLUSTER: &str = "airflow";
const ADDON_ARN: &str = "arn:aws:eks:us-east-1:123456789012:addon/airflow/vpc-cni/abc";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/vpc-cni";
const PRINCIPAL: &str = "arn:aws:iam::123456789012:role/platform-admins";
const ENTRY_ARN: &str =
    "arn:aws:eks:us-east-1:123456789012:access-entry/airflow/role/123456789012/platform-admins/abc";
const POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/";
/// The username EKS picks for an IAM role.
const USERNAME: &str = "arn:aws:sts::123456789012:assumed-role/platform-admins/{{SessionName}}";

fn addon_provider(rules: &[&Rule]) -> Typed<EksAddon> {
    Typed::new(EksAddon::with_client(AwsContext::new(), client(rules)))
}

fn entry_provider(rules: &[&Rule]) -> Typed<EksAccessEntry> {
    Typed::new(EksAccessEntry::with_client(
        AwsContext::new(),
        client(rules),
    ))
}

fn not_found() -> ResourceNotFoundException {
    ResourceNotFoundException::builder()
        .meta(meta(
            "ResourceNotFoundException",
            "No addon: vpc-cni found in cluster: airflow",
        ))
        .build()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text} is not JSON: {e}"))
}

// ---- add-ons ----

/// Add-on inputs with the schema's defaults filled in, as the planner does.
fn addon_spec() -> serde_json::Value {
    serde_json::json!({
        "cluster": CLUSTER,
        "name": "vpc-cni",
        "configuration_values": {"env": {"WARM_IP_TARGET": "5", "ENABLE_PREFIX_DELEGATION": "true"}},
        "service_account_role_arn": ROLE_ARN,
        "resolve_conflicts": "OVERWRITE",
        "tags": {"team": "data"},
    })
}

/// What EKS would report for the add-on inputs `spec` at `version`, its
/// configuration as `config` (JSON text).
fn addon_like(spec: &Value, status: AddonStatus, version: &str, config: Option<&str>) -> Addon {
    let text = |k: &str| spec.get(k).and_then(Value::as_str).map(str::to_owned);
    let tags = spec.get("tags").and_then(Value::as_map).map(|m| {
        m.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect::<HashMap<_, _>>()
    });
    Addon::builder()
        .cluster_name(CLUSTER)
        .set_addon_name(text("name"))
        .addon_arn(ADDON_ARN)
        .status(status)
        .addon_version(version)
        .set_service_account_role_arn(text("service_account_role_arn"))
        .set_configuration_values(config.map(str::to_owned))
        .set_tags(tags)
        .build()
}

fn describe_addon(addon: Addon) -> DescribeAddonOutput {
    DescribeAddonOutput::builder().addon(addon).build()
}

fn recorded(id: &str, inputs: &Value) -> Existing {
    Existing {
        id: id.to_owned(),
        inputs: inputs.clone(),
        outputs: Value::map(),
    }
}

/// A configuration as EKS might echo it: other key order, other spacing.
const CONFIG_ECHO: &str =
    "{\n  \"env\": { \"ENABLE_PREFIX_DELEGATION\": \"true\",\n \"WARM_IP_TARGET\": \"5\" } }";

#[tokio::test(start_paused = true)]
async fn addon_create_resolves_the_default_version_and_waits_for_active() {
    let mut spec = addon_spec();
    // PRESERVE applies to updates only: at create NONE is sent.
    spec["resolve_conflicts"] = "PRESERVE".into();
    let spec = inputs(spec);
    let cluster = mock!(Client::describe_cluster)
        .match_requests(|r| r.name() == Some(CLUSTER))
        .then_output(|| {
            let c = Cluster::builder()
                .name(CLUSTER)
                .version("1.31")
                .status(ClusterStatus::Active)
                .build();
            DescribeClusterOutput::builder().cluster(c).build()
        });
    let versions = mock!(Client::describe_addon_versions)
        .match_requests(|r| {
            r.addon_name() == Some("vpc-cni") && r.kubernetes_version() == Some("1.31")
        })
        .then_output(|| {
            let version = |v: &str, default: bool| {
                AddonVersionInfo::builder()
                    .addon_version(v)
                    .compatibilities(
                        Compatibility::builder()
                            .cluster_version("1.31")
                            .default_version(default)
                            .build(),
                    )
                    .build()
            };
            let info = AddonInfo::builder()
                .addon_name("vpc-cni")
                .addon_versions(version("v1.19.2-eksbuild.1", false))
                .addon_versions(version("v1.18.5-eksbuild.1", true))
                .build();
            DescribeAddonVersionsOutput::builder().addons(info).build()
        });
    let create = mock!(Client::create_addon)
        .match_requests(|r| {
            let config = r.configuration_values().map(json);
            r.cluster_name() == Some(CLUSTER)
                && r.addon_name() == Some("vpc-cni")
                && r.addon_version() == Some("v1.18.5-eksbuild.1")
                && r.client_request_token() == Some("tok")
                && r.resolve_conflicts() == Some(&ResolveConflicts::None)
                && r.service_account_role_arn() == Some(ROLE_ARN)
                && r.tags().is_some_and(|t| t.get("team").map(String::as_str) == Some("data"))
                && config
                    == Some(serde_json::json!({"env": {"WARM_IP_TARGET": "5", "ENABLE_PREFIX_DELEGATION": "true"}}))
        })
        .then_output(|| CreateAddonOutput::builder().build());
    let (creating, active) = (spec.clone(), spec.clone());
    let describe = mock!(Client::describe_addon)
        .match_requests(|r| r.cluster_name() == Some(CLUSTER) && r.addon_name() == Some("vpc-cni"))
        .sequence()
        .output(move || {
            describe_addon(addon_like(
                &creating,
                AddonStatus::Creating,
                "v1.18.5-eksbuild.1",
                None,
            ))
        })
        .output(move || {
            let a = addon_like(
                &active,
                AddonStatus::Active,
                "v1.18.5-eksbuild.1",
                Some(CONFIG_ECHO),
            );
            describe_addon(a)
        })
        .build();
    let p = addon_provider(&[&cluster, &versions, &create, &describe]);
    let got = p
        .create(&mock_ctx("eks_addon.vpc_cni", "tok"), &spec)
        .await
        .expect("create");
    assert_eq!(got.id, "airflow:vpc-cni");
    assert_eq!(describe.num_calls(), 2, "waited for ACTIVE");
    // The version EKS picked is reported (and so recorded); the rest reads
    // back as applied, the configuration compared as JSON.
    let mut want = spec.clone();
    if let Value::Map(m) = &mut want {
        m.insert("version".into(), "v1.18.5-eksbuild.1".into());
    }
    assert_eq!(got.inputs, want);
    assert_eq!(got.outputs.get("arn"), Some(&Value::from(ADDON_ARN)));
    assert_eq!(got.outputs.get("status"), Some(&Value::from("ACTIVE")));
}

#[tokio::test(start_paused = true)]
async fn a_degraded_addon_fails_after_a_grace_period_naming_its_health_issues() {
    let mut spec = addon_spec();
    spec["name"] = "coredns".into();
    spec["version"] = "v1.11.3-eksbuild.1".into();
    let spec = inputs(spec);
    let create = mock!(Client::create_addon)
        .match_requests(|r| r.addon_version() == Some("v1.11.3-eksbuild.1"))
        .then_output(|| CreateAddonOutput::builder().build());
    let degraded = spec.clone();
    let describe = mock!(Client::describe_addon)
        .sequence()
        .output(move || {
            let mut a = addon_like(&degraded, AddonStatus::Degraded, "v1.11.3-eksbuild.1", None);
            a.health = Some(
                AddonHealth::builder()
                    .issues(
                        AddonIssue::builder()
                            .code(AddonIssueCode::InsufficientNumberOfReplicas)
                            .message("The add-on is unhealthy because it doesn't have the desired number of replicas.")
                            .resource_ids("coredns")
                            .build(),
                    )
                    .build(),
            );
            describe_addon(a)
        })
        .repeatedly()
        .build();
    let p = addon_provider(&[&create, &describe]);
    let started = tokio::time::Instant::now();
    let err = p
        .create(&mock_ctx("eks_addon.coredns", "tok"), &spec)
        .await
        .expect_err("DEGRADED for good");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5 * 60),
        "a grace period first: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(10 * 60),
        "not the whole timeout: {waited:?}"
    );
    assert!(
        describe.num_calls() > 3,
        "looked again: {}",
        describe.num_calls()
    );
    assert_eq!(err.kind, ErrorKind::Failed, "{err}");
    for part in [
        "`eks_addon.coredns` (EKS add-on airflow:coredns) is DEGRADED",
        "InsufficientNumberOfReplicas: The add-on is unhealthy",
        "(resources: coredns)",
        "`depends_on` on an eks_node_group",
    ] {
        assert!(err.message.contains(part), "{part:?} in {err}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_briefly_degraded_addon_is_waited_out_and_create_failed_is_an_error_at_once() {
    let mut spec = addon_spec();
    spec["version"] = "v1.18.5-eksbuild.1".into();
    let spec = inputs(spec);
    let create =
        || mock!(Client::create_addon).then_output(|| CreateAddonOutput::builder().build());
    let (first, degraded, active) = (create(), spec.clone(), spec.clone());
    let describe = mock!(Client::describe_addon)
        .sequence()
        .output(move || {
            describe_addon(addon_like(
                &degraded,
                AddonStatus::Degraded,
                "v1.18.5-eksbuild.1",
                None,
            ))
        })
        .times(3)
        .output(move || {
            let a = addon_like(
                &active,
                AddonStatus::Active,
                "v1.18.5-eksbuild.1",
                Some(CONFIG_ECHO),
            );
            describe_addon(a)
        })
        .build();
    let p = addon_provider(&[&first, &describe]);
    let got = p.create(&mock_ctx("eks_addon.vpc_cni", "tok"), &spec).await;
    assert_eq!(got.expect("DEGRADED for a while is fine").inputs, spec);
    assert_eq!(describe.num_calls(), 4);

    let (second, failed) = (create(), spec.clone());
    let describe = mock!(Client::describe_addon).then_output(move || {
        let mut a = addon_like(&failed, AddonStatus::CreateFailed, "v1.18.5-eksbuild.1", None);
        a.health = Some(
            AddonHealth::builder()
                .issues(
                    AddonIssue::builder()
                        .code(AddonIssueCode::ConfigurationConflict)
                        .message("Conflicts found when trying to apply. Will not continue due to resolve conflicts mode.")
                        .build(),
                )
                .build(),
        );
        describe_addon(a)
    });
    let p = addon_provider(&[&second, &describe]);
    let err = p
        .create(&mock_ctx("eks_addon.vpc_cni", "tok"), &spec)
        .await
        .expect_err("CREATE_FAILED");
    assert_eq!(describe.num_calls(), 1, "no waiting on a failed add-on");
    assert!(
        err.message
            .contains("is CREATE_FAILED: ConfigurationConflict: Conflicts found"),
        "{err}"
    );
}

/// Recovery after a crash finds the add-on the interrupted create made: a
/// failed one is an error, never recorded as done.
#[tokio::test(start_paused = true)]
async fn recovery_refuses_an_addon_whose_create_failed() {
    let mut spec = addon_spec();
    spec["version"] = "v1.18.5-eksbuild.1".into();
    let spec = inputs(spec);
    let failed = spec.clone();
    let describe = mock!(Client::describe_addon)
        .sequence()
        .output(move || {
            describe_addon(addon_like(
                &failed,
                AddonStatus::CreateFailed,
                "v1.18.5-eksbuild.1",
                None,
            ))
        })
        .repeatedly()
        .build();
    let p = addon_provider(&[&describe]);
    let err = p
        .find(&mock_ctx("eks_addon.vpc_cni", "tok"), &spec)
        .await
        .expect_err("a failed add-on is not found as done");
    assert!(err.message.contains("CREATE_FAILED"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn addon_update_issues_update_addon_waits_for_it_then_retags() {
    let mut old = addon_spec();
    old["version"] = "v1.18.5-eksbuild.1".into();
    let old = inputs(old);
    let mut spec = addon_spec();
    spec["version"] = "v1.19.2-eksbuild.1".into();
    spec["configuration_values"] = serde_json::json!({"env": {"WARM_IP_TARGET": "10"}});
    spec["tags"] = serde_json::json!({"team": "data", "env": "prod"});
    let new = inputs(spec);

    let update = mock!(Client::update_addon)
        .match_requests(|r| {
            r.cluster_name() == Some(CLUSTER)
                && r.addon_name() == Some("vpc-cni")
                && r.addon_version() == Some("v1.19.2-eksbuild.1")
                && r.configuration_values().map(json)
                    == Some(serde_json::json!({"env": {"WARM_IP_TARGET": "10"}}))
                // Unchanged: not sent.
                && r.service_account_role_arn().is_none()
                && r.resolve_conflicts() == Some(&ResolveConflicts::Overwrite)
                && r.client_request_token() == Some("tok-update")
        })
        .then_output(|| {
            let u = Update::builder()
                .id("u-1")
                .status(UpdateStatus::InProgress)
                .build();
            UpdateAddonOutput::builder().update(u).build()
        });
    let wait = mock!(Client::describe_update)
        .match_requests(|r| {
            r.name() == Some(CLUSTER)
                && r.addon_name() == Some("vpc-cni")
                && r.update_id() == Some("u-1")
                && r.nodegroup_name().is_none()
        })
        .sequence()
        .output(|| {
            let u = Update::builder()
                .id("u-1")
                .status(UpdateStatus::InProgress)
                .build();
            DescribeUpdateOutput::builder().update(u).build()
        })
        .output(|| {
            let u = Update::builder()
                .id("u-1")
                .status(UpdateStatus::Successful)
                .build();
            DescribeUpdateOutput::builder().update(u).build()
        })
        .build();
    let (before, after) = (old.clone(), new.clone());
    let config = r#"{"env":{"WARM_IP_TARGET":"10"}}"#;
    let describe_now = mock!(Client::describe_addon).then_output(move || {
        // Updated, but not yet retagged.
        let a = addon_like(
            &before,
            AddonStatus::Active,
            "v1.19.2-eksbuild.1",
            Some(config),
        );
        describe_addon(a)
    });
    let describe_after = mock!(Client::describe_addon).then_output(move || {
        describe_addon(addon_like(
            &after,
            AddonStatus::Active,
            "v1.19.2-eksbuild.1",
            Some(config),
        ))
    });
    let tag = mock!(Client::tag_resource)
        .match_requests(|r| {
            r.resource_arn() == Some(ADDON_ARN)
                && r.tags() == Some(&HashMap::from([("env".to_owned(), "prod".to_owned())]))
        })
        .then_output(|| TagResourceOutput::builder().build());
    let p = addon_provider(&[&update, &wait, &describe_now, &tag, &describe_after]);
    let got = p
        .update(
            &mock_ctx("eks_addon.vpc_cni", "tok"),
            &recorded("airflow:vpc-cni", &old),
            &new,
        )
        .await
        .expect("update");
    assert_eq!(got.inputs, new, "read after update equals what was applied");
    assert_eq!(
        (update.num_calls(), wait.num_calls(), tag.num_calls()),
        (1, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn reordered_configuration_values_are_no_drift() {
    let mut spec = addon_spec();
    spec["version"] = "v1.18.5-eksbuild.1".into();
    let applied = inputs(spec);
    let (same, changed) = (applied.clone(), applied.clone());
    let describe = mock!(Client::describe_addon)
        .sequence()
        .output(move || {
            let a = addon_like(
                &same,
                AddonStatus::Active,
                "v1.18.5-eksbuild.1",
                Some(CONFIG_ECHO),
            );
            describe_addon(a)
        })
        .output(move || {
            let text = r#"{"env":{"WARM_IP_TARGET":"6","ENABLE_PREFIX_DELEGATION":"true"}}"#;
            describe_addon(addon_like(
                &changed,
                AddonStatus::Active,
                "v1.18.5-eksbuild.1",
                Some(text),
            ))
        })
        .build();
    let p = addon_provider(&[&describe]);
    let ctx = mock_ctx("eks_addon.vpc_cni", "tok");
    let existing = recorded("airflow:vpc-cni", &applied);
    let read = p
        .read(&ctx, &existing)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        read.inputs, applied,
        "other key order and spacing: the same JSON"
    );
    let read = p
        .read(&ctx, &existing)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        read.inputs.at(&[
            infra_core::PathSeg::Key("configuration_values".into()),
            infra_core::PathSeg::Key("env".into()),
            infra_core::PathSeg::Key("WARM_IP_TARGET".into()),
        ]),
        Some(&Value::from("6")),
        "a changed value is drift"
    );
    assert_ne!(read.inputs, applied);
}

#[tokio::test(start_paused = true)]
async fn a_missing_addon_reads_as_gone_and_delete_waits_until_it_is() {
    let spec = inputs(addon_spec());
    let existing = recorded("airflow:vpc-cni", &spec);
    let ctx = mock_ctx("eks_addon.vpc_cni", "tok");
    let missing = mock!(Client::describe_addon)
        .sequence()
        .error(|| DescribeAddonError::ResourceNotFoundException(not_found()))
        .repeatedly()
        .build();
    let p = addon_provider(&[&missing]);
    assert_eq!(p.read(&ctx, &existing).await.expect("read"), None);
    assert_eq!(p.find(&ctx, &spec).await.expect("find"), None);

    let delete = mock!(Client::delete_addon)
        .match_requests(|r| {
            r.cluster_name() == Some(CLUSTER)
                && r.addon_name() == Some("vpc-cni")
                && r.preserve() == Some(false)
        })
        .then_output(|| DeleteAddonOutput::builder().build());
    let deleting = spec.clone();
    let describe = mock!(Client::describe_addon)
        .sequence()
        .output(move || {
            describe_addon(addon_like(
                &deleting,
                AddonStatus::Deleting,
                "v1.18.5-eksbuild.1",
                None,
            ))
        })
        .error(|| DescribeAddonError::ResourceNotFoundException(not_found()))
        .build();
    let p = addon_provider(&[&delete, &describe]);
    p.delete(&ctx, &existing).await.expect("delete");
    assert_eq!(describe.num_calls(), 2, "waited until gone");

    let gone = mock!(Client::delete_addon)
        .then_error(|| DeleteAddonError::ResourceNotFoundException(not_found()));
    let p = addon_provider(&[&gone]);
    p.delete(&ctx, &existing)
        .await
        .expect("deleting what is gone succeeds");
}

// ---- access entries ----

fn policy(name: &str, namespaces: Option<&[&str]>) -> serde_json::Value {
    match namespaces {
        None => serde_json::json!({"policy_arn": format!("{POLICY}{name}"), "scope": "cluster"}),
        Some(ns) => serde_json::json!({
            "policy_arn": format!("{POLICY}{name}"), "scope": "namespace", "namespaces": ns,
        }),
    }
}

/// Access entry inputs with the schema's defaults filled in.
fn entry_spec(policies: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({
        "cluster": CLUSTER,
        "principal_arn": PRINCIPAL,
        "type": "STANDARD",
        "kubernetes_groups": ["platform"],
        "policies": policies,
    })
}

fn entry_like(spec: &Value) -> AccessEntry {
    let groups: Vec<String> = spec
        .get("kubernetes_groups")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|g| g.as_str().map(str::to_owned))
        .collect();
    AccessEntry::builder()
        .cluster_name(CLUSTER)
        .principal_arn(PRINCIPAL)
        .access_entry_arn(ENTRY_ARN)
        .r#type("STANDARD")
        .username(USERNAME)
        .set_kubernetes_groups(Some(groups))
        .build()
}

fn describe_entry(spec: &Value) -> DescribeAccessEntryOutput {
    DescribeAccessEntryOutput::builder()
        .access_entry(entry_like(spec))
        .build()
}

/// What ListAssociatedAccessPolicies would answer for the inputs `spec`,
/// namespaces reversed (EKS keeps no order).
fn listed(spec: &Value) -> ListAssociatedAccessPoliciesOutput {
    let mut out = ListAssociatedAccessPoliciesOutput::builder()
        .cluster_name(CLUSTER)
        .principal_arn(PRINCIPAL);
    for p in spec
        .get("policies")
        .and_then(Value::as_list)
        .unwrap_or_default()
    {
        let text = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut namespaces: Vec<String> = p
            .get("namespaces")
            .and_then(Value::as_list)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect();
        namespaces.reverse();
        let scope = AccessScope::builder()
            .r#type(AccessScopeType::from(text("scope").as_str()))
            .set_namespaces(Some(namespaces))
            .build();
        out = out.associated_access_policies(
            AssociatedAccessPolicy::builder()
                .policy_arn(text("policy_arn"))
                .access_scope(scope)
                .build(),
        );
    }
    out.build()
}

fn entry_id() -> String {
    format!("{CLUSTER}:{PRINCIPAL}")
}

fn associate(name: &'static str, namespaces: &'static [&'static str]) -> Rule {
    mock!(Client::associate_access_policy)
        .match_requests(move |r| {
            let scope = r.access_scope();
            let kind = if namespaces.is_empty() {
                AccessScopeType::Cluster
            } else {
                AccessScopeType::Namespace
            };
            r.cluster_name() == Some(CLUSTER)
                && r.principal_arn() == Some(PRINCIPAL)
                && r.policy_arn() == Some(format!("{POLICY}{name}").as_str())
                && scope.and_then(|s| s.r#type()) == Some(&kind)
                && scope.is_some_and(|s| {
                    let mut got = s.namespaces().to_vec();
                    got.sort();
                    got == namespaces
                })
        })
        .then_output(|| AssociateAccessPolicyOutput::builder().build())
}

#[tokio::test(start_paused = true)]
async fn access_entry_create_associates_each_policy() {
    let spec = inputs(entry_spec(vec![
        policy("AmazonEKSClusterAdminPolicy", None),
        policy("AmazonEKSEditPolicy", Some(&["airflow", "monitoring"])),
    ]));
    let create = mock!(Client::create_access_entry)
        .match_requests(|r| {
            r.cluster_name() == Some(CLUSTER)
                && r.principal_arn() == Some(PRINCIPAL)
                && r.r#type() == Some("STANDARD")
                && r.kubernetes_groups() == ["platform"]
                && r.username().is_none()
                && r.client_request_token() == Some("tok")
        })
        .then_output(|| CreateAccessEntryOutput::builder().build());
    let admin = associate("AmazonEKSClusterAdminPolicy", &[]);
    let edit = associate("AmazonEKSEditPolicy", &["airflow", "monitoring"]);
    let (entry, policies) = (spec.clone(), spec.clone());
    let describe = mock!(Client::describe_access_entry)
        .match_requests(|r| {
            r.cluster_name() == Some(CLUSTER) && r.principal_arn() == Some(PRINCIPAL)
        })
        .then_output(move || describe_entry(&entry));
    let list = mock!(Client::list_associated_access_policies)
        .match_requests(|r| {
            r.cluster_name() == Some(CLUSTER) && r.principal_arn() == Some(PRINCIPAL)
        })
        .then_output(move || listed(&policies));
    let p = entry_provider(&[&create, &admin, &edit, &describe, &list]);
    let got = p
        .create(&mock_ctx("eks_access_entry.admins", "tok"), &spec)
        .await
        .expect("create");
    assert_eq!(got.id, entry_id());
    assert_eq!((admin.num_calls(), edit.num_calls()), (1, 1));
    // What was applied, plus the username EKS picked (computed).
    let username = USERNAME;
    let mut want = spec.clone();
    if let Value::Map(m) = &mut want {
        m.insert("username".into(), username.into());
    }
    let schema = p.schema();
    assert!(
        schema.same(&[], &got.inputs, &want),
        "{} != {want}",
        got.inputs
    );
    assert_eq!(got.outputs.get("arn"), Some(&Value::from(ENTRY_ARN)));
    assert_eq!(got.outputs.get("username"), Some(&Value::from(username)));
}

#[tokio::test(start_paused = true)]
async fn a_policy_change_associates_and_disassociates_only_the_difference() {
    let old = inputs(entry_spec(vec![
        policy("AmazonEKSClusterAdminPolicy", None),
        policy("AmazonEKSViewPolicy", Some(&["a"])),
        policy("AmazonEKSEditPolicy", None),
    ]));
    let new = inputs(entry_spec(vec![
        policy("AmazonEKSClusterAdminPolicy", None),
        policy("AmazonEKSViewPolicy", Some(&["b", "a"])),
        policy("AmazonEKSAdminPolicy", Some(&["airflow"])),
    ]));
    let current = old.clone();
    let list_now =
        mock!(Client::list_associated_access_policies).then_output(move || listed(&current));
    // Associations first (a new scope replaces the old one), removals last.
    let view = associate("AmazonEKSViewPolicy", &["a", "b"]);
    let admin = associate("AmazonEKSAdminPolicy", &["airflow"]);
    let edit = mock!(Client::disassociate_access_policy)
        .match_requests(|r| {
            r.policy_arn() == Some(format!("{POLICY}AmazonEKSEditPolicy").as_str())
                && r.principal_arn() == Some(PRINCIPAL)
        })
        .then_output(|| DisassociateAccessPolicyOutput::builder().build());
    let (entry, after) = (new.clone(), new.clone());
    let describe = mock!(Client::describe_access_entry).then_output(move || describe_entry(&entry));
    let list_after =
        mock!(Client::list_associated_access_policies).then_output(move || listed(&after));
    let p = entry_provider(&[&list_now, &view, &admin, &edit, &describe, &list_after]);
    let got = p
        .update(
            &mock_ctx("eks_access_entry.admins", "tok"),
            &recorded(&entry_id(), &old),
            &new,
        )
        .await
        .expect("update");
    assert_eq!(
        (view.num_calls(), admin.num_calls(), edit.num_calls()),
        (1, 1, 1)
    );
    let policies = |v: &Value| v.get("policies").cloned().unwrap_or(Value::Null);
    let ty = &p.schema().input("policies").expect("policies").ty;
    assert!(
        ty.same(&policies(&got.inputs), &policies(&new)),
        "{}",
        got.inputs
    );
}

#[tokio::test(start_paused = true)]
async fn removing_every_group_sends_an_empty_list() {
    // The username EKS picked is recorded (computed) and kept by the plan.
    let mut spec = entry_spec(vec![]);
    spec["username"] = USERNAME.into();
    let old = inputs(spec.clone());
    spec["kubernetes_groups"] = serde_json::json!([]);
    let new = inputs(spec);
    let update = mock!(Client::update_access_entry)
        .match_requests(|r| {
            r.kubernetes_groups.as_deref() == Some(&[][..])
                // Unchanged: not sent back as if chosen.
                && r.username().is_none()
                && r.client_request_token() == Some("tok-entry")
        })
        .then_output(|| UpdateAccessEntryOutput::builder().build());
    let (entry, after) = (new.clone(), new.clone());
    let describe = mock!(Client::describe_access_entry).then_output(move || describe_entry(&entry));
    let list = mock!(Client::list_associated_access_policies).then_output(move || listed(&after));
    let p = entry_provider(&[&update, &describe, &list]);
    let got = p
        .update(
            &mock_ctx("eks_access_entry.admins", "tok"),
            &recorded(&entry_id(), &old),
            &new,
        )
        .await
        .expect("update");
    assert_eq!(update.num_calls(), 1);
    assert_eq!(
        got.inputs.get("kubernetes_groups"),
        Some(&Value::List(Vec::new()))
    );
}

#[test]
fn namespace_scopes_are_checked_at_plan_time() {
    let p = entry_provider(&[]);
    let bad = inputs(entry_spec(vec![
        serde_json::json!({"policy_arn": format!("{POLICY}AmazonEKSEditPolicy"), "scope": "namespace"}),
        serde_json::json!({
            "policy_arn": format!("{POLICY}AmazonEKSViewPolicy"), "scope": "cluster", "namespaces": ["a"],
        }),
        serde_json::json!({
            "policy_arn": format!("{POLICY}AmazonEKSAdminPolicy"), "scope": "namespace", "namespaces": [],
        }),
        policy("AmazonEKSClusterAdminPolicy", None),
    ]));
    let got: Vec<String> = p
        .validate(&bad)
        .into_iter()
        .map(|(path, m)| format!("{} | {m}", display_path(&path)))
        .collect();
    assert_eq!(
        got,
        [
            "policies[0].namespaces | a policy with scope = \"namespace\" needs `namespaces`: the namespaces it applies in",
            "policies[1].namespaces | `namespaces` is only for scope = \"namespace\" (a cluster-scoped policy applies in every namespace): remove it, or set scope = \"namespace\"",
            "policies[2].namespaces | a policy with scope = \"namespace\" needs `namespaces`: the namespaces it applies in",
        ]
    );
    let good = inputs(entry_spec(vec![
        policy("AmazonEKSEditPolicy", Some(&["airflow"])),
        policy("AmazonEKSClusterAdminPolicy", None),
    ]));
    assert!(p.validate(&good).is_empty(), "{:?}", p.validate(&good));
    assert!(p.schema().validate(&good).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_missing_access_entry_reads_as_gone() {
    let spec = inputs(entry_spec(vec![]));
    let existing = recorded(&entry_id(), &spec);
    let ctx = mock_ctx("eks_access_entry.admins", "tok");
    let missing = mock!(Client::describe_access_entry)
        .sequence()
        .error(|| DescribeAccessEntryError::ResourceNotFoundException(not_found()))
        .repeatedly()
        .build();
    let p = entry_provider(&[&missing]);
    assert_eq!(p.read(&ctx, &existing).await.expect("read"), None);
    assert_eq!(p.find(&ctx, &spec).await.expect("find"), None);
    let gone = mock!(Client::delete_access_entry)
        .match_requests(|r| {
            r.cluster_name() == Some(CLUSTER) && r.principal_arn() == Some(PRINCIPAL)
        })
        .then_error(|| DeleteAccessEntryError::ResourceNotFoundException(not_found()));
    let p = entry_provider(&[&gone]);
    p.delete(&ctx, &existing)
        .await
        .expect("deleting what is gone succeeds");
    assert_eq!(gone.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_config_map_cluster_refuses_access_entries_with_the_fix() {
    let spec = inputs(entry_spec(vec![]));
    let create = mock!(Client::create_access_entry).then_error(|| {
        CreateAccessEntryError::InvalidRequestException(
            InvalidRequestException::builder()
                .meta(meta(
                    "InvalidRequestException",
                    "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
                ))
                .build(),
        )
    });
    let p = entry_provider(&[&create]);
    let err = p
        .create(&mock_ctx("eks_access_entry.admins", "tok"), &spec)
        .await
        .expect_err("CONFIG_MAP cluster");
    assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
    for part in [
        "`eks_access_entry.admins`",
        "authentication mode must be set",
        "set `access_config.authentication_mode = \"API_AND_CONFIG_MAP\"`",
        "on the eks_cluster",
    ] {
        assert!(err.message.contains(part), "{part:?} in {err}");
    }
}
