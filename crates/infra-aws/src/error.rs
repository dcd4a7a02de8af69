//! Classifying SDK errors into what the engine should do about them.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use infra_core::{ErrorKind, ProviderError};

use crate::reach::{AtEndpoint, chain};

/// Codes AWS uses for throttling: the request rate, not a quota (the SDK
/// retries these a few times first; what is left is retried by the engine
/// with longer backoff).
const THROTTLING: [&str; 13] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Whether a code says an account quota or service limit is used up:
/// retrying does not help until the quota is raised or something is freed.
/// EKS `ResourceLimitExceededException`, IAM `LimitExceeded` (its
/// `LimitExceededException`), `LimitExceededException` and
/// `ServiceQuotaExceededException` of other services, RDS
/// `InstanceQuotaExceeded`, `StorageQuotaExceeded`,
/// `DBSubnetGroupQuotaExceeded` and the other `*QuotaExceeded*` faults, S3
/// `TooManyBuckets`, EC2 `VpcLimitExceeded`. Throttling codes that also say
/// "limit" (`RequestLimitExceeded`) are checked first, and a 429 is the
/// request rate whatever its code. (The SDK still retries
/// `LimitExceededException` a few times, as it counts it as throttling.)
fn is_quota(code: &str) -> bool {
    code.contains("QuotaExceeded")
        || code.contains("LimitExceeded")
        || code.ends_with("LimitReached")
        || code == "TooManyBuckets"
}

/// Codes meaning "the resource is not there".
const NOT_FOUND: [&str; 10] = [
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NotFound",
    "NoSuchBucket",
    "NoSuchLifecycleConfiguration",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "DBSubnetGroupNotFoundFault",
    "DBSnapshotNotFound",
    "NoSuchTagSet",
];

/// Conflicts with an operation already under way, which the SDK does not
/// retry: retrying later succeeds.
fn is_conflict(code: &str, message: &str) -> bool {
    match code {
        "InvalidDBInstanceState" | "InvalidDBInstanceStateFault" | "InvalidDBClusterStateFault" => {
            !message.contains("already being deleted")
        }
        "ResourceInUseException" => message.contains("in progress"),
        "InvalidRequestException" => message.contains("state of the cluster"),
        "OperationAborted" => true,
        _ => false,
    }
}

/// The AWS error code of an SDK error, when the service sent one.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

/// What to check when AWS cannot be reached.
const REACH_HINT: &str = "check [aws] endpoint_url / AWS_ENDPOINT_URL, the network and the region";

/// Maps an SDK error onto the engine's error kinds. `what` says what was
/// being done ("creating EKS cluster `x`"); the message keeps AWS's code and
/// text, since they tell the user what to fix.
///
/// - A request that got no answer (connection refused, DNS, the connect
///   timeout, a connection lost) is `Transient`, so the engine retries it a
///   bounded number of times. Its message names the endpoint, which the
///   HTTP client of [`crate::AwsContext`] records: "cannot reach AWS at
///   http://127.0.0.1:1 (connection refused): check [aws] endpoint_url /
///   AWS_ENDPOINT_URL, the network and the region".
/// - Throttling (the request rate) is `Throttled`; a used-up quota
///   (`LimitExceededException`, `*QuotaExceeded*`, `TooManyBuckets`) is
///   `Failed`, with a hint to raise it.
/// - Not found is `NotFound`; a conflict with an operation in progress and
///   any 5xx are `Transient`; any other 4xx is `Invalid`.
pub fn classify<E>(what: &str, err: &SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, detail) = match err {
        SdkError::TimeoutError(_) => (
            ErrorKind::Transient,
            "the request timed out (no complete answer from AWS within the SDK's timeout)"
                .to_owned(),
        ),
        SdkError::DispatchFailure(_) => (ErrorKind::Transient, unreached(err)),
        SdkError::ResponseError(_) => (
            ErrorKind::Transient,
            "AWS sent a response that could not be read".to_owned(),
        ),
        SdkError::ServiceError(service) => {
            let e = service.err();
            let status = service.raw().status().as_u16();
            let code = e.code().unwrap_or("");
            let message = e.message().unwrap_or("");
            let quota = is_quota(code) && !THROTTLING.contains(&code) && status != 429;
            let kind = if quota {
                ErrorKind::Failed
            } else if THROTTLING.contains(&code) || status == 429 {
                ErrorKind::Throttled
            } else if NOT_FOUND.contains(&code) || (status == 404 && code.is_empty()) {
                ErrorKind::NotFound
            } else if is_conflict(code, message) || status >= 500 {
                ErrorKind::Transient
            } else {
                ErrorKind::Invalid
            };
            let mut detail = match (code, message) {
                ("", "") => format!("HTTP {status}"),
                ("", m) => m.to_owned(),
                (c, "") => c.to_owned(),
                (c, m) => format!("{c}: {m}"),
            };
            if quota {
                detail.push_str(
                    " (an AWS quota is used up: retrying will not help; request an increase in Service Quotas or free what counts against it)",
                );
            }
            (kind, detail)
        }
        other => (ErrorKind::Failed, describe_chain(other)),
    };
    ProviderError::new(kind, format!("{what}: {detail}"))
}

/// The message of a request that got no answer: the endpoint and what went
/// wrong when the HTTP client recorded them, else the error chain.
fn unreached(err: &(dyn std::error::Error + 'static)) -> String {
    match chain(err).find_map(|e| e.downcast_ref::<AtEndpoint>()) {
        Some(at) if at.connecting => format!(
            "cannot reach AWS at {} ({}): {REACH_HINT}",
            at.endpoint,
            at.reason()
        ),
        Some(at) => format!(
            "the connection to AWS at {} failed ({})",
            at.endpoint,
            at.reason()
        ),
        None => format!("cannot reach AWS ({}): {REACH_HINT}", describe_chain(err)),
    }
}

fn describe_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::fmt;

    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::reach::at_endpoint;

    type Err = SdkError<ErrorMetadata, HttpResponse>;

    fn service(code: &str, status: u16) -> Err {
        SdkError::service_error(
            ErrorMetadata::builder()
                .code(code)
                .message("the message")
                .build(),
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
        )
    }

    /// An error standing in for one of hyper's, with its text and source.
    #[derive(Debug)]
    struct Like(&'static str, Option<Box<dyn Error + Send + Sync>>);

    impl fmt::Display for Like {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Like {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    /// What the SDK's hyper client returns when the TCP connect fails with
    /// `kind`: client error (Connect) → tcp connect error → the io error.
    fn connect_failure(kind: std::io::ErrorKind) -> ConnectorError {
        let io = std::io::Error::from(kind);
        let tcp = Like("tcp connect error", Some(Box::new(io)));
        ConnectorError::io(Box::new(Like(
            "client error (Connect)",
            Some(Box::new(tcp)),
        )))
    }

    #[test]
    fn quotas_are_failures_not_throttling() {
        for code in [
            "LimitExceededException",
            "ResourceLimitExceededException",
            "LimitExceeded",
            "InstanceQuotaExceeded",
            "StorageQuotaExceeded",
            "DBSubnetGroupQuotaExceeded",
            "DBSubnetQuotaExceededFault",
            "ServiceQuotaExceededException",
            "TooManyBuckets",
        ] {
            let err = classify("creating x", &service(code, 400));
            assert_eq!(err.kind, ErrorKind::Failed, "{code}");
            assert!(
                err.message
                    .starts_with(&format!("creating x: {code}: the message")),
                "{}",
                err.message
            );
            assert!(err.message.contains("quota"), "{}", err.message);
        }
    }

    #[test]
    fn throttling_is_throttled() {
        for (code, status) in [
            ("Throttling", 400),
            ("ThrottlingException", 400),
            ("TooManyRequestsException", 400),
            ("RequestLimitExceeded", 503),
            ("BandwidthLimitExceeded", 400),
            ("SlowDown", 503),
            ("PriorRequestNotComplete", 400),
            // A "limit" sent with 429 is the request rate.
            ("LimitExceededException", 429),
            ("", 429),
        ] {
            let err = classify("creating x", &service(code, status));
            assert_eq!(err.kind, ErrorKind::Throttled, "{code} {status}");
        }
    }

    #[test]
    fn other_service_errors() {
        let kind = |code, status| classify("x", &service(code, status)).kind;
        assert_eq!(kind("ResourceNotFoundException", 404), ErrorKind::NotFound);
        assert_eq!(kind("InternalFailure", 500), ErrorKind::Transient);
        assert_eq!(kind("OperationAborted", 409), ErrorKind::Transient);
        assert_eq!(kind("InvalidParameterException", 400), ErrorKind::Invalid);
        assert_eq!(kind("AccessDenied", 403), ErrorKind::Invalid);
    }

    #[test]
    fn a_refused_connection_names_the_endpoint_and_is_left_to_the_engine() {
        let wrapped = at_endpoint(
            "http://127.0.0.1:1".into(),
            connect_failure(std::io::ErrorKind::ConnectionRefused),
        );
        // Not retried by the SDK: neither io, timeout nor a retryable kind.
        assert!(!wrapped.is_io() && !wrapped.is_timeout() && wrapped.as_other().is_none());
        let err = classify("creating EKS cluster `x`", &Err::dispatch_failure(wrapped));
        assert_eq!(err.kind, ErrorKind::Transient);
        assert_eq!(
            err.message,
            "creating EKS cluster `x`: cannot reach AWS at http://127.0.0.1:1 (connection refused): check [aws] endpoint_url / AWS_ENDPOINT_URL, the network and the region"
        );
    }

    #[test]
    fn connect_timeouts_and_dns_failures_name_the_endpoint() {
        let timeout = ConnectorError::timeout(Box::new(Like(
            "HTTP connect timeout occurred after 5s",
            Some(Box::new(Like("timed out", None))),
        )));
        let err = classify(
            "reading x",
            &Err::dispatch_failure(at_endpoint(
                "https://eks.eu-west-1.amazonaws.com".into(),
                timeout,
            )),
        );
        assert_eq!(err.kind, ErrorKind::Transient);
        assert!(
            err.message.starts_with(
                "reading x: cannot reach AWS at https://eks.eu-west-1.amazonaws.com (no connection within 5s): check [aws] endpoint_url"
            ),
            "{}",
            err.message
        );

        let lookup = std::io::Error::other("failed to lookup address information");
        let dns = Like("dns error", Some(Box::new(lookup)));
        let failure = ConnectorError::io(Box::new(Like(
            "client error (Connect)",
            Some(Box::new(dns)),
        )));
        let err = classify(
            "reading x",
            &Err::dispatch_failure(at_endpoint("https://rds.nowhere.invalid".into(), failure)),
        );
        assert!(
            err.message.contains(
                "cannot reach AWS at https://rds.nowhere.invalid (DNS lookup failed: failed to lookup address information)"
            ),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_lost_connection_keeps_its_kind_and_names_the_endpoint() {
        let reset = ConnectorError::io(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        let wrapped = at_endpoint("http://127.0.0.1:5000".into(), reset);
        assert!(wrapped.is_io(), "the SDK still retries a reset connection");
        let err = classify("tagging x", &Err::dispatch_failure(wrapped));
        assert_eq!(err.kind, ErrorKind::Transient);
        assert_eq!(
            err.message,
            "tagging x: the connection to AWS at http://127.0.0.1:5000 failed (connection reset)"
        );
    }

    #[test]
    fn a_dispatch_failure_from_another_client_still_says_what_to_check() {
        let err = classify(
            "reading x",
            &Err::dispatch_failure(connect_failure(std::io::ErrorKind::ConnectionRefused)),
        );
        assert_eq!(err.kind, ErrorKind::Transient);
        assert!(
            err.message.starts_with("reading x: cannot reach AWS ("),
            "{}",
            err.message
        );
        assert!(err.message.ends_with(REACH_HINT), "{}", err.message);
    }
}
