//! What moto cannot produce, against mocked SDK responses (aws-smithy-mocks):
//! client ids added and removed in place (moto has no
//! Add/RemoveClientIDToOpenIDConnectProvider), a role IAM does not show
//! right after creating it (eventual consistency), and IAM's error codes
//! as the engine sees them.

use aws_sdk_iam::Client;
use aws_sdk_iam::error::ErrorMetadata;
use aws_sdk_iam::operation::add_client_id_to_open_id_connect_provider::AddClientIdToOpenIdConnectProviderOutput;
use aws_sdk_iam::operation::attach_role_policy::AttachRolePolicyError;
use aws_sdk_iam::operation::create_role::{CreateRoleError, CreateRoleOutput};
use aws_sdk_iam::operation::delete_role::DeleteRoleError;
use aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIdConnectProviderOutput;
use aws_sdk_iam::operation::get_role::{GetRoleError, GetRoleOutput};
use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
use aws_sdk_iam::operation::list_instance_profiles_for_role::ListInstanceProfilesForRoleOutput;
use aws_sdk_iam::operation::list_role_policies::ListRolePoliciesOutput;
use aws_sdk_iam::operation::remove_client_id_from_open_id_connect_provider::RemoveClientIdFromOpenIdConnectProviderOutput;
use aws_sdk_iam::primitives::DateTime;
use aws_sdk_iam::types::{Role, Tag};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use infra_aws::AwsContext;
use infra_core::{ErrorKind, Existing, Provider, Typed, Value};
use infra_iam::{IamOidcProvider, IamRole};

use crate::support::{ctx_with, inputs, strings, table, trust};

const ARN: &str = "arn:aws:iam::123456789012:oidc-provider/oidc.example.com";

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules)
}

fn ctx() -> infra_core::OpContext {
    ctx_with("iam_role.mock", "tok", Value::Null)
}

fn role_provider(rules: &[&Rule]) -> Typed<IamRole> {
    Typed::new(IamRole::with_client(AwsContext::new(), client(rules)))
}

fn role_inputs(p: &dyn Provider) -> Value {
    inputs(
        p,
        vec![
            ("name", Value::from("mock-role")),
            ("assume_role_policy", trust("eks.amazonaws.com")),
            (
                "managed_policy_arns",
                strings(&["arn:aws:iam::123456789012:policy/p"]),
            ),
        ],
    )
}

fn role() -> Role {
    Role::builder()
        .path("/")
        .role_name("mock-role")
        .role_id("AROAMOCK")
        .arn("arn:aws:iam::123456789012:role/mock-role")
        .create_date(DateTime::from_secs(0))
        .assume_role_policy_document(infra_iam::policy::to_json(&trust("eks.amazonaws.com")))
        .max_session_duration(3600)
        .tags(
            Tag::builder()
                .key("infra:token")
                .value("tok")
                .build()
                .expect("tag"),
        )
        .build()
        .expect("a role")
}

fn no_such_role() -> GetRoleError {
    GetRoleError::generic(meta(
        "NoSuchEntity",
        "The role with name mock-role cannot be found.",
    ))
}

#[tokio::test]
async fn a_role_not_visible_right_after_create_is_retried_not_gone() {
    let get = mock!(Client::get_role)
        .sequence()
        .error(no_such_role)
        .times(2)
        .build();
    let create =
        mock!(Client::create_role).then_output(|| CreateRoleOutput::builder().role(role()).build());
    // IAM does not show the new role to the next call yet.
    let attach = mock!(Client::attach_role_policy).then_error(|| {
        AttachRolePolicyError::generic(meta(
            "NoSuchEntity",
            "The role with name mock-role cannot be found.",
        ))
    });
    let p = role_provider(&[&get, &create, &attach]);
    let err = p.create(&ctx(), &role_inputs(&p)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{}", err.message);
    assert!(
        err.message.contains("does not show it yet"),
        "{}",
        err.message
    );
    assert!(err.message.contains("iam_role.mock"), "{}", err.message);
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn a_missing_managed_policy_is_invalid_naming_the_attribute() {
    let get = mock!(Client::get_role).then_error(no_such_role);
    let create =
        mock!(Client::create_role).then_output(|| CreateRoleOutput::builder().role(role()).build());
    let attach = mock!(Client::attach_role_policy).then_error(|| {
        AttachRolePolicyError::generic(meta(
            "NoSuchEntity",
            "Policy arn:aws:iam::123456789012:policy/p does not exist or is not attachable.",
        ))
    });
    let p = role_provider(&[&get, &create, &attach]);
    let err = p.create(&ctx(), &role_inputs(&p)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
    assert!(
        err.message.contains("`managed_policy_arns`"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn iam_error_codes_are_classified_with_what_to_do() {
    let get = mock!(Client::get_role).then_error(no_such_role);
    let malformed = mock!(Client::create_role).then_error(|| {
        CreateRoleError::generic(meta(
            "MalformedPolicyDocument",
            "Invalid principal in policy",
        ))
    });
    let p = role_provider(&[&get, &malformed]);
    let err = p.create(&ctx(), &role_inputs(&p)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
    assert!(
        err.message.contains("MalformedPolicyDocument"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("`assume_role_policy`"),
        "{}",
        err.message
    );

    let quota = mock!(Client::create_role).then_error(|| {
        CreateRoleError::generic(meta(
            "LimitExceeded",
            "Cannot exceed quota for RolesPerAccount: 1000",
        ))
    });
    let p = role_provider(&[&get, &quota]);
    let err = p.create(&ctx(), &role_inputs(&p)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed, "{}", err.message);
    assert!(err.message.contains("quota"), "{}", err.message);

    // Read of a role that is gone: None, not an error.
    let p = role_provider(&[&get]);
    let existing = Existing {
        id: "mock-role".into(),
        inputs: role_inputs(&p),
        outputs: Value::map(),
    };
    assert_eq!(p.read(&ctx(), &existing).await.expect("read"), None);

    // Something attached between listing and deleting: DeleteConflict.
    let profiles = mock!(Client::list_instance_profiles_for_role).then_output(|| {
        ListInstanceProfilesForRoleOutput::builder()
            .set_instance_profiles(Some(vec![]))
            .build()
            .expect("output")
    });
    let none_attached = mock!(Client::list_attached_role_policies)
        .then_output(|| ListAttachedRolePoliciesOutput::builder().build());
    let no_inline = mock!(Client::list_role_policies).then_output(|| {
        ListRolePoliciesOutput::builder()
            .set_policy_names(Some(vec![]))
            .build()
            .expect("output")
    });
    let conflict = mock!(Client::delete_role).then_error(|| {
        DeleteRoleError::generic(meta(
            "DeleteConflict",
            "Cannot delete entity, must detach all policies first.",
        ))
    });
    let p = role_provider(&[&profiles, &none_attached, &no_inline, &conflict]);
    let err = p.delete(&ctx(), &existing).await.unwrap_err();
    assert!(err.message.contains("DeleteConflict"), "{}", err.message);
    assert!(err.message.contains("then apply again"), "{}", err.message);

    // Adopting: a role of the name with another token is not ours.
    let theirs = mock!(Client::get_role).then_output(|| {
        let mut r = role();
        r.tags = Some(vec![]);
        GetRoleOutput::builder().role(r).build()
    });
    let p = role_provider(&[&theirs]);
    let err = p.create(&ctx(), &role_inputs(&p)).await.unwrap_err();
    assert!(
        err.message.contains("infra import iam_role.mock mock-role"),
        "{}",
        err.message
    );
}

/// A provider whose client ids are `ids`, as GetOpenIDConnectProvider says.
fn oidc(ids: &[&str]) -> GetOpenIdConnectProviderOutput {
    let ids = ids.iter().map(|s| (*s).to_owned()).collect();
    GetOpenIdConnectProviderOutput::builder()
        .url("oidc.example.com")
        .set_client_id_list(Some(ids))
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .build()
}

#[tokio::test]
async fn client_ids_are_added_and_removed_in_place() {
    // Before the update, and after it.
    let get = mock!(Client::get_open_id_connect_provider)
        .sequence()
        .output(|| oidc(&["sts.amazonaws.com", "old"]))
        .output(|| oidc(&["sts.amazonaws.com", "new"]))
        .repeatedly()
        .build();
    let add = mock!(Client::add_client_id_to_open_id_connect_provider)
        .match_requests(|r| {
            r.client_id() == Some("new") && r.open_id_connect_provider_arn() == Some(ARN)
        })
        .then_output(|| AddClientIdToOpenIdConnectProviderOutput::builder().build());
    let remove = mock!(Client::remove_client_id_from_open_id_connect_provider)
        .match_requests(|r| r.client_id() == Some("old"))
        .then_output(|| RemoveClientIdFromOpenIdConnectProviderOutput::builder().build());
    let p = Typed::new(IamOidcProvider::with_client(
        AwsContext::new(),
        client(&[&get, &add, &remove]),
    ));
    let before = inputs(
        &p,
        vec![
            ("url", Value::from("https://oidc.example.com")),
            ("client_id_list", strings(&["sts.amazonaws.com", "old"])),
            (
                "thumbprint_list",
                strings(&["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]),
            ),
        ],
    );
    let existing = Existing {
        id: ARN.into(),
        inputs: before.clone(),
        outputs: table(vec![("arn", ARN.into())]),
    };
    let mut desired = before.clone();
    if let Value::Map(m) = &mut desired {
        m.insert(
            "client_id_list".into(),
            strings(&["new", "sts.amazonaws.com"]),
        );
    }
    let c = ctx_with("iam_openid_connect_provider.mock", "tok", Value::Null);
    let updated = p.update(&c, &existing, &desired).await.expect("update");
    assert_eq!(updated.id, ARN);
    let schema = p.schema();
    let ids = &schema.input("client_id_list").expect("attribute").ty;
    assert!(ids.same(
        updated.inputs.get("client_id_list").unwrap(),
        desired.get("client_id_list").unwrap()
    ));
    assert_eq!(add.num_calls(), 1);
    assert_eq!(remove.num_calls(), 1);
    assert_eq!(
        schema.change_at(&[infra_core::PathSeg::Key("client_id_list".into())]),
        infra_core::Change::InPlace
    );
}
