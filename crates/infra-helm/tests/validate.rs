//! Plan-time checks of `helm_release` inputs through `Provider::validate`:
//! release names, exactly one way to reach the cluster, a non-empty chart,
//! the timeout's syntax; and the schema's replacement rules.

mod support;

use infra_core::{Change, PathSeg, Provider, Value, display_path};
use infra_helm::HelmRelease;
use support::inputs;

const KUBECONFIG: &str = r#""kubeconfig": "~/.kube/config""#;
const EKS: &str =
    r#""kubernetes": {"eks_cluster": "main", "endpoint": "https://x", "ca_data": "Y2E="}"#;

/// The problems of inputs built from `fields`, as `path: message` lines.
fn check(fields: &str) -> Vec<String> {
    let p = HelmRelease::default();
    let v = inputs(&p, &format!("{{{fields}}}"));
    p.validate(&v)
        .iter()
        .map(|(path, m)| format!("{}: {m}", display_path(path)))
        .collect()
}

#[test]
fn valid_inputs_pass() {
    assert_eq!(
        check(&format!(r#""name": "airflow", "chart": "airflow", {EKS}"#)),
        Vec::<String>::new()
    );
    assert_eq!(
        check(&format!(
            r#""name": "airflow", "chart": "./chart", {KUBECONFIG}, "context": "prod", "timeout": "1h30m""#
        )),
        Vec::<String>::new()
    );
}

#[test]
fn each_problem_is_reported_at_its_attribute() {
    let found = check(
        r#""name": "Air_flow", "chart": " ", "timeout": "20 minutes", "max_history": -1, "namespace": "-ns""#,
    );
    assert_eq!(
        found,
        [
            "name: release name `Air_flow` contains 'A': use lowercase letters, digits and `-`",
            "namespace: namespace `-ns` must start and end with a letter or digit",
            "chart: chart is empty: name a chart in `repository`, a chart directory or a .tgz file",
            "timeout: timeout `20 minutes` is not a duration: write e.g. \"10m\", \"1h30m\" or \"300s\"",
            "max_history: max_history must be 0 (keep all) or more, not -1",
            "kubernetes: say how to reach the cluster: `kubernetes = { eks_cluster, endpoint, ca_data }` or `kubeconfig = \"path\"`",
        ]
    );
}

#[test]
fn exactly_one_way_to_reach_the_cluster() {
    let both = check(&format!(
        r#""name": "a", "chart": "c", {EKS}, {KUBECONFIG}"#
    ));
    assert_eq!(
        both,
        ["kubeconfig: set either `kubernetes` (an EKS cluster) or `kubeconfig`, not both"]
    );
    let stray = check(&format!(
        r#""name": "a", "chart": "c", {EKS}, "context": "x""#
    ));
    assert_eq!(stray.len(), 1, "{stray:?}");
    assert!(stray[0].starts_with("context:"));
}

#[test]
fn long_names_and_unknown_values_are_handled() {
    let long = "a".repeat(54);
    let found = check(&format!(r#""name": "{long}", "chart": "c", {EKS}"#));
    assert_eq!(
        found,
        [format!(
            "name: release name `{long}` must be 1 to 53 characters long, not 54"
        )]
    );
    // Values known only after apply are checked once known.
    let p = HelmRelease::default();
    let mut v = inputs(&p, &format!(r#"{{"chart": "c", {EKS}}}"#));
    if let Value::Map(m) = &mut v {
        m.insert("name".into(), Value::Unknown);
        m.insert("values".into(), Value::Unknown);
    }
    assert!(p.validate(&v).is_empty());
}

#[test]
fn only_name_and_namespace_replace_the_release() {
    let p = HelmRelease::default();
    let s = p.schema();
    let key = |k: &str| vec![PathSeg::Key(k.into())];
    assert_eq!(s.change_at(&key("name")), Change::Replace);
    assert_eq!(s.change_at(&key("namespace")), Change::Replace);
    for k in [
        "chart",
        "version",
        "values",
        "timeout",
        "kubernetes",
        "status",
    ] {
        assert_eq!(s.change_at(&key(k)), Change::InPlace, "{k}");
    }
    assert_eq!(p.settings_section(), Some("helm"));
}
