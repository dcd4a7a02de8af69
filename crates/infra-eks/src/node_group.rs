//! `eks_node_group`: an EKS managed node group. Version changes go through
//! `UpdateNodegroupVersion`, then scaling, labels, taints and the update
//! policy through one `UpdateNodegroupConfig`; everything else replaces it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    AmiTypes, CapacityTypes, Nodegroup, NodegroupScalingConfig, NodegroupStatus,
    NodegroupUpdateConfig, Taint, TaintEffect, UpdateLabelsPayload, UpdateTaintsPayload,
};
use infra_aws::{AwsContext, Poll, classify, error_code, poll_until};
use infra_core::{
    Attribute, ErrorKind, Existing, Observed, OpContext, OpKind, Output, PathSeg, Provider,
    ProviderError, Schema, Type, Value, ValuePath,
};

use crate::common::{
    ClientSource, Inputs, ObservedInputs, Problems, UpdateTarget, differs, hash_map, int32,
    invalid, token, unimplemented, update_error, valid_name, validate_tags, wait_for_update,
};

/// The resource type name.
pub const TYPE_NAME: &str = "eks_node_group";

/// EKS allows at most this many taints on a node group.
const MAX_TAINTS: usize = 50;

/// The `eks_node_group` provider.
#[derive(Debug)]
pub struct EksNodeGroup {
    schema: Schema,
    clients: ClientSource,
}

impl EksNodeGroup {
    /// A provider whose SDK client is built from the stack's `[aws]` table
    /// when an operation first needs it.
    pub fn new(aws: Arc<AwsContext>) -> Self {
        EksNodeGroup {
            schema: schema(),
            clients: ClientSource::new(aws),
        }
    }

    /// Uses this client for every operation instead (tests with mocked
    /// responses).
    pub fn with_client(mut self, client: Client) -> Self {
        self.clients.fixed(client);
        self
    }
}

fn schema() -> Schema {
    let replace = |name: &str, ty: Type| Attribute::new(name, ty).forces_replacement();
    Schema::new(TYPE_NAME)
        .attribute(
            replace("cluster", Type::String)
                .required()
                .describe("the name of the EKS cluster the nodes join"),
        )
        .attribute(
            replace("name", Type::String)
                .required()
                .describe("the node group name: 1-63 letters, digits, `-` and `_`"),
        )
        .attribute(
            replace("node_role_arn", Type::String)
                .required()
                .describe("IAM role of the worker nodes"),
        )
        .attribute(
            replace("subnet_ids", Type::list(Type::String))
                .required()
                .describe("subnets the nodes run in"),
        )
        .attribute(
            replace("instance_types", Type::list(Type::String))
                .describe("EC2 instance types, in order of preference (AWS default: t3.medium)"),
        )
        .attribute(replace("ami_type", Type::String).describe("AMI type, e.g. AL2023_x86_64_STANDARD"))
        .attribute(
            replace("capacity_type", Type::String)
                .default("ON_DEMAND")
                .describe("ON_DEMAND, SPOT or CAPACITY_BLOCK"),
        )
        .attribute(replace("disk_size", Type::Int).describe("root volume size in GiB (AWS default: 20)"))
        .attribute(
            Attribute::new(
                "scaling",
                Type::Object(vec![
                    Attribute::new("min", Type::Int).required().describe("fewest nodes (0 or more)"),
                    Attribute::new("max", Type::Int).required().describe("most nodes (1 or more)"),
                    Attribute::new("desired", Type::Int)
                        .required()
                        .describe("nodes to run now, between min and max"),
                ]),
            )
            .required()
            .describe("node counts, changed in place"),
        )
        .attribute(
            Attribute::new("labels", Type::map(Type::String))
                .describe("Kubernetes labels on the nodes"),
        )
        .attribute(
            Attribute::new(
                "taints",
                Type::list(Type::Object(vec![
                    Attribute::new("key", Type::String).required(),
                    Attribute::new("value", Type::String),
                    Attribute::new("effect", Type::String)
                        .required()
                        .describe("NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE"),
                ])),
            )
            .describe("Kubernetes taints on the nodes (at most 50)"),
        )
        .attribute(
            Attribute::new(
                "update_config",
                Type::Object(vec![
                    Attribute::new("max_unavailable", Type::Int)
                        .describe("nodes updated at once (1-100)"),
                    Attribute::new("max_unavailable_percentage", Type::Int)
                        .describe("percentage of nodes updated at once (1-100)"),
                ]),
            )
            .describe("how many nodes a version update may take down at once: exactly one of the two (AWS default: max_unavailable = 1)"),
        )
        .attribute(
            Attribute::new("version", Type::String)
                .describe("Kubernetes version of the nodes (default: the cluster's); upgraded in place"),
        )
        .attribute(Attribute::new("tags", Type::map(Type::String)).describe("tags on the node group"))
        .output(Output::new("arn", Type::String, "the node group's ARN"))
        .output(Output::new("status", Type::String, "the node group status, e.g. ACTIVE"))
        .output(Output::new(
            "autoscaling_groups",
            Type::list(Type::String),
            "names of the Auto Scaling groups behind the node group",
        ))
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Scaling {
    min: i32,
    max: i32,
    desired: i32,
}

#[derive(Clone, Debug, PartialEq)]
struct TaintSpec {
    key: String,
    value: Option<String>,
    effect: String,
}

impl TaintSpec {
    fn to_sdk(&self) -> Taint {
        Taint::builder()
            .key(&self.key)
            .set_value(self.value.clone())
            .effect(TaintEffect::from(self.effect.as_str()))
            .build()
    }

    fn from_sdk(t: &Taint) -> TaintSpec {
        TaintSpec {
            key: t.key().unwrap_or_default().to_owned(),
            value: t.value().map(str::to_owned),
            effect: t.effect().map_or("", TaintEffect::as_str).to_owned(),
        }
    }

    fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("key".to_owned(), Value::String(self.key.clone()));
        if let Some(v) = &self.value {
            m.insert("value".to_owned(), Value::String(v.clone()));
        }
        m.insert("effect".to_owned(), Value::String(self.effect.clone()));
        Value::Map(m)
    }

    /// EKS identifies a taint by key and effect.
    fn same_slot(&self, other: &TaintSpec) -> bool {
        self.key == other.key && self.effect == other.effect
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum UpdatePolicy {
    MaxUnavailable(i32),
    Percentage(i32),
}

impl UpdatePolicy {
    fn to_sdk(self) -> NodegroupUpdateConfig {
        match self {
            UpdatePolicy::MaxUnavailable(n) => {
                NodegroupUpdateConfig::builder().max_unavailable(n).build()
            }
            UpdatePolicy::Percentage(n) => NodegroupUpdateConfig::builder()
                .max_unavailable_percentage(n)
                .build(),
        }
    }

    fn from_sdk(c: &NodegroupUpdateConfig) -> Option<UpdatePolicy> {
        match (c.max_unavailable(), c.max_unavailable_percentage()) {
            (Some(n), _) => Some(UpdatePolicy::MaxUnavailable(n)),
            (None, Some(p)) => Some(UpdatePolicy::Percentage(p)),
            (None, None) => None,
        }
    }

    fn to_value(self) -> Value {
        match self {
            UpdatePolicy::MaxUnavailable(n) => [("max_unavailable", Value::Int(n.into()))]
                .into_iter()
                .collect(),
            UpdatePolicy::Percentage(n) => [("max_unavailable_percentage", Value::Int(n.into()))]
                .into_iter()
                .collect(),
        }
    }
}

/// The inputs of a node group, read from a stack's (revealed) values.
#[derive(Clone, Debug, PartialEq)]
struct Spec {
    cluster: String,
    name: String,
    node_role_arn: String,
    subnet_ids: Vec<String>,
    instance_types: Option<Vec<String>>,
    ami_type: Option<String>,
    capacity_type: String,
    disk_size: Option<i32>,
    scaling: Scaling,
    labels: Option<BTreeMap<String, String>>,
    taints: Option<Vec<TaintSpec>>,
    update_config: Option<UpdatePolicy>,
    version: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

impl Spec {
    fn read(value: &Value) -> Result<Spec, ProviderError> {
        let name = value.get("name").and_then(Value::as_str).unwrap_or("?");
        let what = format!("EKS node group `{name}`");
        let i = Inputs::new(&what, value);
        let scaling = i
            .raw("scaling")
            .ok_or_else(|| invalid(format!("{what}: `scaling` is required")))?;
        let count = |key: &str| {
            scaling.get(key).and_then(int32).ok_or_else(|| {
                invalid(format!(
                    "{what}: `scaling.{key}` must be an integer, 0 or more"
                ))
            })
        };
        let scaling = Scaling {
            min: count("min")?,
            max: count("max")?,
            desired: count("desired")?,
        };
        let taints = match i.raw("taints") {
            None => None,
            Some(v) => Some(
                v.as_list()
                    .ok_or_else(|| invalid(format!("{what}: `taints` must be a list")))?
                    .iter()
                    .map(|t| {
                        let text = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_owned);
                        Ok(TaintSpec {
                            key: text("key").ok_or_else(|| {
                                invalid(format!("{what}: every taint needs a `key`"))
                            })?,
                            value: text("value"),
                            effect: text("effect").ok_or_else(|| {
                                invalid(format!("{what}: every taint needs an `effect`"))
                            })?,
                        })
                    })
                    .collect::<Result<Vec<_>, ProviderError>>()?,
            ),
        };
        let update_config = match i.raw("update_config") {
            None => None,
            Some(v) => Some(update_policy(v).ok_or_else(|| {
                invalid(format!(
                    "{what}: `update_config` needs exactly one of max_unavailable or max_unavailable_percentage"
                ))
            })?),
        };
        Ok(Spec {
            cluster: i.string("cluster")?,
            name: i.string("name")?,
            node_role_arn: i.string("node_role_arn")?,
            subnet_ids: i.strings("subnet_ids")?,
            instance_types: i.opt_strings("instance_types")?,
            ami_type: i.opt_string("ami_type")?,
            capacity_type: i
                .opt_string("capacity_type")?
                .unwrap_or_else(|| "ON_DEMAND".to_owned()),
            disk_size: i.opt_int("disk_size")?,
            scaling,
            labels: i.opt_string_map("labels")?,
            taints,
            update_config,
            version: i.opt_string("version")?,
            tags: i.opt_string_map("tags")?,
        })
    }

    fn what(&self) -> String {
        format!(
            "EKS node group `{}` of cluster `{}`",
            self.name, self.cluster
        )
    }

    fn target(&self) -> UpdateTarget<'_> {
        UpdateTarget::NodeGroup {
            cluster: &self.cluster,
            name: &self.name,
        }
    }

    fn scaling_config(&self) -> NodegroupScalingConfig {
        NodegroupScalingConfig::builder()
            .min_size(self.scaling.min)
            .max_size(self.scaling.max)
            .desired_size(self.scaling.desired)
            .build()
    }
}

fn update_policy(v: &Value) -> Option<UpdatePolicy> {
    let n = v
        .get("max_unavailable")
        .filter(|v| !matches!(v, Value::Null));
    let p = v
        .get("max_unavailable_percentage")
        .filter(|v| !matches!(v, Value::Null));
    match (n, p) {
        (Some(n), None) => int32(n).map(UpdatePolicy::MaxUnavailable),
        (None, Some(p)) => int32(p).map(UpdatePolicy::Percentage),
        _ => None,
    }
}

/// The id of a node group in state: `cluster:name`, as Terraform's.
fn node_group_id(cluster: &str, name: &str) -> String {
    format!("{cluster}:{name}")
}

/// The cluster and name of a recorded node group: from its id, else its
/// inputs.
fn existing_names(existing: &Existing) -> (String, String) {
    if let Some((cluster, name)) = existing.id.split_once(':') {
        return (cluster.to_owned(), name.to_owned());
    }
    let text = |k: &str| {
        existing
            .inputs
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (text("cluster"), text("name"))
}

/// What EKS reports, as inputs, normalised against `reference`.
fn observed(ng: &Nodegroup, reference: &Value) -> Observed {
    let given = |k: &str| reference.get(k).and_then(Value::as_str).map(str::to_owned);
    let cluster = ng
        .cluster_name()
        .map(str::to_owned)
        .or_else(|| given("cluster"))
        .unwrap_or_default();
    let name = ng
        .nodegroup_name()
        .map(str::to_owned)
        .or_else(|| given("name"))
        .unwrap_or_default();
    let mut inputs = ObservedInputs::new(reference);
    inputs.set("cluster", Value::String(cluster.clone()));
    inputs.set("name", Value::String(name.clone()));
    inputs.set_or_given("node_role_arn", ng.node_role().map(Value::from));
    inputs.set_of("subnet_ids", ng.subnets());
    // Order is the preference order and AWS keeps it.
    inputs.computed(
        "instance_types",
        ng.instance_types
            .as_deref()
            .map(crate::common::strings_value),
    );
    inputs.computed("ami_type", ng.ami_type().map(|t| Value::from(t.as_str())));
    inputs.set_or_given(
        "capacity_type",
        ng.capacity_type().map(|t| Value::from(t.as_str())),
    );
    inputs.computed("disk_size", ng.disk_size().map(|d| Value::Int(d.into())));
    inputs.set_or_given(
        "scaling",
        ng.scaling_config().map(|s| {
            let n = |v: Option<i32>| v.map_or(Value::Null, |v| Value::Int(v.into()));
            [
                ("min", n(s.min_size())),
                ("max", n(s.max_size())),
                ("desired", n(s.desired_size())),
            ]
            .into_iter()
            .collect()
        }),
    );
    let labels: BTreeMap<String, String> = ng
        .labels()
        .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    inputs.optional_map("labels", &labels);
    inputs.optional_objects(
        "taints",
        ng.taints()
            .iter()
            .map(|t| TaintSpec::from_sdk(t).to_value())
            .collect(),
    );
    // EKS reports the policy it uses (default max_unavailable = 1); an
    // emulator that reports none keeps what was given.
    inputs.computed(
        "update_config",
        ng.update_config()
            .and_then(UpdatePolicy::from_sdk)
            .map(UpdatePolicy::to_value),
    );
    inputs.computed("version", ng.version().map(Value::from));
    let tags: BTreeMap<String, String> = ng
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    inputs.optional_map("tags", &tags);

    let groups: Vec<Value> = ng
        .resources()
        .map(|r| r.auto_scaling_groups())
        .unwrap_or_default()
        .iter()
        .filter_map(|g| g.name().map(Value::from))
        .collect();
    let outputs: Value = [
        ("arn", ng.nodegroup_arn().map_or(Value::Null, Value::from)),
        (
            "status",
            ng.status().map_or(Value::Null, |s| Value::from(s.as_str())),
        ),
        ("autoscaling_groups", Value::List(groups)),
    ]
    .into_iter()
    .collect();
    Observed {
        id: node_group_id(&cluster, &name),
        inputs: inputs.finish(),
        outputs,
    }
}

/// The health issues EKS reports for a node group, as one line.
fn health_issues(ng: &Nodegroup) -> String {
    let issues: Vec<String> = ng
        .health()
        .map(|h| h.issues())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            let mut s = i.code().map_or("issue", |c| c.as_str()).to_owned();
            if let Some(m) = i.message() {
                s.push_str(": ");
                s.push_str(m);
            }
            if !i.resource_ids().is_empty() {
                s.push_str(&format!(" (resources: {})", i.resource_ids().join(", ")));
            }
            s
        })
        .collect();
    if issues.is_empty() {
        "EKS reported no health issues".to_owned()
    } else {
        issues.join("; ")
    }
}

/// Describes a node group; `None` when it (or its cluster) does not exist.
async fn describe(
    client: &Client,
    cluster: &str,
    name: &str,
    what: &str,
) -> Result<Option<Nodegroup>, ProviderError> {
    match client
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.nodegroup),
        Err(e) => {
            let err = classify(what, &e);
            if err.kind == ErrorKind::NotFound && !unimplemented(&e) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// Waits until the node group is `ACTIVE`. `CREATE_FAILED` and `DEGRADED`
/// are errors carrying EKS's health issues (the SDK's waiter keeps polling
/// through `DEGRADED`).
async fn wait_active(
    ctx: &OpContext,
    client: &Client,
    cluster: &str,
    name: &str,
) -> Result<Nodegroup, ProviderError> {
    let label = format!("EKS node group `{name}` of cluster `{cluster}`");
    let what = format!("waiting for {label} to be ACTIVE");
    poll_until(ctx, &what, || async {
        let Some(ng) = describe(client, cluster, name, &what).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        match ng.status() {
            Some(NodegroupStatus::Active) => Ok(Poll::Ready(ng)),
            Some(status @ (NodegroupStatus::CreateFailed | NodegroupStatus::Degraded)) => {
                Err(ProviderError::new(
                    ErrorKind::Failed,
                    format!(
                        "{label} is {}: {}; fix the cause (IAM role, subnets, capacity), delete it and apply again",
                        status.as_str(),
                        health_issues(&ng)
                    ),
                ))
            }
            Some(status @ (NodegroupStatus::Deleting | NodegroupStatus::DeleteFailed)) => {
                Err(ProviderError::new(
                    ErrorKind::Failed,
                    format!("{label} is {}: {}", status.as_str(), health_issues(&ng)),
                ))
            }
            status => Ok(Poll::Pending(format!(
                "status {}",
                status.map_or("(none)", NodegroupStatus::as_str)
            ))),
        }
    })
    .await
}

/// The labels payload that takes `current` to `desired`; `None` when they
/// are equal.
fn labels_payload(
    current: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Option<UpdateLabelsPayload> {
    let set: std::collections::HashMap<String, String> = desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed: Vec<String> = current
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect();
    if set.is_empty() && removed.is_empty() {
        return None;
    }
    Some(
        UpdateLabelsPayload::builder()
            .set_add_or_update_labels((!set.is_empty()).then_some(set))
            .set_remove_labels((!removed.is_empty()).then_some(removed))
            .build(),
    )
}

/// The taints payload that takes `current` to `desired` (as Terraform
/// computes it): taints whose key and effect are gone are removed, taints
/// that are new or changed are added or updated. `None` when equal.
fn taints_payload(current: &[TaintSpec], desired: &[TaintSpec]) -> Option<UpdateTaintsPayload> {
    let removed: Vec<Taint> = current
        .iter()
        .filter(|c| !desired.iter().any(|d| d.same_slot(c)))
        .map(TaintSpec::to_sdk)
        .collect();
    let set: Vec<Taint> = desired
        .iter()
        .filter(|d| !current.contains(d))
        .map(TaintSpec::to_sdk)
        .collect();
    if set.is_empty() && removed.is_empty() {
        return None;
    }
    Some(
        UpdateTaintsPayload::builder()
            .set_add_or_update_taints((!set.is_empty()).then_some(set))
            .set_remove_taints((!removed.is_empty()).then_some(removed))
            .build(),
    )
}

fn already_exists(message: &str) -> bool {
    message.to_ascii_lowercase().contains("already exists")
}

impl EksNodeGroup {
    async fn create_inner(
        &self,
        ctx: &OpContext,
        inputs: &Value,
    ) -> Result<Observed, ProviderError> {
        let spec = Spec::read(&inputs.reveal())?;
        let client = self.clients.get(ctx).await?;
        let what = format!("creating {}", spec.what());
        // `InvalidRequestException` "…state of the cluster" (the cluster is
        // updating) is classified transient, so the engine retries it.
        async {
            let call = client
                .create_nodegroup()
                .cluster_name(&spec.cluster)
                .nodegroup_name(&spec.name)
                .node_role(&spec.node_role_arn)
                .set_subnets(Some(spec.subnet_ids.clone()))
                .set_instance_types(spec.instance_types.clone())
                .set_ami_type(spec.ami_type.as_deref().map(AmiTypes::from))
                .capacity_type(CapacityTypes::from(spec.capacity_type.as_str()))
                .set_disk_size(spec.disk_size)
                .scaling_config(spec.scaling_config())
                .set_labels(spec.labels.as_ref().filter(|l| !l.is_empty()).map(hash_map))
                .set_taints(
                    spec.taints
                        .as_ref()
                        .filter(|t| !t.is_empty())
                        .map(|t| t.iter().map(TaintSpec::to_sdk).collect()),
                )
                .set_update_config(spec.update_config.map(UpdatePolicy::to_sdk))
                .set_version(spec.version.clone())
                .set_tags(spec.tags.as_ref().filter(|t| !t.is_empty()).map(hash_map))
                .set_client_request_token(token(ctx, ""));
            let err = match call.send().await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let mapped = classify(&what, &err);
            if error_code(&err) == Some("ResourceInUseException") && already_exists(&mapped.message)
            {
                // Made by an earlier attempt: adopt it once visible.
                return match describe(&client, &spec.cluster, &spec.name, &what).await? {
                    Some(_) => Ok(()),
                    None => Err(ProviderError::new(ErrorKind::Transient, mapped.message)),
                };
            }
            if mapped.kind == ErrorKind::NotFound {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!("{}; create the cluster first", mapped.message),
                ));
            }
            Err(mapped)
        }
        .await?;
        ctx.progress("waiting for the nodes to join (typically several minutes)");
        let ng = wait_active(ctx, &client, &spec.cluster, &spec.name).await?;
        Ok(observed(&ng, inputs))
    }

    async fn update_inner(
        &self,
        ctx: &OpContext,
        existing: &Existing,
        inputs: &Value,
    ) -> Result<Observed, ProviderError> {
        let revealed = inputs.reveal();
        let new = Spec::read(&revealed)?;
        let client = self.clients.get(ctx).await?;
        // Compared as recorded (secrets by digest), not revealed.
        let changed = |key: &str| differs(existing.inputs.get(key), inputs.get(key));
        let read_what = format!("reading {}", new.what());
        let gone = || {
            ProviderError::new(
                ErrorKind::NotFound,
                format!("{} no longer exists", new.what()),
            )
        };

        // The version first: UpdateNodegroupVersion before the config, as
        // EKS runs one update at a time.
        if changed("version")
            && let Some(version) = &new.version
        {
            let what = format!("updating {} to Kubernetes {version}", new.what());
            let out = async {
                client
                    .update_nodegroup_version()
                    .cluster_name(&new.cluster)
                    .nodegroup_name(&new.name)
                    .version(version)
                    .set_client_request_token(token(ctx, "version"))
                    .send()
                    .await
                    .map_err(|e| update_error(&what, "UpdateNodegroupVersion", &e))
            }
            .await?;
            ctx.progress(&format!(
                "waiting for the nodes to run Kubernetes {version}"
            ));
            wait_for_update(ctx, &client, new.target(), out.update()).await?;
        }

        let current = describe(&client, &new.cluster, &new.name, &read_what)
            .await?
            .ok_or_else(gone)?;
        // Labels and taints are sent as differences from what the node
        // group has now, so changes made outside infra converge too.
        let labels = if changed("labels") {
            let now: BTreeMap<String, String> = current
                .labels()
                .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            labels_payload(&now, &new.labels.clone().unwrap_or_default())
        } else {
            None
        };
        let taints = if changed("taints") {
            let now: Vec<TaintSpec> = current.taints().iter().map(TaintSpec::from_sdk).collect();
            taints_payload(&now, new.taints.as_deref().unwrap_or_default())
        } else {
            None
        };
        let scaling = changed("scaling").then(|| new.scaling_config());
        let policy = if changed("update_config") {
            new.update_config.map(UpdatePolicy::to_sdk)
        } else {
            None
        };
        if labels.is_some() || taints.is_some() || scaling.is_some() || policy.is_some() {
            let what = format!("updating {}", new.what());
            let out = async {
                client
                    .update_nodegroup_config()
                    .cluster_name(&new.cluster)
                    .nodegroup_name(&new.name)
                    .set_labels(labels.clone())
                    .set_taints(taints.clone())
                    .set_scaling_config(scaling.clone())
                    .set_update_config(policy.clone())
                    .set_client_request_token(token(ctx, "config"))
                    .send()
                    .await
                    .map_err(|e| update_error(&what, "UpdateNodegroupConfig", &e))
            }
            .await?;
            wait_for_update(ctx, &client, new.target(), out.update()).await?;
        }

        if changed("tags") {
            let arn = current
                .nodegroup_arn()
                .ok_or_else(|| invalid(format!("{}: EKS reported no ARN", new.what())))?;
            let now: BTreeMap<String, String> = current
                .tags()
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let desired = new.tags.clone().unwrap_or_default();
            crate::tags::apply(ctx, &client, arn, &new.what(), &now, &desired).await?;
        }
        let ng = describe(&client, &new.cluster, &new.name, &read_what)
            .await?
            .ok_or_else(gone)?;
        Ok(observed(&ng, inputs))
    }

    async fn delete_inner(
        &self,
        ctx: &OpContext,
        existing: &Existing,
    ) -> Result<(), ProviderError> {
        let (cluster, name) = existing_names(existing);
        let client = self.clients.get(ctx).await?;
        let label = format!("EKS node group `{name}` of cluster `{cluster}`");
        let what = format!("deleting {label}");
        let gone = async {
            match client
                .delete_nodegroup()
                .cluster_name(&cluster)
                .nodegroup_name(&name)
                .send()
                .await
            {
                Ok(_) => Ok(false),
                Err(e) => {
                    let err = classify(&what, &e);
                    if err.kind == ErrorKind::NotFound && !unimplemented(&e) {
                        Ok(true)
                    } else {
                        Err(err)
                    }
                }
            }
        }
        .await?;
        if gone {
            return Ok(());
        }
        let wait = format!("waiting for {label} to be deleted");
        poll_until(ctx, &wait, || async {
            let Some(ng) = describe(&client, &cluster, &name, &wait).await? else {
                return Ok(Poll::Ready(()));
            };
            match ng.status() {
                Some(NodegroupStatus::DeleteFailed) => Err(ProviderError::new(
                    ErrorKind::Failed,
                    format!(
                        "{label} could not be deleted (DELETE_FAILED): {}",
                        health_issues(&ng)
                    ),
                )),
                status => Ok(Poll::Pending(format!(
                    "status {}",
                    status.map_or("(none)", NodegroupStatus::as_str)
                ))),
            }
        })
        .await
    }
}

#[async_trait]
impl Provider for EksNodeGroup {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn settings_section(&self) -> Option<&str> {
        Some("aws")
    }

    fn check_settings(&self, settings: &Value) -> Vec<(ValuePath, String)> {
        infra_aws::AwsSettings::problems(settings)
    }

    fn validate(&self, inputs: &Value) -> Vec<(ValuePath, String)> {
        validate(inputs).0
    }

    fn estimate(&self, op: OpKind, _inputs: &Value) -> Duration {
        // No authoritative figure; 5-20 minutes is typical (reference §2.3).
        match op {
            OpKind::Create => Duration::from_secs(8 * 60),
            OpKind::Update => Duration::from_secs(5 * 60),
            OpKind::Delete => Duration::from_secs(8 * 60),
            OpKind::Read => Duration::from_secs(1),
        }
    }

    async fn create(&self, ctx: &OpContext, inputs: &Value) -> Result<Observed, ProviderError> {
        self.create_inner(ctx, inputs).await
    }

    async fn read(
        &self,
        ctx: &OpContext,
        existing: &Existing,
    ) -> Result<Option<Observed>, ProviderError> {
        let (cluster, name) = existing_names(existing);
        let client = self.clients.get(ctx).await?;
        let what = format!("reading EKS node group `{name}` of cluster `{cluster}`");
        Ok(describe(&client, &cluster, &name, &what)
            .await?
            .map(|ng| observed(&ng, &existing.inputs)))
    }

    async fn find(
        &self,
        ctx: &OpContext,
        inputs: &Value,
    ) -> Result<Option<Observed>, ProviderError> {
        let revealed = inputs.reveal();
        let text = |k: &str| revealed.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(cluster), Some(name)) = (text("cluster"), text("name")) else {
            return Ok(None);
        };
        let client = self.clients.get(ctx).await?;
        let what = format!("looking for EKS node group `{name}` of cluster `{cluster}`");
        let Some(ng) = describe(&client, &cluster, &name, &what).await? else {
            return Ok(None);
        };
        // An interrupted create may have left it coming up: finish the wait.
        let ng = if ng.status() == Some(&NodegroupStatus::Creating) {
            wait_active(ctx, &client, &cluster, &name).await?
        } else {
            ng
        };
        Ok(Some(observed(&ng, inputs)))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        existing: &Existing,
        inputs: &Value,
    ) -> Result<Observed, ProviderError> {
        self.update_inner(ctx, existing, inputs).await
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        self.delete_inner(ctx, existing).await
    }
}

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_owned())
}

/// Plan-time checks against EKS's documented rules.
fn validate(inputs: &Value) -> Problems {
    let mut problems = Problems::default();
    if let Some(Value::String(name)) = inputs.get("name")
        && !valid_name(name, 63)
    {
        problems.push(
            &["name"],
            format!("node group names are 1-63 letters, digits, `-` and `_`, starting with a letter or digit; {name:?} is not"),
        );
    }
    if let Some(Value::String(cluster)) = inputs.get("cluster")
        && !valid_name(cluster, 100)
    {
        problems.push(
            &["cluster"],
            format!("{cluster:?} is not a valid EKS cluster name"),
        );
    }
    for list in ["subnet_ids", "instance_types"] {
        if let Some(Value::List(items)) = inputs.get(list)
            && items.is_empty()
        {
            problems.push(&[list], "must not be empty");
        }
    }
    if let Some(Value::String(c)) = inputs.get("capacity_type")
        && !CapacityTypes::values().contains(&c.as_str())
    {
        problems.push(
            &["capacity_type"],
            format!(
                "{c:?} is not a capacity type; use one of {}",
                CapacityTypes::values().join(", ")
            ),
        );
    }
    if let Some(Value::Int(d)) = inputs.get("disk_size")
        && !(1..=16384).contains(d)
    {
        problems.push(&["disk_size"], "disk_size is 1 to 16384 GiB");
    }
    validate_scaling(inputs, &mut problems);
    if let Some(Value::Map(labels)) = inputs.get("labels") {
        for (k, v) in labels {
            let path = vec![key("labels"), key(k)];
            if k.is_empty() || k.chars().count() > 63 {
                problems.push_path(path.clone(), "label keys are 1 to 63 characters");
            }
            if let Value::String(v) = v
                && (v.is_empty() || v.chars().count() > 63)
            {
                problems.push_path(path, "label values are 1 to 63 characters");
            }
        }
    }
    validate_taints(inputs, &mut problems);
    if let Some(v @ Value::Map(_)) = inputs.get("update_config") {
        let n = v
            .get("max_unavailable")
            .filter(|v| !matches!(v, Value::Null));
        let p = v
            .get("max_unavailable_percentage")
            .filter(|v| !matches!(v, Value::Null));
        match (n, p) {
            (Some(_), Some(_)) | (None, None) => problems.push(
                &["update_config"],
                "set exactly one of max_unavailable or max_unavailable_percentage",
            ),
            (Some(Value::Int(x)), None) | (None, Some(Value::Int(x))) if !(1..=100).contains(x) => {
                let field = if n.is_some() {
                    "max_unavailable"
                } else {
                    "max_unavailable_percentage"
                };
                problems.push(
                    &["update_config", field],
                    format!("{field} is 1 to 100, not {x}"),
                );
            }
            _ => {}
        }
    }
    validate_tags(inputs, &mut problems);
    problems
}

fn validate_scaling(inputs: &Value, problems: &mut Problems) {
    let Some(scaling) = inputs.get("scaling") else {
        return;
    };
    let count = |k: &str| scaling.get(k).and_then(Value::as_int);
    let (min, max, desired) = (count("min"), count("max"), count("desired"));
    if let Some(m) = min
        && m < 0
    {
        problems.push(
            &["scaling", "min"],
            format!("min must be 0 or more, not {m}"),
        );
    }
    if let Some(m) = max
        && m < 1
    {
        problems.push(
            &["scaling", "max"],
            format!("max must be 1 or more, not {m}"),
        );
    }
    if let Some(d) = desired
        && d < 0
    {
        problems.push(
            &["scaling", "desired"],
            format!("desired must be 0 or more, not {d}"),
        );
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        problems.push(
            &["scaling", "min"],
            format!("min ({min}) is above max ({max})"),
        );
    }
    if let (Some(min), Some(d)) = (min, desired)
        && d < min
    {
        problems.push(
            &["scaling", "desired"],
            format!("desired ({d}) is below min ({min})"),
        );
    }
    if let (Some(max), Some(d)) = (max, desired)
        && d > max
    {
        problems.push(
            &["scaling", "desired"],
            format!("desired ({d}) is above max ({max})"),
        );
    }
}

fn validate_taints(inputs: &Value, problems: &mut Problems) {
    let Some(Value::List(taints)) = inputs.get("taints") else {
        return;
    };
    if taints.len() > MAX_TAINTS {
        problems.push(
            &["taints"],
            format!("at most {MAX_TAINTS} taints, found {}", taints.len()),
        );
    }
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (i, t) in taints.iter().enumerate() {
        let at = |field: &str| vec![key("taints"), PathSeg::Index(i), key(field)];
        let k = t.get("key").and_then(Value::as_str);
        let e = t.get("effect").and_then(Value::as_str);
        if let Some(k) = k
            && (k.is_empty() || k.chars().count() > 63)
        {
            problems.push_path(at("key"), "taint keys are 1 to 63 characters");
        }
        if let Some(Value::String(v)) = t.get("value")
            && v.chars().count() > 63
        {
            problems.push_path(at("value"), "taint values are at most 63 characters");
        }
        if let Some(e) = e
            && !TaintEffect::values().contains(&e)
        {
            problems.push_path(
                at("effect"),
                format!(
                    "{e:?} is not a taint effect; use one of {}",
                    TaintEffect::values().join(", ")
                ),
            );
        }
        if let (Some(k), Some(e)) = (k, e) {
            if seen.contains(&(k, e)) {
                problems.push_path(
                    vec![key("taints"), PathSeg::Index(i)],
                    format!("a taint with key {k:?} and effect {e} is listed twice"),
                );
            }
            seen.push((k, e));
        }
    }
}

/// Whether a value is a table of strings (used by tests of the payloads).
#[cfg(test)]
fn labels_of(v: &Value) -> BTreeMap<String, String> {
    crate::common::string_map(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use infra_core::display_path;

    use super::*;

    fn check(inputs: serde_json::Value) -> Vec<String> {
        validate(&Value::from_json(inputs))
            .0
            .into_iter()
            .map(|(p, m)| format!("{} | {m}", display_path(&p)))
            .collect()
    }

    fn good() -> serde_json::Value {
        serde_json::json!({
            "cluster": "main",
            "name": "workers",
            "node_role_arn": "arn:aws:iam::123456789012:role/nodes",
            "subnet_ids": ["subnet-1"],
            "instance_types": ["m5.2xlarge"],
            "capacity_type": "ON_DEMAND",
            "scaling": {"min": 5, "max": 20, "desired": 5},
            "labels": {"NodeType": "worker"},
            "taints": [{"key": "airflow-worker", "value": "true", "effect": "NO_SCHEDULE"}],
            "update_config": {"max_unavailable": 1},
        })
    }

    #[test]
    fn a_good_node_group_passes() {
        assert!(check(good()).is_empty(), "{:?}", check(good()));
        let spec = Spec::read(&Value::from_json(good())).unwrap();
        assert_eq!(
            spec.scaling,
            Scaling {
                min: 5,
                max: 20,
                desired: 5
            }
        );
        assert_eq!(spec.update_config, Some(UpdatePolicy::MaxUnavailable(1)));
    }

    #[test]
    fn validate_reports_every_problem_with_its_path() {
        let mut v = good();
        v["name"] = "bad name".into();
        v["capacity_type"] = "CHEAP".into();
        v["scaling"] = serde_json::json!({"min": 3, "max": 2, "desired": 1});
        v["taints"] = serde_json::json!([
            {"key": "a", "effect": "NO_SCHEDULE"},
            {"key": "a", "effect": "NO_SCHEDULE"},
            {"key": "b", "effect": "SOMETIMES"},
        ]);
        v["update_config"] =
            serde_json::json!({"max_unavailable": 1, "max_unavailable_percentage": 10});
        v["instance_types"] = serde_json::json!([]);
        let got = check(v);
        let paths: Vec<&str> = got
            .iter()
            .map(|s| s.split(" | ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            paths,
            [
                "name",
                "instance_types",
                "capacity_type",
                "scaling.min",
                "scaling.desired",
                "taints[1]",
                "taints[2].effect",
                "update_config",
            ],
            "{got:#?}"
        );
        let mut v = good();
        v["update_config"] = serde_json::json!({"max_unavailable_percentage": 150});
        v["scaling"] = serde_json::json!({"min": 0, "max": 0, "desired": 1});
        let got = check(v);
        assert_eq!(
            got,
            [
                "scaling.max | max must be 1 or more, not 0",
                "scaling.desired | desired (1) is above max (0)",
                "update_config.max_unavailable_percentage | max_unavailable_percentage is 1 to 100, not 150",
            ]
        );
    }

    #[test]
    fn label_payload_adds_changes_and_removes() {
        let current = labels_of(&Value::from_json(
            serde_json::json!({"a": "1", "b": "2", "c": "3"}),
        ));
        let desired = labels_of(&Value::from_json(
            serde_json::json!({"a": "1", "b": "20", "d": "4"}),
        ));
        let p = labels_payload(&current, &desired).unwrap();
        let mut set: Vec<(&String, &String)> = p.add_or_update_labels().unwrap().iter().collect();
        set.sort();
        assert_eq!(
            set,
            [
                (&"b".to_owned(), &"20".to_owned()),
                (&"d".to_owned(), &"4".to_owned())
            ]
        );
        assert_eq!(p.remove_labels(), ["c"]);
        assert!(labels_payload(&current, &current).is_none());
    }

    #[test]
    fn taint_payload_is_keyed_by_key_and_effect() {
        let t = |k: &str, v: Option<&str>, e: &str| TaintSpec {
            key: k.into(),
            value: v.map(Into::into),
            effect: e.into(),
        };
        let current = [
            t("a", Some("1"), "NO_SCHEDULE"),
            t("b", None, "NO_EXECUTE"),
            t("c", None, "NO_SCHEDULE"),
        ];
        let desired = [
            t("a", Some("2"), "NO_SCHEDULE"),
            t("b", None, "NO_EXECUTE"),
            t("c", None, "PREFER_NO_SCHEDULE"),
        ];
        let p = taints_payload(&current, &desired).unwrap();
        let set: Vec<TaintSpec> = p
            .add_or_update_taints()
            .iter()
            .map(TaintSpec::from_sdk)
            .collect();
        let removed: Vec<TaintSpec> = p.remove_taints().iter().map(TaintSpec::from_sdk).collect();
        assert_eq!(set, [desired[0].clone(), desired[2].clone()]);
        assert_eq!(removed, [current[2].clone()]);
        assert!(taints_payload(&current, &current).is_none());
    }
}
