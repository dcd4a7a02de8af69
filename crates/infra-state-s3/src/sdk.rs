//! The S3 calls the backend makes, each reduced to what the protocol needs
//! to know: done, the condition did not hold, the object is not there, or
//! a failure with a message naming the object.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::SdkConfig;
use infra_aws::{classify, error_code, has_custom_endpoint};
use infra_core::BackendError;

/// An S3 client for `config`, addressed by path when the endpoint is an
/// emulator or an S3-compatible store (they have no per-bucket host names).
pub fn client(config: &SdkConfig) -> Client {
    // A stalled connection must not hold the lease lock (renewal) or a
    // write forever: well under the shortest useful lease.
    let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .operation_attempt_timeout(std::time::Duration::from_secs(15))
        .build();
    let mut builder = aws_sdk_s3::config::Builder::from(config).timeout_config(timeouts);
    if has_custom_endpoint(config) {
        builder = builder.force_path_style(true);
    }
    Client::from_conf(builder.build())
}

/// Why a call did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// `412 Precondition Failed`, or `409 ConditionalRequestConflict` (a
    /// concurrent conditional write to the same key won): someone else
    /// wrote the object.
    Condition,
    /// The object (not the bucket) does not exist.
    Missing,
    /// Anything else, as a message naming the object.
    Other(String),
}

impl Failure {
    /// Classifies an SDK error of a call on `url` (an `s3://` URL).
    pub(crate) fn of<E>(doing: &str, url: &str, err: &SdkError<E, HttpResponse>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = error_code(err);
        match (status, code) {
            (_, Some("NoSuchBucket")) => Failure::Other(format!(
                "cannot {doing} {url}: the bucket does not exist; create it first (`infra_state_s3::bootstrap` makes it versioned, encrypted and private) or fix the bucket name in `state = ...`"
            )),
            (Some(412), _) | (Some(409), Some("ConditionalRequestConflict")) => Failure::Condition,
            (Some(404), _) => Failure::Missing,
            _ => Failure::Other(format!(
                "cannot {doing} {url}: {}",
                classify(doing, err).message
            )),
        }
    }

    /// The failure as a backend error, for paths where neither a failed
    /// condition nor a missing object is expected.
    pub(crate) fn into_error(self, doing: &str, url: &str) -> BackendError {
        match self {
            Failure::Other(m) => BackendError::Io(m),
            Failure::Condition => BackendError::Conflict(format!(
                "{url} was changed by someone else while this process tried to {doing} it"
            )),
            Failure::Missing => {
                BackendError::Io(format!("cannot {doing} {url}: it does not exist"))
            }
        }
    }
}

/// The condition of a conditional PUT.
#[derive(Clone, Debug)]
pub(crate) enum Condition {
    /// `If-None-Match: *`: create, never replace.
    Absent,
    /// `If-Match: <etag>`: replace exactly the version we know.
    Matches(String),
}

/// One object as read: its bytes and ETag.
#[derive(Debug)]
pub(crate) struct Object {
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// The calls on one bucket.
#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    pub client: Client,
    pub name: String,
}

impl Bucket {
    pub(crate) fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    /// A conditional PUT, encrypted at rest; the new ETag on success.
    pub(crate) async fn put(
        &self,
        key: &str,
        bytes: &[u8],
        condition: &Condition,
    ) -> Result<String, Failure> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes.to_vec()));
        request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Matches(etag) => request.if_match(etag),
        };
        match request.send().await {
            Ok(out) => out.e_tag.ok_or_else(|| {
                Failure::Other(format!(
                    "cannot write {}: the store returned no ETag, which conditional writes need",
                    self.url(key)
                ))
            }),
            Err(e) => Err(Failure::of("write", &self.url(key), &e)),
        }
    }

    /// A GET; `None` when the object does not exist.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Object>, BackendError> {
        let url = self.url(key);
        let out = match self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                return match Failure::of("read", &url, &e) {
                    Failure::Missing => Ok(None),
                    other => Err(other.into_error("read", &url)),
                };
            }
        };
        let etag = out.e_tag.clone().unwrap_or_default();
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| BackendError::Io(format!("cannot read {url}: {e}")))?
            .into_bytes()
            .to_vec();
        Ok(Some(Object { bytes, etag }))
    }

    /// A DELETE, only of the version with `etag` when given. Deleting what
    /// is already gone succeeds.
    pub(crate) async fn delete(&self, key: &str, etag: Option<&str>) -> Result<(), Failure> {
        let mut request = self.client.delete_object().bucket(&self.name).key(key);
        if let Some(etag) = etag {
            request = request.if_match(etag);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => match Failure::of("delete", &self.url(key), &e) {
                Failure::Missing => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Every key under `prefix`, in S3's (lexicographic) order.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.name)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| {
                    let url = self.url(prefix);
                    Failure::of("list", &url, &e).into_error("list", &url)
                })?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match out.next_continuation_token {
                Some(t) if out.is_truncated == Some(true) => token = Some(t),
                _ => return Ok(keys),
            }
        }
    }
}
