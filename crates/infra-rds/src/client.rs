//! The RDS SDK client, built from the stack's `[aws]` table at operation
//! time (never at construction), or a fixed client that tests supply.

use std::sync::Arc;

use aws_sdk_rds::Client;
use infra_aws::AwsContext;
use infra_core::{OpContext, ProviderError};

/// Where a provider gets its RDS client.
#[derive(Clone)]
pub(crate) struct Clients {
    aws: Arc<AwsContext>,
    fixed: Option<Client>,
}

impl Clients {
    pub(crate) fn new(aws: Arc<AwsContext>, fixed: Option<Client>) -> Self {
        Clients { aws, fixed }
    }

    /// The client for this operation's `[aws]` settings. Building it is
    /// cheap: the SDK configuration is cached by the shared context.
    pub(crate) async fn get(&self, ctx: &OpContext) -> Result<Client, ProviderError> {
        if let Some(client) = &self.fixed {
            return Ok(client.clone());
        }
        let config = self.aws.sdk_config(&ctx.settings).await?;
        Ok(Client::new(&config))
    }
}
