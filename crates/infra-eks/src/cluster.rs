//! `eks_cluster`: an EKS control plane, created with `CreateCluster`,
//! changed in place one update kind at a time, deleted with `DeleteCluster`.
//! Its access configuration (how IAM principals authenticate, which access
//! entries need) and upgrade policy are update kinds of their own.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    AuthenticationMode, Cluster, ClusterStatus, CreateAccessConfigRequest, LogSetup, LogType,
    Logging, SupportType, UpdateAccessConfigRequest, UpgradePolicyRequest, VpcConfigRequest,
};
use infra_aws::{Poll, Tags, classify, error_code, poll_until, read_tags, until_settled};
use infra_core::{
    Attribute, ErrorKind, Existing, Fields, Observed, OpContext, OpKind, Output, ProviderError,
    Request, Resource, Schema, Type, UpdateRequest, Validator, Value,
};

use crate::common::{
    ObservedInputs, UpdateTarget, already_exists, differs, name_rule, none_if_missing,
    required_strings, retag, revealed, tags_of, token, update_error, wait_for_update,
};

/// The resource type name.
pub const TYPE_NAME: &str = "eks_cluster";

/// What AWS uses for `public_access_cidrs` when none are given; sent when
/// the attribute is removed from the stack, so the cloud goes back to it.
const OPEN_CIDRS: &str = "0.0.0.0/0";

/// The authentication modes in the only order EKS moves between them.
const MODE_ORDER: [&str; 3] = ["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"];

/// How long `CreateCluster` is retried while a new IAM role propagates.
const IAM_PROPAGATION: Duration = Duration::from_secs(120);

infra_aws::resource_type! {
    /// The `eks_cluster` resource type.
    pub struct EksCluster(Client, "EKS cluster");
}

fn schema() -> Schema {
    let set = || Type::set(Type::String);
    Schema::new(TYPE_NAME)
        .attribute(
            Attribute::new("name", Type::String)
                .required()
                .forces_replacement()
                .validate(name_rule(100))
                .describe("the cluster name"),
        )
        .attribute(
            Attribute::new("version", Type::String)
                .describe("Kubernetes version, e.g. \"1.31\"; upgraded in place, one minor version at a time"),
        )
        .attribute(
            Attribute::new("role_arn", Type::String)
                .required()
                .forces_replacement()
                .describe("IAM role the control plane assumes"),
        )
        .attribute(
            Attribute::new("subnet_ids", set())
                .required()
                .describe("subnets for the control plane's network interfaces (at least two AZs)"),
        )
        .attribute(
            Attribute::new("security_group_ids", set())
                .describe("extra security groups for the control plane's interfaces"),
        )
        .attribute(
            Attribute::new("endpoint_private_access", Type::Bool)
                .default(false)
                .describe("whether the API server is reachable from inside the VPC"),
        )
        .attribute(
            Attribute::new("endpoint_public_access", Type::Bool)
                .default(true)
                .describe("whether the API server is reachable from the internet"),
        )
        .attribute(
            Attribute::new("public_access_cidrs", set())
                .validate(Validator::Cidr)
                .describe("CIDR blocks allowed to reach the public endpoint (AWS default: 0.0.0.0/0)"),
        )
        .attribute(
            Attribute::new("enabled_log_types", set())
                .validate(Validator::one_of(LogType::values()))
                .describe(
                    "control plane logs sent to CloudWatch",
                ),
        )
        .attribute(
            Attribute::new(
                "access_config",
                Type::Object(vec![
                    Attribute::new("authentication_mode", Type::String)
                        .computed()
                        .validate(Validator::one_of(AuthenticationMode::values()))
                        .describe("CONFIG_MAP (the aws-auth ConfigMap), API_AND_CONFIG_MAP or API (access entries); changed in place, but only CONFIG_MAP -> API_AND_CONFIG_MAP -> API, never back; unset: EKS's default (CONFIG_MAP)"),
                    Attribute::new("bootstrap_cluster_creator_admin_permissions", Type::Bool)
                        .default(true)
                        .forces_replacement()
                        .describe("whether the principal that creates the cluster gets a cluster-admin access entry"),
                ]),
            )
            .describe("how IAM principals authenticate to the cluster (eks_access_entry needs API or API_AND_CONFIG_MAP)"),
        )
        .attribute(
            Attribute::new(
                "upgrade_policy",
                Type::Object(vec![
                    Attribute::new("support_type", Type::String)
                        .required()
                        .validate(Validator::one_of(SupportType::values()))
                        .describe("STANDARD: upgraded automatically when standard support ends; EXTENDED: extended support, at extra cost"),
                ]),
            )
            .describe("what happens when the Kubernetes version's standard support ends (AWS default: EXTENDED); changed in place"),
        )
        .attribute(Attribute::new("tags", Type::map(Type::String)).describe("tags on the cluster"))
        .output(Output::new("arn", Type::String, "the cluster's ARN"))
        .output(Output::new("endpoint", Type::String, "the Kubernetes API server URL"))
        .output(Output::new(
            "certificate_authority",
            Type::String,
            "the cluster CA certificate, base64-encoded PEM (kubeconfig's certificate-authority-data)",
        ))
        .output(Output::new(
            "oidc_issuer",
            Type::String,
            "the OIDC issuer URL, for IAM roles for service accounts",
        ))
        .output(Output::new("status", Type::String, "the cluster status, e.g. ACTIVE"))
        .output(Output::new("platform_version", Type::String, "the EKS platform version"))
        .output(Output::new(
            "cluster_security_group_id",
            Type::String,
            "the security group EKS created for the cluster",
        ))
}

/// The inputs of a cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    name: String,
    version: Option<String>,
    role_arn: String,
    subnet_ids: Vec<String>,
    security_group_ids: Option<Vec<String>>,
    endpoint_private_access: bool,
    endpoint_public_access: bool,
    public_access_cidrs: Option<Vec<String>>,
    enabled_log_types: Option<Vec<String>>,
    access_config: Option<AccessConfig>,
    upgrade_policy: Option<String>,
    tags: Tags,
}

/// The `access_config` table.
#[derive(Clone, Debug, PartialEq)]
struct AccessConfig {
    authentication_mode: Option<String>,
    bootstrap_admin: bool,
}

fn parse(f: &mut Fields<'_>) -> Spec {
    let name = f.required_string("name");
    let version = f.string("version");
    let role_arn = f.required_string("role_arn");
    let subnet_ids = required_strings(
        f,
        "subnet_ids",
        "give at least one subnet (EKS needs subnets in two availability zones)",
    );
    let security_group_ids = f.strings("security_group_ids");
    let (private, public) = ("endpoint_private_access", "endpoint_public_access");
    let endpoint_private_access = f.bool_or(private, false);
    let endpoint_public_access = f.bool_or(public, true);
    if !endpoint_private_access
        && !endpoint_public_access
        && !f.is_unknown(private)
        && !f.is_unknown(public)
    {
        f.problem_at(
            public,
            "the API server must be reachable somehow: enable public or private endpoint access",
        );
    }
    Spec {
        name,
        version,
        role_arn,
        subnet_ids,
        security_group_ids,
        endpoint_private_access,
        endpoint_public_access,
        public_access_cidrs: f.strings("public_access_cidrs"),
        enabled_log_types: f.strings("enabled_log_types"),
        access_config: f.table("access_config", |a| AccessConfig {
            authentication_mode: a.string("authentication_mode"),
            bootstrap_admin: a.bool_or("bootstrap_cluster_creator_admin_permissions", true),
        }),
        upgrade_policy: f
            .table("upgrade_policy", |u| {
                let support = u.required_string("support_type");
                (!support.is_empty()).then_some(support)
            })
            .flatten(),
        tags: read_tags(f, "tags"),
    }
}

impl Spec {
    fn what(&self) -> String {
        format!("EKS cluster `{}`", self.name)
    }

    /// The whole VPC configuration, for `CreateCluster`.
    fn vpc_config(&self) -> VpcConfigRequest {
        VpcConfigRequest::builder()
            .set_subnet_ids(Some(self.subnet_ids.clone()))
            .set_security_group_ids(self.security_group_ids.clone())
            .endpoint_private_access(self.endpoint_private_access)
            .endpoint_public_access(self.endpoint_public_access)
            .set_public_access_cidrs(self.public_access_cidrs.clone())
            .build()
    }

    /// The endpoint access part alone, for its own `UpdateClusterConfig`.
    fn endpoint_access(&self) -> VpcConfigRequest {
        let cidrs = self
            .public_access_cidrs
            .clone()
            .unwrap_or_else(|| vec![OPEN_CIDRS.to_owned()]);
        VpcConfigRequest::builder()
            .endpoint_private_access(self.endpoint_private_access)
            .endpoint_public_access(self.endpoint_public_access)
            .set_public_access_cidrs(Some(cidrs))
            .build()
    }

    /// The access configuration for `CreateCluster`.
    fn create_access_config(&self) -> Option<CreateAccessConfigRequest> {
        let a = self.access_config.as_ref()?;
        let mode = a
            .authentication_mode
            .as_deref()
            .map(AuthenticationMode::from);
        Some(
            CreateAccessConfigRequest::builder()
                .set_authentication_mode(mode)
                .bootstrap_cluster_creator_admin_permissions(a.bootstrap_admin)
                .build(),
        )
    }

    fn upgrade_policy(&self) -> Option<UpgradePolicyRequest> {
        let support = self.upgrade_policy.as_deref()?;
        Some(
            UpgradePolicyRequest::builder()
                .support_type(SupportType::from(support))
                .build(),
        )
    }

    /// The logging setup: the enabled types, and every other type
    /// explicitly disabled (as Terraform sends it), so the request says
    /// the whole desired state.
    fn logging(&self) -> Logging {
        let enabled: Vec<&str> = self
            .enabled_log_types
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let disabled: Vec<LogType> = LogType::values()
            .iter()
            .filter(|t| !enabled.contains(t))
            .map(|t| LogType::from(*t))
            .collect();
        let setup = |types: Vec<LogType>, on: bool| {
            LogSetup::builder()
                .set_types(Some(types))
                .enabled(on)
                .build()
        };
        let mut logging = Logging::builder();
        if !enabled.is_empty() {
            let types = enabled.iter().map(|t| LogType::from(*t)).collect();
            logging = logging.cluster_logging(setup(types, true));
        }
        if !disabled.is_empty() {
            logging = logging.cluster_logging(setup(disabled, false));
        }
        logging.build()
    }
}

/// What EKS reports, as the inputs they correspond to, normalised against
/// `reference` (the inputs applied or given) so that an unchanged cluster
/// reads back equal to them.
fn observed(cluster: &Cluster, reference: &Value) -> Observed {
    let mut inputs = ObservedInputs::new(reference);
    let given = inputs.given("name").and_then(Value::as_str);
    let name = cluster.name().or(given).unwrap_or_default().to_owned();
    let vpc = cluster.resources_vpc_config();
    inputs.set("name", Value::String(name.clone()));
    inputs.computed("version", cluster.version().map(Value::from));
    inputs.set_or_given("role_arn", cluster.role_arn().map(Value::from));
    inputs.set_of(
        "subnet_ids",
        vpc.map(|v| v.subnet_ids()).unwrap_or_default(),
    );
    let groups = vpc.map(|v| v.security_group_ids()).unwrap_or_default();
    inputs.optional_set_of("security_group_ids", groups);
    let flag =
        |f: fn(&aws_sdk_eks::types::VpcConfigResponse) -> bool| vpc.map(|v| Value::Bool(f(v)));
    inputs.set_or_given(
        "endpoint_private_access",
        flag(|v| v.endpoint_private_access()),
    );
    inputs.set_or_given(
        "endpoint_public_access",
        flag(|v| v.endpoint_public_access()),
    );
    let cidrs = vpc.map(|v| v.public_access_cidrs()).unwrap_or_default();
    let only_default = cidrs.is_empty() || cidrs == [OPEN_CIDRS];
    if inputs.given("public_access_cidrs").is_some() || !only_default {
        inputs.set_of("public_access_cidrs", cidrs);
    }
    inputs.optional_set_of("enabled_log_types", &enabled_log_types(cluster));
    // Reported when the stack sets them: EKS reports the mode and the
    // support type; an emulator (moto) stores neither, and then what was
    // applied stands. The bootstrap flag matters only at create and EKS
    // does not report it, so what was applied stands.
    let mode = cluster
        .access_config()
        .and_then(|a| a.authentication_mode());
    let mode = mode.map(|m| Value::from(m.as_str()));
    reported_in("access_config", "authentication_mode", mode, &mut inputs);
    let support = cluster.upgrade_policy().and_then(|u| u.support_type());
    let support = support.map(|s| Value::from(s.as_str()));
    reported_in("upgrade_policy", "support_type", support, &mut inputs);
    inputs.optional_map("tags", &tags_of(cluster.tags()));

    let text = |s: Option<&str>| s.map_or(Value::Null, Value::from);
    let oidc = cluster
        .identity()
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer());
    let outputs: Value = [
        ("arn", text(cluster.arn())),
        ("endpoint", text(cluster.endpoint())),
        (
            "certificate_authority",
            text(cluster.certificate_authority().and_then(|c| c.data())),
        ),
        ("oidc_issuer", text(oidc)),
        ("status", text(cluster.status().map(ClusterStatus::as_str))),
        ("platform_version", text(cluster.platform_version())),
        (
            "cluster_security_group_id",
            text(vpc.and_then(|v| v.cluster_security_group_id())),
        ),
    ]
    .into_iter()
    .collect();
    Observed {
        id: name,
        inputs: inputs.finish(),
        outputs,
    }
}

/// The table `object` as given, with `key` as the cloud reports it (when it
/// does); nothing when the stack does not set the table.
fn reported_in(object: &str, key: &str, cloud: Option<Value>, inputs: &mut ObservedInputs<'_>) {
    let Some(Value::Map(given)) = inputs.given(object) else {
        return;
    };
    let mut table = given.clone();
    if let Some(v) = cloud {
        table.insert(key.to_owned(), v);
    }
    inputs.set(object, Value::Map(table));
}

/// The log types the cluster has enabled, sorted and without duplicates.
fn enabled_log_types(cluster: &Cluster) -> Vec<String> {
    let mut types: Vec<String> = cluster
        .logging()
        .map(|l| l.cluster_logging())
        .unwrap_or_default()
        .iter()
        .filter(|setup| setup.enabled() == Some(true))
        .flat_map(|setup| setup.types().iter().map(|t| t.as_str().to_owned()))
        .collect();
    types.sort();
    types.dedup();
    types
}

/// Describes a cluster; `None` when it does not exist.
pub(crate) async fn describe(
    client: &Client,
    name: &str,
    what: &str,
) -> Result<Option<Cluster>, ProviderError> {
    let answer = client.describe_cluster().name(name).send().await;
    Ok(none_if_missing(what, answer)?.and_then(|out| out.cluster))
}

/// The health issues EKS reports for a cluster, as one line.
fn health_issues(cluster: &Cluster) -> String {
    let issues: Vec<String> = cluster
        .health()
        .map(|h| h.issues())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            let code = i.code().map_or("issue", |c| c.as_str());
            match i.message() {
                Some(m) => format!("{code}: {m}"),
                None => code.to_owned(),
            }
        })
        .collect();
    if issues.is_empty() {
        "EKS reported no health issues".to_owned()
    } else {
        issues.join("; ")
    }
}

/// Waits until the cluster is `ACTIVE`; `FAILED` (and a cluster being
/// deleted under us) are errors.
async fn wait_active(
    ctx: &OpContext,
    client: &Client,
    name: &str,
) -> Result<Cluster, ProviderError> {
    let what = format!("waiting for EKS cluster `{name}` to be ACTIVE");
    poll_until(ctx, &what, || async {
        let Some(cluster) = describe(client, name, &what).await? else {
            // Just created: DescribeCluster is eventually consistent.
            return Ok(Poll::Pending("not visible yet".into()));
        };
        match cluster.status() {
            Some(ClusterStatus::Active) => Ok(Poll::Ready(cluster)),
            Some(ClusterStatus::Failed) => Err(ProviderError::new(
                ErrorKind::Failed,
                format!(
                    "EKS cluster `{name}` failed: {}; delete it (or fix the cause) and apply again",
                    health_issues(&cluster)
                ),
            )),
            Some(ClusterStatus::Deleting) => Err(ProviderError::new(
                ErrorKind::Failed,
                format!("EKS cluster `{name}` is being deleted"),
            )),
            status => Ok(Poll::Pending(format!(
                "status {}",
                status.map_or("(none)", ClusterStatus::as_str)
            ))),
        }
    })
    .await
}

/// IAM errors that go away once a newly made role has propagated
/// (Terraform's list for `CreateCluster`).
fn iam_propagating(message: &str) -> bool {
    [
        "does not exist",
        "Error in role params",
        "Role could not be assumed because the trusted entity is not correct",
        "doesn't have the Amazon EKS Managed Policies",
        "IAM role's policy must include",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// The authentication modes to send, in order, to reach `want`: none when
/// the cluster has it already (EKS refuses an update that changes
/// nothing). The current mode is what EKS reports, else (an emulator) what
/// was recorded. EKS moves only CONFIG_MAP -> API_AND_CONFIG_MAP -> API,
/// one step per update, so CONFIG_MAP -> API is two; a move back is
/// refused here, before any other update starts.
fn modes_to_send(
    cluster: &Cluster,
    recorded: &Value,
    want: &str,
    what: &str,
) -> Result<Vec<&'static str>, ProviderError> {
    let reported = cluster
        .access_config()
        .and_then(|a| a.authentication_mode());
    let recorded = recorded
        .get("access_config")
        .and_then(|a| a.get("authentication_mode"))
        .and_then(Value::as_str);
    let current = reported.map(AuthenticationMode::as_str).or(recorded);
    if current == Some(want) {
        return Ok(Vec::new());
    }
    let rank = |mode: &str| MODE_ORDER.iter().position(|m| *m == mode);
    if let Some(current) = current
        && let (Some(from), Some(to)) = (rank(current), rank(want))
        && to < from
    {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "{what}: `access_config.authentication_mode` cannot go from {current} back to {want}: EKS only moves CONFIG_MAP -> API_AND_CONFIG_MAP -> API"
            ),
        )
        .hint(&format!(
            "keep authentication_mode = \"{current}\", or replace the cluster (destroy it and apply, or give it a new `name`) to start over with {want}"
        )));
    }
    let Some(to) = rank(want) else {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("{what}: unknown authentication mode `{want}`"),
        ));
    };
    // Unknown where it stands (an emulator that forgets): the mode itself.
    let from = current.and_then(rank).map_or(to, |from| from + 1);
    Ok(MODE_ORDER[from.min(to)..=to].to_vec())
}

/// The cluster name of a recorded cluster: its id, else its inputs.
fn existing_name(existing: &Existing) -> String {
    if existing.id.is_empty() {
        let name = existing.inputs.get("name").and_then(Value::as_str);
        name.unwrap_or_default().to_owned()
    } else {
        existing.id.clone()
    }
}

#[async_trait]
impl Resource for EksCluster {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        schema()
    }

    fn parse(&self, fields: &mut Fields<'_>) -> Spec {
        revealed(fields, parse)
    }

    fn default_timeout(&self, _op: OpKind) -> Duration {
        // A control plane takes 10-15 minutes to create; an hour leaves room.
        Duration::from_secs(60 * 60)
    }

    fn estimate(&self, op: OpKind, _inputs: &Value) -> Duration {
        // Control planes take 13-16 minutes to create (reference §2.3);
        // updates and deletes take several minutes.
        match op {
            OpKind::Create => Duration::from_secs(15 * 60),
            OpKind::Update => Duration::from_secs(10 * 60),
            OpKind::Delete => Duration::from_secs(8 * 60),
            OpKind::Read => Duration::from_secs(1),
        }
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let client = self.clients.get(ctx).await?;
        let what = format!("creating {}", spec.what());
        let tags = (!spec.tags.is_empty()).then(|| spec.tags.clone().into_iter().collect());
        let mut call = client
            .create_cluster()
            .name(&spec.name)
            .set_version(spec.version.clone())
            .role_arn(&spec.role_arn)
            .resources_vpc_config(spec.vpc_config())
            .set_client_request_token(token(ctx, ""))
            .set_access_config(spec.create_access_config())
            .set_upgrade_policy(spec.upgrade_policy())
            .set_tags(tags);
        if spec.enabled_log_types.is_some() {
            call = call.logging(spec.logging());
        }
        // Ok(false): it exists already.
        let send = || {
            let call = call.clone();
            let what = &what;
            async move {
                match call.send().await {
                    Ok(_) => Ok(true),
                    Err(err) => {
                        let mapped = classify(what, &err);
                        match error_code(&err) {
                            Some("ResourceInUseException") if already_exists(&mapped.message) => {
                                Ok(false)
                            }
                            _ => Err(mapped),
                        }
                    }
                }
            }
        };
        // A role created in the same apply may not be assumable by EKS yet.
        let settling = |e: &ProviderError| {
            (e.message.contains("InvalidParameterException") && iam_propagating(&e.message)).then(
                || {
                    format!(
                        "IAM role {} to be assumable by EKS (IAM is eventually consistent)",
                        spec.role_arn
                    )
                },
            )
        };
        let created = until_settled(ctx, IAM_PROPAGATION, send, settling).await?;
        // Made by an earlier attempt (or by hand): adopt it, once it is
        // visible; right after a delete of the same name it may not be, and
        // creating again is what converges.
        if !created && describe(&client, &spec.name, &what).await?.is_none() {
            return Err(ProviderError::new(
                ErrorKind::Transient,
                format!("{what}: it exists but cannot be described yet"),
            ));
        }
        ctx.progress("waiting for the control plane to be ACTIVE (typically 10-15 minutes)");
        let cluster = wait_active(ctx, &client, &spec.name).await?;
        Ok(observed(&cluster, inputs))
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let name = existing_name(existing);
        let client = self.clients.get(ctx).await?;
        let what = format!("reading EKS cluster `{name}`");
        Ok(describe(&client, &name, &what)
            .await?
            .map(|c| observed(&c, &existing.inputs)))
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let (ctx, spec, inputs) = op.parts();
        let client = self.clients.get(ctx).await?;
        let what = format!("looking for {}", spec.what());
        let Some(cluster) = describe(&client, &spec.name, &what).await? else {
            return Ok(None);
        };
        // An interrupted create may have left it coming up: finish the wait,
        // so what is recorded is usable (or the failure is reported).
        let cluster = match cluster.status() {
            Some(ClusterStatus::Creating | ClusterStatus::Pending) => {
                wait_active(ctx, &client, &spec.name).await?
            }
            _ => cluster,
        };
        Ok(Some(observed(&cluster, inputs)))
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, new, inputs) = op.parts();
        let client = self.clients.get(ctx).await?;
        let name = new.name.as_str();
        let target = UpdateTarget::Cluster(name);
        // Compared as recorded (secrets by digest), not revealed; lists as
        // sets, an absent one being empty.
        let old = &existing.inputs;
        let changed = |key: &str| differs(old.get(key), inputs.get(key));
        let set_changed = |key: &str| {
            let items = |v: &Value| {
                let given = v.get(key).filter(|v| !matches!(v, Value::Null));
                given.cloned().unwrap_or(Value::List(Vec::new()))
            };
            !Type::set(Type::String).same(&items(old), &items(inputs))
        };
        let what = format!("reading {}", new.what());
        let gone = || {
            let message = format!("{} no longer exists", new.what());
            ProviderError::new(ErrorKind::NotFound, message)
        };

        // A mode EKS cannot move to is refused before anything changes.
        let mode = match new.access_config.as_ref() {
            Some(a) if changed("access_config") => a.authentication_mode.as_deref(),
            _ => None,
        };
        let modes = match mode {
            Some(want) => {
                let cluster = describe(&client, name, &what).await?.ok_or_else(gone)?;
                let what = format!("`{}` ({})", ctx.address, new.what());
                modes_to_send(&cluster, old, want, &what)?
            }
            None => Vec::new(),
        };

        // EKS runs one update at a time, so each kind is its own call,
        // waited for before the next; the version goes first.
        if changed("version")
            && let Some(version) = &new.version
        {
            let what = format!("updating {} to Kubernetes {version}", new.what());
            let out = client
                .update_cluster_version()
                .name(name)
                .version(version)
                .set_client_request_token(token(ctx, "version"))
                .send()
                .await
                .map_err(|e| update_error(&what, "UpdateClusterVersion", &e))?;
            ctx.progress(&format!("waiting for the upgrade to Kubernetes {version}"));
            wait_for_update(ctx, &client, target, out.update()).await?;
        }
        let vpc = VpcConfigRequest::builder;
        let config = || client.update_cluster_config().name(name);
        let mut configs = Vec::new();
        if changed("endpoint_private_access")
            || changed("endpoint_public_access")
            || set_changed("public_access_cidrs")
        {
            let call = config().resources_vpc_config(new.endpoint_access());
            configs.push(("endpoint-access", "endpoint access", call));
        }
        if set_changed("subnet_ids") {
            let subnets = vpc().set_subnet_ids(Some(new.subnet_ids.clone())).build();
            configs.push(("subnets", "subnets", config().resources_vpc_config(subnets)));
        }
        if set_changed("security_group_ids") {
            let groups = new.security_group_ids.clone().unwrap_or_default();
            let groups = vpc().set_security_group_ids(Some(groups)).build();
            let call = config().resources_vpc_config(groups);
            configs.push(("security-groups", "security groups", call));
        }
        if set_changed("enabled_log_types") {
            configs.push(("logging", "logging", config().logging(new.logging())));
        }
        let steps = modes.len();
        for (i, mode) in modes.into_iter().enumerate() {
            let access = UpdateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::from(mode))
                .build();
            let call = config().access_config(access);
            // One token per step: each is its own update.
            let call_name = if i + 1 == steps {
                "access-config"
            } else {
                "access-config-step"
            };
            configs.push((call_name, "authentication mode", call));
        }
        if changed("upgrade_policy")
            && let Some(policy) = new.upgrade_policy()
        {
            let call = config().upgrade_policy(policy);
            configs.push(("upgrade-policy", "upgrade policy", call));
        }
        for (call_name, label, call) in configs {
            let what = format!("updating the {label} of {}", new.what());
            let out = call
                .set_client_request_token(token(ctx, call_name))
                .send()
                .await
                .map_err(|e| update_error(&what, "UpdateClusterConfig", &e))?;
            wait_for_update(ctx, &client, target, out.update()).await?;
        }

        let mut cluster = describe(&client, name, &what).await?.ok_or_else(gone)?;
        if changed("tags") {
            let arn = cluster.arn().ok_or_else(|| {
                let message = format!("{}: EKS reported no ARN", new.what());
                ProviderError::new(ErrorKind::Invalid, message)
            })?;
            // Diff against what the cluster has, so tags changed outside
            // infra converge too.
            retag(
                &client,
                arn,
                &new.what(),
                &tags_of(cluster.tags()),
                &new.tags,
            )
            .await?;
            cluster = describe(&client, name, &what).await?.ok_or_else(gone)?;
        }
        Ok(observed(&cluster, inputs))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let name = existing_name(existing);
        let client = self.clients.get(ctx).await?;
        let what = format!("deleting EKS cluster `{name}`");
        if let Err(e) = client.delete_cluster().name(&name).send().await {
            let err = classify(&what, &e);
            if err.kind == ErrorKind::NotFound || err.message.contains("No cluster found for name")
            {
                return Ok(());
            }
            if err.message.contains("nodegroups attached") {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "{}; delete the cluster's node groups first (an eks_node_group whose `cluster` references this cluster is deleted before it)",
                        err.message
                    ),
                ));
            }
            return Err(err);
        }
        // Waits for the first "not found". Terraform waits for three in a
        // row to avoid "already exists" on an immediate re-create; create
        // handles that case instead (it retries when the name is taken
        // but the cluster is not visible).
        let wait = format!("waiting for EKS cluster `{name}` to be deleted");
        poll_until(ctx, &wait, || async {
            match describe(&client, &name, &wait).await? {
                None => Ok(Poll::Ready(())),
                Some(c) => Ok(Poll::Pending(format!(
                    "status {}",
                    c.status().map_or("(none)", ClusterStatus::as_str)
                ))),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Phase, Typed};

    use super::*;
    use infra_aws::AwsContext;

    /// The plan-time problems, as the planner finds them: the schema's
    /// The plan-time problems, as the planner finds them.
    fn check(inputs: &Value) -> Vec<String> {
        infra_aws::testing::plan_problems(&Typed::new(EksCluster::new(AwsContext::new())), inputs)
    }

    #[test]
    fn validate_reports_every_problem_with_its_path() {
        let got = check(&Value::from_json(serde_json::json!({
            "name": "-bad.name",
            "role_arn": "arn:aws:iam::123456789012:role/eks",
            "subnet_ids": [],
            "enabled_log_types": ["api", "bogus", "api"],
            "public_access_cidrs": ["10.0.0.0/8", "10.0.0.0"],
            "endpoint_private_access": false,
            "endpoint_public_access": false,
            "tags": {"aws:owner": "x"},
        })));
        let paths: Vec<&str> = got
            .iter()
            .map(|s| s.split(" | ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            paths,
            [
                // The schema's rules.
                "name",
                "public_access_cidrs[1]",
                "enabled_log_types[2]",
                "enabled_log_types[1]",
                // The parse's.
                "subnet_ids",
                "endpoint_public_access",
                "tags.aws:owner",
            ],
            "{got:#?}"
        );
        assert!(
            got[2].contains("is a set, but lists \"api\" twice"),
            "{got:#?}"
        );
    }

    #[test]
    fn validate_accepts_a_good_cluster_and_unknown_values() {
        let got = check(&Value::from_json(serde_json::json!({
            "name": "airflow-prod",
            "role_arn": "arn:aws:iam::123456789012:role/eks",
            "subnet_ids": ["subnet-1", "subnet-2"],
            "enabled_log_types": ["api", "audit"],
            "public_access_cidrs": ["203.0.113.0/24"],
            "endpoint_private_access": true,
            "endpoint_public_access": false,
        })));
        assert!(got.is_empty(), "{got:?}");
        let mut v = Value::from_json(serde_json::json!({
            "subnet_ids": ["a"], "role_arn": "r", "endpoint_public_access": false,
        }));
        if let Value::Map(m) = &mut v {
            m.insert("name".into(), Value::Unknown);
            m.insert("endpoint_private_access".into(), Value::Unknown);
        }
        assert!(check(&v).is_empty(), "{:?}", check(&v));
    }

    #[test]
    fn logging_lists_enabled_types_and_disables_the_rest() {
        let inputs = Value::from_json(serde_json::json!({
            "name": "c", "role_arn": "r", "subnet_ids": ["s"],
            "enabled_log_types": ["audit", "api"],
        }));
        let mut f = Fields::new(&inputs, Phase::Apply);
        let spec = parse(&mut f);
        let spec = f.finish("eks_cluster.c", spec).expect("valid");
        let logging = spec.logging();
        let setups: Vec<(Option<bool>, Vec<&str>)> = logging
            .cluster_logging()
            .iter()
            .map(|s| (s.enabled(), s.types().iter().map(LogType::as_str).collect()))
            .collect();
        assert_eq!(
            setups,
            [
                (Some(true), vec!["audit", "api"]),
                (
                    Some(false),
                    vec!["authenticator", "controllerManager", "scheduler"]
                ),
            ]
        );
    }
}
