//! [`IamOidcProvider`]: the `iam_openid_connect_provider` type, an OpenID
//! Connect identity provider IAM trusts (Terraform's
//! `aws_iam_openid_connect_provider`), such as an EKS cluster's issuer for
//! service-account roles. The cloud id is the ARN, also the `arn` output.
//!
//! IAM allows one provider per URL and stores the URL without its
//! `https://`; infra reports it as the stack gave it. Thumbprints are
//! optional (IAM no longer needs them for many providers and fills them
//! itself): when the stack gives none, they are computed.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIdConnectProviderOutput;
use infra_aws::{AwsOp, TagChange, Tags, error_code, found, tags_attribute};
use infra_core::{
    Attribute, ErrorKind, Existing, Fields, Observed, OpContext, OpKind, Output, ProviderError,
    Request, Resource, Schema, Type, UpdateRequest, Validator, Value, same_order, string_list,
    string_map,
};

use crate::common::{self, NO_SUCH_ENTITY, create_tags, failed, made_by, read_user_tags};

/// The resource type name.
pub const TYPE_NAME: &str = "iam_openid_connect_provider";

infra_aws::resource_type! {
    /// The `iam_openid_connect_provider` type; register it as
    /// `infra_aws::typed(IamOidcProvider::new(aws))`.
    pub struct IamOidcProvider(Client, "OpenID Connect provider");
}

/// The inputs of an `iam_openid_connect_provider`, typed.
#[derive(Debug)]
pub struct Spec {
    url: String,
    client_id_list: Vec<String>,
    /// `None`: left to IAM.
    thumbprint_list: Option<Vec<String>>,
    tags: Tags,
}

/// The URL as IAM stores it (and ends its ARN with): without the scheme.
fn stored_url(url: &str) -> &str {
    url.strip_prefix("https://").unwrap_or(url)
}

/// What the cloud has, spelled as in `reference` where IAM only
/// normalised it (the URL's scheme, the case of thumbprints).
fn observe(arn: &str, p: &GetOpenIdConnectProviderOutput, reference: &Value) -> Observed {
    let stored = p.url().unwrap_or_default();
    let url = match reference.get("url").and_then(Value::as_str) {
        Some(given) if stored_url(given).eq_ignore_ascii_case(stored) => given.to_owned(),
        _ => format!("https://{stored}"),
    };
    let given: Vec<&str> = reference
        .get("thumbprint_list")
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let spelled = |t: &String| {
        let same = given.iter().find(|g| g.eq_ignore_ascii_case(t));
        same.map_or_else(|| t.clone(), |g| (*g).to_owned())
    };
    let thumbprints: Vec<String> = p.thumbprint_list().iter().map(spelled).collect();
    let inputs = [
        ("url", Value::from(url)),
        (
            "client_id_list",
            string_list(&same_order(p.client_id_list().to_vec(), None)),
        ),
        ("thumbprint_list", string_list(&thumbprints)),
        ("tags", string_map(&common::from_sdk(p.tags()))),
    ];
    let outputs = [("id", Value::from(arn)), ("arn", Value::from(arn))];
    Observed {
        id: arn.to_owned(),
        inputs: inputs.into_iter().collect(),
        outputs: outputs.into_iter().collect(),
    }
}

/// The provider with this ARN, if there is one.
async fn get(
    op: &AwsOp<Client>,
    arn: &str,
) -> Result<Option<GetOpenIdConnectProviderOutput>, ProviderError> {
    let request = op
        .client
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn);
    found(
        request
            .send()
            .await
            .map_err(|e| failed(op, "reading", &e, "")),
    )
}

/// The ARN of the provider for `url`, if there is one (IAM allows one).
async fn arn_for(op: &AwsOp<Client>, url: &str) -> Result<Option<String>, ProviderError> {
    let listed = op.client.list_open_id_connect_providers().send().await;
    let listed = listed.map_err(|e| failed(op, "listing the providers for", &e, ""))?;
    let suffix = format!(":oidc-provider/{}", stored_url(url));
    let arns = listed
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn());
    Ok(arns
        .into_iter()
        .find(|a| {
            a.to_ascii_lowercase()
                .ends_with(&suffix.to_ascii_lowercase())
        })
        .map(str::to_owned))
}

/// The provider for the spec's URL with its ARN, if this create (its
/// token) made it; an error when another provider has the URL.
async fn ours(
    op: &AwsOp<Client>,
    ctx: &OpContext,
    spec: &Spec,
) -> Result<Option<(String, GetOpenIdConnectProviderOutput)>, ProviderError> {
    let Some(arn) = arn_for(op, &spec.url).await? else {
        return Ok(None);
    };
    let Some(provider) = get(op, &arn).await? else {
        return Ok(None);
    };
    if !made_by(provider.tags(), ctx) {
        let message = format!(
            "creating {}: IAM already has a provider for {} ({arn}), which infra did not create here; IAM allows one per URL",
            op.what, spec.url
        );
        let hint = format!(
            "to manage it with this stack, import it: `infra import {} {arn}`",
            ctx.address
        );
        return Err(ProviderError::new(ErrorKind::Invalid, message).hint(&hint));
    }
    Ok(Some((arn, provider)))
}

/// Brings the provider `arn` from `live` to `spec`.
async fn converge(
    op: &AwsOp<Client>,
    arn: &str,
    spec: &Spec,
    live: &GetOpenIdConnectProviderOutput,
) -> Result<(), ProviderError> {
    let have = live.client_id_list();
    for id in have.iter().filter(|id| !spec.client_id_list.contains(id)) {
        let request = op
            .client
            .remove_client_id_from_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .client_id(id);
        let doing = format!("removing client id `{id}` from");
        request
            .send()
            .await
            .map_err(|e| failed(op, &doing, &e, ""))?;
    }
    for id in spec.client_id_list.iter().filter(|id| !have.contains(id)) {
        let request = op
            .client
            .add_client_id_to_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .client_id(id);
        let doing = format!("adding client id `{id}` to");
        request
            .send()
            .await
            .map_err(|e| failed(op, &doing, &e, ""))?;
    }
    if let Some(desired) = &spec.thumbprint_list {
        let lower =
            |l: &[String]| same_order(l.iter().map(|t| t.to_ascii_lowercase()).collect(), None);
        if lower(desired) != lower(live.thumbprint_list()) {
            let request = op
                .client
                .update_open_id_connect_provider_thumbprint()
                .open_id_connect_provider_arn(arn)
                .set_thumbprint_list(Some(desired.clone()));
            let doing = "updating the thumbprints of";
            request
                .send()
                .await
                .map_err(|e| failed(op, doing, &e, ""))?;
        }
    }
    let change = TagChange::between(&common::from_sdk(live.tags()), &spec.tags);
    if !change.remove.is_empty() {
        let request = op
            .client
            .untag_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .set_tag_keys(Some(change.remove));
        request
            .send()
            .await
            .map_err(|e| failed(op, "untagging", &e, ""))?;
    }
    if !change.set.is_empty() {
        let request = op
            .client
            .tag_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .set_tags(Some(common::to_sdk(&change.set)));
        request
            .send()
            .await
            .map_err(|e| failed(op, "tagging", &e, ""))?;
    }
    Ok(())
}

#[async_trait]
impl Resource for IamOidcProvider {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        let url = Attribute::new("url", Type::String)
            .required()
            .forces_replacement()
            .validate(Validator::Length { min: 9, max: 255 })
            .validate(Validator::pattern(
                r"https://[^\s/?#]+(/[^\s?#]*)?",
                "an https URL without query or fragment, such as the EKS cluster's issuer",
            ));
        let client_ids = Attribute::new("client_id_list", Type::set(Type::String))
            .required()
            .validate(Validator::Count { min: 1, max: 100 })
            .validate(Validator::Length { min: 1, max: 255 });
        let thumbprints = Attribute::new("thumbprint_list", Type::set(Type::String))
            .computed()
            .validate(Validator::Count { min: 1, max: 5 })
            .validate(Validator::pattern(
                "[0-9A-Fa-f]{40}",
                "a SHA-1 fingerprint in 40 hex digits",
            ));
        Schema::new(TYPE_NAME)
            .attribute(url.describe("the issuer URL (https); IAM allows one provider per URL"))
            .attribute(client_ids.describe("the audiences (client ids) accepted, such as sts.amazonaws.com, updated in place"))
            .attribute(thumbprints.describe("fingerprints of the issuer's certificates; IAM fills them when unset, updated in place"))
            .attribute(tags_attribute("provider"))
            .output(Output::new("arn", Type::String, "the provider's ARN, to name it as a federated principal"))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        let url = f.required_string("url");
        if !f.is_set("client_id_list") {
            f.problem_at(
                "client_id_list",
                "`client_id_list` is required: the audiences, such as [\"sts.amazonaws.com\"]",
            );
        }
        let client_id_list = f.strings("client_id_list").unwrap_or_default();
        let thumbprint_list = f.strings("thumbprint_list");
        let tags = read_user_tags(f);
        Spec {
            url,
            client_id_list,
            thumbprint_list,
            tags,
        }
    }

    fn estimate(&self, op: OpKind, _inputs: &Value) -> Duration {
        Duration::from_secs(if op == OpKind::Read { 1 } else { 2 })
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, stored_url(&spec.url)).await?;
        if let Some((arn, live)) = ours(&op, ctx, spec).await? {
            ctx.progress("adopting the provider an interrupted create made");
            converge(&op, &arn, spec, &live).await?;
            let live = get(&op, &arn)
                .await?
                .ok_or_else(|| op.not_visible_yet("creating"))?;
            return Ok(observe(&arn, &live, inputs));
        }
        let request = op
            .client
            .create_open_id_connect_provider()
            .url(&spec.url)
            .set_client_id_list(Some(spec.client_id_list.clone()))
            .set_thumbprint_list(spec.thumbprint_list.clone())
            .set_tags(Some(create_tags(&spec.tags, ctx)));
        let arn = match request.send().await {
            Ok(out) => out.open_id_connect_provider_arn,
            // Made meanwhile by a retried request: ours if tagged so.
            Err(e) if error_code(&e) == Some("EntityAlreadyExists") => {
                ours(&op, ctx, spec).await?.map(|(arn, _)| arn)
            }
            Err(e) => return Err(failed(&op, "creating", &e, "")),
        };
        let arn = arn.ok_or_else(|| op.not_visible_yet("creating"))?;
        // Eventually consistent: what was just made may not show yet.
        match get(&op, &arn).await? {
            Some(live) => Ok(observe(&arn, &live, inputs)),
            None => Err(op.not_visible_yet("creating")),
        }
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let op = self.op(ctx, &existing.id).await?;
        let live = get(&op, &existing.id).await?;
        Ok(live.map(|l| observe(&existing.id, &l, &existing.inputs)))
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let (ctx, spec, inputs) = op.parts();
        let op = self.op(ctx, stored_url(&spec.url)).await?;
        let Some(arn) = arn_for(&op, &spec.url).await? else {
            return Ok(None);
        };
        let live = get(&op, &arn).await?.filter(|p| made_by(p.tags(), ctx));
        Ok(live.map(|l| observe(&arn, &l, inputs)))
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, spec, inputs) = op.parts();
        let op = self.op(ctx, &existing.id).await?;
        let live = get(&op, &existing.id)
            .await?
            .ok_or_else(|| op.gone("updating"))?;
        converge(&op, &existing.id, spec, &live).await?;
        let live = get(&op, &existing.id)
            .await?
            .ok_or_else(|| op.gone("updating"))?;
        Ok(observe(&existing.id, &live, inputs))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let op = self.op(ctx, &existing.id).await?;
        let request = op
            .client
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(&existing.id);
        match request.send().await {
            Ok(_) => {}
            Err(e) if error_code(&e) == Some(NO_SUCH_ENTITY) => return Ok(()),
            Err(e) => return Err(failed(&op, "deleting", &e, "")),
        }
        op.wait_gone(ctx, || get(&op, &existing.id)).await
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Phase, display_path};

    use super::*;
    use infra_aws::AwsContext;

    fn inputs(pairs: Vec<(&str, Value)>) -> Value {
        let mut m: std::collections::BTreeMap<String, Value> = [
            (
                "url".to_owned(),
                Value::from("https://oidc.eks.us-east-1.amazonaws.com/id/ABC"),
            ),
            (
                "client_id_list".to_owned(),
                Value::List(vec![Value::from("sts.amazonaws.com")]),
            ),
        ]
        .into_iter()
        .collect();
        for (k, v) in pairs {
            m.insert(k.to_owned(), v);
        }
        Value::Map(m)
    }

    fn problems(inputs: &Value) -> Vec<String> {
        let p = IamOidcProvider::new(AwsContext::new());
        let mut f = Fields::new(inputs, Phase::Plan);
        p.parse(&mut f);
        let schema = p.schema().validate(inputs);
        schema
            .into_iter()
            .chain(f.into_problems())
            .map(|(p, _)| display_path(&p))
            .collect()
    }

    #[test]
    fn validation_names_the_attribute() {
        assert!(problems(&inputs(vec![])).is_empty());
        let thumb = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";
        assert!(
            problems(&inputs(vec![(
                "thumbprint_list",
                Value::List(vec![Value::from(thumb)])
            )]))
            .is_empty()
        );
        let bad = inputs(vec![
            ("url", Value::from("http://oidc.example.com")),
            ("thumbprint_list", Value::List(vec![Value::from("abc")])),
            ("client_id_list", Value::List(vec![Value::from("")])),
        ]);
        assert_eq!(
            problems(&bad),
            ["url", "client_id_list[0]", "thumbprint_list[0]"]
        );
        let mut none = inputs(vec![]);
        if let Value::Map(m) = &mut none {
            m.remove("client_id_list");
            m.remove("url");
        }
        assert_eq!(problems(&none), ["url", "client_id_list"]);
    }

    #[test]
    fn observe_reports_the_url_and_thumbprints_as_given() {
        let arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC";
        let live = GetOpenIdConnectProviderOutput::builder()
            .url("oidc.eks.us-east-1.amazonaws.com/id/ABC")
            .client_id_list("sts.amazonaws.com")
            .thumbprint_list("9E99A48A9960B14926BB7F3B02E22DA2B0AB7280")
            .build();
        let given = inputs(vec![(
            "thumbprint_list",
            Value::List(vec![Value::from(
                "9e99a48a9960b14926bb7f3b02e22da2b0ab7280",
            )]),
        )]);
        let o = observe(arn, &live, &given);
        assert_eq!(o.id, arn);
        assert_eq!(o.inputs.get("url"), given.get("url"));
        assert_eq!(
            o.inputs.get("thumbprint_list"),
            given.get("thumbprint_list")
        );
        // Imported without inputs: the scheme IAM dropped is put back.
        let imported = observe(arn, &live, &Value::Null);
        assert_eq!(
            imported.inputs.get("url").and_then(Value::as_str),
            Some("https://oidc.eks.us-east-1.amazonaws.com/id/ABC")
        );
    }
}
