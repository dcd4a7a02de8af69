//! The official Airflow chart (from `shared/airflow-chart`): locating it as a
//! directory, a `.tgz` and a cached repository chart, and validating the
//! platform's values against its `values.schema.json`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flate2::Compression;
use flate2::write::GzEncoder;
use infra_chart::{Chart, ChartError, ValuesSchema};
use infra_core::{PathSeg, Secret, Value, display_path};

const AIRFLOW_CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/airflow-chart");

fn airflow_dir() -> PathBuf {
    PathBuf::from(AIRFLOW_CHART)
}

/// The Airflow schema, compiled once for all tests.
fn airflow_schema() -> &'static ValuesSchema {
    static SCHEMA: OnceLock<ValuesSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let chart = Chart::from_dir(&airflow_dir()).expect("shared airflow chart reads");
        chart
            .values_schema()
            .expect("schema compiles")
            .expect("chart has a schema")
    })
}

fn table(entries: Vec<(&str, Value)>) -> Value {
    entries.into_iter().collect()
}

fn secret(plain: &str) -> Value {
    Value::Sensitive(Secret::new("hmac-sha256:0123", plain.into()))
}

/// The values the platform gives the chart: external PostgreSQL from RDS
/// (host known after apply), remote logs to S3, secrets by name, IRSA.
fn platform_values() -> Value {
    table(vec![
        ("executor", "KubernetesExecutor".into()),
        ("postgresql", table(vec![("enabled", false.into())])),
        (
            "data",
            table(vec![(
                "metadataConnection",
                table(vec![
                    ("user", "airflow".into()),
                    ("pass", secret("s3cr3t-db-password")),
                    ("protocol", "postgresql".into()),
                    ("host", Value::Unknown),
                    ("port", 5432.into()),
                    ("db", "airflow".into()),
                    ("sslmode", "require".into()),
                ]),
            )]),
        ),
        ("pgbouncer", table(vec![("enabled", true.into())])),
        (
            "config",
            table(vec![(
                "logging",
                table(vec![
                    ("remote_logging", "True".into()),
                    ("remote_base_log_folder", Value::Unknown),
                    ("remote_log_conn_id", "aws_default".into()),
                ]),
            )]),
        ),
        ("createUserJob", table(vec![("useHelmHooks", false.into())])),
        (
            "migrateDatabaseJob",
            table(vec![("useHelmHooks", false.into())]),
        ),
        (
            "workers",
            table(vec![
                ("replicas", 2.into()),
                (
                    "serviceAccount",
                    table(vec![(
                        "annotations",
                        table(vec![(
                            "eks.amazonaws.com/role-arn",
                            "arn:aws:iam::123456789012:role/airflow-workers".into(),
                        )]),
                    )]),
                ),
            ]),
        ),
        ("scheduler", table(vec![("replicas", 2.into())])),
        ("fernetKeySecretName", "airflow-fernet-key".into()),
        ("apiSecretKeySecretName", "airflow-api-secret-key".into()),
        ("jwtSecretName", "airflow-jwt-secret".into()),
    ])
}

/// `values` with `value` set at the dotted `path` (tables created on the way).
fn with(mut values: Value, path: &str, value: Value) -> Value {
    fn set(node: &mut Value, keys: &[&str], value: Value) {
        let Value::Map(map) = node else {
            panic!("not a table on the way to {keys:?}");
        };
        match keys {
            [last] => {
                map.insert((*last).to_owned(), value);
            }
            [first, rest @ ..] => set(
                map.entry((*first).to_owned()).or_insert_with(Value::map),
                rest,
                value,
            ),
            [] => {}
        }
    }
    set(&mut values, &path.split('.').collect::<Vec<_>>(), value);
    values
}

/// Validates against the Airflow schema; violations as "`path`: message".
fn check(values: &Value, expected: &[&str]) {
    let got: Vec<String> = airflow_schema()
        .validate(values)
        .into_iter()
        .map(|(path, message)| format!("`{}`: {message}", display_path(&path)))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn platform_values_validate_clean() {
    check(&platform_values(), &[]);
}

#[test]
fn wrong_type_is_reported_at_its_path() {
    let values = with(platform_values(), "workers.replicas", "three".into());
    let got = airflow_schema().validate(&values);
    assert_eq!(
        got,
        [(
            vec![
                PathSeg::Key("workers".into()),
                PathSeg::Key("replicas".into())
            ],
            "\"three\" is not of type integer".to_owned()
        )]
    );
}

#[test]
fn unknown_keys_are_named_where_the_schema_closes_the_table() {
    // `workers` and `data.metadataConnection` have `additionalProperties: false`.
    let values = with(platform_values(), "workers.replicaz", 3.into());
    let values = with(
        values,
        "data.metadataConnection.password",
        secret("hunter2"),
    );
    check(
        &values,
        &[
            "`data.metadataConnection.password`: unknown key `password` (did you mean `pass`?)",
            "`workers.replicaz`: unknown key `replicaz` (did you mean `replicas`?)",
        ],
    );
}

#[test]
fn unknown_top_level_keys_pass_because_the_schema_allows_them() {
    // The chart's top level has no `additionalProperties: false` (subcharts
    // and globals live there), so helm itself accepts this too.
    check(&with(platform_values(), "wokers", Value::map()), &[]);
}

#[test]
fn wrong_secrets_are_reported_without_their_plaintext() {
    let values = with(
        platform_values(),
        "data.metadataConnection.port",
        secret("p0rt-s3cr3t"),
    );
    let values = with(
        values,
        "data.metadataConnection.pass",
        Value::Sensitive(Secret::new("hmac-sha256:1", Value::Int(987_654_321))),
    );
    let got = airflow_schema().validate(&values);
    let rendered = format!("{got:?}");
    assert!(
        !rendered.contains("p0rt-s3cr3t") && !rendered.contains("987654321"),
        "{rendered}"
    );
    check(
        &values,
        &[
            "`data.metadataConnection.pass`: (sensitive) is not of type string",
            "`data.metadataConnection.port`: (sensitive) is not of type integer",
        ],
    );
}

#[test]
fn unknowns_cause_no_errors_whatever_the_schema_expects() {
    let mut values = platform_values();
    for path in [
        "workers.replicas",
        "executor",
        "pgbouncer.enabled",
        "config.logging",
        "workers.serviceAccount.annotations",
        "fernetKeySecretName",
    ] {
        values = with(values, path, Value::Unknown);
    }
    check(&values, &[]);
}

#[test]
fn values_known_after_apply_are_checked_once_known() {
    let planned = with(platform_values(), "scheduler.replicas", Value::Unknown);
    check(&planned, &[]);
    let resolved = with(planned.clone(), "scheduler.replicas", "2".into());
    let got = airflow_schema().check_known(&planned, &resolved);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(display_path(&got[0].0), "scheduler.replicas");
    assert_eq!(got[0].1, "\"2\" is not of type integer");
    let resolved = with(planned.clone(), "scheduler.replicas", 2.into());
    assert!(airflow_schema().check_known(&planned, &resolved).is_empty());
}

#[test]
fn every_violation_is_collected_sorted() {
    let values = with(platform_values(), "workers.replicas", "three".into());
    let values = with(values, "executor", "NoSuchThing".into());
    let values = with(values, "pgbouncer.enabled", "yes".into());
    let values = with(
        values,
        "workers.serviceAccount.annotations",
        table(vec![("eks.amazonaws.com/role-arn", 1.into())]),
    );
    check(
        &values,
        &[
            "`executor`: \"NoSuchThing\" does not match the pattern \
             `^(([a-zA-Z_][a-zA-Z0-9_]*.)*[A-Z][a-zA-Z0-9]+Executor)\
             (,(([a-zA-Z_][a-zA-Z0-9_]*.)*[A-Z][a-zA-Z0-9]+Executor))*$`",
            "`pgbouncer.enabled`: \"yes\" is not of type boolean",
            "`workers.replicas`: \"three\" is not of type integer",
            // One key with dots and a slash in it (`~1` in the JSON pointer).
            "`workers.serviceAccount.annotations.eks.amazonaws.com/role-arn`: 1 is not of type string",
        ],
    );
}

#[test]
fn a_null_deletes_the_charts_default_as_helm_does() {
    // helm coalesces the values with values.yaml before it validates: a
    // null over a default deletes the key, so the default is gone and the
    // schema sees no key. Without the defaults the null itself is checked.
    let values = with(platform_values(), "workers.replicas", Value::Null);
    let values = with(values, "executor", Value::Null);
    check(&values, &[]);
    let bare = ValuesSchema::compile(
        Chart::from_dir(&airflow_dir())
            .unwrap()
            .schema
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    let got: Vec<String> = bare
        .validate(&values)
        .into_iter()
        .map(|(p, m)| format!("`{}`: {m}", display_path(&p)))
        .collect();
    assert_eq!(
        got,
        [
            "`executor`: null is not of type string",
            "`workers.replicas`: null is not of type integer",
        ]
    );
    // A null the chart does not default is kept, and checked.
    let values = with(platform_values(), "config.core.not_a_default", Value::Null);
    check(
        &values,
        &[
            "`config.core.not_a_default`: null is not of type boolean or integer or number or string",
        ],
    );
}

fn pack(dir: &Path, out: &Path, top: &str, files: &[&str]) {
    let gz = GzEncoder::new(File::create(out).unwrap(), Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for file in files {
        tar.append_path_with_name(dir.join(file), format!("{top}/{file}"))
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

const CHART_FILES: [&str; 3] = ["Chart.yaml", "values.yaml", "values.schema.json"];

fn assert_airflow(chart: &Chart) {
    assert_eq!(chart.name, "airflow");
    assert_eq!(chart.version, "1.15.0");
    assert_eq!(chart.app_version.as_deref(), Some("2.9.3"));
    let defaults = chart.values.as_ref().expect("values.yaml read");
    assert_eq!(defaults["executor"], "CeleryExecutor");
    assert_eq!(defaults["workers"]["replicas"], 1);
    assert_eq!(chart.dependencies, ["postgresql"]);
    let schema = chart.values_schema().unwrap().expect("schema");
    assert!(schema.validate(&platform_values()).is_empty());
}

#[test]
fn locates_a_chart_directory() {
    let root = airflow_dir().join("..");
    let chart = Chart::locate("airflow-chart", Some("9.9.9"), &root, None)
        .unwrap()
        .expect("found");
    assert_airflow(&chart);
    assert_eq!(chart.source, root.join("airflow-chart"));
    // An absolute path ignores the root.
    let chart = Chart::locate(AIRFLOW_CHART, None, Path::new("/nonexistent"), None).unwrap();
    assert_airflow(&chart.expect("found"));
}

#[test]
fn locates_a_packaged_chart() {
    let tmp = tempfile::tempdir().unwrap();
    pack(
        &airflow_dir(),
        &tmp.path().join("airflow-1.15.0.tgz"),
        "airflow",
        &CHART_FILES,
    );
    let chart = Chart::locate("airflow-1.15.0.tgz", None, tmp.path(), None).unwrap();
    assert_airflow(&chart.expect("found"));
}

#[test]
fn locates_a_repository_chart_in_helms_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("helm");
    std::fs::create_dir_all(cache.join("repository")).unwrap();
    pack(
        &airflow_dir(),
        &cache.join("repository/airflow-1.15.0.tgz"),
        "airflow",
        &CHART_FILES,
    );
    let root = tmp.path().join("project");
    for chart in [
        "apache-airflow/airflow",
        "airflow",
        "oci://registry.example/charts/airflow",
    ] {
        let found = Chart::locate(chart, Some("1.15.0"), &root, Some(&cache)).unwrap();
        assert_airflow(&found.expect(chart));
    }
    // Not available locally: the caller skips validation and says so.
    let missing = [
        (
            "apache-airflow/airflow",
            Some("1.14.0"),
            Some(cache.as_path()),
        ),
        ("apache-airflow/airflow", None, Some(cache.as_path())),
        (
            "apache-airflow/airflow",
            Some("^1.15.0"),
            Some(cache.as_path()),
        ),
        ("apache-airflow/airflow", Some("1.15.0"), None),
        (
            "apache-airflow/postgresql",
            Some("1.15.0"),
            Some(cache.as_path()),
        ),
        ("./charts/airflow", Some("1.15.0"), Some(cache.as_path())),
        ("airflow-1.15.0.tgz", None, Some(cache.as_path())),
    ];
    for (chart, version, cache) in missing {
        assert!(
            Chart::locate(chart, version, &root, cache)
                .unwrap()
                .is_none(),
            "{chart} {version:?}"
        );
    }
}

#[test]
fn a_chart_without_a_schema_has_none() {
    let tmp = tempfile::tempdir().unwrap();
    pack(
        &airflow_dir(),
        &tmp.path().join("c.tgz"),
        "airflow",
        &["Chart.yaml"],
    );
    let chart = Chart::locate("c.tgz", None, tmp.path(), None)
        .unwrap()
        .unwrap();
    assert_eq!(chart.schema, None);
    assert!(chart.values_schema().unwrap().is_none());
}

#[test]
fn unreadable_charts_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    // Not a chart: files but no Chart.yaml.
    pack(
        &airflow_dir(),
        &tmp.path().join("nochart.tgz"),
        "airflow",
        &["values.yaml"],
    );
    let err = Chart::locate("nochart.tgz", None, tmp.path(), None).unwrap_err();
    assert!(matches!(err, ChartError::NotAChart { .. }), "{err}");
    // Not gzip at all.
    std::fs::write(tmp.path().join("junk.tgz"), b"not a tarball").unwrap();
    let err = Chart::locate("junk.tgz", None, tmp.path(), None).unwrap_err();
    assert!(matches!(err, ChartError::Io { .. }), "{err}");
    assert!(err.to_string().contains("junk.tgz"), "{err}");
    // A directory whose schema is not JSON, and one whose Chart.yaml lacks a version.
    let dir = tmp.path().join("broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: broken\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("values.schema.json"), "{ nope").unwrap();
    let err = Chart::locate("broken", None, tmp.path(), None).unwrap_err();
    assert!(matches!(err, ChartError::SchemaJson { .. }), "{err}");
    // values.yaml that is not YAML, or not a table; an empty one is none.
    std::fs::remove_file(dir.join("values.schema.json")).unwrap();
    for bad in ["a: [1, 2", "- a\n- b\n"] {
        std::fs::write(dir.join("values.yaml"), bad).unwrap();
        let err = Chart::locate("broken", None, tmp.path(), None).unwrap_err();
        assert!(matches!(err, ChartError::ValuesYaml { .. }), "{bad}: {err}");
    }
    std::fs::write(dir.join("values.yaml"), "# nothing\n").unwrap();
    let chart = Chart::locate("broken", None, tmp.path(), None)
        .unwrap()
        .unwrap();
    assert_eq!(chart.values, None);
    std::fs::write(
        dir.join("values.yaml"),
        "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n1: one\n",
    )
    .unwrap();
    let chart = Chart::locate("broken", None, tmp.path(), None)
        .unwrap()
        .unwrap();
    assert_eq!(
        chart.values,
        Some(serde_json::json!({"base": {"x": 1}, "derived": {"x": 1, "y": 2}, "1": "one"}))
    );
    std::fs::write(dir.join("Chart.yaml"), "apiVersion: v2\nname: broken\n").unwrap();
    let err = Chart::locate("broken", None, tmp.path(), None).unwrap_err();
    assert!(err.to_string().contains("`version` is missing"), "{err}");
    // A directory without Chart.yaml is not a chart: nothing to validate against.
    std::fs::create_dir_all(tmp.path().join("empty")).unwrap();
    assert!(
        Chart::locate("empty", None, tmp.path(), None)
            .unwrap()
            .is_none()
    );
}
