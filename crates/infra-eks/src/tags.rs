//! Tag changes on an EKS cluster or node group: `UntagResource` for keys
//! that went away, `TagResource` for keys added or changed.

use std::collections::BTreeMap;

use aws_sdk_eks::Client;
use infra_aws::classify;
use infra_core::{OpContext, ProviderError};

/// Brings the tags of `arn` from `old` to `new`.
pub(crate) async fn apply(
    _ctx: &OpContext,
    client: &Client,
    arn: &str,
    what: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let removed: Vec<String> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    let set: std::collections::HashMap<String, String> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !removed.is_empty() {
        let doing = format!("removing tags from {what}");
        async {
            client
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(removed.clone()))
                .send()
                .await
                .map(drop)
                .map_err(|e| classify(&doing, &e))
        }
        .await?;
    }
    if !set.is_empty() {
        let doing = format!("tagging {what}");
        async {
            client
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(set.clone()))
                .send()
                .await
                .map(drop)
                .map_err(|e| classify(&doing, &e))
        }
        .await?;
    }
    Ok(())
}
