//! RDS tags: the SDK's tag list, and bringing a resource's tags to what is
//! desired with `AddTagsToResource` / `RemoveTagsFromResource`.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::Tag;
use infra_aws::{AwsOp, Tags};
use infra_core::ProviderError;

/// The tag list AWS returns, as a map.
pub(crate) fn from_sdk(tags: &[Tag]) -> Tags {
    let pairs = tags
        .iter()
        .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())));
    pairs.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// A tag map as the SDK's list.
pub(crate) fn to_sdk(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Reads the tags of an RDS resource by ARN.
pub(crate) async fn list(op: &AwsOp<Client>, arn: &str) -> Result<Tags, ProviderError> {
    let request = op.client.list_tags_for_resource().resource_name(arn);
    let out = request
        .send()
        .await
        .map_err(|e| op.failed("reading the tags of", &e))?;
    Ok(from_sdk(out.tag_list()))
}

/// Brings the tags of `arn` from `actual` to `desired`.
pub(crate) async fn sync(
    op: &AwsOp<Client>,
    arn: &str,
    actual: &Tags,
    desired: &Tags,
) -> Result<(), ProviderError> {
    let c = &op.client;
    let remove = |keys| {
        c.remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(keys))
            .send()
    };
    let set = |tags| {
        c.add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(to_sdk(&tags)))
            .send()
    };
    op.sync_tags(actual, desired, remove, set).await
}
