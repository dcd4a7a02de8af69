//! The startup check: the store must honour conditional writes, or locks
//! and optimistic writes would silently do nothing.

use aws_sdk_s3::Client;
use infra_core::BackendError;

use crate::location::S3Location;
use crate::sdk::{Bucket, Condition, Failure};

const PROBE: &[u8] =
    b"{\"probe\": \"infra checks that this store honours conditional writes; safe to delete\"}\n";

/// An ETag no object has.
const WRONG_ETAG: &str = "\"00000000000000000000000000000000\"";

/// Checks that the store behind `location` honours conditional writes: a
/// probe object beside the state is created with `If-None-Match: *`, created
/// again (which must fail with 412), and written with `If-Match` on a wrong
/// ETag (which must fail too). The probe is deleted whatever the outcome.
pub async fn check_conditional_writes(
    client: &Client,
    location: &S3Location,
) -> Result<(), BackendError> {
    let bucket = Bucket {
        client: client.clone(),
        name: location.bucket().to_owned(),
    };
    let key = format!("{}.probe/{}", location.key(), uuid::Uuid::new_v4());
    let url = bucket.url(&key);
    let outcome = probe(&bucket, &key, location).await;
    let cleanup = bucket
        .delete(&key, None)
        .await
        .map_err(|f| f.into_error("delete the probe", &url));
    outcome.and(cleanup)
}

async fn probe(bucket: &Bucket, key: &str, location: &S3Location) -> Result<(), BackendError> {
    let url = bucket.url(key);
    bucket
        .put(key, PROBE, &Condition::Absent)
        .await
        .map_err(|f| f.into_error("write the probe", &url))?;
    let refuse = |header: &str, what: String| {
        BackendError::Io(format!(
            "the store behind {location} does not honour conditional writes ({header}): {what}; infra cannot lock state there safely, since two runs could both take the lock or overwrite each other's state. Use Amazon S3 or a store with conditional writes, or keep this stack's state local (remove `state = ...`)"
        ))
    };
    match bucket.put(key, PROBE, &Condition::Absent).await {
        Ok(_) => {
            return Err(refuse(
                "If-None-Match",
                format!("a second create of {url} with `If-None-Match: *` succeeded"),
            ));
        }
        Err(Failure::Condition) => {}
        Err(f) => return Err(f.into_error("write the probe", &url)),
    }
    match bucket
        .put(key, PROBE, &Condition::Matches(WRONG_ETAG.into()))
        .await
    {
        Ok(_) => Err(refuse(
            "If-Match",
            format!("a write of {url} with `If-Match` on a wrong ETag succeeded"),
        )),
        Err(Failure::Condition) => Ok(()),
        Err(f) => Err(f.into_error("write the probe", &url)),
    }
}
