//! Every rule over stack files loaded as `infra` loads them (the real
//! resource types, so schema defaults and locations are the real ones): a
//! compact production platform that passes, and for each rule an overlay
//! that breaks it, the finding asserted with its rule id and file:line:col.

use std::fmt::Write as _;

use expect_test::{Expect, expect};
use infra_check::{CheckInput, Date, Report, check as run_check};
use infra_core::Registry;

/// The resource types of the `infra` binary (without state backends).
fn registry() -> Registry {
    let mut registry = Registry::new();
    let aws = infra_aws::AwsContext::new();
    for provider in infra_eks::providers(aws.clone())
        .into_iter()
        .chain(infra_rds::providers(aws.clone()))
        .chain(infra_s3::providers(aws.clone()))
        .chain(infra_ec2::providers(aws.clone()))
        .chain(infra_iam::providers(aws.clone()))
        .chain(infra_secrets::providers(aws))
        .chain(infra_helm::providers())
    {
        registry.register(provider);
    }
    registry
}

/// A small platform that passes every rule in production: a database
/// behind a security group, a bucket, a cluster with access entries and a
/// tainted worker node group, and the Airflow release.
const GOOD: &str = r#"[check]
profile = "production"

[resources.security_group.db]
name = "db"
vpc_id = "vpc-1"
ingress = [{ protocol = "tcp", from_port = 5432, to_port = 5432, source_security_group_id = "${eks_cluster.main.cluster_security_group_id}" }]

[resources.security_group.lb]
name = "lb"
vpc_id = "vpc-1"
ingress = [{ protocol = "tcp", from_port = 443, to_port = 443, cidr_blocks = ["0.0.0.0/0"] }]

[resources.secretsmanager_secret.db]
name = "db"
generate = { length = 32, exclude_punctuation = true }

[resources.rds_instance.db]
identifier = "airflow-db"
engine_version = "16"
instance_class = "db.t4g.medium"
allocated_storage = 20
username = "airflow"
password = "${secretsmanager_secret.db.value}"
vpc_security_group_ids = ["${security_group.db.id}"]
multi_az = true
deletion_protection = true
backup_retention_period = 14
final_snapshot_identifier = "airflow-db-final"
lifecycle = { prevent_destroy = true }

[resources.s3_bucket.logs]
name = "airflow-logs-example"
versioning = true

[[resources.s3_bucket.logs.lifecycle_rules]]
id = "expire"
transitions = [{ days = 30, storage_class = "GLACIER" }]
expiration_days = 365

[resources.eks_cluster.main]
name = "airflow"
version = "1.35"
role_arn = "arn:aws:iam::123456789012:role/cluster"
subnet_ids = ["subnet-a", "subnet-b"]
public_access_cidrs = ["203.0.113.0/24"]
enabled_log_types = ["api", "audit", "authenticator"]

[resources.eks_access_entry.ci]
cluster = "${eks_cluster.main.name}"
principal_arn = "arn:aws:iam::123456789012:role/ci"

[resources.eks_node_group.workers]
cluster = "${eks_cluster.main.name}"
name = "workers"
node_role_arn = "arn:aws:iam::123456789012:role/nodes"
subnet_ids = ["subnet-a"]
scaling = { min = 1, max = 3, desired = 1 }
labels = { NodeType = "worker" }
taints = [{ key = "airflow-worker", value = "true", effect = "NO_SCHEDULE" }]

[resources.iam_role.logs]
name = "logs"
service_account_trust = { oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/example", service_accounts = ["airflow:airflow-worker", "airflow:airflow-scheduler"] }

[resources.helm_release.airflow]
name = "airflow"
namespace = "airflow"
chart = "airflow"
kubernetes = { eks_cluster = "${eks_cluster.main.name}", endpoint = "${eks_cluster.main.endpoint}", ca_data = "${eks_cluster.main.certificate_authority}" }

[resources.helm_release.airflow.values]
fernetKey = "${secretsmanager_secret.db.value}"
postgresql = { enabled = false }
pgbouncer = { enabled = true, sslmode = "require", resources = { requests = { cpu = "100m", memory = "128Mi" } }, metricsExporterSidecar = { resources = { requests = { cpu = "50m", memory = "64Mi" } } } }
data = { metadataConnection = { user = "airflow", pass = "${secretsmanager_secret.db.value}", host = "${rds_instance.db.address}", sslmode = "disable" } }
config = { logging = { remote_logging = "True", remote_base_log_folder = "s3://${s3_bucket.logs.name}/logs" } }
webserver = { defaultUser = { enabled = false } }
dags = { gitSync = { enabled = true, repo = "git@example.com:dags.git", sshKey = { from_env = "DAGS_KEY" }, resources = { requests = { cpu = "50m", memory = "64Mi" } } } }
scheduler = { replicas = 2, resources = { requests = { cpu = "1", memory = "1Gi" } }, logGroomerSidecar = { enabled = false }, serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = "${iam_role.logs.arn}" } } }
apiServer = { replicas = 2, resources = { requests = { cpu = "1", memory = "1Gi" } } }
dagProcessor = { resources = { requests = { cpu = "1", memory = "1Gi" } }, logGroomerSidecar = { resources = { requests = { cpu = "50m", memory = "64Mi" } } } }
triggerer = { resources = { requests = { cpu = "1", memory = "1Gi" } }, logGroomerSidecar = { resources = { requests = { cpu = "50m", memory = "64Mi" } } } }
redis = { resources = { requests = { cpu = "1", memory = "1Gi" } } }
statsd = { resources = { requests = { cpu = "1", memory = "1Gi" } } }
migrateDatabaseJob = { resources = { requests = { cpu = "1", memory = "1Gi" } } }

[resources.helm_release.airflow.values.workers]
nodeSelector = { NodeType = "worker" }
tolerations = [{ key = "airflow-worker", operator = "Equal", value = "true", effect = "NoSchedule" }]
resources = { requests = { cpu = "1", memory = "1Gi" } }
logGroomerSidecar = { resources = { requests = { cpu = "50m", memory = "64Mi" } } }
serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = "${iam_role.logs.arn}" } }
"#;

/// The day the tests judge support windows on.
const TODAY: &str = "2026-06-01";

/// Loads `stacks/x.toml` (with `stacks/good.toml` beside it) and checks it.
fn report(stack: &str, today: &str) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("stacks")).expect("mkdir");
    std::fs::write(dir.path().join("stacks/good.toml"), GOOD).expect("write");
    std::fs::write(dir.path().join("stacks/x.toml"), stack).expect("write");
    let env = |_: &str| None;
    let loaded = infra_stack::load_stack(dir.path(), "x", &registry(), &env);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(
        errors.is_empty(),
        "the test stack does not load:\n{}",
        errors.join("\n")
    );
    let stack = loaded.stack.expect("stack");
    run_check(&stack, &CheckInput::new(Date::parse(today).expect("date")))
}

fn render(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let at = f
            .location
            .as_ref()
            .map_or("-".to_owned(), ToString::to_string);
        let _ = write!(out, "{}[{}] {at} {}", f.severity, f.rule, f.address);
        if let Some(a) = &f.attribute {
            let _ = write!(out, " {a}");
        }
        let _ = writeln!(out, ": {}", f.message);
        if let Some(w) = &f.waived {
            let _ = writeln!(out, "  waived: {w}");
        }
    }
    for d in &report.problems {
        let _ = writeln!(out, "{d}");
    }
    let _ = writeln!(out, "passed: {}", report.passed());
    out
}

/// Checks an overlay of the good platform (`extends = "good.toml"` is
/// prepended, so the overlay's first line is line 2).
fn check(overlay: &str, expect: Expect) {
    check_on(TODAY, overlay, expect);
}

fn check_on(today: &str, overlay: &str, expect: Expect) {
    let stack = format!("extends = \"good.toml\"\n{overlay}");
    expect.assert_eq(&render(&report(&stack, today)));
}

#[test]
fn the_good_platform_passes_every_rule() {
    check(
        "",
        expect![[r#"
            passed: true
        "#]],
    );
    // As development, too: the lighter profile finds nothing more.
    check(
        "[check]\nprofile = \"development\"\n",
        expect![[r#"
            passed: true
        "#]],
    );
}

#[test]
fn support_windows() {
    // 1.35 leaves standard support on 2027-03-27: a note before, an
    // error in production from that day, a warning in development.
    check_on(
        "2027-01-15",
        "",
        expect![[r#"
            note[eks-version-support] stacks/good.toml:43:11 eks_cluster.main version: Kubernetes 1.35 leaves EKS standard support on 2027-03-27
            passed: true
        "#]],
    );
    check_on(
        "2027-03-27",
        "",
        expect![[r#"
            error[eks-version-support] stacks/good.toml:43:11 eks_cluster.main version: Kubernetes 1.35 is past EKS standard support since 2027-03-27, and extended support (billed extra) ends on 2028-03-27
            passed: false
        "#]],
    );
    check_on(
        "2027-03-27",
        "[check]\nprofile = \"development\"\n",
        expect![[r#"
            warning[eks-version-support] stacks/good.toml:43:11 eks_cluster.main version: Kubernetes 1.35 is past EKS standard support since 2027-03-27, and extended support (billed extra) ends on 2028-03-27
            passed: true
        "#]],
    );
    // Past extended support: an error in every profile.
    check(
        "[check]\nprofile = \"development\"\n[resources.eks_cluster.main]\nversion = \"1.29\"\n",
        expect![[r#"
            error[eks-version-support] stacks/x.toml:5:11 eks_cluster.main version: Kubernetes 1.29 is past EKS extended support since 2026-03-23: EKS upgrades it without asking
            passed: false
        "#]],
    );
    check(
        "[resources.eks_cluster.main]\nversion = \"1.99\"\n[resources.rds_instance.db]\nengine_version = \"13.4\"\n",
        expect![[r#"
            warning[eks-version-support] stacks/x.toml:3:11 eks_cluster.main version: Kubernetes version `1.99` is not in infra's EKS support calendar
            error[rds-engine-support] stacks/x.toml:5:18 rds_instance.db engine_version: PostgreSQL 13 is past RDS standard support since 2026-02-28: RDS Extended Support bills it extra, then upgrades it
            passed: false
        "#]],
    );
    check(
        "[resources.rds_instance.db]\nengine_version = \"19\"\n",
        expect![[r#"
            warning[rds-engine-support] stacks/x.toml:3:18 rds_instance.db engine_version: PostgreSQL `19` is not in infra's RDS support calendar
            passed: true
        "#]],
    );
}

#[test]
fn rds() {
    check(
        "[resources.rds_instance.db]\nmulti_az = false\ndeletion_protection = false\nbackup_retention_period = 3\nstorage_encrypted = false\npublicly_accessible = true\nskip_final_snapshot = true\nlifecycle = { prevent_destroy = false }\n",
        expect![[r#"
            error[rds-prevent-destroy] stacks/good.toml:18:1 rds_instance.db: a plan may destroy the database: `lifecycle.prevent_destroy` is not set
            error[rds-multi-az] stacks/x.toml:3:12 rds_instance.db multi_az: the database runs in one availability zone: an outage of that zone stops Airflow
            error[rds-deletion-protection] stacks/x.toml:4:23 rds_instance.db deletion_protection: deletion protection is off: one call deletes the metadata database
            error[rds-backup-retention] stacks/x.toml:5:27 rds_instance.db backup_retention_period: automated backups are kept 3 days, fewer than 7
            error[rds-storage-encrypted] stacks/x.toml:6:21 rds_instance.db storage_encrypted: the database's storage is not encrypted
            error[rds-not-public] stacks/x.toml:7:23 rds_instance.db publicly_accessible: the database's endpoint has a public address
            error[rds-final-snapshot] stacks/x.toml:8:23 rds_instance.db skip_final_snapshot: deleting the database takes no final snapshot (`skip_final_snapshot = true`)
            passed: false
        "#]],
    );
    // Unset, the defaults (no Multi-AZ, no deletion protection) are found
    // at the resource.
    check(
        "[resources.rds_instance.plain]\nidentifier = \"plain\"\ninstance_class = \"db.t4g.micro\"\nallocated_storage = 20\nusername = \"u\"\npassword = \"${secretsmanager_secret.db.value}\"\nvpc_security_group_ids = [\"${security_group.db.id}\"]\n",
        expect![[r#"
            error[rds-deletion-protection] stacks/x.toml:2:1 rds_instance.plain deletion_protection: deletion protection is off: one call deletes the metadata database
            warning[rds-engine-support] stacks/x.toml:2:1 rds_instance.plain: no `engine_version`: RDS picks one at create, and nothing then says when it leaves support
            error[rds-final-snapshot] stacks/x.toml:2:1 rds_instance.plain: no `final_snapshot_identifier`: the final snapshot has no name
            error[rds-multi-az] stacks/x.toml:2:1 rds_instance.plain multi_az: the database runs in one availability zone: an outage of that zone stops Airflow
            error[rds-prevent-destroy] stacks/x.toml:2:1 rds_instance.plain: a plan may destroy the database: `lifecycle.prevent_destroy` is not set
            passed: false
        "#]],
    );
    // Development: durability is a note, high availability is off.
    check(
        "[check]\nprofile = \"development\"\n[resources.rds_instance.db]\nmulti_az = false\nbackup_retention_period = 1\nskip_final_snapshot = true\n",
        expect![[r#"
            note[rds-backup-retention] stacks/x.toml:6:27 rds_instance.db backup_retention_period: automated backups are kept 1 day, fewer than 7
            note[rds-final-snapshot] stacks/x.toml:7:23 rds_instance.db skip_final_snapshot: deleting the database takes no final snapshot (`skip_final_snapshot = true`)
            passed: true
        "#]],
    );
}

#[test]
fn s3() {
    check(
        "[resources.s3_bucket.logs]\nversioning = false\nencryption = \"none\"\npublic_access_block = { block_public_acls = false, ignore_public_acls = true, block_public_policy = false, restrict_public_buckets = true }\n",
        expect![[r#"
            error[s3-versioning] stacks/x.toml:3:14 s3_bucket.logs versioning: versioning is off: an overwritten or deleted object is gone
            error[s3-encryption] stacks/x.toml:4:14 s3_bucket.logs encryption: `encryption = "none"` is not a server-side encryption S3 knows
            error[s3-public-access-block] stacks/x.toml:5:45 s3_bucket.logs public_access_block.block_public_acls: `public_access_block.block_public_acls` is false: the bucket can be made public
            error[s3-public-access-block] stacks/x.toml:5:101 s3_bucket.logs public_access_block.block_public_policy: `public_access_block.block_public_policy` is false: the bucket can be made public
            passed: false
        "#]],
    );
    // A transition S3 refuses, leaving classes before their minimum
    // storage duration, and small objects.
    check(
        r#"[[resources.s3_bucket.logs.lifecycle_rules]]
id = "early"
transitions = [{ days = 10, storage_class = "STANDARD_IA" }]
[[resources.s3_bucket.logs.lifecycle_rules]]
id = "hop"
transitions = [{ days = 30, storage_class = "STANDARD_IA" }, { days = 45, storage_class = "GLACIER" }]
expiration_days = 90
[[resources.s3_bucket.logs.lifecycle_rules]]
id = "archive"
transitions = [{ days = 1, storage_class = "DEEP_ARCHIVE" }]
expiration_days = 100
"#,
        expect![[r#"
            note[s3-lifecycle-small-objects] stacks/x.toml:4:25 s3_bucket.logs lifecycle_rules[0].transitions[0].days: lifecycle rule `early` moves objects of every size to STANDARD_IA, which bills an object under 128 KiB as 128 KiB; s3_bucket rules cannot filter by size
            error[s3-lifecycle-transition] stacks/x.toml:4:25 s3_bucket.logs lifecycle_rules[0].transitions[0].days: lifecycle rule `early` moves objects to STANDARD_IA at day 10: S3 refuses it before day 30
            note[s3-lifecycle-small-objects] stacks/x.toml:7:25 s3_bucket.logs lifecycle_rules[1].transitions[0].days: lifecycle rule `hop` moves objects of every size to STANDARD_IA, which bills an object under 128 KiB as 128 KiB; s3_bucket rules cannot filter by size
            error[s3-lifecycle-transition] stacks/x.toml:7:71 s3_bucket.logs lifecycle_rules[1].transitions[1].days: lifecycle rule `hop` moves objects from STANDARD_IA to GLACIER after 15 days: S3 refuses it within 30
            warning[s3-lifecycle-min-storage] stacks/x.toml:8:19 s3_bucket.logs lifecycle_rules[1].expiration_days: lifecycle rule `hop` lets objects stay 45 days in GLACIER, whose minimum storage duration is 90 days: S3 bills the other 45
            warning[s3-lifecycle-min-storage] stacks/x.toml:12:19 s3_bucket.logs lifecycle_rules[2].expiration_days: lifecycle rule `archive` lets objects stay 99 days in DEEP_ARCHIVE, whose minimum storage duration is 180 days: S3 bills the other 81
            passed: false
        "#]],
    );
}

#[test]
fn eks() {
    check(
        "[resources.eks_cluster.main]\npublic_access_cidrs = [\"203.0.113.0/24\", \"0.0.0.0/0\"]\nenabled_log_types = [\"api\"]\n[resources.eks_access_entry.ci]\nenabled = false\n",
        expect![[r#"
            error[eks-access-entries] stacks/good.toml:41:1 eks_cluster.main: no `eks_access_entry` names this cluster: only whoever created it can use it
            error[eks-public-endpoint] stacks/x.toml:3:42 eks_cluster.main public_access_cidrs[1]: the public API endpoint admits the whole internet (`0.0.0.0/0` in `public_access_cidrs`)
            error[eks-control-plane-logs] stacks/x.toml:4:21 eks_cluster.main enabled_log_types: the control plane does not log `audit`, `authenticator`
            passed: false
        "#]],
    );
    // Unset: the endpoint's default is public and open; no logs.
    check(
        "[resources.eks_cluster.other]\nname = \"other\"\nrole_arn = \"arn:aws:iam::123456789012:role/cluster\"\nsubnet_ids = [\"subnet-a\", \"subnet-b\"]\n",
        expect![[r#"
            error[eks-access-entries] stacks/x.toml:2:1 eks_cluster.other: no `eks_access_entry` names this cluster: only whoever created it can use it
            error[eks-control-plane-logs] stacks/x.toml:2:1 eks_cluster.other enabled_log_types: the control plane sends no logs to CloudWatch
            error[eks-public-endpoint] stacks/x.toml:2:1 eks_cluster.other endpoint_public_access: the public API endpoint admits the whole internet (`public_access_cidrs` is unset, and AWS's default is 0.0.0.0/0)
            warning[eks-version-support] stacks/x.toml:2:1 eks_cluster.other: no `version`: EKS picks one at create, and nothing then says when it leaves support
            passed: false
        "#]],
    );
    // An open endpoint is only a note in development.
    check(
        "[check]\nprofile = \"development\"\n[resources.eks_cluster.main]\npublic_access_cidrs = [\"0.0.0.0/0\"]\n",
        expect![[r#"
            note[eks-public-endpoint] stacks/x.toml:5:24 eks_cluster.main public_access_cidrs[0]: the public API endpoint admits the whole internet (`0.0.0.0/0` in `public_access_cidrs`)
            passed: true
        "#]],
    );
}

#[test]
fn network() {
    check(
        r#"[resources.security_group.ssh]
name = "ssh"
vpc_id = "vpc-1"
ingress = [
  { protocol = "tcp", from_port = 22, to_port = 22, cidr_blocks = ["0.0.0.0/0"] },
  { protocol = "-1", from_port = 0, to_port = 0, cidr_blocks = ["10.0.0.0/8", "0.0.0.0/0"] },
  { protocol = "tcp", from_port = 80, to_port = 443, cidr_blocks = ["0.0.0.0/0"] },
  { protocol = "tcp", from_port = 80, to_port = 80, cidr_blocks = ["0.0.0.0/0"] },
]
[resources.security_group.db]
ingress = [{ protocol = "tcp", from_port = 5432, to_port = 5432, cidr_blocks = ["10.20.0.0/16"] }]
"#,
        expect![[r#"
            error[network-public-ingress] stacks/x.toml:6:68 security_group.ssh ingress[0].cidr_blocks[0]: ingress admits 0.0.0.0/0 to tcp port 22: only a load balancer's 80 and 443 may be open to the internet
            error[network-public-ingress] stacks/x.toml:7:79 security_group.ssh ingress[1].cidr_blocks[1]: ingress admits 0.0.0.0/0 to every port: only a load balancer's 80 and 443 may be open to the internet
            error[network-public-ingress] stacks/x.toml:8:69 security_group.ssh ingress[2].cidr_blocks[0]: ingress admits 0.0.0.0/0 to tcp ports 80-443: only a load balancer's 80 and 443 may be open to the internet
            error[network-db-security-groups] stacks/x.toml:12:80 security_group.db ingress[0].cidr_blocks: the database `rds_instance.db` is reachable from 10.20.0.0/16, not only from security groups
            passed: false
        "#]],
    );
    check(
        "[resources.rds_instance.db]\nvpc_security_group_ids = []\n",
        expect![[r#"
            warning[network-db-security-groups] stacks/x.toml:3:26 rds_instance.db vpc_security_group_ids: the database has no security group of its own: RDS gives it the VPC's default group, which admits everything else in that group
            passed: true
        "#]],
    );
}

#[test]
fn airflow_database_and_logging() {
    check(
        r#"[resources.helm_release.airflow.values]
postgresql = { enabled = true }
pgbouncer = { enabled = false }
data = { metadataConnection = { user = "airflow", pass = "${secretsmanager_secret.db.value}", host = "${rds_instance.db.address}", sslmode = "disable" } }
config = { logging = { remote_logging = "False" } }
"#,
        expect![[r#"
            error[airflow-external-database] stacks/x.toml:3:26 helm_release.airflow values.postgresql.enabled: the metadata database is the chart's PostgreSQL inside the cluster (`postgresql.enabled = true`)
            error[airflow-pgbouncer] stacks/x.toml:4:25 helm_release.airflow values.pgbouncer.enabled: Airflow connects to the database without PgBouncer: every task opens its own connections
            error[airflow-remote-logging] stacks/x.toml:6:41 helm_release.airflow values.config.logging.remote_logging: task logs stay on the pods that ran them: remote logging is off
            passed: false
        "#]],
    );
    // TLS demanded in the cluster; remote logging without a folder.
    check(
        r#"[resources.helm_release.airflow.values]
data = { metadataConnection = { sslmode = "require" } }
config = { logging = { remote_base_log_folder = "" } }
"#,
        expect![[r#"
            error[airflow-in-cluster-tls] stacks/x.toml:3:43 helm_release.airflow values.data.metadataConnection.sslmode: Airflow demands TLS from PgBouncer (`sslmode = "require"`), which serves none without `pgbouncer.ssl`: connections fail
            error[airflow-remote-logging] stacks/x.toml:4:49 helm_release.airflow values.config.logging.remote_base_log_folder: remote logging is on, but `remote_base_log_folder` is unset
            passed: false
        "#]],
    );
    // Without PgBouncer, Airflow's own hop must be encrypted.
    check(
        "[resources.helm_release.airflow.values]\npgbouncer = { enabled = false }\n",
        expect![[r#"
            error[airflow-database-tls] stacks/good.toml:76:142 helm_release.airflow values.data.metadataConnection.sslmode: Airflow connects to the database with `sslmode = "disable"`: that hop may be plain text
            error[airflow-pgbouncer] stacks/x.toml:3:25 helm_release.airflow values.pgbouncer.enabled: Airflow connects to the database without PgBouncer: every task opens its own connections
            passed: false
        "#]],
    );
}

#[test]
fn airflow_irsa() {
    // No annotation on the scheduler; a role without trust for the
    // workers; a role that trusts someone else.
    check(
        r#"[resources.helm_release.airflow.values]
scheduler = { serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = "${iam_role.other.arn}" } } }
[resources.helm_release.airflow.values.workers]
serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = "${iam_role.plain.arn}" } }
[resources.iam_role.plain]
name = "plain"
assume_role_policy = { Version = "2012-10-17", Statement = [] }
[resources.iam_role.other]
name = "other"
service_account_trust = { oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/example", service_accounts = ["airflow:airflow-api-server"] }
"#,
        expect![[r#"
            error[airflow-logs-irsa] stacks/x.toml:6:1 iam_role.plain service_account_trust: `iam_role.plain`, the role of the workers' service account, has no `service_account_trust`: the pods cannot assume it
            error[airflow-logs-irsa] stacks/x.toml:11:117 iam_role.other service_account_trust.service_accounts: `iam_role.other` does not trust `airflow:airflow-scheduler`, the scheduler's service account: the pods cannot assume it
            passed: false
        "#]],
    );
    check(
        "[resources.helm_release.airflow.values]\nscheduler = { replicas = 2 }\n",
        expect![[r#"
            passed: true
        "#]],
    );
}

#[test]
fn airflow_secrets() {
    check(
        r#"[resources.helm_release.airflow.values]
fernetKey = "c2VjcmV0LWtleS10aGF0LWlzLXdyaXR0ZW4tZG93bg=="
webserverSecretKey = { from_env = "WEB_KEY" }
jwtSecretName = "my-jwt-secret"
env = [{ name = "AIRFLOW_CONN_DB", value = "postgresql://airflow:hunter2@db:5432/airflow" }, { name = "API_TOKEN", value = "abc123" }, { name = "REGION", value = "us-east-1" }]
[resources.helm_release.airflow.values.data.metadataConnection]
pass = "hunter2"
[resources.helm_release.airflow.values.redis]
password = ""
"#,
        expect![[r#"
            error[airflow-plaintext-secret] stacks/x.toml:3:13 helm_release.airflow values.fernetKey: `values.fernetKey` holds a secret in plain text: it is in the stack file, the plan and the state
            error[airflow-plaintext-secret] stacks/x.toml:6:44 helm_release.airflow values.env[0].value: `values.env[0].value` holds a secret in plain text: it is in the stack file, the plan and the state
            error[airflow-plaintext-secret] stacks/x.toml:6:124 helm_release.airflow values.env[1].value: `values.env[1].value` holds a secret in plain text: it is in the stack file, the plan and the state
            error[airflow-plaintext-secret] stacks/x.toml:8:8 helm_release.airflow values.data.metadataConnection.pass: `values.data.metadataConnection.pass` holds a secret in plain text: it is in the stack file, the plan and the state
            passed: false
        "#]],
    );
}

#[test]
fn airflow_operations() {
    check(
        r#"[resources.helm_release.airflow.values]
scheduler = { replicas = 1 }
apiServer = { replicas = 1, defaultUser = { enabled = true } }
webserver = { defaultUser = { enabled = true } }
statsd = { enabled = false }
dags = { gitSync = { enabled = false } }
"#,
        expect![[r#"
            error[airflow-ha-replicas] stacks/x.toml:3:26 helm_release.airflow values.scheduler.replicas: 1 scheduler replica: while it restarts, no task is scheduled
            error[airflow-ha-replicas] stacks/x.toml:4:26 helm_release.airflow values.apiServer.replicas: 1 API server replica: while it restarts, the UI and the API are down
            error[airflow-default-user] stacks/x.toml:4:55 helm_release.airflow values.apiServer.defaultUser.enabled: the chart creates its default admin user (`apiServer.defaultUser.enabled = true`)
            error[airflow-default-user] stacks/x.toml:5:41 helm_release.airflow values.webserver.defaultUser.enabled: the chart creates its default admin user, with a password from the chart (`webserver.defaultUser.enabled = true`)
            error[airflow-monitoring] stacks/x.toml:6:22 helm_release.airflow values.statsd.enabled: Airflow's metrics are off (`statsd.enabled = false`)
            error[airflow-dag-delivery] stacks/x.toml:7:32 helm_release.airflow values.dags.gitSync.enabled: no DAG delivery: neither `dags.gitSync` nor `dags.persistence` is enabled, so the pods see only the DAGs baked into the image
            passed: false
        "#]],
    );
    // Unset values are the chart's defaults: one replica each, the
    // default user on, no DAG delivery, PgBouncer's `sslmode = "prefer"`;
    // components without requests (or only some).
    check(
        r#"[resources.helm_release.bare]
name = "bare"
chart = "apache-airflow/airflow"
values = { postgresql = { enabled = false }, pgbouncer = { enabled = true }, scheduler = { resources = { requests = { cpu = "1" } } } }
"#,
        expect![[r#"
            error[airflow-dag-delivery] stacks/x.toml:5:10 helm_release.bare values.dags: no DAG delivery: neither `dags.gitSync` nor `dags.persistence` is enabled, so the pods see only the DAGs baked into the image
            error[airflow-default-user] stacks/x.toml:5:10 helm_release.bare values.webserver.defaultUser.enabled: the chart creates its default admin user, with a password from the chart (`webserver.defaultUser.enabled` defaults to true)
            error[airflow-ha-replicas] stacks/x.toml:5:10 helm_release.bare values.apiServer.replicas: 1 API server replica (the chart's default): while it restarts, the UI and the API are down
            error[airflow-remote-logging] stacks/x.toml:5:10 helm_release.bare values.config.logging.remote_logging: task logs stay on the pods that ran them: remote logging is off
            error[airflow-resource-requests] stacks/x.toml:5:10 helm_release.bare values.apiServer.resources.requests: `apiServer` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-resource-requests] stacks/x.toml:5:10 helm_release.bare values.dagProcessor.logGroomerSidecar.resources.requests: `dagProcessor.logGroomerSidecar` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-resource-requests] stacks/x.toml:5:10 helm_release.bare values.dagProcessor.resources.requests: `dagProcessor` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-resource-requests] stacks/x.toml:5:10 helm_release.bare values.migrateDatabaseJob.resources.requests: `migrateDatabaseJob` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-resource-requests] stacks/x.toml:5:10 helm_release.bare values.redis.resources.requests: `redis` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-resource-requests] stacks/x.toml:5:10 helm_release.bare values.statsd.resources.requests: `statsd` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-resource-requests] stacks/x.toml:5:10 helm_release.bare values.triggerer.logGroomerSidecar.resources.requests: `triggerer.logGroomerSidecar` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-resource-requests] stacks/x.toml:5:10 helm_release.bare values.triggerer.resources.requests: `triggerer` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-resource-requests] stacks/x.toml:5:10 helm_release.bare values.workers.logGroomerSidecar.resources.requests: `workers.logGroomerSidecar` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-resource-requests] stacks/x.toml:5:10 helm_release.bare values.workers.resources.requests: `workers` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-database-tls] stacks/x.toml:5:58 helm_release.bare values.pgbouncer.sslmode: PgBouncer connects to the database with `sslmode = "prefer"` (the chart's default): that hop may be plain text
            error[airflow-resource-requests] stacks/x.toml:5:58 helm_release.bare values.pgbouncer.metricsExporterSidecar.resources.requests: `pgbouncer.metricsExporterSidecar` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-resource-requests] stacks/x.toml:5:58 helm_release.bare values.pgbouncer.resources.requests: `pgbouncer` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-ha-replicas] stacks/x.toml:5:90 helm_release.bare values.scheduler.replicas: 1 scheduler replica (the chart's default): while it restarts, no task is scheduled
            error[airflow-resource-requests] stacks/x.toml:5:90 helm_release.bare values.scheduler.logGroomerSidecar.resources.requests: `scheduler.logGroomerSidecar` requests no cpu or memory: Kubernetes places it without knowing what it needs, and evicts it first
            error[airflow-resource-requests] stacks/x.toml:5:117 helm_release.bare values.scheduler.resources.requests: `scheduler` requests no memory: Kubernetes places it without knowing what it needs, and evicts it first
            passed: false
        "#]],
    );
}

#[test]
fn airflow_worker_tolerations() {
    check(
        "[resources.helm_release.airflow.values.workers]\ntolerations = [{ key = \"airflow-worker\", operator = \"Equal\", value = \"yes\", effect = \"NoSchedule\" }]\n",
        expect![[r#"
            error[airflow-worker-tolerations] stacks/x.toml:3:15 helm_release.airflow values.workers.tolerations: the workers do not tolerate the taint `airflow-worker=true:NoSchedule` of `eks_node_group.workers`, which their nodeSelector picks: worker pods stay Pending
            passed: false
        "#]],
    );
    check(
        "[resources.helm_release.airflow.values.workers]\nnodeSelector = { NodeType = \"gpu\" }\n",
        expect![[r#"
            error[airflow-worker-tolerations] stacks/x.toml:3:29 helm_release.airflow values.workers.nodeSelector.NodeType: the workers' nodeSelector { NodeType = "gpu" } matches no node group's labels: worker pods stay Pending
            passed: false
        "#]],
    );
    // `Exists` tolerates any value of the key.
    check(
        "[resources.helm_release.airflow.values.workers]\ntolerations = [{ key = \"airflow-worker\", operator = \"Exists\" }]\n",
        expect![[r#"
            passed: true
        "#]],
    );
}

#[test]
fn waivers() {
    check(
        "[resources.rds_instance.db]\nmulti_az = false\n[check.waive]\nrds-multi-az = \"a standby costs more than this database's downtime\"\n",
        expect![[r#"
            error[rds-multi-az] stacks/x.toml:3:12 rds_instance.db multi_az: the database runs in one availability zone: an outage of that zone stops Airflow
              waived: a standby costs more than this database's downtime
            passed: true
        "#]],
    );
    check(
        "[check.waive]\nrds-multiaz = \"typo\"\ns3-versioning = \"not needed\"\n",
        expect![[r#"
            error: stacks/x.toml:3:1: unknown rule `rds-multiaz` in `[check.waive]`
              hint: did you mean `rds-multi-az`? (`infra check --rules` lists them)
            warning: stacks/x.toml:4:1: the waiver of `s3-versioning` waives nothing: the rule finds nothing in this stack
              hint: remove it from `[check.waive]`
            passed: false
        "#]],
    );
}

#[test]
fn plan_values_resolve_references() {
    // A reference the stack alone cannot judge: known once planned.
    let stack = "extends = \"good.toml\"\n[resources.rds_instance.db]\nbackup_retention_period = \"${secretsmanager_secret.db.generate.length}\"\n";
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("stacks")).expect("mkdir");
    std::fs::write(dir.path().join("stacks/good.toml"), GOOD).expect("write");
    std::fs::write(dir.path().join("stacks/x.toml"), stack).expect("write");
    let env = |_: &str| None;
    let loaded = infra_stack::load_stack(dir.path(), "x", &registry(), &env);
    let stack = loaded.stack.expect("stack");
    let mut input = CheckInput::new(Date::parse(TODAY).expect("date"));
    expect![[r#"
        passed: true
    "#]]
    .assert_eq(&render(&run_check(&stack, &input)));
    let address: infra_core::Address = "rds_instance.db".parse().expect("address");
    let after: infra_core::Value = [("backup_retention_period", infra_core::Value::Int(3))]
        .into_iter()
        .collect();
    input.planned.insert(address, after);
    expect![[r#"
        error[rds-backup-retention] stacks/x.toml:3:27 rds_instance.db backup_retention_period: automated backups are kept 3 days, fewer than 7
        passed: false
    "#]]
    .assert_eq(&render(&run_check(&stack, &input)));
}
