//! One way to define a resource type: a schema, a typed spec parsed once
//! from the inputs, and the operations on that spec. [`Typed`] turns a
//! [`Resource`] into the engine's [`Provider`]: plan-time validation is the
//! spec's parse (so a rule is written once and its message is the same at
//! plan and apply), and every operation receives the parsed spec.
//!
//! ```ignore
//! struct Bucket;
//! #[async_trait]
//! impl Resource for Bucket {
//!     type Spec = BucketSpec;
//!     fn schema(&self) -> Schema { ... }
//!     fn parse(&self, f: &mut Fields<'_>) -> BucketSpec { ... }
//!     async fn create(&self, op: Request<'_, BucketSpec>) -> Result<Observed, ProviderError> { ... }
//!     ...
//! }
//! registry.register(Arc::new(Typed::new(Bucket)));
//! ```

use std::time::Duration;

use async_trait::async_trait;

use crate::fields::{Fields, Phase};
use crate::{
    CheckContext, Existing, Observed, OpContext, OpKind, Peers, Provider, ProviderError, Schema,
    Value, ValuePath,
};

/// A settings table of the stack file (`[aws]`, `[helm]`): its name, and
/// the check of its keys, run when the stack loads.
#[derive(Clone, Copy, Debug)]
pub struct SettingsTable {
    /// The table's name.
    pub section: &'static str,
    /// Its problems, each at a path into the table.
    pub check: fn(&Value) -> Vec<(ValuePath, String)>,
}

/// A create or a find: the operation's context, the spec, and the inputs
/// it was parsed from (the observed inputs may copy from them what the
/// cloud cannot return, such as a password).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a, S> {
    /// The operation's context.
    pub ctx: &'a OpContext,
    /// The inputs, typed.
    pub spec: &'a S,
    /// The inputs as given.
    pub inputs: &'a Value,
}

impl<'a, S> Request<'a, S> {
    /// `(ctx, spec, inputs)`.
    pub fn parts(self) -> (&'a OpContext, &'a S, &'a Value) {
        (self.ctx, self.spec, self.inputs)
    }
}

/// An update: a [`Request`] for the resource as last recorded.
#[derive(Clone, Copy, Debug)]
pub struct UpdateRequest<'a, S> {
    /// The operation's context.
    pub ctx: &'a OpContext,
    /// The resource as last recorded.
    pub existing: &'a Existing,
    /// The desired inputs, typed.
    pub spec: &'a S,
    /// The desired inputs as given.
    pub inputs: &'a Value,
}

impl<'a, S> UpdateRequest<'a, S> {
    /// `(ctx, existing, spec, inputs)`.
    pub fn parts(self) -> (&'a OpContext, &'a Existing, &'a S, &'a Value) {
        (self.ctx, self.existing, self.spec, self.inputs)
    }
}

/// A resource type written against a typed spec. The optional methods
/// mirror [`Provider`]'s and default the same way.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The inputs, typed.
    type Spec: Send + Sync;

    /// The type's schema (built once, by [`Typed::new`]).
    fn schema(&self) -> Schema;

    /// Reads the spec out of the inputs, recording every problem (types,
    /// rules, combinations) in `fields` at its path. Called at plan time
    /// with values that may be unknown, and before each operation.
    fn parse(&self, fields: &mut Fields<'_>) -> Self::Spec;

    /// The stack file's settings table this type reads, if any (shared by
    /// every type of a cloud: `infra_aws::AWS_SETTINGS`).
    fn settings(&self) -> Option<SettingsTable> {
        None
    }

    /// Plan-time checks that read local files the inputs name.
    fn check_project(
        &self,
        _project: &CheckContext<'_>,
        _spec: &Self::Spec,
    ) -> Vec<(ValuePath, String)> {
        Vec::new()
    }

    /// See [`Provider::check_peers`].
    fn check_peers(&self, _inputs: &Value, _peers: &dyn Peers) -> Vec<(ValuePath, String)> {
        Vec::new()
    }

    /// See [`Provider::deletable`].
    fn deletable(&self, _existing: &Existing) -> Result<(), String> {
        Ok(())
    }

    /// See [`Provider::default_timeout`]. Five minutes: enough for a
    /// cloud API that answers at once; types that wait for the cloud say
    /// how long.
    fn default_timeout(&self, _op: OpKind) -> Duration {
        Duration::from_secs(5 * 60)
    }

    /// See [`Provider::estimate`]: a second to read, three to change.
    fn estimate(&self, op: OpKind, _inputs: &Value) -> Duration {
        Duration::from_secs(if op == OpKind::Read { 1 } else { 3 })
    }

    /// See [`Provider::interrupted`].
    async fn interrupted(
        &self,
        _ctx: &OpContext,
        _op: OpKind,
        _inputs: &Value,
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    /// Creates the resource from `spec` (parsed from `inputs`, which the
    /// observed inputs may copy what the cloud cannot return from).
    async fn create(&self, op: Request<'_, Self::Spec>) -> Result<Observed, ProviderError>;

    /// Reads the resource; `None` when it no longer exists.
    async fn read(&self, ctx: &OpContext, existing: &Existing) -> crate::ReadResult;

    /// Finds what an interrupted create of `spec` may have made.
    async fn find(&self, op: Request<'_, Self::Spec>) -> crate::ReadResult;

    /// Changes the resource in place to match `spec`.
    async fn update(&self, op: UpdateRequest<'_, Self::Spec>) -> Result<Observed, ProviderError>;

    /// Deletes the resource; deleting what is gone succeeds.
    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError>;
}

/// A [`Resource`] as a [`Provider`].
pub struct Typed<R: Resource> {
    resource: R,
    schema: Schema,
    settings: Option<SettingsTable>,
}

impl<R: Resource> Typed<R> {
    /// Wraps `resource`, building its schema once.
    pub fn new(resource: R) -> Self {
        let schema = resource.schema();
        let settings = resource.settings();
        Typed {
            resource,
            schema,
            settings,
        }
    }

    /// The type reading the stack's settings table `table` (every type of a
    /// cloud shares one: `infra_aws::AWS_SETTINGS`), whatever
    /// [`Resource::settings`] says.
    pub fn with_settings(mut self, table: SettingsTable) -> Self {
        self.settings = Some(table);
        self
    }

    /// The wrapped resource.
    pub fn resource(&self) -> &R {
        &self.resource
    }

    /// The spec for an operation: every value known, every rule met.
    fn spec(&self, ctx: &OpContext, inputs: &Value) -> Result<R::Spec, ProviderError> {
        let mut fields = Fields::new(inputs, Phase::Apply);
        let spec = self.resource.parse(&mut fields);
        fields.finish(&ctx.address.to_string(), spec)
    }
}

impl<R: Resource + Default> Default for Typed<R> {
    fn default() -> Self {
        Typed::new(R::default())
    }
}

impl<R: Resource> std::fmt::Debug for Typed<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typed")
            .field("type", &self.schema.type_name)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<R: Resource> Provider for Typed<R> {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn settings_section(&self) -> Option<&str> {
        self.settings.map(|t| t.section)
    }

    fn check_settings(&self, settings: &Value) -> Vec<(ValuePath, String)> {
        self.settings.map_or_else(Vec::new, |t| (t.check)(settings))
    }

    fn validate(&self, inputs: &Value) -> Vec<(ValuePath, String)> {
        let mut fields = Fields::new(inputs, Phase::Plan);
        self.resource.parse(&mut fields);
        fields.into_problems()
    }

    fn validate_in(&self, project: &CheckContext<'_>, inputs: &Value) -> Vec<(ValuePath, String)> {
        let mut fields = Fields::new(inputs, Phase::Plan);
        let spec = self.resource.parse(&mut fields);
        let mut problems = fields.into_problems();
        if problems.is_empty() {
            problems = self.resource.check_project(project, &spec);
        }
        problems
    }

    fn check_peers(&self, inputs: &Value, peers: &dyn Peers) -> Vec<(ValuePath, String)> {
        self.resource.check_peers(inputs, peers)
    }

    fn deletable(&self, existing: &Existing) -> Result<(), String> {
        self.resource.deletable(existing)
    }

    fn default_timeout(&self, op: OpKind) -> Duration {
        self.resource.default_timeout(op)
    }

    fn estimate(&self, op: OpKind, inputs: &Value) -> Duration {
        self.resource.estimate(op, inputs)
    }

    async fn interrupted(
        &self,
        ctx: &OpContext,
        op: OpKind,
        inputs: &Value,
    ) -> Result<Option<String>, ProviderError> {
        self.resource.interrupted(ctx, op, inputs).await
    }

    async fn create(&self, ctx: &OpContext, inputs: &Value) -> Result<Observed, ProviderError> {
        let spec = self.spec(ctx, inputs)?;
        let op = Request {
            ctx,
            spec: &spec,
            inputs,
        };
        self.resource.create(op).await
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> crate::ReadResult {
        self.resource.read(ctx, existing).await
    }

    async fn find(&self, ctx: &OpContext, inputs: &Value) -> crate::ReadResult {
        let spec = self.spec(ctx, inputs)?;
        let op = Request {
            ctx,
            spec: &spec,
            inputs,
        };
        self.resource.find(op).await
    }

    async fn update(
        &self,
        ctx: &OpContext,
        existing: &Existing,
        inputs: &Value,
    ) -> Result<Observed, ProviderError> {
        let spec = self.spec(ctx, inputs)?;
        let op = UpdateRequest {
            ctx,
            existing,
            spec: &spec,
            inputs,
        };
        self.resource.update(op).await
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        self.resource.delete(ctx, existing).await
    }
}
