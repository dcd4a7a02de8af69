//! The schemas say, attribute by attribute, what the reference says:
//! which changes replace, which update in place, and the defaults. Building
//! the providers and planning with them needs no credentials or network.

use infra_aws::AwsContext;
use infra_core::{Change, OpKind, PathSeg, Presence, Schema, Type, Value};

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
                Presence::Optional if a.computed => " computed".to_owned(),
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
            "access_config: in place",
            "upgrade_policy: in place",
            "tags: in place",
        ]
    );
    let inner = |attr: &str| {
        let a = cluster.schema().input(attr).expect(attr);
        table(&Schema {
            type_name: attr.to_owned(),
            attributes: a.ty.attributes().to_vec(),
            outputs: Vec::new(),
        })
    };
    assert_eq!(
        inner("access_config"),
        [
            "authentication_mode: in place computed",
            "bootstrap_cluster_creator_admin_permissions: replace default=true",
        ]
    );
    assert_eq!(inner("upgrade_policy"), ["support_type: in place required"]);
    let key = |k: &str| PathSeg::Key(k.to_owned());
    let change = |path: &[&str]| {
        let path: Vec<PathSeg> = path.iter().map(|k| key(k)).collect();
        cluster.schema().change_at(&path)
    };
    // Adding the table to a cluster is in place; only changing the flag
    // once recorded replaces.
    assert_eq!(change(&["access_config"]), Change::InPlace);
    assert_eq!(
        change(&[
            "access_config",
            "bootstrap_cluster_creator_admin_permissions"
        ]),
        Change::Replace
    );
    assert_eq!(
        change(&["access_config", "authentication_mode"]),
        Change::InPlace
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
    let addon = find("eks_addon");
    assert_eq!(
        table(addon.schema()),
        [
            "cluster: replace required",
            "name: replace required",
            "version: in place computed",
            "configuration_values: in place",
            "service_account_role_arn: in place",
            "resolve_conflicts: in place default=\"OVERWRITE\"",
            "tags: in place",
        ]
    );
    let version = addon.schema().input("version").expect("version");
    assert!(
        version.description.contains(
            "unset: EKS's default for the cluster's Kubernetes version, resolved at create"
        ),
        "{}",
        version.description
    );
    let resolve = addon
        .schema()
        .input("resolve_conflicts")
        .expect("resolve_conflicts");
    assert!(
        resolve.description.contains("at create NONE is sent"),
        "{}",
        resolve.description
    );
    assert_eq!(output_names(addon.schema()), ["id", "arn", "status"]);
    let entry = find("eks_access_entry");
    assert_eq!(
        table(entry.schema()),
        [
            "cluster: replace required",
            "principal_arn: replace required",
            "type: replace default=\"STANDARD\"",
            "kubernetes_groups: in place",
            "username: in place computed",
            "policies: in place",
            "tags: in place",
        ]
    );
    let policies = entry.schema().input("policies").expect("policies");
    assert!(matches!(policies.ty, Type::Set(_)));
    let policy = Schema {
        type_name: "policies".into(),
        attributes: policies.ty.attributes().to_vec(),
        outputs: Vec::new(),
    };
    assert_eq!(
        table(&policy),
        [
            "policy_arn: in place required",
            "scope: in place default=\"cluster\"",
            "namespaces: in place",
        ]
    );
    assert_eq!(output_names(entry.schema()), ["id", "arn", "username"]);

    // Types that wait for the cloud say so; an access entry is there when
    // CreateAccessEntry answers.
    for p in &providers {
        assert_eq!(p.settings_section(), Some("aws"));
        let create = p.estimate(OpKind::Create, &Value::Null).as_secs();
        if p.schema().type_name == "eks_access_entry" {
            assert!(create < 60, "{create}");
        } else {
            assert!(create >= 60, "{}: {create}", p.schema().type_name);
        }
    }
    let timeout = |op| addon.default_timeout(op).as_secs() / 60;
    assert_eq!(
        (
            timeout(OpKind::Create),
            timeout(OpKind::Update),
            timeout(OpKind::Delete)
        ),
        (20, 20, 40)
    );
}

fn output_names(schema: &Schema) -> Vec<&str> {
    schema.outputs.iter().map(|o| o.name.as_str()).collect()
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
