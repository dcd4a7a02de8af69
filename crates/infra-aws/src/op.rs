//! [`AwsOp`]: one operation's SDK client and what it works on, so every
//! message of a resource type names the resource the same way and every
//! failed call is classified the same way.

use std::future::Future;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use infra_core::{ErrorKind, OpContext, ProviderError};

use crate::{Clients, Poll, TagChange, Tags, classify, poll_until};

/// The client for one operation, and the resource it works on as messages
/// name it: "`rds_subnet_group.db` (DB subnet group airflow-db)".
#[derive(Debug)]
pub struct AwsOp<C> {
    /// The SDK client for this operation's `[aws]` settings.
    pub client: C,
    /// The resource, for messages.
    pub what: String,
}

impl<C: Clone> Clients<C> {
    /// The client for `ctx`, working on the `kind` (as AWS calls it) with
    /// cloud id `id`.
    pub async fn op(
        &self,
        ctx: &OpContext,
        kind: &str,
        id: &str,
    ) -> Result<AwsOp<C>, ProviderError> {
        let client = self.get(ctx).await?;
        let what = format!("`{}` ({kind} {id})", ctx.address);
        Ok(AwsOp { client, what })
    }
}

impl<C> AwsOp<C> {
    /// `err` of the call made while `doing` ("creating"), classified.
    pub fn failed<E>(&self, doing: &str, err: &SdkError<E, HttpResponse>) -> ProviderError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        classify(&format!("{doing} {}", self.what), err)
    }

    /// The error for a resource that vanished while `doing` ("updating").
    pub fn gone(&self, doing: &str) -> ProviderError {
        let message = format!(
            "{doing} {}: it no longer exists; plan again to create it",
            self.what
        );
        ProviderError::new(ErrorKind::NotFound, message)
    }

    /// The error for a resource AWS says exists but does not show yet (an
    /// eventually consistent read after a create): retried by the engine.
    pub fn not_visible_yet(&self, doing: &str) -> ProviderError {
        let message = format!(
            "{doing} {}: AWS says it exists but does not show it yet",
            self.what
        );
        ProviderError::new(ErrorKind::Transient, message)
    }

    /// Brings the resource's tags from `actual` to `desired`: `remove` is
    /// sent the keys that go (first, so a key changing case is not lost),
    /// then `set` the tags that are new or changed. Each is called only
    /// when it has something to do; their errors are classified.
    pub async fn sync_tags<R, S, E1, E2, O1, O2>(
        &self,
        actual: &Tags,
        desired: &Tags,
        remove: impl FnOnce(Vec<String>) -> R,
        set: impl FnOnce(Tags) -> S,
    ) -> Result<(), ProviderError>
    where
        R: Future<Output = Result<O1, SdkError<E1, HttpResponse>>>,
        S: Future<Output = Result<O2, SdkError<E2, HttpResponse>>>,
        E1: ProvideErrorMetadata + std::error::Error + 'static,
        E2: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let change = TagChange::between(actual, desired);
        if !change.remove.is_empty() {
            let removed = remove(change.remove).await;
            removed.map_err(|e| self.failed("removing tags from", &e))?;
        }
        if !change.set.is_empty() {
            set(change.set)
                .await
                .map_err(|e| self.failed("tagging", &e))?;
        }
        Ok(())
    }

    /// Waits, within the operation's timeout, until `look` finds nothing.
    pub async fn wait_gone<T, F, Fut>(
        &self,
        ctx: &OpContext,
        mut look: F,
    ) -> Result<(), ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, ProviderError>>,
    {
        let waiting = format!("waiting for {} to be deleted", self.what);
        poll_until(ctx, &waiting, || {
            let look = look();
            async move {
                Ok(match look.await? {
                    None => Poll::Ready(()),
                    Some(_) => Poll::Pending("still there".into()),
                })
            }
        })
        .await
    }
}

/// Declares an AWS resource type: a struct holding its SDK clients, with
/// `new(aws)` (clients built from the stack's `[aws]` table when an
/// operation needs one), `with_client(aws, client)` (tests with mocked
/// responses) and `op(ctx, id)` (the operation's [`AwsOp`], naming the
/// resource as the `kind` AWS calls it, with cloud id `id`).
///
/// ```ignore
/// infra_aws::resource_type! {
///     /// The `rds_subnet_group` type.
///     pub struct RdsSubnetGroup(aws_sdk_rds::Client, "DB subnet group");
/// }
/// ```
#[macro_export]
macro_rules! resource_type {
    ($(#[$meta:meta])* $vis:vis struct $name:ident($client:ty, $kind:expr);) => {
        $(#[$meta])*
        #[derive(Debug)]
        $vis struct $name {
            clients: $crate::Clients<$client>,
        }

        impl $name {
            /// The type, reaching AWS through the shared context.
            pub fn new(aws: ::std::sync::Arc<$crate::AwsContext>) -> Self {
                let clients = $crate::Clients::new(aws, <$client>::new);
                $name { clients }
            }

            /// The type with a fixed SDK client (tests with mocked responses).
            pub fn with_client(aws: ::std::sync::Arc<$crate::AwsContext>, client: $client) -> Self {
                let clients = $crate::Clients::fixed(aws, <$client>::new, client);
                $name { clients }
            }

            /// This operation's client, working on the object with cloud id `id`.
            #[allow(dead_code)]
            async fn op(
                &self,
                ctx: &$crate::__core::OpContext,
                id: &str,
            ) -> ::std::result::Result<$crate::AwsOp<$client>, $crate::__core::ProviderError> {
                self.clients.op(ctx, $kind, id).await
            }
        }
    };
}
