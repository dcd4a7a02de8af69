//! The conformance suite (`infra_core::conformance`) for `eks_addon` and
//! `eks_access_entry`. moto (5.1.22) implements neither the EKS add-on APIs
//! nor the access entry ones, so the suite runs against a small stateful
//! stand-in for them, built from aws-smithy-mocks rules that compute each
//! answer from what earlier calls stored. It keeps what a call sends and
//! answers as EKS documents: "already in use" for a second create,
//! `ResourceNotFoundException` for what is not there, tags by ARN.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_eks::Client;
use aws_sdk_eks::operation::associate_access_policy::AssociateAccessPolicyOutput;
use aws_sdk_eks::operation::create_access_entry::{
    CreateAccessEntryError, CreateAccessEntryOutput,
};
use aws_sdk_eks::operation::create_addon::{CreateAddonError, CreateAddonOutput};
use aws_sdk_eks::operation::delete_access_entry::{
    DeleteAccessEntryError, DeleteAccessEntryOutput,
};
use aws_sdk_eks::operation::delete_addon::{DeleteAddonError, DeleteAddonOutput};
use aws_sdk_eks::operation::describe_access_entry::{
    DescribeAccessEntryError, DescribeAccessEntryOutput,
};
use aws_sdk_eks::operation::describe_addon::{DescribeAddonError, DescribeAddonOutput};
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::disassociate_access_policy::DisassociateAccessPolicyOutput;
use aws_sdk_eks::operation::list_associated_access_policies::{
    ListAssociatedAccessPoliciesError, ListAssociatedAccessPoliciesOutput,
};
use aws_sdk_eks::operation::tag_resource::TagResourceOutput;
use aws_sdk_eks::operation::untag_resource::UntagResourceOutput;
use aws_sdk_eks::operation::update_access_entry::UpdateAccessEntryOutput;
use aws_sdk_eks::operation::update_addon::UpdateAddonOutput;
use aws_sdk_eks::types::error::{ResourceInUseException, ResourceNotFoundException};
use aws_sdk_eks::types::{
    AccessEntry, Addon, AddonStatus, AssociatedAccessPolicy, Update, UpdateStatus,
};
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_types::retry::RetryConfig;
use infra_aws::AwsContext;
use infra_core::Typed;
use infra_core::conformance::{Case, run};
use infra_eks::{EksAccessEntry, EksAddon};
use support::*;

/// What the stand-in holds: add-ons and access entries by
/// `cluster/name`, associations by entry, tags by ARN.
#[derive(Default)]
struct Fake {
    addons: BTreeMap<String, Addon>,
    entries: BTreeMap<String, AccessEntry>,
    policies: BTreeMap<String, Vec<AssociatedAccessPolicy>>,
    tags: BTreeMap<String, HashMap<String, String>>,
}

type Shared = Arc<Mutex<Fake>>;

fn lock(fake: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    fake.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn key(cluster: Option<&str>, name: Option<&str>) -> String {
    format!("{}/{}", cluster.unwrap_or(""), name.unwrap_or(""))
}

fn missing(what: &str) -> ResourceNotFoundException {
    let message = format!("{what} not found");
    ResourceNotFoundException::builder()
        .meta(meta("ResourceNotFoundException", &message))
        .build()
}

fn in_use(what: &str) -> ResourceInUseException {
    let message = format!("{what} already in use");
    ResourceInUseException::builder()
        .meta(meta("ResourceInUseException", &message))
        .build()
}

/// A client answering from `fake`, with `rules` for the operations.
fn client(rules: Vec<Rule>) -> Client {
    mock_client!(aws_sdk_eks, RuleMode::MatchAny, rules.iter(), |c| c
        .retry_config(RetryConfig::disabled()))
}

fn tag_rules(fake: &Shared) -> Vec<Rule> {
    let (f1, f2) = (fake.clone(), fake.clone());
    vec![
        mock!(Client::tag_resource).then_compute_output(move |r| {
            let mut fake = lock(&f1);
            let arn = r.resource_arn().unwrap_or_default().to_owned();
            let tags = fake.tags.entry(arn).or_default();
            tags.extend(r.tags().cloned().unwrap_or_default());
            TagResourceOutput::builder().build()
        }),
        mock!(Client::untag_resource).then_compute_output(move |r| {
            let mut fake = lock(&f2);
            let arn = r.resource_arn().unwrap_or_default().to_owned();
            let tags = fake.tags.entry(arn).or_default();
            for k in r.tag_keys() {
                tags.remove(k);
            }
            UntagResourceOutput::builder().build()
        }),
    ]
}

/// The stand-in's add-on APIs.
fn addon_client(fake: &Shared) -> Client {
    let f = || fake.clone();
    let (create, describe, update, delete) = (f(), f(), f(), f());
    let mut rules = vec![
        mock!(Client::create_addon).then_compute_response(move |r| {
            let mut fake = lock(&create);
            let k = key(r.cluster_name(), r.addon_name());
            if fake.addons.contains_key(&k) {
                return MockResponse::Error(CreateAddonError::ResourceInUseException(in_use(
                    "Addon",
                )));
            }
            let arn = format!("arn:aws:eks:us-east-1:123456789012:addon/{k}/x");
            let addon = Addon::builder()
                .set_cluster_name(r.cluster_name().map(str::to_owned))
                .set_addon_name(r.addon_name().map(str::to_owned))
                .addon_arn(&arn)
                .status(AddonStatus::Active)
                .set_addon_version(r.addon_version().map(str::to_owned))
                .set_configuration_values(r.configuration_values().map(str::to_owned))
                .set_service_account_role_arn(r.service_account_role_arn().map(str::to_owned))
                .build();
            fake.tags.insert(arn, r.tags().cloned().unwrap_or_default());
            fake.addons.insert(k, addon.clone());
            MockResponse::Output(CreateAddonOutput::builder().addon(addon).build())
        }),
        mock!(Client::describe_addon).then_compute_response(move |r| {
            let fake = lock(&describe);
            match fake.addons.get(&key(r.cluster_name(), r.addon_name())) {
                Some(a) => {
                    let mut a = a.clone();
                    a.tags = fake.tags.get(a.addon_arn().unwrap_or_default()).cloned();
                    MockResponse::Output(DescribeAddonOutput::builder().addon(a).build())
                }
                None => MockResponse::Error(DescribeAddonError::ResourceNotFoundException(
                    missing("Addon"),
                )),
            }
        }),
        mock!(Client::update_addon).then_compute_output(move |r| {
            let mut fake = lock(&update);
            let nonempty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
            if let Some(a) = fake.addons.get_mut(&key(r.cluster_name(), r.addon_name())) {
                if let Some(v) = r.addon_version() {
                    a.addon_version = Some(v.to_owned());
                }
                if let Some(c) = r.configuration_values() {
                    a.configuration_values = nonempty(Some(c));
                }
                if let Some(role) = r.service_account_role_arn() {
                    a.service_account_role_arn = nonempty(Some(role));
                }
            }
            let u = Update::builder().id("u").status(UpdateStatus::InProgress);
            UpdateAddonOutput::builder().update(u.build()).build()
        }),
        mock!(Client::describe_update).then_output(|| {
            let u = Update::builder().id("u").status(UpdateStatus::Successful);
            DescribeUpdateOutput::builder().update(u.build()).build()
        }),
        mock!(Client::delete_addon).then_compute_response(move |r| {
            let mut fake = lock(&delete);
            match fake.addons.remove(&key(r.cluster_name(), r.addon_name())) {
                Some(_) => MockResponse::Output(DeleteAddonOutput::builder().build()),
                None => MockResponse::Error(DeleteAddonError::ResourceNotFoundException(missing(
                    "Addon",
                ))),
            }
        }),
    ];
    rules.extend(tag_rules(fake));
    client(rules)
}

/// The stand-in's access entry APIs.
fn entry_client(fake: &Shared) -> Client {
    let f = || fake.clone();
    let (create, describe, list, associate, disassociate, update, delete) =
        (f(), f(), f(), f(), f(), f(), f());
    let mut rules = vec![
        mock!(Client::create_access_entry).then_compute_response(move |r| {
            let mut fake = lock(&create);
            let k = key(r.cluster_name(), r.principal_arn());
            if fake.entries.contains_key(&k) {
                return MockResponse::Error(CreateAccessEntryError::ResourceInUseException(
                    in_use("The specified access entry resource is"),
                ));
            }
            let arn = format!("arn:aws:eks:us-east-1:123456789012:access-entry/{k}");
            let username = r.username().map_or_else(
                || "arn:aws:sts::123456789012:assumed-role/x/{{SessionName}}".to_owned(),
                str::to_owned,
            );
            let entry = AccessEntry::builder()
                .set_cluster_name(r.cluster_name().map(str::to_owned))
                .set_principal_arn(r.principal_arn().map(str::to_owned))
                .access_entry_arn(&arn)
                .r#type(r.r#type().unwrap_or("STANDARD"))
                .username(username)
                .set_kubernetes_groups(Some(r.kubernetes_groups().to_vec()))
                .build();
            fake.tags.insert(arn, r.tags().cloned().unwrap_or_default());
            fake.entries.insert(k, entry.clone());
            MockResponse::Output(
                CreateAccessEntryOutput::builder()
                    .access_entry(entry)
                    .build(),
            )
        }),
        mock!(Client::describe_access_entry).then_compute_response(move |r| {
            let fake = lock(&describe);
            match fake.entries.get(&key(r.cluster_name(), r.principal_arn())) {
                Some(e) => {
                    let mut e = e.clone();
                    e.tags = fake
                        .tags
                        .get(e.access_entry_arn().unwrap_or_default())
                        .cloned();
                    let out = DescribeAccessEntryOutput::builder().access_entry(e);
                    MockResponse::Output(out.build())
                }
                None => MockResponse::Error(DescribeAccessEntryError::ResourceNotFoundException(
                    missing("Access entry"),
                )),
            }
        }),
        mock!(Client::list_associated_access_policies).then_compute_response(move |r| {
            let fake = lock(&list);
            let k = key(r.cluster_name(), r.principal_arn());
            if !fake.entries.contains_key(&k) {
                return MockResponse::Error(
                    ListAssociatedAccessPoliciesError::ResourceNotFoundException(missing(
                        "Access entry",
                    )),
                );
            }
            let policies = fake.policies.get(&k).cloned().unwrap_or_default();
            let out = ListAssociatedAccessPoliciesOutput::builder()
                .set_associated_access_policies(Some(policies));
            MockResponse::Output(out.build())
        }),
        mock!(Client::associate_access_policy).then_compute_output(move |r| {
            let mut fake = lock(&associate);
            let policies = fake
                .policies
                .entry(key(r.cluster_name(), r.principal_arn()))
                .or_default();
            // Associating again replaces the scope.
            policies.retain(|p| p.policy_arn() != r.policy_arn());
            policies.push(
                AssociatedAccessPolicy::builder()
                    .set_policy_arn(r.policy_arn().map(str::to_owned))
                    .set_access_scope(r.access_scope().cloned())
                    .build(),
            );
            AssociateAccessPolicyOutput::builder().build()
        }),
        mock!(Client::disassociate_access_policy).then_compute_output(move |r| {
            let mut fake = lock(&disassociate);
            let k = key(r.cluster_name(), r.principal_arn());
            if let Some(policies) = fake.policies.get_mut(&k) {
                policies.retain(|p| p.policy_arn() != r.policy_arn());
            }
            DisassociateAccessPolicyOutput::builder().build()
        }),
        mock!(Client::update_access_entry).then_compute_output(move |r| {
            let mut fake = lock(&update);
            if let Some(e) = fake
                .entries
                .get_mut(&key(r.cluster_name(), r.principal_arn()))
            {
                if let Some(groups) = &r.kubernetes_groups {
                    e.kubernetes_groups = Some(groups.clone());
                }
                if let Some(u) = r.username() {
                    e.username = Some(u.to_owned());
                }
            }
            UpdateAccessEntryOutput::builder().build()
        }),
        mock!(Client::delete_access_entry).then_compute_response(move |r| {
            let mut fake = lock(&delete);
            let k = key(r.cluster_name(), r.principal_arn());
            fake.policies.remove(&k);
            match fake.entries.remove(&k) {
                Some(_) => MockResponse::Output(DeleteAccessEntryOutput::builder().build()),
                None => MockResponse::Error(DeleteAccessEntryError::ResourceNotFoundException(
                    missing("Access entry"),
                )),
            }
        }),
    ];
    rules.extend(tag_rules(fake));
    client(rules)
}

/// In place: the version, the configuration, the role, how conflicts are
/// resolved, the tags.
#[tokio::test(start_paused = true)]
async fn addon_conformance() {
    let fake = Shared::default();
    let p = Typed::new(EksAddon::with_client(
        AwsContext::new(),
        addon_client(&fake),
    ));
    let case = Case {
        inputs: inputs(serde_json::json!({
            "cluster": "airflow",
            "name": "vpc-cni",
            "version": "v1.18.5-eksbuild.1",
            "configuration_values": {"env": {"WARM_IP_TARGET": "5"}},
            "service_account_role_arn": "arn:aws:iam::123456789012:role/vpc-cni",
            "tags": {"team": "data"},
        })),
        updates: vec![
            ("version", inputs(serde_json::json!("v1.19.2-eksbuild.1"))),
            (
                "configuration_values",
                inputs(
                    serde_json::json!({"env": {"WARM_IP_TARGET": "10", "MINIMUM_IP_TARGET": "3"}}),
                ),
            ),
            (
                "service_account_role_arn",
                inputs(serde_json::json!(
                    "arn:aws:iam::123456789012:role/vpc-cni-2"
                )),
            ),
            ("resolve_conflicts", inputs(serde_json::json!("PRESERVE"))),
            ("tags", inputs(serde_json::json!({"team": "platform"}))),
        ],
        replacing: vec!["cluster", "name"],
    };
    let make = |token: &str| mock_ctx("eks_addon.vpc_cni", token);
    let passed = run(&p, &make, case).await;
    assert_eq!(passed.len(), 7, "{passed:?}");
    assert!(lock(&fake).addons.is_empty(), "deleted");
}

/// In place: the groups, the username, the policies, the tags.
#[tokio::test(start_paused = true)]
async fn access_entry_conformance() {
    let fake = Shared::default();
    let p = Typed::new(EksAccessEntry::with_client(
        AwsContext::new(),
        entry_client(&fake),
    ));
    let policy = "arn:aws:eks::aws:cluster-access-policy/";
    let case = Case {
        inputs: inputs(serde_json::json!({
            "cluster": "airflow",
            "principal_arn": "arn:aws:iam::123456789012:role/platform-admins",
            "kubernetes_groups": ["platform"],
            "policies": [{"policy_arn": format!("{policy}AmazonEKSClusterAdminPolicy"), "scope": "cluster"}],
            "tags": {"team": "data"},
        })),
        updates: vec![
            ("kubernetes_groups", inputs(serde_json::json!(["b", "a"]))),
            ("username", inputs(serde_json::json!("platform-admin"))),
            (
                "policies",
                inputs(serde_json::json!([
                    {"policy_arn": format!("{policy}AmazonEKSViewPolicy"), "scope": "namespace", "namespaces": ["y", "x"]},
                    {"policy_arn": format!("{policy}AmazonEKSClusterAdminPolicy"), "scope": "cluster"},
                ])),
            ),
            ("tags", inputs(serde_json::json!({"team": "platform"}))),
        ],
        replacing: vec!["cluster", "principal_arn", "type"],
    };
    let make = |token: &str| mock_ctx("eks_access_entry.admins", token);
    let passed = run(&p, &make, case).await;
    assert_eq!(passed.len(), 7, "{passed:?}");
    let fake = lock(&fake);
    assert!(
        fake.entries.is_empty() && fake.policies.is_empty(),
        "deleted"
    );
}
