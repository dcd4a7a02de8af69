//! A helm operation interrupted by infra's own death leaves the release
//! `pending-*`, which blocks every later helm operation. The journal proves
//! the pending operation was infra's (an intent without a result), so the
//! next run undoes it — uninstall when nothing was ever deployed, rollback
//! to the last deployed revision otherwise — says so, and converges.
//! helm is the stand-in (crates/infra-helm/tests/fixtures/helm, a
//! documented test double); "infra dies" is the wrapper killing its parent
//! with SIGKILL while the upgrade is pending.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cli_support::{install_standin_helm, output_text};

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let p = Project {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir_all(p.root().join("stacks")).expect("stacks");
        std::fs::write(
            p.root().join("kubeconfig"),
            "apiVersion: v1\nkind: Config\n",
        )
        .expect("kubeconfig");
        p.helm(false);
        p
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `bin/helm`: the stand-in; with `die_in_upgrade`, an upgrade leaves
    /// the release pending and then SIGKILLs infra, its parent.
    fn helm(&self, die_in_upgrade: bool) {
        install_standin_helm(self.root(), die_in_upgrade);
    }

    fn stack(&self, replicas: i64) {
        std::fs::write(
            self.root().join("stacks/x.toml"),
            format!(
                "[helm]\nbinary = \"bin/helm\"\n\n[resources.helm_release.app]\nname = \"app\"\nchart = \"oci://registry.example/app\"\nversion = \"1.0.0\"\nkubeconfig = \"kubeconfig\"\nvalues = {{ replicas = {replicas} }}\n"
            ),
        )
        .expect("stack");
    }

    fn infra(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_infra"))
            .args(args)
            .args(["--stack", "x", "--no-color"])
            .current_dir(self.root())
            .output()
            .expect("run infra")
    }

    /// The release's revisions as the stand-in keeps them: (revision, status).
    fn revisions(&self) -> Vec<(i64, String)> {
        let dir: PathBuf = self.root().join("helm-standin/releases/default/app");
        let mut out: Vec<(i64, String)> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| {
                        let r: serde_json::Value = serde_json::from_str(
                            &std::fs::read_to_string(e.path()).expect("revision"),
                        )
                        .expect("json");
                        (
                            r["version"].as_i64().expect("version"),
                            r["info"]["status"].as_str().expect("status").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

#[test]
fn an_interrupted_install_is_uninstalled_and_installed_again() {
    let p = Project::new();
    p.stack(1);
    p.helm(true);
    let out = p.infra(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), None, "killed: {}", output_text(&out));
    assert_eq!(p.revisions(), [(1, "pending-install".to_owned())]);

    p.helm(false);
    let out = p.infra(&["apply", "--auto-approve"]);
    let all = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("helm_release.app: recovered an interrupted create: uninstalled a pending release that was never deployed"),
        "{all}"
    );
    assert_eq!(p.revisions(), [(1, "deployed".to_owned())]);
    let out = p.infra(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
}

#[test]
fn an_interrupted_upgrade_is_rolled_back_and_upgraded_again() {
    let p = Project::new();
    p.stack(1);
    let out = p.infra(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));

    p.stack(2);
    p.helm(true);
    let out = p.infra(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), None, "killed: {}", output_text(&out));
    assert_eq!(
        p.revisions(),
        [
            (1, "deployed".to_owned()),
            (2, "pending-upgrade".to_owned())
        ]
    );

    p.helm(false);
    let out = p.infra(&["apply", "--auto-approve"]);
    let all = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("helm_release.app: recovered an interrupted update: rolled the release back from pending revision 2 to revision 1"),
        "{all}"
    );
    let revisions = p.revisions();
    assert_eq!(
        revisions.last().map(|(_, s)| s.as_str()),
        Some("deployed"),
        "{revisions:?}"
    );
    let values = std::fs::read_to_string(p.root().join("helm-standin/values.log")).expect("log");
    let last: serde_json::Value =
        serde_json::from_str(values.lines().last().expect("an upgrade")).expect("json");
    assert_eq!(last["content"]["replicas"], 2);
    let out = p.infra(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
}
