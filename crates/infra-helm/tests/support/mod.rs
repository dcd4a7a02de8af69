//! Test support: the stand-in helm (tests/fixtures/helm, a documented test
//! double) behind a per-test wrapper script, contexts pointing `[helm]
//! binary` at it, and readers for what the stand-in recorded.
//!
//! Why a wrapper: the stand-in needs `HELM_STANDIN_DIR` (and sometimes
//! `HELM_STANDIN_VERSION`, `_FAIL`, `_PENDING`). Tests in one binary run in
//! parallel threads, so setting the test process's environment would race
//! (and `set_var` is unsafe); the provider must not grow an "extra env"
//! setting only for tests. Each test therefore writes its own tiny shell
//! script that sets those variables and execs the fixture, and points
//! `[helm] binary` at it — exactly how a user would point infra at a helm.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use infra_core::{OpContext, Presence, Provider, Secret, Value};
use infra_helm::HelmRelease;

/// The secret sentinel placed inside values.
pub const SENTINEL: &str = "SENTINEL-s3cr3t-Pa55word";

/// What infra's own executable would be in the EKS kubeconfig.
pub const TOKEN_COMMAND: &str = "/opt/infra/bin/infra";

/// One test's stand-in helm.
pub struct Standin {
    dir: tempfile::TempDir,
    version: u8,
    env: Vec<(String, String)>,
}

fn python() -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 must be installed to run the helm stand-in");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm")
}

impl Standin {
    /// A stand-in playing Helm `version` (3 or 4).
    pub fn new(version: u8) -> Self {
        let s = Standin {
            dir: tempfile::tempdir().expect("a temp dir"),
            version,
            env: Vec::new(),
        };
        s.write_wrapper();
        s
    }

    /// Sets (or, with `None`, clears) a `HELM_STANDIN_*` variable.
    pub fn set(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.env.push((key.to_owned(), v.to_owned()));
        }
        self.write_wrapper();
    }

    fn write_wrapper(&self) {
        let mut vars = format!(
            "HELM_STANDIN_DIR='{}' HELM_STANDIN_VERSION='{}'",
            self.state_dir().display(),
            self.version
        );
        for (k, v) in &self.env {
            vars.push_str(&format!(" {k}='{v}'"));
        }
        let script = format!(
            "#!/bin/sh\n{vars} exec '{}' '{}' \"$@\"\n",
            python(),
            fixture().display()
        );
        install_executable(&self.binary(), &script);
    }

    /// The wrapper, for `[helm] binary`.
    pub fn binary(&self) -> PathBuf {
        self.dir.path().join("helm")
    }

    /// `HELM_STANDIN_DIR`.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A user kubeconfig file (the stand-in only checks it exists).
    pub fn user_kubeconfig(&self) -> PathBuf {
        let p = self.dir.path().join("user-kubeconfig");
        if !p.exists() {
            std::fs::write(&p, "apiVersion: v1\nkind: Config\n").expect("write kubeconfig");
        }
        p
    }

    /// The context for an operation: `[helm] binary` is the wrapper.
    pub fn ctx(&self) -> OpContext {
        let settings: Value = [
            ("binary", Value::from(self.binary().display().to_string())),
            ("token_command", Value::from(TOKEN_COMMAND)),
        ]
        .into_iter()
        .collect();
        OpContext::new(
            "helm_release.airflow".parse().expect("an address"),
            "token-1".into(),
            settings,
            self.dir.path().to_owned(),
            Duration::from_secs(60),
            Arc::new(|_| {}),
        )
    }

    fn lines(&self, name: &str) -> Vec<serde_json::Value> {
        let Ok(text) = std::fs::read_to_string(self.state_dir().join(name)) else {
            return Vec::new();
        };
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Every invocation's argv, with temporary paths replaced by
    /// `VALUES`, `KUBECONFIG` (infra's own files) and `$DIR` (the test's).
    pub fn calls(&self) -> Vec<String> {
        let dir = self.dir.path().display().to_string();
        self.lines("argv.log")
            .iter()
            .map(|argv| {
                argv.as_array()
                    .expect("argv is a list")
                    .iter()
                    .map(|a| {
                        let a = a.as_str().expect("a string");
                        if a.ends_with("/values.json") {
                            "VALUES".to_owned()
                        } else if a.ends_with("/kubeconfig.json") {
                            "KUBECONFIG".to_owned()
                        } else {
                            a.replace(&dir, "$DIR")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// The calls since the first `n`.
    pub fn calls_after(&self, n: usize) -> Vec<String> {
        self.calls().into_iter().skip(n).collect()
    }

    /// The raw argv.log text.
    pub fn argv_log(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("argv.log")).unwrap_or_default()
    }

    /// The raw env.log text.
    pub fn env_log(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("env.log")).unwrap_or_default()
    }

    /// The values files the stand-in received: `{path, mode, content}`.
    pub fn values_received(&self) -> Vec<serde_json::Value> {
        self.lines("values.log")
    }

    /// The kubeconfig files the stand-in received: `{path, mode, content}`.
    pub fn kubeconfigs_received(&self) -> Vec<serde_json::Value> {
        self.lines("kubeconfig.log")
    }

    /// A stored release revision, to edit as a user with helm would.
    pub fn release_file(&self, namespace: &str, name: &str, revision: i64) -> PathBuf {
        self.state_dir()
            .join("releases")
            .join(namespace)
            .join(name)
            .join(format!("{revision}.json"))
    }

    /// Edits a stored revision.
    pub fn edit_release(
        &self,
        namespace: &str,
        name: &str,
        revision: i64,
        edit: impl FnOnce(&mut serde_json::Value),
    ) {
        let path = self.release_file(namespace, name, revision);
        let mut j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("the release file"))
                .expect("JSON");
        edit(&mut j);
        std::fs::write(&path, serde_json::to_string(&j).expect("JSON")).expect("write");
    }
}

/// Inputs from JSON with the schema's defaults filled in, as the planner does.
pub fn inputs(provider: &HelmRelease, json: &str) -> Value {
    let mut v: Value = serde_json::from_str(json).expect("inputs JSON");
    if let Value::Map(m) = &mut v {
        for attr in &provider.schema().attributes {
            if let Presence::Default(d) = &attr.presence {
                m.entry(attr.name.clone()).or_insert_with(|| d.clone());
            }
        }
    }
    v
}

/// A secret with plaintext, as the engine hands it to a provider.
pub fn secret(plaintext: &str) -> Value {
    Value::Sensitive(Secret::new("hmac-sha256:sentinel", plaintext.into()))
}

/// Sets `values.<path>` (dotted) to `v`.
pub fn set_value(inputs: &mut Value, path: &str, v: Value) {
    let Value::Map(m) = inputs else {
        panic!("inputs are a map")
    };
    let mut cur = m.entry("values".to_owned()).or_insert_with(Value::map);
    for key in path.split('.') {
        let Value::Map(inner) = cur else {
            panic!("a table at {key}")
        };
        cur = inner.entry(key.to_owned()).or_insert_with(Value::map);
    }
    *cur = v;
}

/// What state keeps of inputs: secrets as digests only.
pub fn as_stored(inputs: &Value) -> Value {
    serde_json::from_str(&serde_json::to_string(inputs).expect("serialize")).expect("deserialize")
}

/// Writes an executable script. The file is written by `install`, not by
/// this process: a child another test thread forks while this process
/// holds the file open for writing would keep it open until its exec, and
/// running the script meanwhile fails with "Text file busy" (ETXTBSY).
pub fn install_executable(path: &std::path::Path, script: &str) {
    let draft = path.with_extension("draft");
    std::fs::write(&draft, script).expect("write the script");
    let status = std::process::Command::new("install")
        .arg("-m")
        .arg("0755")
        .arg(&draft)
        .arg(path)
        .status()
        .expect("run install (coreutils)");
    assert!(status.success(), "install {}", path.display());
}
