//! What every EC2 type shares: tags (with the `infra:token` tag that makes
//! a create findable, never shown as drift), not-found codes, waiting for a
//! new object to become visible, and ARNs built from owner and region.

use std::future::Future;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use infra_aws::{AwsOp, Poll, Tags, error_code, poll_until};
use infra_core::{ErrorKind, OpContext, ProviderError, Value};

/// The tag a create puts on what it makes, holding the operation's
/// idempotency token, so a retried or recovered create finds it.
pub(crate) const TOKEN_TAG: &str = "infra:token";

/// The SDK client and the resource, for one operation.
pub(crate) type Op = AwsOp<Client>;

/// Whether an EC2 code says the object named is not there
/// (`InvalidVpcID.NotFound`, `InvalidGroup.NotFound`, `NatGatewayNotFound`).
pub(crate) fn is_not_found(code: &str) -> bool {
    code.ends_with("NotFound")
}

/// A failed call about the resource itself (describe by id, delete): EC2's
/// `*.NotFound` codes are `NotFound`, so `found` reads them as "none".
/// (Not for calls naming other objects: an unknown `vpc_id` is the stack's
/// mistake, `Invalid`.)
pub(crate) fn lookup_failed<E>(op: &Op, doing: &str, err: &SdkError<E>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut e = op.failed(doing, err);
    if error_code(err).is_some_and(is_not_found) {
        e.kind = ErrorKind::NotFound;
    }
    e
}

/// The tag list AWS returns, as a map without the token tag.
pub(crate) fn from_sdk(tags: &[Tag]) -> Tags {
    let pairs = tags
        .iter()
        .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())));
    pairs
        .filter(|(k, _)| *k != TOKEN_TAG)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The tags in observed (or applied) inputs.
pub(crate) fn observed_tags(inputs: &Value) -> Tags {
    let tags = inputs
        .get("tags")
        .and_then(Value::as_map)
        .into_iter()
        .flatten();
    tags.filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect()
}

fn to_sdk(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The tags to create an object with: the stack's and the token.
pub(crate) fn tag_spec(kind: ResourceType, tags: &Tags, token: &str) -> TagSpecification {
    let token = Tag::builder().key(TOKEN_TAG).value(token).build();
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(to_sdk(tags)))
        .tags(token)
        .build()
}

/// A describe filter.
pub(crate) fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// The filter finding what a create with `token` made.
pub(crate) fn token_filter(token: &str) -> Filter {
    filter(&format!("tag:{TOKEN_TAG}"), token)
}

/// Brings the tags of `id` from `actual` to `desired` (CreateTags /
/// DeleteTags): removals first. The token tag is in neither, so it stays.
pub(crate) async fn sync_tags(
    op: &Op,
    id: &str,
    actual: &Tags,
    desired: &Tags,
) -> Result<(), ProviderError> {
    let c = &op.client;
    let remove = |keys: Vec<String>| {
        let keys = keys.iter().map(|k| Tag::builder().key(k).build()).collect();
        c.delete_tags().resources(id).set_tags(Some(keys)).send()
    };
    let set = |tags| {
        c.create_tags()
            .resources(id)
            .set_tags(Some(to_sdk(&tags)))
            .send()
    };
    op.sync_tags(actual, desired, remove, set).await
}

/// Waits until `look` shows what a create just made: EC2 is eventually
/// consistent, and a describe right after a create may answer
/// `Invalid*ID.NotFound` (read by `look` as `None`), which here means "not
/// visible yet", not "gone".
pub(crate) async fn appear<T, F, Fut>(
    ctx: &OpContext,
    op: &Op,
    mut look: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    let waiting = format!("waiting for {} to show", op.what);
    poll_until(ctx, &waiting, || {
        let look = look();
        async move {
            Ok(match look.await? {
                Some(found) => Poll::Ready(found),
                None => Poll::Pending("not visible yet".into()),
            })
        }
    })
    .await
}

/// `arn:<partition>:ec2:<region>:<owner>:<resource>`, when the owner and
/// the client's region are known.
pub(crate) fn arn(op: &Op, owner: Option<&str>, resource: &str) -> Option<String> {
    let region = op.client.config().region()?.as_ref().to_owned();
    let owner = owner.filter(|o| !o.is_empty())?;
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    Some(format!("arn:{partition}:ec2:{region}:{owner}:{resource}"))
}

/// A boolean attribute value for Modify*Attribute calls.
pub(crate) fn flag(value: bool) -> aws_sdk_ec2::types::AttributeBooleanValue {
    aws_sdk_ec2::types::AttributeBooleanValue::builder()
        .value(value)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_tag_is_never_observed() {
        let tags = [
            Tag::builder().key("Name").value("main").build(),
            Tag::builder().key(TOKEN_TAG).value("t-1").build(),
        ];
        let read = from_sdk(&tags);
        assert_eq!(read.len(), 1);
        assert_eq!(read.get("Name").map(String::as_str), Some("main"));
        assert!(is_not_found("InvalidVpcID.NotFound"));
        assert!(is_not_found("NatGatewayNotFound"));
        assert!(!is_not_found("DependencyViolation"));
    }
}
