//! The shipped Airflow stacks against the official chart's schema
//! (`../shared/airflow-chart`, packed into a helm cache the way `helm pull`
//! leaves it): every overlay validates, and a values mistake fails
//! `infra validate` at the TOML line that made it. Also: the production
//! plan shows the release's values with the database password redacted.

mod cli_support;
mod real_helm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cli_support::output_text;

/// The chart version the blueprint pins. The shared schema is from the
/// chart's 1.19 line; its `Chart.yaml` is older, so the archive's says
/// this version (helm names cached charts `<name>-<version>.tgz`).
const CHART_VERSION: &str = "1.19.0";

const STACKS: [&str; 5] = [
    "airflow.toml",
    "dev.toml",
    "staging.toml",
    "prod.toml",
    "local.toml",
];

fn shared_chart() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/airflow-chart");
    assert!(
        dir.join("values.schema.json").is_file(),
        "the official Airflow chart's schema is expected at {} (the shared/ folder beside the project)",
        dir.display()
    );
    dir
}

/// A project with the shipped stacks and a helm cache holding the chart.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
        for f in STACKS {
            let text = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks").join(f),
            )
            .expect("shipped stack");
            std::fs::write(dir.path().join("stacks").join(f), text).expect("copy stack");
        }
        pack_chart(&dir.path().join("helm-cache/repository"));
        Project { dir }
    }

    fn write_stack(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(format!("stacks/{name}.toml")), text).expect("stack");
    }

    fn infra(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_infra"))
            .args(args)
            .arg("--no-color")
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("HELM_CACHE_HOME", self.dir.path().join("helm-cache"))
            .output()
            .expect("run infra")
    }
}

/// `airflow-<version>.tgz` with `airflow/Chart.yaml`, `values.yaml` and
/// `values.schema.json`, as helm keeps a pulled chart.
fn pack_chart(repository: &Path) {
    std::fs::create_dir_all(repository).expect("cache dir");
    let file = std::fs::File::create(repository.join(format!("airflow-{CHART_VERSION}.tgz")))
        .expect("archive");
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let chart = shared_chart();
    for f in ["values.yaml", "values.schema.json"] {
        tar.append_path_with_name(chart.join(f), format!("airflow/{f}"))
            .expect("add to archive");
    }
    let metadata = std::fs::read_to_string(chart.join("Chart.yaml")).expect("Chart.yaml");
    let metadata: String = metadata
        .lines()
        .map(|l| match l.starts_with("version:") {
            true => format!("version: {CHART_VERSION}\n"),
            false => format!("{l}\n"),
        })
        .collect();
    let mut header = tar::Header::new_gnu();
    header.set_size(metadata.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "airflow/Chart.yaml", metadata.as_bytes())
        .expect("add Chart.yaml");
    tar.into_inner().expect("tar").finish().expect("gzip");
}

#[test]
fn every_shipped_overlay_validates_against_the_chart_schema() {
    let p = Project::new();
    for stack in ["dev", "staging", "prod", "local"] {
        let out = p.infra(&["validate", "--stack", stack]);
        assert_eq!(out.status.code(), Some(0), "{stack}: {}", output_text(&out));
        // The schema was really applied: the same overlay with one wrong
        // value fails.
        p.write_stack(
            "wrong",
            &format!(
                "extends = \"{stack}.toml\"\n\n[resources.helm_release.airflow.values.workers]\nreplicas = \"three\"\n"
            ),
        );
        let out = p.infra(&["validate", "--stack", "wrong"]);
        assert_eq!(out.status.code(), Some(1), "{stack}: {}", output_text(&out));
    }
}

#[test]
fn a_wrong_type_fails_validate_at_its_toml_line() {
    let p = Project::new();
    p.write_stack(
        "wrong",
        "extends = \"prod.toml\"\n\n[resources.helm_release.airflow.values.workers]\nreplicas = \"three\"\n",
    );
    let out = p.infra(&["validate", "--stack", "wrong"]);
    let all = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("stacks/wrong.toml:4:12: helm_release.airflow: `values.workers.replicas`: \"three\" is not of type integer (values.schema.json of chart airflow 1.19.0)"),
        "{all}"
    );
    assert!(!all.contains("panicked"), "{all}");
}

#[test]
fn an_unknown_key_fails_validate_with_a_suggestion() {
    let p = Project::new();
    p.write_stack(
        "wrong",
        "extends = \"dev.toml\"\n\n[resources.helm_release.airflow.values.pgbouncer]\nmaxClientConns = 200\n",
    );
    let out = p.infra(&["validate", "--stack", "wrong"]);
    let all = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("stacks/wrong.toml:4:18: helm_release.airflow: `values.pgbouncer.maxClientConns`: unknown key `maxClientConns` (did you mean `maxClientConn`?)"),
        "{all}"
    );
}

#[test]
fn a_wrong_value_in_the_blueprint_is_reported_in_the_blueprint() {
    let p = Project::new();
    let blueprint = p.dir.path().join("stacks/airflow.toml");
    let text_before = std::fs::read_to_string(&blueprint).expect("blueprint");
    let line = text_before
        .lines()
        .position(|l| l == "executor = \"CeleryExecutor\"")
        .expect("the executor line")
        + 1;
    std::fs::write(
        &blueprint,
        text_before.replace("executor = \"CeleryExecutor\"", "executor = \"Celery\""),
    )
    .expect("edit");
    let out = p.infra(&["validate", "--stack", "staging"]);
    let all = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!("stacks/airflow.toml:{line}:12: helm_release.airflow: `values.executor`: \"Celery\" does not match the pattern")),
        "{all}"
    );
}

#[test]
fn the_prod_plan_shows_the_release_values_with_the_password_redacted() {
    let p = Project::new();
    let out = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["plan", "--stack", "prod", "--no-color"])
        .current_dir(p.dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", p.dir.path())
        .env("HELM_CACHE_HOME", p.dir.path().join("helm-cache"))
        .env("AIRFLOW_DAGS_SSH_KEY", "SENTINEL-prod-dags-key")
        .output()
        .expect("run infra");
    let all = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("+ helm_release.airflow"), "{all}");
    // The generated password and keys exist only after apply; the DAG
    // repository's key, from the environment, is redacted.
    for generated in ["pass", "fernetKey", "apiSecretKey", "jwtSecret"] {
        assert!(
            all.contains(&format!("{generated} = (known after apply)")),
            "{generated} not generated in\n{all}"
        );
    }
    assert!(all.contains("sshKey = (sensitive)"), "{all}");
    assert!(!all.contains("SENTINEL-prod-dags-key"), "{all}");
    for wired in [
        "remote_base_log_folder = \"s3://prod-airflow-logs-123456789012/task-logs\"",
        "host = (known after apply)",
        "replicas = 6",
        "useHelmHooks = false",
        "sslmode = \"require\"",
        "\"eks.amazonaws.com/role-arn\" = (known after apply)",
    ] {
        assert!(all.contains(wired), "{wired} missing from\n{all}");
    }
    assert!(
        all.contains("Plan: 38 to add, 0 to change, 0 to replace, 0 to destroy."),
        "{all}"
    );
}
