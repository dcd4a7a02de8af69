//! [`AwsOp`]: one operation's SDK client and what it works on, so every
//! message of a resource type names the resource the same way and every
//! failed call is classified the same way.

use std::future::Future;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use infra_core::{ErrorKind, OpContext, ProviderError};

use crate::{Clients, Poll, classify, poll_until};

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
