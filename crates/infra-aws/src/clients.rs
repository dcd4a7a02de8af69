//! Where a resource type gets its SDK client: built from the stack's
//! `[aws]` table at operation time (never at construction, so a plan over
//! an empty state reads no credentials), or a fixed client a test supplies.

use std::sync::Arc;

use aws_config::SdkConfig;
use infra_core::{ErrorKind, OpContext, ProviderError};

use crate::AwsContext;

/// An SDK client of type `C`, for each operation's settings.
pub struct Clients<C> {
    aws: Arc<AwsContext>,
    build: fn(&SdkConfig) -> C,
    fixed: Option<C>,
}

impl<C> std::fmt::Debug for Clients<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fixed = self.fixed.is_some();
        f.debug_struct("Clients")
            .field("fixed", &fixed)
            .finish_non_exhaustive()
    }
}

impl<C: Clone> Clients<C> {
    /// Clients built with `build` (the SDK's `Client::new`) from the shared
    /// context's configuration.
    pub fn new(aws: Arc<AwsContext>, build: fn(&SdkConfig) -> C) -> Self {
        Clients {
            aws,
            build,
            fixed: None,
        }
    }

    /// Always `client` (tests with mocked responses).
    pub fn fixed(aws: Arc<AwsContext>, build: fn(&SdkConfig) -> C, client: C) -> Self {
        Clients {
            aws,
            build,
            fixed: Some(client),
        }
    }

    /// The client for this operation's `[aws]` settings. Cheap: the SDK
    /// configuration is cached by the shared context.
    pub async fn get(&self, ctx: &OpContext) -> Result<C, ProviderError> {
        if let Some(client) = &self.fixed {
            return Ok(client.clone());
        }
        let config = self.aws.sdk_config(&ctx.settings).await?;
        Ok((self.build)(&config))
    }
}

/// A lookup whose not-found error means "there is none".
pub fn found<T>(result: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_none_and_other_errors_stay() {
        assert_eq!(found(Ok::<_, ProviderError>(1)).unwrap(), Some(1));
        let gone = ProviderError::new(ErrorKind::NotFound, "gone");
        assert_eq!(found::<()>(Err(gone)).unwrap(), None);
        let denied = ProviderError::new(ErrorKind::Invalid, "denied");
        assert_eq!(found::<()>(Err(denied.clone())).unwrap_err(), denied);
    }
}
