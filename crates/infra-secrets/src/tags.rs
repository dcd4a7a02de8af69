//! Secrets Manager tags: the SDK's tag list, the `infra:token` tag a create
//! leaves (never reported, never removed), and bringing a secret's tags to
//! what is desired with `TagResource` / `UntagResource`.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::Tag;
use infra_aws::{AwsOp, Tags};
use infra_core::ProviderError;

/// The tag a create puts on the secret: the journal's token, by which an
/// interrupted create's secret is recognised as ours.
pub const TOKEN_TAG: &str = "infra:token";

/// The tag list AWS returns, as a map (with the token tag).
pub(crate) fn from_sdk(tags: &[Tag]) -> Tags {
    let pairs = tags
        .iter()
        .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())));
    pairs.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// The tags the stack manages: all but the token tag.
pub(crate) fn own(tags: &[Tag]) -> Tags {
    let mut tags = from_sdk(tags);
    tags.remove(TOKEN_TAG);
    tags
}

/// A tag map as the SDK's list.
pub(crate) fn to_sdk(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Brings the stack's tags of secret `id` from `actual` to `desired`
/// (both without the token tag, which is left alone): removals first.
pub(crate) async fn sync(
    op: &AwsOp<Client>,
    id: &str,
    actual: &Tags,
    desired: &Tags,
) -> Result<(), ProviderError> {
    let c = &op.client;
    let remove = |keys| {
        c.untag_resource()
            .secret_id(id)
            .set_tag_keys(Some(keys))
            .send()
    };
    let set = |tags| {
        c.tag_resource()
            .secret_id(id)
            .set_tags(Some(to_sdk(&tags)))
            .send()
    };
    op.sync_tags(actual, desired, remove, set).await
}
