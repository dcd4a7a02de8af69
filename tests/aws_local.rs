//! The whole Airflow platform against moto's AWS emulator, through the
//! `infra` binary: the shipped `local` stack applies, converges, updates a
//! node group in place, plans a replacement, is protected by deletion
//! protection, and destroys to nothing. The emulator runs on 127.0.0.1; no
//! test talks to real AWS. The Airflow release goes to the stand-in helm
//! (crates/infra-helm/tests/fixtures/helm, a documented test double) found
//! on PATH, which records the values file it was given.

mod cli_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use cli_support::install_standin_helm;
use infra_aws::testing::{Emulator, REGION};

/// A project holding the shipped stacks plus `stacks/e2e.toml`, an overlay
/// of `local.toml` pointing at the emulator.
struct Platform {
    dir: tempfile::TempDir,
    emulator: Emulator,
    subnets: Vec<String>,
}

const SHIPPED: [&str; 3] = ["airflow.toml", "dev.toml", "local.toml"];

impl Platform {
    /// A project with no stacks, the stand-in helm and `emulator`.
    fn bare(emulator: Emulator) -> Platform {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
        install_standin_helm(dir.path(), false);
        Platform {
            dir,
            emulator,
            subnets: Vec::new(),
        }
    }

    fn new() -> Platform {
        let emulator = Emulator::start();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
        for f in SHIPPED {
            let text = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks").join(f),
            )
            .expect("shipped stack");
            std::fs::write(dir.path().join("stacks").join(f), text).expect("copy stack");
        }
        install_standin_helm(dir.path(), false);
        let subnets = default_subnets(emulator.endpoint());
        assert!(
            subnets.len() >= 2,
            "the emulator's default VPC has subnets: {subnets:?}"
        );
        let p = Platform {
            dir,
            emulator,
            subnets,
        };
        p.overlay("");
        p
    }

    /// Rewrites the overlay: the emulator's endpoint and subnets, plus `extra`.
    fn overlay(&self, extra: &str) {
        let subnets: Vec<String> = self
            .subnets
            .iter()
            .take(2)
            .map(|s| format!("{s:?}"))
            .collect();
        let text = format!(
            "extends = \"local.toml\"\n\n[vars]\nsubnet_ids = [{}]\n\n[aws]\nendpoint_url = \"{}\"\n\n{extra}",
            subnets.join(", "),
            self.emulator.endpoint()
        );
        std::fs::write(self.dir.path().join("stacks/e2e.toml"), text).expect("overlay");
    }

    fn infra(&self, args: &[&str]) -> Output {
        let mut path = std::ffi::OsString::from(self.dir.path().join("bin"));
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        Command::new(env!("CARGO_BIN_EXE_infra"))
            .args(args)
            .args(["--stack", "e2e", "--no-color"])
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env("AIRFLOW_DB_PASSWORD", "e2e-sentinel-password")
            .stdin(Stdio::null())
            .output()
            .expect("run infra")
    }

    #[track_caller]
    fn ok(&self, args: &[&str], code: i32) -> String {
        let out = self.infra(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "infra {args:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        stdout + &stderr
    }

    async fn clients(&self) -> (aws_sdk_eks::Client, aws_sdk_rds::Client, aws_sdk_s3::Client) {
        let sdk = self
            .emulator
            .context()
            .sdk_config(&self.emulator.settings())
            .await
            .expect("sdk config");
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build();
        (
            aws_sdk_eks::Client::new(&sdk),
            aws_sdk_rds::Client::new(&sdk),
            aws_sdk_s3::Client::from_conf(s3),
        )
    }
}

/// The JSON lines the stand-in helm logged to `file`.
fn standin_log(root: &Path, file: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(root.join("helm-standin").join(file))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The subnet ids of the emulator's default VPC, through EC2's query API
/// (moto does not check signatures; the header names service and region).
fn default_subnets(endpoint: &str) -> Vec<String> {
    let addr = endpoint.trim_start_matches("http://");
    let body = "Action=DescribeSubnets&Version=2016-11-15";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).expect("emulator");
    stream.write_all(request.as_bytes()).expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let mut subnets: Vec<String> = response
        .split("<subnetId>")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .map(str::to_owned)
        .collect();
    subnets.sort();
    subnets.dedup();
    subnets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_platform_applies_converges_updates_and_destroys() {
    let p = Platform::new();
    let (eks, rds, s3) = p.clients().await;

    // Apply the whole platform, logging everything (the AWS SDK's trace
    // logs included): the database password appears in none of it.
    let out = p.ok(&["apply", "--auto-approve", "-vvv"], 0);
    assert!(out.contains("Apply complete"), "{out}");
    assert!(out.contains("TRACE"), "logged at the highest verbosity");
    assert!(
        !out.contains("e2e-sentinel-password"),
        "the password leaked into the logs"
    );
    let cluster = eks
        .describe_cluster()
        .name("local-airflow")
        .send()
        .await
        .expect("cluster");
    let cluster = cluster.cluster().expect("cluster body");
    assert_eq!(
        cluster.role_arn(),
        Some("arn:aws:iam::123456789012:role/airflow-eks-cluster")
    );
    let workers = eks
        .describe_nodegroup()
        .cluster_name("local-airflow")
        .nodegroup_name("workers")
        .send()
        .await
        .expect("workers");
    let workers = workers.nodegroup().expect("nodegroup body");
    let scaling = workers.scaling_config().expect("scaling");
    assert_eq!(
        (
            scaling.min_size(),
            scaling.max_size(),
            scaling.desired_size()
        ),
        (Some(1), Some(5), Some(2))
    );
    assert_eq!(
        workers
            .labels()
            .and_then(|l| l.get("NodeType"))
            .map(String::as_str),
        Some("worker")
    );
    let db = rds
        .describe_db_instances()
        .db_instance_identifier("local-airflow-db")
        .send()
        .await
        .expect("db");
    let db = &db.db_instances()[0];
    assert_eq!(db.engine(), Some("postgres"));
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        Some("local-airflow-db")
    );
    assert_eq!(db.storage_encrypted(), Some(true));
    let bucket = "local-airflow-logs-123456789012";
    let rules = s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .expect("lifecycle");
    assert_eq!(rules.rules().len(), 1);
    assert_eq!(rules.rules()[0].transitions().len(), 2);
    let versioning = s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));

    // helm was given the database's address and the bucket from the
    // emulator, and the password only inside the 0600 values file.
    let address = db
        .endpoint()
        .and_then(|e| e.address())
        .expect("db address")
        .to_owned();
    let uploads = standin_log(p.dir.path(), "values.log");
    assert_eq!(uploads.len(), 1, "one helm upgrade: {uploads:?}");
    assert_eq!(uploads[0]["mode"], "0600", "{:?}", uploads[0]);
    let values = &uploads[0]["content"];
    let connection = &values["data"]["metadataConnection"];
    assert_eq!(connection["host"], address.as_str());
    assert_eq!(connection["pass"], "e2e-sentinel-password");
    assert_eq!(connection["port"], 5432);
    assert_eq!(
        values["config"]["logging"]["remote_base_log_folder"],
        format!("s3://{bucket}/task-logs")
    );
    assert_eq!(values["workers"]["replicas"], 1);
    let argv = std::fs::read_to_string(p.dir.path().join("helm-standin/argv.log")).expect("argv");
    assert!(argv.contains("\"upgrade\""), "{argv}");
    assert!(!argv.contains("e2e-sentinel-password"), "{argv}");
    let env = std::fs::read_to_string(p.dir.path().join("helm-standin/env.log")).expect("env");
    assert!(!env.contains("e2e-sentinel-password"), "{env}");

    // State equals the emulator: a refreshing plan finds no drift and no change.
    let out = p.ok(&["plan", "--detailed-exitcode"], 0);
    assert!(!out.contains("changed outside infra"), "{out}");
    let state = std::fs::read_to_string(p.dir.path().join("state/e2e.json")).expect("state");
    assert!(
        !state.contains("e2e-sentinel-password"),
        "no plaintext secret in state"
    );

    // Scaling is an in-place update, and reaches the emulator.
    p.overlay("[resources.eks_node_group.workers]\nscaling = { min = 2, max = 8, desired = 4 }\n");
    let out = p.ok(&["plan", "--detailed-exitcode"], 2);
    assert!(
        out.contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."),
        "{out}"
    );
    p.ok(&["apply", "--auto-approve"], 0);
    let workers = eks
        .describe_nodegroup()
        .cluster_name("local-airflow")
        .nodegroup_name("workers")
        .send()
        .await
        .expect("workers");
    let scaling = workers
        .nodegroup()
        .and_then(|n| n.scaling_config())
        .expect("scaling");
    assert_eq!(
        (
            scaling.min_size(),
            scaling.max_size(),
            scaling.desired_size()
        ),
        (Some(2), Some(8), Some(4))
    );
    p.ok(&["plan", "--detailed-exitcode"], 0);

    // Instance types force a new node group.
    p.overlay(
        "[resources.eks_node_group.workers]\nscaling = { min = 2, max = 8, desired = 4 }\ninstance_types = [\"m5.4xlarge\"]\n",
    );
    let out = p.ok(&["plan", "--detailed-exitcode"], 2);
    assert!(
        out.contains("Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy."),
        "{out}"
    );
    assert!(out.contains("forces replacement"), "{out}");

    // Deletion protection blocks destroy, with what to change.
    p.overlay("[resources.rds_instance.airflow_db]\ndeletion_protection = true\n");
    p.ok(&["apply", "--auto-approve"], 0);
    let out = p.ok(&["destroy", "--auto-approve"], 1);
    assert!(
        out.contains("cannot destroy `rds_instance.airflow_db`: it has deletion_protection = true"),
        "{out}"
    );
    // Refused at plan time: nothing else was deleted either.
    assert!(
        eks.describe_cluster()
            .name("local-airflow")
            .send()
            .await
            .is_ok()
    );
    let db = rds
        .describe_db_instances()
        .db_instance_identifier("local-airflow-db")
        .send()
        .await;
    assert!(db.is_ok(), "the protected database is still there");

    // Lift it (one in-place update), then destroy leaves the emulator empty.
    p.overlay("[resources.rds_instance.airflow_db]\ndeletion_protection = false\n");
    let out = p.ok(&["apply", "--auto-approve"], 0);
    assert!(out.contains("0 created, 1 updated"), "{out}");
    p.ok(&["destroy", "--auto-approve"], 0);
    let clusters = eks.list_clusters().send().await.expect("clusters");
    assert!(clusters.clusters().is_empty(), "{:?}", clusters.clusters());
    let dbs = rds.describe_db_instances().send().await.expect("dbs");
    assert!(dbs.db_instances().is_empty());
    let groups = rds
        .describe_db_subnet_groups()
        .send()
        .await
        .expect("subnet groups");
    assert!(groups.db_subnet_groups().is_empty());
    let buckets = s3.list_buckets().send().await.expect("buckets");
    assert!(buckets.buckets().is_empty());
    let argv = standin_log(p.dir.path(), "argv.log");
    assert_eq!(
        argv.last().and_then(|a| a[0].as_str()),
        Some("uninstall"),
        "the release went first and was uninstalled: {argv:?}"
    );
}

#[test]
fn prod_plans_the_whole_platform_without_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
    for f in ["airflow.toml", "prod.toml"] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks").join(f))
                .expect("stack");
        std::fs::write(dir.path().join("stacks").join(f), text).expect("copy");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["plan", "--stack", "prod", "--no-color"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .output()
        .expect("run infra");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for address in [
        "eks_cluster.main",
        "eks_node_group.general",
        "eks_node_group.workers",
        "rds_subnet_group.airflow",
        "rds_instance.airflow_db",
        "s3_bucket.logs",
        "helm_release.airflow",
    ] {
        assert!(stdout.contains(address), "{address} missing from\n{stdout}");
    }
    assert!(
        stdout.contains("Plan: 7 to add, 0 to change, 0 to replace, 0 to destroy."),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_adopts_a_bucket_made_by_hand() {
    let p = Platform::new();
    let (_, _, s3) = p.clients().await;
    s3.create_bucket()
        .bucket("handmade-logs")
        .send()
        .await
        .expect("bucket made by hand");
    let stack = format!(
        "[aws]\nregion = \"{REGION}\"\nendpoint_url = \"{}\"\n\n[resources.s3_bucket.logs]\nname = \"handmade-logs\"\nversioning = true\n",
        p.emulator.endpoint()
    );
    std::fs::write(p.dir.path().join("stacks/e2e.toml"), stack).expect("stack");

    let out = p.ok(&["import", "s3_bucket.logs", "handmade-logs"], 0);
    assert!(out.contains("Imported s3_bucket.logs"), "{out}");
    let out = p.ok(&["state", "list"], 0);
    assert!(out.contains("s3_bucket.logs"), "{out}");
    // The bucket is unversioned: the plan updates it in place, never recreates it.
    let out = p.ok(&["plan", "--detailed-exitcode"], 2);
    assert!(
        out.contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."),
        "{out}"
    );
    p.ok(&["apply", "--auto-approve"], 0);
    let versioning = s3
        .get_bucket_versioning()
        .bucket("handmade-logs")
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    // Importing what is already managed, or what does not exist, is refused.
    let out = p.ok(&["import", "s3_bucket.logs", "handmade-logs"], 1);
    assert!(out.contains("already in state"), "{out}");
}

/// An apply against an endpoint nobody listens on fails within two minutes
/// for every AWS type, each error naming the endpoint: a connection that
/// cannot be made is retried by the engine only (a bounded number of
/// times), not also by the SDK and the providers.
#[test]
fn an_unreachable_endpoint_fails_every_aws_type_quickly_naming_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let endpoint = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
    let stack = format!(
        r#"[aws]
region = "{REGION}"
endpoint_url = "http://{endpoint}"

[resources.eks_cluster.main]
name = "unreachable"
role_arn = "arn:aws:iam::123456789012:role/eks"
subnet_ids = ["subnet-1", "subnet-2"]

[resources.eks_node_group.general]
cluster = "unreachable"
name = "general"
node_role_arn = "arn:aws:iam::123456789012:role/nodes"
subnet_ids = ["subnet-1", "subnet-2"]
scaling = {{ min = 1, max = 1, desired = 1 }}

[resources.rds_subnet_group.db]
name = "unreachable-db"
description = "unreachable"
subnet_ids = ["subnet-1", "subnet-2"]

[resources.rds_instance.db]
identifier = "unreachable-db"
engine = "postgres"
instance_class = "db.t3.micro"
allocated_storage = 20
username = "airflow"
password = {{ from_env = "UNREACHABLE_DB_PASSWORD" }}
skip_final_snapshot = true

[resources.s3_bucket.logs]
name = "unreachable-logs"

[resources.vpc.main]
cidr_block = "10.0.0.0/16"

[resources.subnet.a]
vpc_id = "vpc-1"
cidr_block = "10.0.0.0/24"

[resources.internet_gateway.main]
vpc_id = "vpc-1"

[resources.eip.nat]

[resources.nat_gateway.main]
subnet_id = "subnet-1"
allocation_id = "eipalloc-1"

[resources.route_table.main]
vpc_id = "vpc-1"

[resources.security_group.db]
name = "unreachable-db"
vpc_id = "vpc-1"

[resources.iam_role.eks]
name = "unreachable-eks"
assume_role_policy = {{ Version = "2012-10-17", Statement = [{{ Effect = "Allow", Principal = {{ Service = "eks.amazonaws.com" }}, Action = "sts:AssumeRole" }}] }}

[resources.iam_openid_connect_provider.eks]
url = "https://oidc.eks.us-east-1.amazonaws.com/id/UNREACHABLE"
client_id_list = ["sts.amazonaws.com"]

[resources.secretsmanager_secret.db]
name = "unreachable/db"
generate = {{ length = 24 }}
"#
    );
    std::fs::write(dir.path().join("stacks/unreachable.toml"), stack).expect("stack");
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args([
            "apply",
            "--auto-approve",
            "--stack",
            "unreachable",
            "--no-color",
        ])
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("UNREACHABLE_DB_PASSWORD", "not-a-real-password")
        .stdin(Stdio::null())
        .output()
        .expect("run infra");
    let took = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("apply against an unreachable endpoint took {took:?}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        took < std::time::Duration::from_secs(120),
        "took {took:?}\n{text}"
    );
    for address in [
        "eks_cluster.main",
        "eks_node_group.general",
        "rds_subnet_group.db",
        "rds_instance.db",
        "s3_bucket.logs",
        "vpc.main",
        "subnet.a",
        "internet_gateway.main",
        "eip.nat",
        "nat_gateway.main",
        "route_table.main",
        "security_group.db",
        "iam_role.eks",
        "iam_openid_connect_provider.eks",
        "secretsmanager_secret.db",
    ] {
        let named = text.lines().any(|l| {
            l.contains(address)
                && l.contains(&format!(
                    "cannot reach AWS at http://{endpoint} (connection refused)"
                ))
        });
        assert!(named, "no error of {address} names {endpoint}:\n{text}");
    }
    assert!(
        text.contains("check [aws] endpoint_url / AWS_ENDPOINT_URL, the network and the region"),
        "{text}"
    );
}

/// The foundation on an empty account: a VPC with public and private
/// subnets in two zones, an internet gateway, a NAT gateway on an elastic
/// IP, route tables, two security groups (the database's admitting 5432
/// from the cluster's), IAM roles with trust, managed and inline policies,
/// the cluster's OIDC provider, and a generated secret that is the
/// database's password and is in the Airflow release's values.
const FOUNDATION: &str = r#"
[aws]
endpoint_url = "{endpoint}"

[resources.vpc.main]
cidr_block = "10.40.0.0/16"
enable_dns_hostnames = true
tags = { Name = "fnd" }

[resources.subnet.public_a]
vpc_id = "${vpc.main.id}"
cidr_block = "10.40.0.0/20"
availability_zone = "us-east-1a"
map_public_ip_on_launch = true
tags = { "kubernetes.io/role/elb" = "1" }

[resources.subnet.public_b]
vpc_id = "${vpc.main.id}"
cidr_block = "10.40.16.0/20"
availability_zone = "us-east-1b"
map_public_ip_on_launch = true
tags = { "kubernetes.io/role/elb" = "1" }

[resources.subnet.private_a]
vpc_id = "${vpc.main.id}"
cidr_block = "10.40.128.0/20"
availability_zone = "us-east-1a"
tags = { "kubernetes.io/role/internal-elb" = "1" }

[resources.subnet.private_b]
vpc_id = "${vpc.main.id}"
cidr_block = "10.40.144.0/20"
availability_zone = "us-east-1b"
tags = { "kubernetes.io/role/internal-elb" = "1" }

[resources.internet_gateway.main]
vpc_id = "${vpc.main.id}"

[resources.eip.nat]
tags = { Name = "fnd-nat" }

[resources.nat_gateway.main]
subnet_id = "${subnet.public_a.id}"
allocation_id = "${eip.nat.id}"
depends_on = ["internet_gateway.main"]

[resources.route_table.public]
vpc_id = "${vpc.main.id}"
routes = [{ cidr_block = "0.0.0.0/0", gateway_id = "${internet_gateway.main.id}" }]
subnet_ids = ["${subnet.public_a.id}", "${subnet.public_b.id}"]

[resources.route_table.private]
vpc_id = "${vpc.main.id}"
routes = [{ cidr_block = "0.0.0.0/0", nat_gateway_id = "${nat_gateway.main.id}" }]
subnet_ids = ["${subnet.private_a.id}", "${subnet.private_b.id}"]

[resources.security_group.cluster]
name = "fnd-cluster"
description = "Airflow's EKS cluster"
vpc_id = "${vpc.main.id}"
egress = [{ protocol = "-1", from_port = 0, to_port = 0, cidr_blocks = ["0.0.0.0/0"], description = "anywhere" }]

[resources.security_group.db]
name = "fnd-db"
description = "Airflow's metadata database"
vpc_id = "${vpc.main.id}"
ingress = [{ protocol = "tcp", from_port = 5432, to_port = 5432, source_security_group_id = "${security_group.cluster.id}", description = "PostgreSQL from the cluster" }]

[resources.iam_role.cluster]
name = "fnd-eks-cluster"
assume_role_policy = { Version = "2012-10-17", Statement = [{ Effect = "Allow", Principal = { Service = "eks.amazonaws.com" }, Action = "sts:AssumeRole" }] }
managed_policy_arns = ["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"]

[resources.iam_role.cluster.inline_policies.logs]
Version = "2012-10-17"
Statement = [{ Effect = "Allow", Action = ["logs:CreateLogGroup", "logs:PutLogEvents"], Resource = "*" }]

[resources.eks_cluster.main]
name = "fnd"
version = "1.33"
role_arn = "${iam_role.cluster.arn}"
subnet_ids = ["${subnet.private_a.id}", "${subnet.private_b.id}"]
security_group_ids = ["${security_group.cluster.id}"]

[resources.iam_openid_connect_provider.eks]
url = "${eks_cluster.main.oidc_issuer}"
client_id_list = ["sts.amazonaws.com"]

[resources.secretsmanager_secret.db]
name = "fnd/db-password"
generate = { length = 24, exclude_punctuation = true }
recovery_window_days = 0

[resources.rds_subnet_group.db]
name = "fnd-db"
subnet_ids = ["${subnet.private_a.id}", "${subnet.private_b.id}"]

[resources.rds_instance.db]
identifier = "fnd-db"
instance_class = "db.t3.micro"
allocated_storage = 20
username = "airflow"
password = "${secretsmanager_secret.db.value}"
db_subnet_group = "${rds_subnet_group.db.name}"
vpc_security_group_ids = ["${security_group.db.id}"]
skip_final_snapshot = true

[resources.helm_release.airflow]
name = "airflow"
namespace = "airflow"
chart = "oci://registry.example/airflow"
version = "1.0.0"
kubernetes = { eks_cluster = "${eks_cluster.main.name}", endpoint = "${eks_cluster.main.endpoint}", ca_data = "${eks_cluster.main.certificate_authority}", region = "us-east-1" }
values = { data = { metadataConnection = { host = "${rds_instance.db.address}", pass = "${secretsmanager_secret.db.value}" } } }
"#;

/// What exists in the emulator's account, by kind: ids and names.
async fn inventory(sdk: &aws_config::SdkConfig) -> Vec<(&'static str, Vec<String>)> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let iam = aws_sdk_iam::Client::new(sdk);
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    let rds = aws_sdk_rds::Client::new(sdk);
    let eks = aws_sdk_eks::Client::new(sdk);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let vpcs = ec2.describe_vpcs().send().await.expect("vpcs");
    let subnets = ec2.describe_subnets().send().await.expect("subnets");
    let groups = ec2.describe_security_groups().send().await.expect("groups");
    let gateways = ec2.describe_internet_gateways().send().await.expect("igws");
    let tables = ec2.describe_route_tables().send().await.expect("tables");
    let addresses = ec2.describe_addresses().send().await.expect("eips");
    let nats = ec2.describe_nat_gateways().send().await.expect("nats");
    let roles = iam.list_roles().send().await.expect("roles");
    let oidc = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .expect("oidc");
    let listed = secrets.list_secrets().send().await.expect("secrets");
    let dbs = rds.describe_db_instances().send().await.expect("dbs");
    let groups_db = rds
        .describe_db_subnet_groups()
        .send()
        .await
        .expect("db subnet groups");
    let clusters = eks.list_clusters().send().await.expect("clusters");
    let ids = |v: Vec<Option<&str>>| sorted(v.into_iter().flatten().map(str::to_owned).collect());
    vec![
        ("vpc", ids(vpcs.vpcs().iter().map(|v| v.vpc_id()).collect())),
        (
            "subnet",
            ids(subnets.subnets().iter().map(|s| s.subnet_id()).collect()),
        ),
        (
            "security_group",
            ids(groups
                .security_groups()
                .iter()
                .map(|g| g.group_id())
                .collect()),
        ),
        (
            "internet_gateway",
            ids(gateways
                .internet_gateways()
                .iter()
                .map(|g| g.internet_gateway_id())
                .collect()),
        ),
        (
            "route_table",
            ids(tables
                .route_tables()
                .iter()
                .map(|t| t.route_table_id())
                .collect()),
        ),
        (
            "eip",
            ids(addresses
                .addresses()
                .iter()
                .map(|a| a.allocation_id())
                .collect()),
        ),
        (
            "nat_gateway",
            ids(nats
                .nat_gateways()
                .iter()
                .filter(|n| n.state().map(|s| s.as_str()) != Some("deleted"))
                .map(|n| n.nat_gateway_id())
                .collect()),
        ),
        (
            "iam_role",
            ids(roles.roles().iter().map(|r| Some(r.role_name())).collect()),
        ),
        (
            "oidc",
            ids(oidc
                .open_id_connect_provider_list()
                .iter()
                .map(|p| p.arn())
                .collect()),
        ),
        (
            "secret",
            ids(listed.secret_list().iter().map(|s| s.name()).collect()),
        ),
        (
            "rds_instance",
            ids(dbs
                .db_instances()
                .iter()
                .map(|d| d.db_instance_identifier())
                .collect()),
        ),
        (
            "rds_subnet_group",
            ids(groups_db
                .db_subnet_groups()
                .iter()
                .map(|g| g.db_subnet_group_name())
                .collect()),
        ),
        ("eks_cluster", sorted(clusters.clusters().to_vec())),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_foundation_applies_on_an_empty_account_converges_and_destroys_to_what_was_there() {
    // Real accounts have AWS's managed policies; moto loads them on request.
    let p = Platform::bare(Emulator::start_with(&[(
        "MOTO_IAM_LOAD_MANAGED_POLICIES",
        "true",
    )]));
    let stack = FOUNDATION.replace("{endpoint}", p.emulator.endpoint());
    std::fs::write(p.dir.path().join("stacks/e2e.toml"), stack).expect("stack");
    let sdk = p
        .emulator
        .context()
        .sdk_config(&p.emulator.settings())
        .await
        .expect("sdk config");
    let before = inventory(&sdk).await;

    let out = p.ok(&["apply", "--auto-approve", "-vvv"], 0);
    assert!(out.contains("Apply complete"), "{out}");

    // Every object, through the SDK.
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.dir.path().join("state/e2e.json")).expect("state"),
    )
    .expect("state json");
    let id = |address: &str| -> String {
        let r = state["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["address"] == address)
            .unwrap_or_else(|| panic!("{address} in state"));
        r["id"].as_str().expect("id").to_owned()
    };
    let vpc = ec2
        .describe_vpcs()
        .vpc_ids(id("vpc.main"))
        .send()
        .await
        .expect("vpc");
    assert_eq!(vpc.vpcs()[0].cidr_block(), Some("10.40.0.0/16"));
    let hostnames = ec2
        .describe_vpc_attribute()
        .vpc_id(id("vpc.main"))
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .expect("vpc attribute");
    assert_eq!(
        hostnames.enable_dns_hostnames().and_then(|a| a.value()),
        Some(true)
    );
    for (name, cidr, zone, public) in [
        ("public_a", "10.40.0.0/20", "us-east-1a", true),
        ("public_b", "10.40.16.0/20", "us-east-1b", true),
        ("private_a", "10.40.128.0/20", "us-east-1a", false),
        ("private_b", "10.40.144.0/20", "us-east-1b", false),
    ] {
        let subnet = ec2
            .describe_subnets()
            .subnet_ids(id(&format!("subnet.{name}")))
            .send()
            .await
            .expect("subnet");
        let subnet = &subnet.subnets()[0];
        assert_eq!(subnet.vpc_id(), Some(id("vpc.main").as_str()));
        assert_eq!(
            (subnet.cidr_block(), subnet.availability_zone()),
            (Some(cidr), Some(zone))
        );
        assert_eq!(subnet.map_public_ip_on_launch(), Some(public), "{name}");
    }
    let igw = ec2
        .describe_internet_gateways()
        .internet_gateway_ids(id("internet_gateway.main"))
        .send()
        .await
        .expect("igw");
    assert_eq!(
        igw.internet_gateways()[0].attachments()[0].vpc_id(),
        Some(id("vpc.main").as_str())
    );
    let nat = ec2
        .describe_nat_gateways()
        .nat_gateway_ids(id("nat_gateway.main"))
        .send()
        .await
        .expect("nat");
    let nat = &nat.nat_gateways()[0];
    assert_eq!(nat.state().map(|s| s.as_str()), Some("available"));
    assert_eq!(nat.subnet_id(), Some(id("subnet.public_a").as_str()));
    assert_eq!(
        nat.nat_gateway_addresses()[0].allocation_id(),
        Some(id("eip.nat").as_str())
    );
    for (table, target, subnets) in [
        (
            "public",
            id("internet_gateway.main"),
            ["public_a", "public_b"],
        ),
        (
            "private",
            id("nat_gateway.main"),
            ["private_a", "private_b"],
        ),
    ] {
        let t = ec2
            .describe_route_tables()
            .route_table_ids(id(&format!("route_table.{table}")))
            .send()
            .await
            .expect("route table");
        let t = &t.route_tables()[0];
        let default = t
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .expect("a default route");
        let via = default.gateway_id().or(default.nat_gateway_id());
        assert_eq!(via, Some(target.as_str()), "{table}");
        let mut associated: Vec<&str> = t
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id())
            .collect();
        associated.sort();
        let mut want: Vec<String> = subnets.iter().map(|s| id(&format!("subnet.{s}"))).collect();
        want.sort();
        assert_eq!(associated, want, "{table}");
    }
    let db_group = ec2
        .describe_security_groups()
        .group_ids(id("security_group.db"))
        .send()
        .await
        .expect("db group");
    let rule = &db_group.security_groups()[0].ip_permissions()[0];
    assert_eq!((rule.from_port(), rule.to_port()), (Some(5432), Some(5432)));
    assert_eq!(
        rule.user_id_group_pairs()[0].group_id(),
        Some(id("security_group.cluster").as_str())
    );
    let role = iam
        .get_role()
        .role_name("fnd-eks-cluster")
        .send()
        .await
        .expect("role");
    let trust = role
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .expect("trust");
    assert!(trust.contains("eks.amazonaws.com"), "{trust}");
    let attached = iam
        .list_attached_role_policies()
        .role_name("fnd-eks-cluster")
        .send()
        .await
        .expect("attached");
    assert_eq!(
        attached.attached_policies()[0].policy_arn(),
        Some("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
    );
    iam.get_role_policy()
        .role_name("fnd-eks-cluster")
        .policy_name("logs")
        .send()
        .await
        .expect("inline policy");
    let cluster = aws_sdk_eks::Client::new(&sdk)
        .describe_cluster()
        .name("fnd")
        .send()
        .await
        .expect("cluster");
    let cluster = cluster.cluster().expect("cluster body");
    assert_eq!(cluster.role_arn(), role.role().map(|r| r.arn()));
    let providers = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .expect("oidc");
    assert_eq!(providers.open_id_connect_provider_list().len(), 1);

    // The generated password: the database's, and in the release's values,
    // and nowhere infra writes.
    let secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id("fnd/db-password")
        .send()
        .await
        .expect("secret");
    let password = secret.secret_string().expect("a string").to_owned();
    assert_eq!(password.len(), 24);
    let uploads = standin_log(p.dir.path(), "values.log");
    assert_eq!(
        uploads.last().expect("helm ran")["content"]["data"]["metadataConnection"]["pass"],
        password.as_str()
    );
    assert!(
        !out.contains(&password),
        "the generated password leaked into the logs"
    );
    let mut written = String::new();
    for entry in std::fs::read_dir(p.dir.path().join("state"))
        .expect("state dir")
        .flatten()
    {
        written.push_str(&String::from_utf8_lossy(
            &std::fs::read(entry.path()).unwrap_or_default(),
        ));
    }
    assert!(
        !written.contains(&password),
        "the generated password leaked into state"
    );
    for log in ["argv.log", "env.log"] {
        let text = std::fs::read_to_string(p.dir.path().join("helm-standin").join(log)).expect(log);
        assert!(
            !text.contains(&password),
            "the generated password leaked into helm's {log}"
        );
    }
    let json = p.ok(&["plan", "--json"], 0);
    assert!(
        !json.contains(&password),
        "the generated password leaked into plan --json"
    );

    // A second plan is empty: policy documents, sets and defaults included.
    let again = p.ok(&["plan", "--detailed-exitcode"], 0);
    assert!(again.contains("No changes"), "{again}");

    // Destroy leaves what the account had before.
    let out = p.ok(&["destroy", "--auto-approve"], 0);
    assert!(out.contains("Destroy complete"), "{out}");
    assert_eq!(inventory(&sdk).await, before);
}
