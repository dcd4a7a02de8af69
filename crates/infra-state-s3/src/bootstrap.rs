//! [`bootstrap`]: the state bucket, made once and safely: versioned (every
//! snapshot ever written can be restored), encrypted by default, private.

use std::fmt;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::SdkConfig;
use infra_aws::{classify, error_code};
use infra_core::BackendError;

use crate::sdk::client;

/// One setting of the state bucket: what bootstrap found, and whether it
/// changed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapStep {
    /// `bucket`, `versioning`, `encryption` or `public access block`.
    pub setting: &'static str,
    /// Whether bootstrap changed it (false: it already was as wanted).
    pub changed: bool,
    /// What was found or done, for the user.
    pub detail: String,
}

/// What [`bootstrap`] did to a state bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bootstrapped {
    /// The bucket.
    pub bucket: String,
    /// One step per setting, in the order they were made.
    pub steps: Vec<BootstrapStep>,
}

impl Bootstrapped {
    /// Whether anything was changed (false on a second run).
    pub fn changed(&self) -> bool {
        self.steps.iter().any(|s| s.changed)
    }
}

impl fmt::Display for Bootstrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "state bucket `{}`:", self.bucket)?;
        for step in &self.steps {
            write!(f, "\n  {}: {}", step.setting, step.detail)?;
        }
        Ok(())
    }
}

fn failed<E>(doing: &str, bucket: &str, e: &SdkError<E, HttpResponse>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let what = format!("{doing} for state bucket `{bucket}`");
    BackendError::Io(format!(
        "cannot {what}: {}; check that the credentials allow it",
        classify(&what, e).message
    ))
}

/// Creates the state bucket `bucket` if it does not exist (one this
/// account already owns is fine), and makes sure it is versioned, encrypted
/// with AES256 by default (an existing KMS default is kept) and closed to
/// public access. Safe to run again: it only changes what differs.
pub async fn bootstrap(config: &SdkConfig, bucket: &str) -> Result<Bootstrapped, BackendError> {
    let client = client(config);
    let region = config.region().map(ToString::to_string).ok_or_else(|| {
        BackendError::Io(format!(
            "no AWS region to create state bucket `{bucket}` in: set `region` in [aws] or AWS_REGION"
        ))
    })?;
    let steps = vec![
        ensure_bucket(&client, bucket, &region).await?,
        ensure_versioning(&client, bucket).await?,
        ensure_encryption(&client, bucket).await?,
        ensure_private(&client, bucket).await?,
    ];
    Ok(Bootstrapped {
        bucket: bucket.to_owned(),
        steps,
    })
}

async fn ensure_bucket(
    client: &Client,
    bucket: &str,
    region: &str,
) -> Result<BootstrapStep, BackendError> {
    let found = |detail: String| BootstrapStep {
        setting: "bucket",
        changed: false,
        detail,
    };
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(found("already exists".into())),
        Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
            Some(404) => {}
            Some(403) => {
                return Err(BackendError::Io(format!(
                    "state bucket `{bucket}` exists but belongs to another account (or these credentials may not use it): choose another bucket name"
                )));
            }
            Some(301) => {
                return Err(BackendError::Io(format!(
                    "state bucket `{bucket}` exists in another region than {region}: set that region in [aws]"
                )));
            }
            _ => return Err(failed("look up", bucket, &e)),
        },
    }
    let mut request = client.create_bucket().bucket(bucket);
    // us-east-1 is the default location and must not be named.
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match request.send().await {
        Ok(_) => Ok(BootstrapStep {
            setting: "bucket",
            changed: true,
            detail: format!("created in {region}"),
        }),
        // Made by a concurrent bootstrap of ours.
        Err(e) if error_code(&e) == Some("BucketAlreadyOwnedByYou") => {
            Ok(found("already exists".into()))
        }
        Err(e) if error_code(&e) == Some("BucketAlreadyExists") => Err(BackendError::Io(format!(
            "state bucket name `{bucket}` is taken by another account: choose another bucket name"
        ))),
        Err(e) => Err(failed("create", bucket, &e)),
    }
}

async fn ensure_versioning(client: &Client, bucket: &str) -> Result<BootstrapStep, BackendError> {
    let current = client
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| failed("read versioning", bucket, &e))?;
    if current.status() == Some(&BucketVersioningStatus::Enabled) {
        return Ok(BootstrapStep {
            setting: "versioning",
            changed: false,
            detail: "already enabled".into(),
        });
    }
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| failed("enable versioning", bucket, &e))?;
    Ok(BootstrapStep {
        setting: "versioning",
        changed: true,
        detail: "enabled, so every snapshot written can be restored".into(),
    })
}

async fn ensure_encryption(client: &Client, bucket: &str) -> Result<BootstrapStep, BackendError> {
    let current = match client.get_bucket_encryption().bucket(bucket).send().await {
        Ok(out) => out
            .server_side_encryption_configuration()
            .map(|c| c.rules().to_vec())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.apply_server_side_encryption_by_default)
            .map(|d| d.sse_algorithm)
            .next(),
        Err(e) if error_code(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") => None,
        Err(e) => return Err(failed("read default encryption", bucket, &e)),
    };
    if let Some(algorithm) = current {
        return Ok(BootstrapStep {
            setting: "encryption",
            changed: false,
            detail: format!("already {} by default", algorithm.as_str()),
        });
    }
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .map_err(|e| BackendError::Io(format!("building an encryption rule: {e}")))?,
        )
        .build();
    client
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(|e| BackendError::Io(format!("building an encryption rule: {e}")))?,
        )
        .send()
        .await
        .map_err(|e| failed("set default encryption", bucket, &e))?;
    Ok(BootstrapStep {
        setting: "encryption",
        changed: true,
        detail: "AES256 by default".into(),
    })
}

async fn ensure_private(client: &Client, bucket: &str) -> Result<BootstrapStep, BackendError> {
    let current = match client.get_public_access_block().bucket(bucket).send().await {
        Ok(out) => out.public_access_block_configuration,
        Err(e) if error_code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => None,
        Err(e) => return Err(failed("read the public access block", bucket, &e)),
    };
    let blocked = current.is_some_and(|c| {
        c.block_public_acls == Some(true)
            && c.ignore_public_acls == Some(true)
            && c.block_public_policy == Some(true)
            && c.restrict_public_buckets == Some(true)
    });
    if blocked {
        return Ok(BootstrapStep {
            setting: "public access block",
            changed: false,
            detail: "all public access already blocked".into(),
        });
    }
    client
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| failed("block public access", bucket, &e))?;
    Ok(BootstrapStep {
        setting: "public access block",
        changed: true,
        detail: "all public access blocked".into(),
    })
}
