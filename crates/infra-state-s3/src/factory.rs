//! [`S3BackendFactory`]: `state = "s3://bucket/key"` in a stack file.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use infra_aws::AwsContext;
use infra_core::{BackendError, BackendFactory, StateBackend, Value};
use tokio::sync::Mutex;

use crate::backend::{DEFAULT_LEASE, S3Backend};
use crate::location::S3Location;
use crate::probe::check_conditional_writes;
use crate::sdk::client;

/// Opens [`S3Backend`]s for the `s3` scheme, with a client built from the
/// stack's `[aws]` table. Each store is checked for conditional writes the
/// first time a backend on it is opened.
pub struct S3BackendFactory {
    aws: Arc<AwsContext>,
    lease: Duration,
    /// Buckets (by endpoint) whose conditional writes were checked.
    checked: Mutex<HashSet<(Option<String>, String)>>,
}

impl std::fmt::Debug for S3BackendFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BackendFactory")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl S3BackendFactory {
    /// A factory reading AWS configuration through `aws`, with leases of
    /// [`DEFAULT_LEASE`].
    pub fn new(aws: Arc<AwsContext>) -> Self {
        S3BackendFactory {
            aws,
            lease: DEFAULT_LEASE,
            checked: Mutex::default(),
        }
    }

    /// Locks with leases of `lease` instead (at least [`crate::MIN_LEASE`]).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }
}

#[async_trait]
impl BackendFactory for S3BackendFactory {
    fn scheme(&self) -> &str {
        "s3"
    }

    async fn open(
        &self,
        location: &str,
        settings: &BTreeMap<String, Value>,
        _root: &Path,
    ) -> Result<Box<dyn StateBackend>, BackendError> {
        let location = S3Location::parse(location)?;
        let table = settings.get("aws").cloned().unwrap_or(Value::Null);
        let config = self.aws.sdk_config(&table).await.map_err(|e| {
            BackendError::Io(format!(
                "cannot configure AWS for the state at {location}: {e}"
            ))
        })?;
        let client = client(&config);
        let store = (
            config.endpoint_url().map(str::to_owned),
            location.bucket().to_owned(),
        );
        // Held across the check so that concurrent opens check once.
        let mut checked = self.checked.lock().await;
        if !checked.contains(&store) {
            check_conditional_writes(&client, &location).await?;
            checked.insert(store);
        }
        Ok(Box::new(S3Backend::new(client, location, self.lease)))
    }

    async fn bootstrap(
        &self,
        location: &str,
        settings: &BTreeMap<String, Value>,
        _root: &Path,
    ) -> Result<String, BackendError> {
        // `s3://bucket` or any `s3://bucket/key` in it.
        let bucket = location
            .strip_prefix("s3://")
            .and_then(|rest| rest.split('/').next())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                BackendError::Io(format!(
                    "`{location}` names no bucket: write s3://my-state-bucket"
                ))
            })?;
        let table = settings.get("aws").cloned().unwrap_or(Value::Null);
        let config = self.aws.sdk_config(&table).await.map_err(|e| {
            BackendError::Io(format!("cannot configure AWS for s3://{bucket}: {e}"))
        })?;
        Ok(crate::bootstrap(&config, bucket).await?.to_string())
    }
}
