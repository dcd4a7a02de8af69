//! Retrying provider calls: throttling and transient errors are retried with
//! capped exponential backoff and full jitter (the AWS architecture blog's
//! "Exponential Backoff And Jitter"), within the operation's timeout, a
//! bounded number of times; everything else is returned at once.

use std::future::Future;
use std::time::{Duration, Instant};

use infra_core::{ErrorKind, OpContext, ProviderError};

/// Attempts per call, the first included.
pub(crate) const MAX_ATTEMPTS: u32 = 8;
const BASE: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(10);

/// Runs `call` until it succeeds, fails for good, exhausts its attempts or
/// `ctx.timeout` passes (a [`ErrorKind::Timeout`] error). `what` names the
/// operation in messages. Retries are reported through `ctx.progress`.
pub(crate) async fn retrying<T, F, Fut>(
    ctx: &OpContext,
    what: &str,
    mut call: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    // A timeout past what the clock can represent is no timeout.
    let deadline = Instant::now().checked_add(ctx.timeout);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        let result = match tokio::time::timeout(left, call()).await {
            Ok(r) => r,
            Err(_) => {
                return Err(ProviderError::new(
                    ErrorKind::Timeout,
                    format!(
                        "{what} did not finish within {}",
                        humantime::format_duration(ctx.timeout)
                    ),
                ));
            }
        };
        match result {
            Err(e) if e.kind.is_retryable() && attempt < MAX_ATTEMPTS => {
                let exp = BASE.saturating_mul(1 << attempt.min(16)).min(CAP);
                let wait = exp.mul_f64(rand::random::<f64>());
                if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                    return Err(e);
                }
                tracing::debug!(address = %ctx.address, attempt, ?wait, error = %e, "retrying");
                ctx.progress(&format!(
                    "retrying in {} after: {}",
                    humantime::format_duration(Duration::from_millis(wait.as_millis() as u64)),
                    e.message
                ));
                tokio::time::sleep(wait).await;
            }
            Err(e) if e.kind.is_retryable() => {
                return Err(ProviderError::new(
                    e.kind,
                    format!("gave up after {attempt} attempts: {}", e.message),
                ));
            }
            other => return other,
        }
    }
}
