//! infra's plan-time verdict on a release's values against helm's own, case
//! by case, for the Airflow chart: helm's from `helm template` (what
//! install and upgrade run: the values coalesced with the chart's
//! values.yaml, then validated against values.schema.json) and from
//! `helm lint -f`; infra's from the provider's plan-time check
//! (`Provider::validate_in`, what `infra plan` and `infra validate` call)
//! and, for every case TOML can write (it has no null), from
//! `infra validate` on a stack.
//!
//! The values reach helm as infra sends them: serialized like infra's values
//! file (JSON, which helm reads as YAML).

use std::path::Path;
use std::process::Command;

use infra::infra_core::{CheckContext, Provider, Value};
use serde_json::{Value as Json, json};

use super::{build_chart, helm_command, real_helm, text};

/// A verdict on a set of values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
}

use Verdict::{Fail, Pass};

/// One set of values and helm's verdict on it, as documented here (the
/// test checks helm still says so, so that no case silently stops testing
/// what its name says).
struct Case {
    name: &'static str,
    values: Json,
    helm: Verdict,
}

fn case(name: &'static str, helm: Verdict, values: Json) -> Case {
    Case { name, values, helm }
}

/// Values close to the platform's production release.
fn production() -> Json {
    json!({
        "executor": "CeleryExecutor",
        "postgresql": {"enabled": false},
        "data": {"metadataConnection": {
            "user": "airflow", "pass": "a-database-password", "protocol": "postgresql",
            "host": "airflow.abc123.eu-west-1.rds.amazonaws.com", "port": 5432,
            "db": "airflow", "sslmode": "disable"
        }},
        "pgbouncer": {
            "enabled": true, "sslmode": "require", "maxClientConn": 100,
            "metadataPoolSize": 10, "resultBackendPoolSize": 5,
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "nodeSelector": {"NodeType": "general"}
        },
        "config": {"logging": {
            "remote_logging": "True",
            "remote_base_log_folder": "s3://prod-airflow-logs/task-logs",
            "remote_log_conn_id": "aws_logs", "encrypt_s3_logs": "True"
        }, "core": {"parallelism": 64}},
        "env": [{"name": "AIRFLOW_CONN_AWS_LOGS", "value": "aws://?region_name=eu-west-1"}],
        "dags": {"gitSync": {
            "enabled": true, "repo": "git@github.com:example/dags.git", "branch": "main",
            "rev": "HEAD", "subPath": "dags", "depth": 1, "sshKeySecret": "airflow-git-ssh",
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}
        }},
        "migrateDatabaseJob": {"useHelmHooks": false, "applyCustomEnv": false},
        "createUserJob": {"useHelmHooks": false, "applyCustomEnv": false},
        "webserver": {"defaultUser": {"enabled": false}},
        "apiServer": {
            "replicas": 2, "defaultUser": {"enabled": false},
            "serviceAccount": {"annotations": {
                "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/airflow-task-logs"
            }},
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
        },
        "scheduler": {"replicas": 2, "nodeSelector": {"NodeType": "general"}},
        "workers": {"replicas": 10, "celery": {"serviceAccount": {"create": true}}},
        "triggerer": {"replicas": 1},
        "quotas": {"pods": "100"}
    })
}

fn cases() -> Vec<Case> {
    vec![
        case("empty values", Pass, json!({})),
        case("production-like values", Pass, production()),
        case(
            "executor `Celery` breaks the executor pattern",
            Fail,
            json!({"executor": "Celery"}),
        ),
        case(
            "two executors, comma-separated",
            Pass,
            json!({"executor": "CeleryExecutor,KubernetesExecutor"}),
        ),
        case(
            "an executor class by module path",
            Pass,
            json!({"executor": "my_company.executors.CustomExecutor"}),
        ),
        case(
            "a non-ASCII letter in the executor",
            Fail,
            json!({"executor": "CeleryExecutör"}),
        ),
        case(
            "executor as a table",
            Fail,
            json!({"executor": {"name": "CeleryExecutor"}}),
        ),
        case(
            "workers.replicas as a string",
            Fail,
            json!({"workers": {"replicas": "three"}}),
        ),
        case(
            "workers.replicas as a numeric string",
            Fail,
            json!({"workers": {"replicas": "3"}}),
        ),
        case(
            "workers.replicas 3.0 is an integer",
            Pass,
            json!({"workers": {"replicas": 3.0}}),
        ),
        case(
            "workers.replicas 2.5",
            Fail,
            json!({"workers": {"replicas": 2.5}}),
        ),
        case(
            "workers.celery takes any key",
            Pass,
            json!({"workers": {"celery": {"replicas": 2}}}),
        ),
        case("workers as a string", Fail, json!({"workers": "many"})),
        case(
            "pgbouncer.sslmode outside its enum",
            Fail,
            json!({"pgbouncer": {"sslmode": "required"}}),
        ),
        case(
            "pgbouncer.sslmode verify-full",
            Pass,
            json!({"pgbouncer": {"sslmode": "verify-full"}}),
        ),
        case(
            "an unknown pgbouncer key",
            Fail,
            json!({"pgbouncer": {"maxClientConns": 200}}),
        ),
        case(
            "data.metadataConnection.port as a string",
            Fail,
            json!({"data": {"metadataConnection": {"port": "5432"}}}),
        ),
        case(
            "an unknown data.metadataConnection key",
            Fail,
            json!({"data": {"metadataConnection": {"hostname": "db"}}}),
        ),
        case(
            "data.resultBackendConnection missing required keys",
            Fail,
            json!({"data": {"resultBackendConnection": {"user": "airflow"}}}),
        ),
        case(
            "apiServer.replicas as a numeric string",
            Fail,
            json!({"apiServer": {"replicas": "2"}}),
        ),
        case(
            "apiServer.defaultUser.enabled",
            Pass,
            json!({"apiServer": {"defaultUser": {"enabled": false}}}),
        ),
        case(
            "createUserJob.defaultUser does not exist",
            Fail,
            json!({"createUserJob": {"defaultUser": {"enabled": false}}}),
        ),
        case(
            "dags.gitSync over SSH",
            Pass,
            json!({"dags": {"gitSync": {
                "enabled": true, "repo": "git@github.com:example/dags.git",
                "branch": "main", "sshKeySecret": "airflow-ssh"
            }}}),
        ),
        case(
            "dags.gitSync.repository is not a key",
            Fail,
            json!({"dags": {"gitSync": {"enabled": true, "repository": "x"}}}),
        ),
        case(
            "dags.gitSync.depth as a string",
            Fail,
            json!({"dags": {"gitSync": {"depth": "1"}}}),
        ),
        case(
            "an unknown top-level key (the root allows any)",
            Pass,
            json!({"notAChartKey": 1}),
        ),
        case(
            "an env entry without its value",
            Fail,
            json!({"env": [{"name": "X"}]}),
        ),
        case(
            "a config option as a list",
            Fail,
            json!({"config": {"core": {"dags_folder": ["/dags"]}}}),
        ),
        case(
            "a resource quantity as a number",
            Pass,
            json!({"workers": {"resources": {"requests": {"cpu": 0.5}}}}),
        ),
        case(
            "a resource quantity as a boolean",
            Fail,
            json!({"workers": {"resources": {"requests": {"cpu": true}}}}),
        ),
        case(
            "an ingress host as a plain string (the deprecated form)",
            Pass,
            json!({"ingress": {"web": {"hosts": ["airflow.example.com"]}}}),
        ),
        case(
            "an ingress host as a number",
            Fail,
            json!({"ingress": {"web": {"hosts": [5]}}}),
        ),
        case(
            "an int32 field beyond int32 (format int32 is not checked)",
            Pass,
            json!({"workers": {"extraContainers": [{
                "name": "sidecar", "image": "busybox",
                "ports": [{"containerPort": 5_000_000_000_i64}]
            }]}}),
        ),
        case(
            "a date-time field holding an RFC 3339 time",
            Pass,
            json!({"workers": {"volumeClaimTemplates": [{
                "metadata": {"name": "data", "creationTimestamp": "2026-01-02T03:04:05Z"},
                "spec": {"accessModes": ["ReadWriteOnce"]}
            }]}}),
        ),
        case(
            "a date-time field that is no date-time",
            Fail,
            json!({"workers": {"volumeClaimTemplates": [{
                "metadata": {"name": "data", "creationTimestamp": "yesterday"},
                "spec": {"accessModes": ["ReadWriteOnce"]}
            }]}}),
        ),
        case("postgresql as a string", Fail, json!({"postgresql": "off"})),
        // TOML has no null; these reach infra from references and from
        // stacks built in code. helm deletes a key whose value is null when
        // the chart's values.yaml has the key (a non-null default, inside
        // tables), so the default is gone rather than replaced.
        case(
            "workers.replicas null removes the default",
            Pass,
            json!({"workers": {"replicas": null}}),
        ),
        case(
            "executor null removes the default",
            Pass,
            json!({"executor": null}),
        ),
        case(
            "data.resultBackendConnection null (the schema allows null)",
            Pass,
            json!({"data": {"resultBackendConnection": null}}),
        ),
        case(
            "a null config option the chart does not default stays null",
            Fail,
            json!({"config": {"core": {"not_a_default": null}}}),
        ),
        case(
            "a null top-level key the chart does not default",
            Pass,
            json!({"notAChartKey": null}),
        ),
    ]
}

/// What one run said: its verdict and the lines that explain it.
#[derive(Debug)]
struct Said {
    verdict: Verdict,
    detail: String,
}

fn said(success: bool, detail: String) -> Said {
    Said {
        verdict: if success { Pass } else { Fail },
        detail,
    }
}

/// helm's verdicts: `helm template` and `helm lint`, each with the values
/// file `values`. A failure must be about the values (the chart itself is
/// good), so the message is checked too.
fn helm_verdicts(helm: &Path, home: &Path, chart: &Path, values: &Path) -> (Said, Said) {
    let run = |args: &[&str]| {
        let out = helm_command(helm, home)
            .args(args)
            .arg(chart)
            .arg("-f")
            .arg(values)
            .output()
            .expect("run helm");
        (out.status.success(), text(&out))
    };
    let (ok, out) = run(&["template", "rel"]);
    assert!(
        ok || out.contains("values don't meet the specifications of the schema")
            || out.contains("type mismatch on"),
        "helm template failed for another reason than the values:\n{out}"
    );
    let template = said(ok, out);
    let (ok, out) = run(&["lint"]);
    assert!(
        ok || out.contains("[ERROR] values.yaml"),
        "helm lint failed for another reason than the values:\n{out}"
    );
    (template, said(ok, out))
}

/// infra's plan-time check, called as the engine calls it.
fn infra_library_verdict(root: &Path, chart: &Path, values: &Json) -> Said {
    let inputs: Value = [
        ("name", Value::from("airflow")),
        ("namespace", Value::from("airflow")),
        ("chart", Value::from(chart.display().to_string().as_str())),
        ("version", Value::from("1.15.0")),
        ("kubeconfig", Value::from("kubeconfig")),
        ("values", Value::from_json(values.clone())),
    ]
    .into_iter()
    .collect();
    let provider = infra_helm::HelmRelease::default();
    let problems = provider.validate_in(
        &CheckContext {
            root,
            settings: &Value::Null,
        },
        &inputs,
    );
    let detail = problems
        .iter()
        .map(|(_, m)| m.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    said(problems.is_empty(), detail)
}

/// `values` as a TOML value; `None` when it holds a null, which TOML
/// cannot write.
fn toml(values: &Json) -> Option<String> {
    Some(match values {
        Json::Null => return None,
        Json::String(s) => {
            assert!(!s.contains("${"), "no interpolation in test strings: {s}");
            // JSON's escapes are TOML basic-string escapes.
            Json::String(s.clone()).to_string()
        }
        Json::Bool(_) | Json::Number(_) => values.to_string(),
        Json::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(toml)
                .collect::<Option<Vec<_>>>()?
                .join(", ")
        ),
        Json::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| Some(format!("{} = {}", Json::String(k.clone()), toml(v)?)))
                .collect::<Option<Vec<_>>>()?
                .join(", ")
        ),
    })
}

/// `infra validate` on a stack with the release; `None` when TOML cannot
/// write the values.
fn infra_binary_verdict(root: &Path, chart: &Path, values: &Json) -> Option<Said> {
    let values = toml(values)?;
    std::fs::create_dir_all(root.join("stacks")).expect("stacks");
    std::fs::write(
        root.join("stacks/x.toml"),
        format!(
            "[resources.helm_release.airflow]\nname = \"airflow\"\nnamespace = \"airflow\"\nchart = {}\nversion = \"1.15.0\"\nkubeconfig = \"kubeconfig\"\nvalues = {values}\n",
            Json::String(chart.display().to_string())
        ),
    )
    .expect("stack");
    let out = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["validate", "--stack", "x", "--no-color"])
        .current_dir(root)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", root)
        .output()
        .expect("run infra validate");
    let detail = text(&out);
    match out.status.code() {
        Some(0) => Some(said(true, detail)),
        Some(1) if detail.contains("values.schema.json of chart airflow") => {
            Some(said(false, detail))
        }
        _ => panic!("infra validate failed for another reason than the values:\n{detail}"),
    }
}

/// Every verdict on one case.
struct Row {
    name: &'static str,
    documented: Verdict,
    template: Said,
    lint: Said,
    library: Said,
    binary: Option<Said>,
}

impl Row {
    /// What disagrees with helm's install-time verdict (`helm template`).
    fn disagreements(&self) -> Vec<String> {
        let truth = self.template.verdict;
        let mut out = Vec::new();
        if self.documented != truth {
            out.push(format!(
                "helm template says {truth:?}, the case documents {:?}",
                self.documented
            ));
        }
        let mut check = |who: &str, s: &Said| {
            if s.verdict != truth {
                out.push(format!(
                    "{who} says {:?}, helm template {truth:?}:\n      {who}: {}\n      helm template: {}",
                    s.verdict,
                    s.detail.trim().replace('\n', "\n        "),
                    self.template.detail.trim().replace('\n', "\n        ")
                ));
            }
        };
        check("helm lint", &self.lint);
        check("infra (validate_in)", &self.library);
        if let Some(b) = &self.binary {
            check("infra validate", b);
        }
        out
    }
}

#[test]
fn infra_and_helm_agree_on_the_airflow_values_case_by_case() {
    let helm = real_helm();
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join("airflow");
    build_chart(&chart);
    let cases = cases();
    let rows: Vec<Row> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (helm, chart, base) = (&helm, &chart, dir.path());
                s.spawn(move || {
                    let root = base.join(format!("case-{i}"));
                    std::fs::create_dir_all(&root).expect("case dir");
                    // Exactly what infra writes into its values file.
                    let file = root.join("values.json");
                    let bytes = serde_json::to_vec_pretty(&Value::from_json(c.values.clone()))
                        .expect("values as JSON");
                    std::fs::write(&file, bytes).expect("values file");
                    let (template, lint) = helm_verdicts(helm, &root, chart, &file);
                    Row {
                        name: c.name,
                        documented: c.helm,
                        template,
                        lint,
                        library: infra_library_verdict(&root, chart, &c.values),
                        binary: infra_binary_verdict(&root, chart, &c.values),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("case thread"))
            .collect()
    });

    let mut table = String::new();
    let mut disagreements = Vec::new();
    for row in &rows {
        let binary = row
            .binary
            .as_ref()
            .map_or_else(|| "(no TOML)".to_owned(), |b| format!("{:?}", b.verdict));
        table.push_str(&format!(
            "{:<60} helm template {:?}, helm lint {:?}, infra {:?}, infra validate {binary}\n",
            row.name, row.template.verdict, row.lint.verdict, row.library.verdict
        ));
        for d in row.disagreements() {
            disagreements.push(format!("{}: {d}", row.name));
        }
    }
    println!("{table}");
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s):\n{}\n\nall verdicts:\n{table}",
        disagreements.len(),
        disagreements.join("\n")
    );
    // Both verdicts occur, through both infra paths.
    for verdict in [Pass, Fail] {
        assert!(
            rows.iter()
                .filter(|r| r.template.verdict == verdict)
                .count()
                >= 5,
            "{table}"
        );
        assert!(
            rows.iter()
                .filter(|r| r.binary.as_ref().is_some_and(|b| b.verdict == verdict))
                .count()
                >= 5,
            "{table}"
        );
    }
}

#[test]
fn toml_writes_what_the_cases_hold() {
    assert_eq!(
        toml(&json!({"a": {"b c": [1, 2.5, "x\"y"], "t": true}})).as_deref(),
        Some(r#"{ "a" = { "b c" = [1, 2.5, "x\"y"], "t" = true } }"#)
    );
    assert_eq!(toml(&json!({"a": [null]})), None);
    assert_eq!(toml(&json!({})).as_deref(), Some("{  }"));
}
