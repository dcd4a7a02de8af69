//! Classifying SDK errors into what the engine should do about them.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use infra_core::{ErrorKind, ProviderError};

/// Codes AWS uses for throttling (the SDK retries these a few times first;
/// what is left is retried by the engine with longer backoff).
const THROTTLING: [&str; 14] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Codes meaning "the resource is not there".
const NOT_FOUND: [&str; 9] = [
    "ResourceNotFoundException",
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

/// Maps an SDK error onto the engine's error kinds. `what` says what was
/// being done ("creating EKS cluster `x`"); the message keeps AWS's code and
/// text, since they tell the user what to fix.
pub fn classify<E>(what: &str, err: &SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, detail) = match err {
        SdkError::TimeoutError(_) => (ErrorKind::Transient, "the request timed out".to_owned()),
        SdkError::DispatchFailure(_) => (
            ErrorKind::Transient,
            format!("could not reach AWS: {}", describe_chain(err)),
        ),
        SdkError::ResponseError(_) => (
            ErrorKind::Transient,
            "AWS sent a response that could not be read".to_owned(),
        ),
        SdkError::ServiceError(service) => {
            let e = service.err();
            let status = service.raw().status().as_u16();
            let code = e.code().unwrap_or("");
            let message = e.message().unwrap_or("");
            let kind = if THROTTLING.contains(&code) || status == 429 {
                ErrorKind::Throttled
            } else if NOT_FOUND.contains(&code) || (status == 404 && code.is_empty()) {
                ErrorKind::NotFound
            } else if is_conflict(code, message) || status >= 500 {
                ErrorKind::Transient
            } else {
                ErrorKind::Invalid
            };
            let detail = match (code, message) {
                ("", "") => format!("HTTP {status}"),
                ("", m) => m.to_owned(),
                (c, "") => c.to_owned(),
                (c, m) => format!("{c}: {m}"),
            };
            (kind, detail)
        }
        other => (ErrorKind::Failed, describe_chain(other)),
    };
    ProviderError::new(kind, format!("{what}: {detail}"))
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
