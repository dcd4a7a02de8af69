//! What both IAM types share: the token tag that marks what a create made,
//! IAM's tag lists, and IAM's error codes classified for the engine.

use aws_sdk_iam::Client;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::Tag;
use infra_aws::{AwsOp, Tags, error_code, read_tags};
use infra_core::{ErrorKind, Fields, OpContext, ProviderError};

/// The tag a create puts on what it makes, valued with the operation's
/// token, so that a retried or recovered create adopts it (IAM takes no
/// client token). Never reported as one of the `tags`.
pub(crate) const TOKEN_TAG: &str = "infra:token";

/// IAM's code for "there is no such role / policy / provider".
pub(crate) const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// Reads the `tags` input, refusing the key infra keeps for itself.
pub(crate) fn read_user_tags(f: &mut Fields<'_>) -> Tags {
    let tags = read_tags(f, "tags");
    if tags.contains_key(TOKEN_TAG) {
        let message =
            format!("tag key `{TOKEN_TAG}` is reserved: infra marks what it creates with it");
        f.problem(
            &[
                infra_core::PathSeg::Key("tags".into()),
                infra_core::PathSeg::Key(TOKEN_TAG.into()),
            ],
            message,
        );
    }
    tags
}

/// The tags of an IAM object, without infra's token tag.
pub(crate) fn from_sdk(tags: &[Tag]) -> Tags {
    let pairs = tags.iter().filter(|t| t.key() != TOKEN_TAG);
    pairs
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

/// Whether an IAM object's tags say this create (its token) made it.
pub(crate) fn made_by(tags: &[Tag], ctx: &OpContext) -> bool {
    !ctx.token.is_empty()
        && tags
            .iter()
            .any(|t| t.key() == TOKEN_TAG && t.value() == ctx.token)
}

/// A tag map as IAM's list.
pub(crate) fn to_sdk(tags: &Tags) -> Vec<Tag> {
    let tag = |(k, v): (&String, &String)| Tag::builder().key(k).value(v).build().ok();
    tags.iter().filter_map(tag).collect()
}

/// The tags a create sends: the stack's and the token tag.
pub(crate) fn create_tags(tags: &Tags, ctx: &OpContext) -> Vec<Tag> {
    let mut all = tags.clone();
    if !ctx.token.is_empty() {
        all.insert(TOKEN_TAG.to_owned(), ctx.token.clone());
    }
    to_sdk(&all)
}

/// `err` of the call made while `doing`, classified with what IAM's codes
/// mean: `NoSuchEntity` is not found (infra_aws::classify does not know the
/// code), `LimitExceeded` a used-up quota, and `EntityAlreadyExists`,
/// `DeleteConflict` and `MalformedPolicyDocument` say what to do.
/// `attribute` names the input a malformed document came from.
pub(crate) fn failed<E>(
    op: &AwsOp<Client>,
    doing: &str,
    err: &SdkError<E>,
    attribute: &str,
) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut e = op.failed(doing, err);
    match error_code(err) {
        Some(NO_SUCH_ENTITY) => e.kind = ErrorKind::NotFound,
        Some("MalformedPolicyDocument") => {
            e.kind = ErrorKind::Invalid;
            return e.hint(&format!(
                "IAM refuses the policy document in `{attribute}`: correct it"
            ));
        }
        Some("DeleteConflict") => {
            return e.hint("something still uses it (an attached policy, an instance profile): remove that, then apply again");
        }
        Some("EntityAlreadyExists") => {
            return e.hint("it exists already: import it with `infra import ADDRESS ID`, or choose another name");
        }
        _ => {}
    }
    e
}
