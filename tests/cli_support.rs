//! Helpers for the end-to-end tests of the `infra` binary: a project in a
//! temporary directory, running the binary in it, reading what it left.
//! Included by the `cli_*` tests as a module; on its own it has no tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The stack every test uses: `stacks/x.toml`.
pub const STACK: &str = "x";

/// A project root with `stacks/x.toml`.
pub struct Project {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`-1` when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Project {
    /// A project whose stack file is `stack` (with `[sim] dir = ".sim"`
    /// prepended).
    pub fn new(stack: &str) -> Self {
        let p = Project {
            dir: tempfile::tempdir().expect("tempdir"),
            env: Vec::new(),
        };
        std::fs::create_dir_all(p.root().join("stacks")).expect("stacks dir");
        p.set_stack(stack);
        p
    }

    /// Sets an environment variable for every run.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The project root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Rewrites the stack file.
    pub fn set_stack(&self, stack: &str) {
        self.write_raw(&format!("[sim]\ndir = \".sim\"\n\n{stack}"));
    }

    /// Writes the stack file exactly as given.
    pub fn write_raw(&self, text: &str) {
        std::fs::write(
            self.root().join("stacks").join(format!("{STACK}.toml")),
            text,
        )
        .expect("write stack");
    }

    /// The command, ready to run in the project on stack `x`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.bare(args);
        cmd.args(["--stack", STACK]);
        cmd
    }

    /// The command in the project, without `--stack`.
    pub fn bare(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_infra"));
        cmd.args(args)
            .current_dir(self.root())
            .env_remove("INFRA_STACK")
            .env_remove("INFRA_SECRET_KEY")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `infra ARGS --stack x` to completion.
    pub fn infra(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("run infra").into()
    }

    /// Every file under `state/` with its bytes; empty when there is none.
    pub fn state_files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let dir = self.root().join("state");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                out.insert(e.path(), std::fs::read(e.path()).unwrap_or_default());
            }
        }
        out
    }

    /// The state document, parsed.
    pub fn state(&self) -> serde_json::Value {
        let path = self.root().join("state").join(format!("{STACK}.json"));
        serde_json::from_slice(&std::fs::read(&path).expect("state file")).expect("state json")
    }

    /// The sim's ledger, rebuilt from its resource files.
    pub fn ledger(&self) -> BTreeMap<String, infra_sim::LedgerEntry> {
        infra_sim::ledger(&self.root().join(".sim")).expect("ledger")
    }

    /// Addresses live in the sim cloud.
    pub fn live(&self) -> Vec<String> {
        let mut live: Vec<String> = infra_sim::live_resources(&self.root().join(".sim"))
            .expect("live resources")
            .into_iter()
            .map(|r| r.address)
            .collect();
        live.sort();
        live
    }
}

/// Stdout and stderr of a finished command, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes `root/bin/helm`: a wrapper running the stand-in helm
/// (crates/infra-helm/tests/fixtures/helm, a documented test double) with
/// its releases and logs under `root/helm-standin/`. With `die_in_upgrade`,
/// an upgrade leaves the release pending and then SIGKILLs its parent
/// (infra), as a run killed mid-upgrade would.
pub fn install_standin_helm(root: &Path, die_in_upgrade: bool) {
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 must be installed to run the helm stand-in");
    let python = String::from_utf8_lossy(&python.stdout).trim().to_owned();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/infra-helm/tests/fixtures/helm");
    let run = format!("'{python}' '{}'", fixture.display());
    let upgrade = if die_in_upgrade {
        format!(
            "if [ \"$1\" = upgrade ]; then\n  HELM_STANDIN_PENDING=upgrade {run} \"$@\"\n  kill -9 $PPID\n  exit 1\nfi\n"
        )
    } else {
        String::new()
    };
    let script = format!(
        "#!/bin/sh\nexport HELM_STANDIN_DIR='{}'\n{upgrade}exec {run} \"$@\"\n",
        root.join("helm-standin").display()
    );
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    // Written by `install`, not by this process: a child another test
    // thread forks while this process holds the file open for writing keeps
    // it open until its exec, and running the script meanwhile fails with
    // "Text file busy" (ETXTBSY).
    let draft = bin.join("helm.draft");
    std::fs::write(&draft, script).expect("wrapper");
    let status = std::process::Command::new("install")
        .args(["-m", "0755"])
        .arg(&draft)
        .arg(bin.join("helm"))
        .status()
        .expect("run install (coreutils)");
    assert!(status.success(), "install the helm wrapper");
}

/// Starts `cmd` and returns once a line of its output contains `marker`
/// (at once for an empty marker; panics after 30 s, with what it printed),
/// with a channel of the rest: stdout lines as they are, stderr lines
/// prefixed `stderr: `. Its output keeps being drained, so it never blocks
/// on a full pipe.
pub fn spawn_until(
    mut cmd: Command,
    marker: &str,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read};
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (tx, rx) = std::sync::mpsc::channel();
    let pipes: [(Box<dyn Read + Send>, &str); 2] = [
        (Box::new(child.stdout.take().expect("stdout")), ""),
        (Box::new(child.stderr.take().expect("stderr")), "stderr: "),
    ];
    for (pipe, prefix) in pipes {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(format!("{prefix}{line}"));
            }
        });
    }
    drop(tx);
    if marker.is_empty() {
        return (child, rx);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = String::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(marker) => return (child, rx),
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
            }
            Err(e) => {
                let _ = child.kill();
                panic!("never saw {marker:?} ({e}); the output was:\n{seen}");
            }
        }
    }
}
