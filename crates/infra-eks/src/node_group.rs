//! `eks_node_group`: an EKS managed node group. Version changes go through
//! `UpdateNodegroupVersion`, then scaling, labels, taints and the update
//! policy through one `UpdateNodegroupConfig`; everything else replaces it.
//!
//! `scaling.desired` is the stack's at create only: afterwards the cluster
//! autoscaler owns it (the schema marks it `set_at_create`), so it is never
//! drift, a changed value in the stack is no change, and an update sends
//! no desired size, unless the stack says `lifecycle.own =
//! ["scaling.desired"]`. See [`scaling_payload`].

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    AmiTypes, CapacityTypes, Nodegroup, NodegroupScalingConfig, NodegroupStatus,
    NodegroupUpdateConfig, Taint, TaintEffect, UpdateLabelsPayload, UpdateTaintsPayload,
};
use infra_aws::{Poll, Tags, classify, error_code, poll_until, read_tags};
use infra_core::{
    Attribute, ErrorKind, Existing, Fields, Observed, OpContext, OpKind, Output, PathSeg, Phase,
    ProviderError, Request, Resource, Schema, Type, UpdateRequest, Validator, Value,
};

use crate::common::{
    ObservedInputs, UpdateTarget, already_exists, differs, id_parts, name_rule, none_if_missing,
    required_strings, retag, revealed, scoped_id, tags_of, token, update_error, wait_for_update,
};

/// The resource type name.
pub const TYPE_NAME: &str = "eks_node_group";

/// EKS allows at most this many taints on a node group.
const MAX_TAINTS: usize = 50;

infra_aws::resource_type! {
    /// The `eks_node_group` resource type.
    pub struct EksNodeGroup(Client, "EKS node group");
}

fn schema() -> Schema {
    let replace = |name: &str, ty: Type| Attribute::new(name, ty).forces_replacement();
    let upto = |max: i64| Validator::Range { min: 1, max };
    let count = |name: &str, doc: &str| Attribute::new(name, Type::Int).required().describe(doc);
    Schema::new(TYPE_NAME)
        .attribute(
            replace("cluster", Type::String)
                .required()
                .validate(name_rule(100))
                .describe("the name of the EKS cluster the nodes join"),
        )
        .attribute(
            replace("name", Type::String)
                .required()
                .validate(name_rule(63))
                .describe("the node group name"),
        )
        .attribute(
            replace("node_role_arn", Type::String)
                .required()
                .describe("IAM role of the worker nodes"),
        )
        .attribute(
            replace("subnet_ids", Type::set(Type::String))
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
                .validate(Validator::one_of(CapacityTypes::values()))
                .describe("how the instances are bought"),
        )
        .attribute(
            replace("disk_size", Type::Int)
                .validate(upto(16384))
                .describe("root volume size in GiB (AWS default: 20)"),
        )
        .attribute(
            Attribute::new(
                "scaling",
                Type::Object(vec![
                    count("min", "fewest nodes (0 or more)"),
                    count("max", "most nodes (1 or more)"),
                    count(
                        "desired",
                        "nodes at create, between min and max; then the cluster autoscaler's, unless `lifecycle.own = [\"scaling.desired\"]` keeps it the stack's",
                    )
                    .set_at_create("resetting it may drain nodes"),
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
                Type::set(Type::Object(vec![
                    Attribute::new("key", Type::String)
                        .required()
                        .validate(Validator::Length { min: 1, max: 63 })
                        .describe("the taint's key"),
                    Attribute::new("value", Type::String)
                        .validate(Validator::Length { min: 0, max: 63 })
                        .describe("the taint's value"),
                    Attribute::new("effect", Type::String)
                        .required()
                        .validate(Validator::one_of(TaintEffect::values()))
                        .describe("what the taint does to pods that do not tolerate it"),
                ])),
            )
            .validate(Validator::Count { min: 0, max: MAX_TAINTS })
            .describe("Kubernetes taints on the nodes"),
        )
        .attribute(
            Attribute::new(
                "update_config",
                Type::Object(vec![
                    Attribute::new("max_unavailable", Type::Int)
                        .validate(upto(100))
                        .describe("nodes updated at once"),
                    Attribute::new("max_unavailable_percentage", Type::Int)
                        .validate(upto(100))
                        .describe("percentage of nodes updated at once"),
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

#[derive(Clone, Copy, Debug, Default, PartialEq)]
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
        let b = NodegroupUpdateConfig::builder();
        match self {
            UpdatePolicy::MaxUnavailable(n) => b.max_unavailable(n).build(),
            UpdatePolicy::Percentage(n) => b.max_unavailable_percentage(n).build(),
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
        let (key, n) = match self {
            UpdatePolicy::MaxUnavailable(n) => ("max_unavailable", n),
            UpdatePolicy::Percentage(n) => ("max_unavailable_percentage", n),
        };
        [(key, Value::Int(n.into()))].into_iter().collect()
    }
}

/// The inputs of a node group.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    cluster: String,
    name: String,
    node_role_arn: String,
    subnet_ids: Vec<String>,
    instance_types: Option<Vec<String>>,
    ami_type: Option<String>,
    capacity_type: String,
    disk_size: Option<i32>,
    scaling: Scaling,
    labels: Tags,
    taints: Vec<TaintSpec>,
    update_config: Option<UpdatePolicy>,
    version: Option<String>,
    tags: Tags,
}

fn parse(f: &mut Fields<'_>) -> Spec {
    let cluster = f.required_string("cluster");
    let name = f.required_string("name");
    let node_role_arn = f.required_string("node_role_arn");
    let subnet_ids = required_strings(f, "subnet_ids", "must not be empty");
    let instance_types = f.strings("instance_types");
    if instance_types.as_ref().is_some_and(Vec::is_empty) {
        f.problem_at("instance_types", "must not be empty");
    }
    let ami_type = f.string("ami_type");
    let capacity_type = f.string_or("capacity_type", "ON_DEMAND");
    let disk_size = f.i32("disk_size");
    if !f.is_set("scaling") {
        f.problem_at("scaling", "`scaling` is required");
    }
    let scaling = f.table("scaling", scaling).unwrap_or_default();
    let labels = f.string_map("labels");
    for (k, v) in &labels {
        let at = [PathSeg::Key("labels".into()), PathSeg::Key(k.clone())];
        if k.is_empty() || k.chars().count() > 63 {
            f.problem(&at, "label keys are 1 to 63 characters");
        }
        if v.is_empty() || v.chars().count() > 63 {
            f.problem(&at, "label values are 1 to 63 characters");
        }
    }
    let taints = f.tables("taints", taint);
    for (i, t) in taints.iter().enumerate() {
        let Some(t) = t else { continue };
        // The same taint twice is the set's own rule (see the schema).
        let mut earlier = taints[..i].iter().flatten();
        if !earlier.clone().any(|e| e == t) && earlier.any(|e| e.same_slot(t)) {
            f.problem(
                &[PathSeg::Key("taints".into()), PathSeg::Index(i)],
                format!(
                    "a taint with key {:?} and effect {} is listed twice",
                    t.key, t.effect
                ),
            );
        }
    }
    let update_config = f.table("update_config", update_policy).flatten();
    Spec {
        cluster,
        name,
        node_role_arn,
        subnet_ids,
        instance_types,
        ami_type,
        capacity_type,
        disk_size,
        scaling,
        labels,
        taints: taints.into_iter().flatten().collect(),
        update_config,
        version: f.string("version"),
        tags: read_tags(f, "tags"),
    }
}

/// The counts, each 0 or more (`max` 1 or more), `min` <= `desired` <= `max`.
fn scaling(s: &mut Fields<'_>) -> Scaling {
    let mut count = |key: &str, least: i32| {
        if !s.is_set(key) {
            s.problem_at(key, format!("`scaling.{key}` is required"));
        }
        let n = s.i32(key)?;
        if n < least {
            s.problem_at(key, format!("{key} must be {least} or more, not {n}"));
        }
        Some(n)
    };
    let (min, max, desired) = (count("min", 0), count("max", 1), count("desired", 0));
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        s.problem_at("min", format!("min ({min}) is above max ({max})"));
    }
    // Checked on the stack's values (plan, and the engine's re-check at
    // apply). An update is given the desired size state recorded, which
    // the autoscaler's bounds may since have moved past: it is not sent.
    let declared = s.phase() == Phase::Plan;
    if let (true, Some(min), Some(d)) = (declared, min, desired)
        && d < min
    {
        s.problem_at("desired", format!("desired ({d}) is below min ({min})"));
    }
    if let (true, Some(max), Some(d)) = (declared, max, desired)
        && d > max
    {
        s.problem_at("desired", format!("desired ({d}) is above max ({max})"));
    }
    Scaling {
        min: min.unwrap_or_default(),
        max: max.unwrap_or_default(),
        desired: desired.unwrap_or_default(),
    }
}

/// One taint; `None` while its key or effect is not known.
fn taint(t: &mut Fields<'_>) -> Option<TaintSpec> {
    let key = t.required_string("key");
    let value = t.string("value");
    let effect = t.required_string("effect");
    let known = !t.is_unknown("key") && !t.is_unknown("effect");
    known.then_some(TaintSpec { key, value, effect })
}

fn update_policy(u: &mut Fields<'_>) -> Option<UpdatePolicy> {
    let n = u.i32("max_unavailable");
    let p = u.i32("max_unavailable_percentage");
    match (
        u.is_set("max_unavailable"),
        u.is_set("max_unavailable_percentage"),
    ) {
        (true, false) => n.map(UpdatePolicy::MaxUnavailable),
        (false, true) => p.map(UpdatePolicy::Percentage),
        _ => {
            u.problem(
                &[],
                "set exactly one of max_unavailable or max_unavailable_percentage",
            );
            None
        }
    }
}

impl Spec {
    fn what(&self) -> String {
        self.target().to_string()
    }

    fn target(&self) -> UpdateTarget<'_> {
        UpdateTarget::NodeGroup {
            cluster: &self.cluster,
            name: &self.name,
        }
    }

    /// The scaling a create sends: every count, the desired size included.
    fn scaling_config(&self) -> NodegroupScalingConfig {
        NodegroupScalingConfig::builder()
            .min_size(self.scaling.min)
            .max_size(self.scaling.max)
            .desired_size(self.scaling.desired)
            .build()
    }
}

/// The `scalingConfig` of an update, or `None` when scaling does not
/// change. `recorded` is the `scaling` table state holds, `live` what EKS
/// reports now.
///
/// The desired size is sent only when the stack sets it: the engine hands
/// an update the recorded value of an attribute set at create unless the
/// stack owns it (`lifecycle.own`), so a desired size other than the
/// recorded one means the stack owns it and changed it (or the cloud
/// moved it and the stack sets it back). Otherwise it is left out, and
/// the autoscaler's value stands.
///
/// When min or max change and the live desired size falls outside the new
/// bounds, the nearest bound is sent as the desired size: EKS refuses a
/// scaling config whose desired size lies outside min..max, and the
/// nearest bound is the least change the new bounds force (what the
/// autoscaler itself would do). The live value decides (the recorded one
/// when EKS reports none), since the autoscaler may have moved it since
/// the last read.
fn scaling_payload(
    new: &Scaling,
    recorded: Option<&Value>,
    live: Option<&NodegroupScalingConfig>,
) -> Option<NodegroupScalingConfig> {
    let recorded = |k: &str| {
        recorded
            .and_then(|r| r.get(k))
            .and_then(Value::as_int)
            .and_then(|n| i32::try_from(n).ok())
    };
    let sets_desired = recorded("desired") != Some(new.desired);
    let min = live.and_then(|l| l.min_size()).or_else(|| recorded("min"));
    let max = live.and_then(|l| l.max_size()).or_else(|| recorded("max"));
    let bounds_change = min != Some(new.min) || max != Some(new.max);
    if !sets_desired && !bounds_change {
        return None;
    }
    let desired = if sets_desired {
        Some(new.desired)
    } else {
        let now = live
            .and_then(|l| l.desired_size())
            .or_else(|| recorded("desired"));
        match now {
            Some(n) if n < new.min => Some(new.min),
            Some(n) if n > new.max => Some(new.max),
            _ => None,
        }
    };
    Some(
        NodegroupScalingConfig::builder()
            .min_size(new.min)
            .max_size(new.max)
            .set_desired_size(desired)
            .build(),
    )
}

/// What EKS reports, as inputs, normalised against `reference`.
fn observed(ng: &Nodegroup, reference: &Value) -> Observed {
    let mut inputs = ObservedInputs::new(reference);
    let given = |k: &str| inputs.given(k).and_then(Value::as_str).map(str::to_owned);
    let cluster = ng
        .cluster_name()
        .map(str::to_owned)
        .or_else(|| given("cluster"));
    let name = ng
        .nodegroup_name()
        .map(str::to_owned)
        .or_else(|| given("name"));
    let (cluster, name) = (cluster.unwrap_or_default(), name.unwrap_or_default());
    inputs.set("cluster", Value::String(cluster.clone()));
    inputs.set("name", Value::String(name.clone()));
    inputs.set_or_given("node_role_arn", ng.node_role().map(Value::from));
    inputs.set_of("subnet_ids", ng.subnets());
    // Order is the preference order and AWS keeps it.
    let types = ng.instance_types.as_deref().map(infra_core::string_list);
    inputs.computed("instance_types", types);
    inputs.computed("ami_type", ng.ami_type().map(|t| Value::from(t.as_str())));
    let capacity = ng.capacity_type().map(|t| Value::from(t.as_str()));
    inputs.set_or_given("capacity_type", capacity);
    inputs.computed("disk_size", ng.disk_size().map(|d| Value::Int(d.into())));
    let scaling = ng.scaling_config().map(|s| {
        let n = |v: Option<i32>| v.map_or(Value::Null, |v| Value::Int(v.into()));
        [
            ("min", n(s.min_size())),
            ("max", n(s.max_size())),
            ("desired", n(s.desired_size())),
        ]
        .into_iter()
        .collect()
    });
    inputs.set_or_given("scaling", scaling);
    inputs.optional_map("labels", &tags_of(ng.labels()));
    let taints = ng
        .taints()
        .iter()
        .map(|t| TaintSpec::from_sdk(t).to_value());
    inputs.optional_objects("taints", taints.collect());
    // EKS reports the policy it uses (default max_unavailable = 1); an
    // emulator that reports none keeps what was given.
    let policy = ng.update_config().and_then(UpdatePolicy::from_sdk);
    inputs.computed("update_config", policy.map(UpdatePolicy::to_value));
    inputs.computed("version", ng.version().map(Value::from));
    inputs.optional_map("tags", &tags_of(ng.tags()));

    let groups = ng
        .resources()
        .map(|r| r.auto_scaling_groups())
        .unwrap_or_default();
    let groups = groups.iter().filter_map(|g| g.name().map(Value::from));
    let text = |s: Option<&str>| s.map_or(Value::Null, Value::from);
    let outputs: Value = [
        ("arn", text(ng.nodegroup_arn())),
        ("status", text(ng.status().map(NodegroupStatus::as_str))),
        ("autoscaling_groups", Value::List(groups.collect())),
    ]
    .into_iter()
    .collect();
    Observed {
        id: scoped_id(&cluster, &name),
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
    let call = client
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name);
    Ok(none_if_missing(what, call.send().await)?.and_then(|out| out.nodegroup))
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
        let failed = |hint: &str| {
            let status = ng.status().map_or("", NodegroupStatus::as_str);
            let message = format!("{label} is {status}: {}{hint}", health_issues(&ng));
            Err(ProviderError::new(ErrorKind::Failed, message))
        };
        match ng.status() {
            Some(NodegroupStatus::Active) => Ok(Poll::Ready(ng)),
            Some(NodegroupStatus::CreateFailed | NodegroupStatus::Degraded) => {
                failed("; fix the cause (IAM role, subnets, capacity), delete it and apply again")
            }
            Some(NodegroupStatus::Deleting | NodegroupStatus::DeleteFailed) => failed(""),
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
fn labels_payload(current: &Tags, desired: &Tags) -> Option<UpdateLabelsPayload> {
    let change = infra_aws::TagChange::between(current, desired);
    if change.is_empty() {
        return None;
    }
    let set = (!change.set.is_empty()).then(|| change.set.into_iter().collect());
    let removed = (!change.remove.is_empty()).then_some(change.remove);
    Some(
        UpdateLabelsPayload::builder()
            .set_add_or_update_labels(set)
            .set_remove_labels(removed)
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

#[async_trait]
impl Resource for EksNodeGroup {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        schema()
    }

    fn parse(&self, fields: &mut Fields<'_>) -> Spec {
        revealed(fields, parse)
    }

    fn default_timeout(&self, _op: OpKind) -> Duration {
        // Terraform's aws_eks_node_group: 60 minutes for each operation.
        Duration::from_secs(60 * 60)
    }

    fn estimate(&self, op: OpKind, _inputs: &Value) -> Duration {
        // No authoritative figure; 5-20 minutes is typical (reference §2.3).
        match op {
            OpKind::Create | OpKind::Delete => Duration::from_secs(8 * 60),
            OpKind::Update => Duration::from_secs(5 * 60),
            OpKind::Read => Duration::from_secs(1),
        }
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let client = self.clients.get(ctx).await?;
        let what = format!("creating {}", spec.what());
        let nonempty = |m: &Tags| (!m.is_empty()).then(|| m.clone().into_iter().collect());
        let taints = spec
            .taints
            .iter()
            .map(TaintSpec::to_sdk)
            .collect::<Vec<_>>();
        // `InvalidRequestException` "…state of the cluster" (the cluster is
        // updating) is classified transient, so the engine retries it.
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
            .set_labels(nonempty(&spec.labels))
            .set_taints((!taints.is_empty()).then_some(taints))
            .set_update_config(spec.update_config.map(UpdatePolicy::to_sdk))
            .set_version(spec.version.clone())
            .set_tags(nonempty(&spec.tags))
            .set_client_request_token(token(ctx, ""));
        if let Err(err) = call.send().await {
            let mapped = classify(&what, &err);
            if error_code(&err) == Some("ResourceInUseException") && already_exists(&mapped.message)
            {
                // Made by an earlier attempt: adopt it once visible.
                if describe(&client, &spec.cluster, &spec.name, &what)
                    .await?
                    .is_none()
                {
                    return Err(ProviderError::new(ErrorKind::Transient, mapped.message));
                }
            } else if mapped.kind == ErrorKind::NotFound {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!("{}; create the cluster first", mapped.message),
                ));
            } else {
                return Err(mapped);
            }
        }
        ctx.progress("waiting for the nodes to join (typically several minutes)");
        let ng = wait_active(ctx, &client, &spec.cluster, &spec.name).await?;
        Ok(observed(&ng, inputs))
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let (cluster, name) = id_parts(existing, "cluster", "name");
        let client = self.clients.get(ctx).await?;
        let what = format!("reading EKS node group `{name}` of cluster `{cluster}`");
        Ok(describe(&client, &cluster, &name, &what)
            .await?
            .map(|ng| observed(&ng, &existing.inputs)))
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let (ctx, spec, inputs) = op.parts();
        let client = self.clients.get(ctx).await?;
        let what = format!("looking for {}", spec.what());
        let Some(ng) = describe(&client, &spec.cluster, &spec.name, &what).await? else {
            return Ok(None);
        };
        // An interrupted create may have left it coming up: finish the wait.
        let ng = if ng.status() == Some(&NodegroupStatus::Creating) {
            wait_active(ctx, &client, &spec.cluster, &spec.name).await?
        } else {
            ng
        };
        Ok(Some(observed(&ng, inputs)))
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, new, inputs) = op.parts();
        let client = self.clients.get(ctx).await?;
        // Compared as recorded (secrets by digest), not revealed.
        let changed = |key: &str| differs(existing.inputs.get(key), inputs.get(key));
        let read_what = format!("reading {}", new.what());
        let gone = || {
            let message = format!("{} no longer exists", new.what());
            ProviderError::new(ErrorKind::NotFound, message)
        };

        // The version first: UpdateNodegroupVersion before the config, as
        // EKS runs one update at a time.
        if changed("version")
            && let Some(version) = &new.version
        {
            let what = format!("updating {} to Kubernetes {version}", new.what());
            let out = client
                .update_nodegroup_version()
                .cluster_name(&new.cluster)
                .nodegroup_name(&new.name)
                .version(version)
                .set_client_request_token(token(ctx, "version"))
                .send()
                .await
                .map_err(|e| update_error(&what, "UpdateNodegroupVersion", &e))?;
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
        let labels = changed("labels")
            .then(|| labels_payload(&tags_of(current.labels()), &new.labels))
            .flatten();
        let now: Vec<TaintSpec> = current.taints().iter().map(TaintSpec::from_sdk).collect();
        let taints = changed("taints")
            .then(|| taints_payload(&now, &new.taints))
            .flatten();
        let scaling = scaling_payload(
            &new.scaling,
            existing.inputs.get("scaling"),
            current.scaling_config(),
        );
        let policy = changed("update_config")
            .then(|| new.update_config.map(UpdatePolicy::to_sdk))
            .flatten();
        if labels.is_some() || taints.is_some() || scaling.is_some() || policy.is_some() {
            let what = format!("updating {}", new.what());
            let out = client
                .update_nodegroup_config()
                .cluster_name(&new.cluster)
                .nodegroup_name(&new.name)
                .set_labels(labels)
                .set_taints(taints)
                .set_scaling_config(scaling)
                .set_update_config(policy)
                .set_client_request_token(token(ctx, "config"))
                .send()
                .await
                .map_err(|e| update_error(&what, "UpdateNodegroupConfig", &e))?;
            wait_for_update(ctx, &client, new.target(), out.update()).await?;
        }

        if changed("tags") {
            let arn = current.nodegroup_arn().ok_or_else(|| {
                let message = format!("{}: EKS reported no ARN", new.what());
                ProviderError::new(ErrorKind::Invalid, message)
            })?;
            retag(
                &client,
                arn,
                &new.what(),
                &tags_of(current.tags()),
                &new.tags,
            )
            .await?;
        }
        let ng = describe(&client, &new.cluster, &new.name, &read_what)
            .await?
            .ok_or_else(gone)?;
        Ok(observed(&ng, inputs))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let (cluster, name) = id_parts(existing, "cluster", "name");
        let client = self.clients.get(ctx).await?;
        let label = format!("EKS node group `{name}` of cluster `{cluster}`");
        let call = client
            .delete_nodegroup()
            .cluster_name(&cluster)
            .nodegroup_name(&name);
        if none_if_missing(&format!("deleting {label}"), call.send().await)?.is_none() {
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

#[cfg(test)]
mod tests {
    use infra_core::{Phase, Provider, Typed, display_path};

    use super::*;
    use infra_aws::AwsContext;

    /// The plan-time problems, as the planner finds them: the schema's
    /// The plan-time problems, as the planner finds them.
    fn check(inputs: serde_json::Value) -> Vec<String> {
        let provider = Typed::new(EksNodeGroup::new(AwsContext::new()));
        infra_aws::testing::plan_problems(&provider, &Value::from_json(inputs))
    }

    fn read(inputs: serde_json::Value) -> Spec {
        let inputs = Value::from_json(inputs);
        let mut f = Fields::new(&inputs, Phase::Apply);
        let spec = parse(&mut f);
        f.finish("eks_node_group.workers", spec)
            .expect("a valid spec")
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

    fn paths(got: &[String]) -> Vec<&str> {
        got.iter()
            .map(|s| s.split(" | ").next().unwrap_or(""))
            .collect()
    }

    #[test]
    fn a_good_node_group_passes() {
        assert!(check(good()).is_empty(), "{:?}", check(good()));
        let spec = read(good());
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
            {"key": "b", "value": "x", "effect": "SOMETIMES"},
        ]);
        v["update_config"] =
            serde_json::json!({"max_unavailable": 1, "max_unavailable_percentage": 10});
        v["instance_types"] = serde_json::json!([]);
        let got = check(v);
        assert_eq!(
            paths(&got),
            [
                // The schema's rules.
                "name",
                "capacity_type",
                "taints[1]",
                "taints[2].effect",
                "taints[3].effect",
                // The parse's.
                "instance_types",
                "scaling.min",
                "scaling.desired",
                "taints[3]",
                "update_config",
            ],
            "{got:#?}"
        );
        // One message per rule: the exact twin is the set's, the same key
        // and effect with another value the parse's.
        assert!(got[2].contains("is a set, but lists"), "{got:#?}");
        assert!(
            got[8].ends_with("a taint with key \"b\" and effect SOMETIMES is listed twice"),
            "{got:#?}"
        );
        assert_eq!(
            got[9],
            "update_config | set exactly one of max_unavailable or max_unavailable_percentage"
        );

        let mut v = good();
        v["update_config"] = serde_json::json!({"max_unavailable_percentage": 150});
        v["scaling"] = serde_json::json!({"min": 0, "max": 0, "desired": 1});
        assert_eq!(
            check(v),
            [
                "update_config.max_unavailable_percentage | `update_config.max_unavailable_percentage` must be between 1 and 100, found 150",
                "scaling.max | max must be 1 or more, not 0",
                "scaling.desired | desired (1) is above max (0)",
            ]
        );
    }

    #[test]
    fn unknown_values_are_checked_once_known() {
        let mut v = Value::from_json(good());
        if let Value::Map(m) = &mut v {
            m.insert("cluster".into(), Value::Unknown);
            let scaling = [
                ("min", Value::Unknown),
                ("max", 3.into()),
                ("desired", 1.into()),
            ];
            m.insert("scaling".into(), scaling.into_iter().collect());
            let policy = [("max_unavailable", Value::Unknown)];
            m.insert("update_config".into(), policy.into_iter().collect());
        }
        let provider = Typed::new(EksNodeGroup::new(AwsContext::new()));
        assert!(
            provider.validate(&v).is_empty(),
            "{:?}",
            provider.validate(&v)
        );
        let mut f = Fields::new(&v, Phase::Apply);
        parse(&mut f);
        let got: Vec<String> = f
            .into_problems()
            .into_iter()
            .map(|(p, _)| display_path(&p))
            .collect();
        assert_eq!(
            got,
            ["cluster", "scaling.min", "update_config.max_unavailable"]
        );
    }

    #[test]
    fn secrets_are_read_as_their_plaintext_and_never_shown() {
        let secret = |s: &str| Value::Sensitive(infra_core::Secret::new("d", s.into()));
        let taint = |value: &str| -> Value {
            [
                ("key", secret("s3cr3t")),
                ("value", value.into()),
                ("effect", "NO_SCHEDULE".into()),
            ]
            .into_iter()
            .collect()
        };
        let mut v = Value::from_json(good());
        if let Value::Map(m) = &mut v {
            let tags: Value = [("owner", secret("team-data"))].into_iter().collect();
            m.insert("tags".into(), tags);
            m.insert("taints".into(), Value::List(vec![taint("1"), taint("2")]));
        }
        let provider = Typed::new(EksNodeGroup::new(AwsContext::new()));
        let problems = provider.validate(&v);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].1,
            "a taint with key \"(sensitive)\" and effect NO_SCHEDULE is listed twice"
        );
        if let Value::Map(m) = &mut v {
            m.insert("taints".into(), Value::List(vec![taint("1")]));
        }
        let mut f = Fields::new(&v, Phase::Apply);
        let spec = revealed(&mut f, parse);
        assert!(f.into_problems().is_empty());
        assert_eq!(
            spec.tags.get("owner").map(String::as_str),
            Some("team-data")
        );
        assert_eq!(spec.taints[0].key, "s3cr3t");
    }

    #[test]
    fn scaling_sends_the_desired_size_only_when_the_stack_sets_it() {
        let counts = |min, max, desired| Scaling { min, max, desired };
        let recorded = |min: i64, max: i64, desired: i64| -> Value {
            [
                ("min", Value::Int(min)),
                ("max", Value::Int(max)),
                ("desired", Value::Int(desired)),
            ]
            .into_iter()
            .collect()
        };
        let live = |min, max, desired| {
            NodegroupScalingConfig::builder()
                .min_size(min)
                .max_size(max)
                .desired_size(desired)
                .build()
        };
        let sent = |p: Option<NodegroupScalingConfig>| {
            p.map(|c| (c.min_size(), c.max_size(), c.desired_size()))
        };
        // The autoscaler moved it to 7 (state read it): nothing to send.
        let at_7 = recorded(1, 10, 7);
        assert_eq!(
            sent(scaling_payload(
                &counts(1, 10, 7),
                Some(&at_7),
                Some(&live(1, 10, 7))
            )),
            None
        );
        // New bounds around the live size: min and max only.
        assert_eq!(
            sent(scaling_payload(
                &counts(2, 12, 7),
                Some(&at_7),
                Some(&live(1, 10, 7))
            )),
            Some((Some(2), Some(12), None))
        );
        // The live size outside the new bounds: the nearest bound. It is
        // the live value that decides (the autoscaler moved on to 9).
        assert_eq!(
            sent(scaling_payload(
                &counts(1, 8, 7),
                Some(&at_7),
                Some(&live(1, 10, 9))
            )),
            Some((Some(1), Some(8), Some(8)))
        );
        assert_eq!(
            sent(scaling_payload(
                &counts(8, 10, 7),
                Some(&at_7),
                Some(&live(1, 10, 7))
            )),
            Some((Some(8), Some(10), Some(8)))
        );
        // Without a live value, the recorded one.
        assert_eq!(
            sent(scaling_payload(&counts(1, 5, 7), Some(&at_7), None)),
            Some((Some(1), Some(5), Some(5)))
        );
        // Owned (`lifecycle.own`): a desired size other than the recorded
        // one is sent, with the bounds.
        assert_eq!(
            sent(scaling_payload(
                &counts(1, 10, 3),
                Some(&at_7),
                Some(&live(1, 10, 7))
            )),
            Some((Some(1), Some(10), Some(3)))
        );
        // Nothing recorded (an import): the stack's counts, all of them.
        assert_eq!(
            sent(scaling_payload(
                &counts(1, 10, 3),
                None,
                Some(&live(1, 10, 7))
            )),
            Some((Some(1), Some(10), Some(3)))
        );
    }

    /// A node group as EKS reports it: `spec`'s counts, `desired` live.
    fn live_node_group(min: i32, max: i32, desired: i32) -> Nodegroup {
        Nodegroup::builder()
            .cluster_name("main")
            .nodegroup_name("workers")
            .status(NodegroupStatus::Active)
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(min)
                    .max_size(max)
                    .desired_size(desired)
                    .build(),
            )
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn an_update_of_max_leaves_the_autoscalers_desired_size_alone() {
        use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
        use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};

        // Live: the autoscaler runs 12 nodes; state read it at the refresh.
        let describe = mock!(Client::describe_nodegroup).then_output(|| {
            DescribeNodegroupOutput::builder()
                .nodegroup(live_node_group(5, 20, 12))
                .build()
        });
        let config = mock!(Client::update_nodegroup_config)
            .match_requests(|r| {
                r.scaling_config().is_some_and(|s| {
                    (s.min_size(), s.max_size(), s.desired_size()) == (Some(5), Some(30), None)
                })
            })
            .then_output(|| UpdateNodegroupConfigOutput::builder().build());
        let client = mock_client!(aws_sdk_eks, RuleMode::MatchAny, [&describe, &config]);
        let p = Typed::new(EksNodeGroup::with_client(AwsContext::new(), client));
        let with_scaling = |max: i64| {
            let mut v = good();
            v["scaling"] = serde_json::json!({"min": 5, "max": max, "desired": 12});
            Value::from_json(v)
        };
        let recorded = Existing {
            id: "main:workers".into(),
            inputs: with_scaling(20),
            outputs: Value::map(),
        };
        let ctx = OpContext::new(
            "eks_node_group.workers".parse().expect("address"),
            "tok".into(),
            Value::Null,
            ".".into(),
            Duration::from_secs(600),
            std::sync::Arc::new(|_| {}),
        );
        // As the engine hands it over: the recorded desired size kept.
        p.update(&ctx, &recorded, &with_scaling(30))
            .await
            .expect("update");
        assert_eq!(
            config.num_calls(),
            1,
            "one UpdateNodegroupConfig, no desiredSize"
        );
    }

    #[test]
    fn the_desired_size_is_set_at_create_then_the_autoscalers() {
        let schema = schema();
        let marked: Vec<String> = schema
            .set_at_create_paths()
            .iter()
            .map(|(p, a)| {
                format!(
                    "{}: {}",
                    display_path(p),
                    a.set_at_create.as_deref().unwrap_or("")
                )
            })
            .collect();
        assert_eq!(marked, ["scaling.desired: resetting it may drain nodes"]);
        let spec = read(good());
        let create = spec.scaling_config();
        assert_eq!(
            (create.min_size(), create.max_size(), create.desired_size()),
            (Some(5), Some(20), Some(5)),
            "a create sends the desired size"
        );
    }

    #[test]
    fn label_payload_adds_changes_and_removes() {
        let tags = |pairs: &[(&str, &str)]| -> Tags {
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        };
        let current = tags(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let desired = tags(&[("a", "1"), ("b", "20"), ("d", "4")]);
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
