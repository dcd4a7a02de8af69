//! Waiting for resources to reach a state, within an operation's timeout.
//!
//! Waiting is not retrying: a call that fails is classified and handed to
//! the engine, whose retry policy is the only one. A wait looks past a few
//! failed looks in a row (a blip while a cluster is created for fifteen
//! minutes should not fail the create), but no more than
//! [`MAX_FAILED_LOOKS`]: an endpoint that stopped answering fails the wait
//! within a minute, not at the end of its timeout.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

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

/// Looks in a row that may fail with a retryable error (throttling, an
/// unreachable endpoint, a 5xx) before a wait gives up with the last error.
pub const MAX_FAILED_LOOKS: u32 = 5;

/// Calls `check` until it is ready, backing off from 2 s to 30 s between
/// looks, up to `ctx.timeout`. The first look is immediate.
///
/// A retryable error (throttling, transient) is looked past, up to
/// [`MAX_FAILED_LOOKS`] in a row; then the wait ends with that error, as
/// it ends at once with any other error.
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
    let mut failed = 0;
    loop {
        let state = match check().await {
            Ok(Poll::Ready(v)) => return Ok(v),
            Ok(Poll::Pending(state)) => {
                failed = 0;
                state
            }
            Err(e) if e.kind.is_retryable() && failed + 1 < MAX_FAILED_LOOKS => {
                failed += 1;
                e.message
            }
            Err(mut e) if e.kind.is_retryable() => {
                e.message
                    .push_str(&format!(" ({MAX_FAILED_LOOKS} looks in a row failed)"));
                return Err(e);
            }
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

/// Makes `call` until it succeeds or fails with something other than a
/// dependency the cloud is still settling: `settling(&err)` says what is
/// awaited ("IAM role x to be assumable by EKS") when the error means that.
/// Such an error is waited out, with progress, for at most `window` (and
/// the operation's timeout); after that it is returned, with what was
/// awaited and for how long. Any other error is returned at once.
///
/// This is waiting, not retrying: the call is how the cloud tells whether
/// the dependency has settled (IAM is eventually consistent, and EKS sees a
/// new role only when it sees it).
pub async fn until_settled<T, F, Fut, S>(
    ctx: &OpContext,
    window: Duration,
    mut call: F,
    settling: S,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
    S: Fn(&ProviderError) -> Option<String>,
{
    let started = Instant::now();
    let mut interval = FIRST_INTERVAL;
    loop {
        let err = match call().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let Some(awaited) = settling(&err) else {
            return Err(err);
        };
        let waited = started.elapsed();
        if waited + interval > window.min(ctx.timeout) {
            let mut err = err;
            err.message.push_str(&format!(
                " (waited {}s for {awaited}; if it never settles, check it)",
                waited.as_secs()
            ));
            return Err(err);
        }
        ctx.progress(&format!("waiting for {awaited}"));
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(MAX_INTERVAL);
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
    async fn settling_errors_are_waited_out_within_the_window_and_others_end_at_once() {
        let settling = |e: &ProviderError| {
            e.message
                .contains("cannot be assumed")
                .then(|| "role r to be assumable".to_owned())
        };
        let calls = AtomicU32::new(0);
        let window = Duration::from_secs(120);
        let got = until_settled(
            &ctx(Duration::from_secs(3600)),
            window,
            || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0..3 => Err(ProviderError::new(
                        ErrorKind::Invalid,
                        "role cannot be assumed",
                    )),
                    n => Ok(n),
                }
            },
            settling,
        )
        .await
        .unwrap();
        assert_eq!(got, 3);

        let started = tokio::time::Instant::now();
        let err = until_settled(
            &ctx(Duration::from_secs(3600)),
            window,
            || async {
                Err::<(), _>(ProviderError::new(
                    ErrorKind::Invalid,
                    "role cannot be assumed",
                ))
            },
            settling,
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() <= window, "bounded by the window");
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(
            err.message.contains("for role r to be assumable"),
            "{}",
            err.message
        );

        let calls = AtomicU32::new(0);
        let err = until_settled(
            &ctx(Duration::from_secs(3600)),
            window,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(ProviderError::new(ErrorKind::Invalid, "bad subnet"))
            },
            settling,
        )
        .await
        .unwrap_err();
        assert_eq!(
            (calls.load(Ordering::SeqCst), err.message.as_str()),
            (1, "bad subnet")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn looks_past_a_few_failed_looks_but_not_many() {
        // Failures between successful looks are looked past.
        let n = AtomicU32::new(0);
        let got = poll_until(&ctx(Duration::from_secs(3600)), "waiting", || async {
            let i = n.fetch_add(1, Ordering::SeqCst);
            match i {
                _ if i >= 10 => Ok(Poll::Ready(i)),
                _ if i.is_multiple_of(2) => Err(ProviderError::new(ErrorKind::Transient, "blip")),
                _ => Ok(Poll::Pending("CREATING".into())),
            }
        })
        .await
        .unwrap();
        assert_eq!(got, 10);

        // An endpoint that stopped answering ends the wait after
        // MAX_FAILED_LOOKS looks, long before the timeout.
        let looks = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let err = poll_until(&ctx(Duration::from_secs(3600)), "cluster x", || async {
            looks.fetch_add(1, Ordering::SeqCst);
            Err::<Poll<()>, _>(ProviderError::new(
                ErrorKind::Transient,
                "cannot reach AWS at http://127.0.0.1:1 (connection refused)",
            ))
        })
        .await
        .unwrap_err();
        assert_eq!(looks.load(Ordering::SeqCst), MAX_FAILED_LOOKS);
        assert_eq!(err.kind, ErrorKind::Transient);
        assert!(err.message.contains("127.0.0.1:1"), "{}", err.message);
        assert!(
            err.message.contains("5 looks in a row failed"),
            "{}",
            err.message
        );
        assert!(started.elapsed() < Duration::from_secs(60));

        // Anything else ends it at once.
        let looks = AtomicU32::new(0);
        let err = poll_until(&ctx(Duration::from_secs(3600)), "cluster x", || async {
            looks.fetch_add(1, Ordering::SeqCst);
            Err::<Poll<()>, _>(ProviderError::new(ErrorKind::Failed, "FAILED"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Failed);
        assert_eq!(looks.load(Ordering::SeqCst), 1);
    }
}
