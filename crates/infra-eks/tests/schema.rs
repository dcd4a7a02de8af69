//! The schemas say, attribute by attribute, what the reference says:
//! which changes replace, which update in place, and the defaults. Building
//! the providers and planning with them needs no credentials or network.

use infra_aws::AwsContext;
use infra_core::{Change, OpKind, Presence, Schema, Value};

/// `name: replace|in place [required|default=..]` for every attribute.
fn table(schema: &Schema) -> Vec<String> {
    schema
        .attributes
        .iter()
        .map(|a| {
            let change = match a.change {
                Change::Replace => "replace",
                Change::InPlace => "in place",
            };
            let presence = match &a.presence {
                Presence::Required => " required".to_owned(),
                Presence::Optional => String::new(),
                Presence::Default(v) => format!(" default={v}"),
            };
            format!("{}: {change}{presence}", a.name)
        })
        .collect()
}

#[test]
fn schemas_follow_the_reference() {
    let providers = infra_eks::providers(AwsContext::new());
    let find = |name: &str| {
        providers
            .iter()
            .find(|p| p.schema().type_name == name)
            .unwrap_or_else(|| panic!("{name} is registered"))
    };
    let cluster = find("eks_cluster");
    assert_eq!(
        table(cluster.schema()),
        [
            "name: replace required",
            "version: in place",
            "role_arn: replace required",
            "subnet_ids: in place required",
            "security_group_ids: in place",
            "endpoint_private_access: in place default=false",
            "endpoint_public_access: in place default=true",
            "public_access_cidrs: in place",
            "enabled_log_types: in place",
            "tags: in place",
        ]
    );
    let outputs: Vec<&str> = cluster
        .schema()
        .outputs
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(
        outputs,
        [
            "id",
            "arn",
            "endpoint",
            "certificate_authority",
            "oidc_issuer",
            "status",
            "platform_version",
            "cluster_security_group_id"
        ]
    );
    let node_group = find("eks_node_group");
    assert_eq!(
        table(node_group.schema()),
        [
            "cluster: replace required",
            "name: replace required",
            "node_role_arn: replace required",
            "subnet_ids: replace required",
            "instance_types: replace",
            "ami_type: replace",
            "capacity_type: replace default=\"ON_DEMAND\"",
            "disk_size: replace",
            "scaling: in place required",
            "labels: in place",
            "taints: in place",
            "update_config: in place",
            "version: in place",
            "tags: in place",
        ]
    );
    for p in &providers {
        assert_eq!(p.settings_section(), Some("aws"));
        assert!(p.estimate(OpKind::Create, &Value::Null).as_secs() >= 60);
    }
}

#[test]
fn validation_runs_without_the_cloud() {
    // A fresh context with no settings: validate and estimate must not
    // need credentials (a plan over empty state makes no call).
    let providers = infra_eks::providers(AwsContext::new());
    let bad: Value = Value::from_json(serde_json::json!({
        "cluster": "main",
        "name": "workers",
        "node_role_arn": "arn",
        "subnet_ids": ["s"],
        "capacity_type": "ON_DEMAND",
        "scaling": {"min": 3, "max": 5, "desired": 1},
    }));
    let problems = providers[1].validate(&bad);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].1, "desired (1) is below min (3)");
}
