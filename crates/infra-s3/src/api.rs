//! The S3 calls behind `s3_bucket`: HeadBucket, the GET and PUT of each
//! sub-configuration, and emptying a bucket. Every SDK error goes through
//! `infra_aws::classify`; conflicts and throttling are retried by the
//! engine.

use std::future::Future;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus, Delete,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, ObjectIdentifier, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging, Transition as SdkTransition, TransitionStorageClass,
    VersioningConfiguration,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::error::operation::BuildError;
use infra_aws::{Poll, classify, error_code, poll_until};
use infra_core::{ErrorKind, OpContext, ProviderError, Value};

use crate::lifecycle::{Rule, Transition};
use crate::spec::{BucketSpec, Encryption};

/// How long a bucket that was just created may answer NoSuchBucket
/// (Terraform waits the same 2 minutes for S3 to propagate it), and how long
/// new lifecycle rules may take to read back.
const PROPAGATION: Duration = Duration::from_secs(120);

/// DeleteObjects takes at most this many keys.
const DELETE_BATCH: usize = 1000;

/// What HeadBucket says about a name.
#[derive(Debug)]
pub(crate) enum Head {
    /// The bucket exists and we may use it; its region when S3 said.
    Ours { region: Option<String> },
    /// No bucket has this name.
    Missing,
    /// The name exists but access is denied: another account's bucket.
    Foreign,
}

/// The calls for one bucket.
pub(crate) struct S3<'a> {
    pub client: Client,
    pub ctx: &'a OpContext,
    pub name: String,
    pub region: String,
}

/// What a GET of a sub-configuration found.
enum Got<T> {
    Found(T),
    /// The bucket has no such configuration.
    Absent,
    /// The bucket itself is gone.
    Gone,
}

impl<'a> S3<'a> {
    pub fn new(client: Client, ctx: &'a OpContext, name: &str, region: String) -> Self {
        S3 {
            client,
            ctx,
            name: name.to_owned(),
            region,
        }
    }

    fn what(&self, doing: &str) -> String {
        format!("{doing} S3 bucket `{}`", self.name)
    }

    fn build_error(&self, e: BuildError) -> ProviderError {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("building a request for S3 bucket `{}`: {e}", self.name),
        )
    }

    /// Calls `op` once, classifying its error: throttling and conflicts
    /// (OperationAborted) are retryable, and so is NoSuchBucket when `fresh`
    /// (just after a create, while the bucket propagates). The engine
    /// retries them.
    async fn call<T, E, F, Fut>(&self, what: &str, fresh: bool, op: F) -> Result<T, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        op().await.map_err(|e| {
            let mut err = classify(what, &e);
            if fresh && err.kind == ErrorKind::NotFound {
                err.kind = ErrorKind::Transient;
            }
            err
        })
    }

    /// A GET that may find nothing: `absent` are the codes meaning "no such
    /// configuration". Not retried here beyond the SDK's own attempts: a
    /// read that is still throttled reports it, and the caller decides.
    async fn get<T, E, Fut>(
        &self,
        what: &str,
        absent: &[&str],
        sent: Fut,
    ) -> Result<Got<T>, ProviderError>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match sent.await {
            Ok(v) => Ok(Got::Found(v)),
            Err(e) => match error_code(&e) {
                Some(code) if absent.contains(&code) => Ok(Got::Absent),
                Some("NoSuchBucket") => Ok(Got::Gone),
                _ => Err(classify(&self.what(what), &e)),
            },
        }
    }

    /// HeadBucket.
    pub async fn head(&self) -> Result<Head, ProviderError> {
        let what = self.what("looking up");
        let result = self.client.head_bucket().bucket(&self.name).send().await;
        match result {
            Ok(out) => Ok(Head::Ours {
                region: out.bucket_region().map(str::to_owned),
            }),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let region = e
                    .raw_response()
                    .and_then(|r| r.headers().get("x-amz-bucket-region"))
                    .map(str::to_owned);
                let not_found = e.as_service_error().is_some_and(|s| s.is_not_found());
                match status {
                    _ if not_found => Ok(Head::Missing),
                    Some(404) => Ok(Head::Missing),
                    Some(403) => Ok(Head::Foreign),
                    // S3 redirects a HEAD to another region's bucket.
                    Some(301) => Ok(Head::Ours { region }),
                    _ => Err(classify(&what, &e)),
                }
            }
        }
    }

    /// Waits until HeadBucket finds the bucket (creation propagates).
    pub async fn wait_exists(&self) -> Result<(), ProviderError> {
        poll_until(self.ctx, &self.what("waiting for"), || async {
            Ok(match self.head().await? {
                Head::Ours { .. } => Poll::Ready(()),
                _ => Poll::Pending("not visible yet".to_owned()),
            })
        })
        .await
    }

    /// Waits until HeadBucket no longer finds the bucket.
    pub async fn wait_gone(&self) -> Result<(), ProviderError> {
        poll_until(
            self.ctx,
            &self.what("waiting for the deletion of"),
            || async {
                Ok(match self.head().await? {
                    // Denied: the name is no longer ours (someone claimed it).
                    Head::Missing | Head::Foreign => Poll::Ready(()),
                    Head::Ours { .. } => Poll::Pending("still visible".to_owned()),
                })
            },
        )
        .await
    }

    /// Reads every sub-configuration; `None` when the bucket is gone.
    /// `force_destroy` lives only in our inputs and is passed through.
    pub async fn read_spec(
        &self,
        force_destroy: bool,
    ) -> Result<Option<BucketSpec>, ProviderError> {
        let c = &self.client;
        let b = self.name.as_str();
        let versioning = match self
            .get("reading the versioning of", &[], {
                c.get_bucket_versioning().bucket(b).send()
            })
            .await?
        {
            Got::Found(out) => out.status() == Some(&BucketVersioningStatus::Enabled),
            Got::Absent => false,
            Got::Gone => return Ok(None),
        };
        let encryption = match self
            .get(
                "reading the encryption of",
                &["ServerSideEncryptionConfigurationNotFoundError"],
                c.get_bucket_encryption().bucket(b).send(),
            )
            .await?
        {
            Got::Found(out) => out
                .server_side_encryption_configuration()
                .and_then(|conf| conf.rules().first())
                .and_then(|rule| rule.apply_server_side_encryption_by_default())
                .map(|d| Encryption {
                    algorithm: d.sse_algorithm().as_str().to_owned(),
                    kms_key_id: d.kms_master_key_id().map(str::to_owned),
                }),
            Got::Absent => None,
            Got::Gone => return Ok(None),
        };
        let public_access_block = match self
            .get(
                "reading the public access block of",
                &["NoSuchPublicAccessBlockConfiguration"],
                c.get_public_access_block().bucket(b).send(),
            )
            .await?
        {
            Got::Found(out) => {
                let conf = out.public_access_block_configuration();
                let flag = |f: fn(&PublicAccessBlockConfiguration) -> Option<bool>| {
                    conf.and_then(f).unwrap_or(false)
                };
                [
                    flag(PublicAccessBlockConfiguration::block_public_acls),
                    flag(PublicAccessBlockConfiguration::ignore_public_acls),
                    flag(PublicAccessBlockConfiguration::block_public_policy),
                    flag(PublicAccessBlockConfiguration::restrict_public_buckets),
                ]
            }
            // No block configured: nothing is blocked.
            Got::Absent => [false; 4],
            Got::Gone => return Ok(None),
        };
        let lifecycle_rules = match self.read_lifecycle().await? {
            Got::Found(rules) => rules,
            Got::Absent => Vec::new(),
            Got::Gone => return Ok(None),
        };
        let tags = match self
            .get("reading the tags of", &["NoSuchTagSet"], {
                c.get_bucket_tagging().bucket(b).send()
            })
            .await?
        {
            Got::Found(out) => out
                .tag_set()
                .iter()
                // Tags AWS sets itself (aws:cloudformation:...) are not ours.
                .filter(|t| !t.key().starts_with("aws:"))
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect(),
            Got::Absent => Default::default(),
            Got::Gone => return Ok(None),
        };
        Ok(Some(BucketSpec {
            name: self.name.clone(),
            versioning,
            encryption,
            public_access_block,
            lifecycle_rules,
            tags,
            force_destroy,
        }))
    }

    /// The lifecycle rules as AWS holds them, transitions in day order.
    async fn read_lifecycle(&self) -> Result<Got<Vec<Rule>>, ProviderError> {
        let got = self
            .get(
                "reading the lifecycle rules of",
                &["NoSuchLifecycleConfiguration"],
                {
                    self.client
                        .get_bucket_lifecycle_configuration()
                        .bucket(&self.name)
                        .send()
                },
            )
            .await?;
        Ok(match got {
            Got::Found(out) => Got::Found(out.rules().iter().map(rule_from_sdk).collect()),
            Got::Absent => Got::Absent,
            Got::Gone => Got::Gone,
        })
    }

    /// Sends each sub-configuration whose value differs between `before`
    /// (inputs in the normal shape) and `spec`. `fresh`: the bucket was just
    /// created and may not be visible everywhere yet.
    pub async fn converge(
        &self,
        before: &Value,
        spec: &BucketSpec,
        fresh: bool,
    ) -> Result<(), ProviderError> {
        let after = spec.to_inputs();
        let changed = |key: &str| {
            let known = |v: &Value| v.get(key).filter(|x| !matches!(x, Value::Null)).cloned();
            known(before) != known(&after)
        };
        let (c, b) = (&self.client, self.name.as_str());
        if changed("versioning") {
            // Versioning never returns to "unversioned": false suspends it.
            let status = if spec.versioning {
                BucketVersioningStatus::Enabled
            } else {
                BucketVersioningStatus::Suspended
            };
            let conf = VersioningConfiguration::builder().status(status).build();
            self.call(&self.what("setting the versioning of"), fresh, || {
                c.put_bucket_versioning()
                    .bucket(b)
                    .versioning_configuration(conf.clone())
                    .send()
            })
            .await?;
        }
        if (changed("encryption") || changed("kms_key_id"))
            && let Some(e) = &spec.encryption
        {
            let by_default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::from(e.algorithm.as_str()))
                .set_kms_master_key_id(e.kms_key_id.clone())
                .build()
                .map_err(|e| self.build_error(e))?;
            let conf = ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(by_default)
                        .build(),
                )
                .build()
                .map_err(|e| self.build_error(e))?;
            self.call(&self.what("setting the encryption of"), fresh, || {
                c.put_bucket_encryption()
                    .bucket(b)
                    .server_side_encryption_configuration(conf.clone())
                    .send()
            })
            .await?;
        }
        if changed("public_access_block") {
            let [acls, ignore, policy, restrict] = spec.public_access_block;
            let conf = PublicAccessBlockConfiguration::builder()
                .block_public_acls(acls)
                .ignore_public_acls(ignore)
                .block_public_policy(policy)
                .restrict_public_buckets(restrict)
                .build();
            self.call(
                &self.what("setting the public access block of"),
                fresh,
                || {
                    c.put_public_access_block()
                        .bucket(b)
                        .public_access_block_configuration(conf.clone())
                        .send()
                },
            )
            .await?;
        }
        if changed("lifecycle_rules") {
            self.put_lifecycle(&spec.lifecycle_rules, fresh).await?;
        }
        if changed("tags") {
            if spec.tags.is_empty() {
                self.call(&self.what("removing the tags of"), fresh, || {
                    c.delete_bucket_tagging().bucket(b).send()
                })
                .await?;
            } else {
                let tags = spec
                    .tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.build_error(e))?;
                let tagging = Tagging::builder()
                    .set_tag_set(Some(tags))
                    .build()
                    .map_err(|e| self.build_error(e))?;
                // PutBucketTagging replaces the whole set, so removed tags go too.
                self.call(&self.what("tagging"), fresh, || {
                    c.put_bucket_tagging()
                        .bucket(b)
                        .tagging(tagging.clone())
                        .send()
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Replaces the lifecycle configuration (or deletes it when there are no
    /// rules), then waits until S3 returns the new rules.
    async fn put_lifecycle(&self, rules: &[Rule], fresh: bool) -> Result<(), ProviderError> {
        let (c, b) = (&self.client, self.name.as_str());
        if rules.is_empty() {
            self.call(&self.what("removing the lifecycle rules of"), fresh, || {
                c.delete_bucket_lifecycle().bucket(b).send()
            })
            .await?;
        } else {
            let sdk_rules = rules
                .iter()
                .map(rule_to_sdk)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.build_error(e))?;
            let conf = BucketLifecycleConfiguration::builder()
                .set_rules(Some(sdk_rules))
                .build()
                .map_err(|e| self.build_error(e))?;
            self.call(&self.what("setting the lifecycle rules of"), fresh, || {
                c.put_bucket_lifecycle_configuration()
                    .bucket(b)
                    .lifecycle_configuration(conf.clone())
                    .send()
            })
            .await?;
        }
        // Lifecycle configuration is eventually consistent: until the rules
        // read back, a read would report the old ones as drift.
        let mut want = rules.to_vec();
        want.sort_by(|x, y| x.id.cmp(&y.id));
        // Propagation takes seconds; a configuration that still reads back
        // different after minutes will not converge by waiting longer.
        let mut ctx = self.ctx.clone();
        ctx.timeout = ctx.timeout.min(PROPAGATION);
        poll_until(
            &ctx,
            &self.what("waiting for the lifecycle rules of"),
            || async {
                let mut got = match self.read_lifecycle().await? {
                    Got::Found(rules) => rules,
                    Got::Absent => Vec::new(),
                    Got::Gone => {
                        return Err(ProviderError::new(
                            ErrorKind::NotFound,
                            format!("S3 bucket `{}` no longer exists", self.name),
                        ));
                    }
                };
                got.sort_by(|x, y| x.id.cmp(&y.id));
                Ok(if got == want {
                    Poll::Ready(())
                } else {
                    Poll::Pending("the previous rules are still returned".to_owned())
                })
            },
        )
        .await
    }

    /// Deletes every object version and delete marker, a page of
    /// ListObjectVersions at a time, in DeleteObjects batches of at most 1000.
    /// `false` when the bucket is already gone.
    pub async fn empty(&self) -> Result<bool, ProviderError> {
        let (c, b) = (&self.client, self.name.as_str());
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        let mut deleted = 0usize;
        loop {
            let (km, vm) = (key_marker.clone(), version_marker.clone());
            let listed = self
                .call(&self.what("listing the object versions of"), false, || {
                    c.list_object_versions()
                        .bucket(b)
                        .set_key_marker(km.clone())
                        .set_version_id_marker(vm.clone())
                        .send()
                })
                .await;
            let page = match listed {
                Ok(page) => page,
                Err(e) if e.kind == ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            };
            let ids = page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(
                    page.delete_markers()
                        .iter()
                        .map(|m| (m.key(), m.version_id())),
                )
                .filter_map(|(key, version)| {
                    key.map(|k| {
                        ObjectIdentifier::builder()
                            .key(k)
                            .set_version_id(version.map(str::to_owned))
                            .build()
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.build_error(e))?;
            for batch in ids.chunks(DELETE_BATCH) {
                let delete = Delete::builder()
                    .set_objects(Some(batch.to_vec()))
                    .quiet(true)
                    .build()
                    .map_err(|e| self.build_error(e))?;
                let out = self
                    .call(&self.what("deleting the objects of"), false, || {
                        c.delete_objects().bucket(b).delete(delete.clone()).send()
                    })
                    .await?;
                if let Some(e) = out.errors().first() {
                    return Err(ProviderError::new(
                        ErrorKind::Failed,
                        format!(
                            "{}: {} of {} objects could not be deleted, e.g. `{}`: {}: {}",
                            self.what("emptying"),
                            out.errors().len(),
                            batch.len(),
                            e.key().unwrap_or("?"),
                            e.code().unwrap_or("error"),
                            e.message().unwrap_or("")
                        ),
                    ));
                }
                deleted += batch.len();
                self.ctx.progress(&format!(
                    "deleted {deleted} object versions and delete markers"
                ));
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if page.is_truncated() != Some(true)
                || (key_marker.is_none() && version_marker.is_none())
            {
                return Ok(true);
            }
        }
    }
}

fn rule_to_sdk(r: &Rule) -> Result<LifecycleRule, BuildError> {
    let status = if r.enabled {
        ExpirationStatus::Enabled
    } else {
        ExpirationStatus::Disabled
    };
    let transitions = r
        .transitions
        .iter()
        .map(|t| {
            SdkTransition::builder()
                .days(t.days)
                .storage_class(TransitionStorageClass::from(t.storage_class.as_str()))
                .build()
        })
        .collect();
    LifecycleRule::builder()
        .id(&r.id)
        .status(status)
        .filter(LifecycleRuleFilter::builder().prefix(&r.prefix).build())
        .set_transitions(Some(transitions))
        .set_expiration(
            r.expiration_days
                .map(|d| LifecycleExpiration::builder().days(d).build()),
        )
        .set_noncurrent_version_expiration(r.noncurrent_version_expiration_days.map(|d| {
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(d)
                .build()
        }))
        .set_abort_incomplete_multipart_upload(r.abort_incomplete_multipart_upload_days.map(|d| {
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(d)
                .build()
        }))
        .build()
}

fn rule_from_sdk(r: &LifecycleRule) -> Rule {
    let mut transitions: Vec<Transition> = r
        .transitions()
        .iter()
        // Date-based transitions are not in our schema; leaving them out
        // shows them as drift.
        .filter_map(|t| {
            Some(Transition {
                days: t.days()?,
                storage_class: t.storage_class()?.as_str().to_owned(),
            })
        })
        .collect();
    transitions.sort_by_key(|t| t.days);
    // Rules made with the legacy top-level Prefix (by other tools) keep
    // their prefix there.
    #[allow(deprecated)]
    let legacy = r.prefix();
    let prefix = r
        .filter()
        .and_then(LifecycleRuleFilter::prefix)
        .or(legacy)
        .unwrap_or_default();
    Rule {
        id: r.id().unwrap_or_default().to_owned(),
        enabled: *r.status() == ExpirationStatus::Enabled,
        prefix: prefix.to_owned(),
        transitions,
        expiration_days: r.expiration().and_then(LifecycleExpiration::days),
        noncurrent_version_expiration_days: r
            .noncurrent_version_expiration()
            .and_then(NoncurrentVersionExpiration::noncurrent_days),
        abort_incomplete_multipart_upload_days: r
            .abort_incomplete_multipart_upload()
            .and_then(AbortIncompleteMultipartUpload::days_after_initiation),
    }
}
