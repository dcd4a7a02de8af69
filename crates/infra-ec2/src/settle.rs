//! Deleting what is still in use for a while: after EKS or RDS (or a load
//! balancer, a Lambda) is deleted, AWS releases their network interfaces
//! minutes later, and until then deleting their subnet, security group,
//! internet gateway or VPC fails with `DependencyViolation`. That is waited
//! out within the delete's timeout, the call retried at each look, the
//! progress naming the interfaces still there; at the timeout the error
//! says exactly what still holds what. Never a bare failure, never an
//! unbounded loop.

use std::future::Future;
use std::sync::Mutex;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::NetworkInterface;
use infra_aws::{Poll, error_code, poll_until};
use infra_core::{ErrorKind, OpContext, ProviderError};

use crate::ec2::{Op, filter, is_not_found};

/// What may hold the object: the network interfaces a describe filter
/// (`subnet-id`, `group-id`, `vpc-id`) finds for its id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeldBy<'a> {
    /// The DescribeNetworkInterfaces filter.
    pub filter: &'static str,
    /// The object's id.
    pub id: &'a str,
}

/// The most interfaces a message lists.
const LISTED: usize = 5;

/// One interface, as people know it: "ENI eni-123 (Amazon EKS cluster-x)".
fn label(eni: &NetworkInterface) -> String {
    let id = eni.network_interface_id().unwrap_or("(no id)");
    let by = [eni.description(), eni.requester_id()]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .map(str::to_owned)
        .or_else(|| eni.interface_type().map(|t| t.as_str().to_owned()));
    match by {
        Some(by) => format!("ENI {id} ({by})"),
        None => format!("ENI {id}"),
    }
}

/// The interfaces in `held`, as a sentence for a message.
pub(crate) fn holders(enis: &[NetworkInterface]) -> String {
    let mut listed: Vec<String> = enis.iter().take(LISTED).map(label).collect();
    if enis.len() > LISTED {
        listed.push(format!("and {} more", enis.len() - LISTED));
    }
    listed.join(", ")
}

/// What holds `held` now, as the state of the wait.
async fn in_use(op: &Op, held: HeldBy<'_>, aws: &str) -> Result<String, ProviderError> {
    let request = op
        .client
        .describe_network_interfaces()
        .filters(filter(held.filter, held.id));
    let out = request
        .send()
        .await
        .map_err(|e| op.failed("listing the network interfaces holding", &e))?;
    let enis = out.network_interfaces();
    Ok(if enis.is_empty() {
        format!("waiting for what still depends on {} (AWS: {aws})", held.id)
    } else {
        format!(
            "waiting for ENIs held by others to be released from {}: {}",
            held.id,
            holders(enis)
        )
    })
}

/// Calls `call` (a delete, or a detach) until it succeeds, waiting out
/// `DependencyViolation` within `ctx.timeout`; a not-found answer means the
/// object is already gone. Other errors are classified and returned at once.
pub(crate) async fn while_in_use<E, F, Fut>(
    ctx: &OpContext,
    op: &Op,
    doing: &str,
    held: HeldBy<'_>,
    mut call: F,
) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), SdkError<E>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let last: Mutex<Option<String>> = Mutex::new(None);
    let what = format!("{doing} {}", op.what);
    let outcome = poll_until(ctx, &what, || {
        let attempt = call();
        let last = &last;
        async move {
            match attempt.await {
                Ok(()) => Ok(Poll::Ready(())),
                Err(e) if error_code(&e).is_some_and(is_not_found) => Ok(Poll::Ready(())),
                Err(e) if error_code(&e) == Some("DependencyViolation") => {
                    let aws = e.as_service_error().and_then(|s| s.message()).unwrap_or("");
                    let state = in_use(op, held, aws).await?;
                    if let Ok(mut last) = last.lock() {
                        *last = Some(state.clone());
                    }
                    Ok(Poll::Pending(state))
                }
                Err(e) => Err(op.failed(doing, &e)),
            }
        }
    })
    .await;
    match outcome {
        Err(e) if e.kind == ErrorKind::Timeout => {
            let state = last.lock().ok().and_then(|mut l| l.take());
            let Some(state) = state else { return Err(e) };
            Err(ProviderError::new(
                ErrorKind::Timeout,
                format!(
                    "{what}: still in use after {}s, {state}; delete what holds it (or wait until AWS releases it) and apply again, or raise lifecycle.timeouts",
                    ctx.timeout.as_secs()
                ),
            ))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_are_named_by_what_made_them() {
        let eni = |id: &str, description: &str, requester: Option<&str>| {
            NetworkInterface::builder()
                .network_interface_id(id)
                .description(description)
                .set_requester_id(requester.map(str::to_owned))
                .build()
        };
        let enis = [
            eni("eni-1", "Amazon EKS cluster-x", None),
            eni("eni-2", "", Some("amazon-rds")),
            NetworkInterface::builder()
                .network_interface_id("eni-3")
                .build(),
        ];
        assert_eq!(
            holders(&enis),
            "ENI eni-1 (Amazon EKS cluster-x), ENI eni-2 (amazon-rds), ENI eni-3"
        );
        let many: Vec<_> = (0..7)
            .map(|i| eni(&format!("eni-{i}"), "x", None))
            .collect();
        assert!(holders(&many).ends_with("and 2 more"), "{}", holders(&many));
    }
}
