//! Lazily built SDK configuration, shared by every AWS resource type.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use infra_core::{ProviderError, Value};
use tokio::sync::Mutex;

use crate::AwsSettings;

/// How long to wait for a TCP (and TLS) connection to AWS before the attempt
/// fails. The SDK's default is 3.1 s; a little more leaves room for slow
/// links and proxies, while a blackholed endpoint still fails an operation's
/// 8 engine attempts in well under a minute of connecting.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// SDK configurations, one per distinct `[aws]` table, built on first use.
///
/// Resource types hold one `Arc<AwsContext>` between them. A plan over an
/// empty state never asks for a configuration, so it reads no credentials
/// and makes no network call.
///
/// Every configuration connects with a [`CONNECT_TIMEOUT`], and its HTTP
/// client names the endpoint in connection errors (see [`crate::classify`]).
/// Retries: a connection that cannot be made is not retried by the SDK but
/// by the engine (its retry policy is the one that counts attempts). The
/// SDK's standard retry mode (3 attempts) is left on for what it retries
/// quickly after AWS answered or a connection was made (throttling, 5xx, a
/// reset connection): those take a second or two, absorb blips before the
/// engine sees them, and are the only retries of clients the engine does
/// not drive (the S3 state backend).
#[derive(Default)]
pub struct AwsContext {
    configs: Mutex<HashMap<AwsSettings, SdkConfig>>,
    credentials: Option<SharedCredentialsProvider>,
}

impl std::fmt::Debug for AwsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsContext").finish_non_exhaustive()
    }
}

impl AwsContext {
    /// A context reading credentials from the standard chain.
    pub fn new() -> Arc<Self> {
        Arc::new(AwsContext::default())
    }

    /// A context with fixed credentials, for emulators and embedders that
    /// manage credentials themselves.
    pub fn with_credentials(credentials: Credentials) -> Arc<Self> {
        Arc::new(AwsContext {
            configs: Mutex::default(),
            credentials: Some(SharedCredentialsProvider::new(credentials)),
        })
    }

    /// The SDK configuration for a stack's `[aws]` table.
    pub async fn sdk_config(&self, table: &Value) -> Result<SdkConfig, ProviderError> {
        let settings = AwsSettings::parse(table)?;
        let mut configs = self.configs.lock().await;
        if let Some(config) = configs.get(&settings) {
            return Ok(config.clone());
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(credentials) = &self.credentials {
            loader = loader.credentials_provider(credentials.clone());
        }
        if let Some(client) = crate::reach::naming_client() {
            loader = loader.http_client(client);
        }
        loader = loader.timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        );
        let config = loader.load().await;
        configs.insert(settings, config.clone());
        Ok(config)
    }
}

/// Whether the configuration points at a custom endpoint (an emulator or
/// an S3-compatible store), where S3 needs path-style addressing.
pub fn has_custom_endpoint(config: &SdkConfig) -> bool {
    config.endpoint_url().is_some()
}
