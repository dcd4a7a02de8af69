//! Waiting for resources to become ready, and retrying conflicts, within
//! an operation's timeout.

use std::future::Future;
use std::time::{Duration, Instant};

use infra_core::{ErrorKind, OpContext, ProviderError};

/// One look at a resource: ready (with what was found), or not yet (with
/// what to tell the user, e.g. "status CREATING").
#[derive(Debug)]
pub enum Poll<T> {
    /// Done.
    Ready(T),
    /// Not yet.
    Pending(String),
}

const FIRST_INTERVAL: Duration = Duration::from_secs(2);
const MAX_INTERVAL: Duration = Duration::from_secs(30);

/// Calls `check` until it is ready, backing off from 2 s to 30 s between
/// looks, up to `ctx.timeout`. Retryable errors (throttling, transient) are
/// looked past; anything else ends the wait. The first look is immediate.
pub async fn poll_until<T, F, Fut>(
    ctx: &OpContext,
    what: &str,
    mut check: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, ProviderError>>,
{
    let started = Instant::now();
    let mut interval = FIRST_INTERVAL;
    loop {
        let state = match check().await {
            Ok(Poll::Ready(v)) => return Ok(v),
            Ok(Poll::Pending(state)) => state,
            Err(e) if e.kind.is_retryable() => e.message,
            Err(e) => return Err(e),
        };
        let waited = started.elapsed();
        if waited + interval > ctx.timeout {
            return Err(ProviderError::new(
                ErrorKind::Timeout,
                format!(
                    "{what}: not ready after {}s (last seen: {state}); raise lifecycle.timeouts if this is expected",
                    waited.as_secs()
                ),
            ));
        }
        ctx.progress(&format!("{what}: {state}"));
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(MAX_INTERVAL);
    }
}

/// Calls `op` until it succeeds, retrying throttling and transient
/// conflicts (an RDS instance that is still `modifying`, an EKS update in
/// progress) with exponential backoff and full jitter, up to `ctx.timeout`.
pub async fn retry_transient<T, F, Fut>(
    ctx: &OpContext,
    what: &str,
    mut op: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let started = Instant::now();
    let mut ceiling = FIRST_INTERVAL;
    loop {
        match op().await {
            Err(e) if e.kind.is_retryable() => {
                let wait = ceiling
                    .mul_f64(rand::random::<f64>())
                    .max(Duration::from_millis(100));
                if started.elapsed() + wait > ctx.timeout {
                    return Err(ProviderError::new(
                        e.kind,
                        format!(
                            "{what}: still failing after {}s: {}",
                            started.elapsed().as_secs(),
                            e.message
                        ),
                    ));
                }
                ctx.progress(&format!("{what}: retrying: {}", e.message));
                tokio::time::sleep(wait).await;
                ceiling = (ceiling * 2).min(MAX_INTERVAL);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn ctx(timeout: Duration) -> OpContext {
        OpContext::new(
            "s3_bucket.logs".parse().unwrap(),
            "t".into(),
            infra_core::Value::Null,
            ".".into(),
            timeout,
            Arc::new(|_| {}),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn polls_until_ready_and_times_out_with_the_last_state() {
        let n = AtomicU32::new(0);
        let got = poll_until(&ctx(Duration::from_secs(60)), "waiting", || async {
            Ok(if n.fetch_add(1, Ordering::SeqCst) < 3 {
                Poll::Pending("CREATING".into())
            } else {
                Poll::Ready(7)
            })
        })
        .await
        .unwrap();
        assert_eq!(got, 7);
        let err = poll_until(&ctx(Duration::from_secs(10)), "cluster x", || async {
            Ok::<Poll<()>, _>(Poll::Pending("CREATING".into()))
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Timeout);
        assert!(
            err.message.contains("last seen: CREATING"),
            "{}",
            err.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_conflicts_but_not_user_errors() {
        let n = AtomicU32::new(0);
        let got = retry_transient(&ctx(Duration::from_secs(600)), "modify", || async {
            if n.fetch_add(1, Ordering::SeqCst) < 4 {
                Err(ProviderError::new(
                    ErrorKind::Transient,
                    "InvalidDBInstanceState",
                ))
            } else {
                Ok("done")
            }
        })
        .await
        .unwrap();
        assert_eq!(got, "done");
        let calls = AtomicU32::new(0);
        let err = retry_transient(&ctx(Duration::from_secs(600)), "modify", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(ProviderError::new(ErrorKind::Invalid, "bad"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
