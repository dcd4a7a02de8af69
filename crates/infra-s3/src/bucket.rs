//! [`S3Bucket`]: the `s3_bucket` provider. Create adopts a bucket that is
//! already ours (HeadBucket first, so us-east-1's CreateBucket never resets
//! its ACLs), every sub-configuration is its own idempotent PUT, and delete
//! empties the bucket first when `force_destroy` is set.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use infra_aws::{AwsContext, Clients, classify, error_code, has_custom_endpoint};
use infra_core::{
    ErrorKind, Existing, Fields, Observed, OpContext, OpKind, Phase, ProviderError, Request,
    Resource, Schema, Type, UpdateRequest, Value,
};

use crate::api::{Head, S3};
use crate::schema::schema;
use crate::spec::{self, BucketSpec, align};

/// The region where CreateBucket takes no location constraint.
const US_EAST_1: &str = "us-east-1";

/// How many times delete empties a `force_destroy` bucket that is still
/// not empty (objects written while it was being emptied).
const EMPTY_ATTEMPTS: usize = 3;

/// The `s3_bucket` resource type (a [`Resource`]; the engine's provider is
/// `infra_aws::typed(S3Bucket::new(aws))`).
pub struct S3Bucket {
    clients: Clients<Client>,
    /// The schema as a type, for [`align`].
    ty: Type,
}

impl std::fmt::Debug for S3Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Bucket").finish_non_exhaustive()
    }
}

impl S3Bucket {
    /// The resource type, building its SDK client lazily from `aws`.
    pub fn new(aws: Arc<AwsContext>) -> Self {
        S3Bucket {
            // Emulators and S3-compatible stores are addressed by path, not
            // by a per-bucket host name.
            clients: Clients::new(aws, |sdk| {
                let mut config = aws_sdk_s3::config::Builder::from(sdk);
                if has_custom_endpoint(sdk) {
                    config = config.force_path_style(true);
                }
                Client::from_conf(config.build())
            }),
            ty: Type::Object(schema().attributes),
        }
    }

    /// The resource type with a fixed SDK client, e.g. one answering from
    /// `aws-smithy-mocks` rules; the client's region is the bucket's.
    pub fn with_client(fixed: Client) -> Self {
        S3Bucket {
            clients: Clients::fixed(Arc::new(AwsContext::default()), Client::new, fixed),
            ty: Type::Object(schema().attributes),
        }
    }

    /// The S3 calls for one bucket, with a client for the stack's settings.
    async fn s3<'a>(&self, ctx: &'a OpContext, name: &str) -> Result<S3<'a>, ProviderError> {
        let client = self.clients.get(ctx).await?;
        let region = client
            .config()
            .region()
            .map(ToString::to_string)
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "no AWS region for S3 bucket `{name}`: set `region` in [aws] or AWS_REGION"
                    ),
                )
            })?;
        Ok(S3::new(client, ctx, name, region))
    }

    /// Reads the bucket and reports it in the shape of `given`.
    async fn observe(
        &self,
        s3: &S3<'_>,
        given: &Value,
        region: Option<String>,
    ) -> infra_core::ReadResult {
        let force_destroy = given.get("force_destroy") == Some(&Value::Bool(true));
        let Some(mut spec) = s3.read_spec(force_destroy).await? else {
            return Ok(None);
        };
        order_rules(&mut spec, given);
        let mut inputs = spec.to_inputs();
        align(&mut inputs, given, &self.ty);
        let region = region.unwrap_or_else(|| s3.region.clone());
        Ok(Some(Observed {
            id: s3.name.clone(),
            inputs,
            outputs: outputs(&s3.name, &region),
        }))
    }
}

/// Puts the rules read from the cloud in the order the inputs give them
/// (AWS may return them in another), rules unknown to the inputs last.
fn order_rules(spec: &mut BucketSpec, given: &Value) {
    let ids: Vec<&str> = given
        .get("lifecycle_rules")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.get("id").and_then(Value::as_str))
        .collect();
    spec.lifecycle_rules
        .sort_by_key(|r| ids.iter().position(|id| *id == r.id).unwrap_or(usize::MAX));
}

/// The computed outputs of a bucket.
fn outputs(name: &str, region: &str) -> Value {
    let (partition, suffix) = if region.starts_with("cn-") {
        ("aws-cn", "amazonaws.com.cn")
    } else if region.starts_with("us-gov-") {
        ("aws-us-gov", "amazonaws.com")
    } else {
        ("aws", "amazonaws.com")
    };
    [
        ("arn", Value::from(format!("arn:{partition}:s3:::{name}"))),
        ("region", Value::from(region)),
        (
            "bucket_domain_name",
            Value::from(format!("{name}.s3.{suffix}")),
        ),
        (
            "bucket_regional_domain_name",
            Value::from(format!("{name}.s3.{region}.{suffix}")),
        ),
    ]
    .into_iter()
    .collect()
}

/// What a bucket that was just created has, before any PUT: no versioning,
/// no lifecycle rules, no tags; encryption and public access block unknown,
/// so they are always sent.
fn blank(name: &str) -> Value {
    [
        ("name", Value::from(name)),
        ("versioning", Value::Bool(false)),
        ("lifecycle_rules", Value::List(Vec::new())),
        ("tags", Value::map()),
    ]
    .into_iter()
    .collect()
}

/// `existing.inputs` in the normal shape when they can be read (they hold
/// no secret without plaintext), else as they are. What was applied reads
/// as it is even where a rule says otherwise (an imported bucket may break
/// one): the parse's problems are not this function's to report.
fn normalised(inputs: &Value) -> Value {
    let revealed = inputs.reveal();
    if revealed.has_unknown() {
        return inputs.clone();
    }
    let mut out = spec::parse(&mut Fields::new(&revealed, Phase::Apply)).to_inputs();
    // A refresh that found no default encryption recorded none; parsing
    // filled in the default, which would hide the difference.
    if inputs
        .get("encryption")
        .is_none_or(|v| matches!(v, Value::Null))
        && let Value::Map(m) = &mut out
    {
        m.insert("encryption".into(), Value::Null);
    }
    out
}

#[async_trait]
impl Resource for S3Bucket {
    type Spec = BucketSpec;

    fn schema(&self) -> Schema {
        schema()
    }

    fn parse(&self, fields: &mut Fields<'_>) -> BucketSpec {
        spec::parse(fields)
    }

    fn default_timeout(&self, _op: OpKind) -> Duration {
        // Emptying a large bucket for force_destroy takes a while.
        Duration::from_secs(60 * 60)
    }

    fn estimate(&self, op: OpKind, inputs: &Value) -> Duration {
        // S3 control-plane calls take well under a second each; a create
        // makes about seven of them, and emptying a bucket can take long.
        let force = inputs.get("force_destroy") == Some(&Value::Bool(true));
        Duration::from_secs(match op {
            OpKind::Create => 5,
            OpKind::Update => 3,
            OpKind::Read => 1,
            OpKind::Delete if force => 60,
            OpKind::Delete => 3,
        })
    }

    async fn create(&self, op: Request<'_, BucketSpec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let s3 = self.s3(ctx, &spec.name).await?;
        let (before, region) = match s3.head().await? {
            Head::Ours { region } => {
                if let Some(r) = region.as_deref().filter(|r| *r != s3.region) {
                    return Err(ProviderError::new(
                        ErrorKind::Invalid,
                        format!(
                            "S3 bucket `{}` already exists in region {r}, not {}: set [aws] region = \"{r}\" or choose another name",
                            s3.name, s3.region
                        ),
                    ));
                }
                // Ours already (an earlier interrupted run, or made by
                // hand): adopt it and converge its configuration.
                ctx.progress("bucket exists; adopting it");
                let current = s3
                    .read_spec(spec.force_destroy)
                    .await?
                    .map_or_else(|| blank(&spec.name), |s| s.to_inputs());
                (current, region)
            }
            Head::Foreign => {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "S3 bucket name `{}` is already taken (BucketAlreadyExists: HeadBucket was denied, so another account owns it or you lack s3:ListBucket); choose another name",
                        s3.name
                    ),
                ));
            }
            Head::Missing => {
                let constraint = (s3.region != US_EAST_1).then(|| {
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(s3.region.as_str()))
                        .build()
                });
                let what = format!("creating S3 bucket `{}`", s3.name);
                let created = async {
                    let r = s3
                        .client
                        .create_bucket()
                        .bucket(&s3.name)
                        .set_create_bucket_configuration(constraint.clone())
                        .send()
                        .await;
                    match r {
                        Ok(_) => Ok(true),
                        // A retry of our own request, or a race with
                        // another run: the bucket is ours.
                        Err(e)
                            if e
                                .as_service_error()
                                .is_some_and(|s| s.is_bucket_already_owned_by_you())
                                || error_code(&e) == Some("BucketAlreadyOwnedByYou") =>
                        {
                            Ok(false)
                        }
                        Err(e)
                            if e
                                .as_service_error()
                                .is_some_and(|s| s.is_bucket_already_exists())
                                || error_code(&e) == Some("BucketAlreadyExists") =>
                        {
                            Err(ProviderError::new(
                                ErrorKind::Invalid,
                                format!("S3 bucket name `{}` is already taken by another account (BucketAlreadyExists); choose another name", s3.name),
                            ))
                        }
                        Err(e) => Err(classify(&what, &e)),
                    }
                }
                .await?;
                if created {
                    ctx.progress("bucket created");
                }
                s3.wait_exists().await?;
                (blank(&spec.name), None)
            }
        };
        s3.converge(&before, spec, true).await?;
        self.observe(&s3, inputs, region).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Failed,
                format!(
                    "S3 bucket `{}` disappeared right after it was created",
                    s3.name
                ),
            )
        })
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let s3 = self.s3(ctx, &existing.id).await?;
        match s3.head().await? {
            Head::Missing => Ok(None),
            Head::Foreign => Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "reading S3 bucket `{}`: access denied (HeadBucket 403); check the credentials' s3:ListBucket permission",
                    s3.name
                ),
            )),
            Head::Ours { region } => self.observe(&s3, &existing.inputs, region).await,
        }
    }

    async fn find(&self, op: Request<'_, BucketSpec>) -> infra_core::ReadResult {
        let (ctx, spec, inputs) = op.parts();
        // The name is the bucket's identity: what an interrupted create made
        // is the bucket of that name, if it is ours.
        let s3 = self.s3(ctx, &spec.name).await?;
        match s3.head().await? {
            Head::Ours { region } => self.observe(&s3, inputs, region).await,
            Head::Missing | Head::Foreign => Ok(None),
        }
    }

    async fn update(&self, op: UpdateRequest<'_, BucketSpec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, spec, inputs) = op.parts();
        let s3 = self.s3(ctx, &spec.name).await?;
        s3.converge(&normalised(&existing.inputs), spec, false)
            .await?;
        self.observe(&s3, inputs, None).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                format!("S3 bucket `{}` no longer exists", s3.name),
            )
        })
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let s3 = self.s3(ctx, &existing.id).await?;
        let force = existing.inputs.get("force_destroy") == Some(&Value::Bool(true));
        let what = format!("deleting S3 bucket `{}`", s3.name);
        for attempt in 1..=EMPTY_ATTEMPTS {
            if force && !s3.empty().await? {
                return Ok(());
            }
            let result = async {
                match s3.client.delete_bucket().bucket(&s3.name).send().await {
                    Ok(_) => Ok(Deleted::Yes),
                    Err(e) if error_code(&e) == Some("NoSuchBucket") => Ok(Deleted::Yes),
                    Err(e) if error_code(&e) == Some("BucketNotEmpty") => Ok(Deleted::NotEmpty),
                    Err(e) => Err(classify(&what, &e)),
                }
            }
            .await?;
            match result {
                Deleted::Yes => return s3.wait_gone().await,
                Deleted::NotEmpty if !force => {
                    return Err(ProviderError::new(
                        ErrorKind::Invalid,
                        format!(
                            "{what}: the bucket is not empty (BucketNotEmpty); empty it, or set force_destroy = true and apply before destroying"
                        ),
                    ));
                }
                Deleted::NotEmpty => {
                    ctx.progress(&format!(
                        "objects were written while emptying (attempt {attempt} of {EMPTY_ATTEMPTS})"
                    ));
                }
            }
        }
        Err(ProviderError::new(
            ErrorKind::Failed,
            format!(
                "{what}: still not empty after {EMPTY_ATTEMPTS} attempts; something keeps writing to it, stop it and retry"
            ),
        ))
    }
}

/// How a DeleteBucket call ended.
enum Deleted {
    Yes,
    NotEmpty,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_follow_the_partition() {
        let o = outputs("logs", "eu-west-1");
        assert_eq!(o.get("arn"), Some(&Value::from("arn:aws:s3:::logs")));
        assert_eq!(
            o.get("bucket_regional_domain_name"),
            Some(&Value::from("logs.s3.eu-west-1.amazonaws.com"))
        );
        let cn = outputs("logs", "cn-north-1");
        assert_eq!(cn.get("arn"), Some(&Value::from("arn:aws-cn:s3:::logs")));
        assert_eq!(
            cn.get("bucket_domain_name"),
            Some(&Value::from("logs.s3.amazonaws.com.cn"))
        );
    }
}
