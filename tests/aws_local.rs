//! The whole Airflow platform against moto's AWS emulator, through the
//! `infra` binary: the shipped `local` stack applies on an empty account,
//! every object is checked through the SDK, a second plan is empty, a node
//! group updates in place, a replacement is planned, deletion protection
//! holds, and destroy leaves the account as it was. The emulator runs on
//! 127.0.0.1; no test talks to real AWS. The Airflow release goes to the
//! stand-in helm (crates/infra-helm/tests/fixtures/helm, a documented test
//! double) found on PATH, which records the values file it was given.
//!
//! moto has no EKS add-on or access-entry APIs: `local` disables those
//! resources, and crates/infra-eks/tests/mocks.rs covers them against
//! mocked responses (aws-smithy-mocks).

mod cli_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use cli_support::install_standin_helm;
use infra_aws::testing::{Emulator, REGION};

/// A project holding the shipped stacks plus `stacks/e2e.toml`, an overlay
/// of `local.toml` pointing at the emulator.
struct Platform {
    dir: tempfile::TempDir,
    emulator: Emulator,
}

const SHIPPED: [&str; 3] = ["airflow.toml", "dev.toml", "local.toml"];

/// The DAG repository's deploy key the tests hand to infra.
const SSH_KEY: &str = "e2e-sentinel-ssh-key";

impl Platform {
    /// A project with no stacks, the stand-in helm and `emulator`.
    fn bare(emulator: Emulator) -> Platform {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
        install_standin_helm(dir.path(), false);
        Platform { dir, emulator }
    }

    /// The shipped stacks against an empty emulator that, like a real
    /// account, has AWS's managed policies (moto loads them on request).
    fn new() -> Platform {
        let p = Platform::bare(Emulator::start_with(&[(
            "MOTO_IAM_LOAD_MANAGED_POLICIES",
            "true",
        )]));
        for f in SHIPPED {
            let text = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks").join(f),
            )
            .expect("shipped stack");
            std::fs::write(p.dir.path().join("stacks").join(f), text).expect("copy stack");
        }
        p.overlay("");
        p
    }

    /// Rewrites the overlay: the emulator's endpoint, plus `extra`.
    fn overlay(&self, extra: &str) {
        let text = format!(
            "extends = \"local.toml\"\n\n[aws]\nendpoint_url = \"{}\"\n\n{extra}",
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
            .env("AIRFLOW_DAGS_SSH_KEY", SSH_KEY)
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

    async fn sdk(&self) -> aws_config::SdkConfig {
        self.emulator
            .context()
            .sdk_config(&self.emulator.settings())
            .await
            .expect("sdk config")
    }

    /// The cloud id of `address`, from the stack's state file.
    fn id(&self, address: &str) -> String {
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir.path().join("state/e2e.json")).expect("state"),
        )
        .expect("state json");
        let r = state["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["address"] == address)
            .unwrap_or_else(|| panic!("{address} in state"));
        r["id"].as_str().expect("id").to_owned()
    }

    /// Everything infra wrote: state, journals, plans.
    fn written(&self) -> String {
        let mut written = String::new();
        for entry in std::fs::read_dir(self.dir.path().join("state"))
            .expect("state dir")
            .flatten()
        {
            written.push_str(&String::from_utf8_lossy(
                &std::fs::read(entry.path()).unwrap_or_default(),
            ));
        }
        written
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

/// A role's trust policy, decoded (IAM returns it URL-encoded).
async fn trust_policy(iam: &aws_sdk_iam::Client, role: &str) -> serde_json::Value {
    let got = iam.get_role().role_name(role).send().await.expect("role");
    let text = got
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .expect("trust policy");
    let decoded = percent_decode(text);
    serde_json::from_str(&decoded)
        .unwrap_or_else(|e| panic!("{role}'s trust policy: {e}: {decoded}"))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The ARNs of the managed policies attached to `role`, sorted.
async fn attached(iam: &aws_sdk_iam::Client, role: &str) -> Vec<String> {
    let got = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("attached policies");
    let mut arns: Vec<String> = got
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .map(str::to_owned)
        .collect();
    arns.sort();
    arns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_platform_applies_on_an_empty_account_converges_and_destroys_to_what_was_there() {
    let p = Platform::new();
    let sdk = p.sdk().await;
    let before = inventory(&sdk).await;

    // The whole platform in one apply, logged at the highest verbosity
    // (the AWS SDK's trace logs included).
    let out = p.ok(&["apply", "--auto-approve", "-vvv"], 0);
    assert!(out.contains("Apply complete"), "{out}");
    assert!(out.contains("TRACE"), "logged at the highest verbosity");

    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let eks = aws_sdk_eks::Client::new(&sdk);
    let rds = aws_sdk_rds::Client::new(&sdk);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let id = |address: &str| p.id(address);

    // The network: a VPC, public and private subnets in two zones, the
    // internet and NAT gateways, and the routes through them.
    let vpc = ec2
        .describe_vpcs()
        .vpc_ids(id("vpc.main"))
        .send()
        .await
        .expect("vpc");
    assert_eq!(vpc.vpcs()[0].cidr_block(), Some("10.20.0.0/16"));
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
        ("public_a", "10.20.0.0/20", "us-east-1a", true),
        ("public_b", "10.20.16.0/20", "us-east-1b", true),
        ("private_a", "10.20.128.0/19", "us-east-1a", false),
        ("private_b", "10.20.160.0/19", "us-east-1b", false),
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
        .nat_gateway_ids(id("nat_gateway.a"))
        .send()
        .await
        .expect("nat");
    let nat = &nat.nat_gateways()[0];
    assert_eq!(nat.state().map(|s| s.as_str()), Some("available"));
    assert_eq!(nat.subnet_id(), Some(id("subnet.public_a").as_str()));
    assert_eq!(
        nat.nat_gateway_addresses()[0].allocation_id(),
        Some(id("eip.nat_a").as_str())
    );
    for (table, target, subnets) in [
        (
            "public",
            id("internet_gateway.main"),
            ["public_a", "public_b"],
        ),
        ("private", id("nat_gateway.a"), ["private_a", "private_b"]),
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

    // The cluster: its role, private subnets and security group; the
    // database's group admits 5432 from that group and nothing else.
    let cluster = eks
        .describe_cluster()
        .name("local-airflow")
        .send()
        .await
        .expect("cluster");
    let cluster = cluster.cluster().expect("cluster body");
    assert_eq!(cluster.version(), Some("1.35"));
    let cluster_role = iam
        .get_role()
        .role_name("local-airflow-eks-cluster")
        .send()
        .await
        .expect("cluster role");
    assert_eq!(cluster.role_arn(), cluster_role.role().map(|r| r.arn()));
    let vpc_config = cluster.resources_vpc_config().expect("vpc config");
    let mut cluster_subnets = vpc_config.subnet_ids().to_vec();
    cluster_subnets.sort();
    let mut private = vec![id("subnet.private_a"), id("subnet.private_b")];
    private.sort();
    assert_eq!(cluster_subnets, private);
    assert_eq!(
        vpc_config.security_group_ids(),
        [id("security_group.cluster")]
    );
    let db_group = ec2
        .describe_security_groups()
        .group_ids(id("security_group.db"))
        .send()
        .await
        .expect("db group");
    let rules = db_group.security_groups()[0].ip_permissions();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(
        (
            rules[0].ip_protocol(),
            rules[0].from_port(),
            rules[0].to_port()
        ),
        (Some("tcp"), Some(5432), Some(5432))
    );
    assert!(
        rules[0].ip_ranges().is_empty(),
        "no CIDR may reach the database"
    );
    assert_eq!(
        rules[0].user_id_group_pairs()[0].group_id(),
        Some(id("security_group.cluster").as_str())
    );
    for (name, taint) in [("general", None), ("workers", Some("airflow-worker"))] {
        let group = eks
            .describe_nodegroup()
            .cluster_name("local-airflow")
            .nodegroup_name(name)
            .send()
            .await
            .expect("node group");
        let group = group.nodegroup().expect("node group body");
        assert_eq!(
            group.node_role(),
            Some("arn:aws:iam::123456789012:role/local-airflow-eks-nodes")
        );
        assert_eq!(
            group.taints().first().and_then(|t| t.key()),
            taint,
            "{name}"
        );
    }

    // IAM: the roles' trust and policies; the OIDC provider is the
    // cluster's issuer, and the service-account roles trust only it and
    // the named service accounts.
    assert_eq!(
        trust_policy(&iam, "local-airflow-eks-cluster").await["Statement"][0]["Principal"]["Service"],
        "eks.amazonaws.com"
    );
    assert_eq!(
        attached(&iam, "local-airflow-eks-cluster").await,
        ["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"]
    );
    assert_eq!(
        attached(&iam, "local-airflow-eks-nodes").await,
        [
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        ]
    );
    let issuer = cluster
        .identity()
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .expect("issuer");
    let host_path = issuer.trim_start_matches("https://");
    let providers = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .expect("oidc");
    let provider_arn = providers.open_id_connect_provider_list()[0]
        .arn()
        .expect("provider arn")
        .to_owned();
    assert_eq!(
        provider_arn,
        format!("arn:aws:iam::123456789012:oidc-provider/{host_path}")
    );
    let airflow_accounts = [
        "airflow-api-server",
        "airflow-dag-processor",
        "airflow-scheduler",
        "airflow-triggerer",
        "airflow-worker",
    ]
    .map(|a| format!("system:serviceaccount:airflow:{a}"));
    for (role, accounts) in [
        (
            "local-airflow-ebs-csi",
            vec!["system:serviceaccount:kube-system:ebs-csi-controller-sa".to_owned()],
        ),
        ("local-airflow-task-logs", airflow_accounts.to_vec()),
    ] {
        let trust = trust_policy(&iam, role).await;
        let statements = trust["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 1, "{role}: {trust}");
        let statement = &statements[0];
        assert_eq!(
            statement["Principal"]["Federated"],
            provider_arn.as_str(),
            "{role}"
        );
        assert_eq!(
            statement["Action"], "sts:AssumeRoleWithWebIdentity",
            "{role}"
        );
        let equals = &statement["Condition"]["StringEquals"];
        assert_eq!(
            equals[format!("{host_path}:aud")],
            "sts.amazonaws.com",
            "{role}: {trust}"
        );
        let mut subjects: Vec<&str> = match &equals[format!("{host_path}:sub")] {
            serde_json::Value::String(s) => vec![s.as_str()],
            serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
            other => panic!("{role}: sub is {other}"),
        };
        subjects.sort();
        assert_eq!(
            subjects,
            accounts.iter().map(String::as_str).collect::<Vec<_>>(),
            "{role}"
        );
    }
    assert_eq!(
        attached(&iam, "local-airflow-ebs-csi").await,
        ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]
    );
    let logs_policy = iam
        .get_role_policy()
        .role_name("local-airflow-task-logs")
        .policy_name("task-logs")
        .send()
        .await
        .expect("task-logs policy");
    let bucket = "local-airflow-logs-123456789012";
    let logs_policy = percent_decode(logs_policy.policy_document());
    assert!(
        logs_policy.contains(&format!("arn:aws:s3:::{bucket}/task-logs/*")),
        "{logs_policy}"
    );

    // The secrets: generated in Secrets Manager, with the lengths asked.
    let mut generated = std::collections::BTreeMap::new();
    for (name, length) in [
        ("db-password", 32),
        ("fernet-key", 43),
        ("api-secret-key", 48),
        ("jwt-secret", 64),
    ] {
        let got = secrets
            .get_secret_value()
            .secret_id(format!("local/airflow/{name}"))
            .send()
            .await
            .expect("secret");
        let value = got.secret_string().expect("a string").to_owned();
        assert_eq!(value.len(), length, "{name}");
        assert!(value.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        generated.insert(name, value);
    }

    // The database: in the private subnets, behind its group, with its
    // parameter group forcing TLS.
    let db = rds
        .describe_db_instances()
        .db_instance_identifier("local-airflow-db")
        .send()
        .await
        .expect("db");
    let db = &db.db_instances()[0];
    assert_eq!(db.engine(), Some("postgres"));
    assert!(
        db.engine_version().is_some_and(|v| v.starts_with("16")),
        "{:?}",
        db.engine_version()
    );
    assert_eq!(db.storage_encrypted(), Some(true));
    let subnet_group = db.db_subnet_group().expect("subnet group");
    assert_eq!(
        subnet_group.db_subnet_group_name(),
        Some("local-airflow-db")
    );
    let mut db_subnets: Vec<String> = subnet_group
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .map(str::to_owned)
        .collect();
    db_subnets.sort();
    assert_eq!(db_subnets, private);
    assert_eq!(
        db.vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .collect::<Vec<_>>(),
        [id("security_group.db").as_str()]
    );
    assert_eq!(
        db.db_parameter_groups()
            .iter()
            .filter_map(|g| g.db_parameter_group_name())
            .collect::<Vec<_>>(),
        ["local-airflow-postgres16"]
    );
    let parameters = rds
        .describe_db_parameters()
        .db_parameter_group_name("local-airflow-postgres16")
        .source("user")
        .send()
        .await
        .expect("parameters");
    let force_ssl = parameters
        .parameters()
        .iter()
        .find(|p| p.parameter_name() == Some("rds.force_ssl"))
        .and_then(|p| p.parameter_value());
    assert_eq!(force_ssl, Some("1"));

    // The logs bucket.
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .expect("lifecycle");
    assert_eq!(lifecycle.rules().len(), 1);
    assert_eq!(lifecycle.rules()[0].transitions().len(), 2);
    let versioning = s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));

    // helm was given the database's address, the bucket, the role and the
    // generated secrets, these only inside the 0600 values file.
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
    assert_eq!(connection["port"], 5432);
    assert_eq!(connection["pass"], generated["db-password"].as_str());
    assert_eq!(
        connection["sslmode"], "disable",
        "no TLS on the in-cluster hop"
    );
    assert_eq!(values["pgbouncer"]["sslmode"], "require", "TLS to RDS");
    assert_eq!(values["fernetKey"], format!("{}=", generated["fernet-key"]));
    assert_eq!(values["apiSecretKey"], generated["api-secret-key"].as_str());
    assert_eq!(values["jwtSecret"], generated["jwt-secret"].as_str());
    assert_eq!(values["dags"]["gitSync"]["sshKey"], SSH_KEY);
    assert_eq!(
        values["config"]["logging"]["remote_base_log_folder"],
        format!("s3://{bucket}/task-logs")
    );
    let logs_role = iam
        .get_role()
        .role_name("local-airflow-task-logs")
        .send()
        .await
        .expect("task-logs role");
    let logs_role = logs_role.role().expect("role").arn().to_owned();
    for component in [
        "apiServer",
        "scheduler",
        "dagProcessor",
        "triggerer",
        "workers",
    ] {
        assert_eq!(
            values[component]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
            logs_role.as_str(),
            "{component}"
        );
    }
    let mut secret_values: Vec<&str> = generated.values().map(String::as_str).collect();
    secret_values.push(SSH_KEY);
    let argv = std::fs::read_to_string(p.dir.path().join("helm-standin/argv.log")).expect("argv");
    let env = std::fs::read_to_string(p.dir.path().join("helm-standin/env.log")).expect("env");
    assert!(argv.contains("\"upgrade\""), "{argv}");
    let plan_json = p.ok(&["plan", "--json"], 0);
    let written = p.written();
    for secret in &secret_values {
        for (place, text) in [
            ("the logs", &out),
            ("helm's argv", &argv),
            ("helm's environment", &env),
            ("plan --json", &plan_json),
            ("state", &written),
        ] {
            assert!(!text.contains(secret), "a secret leaked into {place}");
        }
    }

    // State equals the emulator: a refreshing plan finds no drift and no change.
    let again = p.ok(&["plan", "--detailed-exitcode"], 0);
    assert!(again.contains("No changes"), "{again}");
    assert!(!again.contains("changed outside infra"), "{again}");

    // Scaling bounds are an in-place update that reaches the emulator;
    // the desired size stays the autoscaler's, moved only into the bounds.
    p.overlay("[vars]\nworker_nodes = { min = 2, max = 8, desired = 4 }\n");
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
        (Some(2), Some(8), Some(2))
    );
    p.ok(&["plan", "--detailed-exitcode"], 0);

    // Instance types force a new node group.
    p.overlay(
        "[vars]\nworker_nodes = { min = 2, max = 8, desired = 4 }\nworker_instance_types = [\"m6i.4xlarge\"]\n",
    );
    let out = p.ok(&["plan", "--detailed-exitcode"], 2);
    assert!(
        out.contains("Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy."),
        "{out}"
    );
    assert!(out.contains("forces replacement"), "{out}");

    // Deletion protection blocks destroy, with what to change, and before
    // anything else is deleted.
    p.overlay("[resources.rds_instance.airflow_db]\ndeletion_protection = true\n");
    p.ok(&["apply", "--auto-approve"], 0);
    let out = p.ok(&["destroy", "--auto-approve"], 1);
    assert!(
        out.contains("cannot destroy `rds_instance.airflow_db`: it has deletion_protection = true"),
        "{out}"
    );
    assert!(
        eks.describe_cluster()
            .name("local-airflow")
            .send()
            .await
            .is_ok()
    );

    // Lift it (one in-place update), then destroy leaves what the account
    // had before.
    p.overlay("[resources.rds_instance.airflow_db]\ndeletion_protection = false\n");
    let out = p.ok(&["apply", "--auto-approve"], 0);
    assert!(out.contains("0 created, 1 updated"), "{out}");
    let out = p.ok(&["destroy", "--auto-approve"], 0);
    assert!(out.contains("Destroy complete"), "{out}");
    assert_eq!(inventory(&sdk).await, before);
    let argv = standin_log(p.dir.path(), "argv.log");
    assert_eq!(
        argv.last().and_then(|a| a[0].as_str()),
        Some("uninstall"),
        "the release was uninstalled: {argv:?}"
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
    // Every resource of the platform, from the network to the release.
    let addresses = [
        "vpc.main",
        "subnet.public_a",
        "subnet.public_b",
        "subnet.private_a",
        "subnet.private_b",
        "internet_gateway.main",
        "eip.nat_a",
        "eip.nat_b",
        "nat_gateway.a",
        "nat_gateway.b",
        "route_table.public",
        "route_table.private",
        "route_table.private_b",
        "security_group.db",
        "iam_role.cluster",
        "iam_role.nodes",
        "iam_role.ebs_csi",
        "iam_role.task_logs",
        "iam_openid_connect_provider.eks",
        "eks_cluster.main",
        "eks_addon.vpc_cni",
        "eks_addon.kube_proxy",
        "eks_addon.pod_identity",
        "eks_addon.coredns",
        "eks_addon.ebs_csi",
        "eks_access_entry.ci",
        "eks_access_entry.admins",
        "eks_node_group.general",
        "eks_node_group.workers",
        "secretsmanager_secret.db_password",
        "secretsmanager_secret.fernet_key",
        "secretsmanager_secret.api_secret_key",
        "secretsmanager_secret.jwt_secret",
        "rds_subnet_group.airflow",
        "rds_parameter_group.airflow",
        "rds_instance.airflow_db",
        "s3_bucket.logs",
        "helm_release.airflow",
    ];
    for address in addresses {
        assert!(
            stdout.contains(&format!("+ {address}")),
            "{address} missing from\n{stdout}"
        );
    }
    assert!(
        stdout.contains(&format!(
            "Plan: {} to add, 0 to change, 0 to replace, 0 to destroy.",
            addresses.len()
        )),
        "{stdout}"
    );
    // The critical path runs through the cluster, a node group and the
    // release: tens of minutes, as the resources' own estimates say.
    let estimate = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Estimated apply time: "))
        .unwrap_or_else(|| panic!("no estimate in\n{stdout}"));
    assert!(estimate.ends_with("(critical path)."), "{estimate}");
    assert!(estimate.contains('m'), "minutes, not seconds: {estimate}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_adopts_a_bucket_made_by_hand() {
    let p = Platform::new();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&p.sdk().await)
            .force_path_style(true)
            .build(),
    );
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

[resources.eks_addon.vpc_cni]
cluster = "unreachable"
name = "vpc-cni"
version = "v1.20.0-eksbuild.1"

[resources.eks_access_entry.ci]
cluster = "unreachable"
principal_arn = "arn:aws:iam::123456789012:role/ci"

[resources.rds_parameter_group.db]
name = "unreachable-db"
family = "postgres16"
parameters = {{ "rds.force_ssl" = "1" }}
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
        "eks_addon.vpc_cni",
        "eks_access_entry.ci",
        "rds_parameter_group.db",
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
