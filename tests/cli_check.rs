//! `infra check` on the shipped stacks: production passes with zero
//! errors; an overlay of prod that drops any checklist item fails naming
//! the rule at the line the overlay wrote; waivers; SARIF that validates
//! against the SARIF 2.1.0 schema (vendored in tests/data/); the findings
//! in `plan` and `plan --json`; and `apply` refusing an error finding
//! before it changes anything. Also, in the same test binary (each one
//! links the whole AWS SDK): `infra diff` (`cli_check/diff.rs`) and the CI
//! examples (`cli_check/ci_examples.rs`).

#[path = "cli_check/ci_examples.rs"]
mod ci_examples;
mod cli_support;
#[path = "cli_check/diff.rs"]
mod diff;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The day the checks are judged on (1.35 is in standard support; 1.34
/// left it two days earlier).
const TODAY: &str = "2026-12-04";

const STACKS: [&str; 5] = [
    "airflow.toml",
    "dev.toml",
    "staging.toml",
    "prod.toml",
    "local.toml",
];

fn shipped(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("stacks")
            .join(name),
    )
    .expect("shipped stack")
}

/// A project holding the shipped stacks.
struct Project {
    dir: tempfile::TempDir,
}

/// What a run did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
        for f in STACKS {
            std::fs::write(dir.path().join("stacks").join(f), shipped(f)).expect("copy stack");
        }
        Project { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `stacks/<name>.toml`: `extends = "prod.toml"` and `overlay`.
    fn overlay(&self, name: &str, overlay: &str) {
        std::fs::write(
            self.root().join(format!("stacks/{name}.toml")),
            format!("extends = \"prod.toml\"\n{overlay}"),
        )
        .expect("overlay");
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_infra"));
        cmd.args(args)
            .arg("--no-color")
            .current_dir(self.root())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root())
            .env("INFRA_CHECK_TODAY", TODAY)
            .stdin(std::process::Stdio::null());
        cmd
    }

    fn run(&self, cmd: &mut Command) -> Run {
        let out = cmd.output().expect("run infra");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn infra(&self, args: &[&str]) -> Run {
        self.run(&mut self.command(args))
    }

    fn state_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.root().join("state"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        files
    }
}

/// `stacks/<file>:LINE:COL` of the first occurrence of `needle` in `text`
/// (columns in characters, from 1).
fn at(file: &str, text: &str, needle: &str) -> String {
    for (i, line) in text.lines().enumerate() {
        if let Some(byte) = line.find(needle) {
            let col = line[..byte].chars().count() + 1;
            return format!("stacks/{file}:{}:{col}", i + 1);
        }
    }
    panic!("`{needle}` is not in {file}");
}

#[test]
fn prod_passes_with_zero_errors() {
    let p = Project::new();
    let run = p.infra(&["check", "--stack", "prod"]);
    run.expect(0);
    assert!(
        run.stdout
            .contains("Check passed (profile production): 0 errors,"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("error["), "{}", run.stdout);
    // The day 1.35 leaves standard support, production fails, and the
    // finding says where the version is set.
    let lapsed = p.run(
        p.command(&["check", "--stack", "prod"])
            .env("INFRA_CHECK_TODAY", "2027-03-27"),
    );
    lapsed.expect(1);
    let airflow = shipped("airflow.toml");
    let version = at("airflow.toml", &airflow, "\"${var.cluster_version}\"");
    assert!(
        lapsed.stdout.contains(&format!(
            "error[eks-version-support]: {version}: eks_cluster.main: Kubernetes 1.35 is past EKS standard support since 2027-03-27"
        )),
        "{}",
        lapsed.stdout
    );
    let before = p.run(
        p.command(&["check", "--stack", "prod"])
            .env("INFRA_CHECK_TODAY", "2027-03-26"),
    );
    before.expect(0);
    assert!(
        before.stdout.contains("note[eks-version-support]: ")
            && before
                .stdout
                .contains("leaves EKS standard support on 2027-03-27"),
        "{}",
        before.stdout
    );
}

#[test]
fn the_other_shipped_stacks_have_no_error_in_development() {
    let p = Project::new();
    for stack in ["dev", "staging", "local"] {
        let run = p.infra(&["check", "--stack", stack]);
        run.expect(0);
        assert!(
            run.stdout
                .contains("Check passed (profile development): 0 errors,"),
            "{stack}: {}",
            run.stdout
        );
    }
}

/// One checklist item dropped from prod: the overlay, the rule that must
/// name it, and the text in the overlay where the finding must point
/// (`None`: at the resource, in the blueprint).
struct Drop {
    rule: &'static str,
    overlay: &'static str,
    marker: Option<&'static str>,
}

const fn drop(rule: &'static str, overlay: &'static str, marker: &'static str) -> Drop {
    Drop {
        rule,
        overlay,
        marker: Some(marker),
    }
}

const DROPS: &[Drop] = &[
    drop(
        "eks-version-support",
        "[resources.eks_cluster.main]\nversion = \"1.31\"\n",
        "\"1.31\"",
    ),
    drop(
        "rds-engine-support",
        "[resources.rds_instance.airflow_db]\nengine_version = \"13\"\n",
        "\"13\"",
    ),
    drop(
        "rds-multi-az",
        "[resources.rds_instance.airflow_db]\nmulti_az = false\n",
        "false",
    ),
    drop(
        "rds-deletion-protection",
        "[resources.rds_instance.airflow_db]\ndeletion_protection = false\n",
        "false",
    ),
    drop(
        "rds-backup-retention",
        "[resources.rds_instance.airflow_db]\nbackup_retention_period = 3\n",
        "3",
    ),
    drop(
        "rds-storage-encrypted",
        "[resources.rds_instance.airflow_db]\nstorage_encrypted = false\n",
        "false",
    ),
    drop(
        "rds-not-public",
        "[resources.rds_instance.airflow_db]\npublicly_accessible = true\n",
        "true",
    ),
    drop(
        "rds-final-snapshot",
        "[resources.rds_instance.airflow_db]\nskip_final_snapshot = true\n",
        "true",
    ),
    // Found at the resource: the lifecycle has no location of its own.
    Drop {
        rule: "rds-prevent-destroy",
        overlay: "[resources.rds_instance.airflow_db]\nlifecycle = { prevent_destroy = false }\n",
        marker: None,
    },
    drop(
        "s3-public-access-block",
        "[resources.s3_bucket.logs]\npublic_access_block = { block_public_acls = false }\n",
        "false",
    ),
    drop(
        "s3-encryption",
        "[resources.s3_bucket.logs]\nencryption = \"none\"\n",
        "\"none\"",
    ),
    drop(
        "s3-versioning",
        "[resources.s3_bucket.logs]\nversioning = false\n",
        "false",
    ),
    drop(
        "s3-lifecycle-transition",
        "[[resources.s3_bucket.logs.lifecycle_rules]]\nid = \"early\"\ntransitions = [{ days = 7, storage_class = \"STANDARD_IA\" }]\n",
        "7",
    ),
    drop(
        "eks-public-endpoint",
        "[resources.eks_cluster.main]\npublic_access_cidrs = [\"0.0.0.0/0\"]\n",
        "\"0.0.0.0/0\"",
    ),
    drop(
        "eks-control-plane-logs",
        "[resources.eks_cluster.main]\nenabled_log_types = [\"api\"]\n",
        "[\"api\"]",
    ),
    // Found at the cluster, which no entry names any more.
    Drop {
        rule: "eks-access-entries",
        overlay: "[resources.eks_access_entry.ci]\ncluster = \"another-cluster\"\n[resources.eks_access_entry.admins]\ncluster = \"another-cluster\"\n",
        marker: None,
    },
    drop(
        "network-public-ingress",
        "[resources.security_group.bastion]\nname = \"bastion\"\nvpc_id = \"${vpc.main.id}\"\ningress = [{ protocol = \"tcp\", from_port = 22, to_port = 22, cidr_blocks = [\"0.0.0.0/0\"] }]\n",
        "\"0.0.0.0/0\"",
    ),
    drop(
        "network-db-security-groups",
        "[resources.security_group.db]\ningress = [{ protocol = \"tcp\", from_port = 5432, to_port = 5432, cidr_blocks = [\"10.20.0.0/16\"] }]\n",
        "[\"10.20.0.0/16\"]",
    ),
    drop(
        "airflow-external-database",
        "[resources.helm_release.airflow.values.postgresql]\nenabled = true\n",
        "true",
    ),
    drop(
        "airflow-pgbouncer",
        "[resources.helm_release.airflow.values.pgbouncer]\nenabled = false\n",
        "false",
    ),
    drop(
        "airflow-database-tls",
        "[resources.helm_release.airflow.values.pgbouncer]\nsslmode = \"prefer\"\n",
        "\"prefer\"",
    ),
    drop(
        "airflow-in-cluster-tls",
        "[resources.helm_release.airflow.values.data.metadataConnection]\nsslmode = \"require\"\n",
        "\"require\"",
    ),
    drop(
        "airflow-remote-logging",
        "[resources.helm_release.airflow.values.config.logging]\nremote_logging = \"False\"\n",
        "\"False\"",
    ),
    drop(
        "airflow-logs-irsa",
        "[resources.iam_role.task_logs]\nservice_account_trust = { oidc_provider_arn = \"${iam_openid_connect_provider.eks.arn}\", service_accounts = [\"airflow:airflow-api-server\"] }\n",
        "[\"airflow:airflow-api-server\"]",
    ),
    drop(
        "airflow-plaintext-secret",
        "[resources.helm_release.airflow.values.data.metadataConnection]\npass = \"hunter2-in-the-file\"\n",
        "\"hunter2-in-the-file\"",
    ),
    drop(
        "airflow-ha-replicas",
        "[resources.helm_release.airflow.values.scheduler]\nreplicas = 1\n",
        "1",
    ),
    // Found at the component's table, which has no requests.
    drop(
        "airflow-resource-requests",
        "[resources.helm_release.airflow.values.flower]\nenabled = true\n",
        "[resources.helm_release.airflow.values.flower]",
    ),
    drop(
        "airflow-default-user",
        "[resources.helm_release.airflow.values.webserver.defaultUser]\nenabled = true\n",
        "true",
    ),
    drop(
        "airflow-dag-delivery",
        "[resources.helm_release.airflow.values.dags.gitSync]\nenabled = false\n",
        "false",
    ),
    drop(
        "airflow-worker-tolerations",
        "[resources.helm_release.airflow.values.workers]\ntolerations = []\n",
        "[]",
    ),
    drop(
        "airflow-monitoring",
        "[resources.helm_release.airflow.values.statsd]\nenabled = false\n",
        "false",
    ),
];

#[test]
fn dropping_any_checklist_item_from_prod_fails_naming_its_rule() {
    let p = Project::new();
    let airflow = shipped("airflow.toml");
    let mut problems = Vec::new();
    for d in DROPS {
        p.overlay("broken", d.overlay);
        let run = p.infra(&["check", "--stack", "broken"]);
        let overlay = format!("extends = \"prod.toml\"\n{}", d.overlay);
        let location = match (d.marker, d.rule) {
            (Some(marker), _) => at("broken.toml", &overlay, marker),
            (None, "rds-prevent-destroy") => at(
                "airflow.toml",
                &airflow,
                "[resources.rds_instance.airflow_db]",
            ),
            (None, _) => at("airflow.toml", &airflow, "[resources.eks_cluster.main]"),
        };
        let expected = format!("error[{}]: {location}: ", d.rule);
        if run.code != 1 || !run.stdout.contains(&expected) {
            problems.push(format!(
                "{}: exit {}, expected `{expected}` in\n{}{}",
                d.rule, run.code, run.stdout, run.stderr
            ));
        }
        if run.stdout.contains("hunter2-in-the-file") || run.stderr.contains("hunter2-in-the-file")
        {
            problems.push(format!("{}: the secret is in the output", d.rule));
        }
    }
    // Every rule that is an error in production has its overlay.
    for rule in infra_check_rules_in_production() {
        if !DROPS.iter().any(|d| d.rule == rule) {
            problems.push(format!("no overlay drops what `{rule}` checks"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The ids `infra check --rules` lists as errors in production.
fn infra_check_rules_in_production() -> Vec<String> {
    let p = Project::new();
    let run = p.infra(&["check", "--rules"]);
    run.expect(0);
    run.stdout
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let id = cols.next()?;
            (cols.next()? == "error").then(|| id.to_owned())
        })
        .collect()
}

#[test]
fn the_rules_are_listed_with_their_severity_per_profile() {
    let p = Project::new();
    let run = p.infra(&["check", "--rules"]);
    run.expect(0);
    let multi_az = run
        .stdout
        .lines()
        .find(|l| l.starts_with("rds-multi-az "))
        .expect("rds-multi-az listed");
    let cols: Vec<&str> = multi_az.split_whitespace().collect();
    assert_eq!(&cols[..3], ["rds-multi-az", "error", "-"], "{multi_az}");
    assert!(multi_az.ends_with("Multi-AZ in production"), "{multi_az}");
    assert!(run.stdout.lines().count() > 30, "{}", run.stdout);
}

#[test]
fn a_waiver_is_printed_with_its_reason_and_does_not_fail() {
    let p = Project::new();
    p.overlay(
        "single",
        "[resources.rds_instance.airflow_db]\nmulti_az = false\n",
    );
    p.infra(&["check", "--stack", "single"]).expect(1);
    p.overlay(
        "single",
        "[resources.rds_instance.airflow_db]\nmulti_az = false\n\n[check.waive]\nrds-multi-az = \"a standby costs more than a zone outage here\"\n",
    );
    let run = p.infra(&["check", "--stack", "single"]);
    run.expect(0);
    assert!(
        run.stdout.contains(
            "error[rds-multi-az]: stacks/single.toml:3:12: rds_instance.airflow_db: the database runs in one availability zone"
        ) && run
            .stdout
            .contains("  waived: a standby costs more than a zone outage here"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Check passed (profile production): 0 errors, ")
            && run.stdout.contains(", 1 waived.\n"),
        "{}",
        run.stdout
    );
    // Every time: plan shows it too.
    let plan = p.infra(&["plan", "--stack", "single"]);
    plan.expect(0);
    assert!(
        plan.stdout
            .contains("  waived: a standby costs more than a zone outage here"),
        "{}",
        plan.stdout
    );
    // A waiver of a rule that does not exist is an error at its line.
    p.overlay("typo", "[check.waive]\nrds-multiaz = \"typo\"\n");
    let run = p.infra(&["check", "--stack", "typo"]);
    run.expect(1);
    assert!(
        run.stderr.contains(
            "error: stacks/typo.toml:3:1: unknown rule `rds-multiaz` in `[check.waive]`\n  hint: did you mean `rds-multi-az`?"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sarif-schema-2.1.0.json"),
        )
        .expect("vendored schema"),
    )
    .expect("schema json");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles");
    let p = Project::new();
    p.overlay(
        "broken",
        "[resources.rds_instance.airflow_db]\nmulti_az = false\nstorage_encrypted = false\n\n[check.waive]\nrds-multi-az = \"one zone here\"\nno-such-rule = \"typo\"\n",
    );
    for (stack, code) in [("prod", 0), ("broken", 1)] {
        let run = p.infra(&["check", "--stack", stack, "--format", "sarif"]);
        run.expect(code);
        let log: serde_json::Value = serde_json::from_str(&run.stdout).expect("sarif json");
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{stack}: {}\n{log:#}", errors.join("\n"));
        // The validator does reject what the schema does not allow.
        let mut wrong = log.clone();
        wrong["runs"][0]["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"] =
            "fatal".into();
        assert!(!validator.is_valid(&wrong), "an invalid level passes");
        assert_eq!(log["version"], "2.1.0");
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .expect("rules");
        assert!(rules.iter().any(|r| r["id"] == "rds-multi-az"
            && r["shortDescription"]["text"] == "Multi-AZ in production"
            && r["help"]["text"].is_string()));
        if stack == "prod" {
            continue;
        }
        let results = log["runs"][0]["results"].as_array().expect("results");
        let encrypted = results
            .iter()
            .find(|r| r["ruleId"] == "rds-storage-encrypted")
            .expect("a result for rds-storage-encrypted");
        assert_eq!(encrypted["level"], "error");
        let physical = &encrypted["locations"][0]["physicalLocation"];
        assert_eq!(physical["artifactLocation"]["uri"], "stacks/broken.toml");
        assert_eq!(physical["region"]["startLine"], 4);
        assert_eq!(physical["region"]["startColumn"], 21);
        assert!(encrypted.get("suppressions").is_none(), "{encrypted:#}");
        let waived = results
            .iter()
            .find(|r| r["ruleId"] == "rds-multi-az")
            .expect("a result for rds-multi-az");
        assert_eq!(waived["suppressions"][0]["kind"], "inSource", "{waived:#}");
        assert_eq!(waived["suppressions"][0]["justification"], "one zone here");
        let notes = &log["runs"][0]["invocations"][0]["toolConfigurationNotifications"];
        assert!(
            notes[0]["message"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("unknown rule `no-such-rule`")),
            "{notes:#}"
        );
        assert_eq!(notes[0]["level"], "error");
    }
}

#[test]
fn json_reports_the_findings() {
    let p = Project::new();
    p.overlay("broken", "[resources.s3_bucket.logs]\nversioning = false\n");
    let run = p.infra(&["check", "--stack", "broken", "--json"]);
    run.expect(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["stack"], "broken");
    assert_eq!(doc["profile"], "production");
    assert_eq!(doc["today"], TODAY);
    assert_eq!(doc["passed"], false);
    assert_eq!(doc["summary"]["errors"], 1);
    let f = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "s3-versioning")
        .expect("the versioning finding");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["address"], "s3_bucket.logs");
    assert_eq!(f["attribute"], "versioning");
    assert_eq!(f["file"], "stacks/broken.toml");
    assert_eq!(f["line"], 3);
    assert_eq!(f["column"], 14);
    assert_eq!(f["item"], "Bucket versioning");
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("versioning = true"))
    );
    assert!(f["waived"].is_null());
    // `--format json` is the same document.
    let same = p.infra(&["check", "--stack", "broken", "--format", "json"]);
    same.expect(1);
    assert_eq!(same.stdout, run.stdout);
    // A date that is not one.
    let bad = p.run(
        p.command(&["check", "--stack", "prod"])
            .env("INFRA_CHECK_TODAY", "27 March 2027"),
    );
    bad.expect(1);
    assert!(
        bad.stderr
            .contains("INFRA_CHECK_TODAY=\"27 March 2027\" is not a date"),
        "{}",
        bad.stderr
    );
}

#[test]
fn plan_shows_the_findings_after_the_plan() {
    let p = Project::new();
    p.overlay(
        "broken",
        "[resources.rds_instance.airflow_db]\nmulti_az = false\n",
    );
    let run = p.infra(&["plan", "--stack", "broken"]);
    run.expect(0);
    let plan_end = run.stdout.find("Plan: ").expect("the plan");
    let findings = run
        .stdout
        .find("Production checklist (profile production):")
        .expect("the findings");
    assert!(plan_end < findings, "{}", run.stdout);
    assert!(
        run.stdout[findings..]
            .contains("error[rds-multi-az]: stacks/broken.toml:3:12: rds_instance.airflow_db: ")
            && run.stdout[findings..]
                .contains("  checklist: Multi-AZ in production\n  fix: set `multi_az = true`")
            && run
                .stdout
                .contains("Check failed (profile production): 1 error,"),
        "{}",
        run.stdout
    );
    let json = p.infra(&["plan", "--stack", "broken", "--json"]);
    json.expect(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("plan json");
    assert_eq!(doc["version"], 2, "the plan's own version");
    assert!(doc["changes"].as_array().is_some_and(|c| !c.is_empty()));
    assert_eq!(doc["check"]["passed"], false);
    assert!(
        doc["check"]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["rule"] == "rds-multi-az" && f["line"] == 3),
        "{:#}",
        doc["check"]
    );
}

#[test]
fn apply_refuses_an_error_finding_before_changing_anything() {
    let p = Project::new();
    p.overlay(
        "broken",
        "[resources.rds_instance.airflow_db]\nmulti_az = false\n",
    );
    let run = p.infra(&["apply", "--stack", "broken", "--auto-approve"]);
    run.expect(1);
    assert!(
        run.stdout
            .contains("error[rds-multi-az]: stacks/broken.toml:3:12"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(
            "refusing to apply: 1 error finding of the production checklist (profile production) not waived: rds-multi-az (rds_instance.airflow_db)"
        ) && run.stderr.contains("[check.waive] rds-multi-az = \"why\""),
        "{}",
        run.stderr
    );
    // No state, no journal: nothing was applied (no cloud call either:
    // this environment has no AWS credentials, and none was asked for).
    let files = p.state_files();
    assert!(
        files.iter().all(|f| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            !name.ends_with(".json") && !name.ends_with(".journal")
        }),
        "{files:?}"
    );
    assert!(!run.stderr.contains("credentials"), "{}", run.stderr);
    // A saved plan is refused too (before its session opens: opening
    // may recover an interrupted run, which writes state).
    let saved = p.infra(&["plan", "--stack", "broken", "--out", "broken.plan"]);
    saved.expect(0);
    let run = p.infra(&["apply", "broken.plan"]);
    run.expect(1);
    assert!(
        run.stderr.contains("refusing to apply: 1 error finding")
            && run.stderr.contains("rds-multi-az"),
        "{}",
        run.stderr
    );
    // Machine output: the refusal is the JSON error document.
    let json = p.infra(&["apply", "--stack", "broken", "--auto-approve", "--json"]);
    json.expect(1);
    let last = json.stdout.lines().last().expect("a json line");
    let doc: serde_json::Value = serde_json::from_str(last).expect("error json");
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("refusing to apply: ") && m.contains("rds-multi-az")),
        "{doc:#}"
    );
    // Waived, the same stack gets past the check (and on to the cloud,
    // which this test does not reach: it stops at the missing confirmation).
    p.overlay(
        "broken",
        "[resources.rds_instance.airflow_db]\nmulti_az = false\n[check.waive]\nrds-multi-az = \"one zone\"\n",
    );
    let plan = p.infra(&["plan", "--stack", "broken", "--detailed-exitcode"]);
    plan.expect(2);
    assert!(plan.stdout.contains("Check passed"), "{}", plan.stdout);
}

#[test]
fn with_state_the_check_plans_without_refresh_and_changes_nothing() {
    let p = Project::new();
    std::fs::write(
        p.root().join("stacks/sim.toml"),
        "[sim]\ndir = \".sim\"\n\n[resources.sim_resource.a]\npayload = 1\n",
    )
    .expect("stack");
    p.infra(&["apply", "--stack", "sim", "--auto-approve"])
        .expect(0);
    let state = p.root().join("state/sim.json");
    let before = std::fs::read(&state).expect("state");
    // A change in the stack is planned (not applied) for the check.
    std::fs::write(
        p.root().join("stacks/sim.toml"),
        "[sim]\ndir = \".sim\"\n\n[resources.sim_resource.a]\npayload = 2\n",
    )
    .expect("stack");
    let run = p.infra(&["check", "--stack", "sim"]);
    run.expect(0);
    assert!(
        run.stdout.contains(
            "Check passed (profile development): 0 errors, 0 warnings, 0 notes, 0 waived."
        ),
        "{}",
        run.stdout
    );
    assert_eq!(std::fs::read(&state).expect("state"), before);
    assert!(
        !p.root().join("state/sim.journal").exists(),
        "{:?}",
        p.state_files()
    );
    // It plans under the state lock: held by someone else, the check waits
    // (here: not at all) and says so.
    let lock = std::fs::File::open(p.root().join("state/sim.lock")).expect("lock file");
    lock.lock().expect("hold the lock");
    let run = p.infra(&["check", "--stack", "sim"]);
    run.expect(1);
    assert!(run.stderr.contains("is locked"), "{}", run.stderr);
    lock.unlock().expect("release the lock");
    p.infra(&["check", "--stack", "sim"]).expect(0);
}
