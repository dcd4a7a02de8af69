//! The Provider trait: how the engine asks a resource type to change the cloud.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{Address, Schema, Value};

/// The operations the engine performs on resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Make a new resource.
    Create,
    /// Read what exists.
    Read,
    /// Change an existing resource in place.
    Update,
    /// Remove a resource.
    Delete,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpKind::Create => "create",
            OpKind::Read => "read",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
        })
    }
}

/// Everything a provider call may need besides the resource's own inputs.
#[derive(Clone)]
pub struct OpContext {
    /// The resource being worked on.
    pub address: Address,
    /// An idempotency token derived from the journal's intent record: the
    /// same operation retried after a crash carries the same token, so a
    /// provider can pass it to the cloud (EKS `clientRequestToken`) or find
    /// what the first attempt made.
    pub token: String,
    /// The stack's settings table for this provider (e.g. `[aws]`), with
    /// variables already substituted; `Null` when the stack has none.
    pub settings: Value,
    /// The project root, for settings that name paths.
    pub root: PathBuf,
    /// How long the operation may take before it is abandoned.
    pub timeout: Duration,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
}

impl OpContext {
    /// A context; `progress` receives the provider's progress messages.
    pub fn new(
        address: Address,
        token: String,
        settings: Value,
        root: PathBuf,
        timeout: Duration,
        progress: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Self {
        OpContext {
            address,
            token,
            settings,
            root,
            timeout,
            progress,
        }
    }

    /// Reports progress of a long operation ("waiting for ACTIVE").
    pub fn progress(&self, message: &str) {
        (self.progress)(message)
    }
}

impl fmt::Debug for OpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpContext")
            .field("address", &self.address)
            .field("token", &self.token)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What plan-time checks may look at besides the inputs: the project on
/// disk and the provider's settings, never the cloud.
#[derive(Clone, Copy, Debug)]
pub struct CheckContext<'a> {
    /// The project root, against which inputs that name files resolve.
    pub root: &'a Path,
    /// The stack's settings table for this provider; `Null` when none.
    pub settings: &'a Value,
}

/// Another resource of the stack, as planned: its address and its inputs
/// (values not known yet are `Value::Unknown`).
#[derive(Clone, Copy, Debug)]
pub struct Peer<'a> {
    /// Its address.
    pub address: &'a crate::Address,
    /// Its planned inputs.
    pub inputs: &'a Value,
}

/// The resources a [`Provider::check_peers`] check may look at.
pub trait Peers {
    /// The resource that this one's input `attr` names by a whole-string
    /// reference (`vpc_id = "${vpc.main.id}"`), if it does.
    fn referenced(&self, attr: &str) -> Option<Peer<'_>>;

    /// The other resources of this one's type whose input `attr` names
    /// the same resource as this one's (the other subnets of its VPC).
    fn siblings(&self, attr: &str) -> Vec<Peer<'_>>;
}

/// A resource as the engine last recorded it, handed to read, update and delete.
#[derive(Clone, Debug, PartialEq)]
pub struct Existing {
    /// The cloud's identifier.
    pub id: String,
    /// The inputs as last applied (secrets only as digests).
    pub inputs: Value,
    /// The outputs as last observed.
    pub outputs: Value,
}

/// What a read (or a recovery's find) returns: the object, or `None` when
/// there is none.
pub type ReadResult = Result<Option<Observed>, ProviderError>;

/// What a provider saw in the cloud after an operation or a read.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// The cloud's identifier.
    pub id: String,
    /// The inputs as they are in the cloud, for drift detection. A provider
    /// copies those it cannot read back (e.g. a password) from what it was given.
    pub inputs: Value,
    /// The computed outputs, a map keyed by output name.
    pub outputs: Value,
}

/// Why a provider call failed, which decides what the engine does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The cloud asked us to slow down: retry with backoff.
    Throttled,
    /// A transient failure (5xx, a conflicting operation in progress): retry.
    Transient,
    /// The resource does not exist.
    NotFound,
    /// The request is wrong; retrying will not help. The message says why.
    Invalid,
    /// The resource did not become ready within its timeout.
    Timeout,
    /// Any other permanent failure.
    Failed,
}

impl ErrorKind {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Throttled | ErrorKind::Transient)
    }
}

/// An error from a provider call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What happened, with the cloud's own message when there is one.
    pub message: String,
}

impl ProviderError {
    /// An error of a kind with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
        }
    }

    /// The error with what to do about it appended: "…; delete that first".
    pub fn hint(mut self, hint: &str) -> Self {
        self.message.push_str("; ");
        self.message.push_str(hint);
        self
    }
}

/// One resource type's implementation.
///
/// Every operation must be idempotent: the engine may call it again after a
/// crash or a retry ("reconcilers may be recalled").
#[async_trait]
pub trait Provider: Send + Sync {
    /// The type's schema; its `type_name` is the type in addresses.
    fn schema(&self) -> &Schema;

    /// The stack file's table holding this provider's settings (`aws`, `sim`),
    /// if it has one. Such tables are allowed at the top of a stack file.
    fn settings_section(&self) -> Option<&str> {
        None
    }

    /// Problems of the stack's settings table for this provider (`[aws]`),
    /// found when the stack is loaded, each at a path into the table (see
    /// [`settings_problems`]). A provider reading settings should check
    /// them here, or a typo is only found when the cloud is first called.
    fn check_settings(&self, _settings: &Value) -> Vec<(crate::ValuePath, String)> {
        Vec::new()
    }

    /// Checks beyond the schema's types, at plan time (e.g. S3 lifecycle
    /// rules). Each problem is a path into the inputs and a message.
    fn validate(&self, _inputs: &Value) -> Vec<(crate::ValuePath, String)> {
        Vec::new()
    }

    /// [`validate`](Provider::validate) plus checks that read local files
    /// the inputs name (a Helm chart's values schema). The engine calls
    /// this one; override it only when the project or settings matter.
    fn validate_in(
        &self,
        _project: &CheckContext<'_>,
        inputs: &Value,
    ) -> Vec<(crate::ValuePath, String)> {
        self.validate(inputs)
    }

    /// Checks that span resources, once every resource of the stack is
    /// planned: `peers` gives the resources this one references and its
    /// siblings (a subnet's block must lie inside its VPC's and apart from
    /// the other subnets of that VPC). Problems are at paths into `inputs`.
    fn check_peers(&self, _inputs: &Value, _peers: &dyn Peers) -> Vec<(crate::ValuePath, String)> {
        Vec::new()
    }

    /// Whether a resource as recorded may be deleted (or replaced), checked
    /// at plan time so a plan that cannot succeed is refused before anything
    /// changes. `Err` says what the user must change first, e.g. "set
    /// deletion_protection = false and apply, then destroy".
    fn deletable(&self, _existing: &Existing) -> Result<(), String> {
        Ok(())
    }

    /// How long an operation may take when the stack sets no
    /// `lifecycle.timeouts` (Terraform's defaults are a good start).
    fn default_timeout(&self, _op: OpKind) -> Duration {
        Duration::from_secs(60 * 60)
    }

    /// How long an operation is expected to take, for the plan's estimate.
    fn estimate(&self, _op: OpKind, _inputs: &Value) -> Duration {
        Duration::from_secs(1)
    }

    /// Called when the journal proves that an operation of infra's own on
    /// this resource was interrupted (an intent without a result), before
    /// the engine reads the cloud to learn what it did. A provider whose
    /// cloud holds a lock for an unfinished operation (a Helm release left
    /// `pending-upgrade`) releases it here, and says what it did. `inputs`
    /// are the interrupted operation's, or the recorded ones for a delete.
    async fn interrupted(
        &self,
        _ctx: &OpContext,
        _op: OpKind,
        _inputs: &Value,
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    /// Creates the resource and waits until it is usable.
    async fn create(&self, ctx: &OpContext, inputs: &Value) -> Result<Observed, ProviderError>;

    /// Reads the resource; `None` when it no longer exists.
    async fn read(&self, ctx: &OpContext, existing: &Existing) -> ReadResult;

    /// Finds a resource an interrupted create may have made, by its
    /// deterministic name, idempotency token (`ctx.token`) or tags.
    async fn find(&self, ctx: &OpContext, inputs: &Value) -> ReadResult;

    /// Changes the resource in place to match `inputs`.
    async fn update(
        &self,
        ctx: &OpContext,
        existing: &Existing,
        inputs: &Value,
    ) -> Result<Observed, ProviderError>;

    /// Deletes the resource and waits until it is gone. Deleting what is
    /// already gone succeeds.
    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError>;
}

/// The problems of a settings table, found by running `parse` (a
/// provider's own settings parser, which stops at the first problem) on
/// each key alone, so that each is reported at its key.
pub fn settings_problems(
    table: &Value,
    parse: impl Fn(&Value) -> Option<String>,
) -> Vec<(crate::ValuePath, String)> {
    match table {
        Value::Null => Vec::new(),
        Value::Map(m) => m
            .iter()
            .filter_map(|(k, v)| {
                let alone: Value = [(k.as_str(), v.clone())].into_iter().collect();
                parse(&alone).map(|e| (vec![crate::PathSeg::Key(k.clone())], e))
            })
            .collect(),
        other => parse(other).map(|e| (Vec::new(), e)).into_iter().collect(),
    }
}

/// What an engine knows: resource types by type name, and state backends
/// by location scheme (`s3`); and, for types a build leaves out, how to
/// get a build that has them.
#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    backends: BTreeMap<String, Arc<dyn crate::BackendFactory>>,
    hints: BTreeMap<String, String>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds a provider under its schema's type name.
    pub fn register(&mut self, provider: Arc<dyn Provider>) -> &mut Self {
        let name = provider.schema().type_name.clone();
        self.providers.insert(name, provider);
        self
    }

    /// Adds a state backend under its scheme.
    pub fn register_backend(&mut self, factory: Arc<dyn crate::BackendFactory>) -> &mut Self {
        self.backends.insert(factory.scheme().to_owned(), factory);
        self
    }

    /// Says what to do about `type_name` when a stack uses it and this
    /// registry has no provider for it (a type left out of this build,
    /// say): the unknown-type diagnostic shows `hint` instead of the
    /// known types.
    pub fn register_hint(
        &mut self,
        type_name: impl Into<String>,
        hint: impl Into<String>,
    ) -> &mut Self {
        self.hints.insert(type_name.into(), hint.into());
        self
    }

    /// The hint registered for a type, if any (see
    /// [`Registry::register_hint`]).
    pub fn hint(&self, type_name: &str) -> Option<&str> {
        self.hints.get(type_name).map(String::as_str)
    }

    /// The backend factory of a scheme (`s3`).
    pub fn backend(&self, scheme: &str) -> Option<&Arc<dyn crate::BackendFactory>> {
        self.backends.get(scheme)
    }

    /// The schemes of every registered backend, sorted.
    pub fn backend_schemes(&self) -> impl Iterator<Item = &str> {
        self.backends.keys().map(String::as_str)
    }

    /// Every provider, by type name.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.providers.values()
    }

    /// The provider of a type.
    pub fn get(&self, type_name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(type_name)
    }

    /// All type names, sorted.
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    /// The settings sections providers declare, sorted and deduplicated.
    pub fn settings_sections(&self) -> Vec<&str> {
        let mut s: Vec<&str> = self
            .providers
            .values()
            .filter_map(|p| p.settings_section())
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.providers.keys()).finish()
    }
}
