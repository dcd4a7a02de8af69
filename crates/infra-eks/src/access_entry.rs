//! `eks_access_entry`: an EKS access entry (an IAM principal's access to
//! the cluster's Kubernetes API) together with its access-policy
//! associations: `CreateAccessEntry`, then one `AssociateAccessPolicy` per
//! policy; groups and username change with `UpdateAccessEntry`, policies by
//! associating and disassociating the difference. Access entries need the
//! cluster's authentication mode to be `API` or `API_AND_CONFIG_MAP`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{AccessEntry, AccessScope, AccessScopeType, AssociatedAccessPolicy};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use infra_aws::{AwsOp, Tags, error_code, read_tags};
use infra_core::{
    Attribute, ErrorKind, Existing, Fields, Observed, OpContext, Output, PathSeg, ProviderError,
    Request, Resource, Schema, Type, UpdateRequest, Validator, Value,
};

use crate::common::{
    ObservedInputs, already_exists, differs, id_parts, name_rule, none_if_missing, retag, revealed,
    scoped_id, tags_of, token, unimplemented, update_error,
};

/// The resource type name.
pub const TYPE_NAME: &str = "eks_access_entry";

/// The kinds of access entry EKS knows.
const TYPES: [&str; 7] = [
    "STANDARD",
    "EC2_LINUX",
    "EC2_WINDOWS",
    "FARGATE_LINUX",
    "EC2",
    "HYBRID_LINUX",
    "HYPERPOD_LINUX",
];

/// Entries for self-managed nodes: EKS grants their permissions itself and
/// takes neither Kubernetes groups nor access policies for them.
const NODE_TYPES: [&str; 2] = ["EC2_LINUX", "EC2_WINDOWS"];

/// At most this many pages of `ListAssociatedAccessPolicies` are read.
const MAX_PAGES: usize = 20;

/// What to do when the cluster's authentication mode refuses access entries.
const MODE_HINT: &str = "access entries need the cluster's authentication mode to be API or API_AND_CONFIG_MAP: set `access_config.authentication_mode = \"API_AND_CONFIG_MAP\"` (or \"API\") on the eks_cluster and apply it first";

infra_aws::resource_type! {
    /// The `eks_access_entry` resource type.
    pub struct EksAccessEntry(Client, "EKS access entry");
}

fn schema() -> Schema {
    let strings = || Type::set(Type::String);
    let policy = Type::Object(vec![
        Attribute::new("policy_arn", Type::String)
            .required()
            .validate(Validator::Arn)
            .describe("the access policy, e.g. \"arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy\""),
        Attribute::new("scope", Type::String)
            .default("cluster")
            .validate(Validator::one_of(AccessScopeType::values()))
            .describe("where the policy applies: the whole \"cluster\", or the `namespaces` listed (\"namespace\")"),
        Attribute::new("namespaces", strings())
            .describe("the namespaces of a scope = \"namespace\" policy (required then, and only then)"),
    ]);
    Schema::new(TYPE_NAME)
        .attribute(
            Attribute::new("cluster", Type::String)
                .required()
                .forces_replacement()
                .validate(name_rule(100))
                .describe("the name of the EKS cluster the entry gives access to"),
        )
        .attribute(
            Attribute::new("principal_arn", Type::String)
                .required()
                .forces_replacement()
                .validate(Validator::Arn)
                .describe("the IAM role or user that gets access"),
        )
        .attribute(
            Attribute::new("type", Type::String)
                .default("STANDARD")
                .forces_replacement()
                .validate(Validator::one_of(&TYPES))
                .describe("STANDARD for people and workloads; EC2_LINUX, EC2_WINDOWS, FARGATE_LINUX, EC2, HYBRID_LINUX or HYPERPOD_LINUX for node roles"),
        )
        .attribute(
            Attribute::new("kubernetes_groups", strings())
                .describe("Kubernetes groups the principal is in, for RBAC bindings (not for EC2_LINUX or EC2_WINDOWS entries); changed in place"),
        )
        .attribute(
            Attribute::new("username", Type::String)
                .computed()
                .describe("the Kubernetes username of the principal; changed in place; unset: EKS's choice (recommended)"),
        )
        .attribute(
            Attribute::new("policies", Type::set(policy))
                .describe("EKS access policies associated with the entry, each once (not for EC2_LINUX or EC2_WINDOWS entries); changed in place"),
        )
        .attribute(
            Attribute::new("tags", Type::map(Type::String)).describe("tags on the access entry"),
        )
        .output(Output::new("arn", Type::String, "the access entry's ARN"))
        .output(Output::new(
            "username",
            Type::String,
            "the Kubernetes username EKS maps the principal to",
        ))
}

/// One access-policy association.
#[derive(Clone, Debug, PartialEq)]
struct PolicySpec {
    policy_arn: String,
    /// `cluster` or `namespace`.
    scope: String,
    /// Sorted, without repeats; empty for a cluster scope.
    namespaces: Vec<String>,
}

impl PolicySpec {
    fn new(policy_arn: String, scope: String, mut namespaces: Vec<String>) -> Self {
        namespaces.sort();
        namespaces.dedup();
        PolicySpec {
            policy_arn,
            scope,
            namespaces,
        }
    }

    fn from_sdk(p: &AssociatedAccessPolicy) -> PolicySpec {
        let scope = p.access_scope();
        let kind = scope
            .and_then(|s| s.r#type())
            .map_or("cluster", |t| t.as_str());
        let namespaces = scope.map(|s| s.namespaces().to_vec()).unwrap_or_default();
        let arn = p.policy_arn().unwrap_or_default().to_owned();
        PolicySpec::new(arn, kind.to_owned(), namespaces)
    }

    fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert(
            "policy_arn".to_owned(),
            Value::from(self.policy_arn.as_str()),
        );
        m.insert("scope".to_owned(), Value::from(self.scope.as_str()));
        if self.scope == "namespace" {
            m.insert(
                "namespaces".to_owned(),
                infra_core::string_list(&self.namespaces),
            );
        }
        Value::Map(m)
    }

    fn scope_sdk(&self) -> AccessScope {
        let namespaced = self.scope == "namespace";
        AccessScope::builder()
            .r#type(AccessScopeType::from(self.scope.as_str()))
            .set_namespaces(namespaced.then(|| self.namespaces.clone()))
            .build()
    }
}

/// The inputs of an access entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    cluster: String,
    principal_arn: String,
    kind: String,
    kubernetes_groups: Vec<String>,
    username: Option<String>,
    policies: Vec<PolicySpec>,
    tags: Tags,
}

fn parse(f: &mut Fields<'_>) -> Spec {
    let cluster = f.required_string("cluster");
    let principal_arn = f.required_string("principal_arn");
    let kind = f.string_or("type", "STANDARD");
    let kubernetes_groups = f.strings("kubernetes_groups");
    let username = f.string("username");
    // Where each table sits in the list, for problems at its path.
    let at: Vec<usize> = f
        .inputs()
        .get("policies")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(v, Value::Map(_)))
        .map(|(i, _)| i)
        .collect();
    let policies = f.tables("policies", policy);
    for (n, p) in policies.iter().enumerate() {
        let (Some(p), Some(&i)) = (p, at.get(n)) else {
            continue;
        };
        // The same association twice is the set's own rule.
        let mut earlier = policies[..n].iter().flatten();
        if !earlier.clone().any(|e| e == p) && earlier.any(|e| e.policy_arn == p.policy_arn) {
            f.problem(
                &[
                    PathSeg::Key("policies".into()),
                    PathSeg::Index(i),
                    PathSeg::Key("policy_arn".into()),
                ],
                format!(
                    "policy {} is listed twice: EKS associates a policy once per access entry, with one scope",
                    p.policy_arn
                ),
            );
        }
    }
    if NODE_TYPES.contains(&kind.as_str()) && !f.is_unknown("type") {
        let why = format!(
            "EKS takes none for a {kind} access entry (it grants node permissions itself): remove it, or use type = \"STANDARD\""
        );
        if kubernetes_groups.as_ref().is_some_and(|g| !g.is_empty()) {
            f.problem_at("kubernetes_groups", why.clone());
        }
        if !policies.is_empty() {
            f.problem_at("policies", why);
        }
    }
    Spec {
        cluster,
        principal_arn,
        kind,
        kubernetes_groups: kubernetes_groups.unwrap_or_default(),
        username,
        policies: policies.into_iter().flatten().collect(),
        tags: read_tags(f, "tags"),
    }
}

/// One policy; `None` while a part of it is not known.
fn policy(p: &mut Fields<'_>) -> Option<PolicySpec> {
    let policy_arn = p.required_string("policy_arn");
    let scope = p.string_or("scope", "cluster");
    let given = p.is_set("namespaces");
    let namespaces = p.strings("namespaces");
    if !p.is_unknown("scope") {
        match scope.as_str() {
            "namespace" if !given || namespaces.as_ref().is_some_and(Vec::is_empty) => p
                .problem_at(
                    "namespaces",
                    "a policy with scope = \"namespace\" needs `namespaces`: the namespaces it applies in",
                ),
            "cluster" if given => p.problem_at(
                "namespaces",
                "`namespaces` is only for scope = \"namespace\" (a cluster-scoped policy applies in every namespace): remove it, or set scope = \"namespace\"",
            ),
            _ => {}
        }
    }
    let known = ["policy_arn", "scope", "namespaces"]
        .iter()
        .all(|k| !p.is_unknown(k));
    known.then(|| PolicySpec::new(policy_arn, scope, namespaces.unwrap_or_default()))
}

impl Spec {
    fn id(&self) -> String {
        scoped_id(&self.cluster, &self.principal_arn)
    }
}

/// `err` with what to do when the cluster's authentication mode is why.
fn with_mode_hint(err: ProviderError) -> ProviderError {
    if err
        .message
        .to_ascii_lowercase()
        .contains("authentication mode")
    {
        ProviderError::new(ErrorKind::Invalid, err.message).hint(MODE_HINT)
    } else {
        err
    }
}

/// A failed call of `op` while `doing`, classified, with the mode hint.
fn failed<E>(op: &AwsOp<Client>, doing: &str, err: &SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    with_mode_hint(op.failed(doing, err))
}

/// What EKS reports, as inputs, normalised against `reference`.
fn observed(entry: &AccessEntry, policies: &[PolicySpec], reference: &Value) -> Observed {
    let mut inputs = ObservedInputs::new(reference);
    let given = |k: &str| inputs.given(k).and_then(Value::as_str).map(str::to_owned);
    let cluster = entry
        .cluster_name()
        .map(str::to_owned)
        .or_else(|| given("cluster"));
    let principal = entry.principal_arn().map(str::to_owned);
    let principal = principal.or_else(|| given("principal_arn"));
    let (cluster, principal) = (cluster.unwrap_or_default(), principal.unwrap_or_default());
    inputs.set("cluster", Value::String(cluster.clone()));
    inputs.set("principal_arn", Value::String(principal.clone()));
    inputs.set_or_given("type", entry.r#type().map(Value::from));
    inputs.optional_set_of("kubernetes_groups", entry.kubernetes_groups());
    // Always reported: `username` is computed, so the name EKS picked is
    // recorded, and a stack that leaves it unset keeps it.
    inputs.set_or_given("username", entry.username().map(Value::from));
    let policies = policies.iter().map(PolicySpec::to_value).collect();
    inputs.optional_objects("policies", policies);
    inputs.optional_map("tags", &tags_of(entry.tags()));

    let text = |s: Option<&str>| s.map_or(Value::Null, Value::from);
    let outputs: Value = [
        ("arn", text(entry.access_entry_arn())),
        ("username", text(entry.username())),
    ]
    .into_iter()
    .collect();
    Observed {
        id: scoped_id(&cluster, &principal),
        inputs: inputs.finish(),
        outputs,
    }
}

/// Describes an access entry; `None` when it (or its cluster) does not exist.
async fn describe(
    op: &AwsOp<Client>,
    cluster: &str,
    principal: &str,
    doing: &str,
) -> Result<Option<AccessEntry>, ProviderError> {
    let call = op
        .client
        .describe_access_entry()
        .cluster_name(cluster)
        .principal_arn(principal);
    let what = format!("{doing} {}", op.what);
    let answer = none_if_missing(&what, call.send().await).map_err(with_mode_hint)?;
    Ok(answer.and_then(|out| out.access_entry))
}

/// The policies associated with the entry; `None` when it is gone.
async fn associations(
    op: &AwsOp<Client>,
    cluster: &str,
    principal: &str,
    doing: &str,
) -> Result<Option<Vec<PolicySpec>>, ProviderError> {
    let what = format!("{doing} the access policies of {}", op.what);
    let mut out = Vec::new();
    let mut next = None;
    for _ in 0..MAX_PAGES {
        let call = op
            .client
            .list_associated_access_policies()
            .cluster_name(cluster)
            .principal_arn(principal)
            .set_next_token(next);
        let answer = none_if_missing(&what, call.send().await).map_err(with_mode_hint)?;
        let Some(page) = answer else {
            return Ok(None);
        };
        let policies = page.associated_access_policies().iter();
        out.extend(policies.map(PolicySpec::from_sdk));
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    Ok(Some(out))
}

/// The entry and its policies as observed; `None` when it is gone.
async fn read_back(
    op: &AwsOp<Client>,
    cluster: &str,
    principal: &str,
    doing: &str,
    reference: &Value,
) -> infra_core::ReadResult {
    let Some(entry) = describe(op, cluster, principal, doing).await? else {
        return Ok(None);
    };
    let Some(policies) = associations(op, cluster, principal, doing).await? else {
        return Ok(None);
    };
    Ok(Some(observed(&entry, &policies, reference)))
}

/// Brings the entry's policies from `current` to `desired`: associates the
/// new ones and those whose scope changed (associating again replaces the
/// scope), then disassociates those that went, so a principal is never left
/// without a policy it keeps.
async fn sync_policies(
    op: &AwsOp<Client>,
    spec: &Spec,
    current: &[PolicySpec],
) -> Result<(), ProviderError> {
    for p in spec.policies.iter().filter(|p| !current.contains(p)) {
        let doing = format!("associating {} with", p.policy_arn);
        op.client
            .associate_access_policy()
            .cluster_name(&spec.cluster)
            .principal_arn(&spec.principal_arn)
            .policy_arn(&p.policy_arn)
            .access_scope(p.scope_sdk())
            .send()
            .await
            .map_err(|e| failed(op, &doing, &e))?;
    }
    let kept = |c: &&PolicySpec| spec.policies.iter().any(|p| p.policy_arn == c.policy_arn);
    for p in current.iter().filter(|c| !kept(c)) {
        let doing = format!("disassociating {} from", p.policy_arn);
        let call = op
            .client
            .disassociate_access_policy()
            .cluster_name(&spec.cluster)
            .principal_arn(&spec.principal_arn)
            .policy_arn(&p.policy_arn);
        none_if_missing(&format!("{doing} {}", op.what), call.send().await)
            .map_err(with_mode_hint)?;
    }
    Ok(())
}

#[async_trait]
impl Resource for EksAccessEntry {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        schema()
    }

    fn parse(&self, fields: &mut Fields<'_>) -> Spec {
        revealed(fields, parse)
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, &spec.id()).await?;
        let groups = spec.kubernetes_groups.clone();
        let tags = (!spec.tags.is_empty()).then(|| spec.tags.clone().into_iter().collect());
        let call = op
            .client
            .create_access_entry()
            .cluster_name(&spec.cluster)
            .principal_arn(&spec.principal_arn)
            .r#type(&spec.kind)
            .set_kubernetes_groups((!groups.is_empty()).then_some(groups))
            .set_username(spec.username.clone())
            .set_tags(tags)
            .set_client_request_token(token(ctx, ""));
        let current = match call.send().await {
            Ok(_) => Vec::new(),
            Err(err) if unimplemented(&err) => {
                let what = format!("creating {}", op.what);
                return Err(update_error(&what, "CreateAccessEntry", &err));
            }
            Err(err) => {
                let mapped = failed(&op, "creating", &err);
                if error_code(&err) == Some("ResourceInUseException")
                    && already_exists(&mapped.message)
                {
                    // Made by an earlier attempt: adopt it, with the
                    // policies it has.
                    let listed = associations(&op, &spec.cluster, &spec.principal_arn, "creating");
                    listed
                        .await?
                        .ok_or_else(|| op.not_visible_yet("creating"))?
                } else if mapped.kind == ErrorKind::NotFound {
                    return Err(ProviderError::new(ErrorKind::Invalid, mapped.message)
                        .hint("create the cluster first"));
                } else {
                    return Err(mapped);
                }
            }
        };
        sync_policies(&op, spec, &current).await?;
        read_back(&op, &spec.cluster, &spec.principal_arn, "reading", inputs)
            .await?
            .ok_or_else(|| op.not_visible_yet("creating"))
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let (cluster, principal) = id_parts(existing, "cluster", "principal_arn");
        let op = self.op(ctx, &scoped_id(&cluster, &principal)).await?;
        read_back(&op, &cluster, &principal, "reading", &existing.inputs).await
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, &spec.id()).await?;
        read_back(
            &op,
            &spec.cluster,
            &spec.principal_arn,
            "looking for",
            inputs,
        )
        .await
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, new, inputs) = op.parts();
        let op = self.op(ctx, &new.id()).await?;
        let (cluster, principal) = (&new.cluster, &new.principal_arn);
        // Compared as recorded; sets as sets.
        let (old, schema) = (&existing.inputs, schema());
        let changed = |key: &str| match schema.input(key) {
            Some(a) if matches!(a.ty, Type::Set(_)) => {
                let get = |v: &Value| {
                    let given = v.get(key).filter(|v| !matches!(v, Value::Null));
                    given.cloned().unwrap_or(Value::List(Vec::new()))
                };
                !a.ty.same(&get(old), &get(inputs))
            }
            _ => differs(old.get(key), inputs.get(key)),
        };

        if changed("kubernetes_groups") || changed("username") {
            // The whole list of groups (an empty one removes every group);
            // the username only when it changed, so the one EKS picked is
            // never sent back as if chosen.
            op.client
                .update_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal)
                .set_kubernetes_groups(Some(new.kubernetes_groups.clone()))
                .set_username(new.username.clone().filter(|_| changed("username")))
                .set_client_request_token(token(ctx, "entry"))
                .send()
                .await
                .map_err(|e| failed(&op, "updating", &e))?;
        }
        if changed("policies") {
            // Against what the entry has, so changes made outside infra
            // converge too.
            let current = associations(&op, cluster, principal, "updating").await?;
            let current = current.ok_or_else(|| op.gone("updating"))?;
            sync_policies(&op, new, &current).await?;
        }
        if changed("tags") {
            let entry = describe(&op, cluster, principal, "updating").await?;
            let entry = entry.ok_or_else(|| op.gone("updating"))?;
            let arn = entry.access_entry_arn().ok_or_else(|| {
                let message = format!("{}: EKS reported no ARN", op.what);
                ProviderError::new(ErrorKind::Invalid, message)
            })?;
            retag(&op.client, arn, &op.what, &tags_of(entry.tags()), &new.tags).await?;
        }
        read_back(&op, cluster, principal, "reading", inputs)
            .await?
            .ok_or_else(|| op.gone("updating"))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let (cluster, principal) = id_parts(existing, "cluster", "principal_arn");
        let op = self.op(ctx, &scoped_id(&cluster, &principal)).await?;
        // The policy associations go with the entry.
        let call = op
            .client
            .delete_access_entry()
            .cluster_name(&cluster)
            .principal_arn(&principal);
        let what = format!("deleting {}", op.what);
        none_if_missing(&what, call.send().await).map_err(with_mode_hint)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use infra_core::Typed;

    use super::*;
    use infra_aws::AwsContext;

    /// The plan-time problems, as the planner finds them.
    fn check(inputs: serde_json::Value) -> Vec<String> {
        let provider = Typed::new(EksAccessEntry::new(AwsContext::new()));
        infra_aws::testing::plan_problems(&provider, &Value::from_json(inputs))
    }

    #[test]
    fn node_entries_take_no_groups_or_policies() {
        let got = check(serde_json::json!({
            "cluster": "main",
            "principal_arn": "arn:aws:iam::123456789012:role/nodes",
            "type": "EC2_LINUX",
            "kubernetes_groups": ["ops"],
            "policies": [{"policy_arn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy", "scope": "cluster"}],
        }));
        let paths: Vec<&str> = got
            .iter()
            .map(|s| s.split(" | ").next().unwrap_or(""))
            .collect();
        assert_eq!(paths, ["kubernetes_groups", "policies"], "{got:#?}");
        assert!(
            got[0].contains("EKS takes none for a EC2_LINUX access entry"),
            "{got:#?}"
        );
    }

    #[test]
    fn a_policy_is_associated_once() {
        let arn = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
        let got = check(serde_json::json!({
            "cluster": "main",
            "principal_arn": "arn:aws:iam::123456789012:role/ops",
            "type": "STANDARD",
            "policies": [
                {"policy_arn": arn, "scope": "cluster"},
                {"policy_arn": arn, "scope": "namespace", "namespaces": ["a"]},
            ],
        }));
        assert_eq!(
            got,
            [format!(
                "policies[1].policy_arn | policy {arn} is listed twice: EKS associates a policy once per access entry, with one scope"
            )]
        );
    }
}
