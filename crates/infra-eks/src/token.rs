//! EKS bearer tokens built in-process, without the aws CLI: a presigned STS
//! `GetCallerIdentity` URL that also signs `x-k8s-aws-id: <cluster>`,
//! encoded as `k8s-aws-v1.` + base64url (no padding), and the
//! `ExecCredential` a kubeconfig `exec` entry prints.
//!
//! EKS accepts the token for 15 minutes after `X-Amz-Date` whatever
//! `X-Amz-Expires` says; we report it as expiring after 14 so that clients
//! (client-go refreshes exec credentials at `expirationTimestamp`) fetch a
//! new one before EKS refuses the old one.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningParams, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::error::display::DisplayErrorContext;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use infra_aws::AwsContext;
use infra_core::{ErrorKind, ProviderError, Value};

/// The prefix EKS (aws-iam-authenticator) expects on every token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header that binds a token to one cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// `X-Amz-Expires` of the presigned URL: what the aws CLI sends (STS
/// ignores it for this purpose; EKS applies its own 15 minutes).
pub const PRESIGN_EXPIRES: Duration = Duration::from_secs(60);
/// How long after signing a token is reported as valid: one minute less
/// than the 15 EKS allows, so a refresh happens before it is refused.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);
/// The `apiVersion` of the printed `ExecCredential`.
pub const EXEC_CREDENTIAL_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";
/// The verifier refuses longer tokens.
const MAX_TOKEN_LEN: usize = 4096;

/// A bearer token for one EKS cluster and when to stop using it.
///
/// `Debug` never shows the token: it is a credential for the cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct EksToken {
    token: String,
    expires_at: SystemTime,
}

impl EksToken {
    /// The token: `k8s-aws-v1.` + base64url of the presigned URL. Reveal it
    /// only to the process that talks to the cluster.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// When to stop using the token (14 minutes after signing).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

impl fmt::Debug for EksToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EksToken")
            .field("token", &"<redacted>")
            .field("expires_at", &rfc3339(self.expires_at))
            .finish()
    }
}

/// Builds the token for `cluster` in `region`, signed with `credentials`
/// at `now`.
pub fn presign_token(
    cluster: &str,
    region: &str,
    credentials: &Credentials,
    now: SystemTime,
) -> Result<EksToken, ProviderError> {
    let invalid = |m: String| ProviderError::new(ErrorKind::Invalid, m);
    if cluster.is_empty() {
        return Err(invalid("the EKS cluster name is empty".into()));
    }
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(invalid(format!(
            "`{region}` is not an AWS region\n  hint: pass e.g. --region eu-west-1"
        )));
    }
    // The verifier accepts only its partition's STS hosts; China's have
    // their own domain.
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    let base =
        format!("https://sts.{region}.{domain}/?Action=GetCallerIdentity&Version=2011-06-15");
    let identity: Identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRES);
    let params: SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| invalid(format!("cannot sign the EKS token request: {e}")))?
        .into();
    let request = SignableRequest::new(
        "GET",
        Cow::Borrowed(base.as_str()),
        std::iter::once((CLUSTER_ID_HEADER, cluster)),
        // The verifier replays a GET without a body, so sign the empty
        // payload's hash (as aws-iam-authenticator's own client does).
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| {
        invalid(format!(
            "cannot sign the EKS token request for `{cluster}`: {e}"
        ))
    })?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| {
            invalid(format!(
                "cannot sign the EKS token request for `{cluster}`: {e}"
            ))
        })?
        .into_parts();
    let mut url = base;
    for (name, value) in instructions.params() {
        url.push('&');
        url.push_str(name);
        url.push('=');
        url.push_str(&uri_encode(value));
    }
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(url.as_bytes()));
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid(format!(
            "the EKS token for `{cluster}` is {} bytes, over the {MAX_TOKEN_LEN} EKS accepts\n  hint: a very long session token cannot authenticate to EKS; use shorter-lived role credentials",
            token.len()
        )));
    }
    Ok(EksToken {
        token,
        expires_at: now + TOKEN_LIFETIME,
    })
}

/// The `ExecCredential` document a kubeconfig `exec` entry prints, on one
/// line.
pub fn exec_credential_json(token: &EksToken) -> String {
    serde_json::json!({
        "kind": "ExecCredential",
        "apiVersion": EXEC_CREDENTIAL_API_VERSION,
        "spec": {},
        "status": {
            "expirationTimestamp": rfc3339(token.expires_at),
            "token": token.token,
        },
    })
    .to_string()
}

/// A token for `cluster` with the credentials and region of the stack's
/// `[aws]` table (`Null` for none) and the standard AWS environment.
pub async fn token_for(
    aws: &AwsContext,
    settings: &Value,
    cluster: &str,
) -> Result<EksToken, ProviderError> {
    let config = aws.sdk_config(settings).await?;
    let Some(region) = config.region() else {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            "no AWS region\n  hint: set `region` in [aws], AWS_REGION, or pass --region",
        ));
    };
    let Some(provider) = config.credentials_provider() else {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            "no AWS credentials provider\n  hint: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        ));
    };
    let credentials = provider.provide_credentials().await.map_err(|e| {
        ProviderError::new(
            ErrorKind::Failed,
            format!(
                "cannot read AWS credentials: {}\n  hint: check AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                DisplayErrorContext(&e)
            ),
        )
    })?;
    presign_token(cluster, region.as_ref(), &credentials, SystemTime::now())
}

/// The `ExecCredential` document (one line) for `cluster`, what
/// `infra eks token` prints: a token signed with the credentials of the
/// stack's `[aws]` table (`Null` for none) and the standard AWS
/// environment. `region`, unless empty, overrides the table's.
pub async fn exec_credential(
    aws: &AwsContext,
    settings: Value,
    cluster: &str,
    region: Option<&str>,
) -> Result<String, TokenError> {
    let settings = match region.filter(|r| !r.is_empty()) {
        Some(region) => with_region(settings, region),
        None => settings,
    };
    let token = token_for(aws, &settings, cluster)
        .await
        .map_err(|source| TokenError {
            cluster: cluster.to_owned(),
            source,
        })?;
    Ok(exec_credential_json(&token))
}

/// Why [`exec_credential`] has no token for a cluster.
#[derive(Debug)]
pub struct TokenError {
    /// The cluster's name.
    pub cluster: String,
    /// What went wrong.
    pub source: ProviderError,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot build a token for EKS cluster `{}`", self.cluster)
    }
}

impl std::error::Error for TokenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The `[aws]` table with `region` set. A table of the wrong kind is left
/// as it is, for `AwsSettings` to report.
fn with_region(settings: Value, region: &str) -> Value {
    match settings {
        Value::Null => [("region", Value::from(region))].into_iter().collect(),
        Value::Map(mut map) => {
            map.insert("region".to_owned(), Value::from(region));
            Value::Map(map)
        }
        other => other,
    }
}

/// `2006-01-02T15:04:05Z`, whole seconds.
fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// SigV4's URI encoding: everything but the unreserved characters as `%XX`.
fn uri_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_sigv4() {
        assert_eq!(uri_encode("AK/2015 x;y+z~._-"), "AK%2F2015%20x%3By%2Bz~._-");
    }

    #[test]
    fn a_region_goes_into_the_aws_table() {
        let region = |v: &Value| v.get("region").cloned();
        let set = with_region(Value::Null, "eu-west-1");
        assert_eq!(region(&set), Some(Value::from("eu-west-1")));
        let table: Value = [
            ("profile", Value::from("p")),
            ("region", Value::from("us-east-1")),
        ]
        .into_iter()
        .collect();
        let set = with_region(table, "eu-west-1");
        assert_eq!(region(&set), Some(Value::from("eu-west-1")));
        assert_eq!(set.get("profile"), Some(&Value::from("p")));
        // Left for the settings check to report.
        assert_eq!(with_region(Value::Int(1), "eu-west-1"), Value::Int(1));
    }

    #[tokio::test]
    async fn a_failed_token_names_the_cluster() {
        let aws = AwsContext::with_credentials(Credentials::new("AK", "SK", None, None, "test"));
        let e = exec_credential(&aws, Value::Null, "", Some("eu-west-1"))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "cannot build a token for EKS cluster ``");
        let cause = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("the EKS cluster name is empty"));
    }

    #[test]
    fn formats_whole_seconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_440_938_160_500);
        assert_eq!(rfc3339(t), "2015-08-30T12:36:00Z");
    }
}
