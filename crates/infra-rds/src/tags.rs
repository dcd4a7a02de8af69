//! RDS tags: conversion, and bringing a resource's tags to what is desired
//! with `AddTagsToResource` / `RemoveTagsFromResource`.

use std::collections::BTreeMap;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::Tag;
use infra_aws::classify;
use infra_core::{OpContext, ProviderError};

/// The tag list AWS returns, as a map.
pub(crate) fn from_sdk(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// A tag map as the SDK's list.
pub(crate) fn to_sdk(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// What to add (new or changed values) and what to remove.
pub(crate) fn diff(
    actual: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let add = desired
        .iter()
        .filter(|(k, v)| actual.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = actual
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect();
    (add, remove)
}

/// Reads the tags of an RDS resource by ARN.
pub(crate) async fn list(
    client: &Client,
    what: &str,
    arn: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = client
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| classify(&format!("reading the tags of {what}"), &e))?;
    Ok(from_sdk(out.tag_list()))
}

/// Brings the tags of `arn` from `actual` to `desired`.
pub(crate) async fn sync(
    client: &Client,
    _ctx: &OpContext,
    what: &str,
    arn: &str,
    actual: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let (add, remove) = diff(actual, desired);
    if !remove.is_empty() {
        let doing = format!("removing tags from {what}");
        async {
            client
                .remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(remove.clone()))
                .send()
                .await
                .map_err(|e| classify(&doing, &e))
        }
        .await?;
    }
    if !add.is_empty() {
        let doing = format!("tagging {what}");
        async {
            client
                .add_tags_to_resource()
                .resource_name(arn)
                .set_tags(Some(to_sdk(&add)))
                .send()
                .await
                .map_err(|e| classify(&doing, &e))
        }
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_adds_changed_and_removes_missing() {
        let m = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let (add, remove) = diff(
            &m(&[("a", "1"), ("b", "2"), ("c", "3")]),
            &m(&[("a", "1"), ("b", "9"), ("d", "4")]),
        );
        assert_eq!(add, m(&[("b", "9"), ("d", "4")]));
        assert_eq!(remove, vec!["c".to_owned()]);
    }
}
