//! `iam_role` against moto: the conformance suite, a role for EKS with a
//! managed and an inline policy checked through the SDK, drift in its
//! attachments, adoption by token, and a clean delete.

use infra_aws::testing::Emulator;
use infra_core::conformance::{self, Case};
use infra_core::{ErrorKind, Provider, Typed, Value};
use infra_iam::IamRole;
use infra_iam::policy::{from_aws, same_policy};

use crate::support::{
    allow, assert_applied, attached, ctx, existing, inputs, managed_policy, sdk, strings, table,
    trust, unique, with,
};

fn provider() -> Typed<IamRole> {
    Typed::new(IamRole::new(Emulator::shared().context()))
}

#[tokio::test]
async fn conformance() {
    let p = provider();
    let sdk = sdk().await;
    let first = managed_policy(&sdk, "conf-a").await;
    let second = managed_policy(&sdk, "conf-b").await;
    let case = Case {
        inputs: table(vec![
            ("name", Value::from(unique("conf-role"))),
            ("assume_role_policy", trust("eks.amazonaws.com")),
            ("managed_policy_arns", strings(&[&first])),
            (
                "inline_policies",
                table(vec![("logs", allow("logs:PutLogEvents", "*"))]),
            ),
            ("tags", table(vec![("team", "data".into())])),
        ]),
        updates: vec![
            ("description", Value::from("airflow workers")),
            ("assume_role_policy", trust("ec2.amazonaws.com")),
            ("managed_policy_arns", strings(&[&second, &first])),
            (
                "inline_policies",
                table(vec![("s3", allow("s3:GetObject", "arn:aws:s3:::logs/*"))]),
            ),
            ("max_session_duration", Value::Int(7200)),
            (
                "tags",
                table(vec![("team", "platform".into()), ("env", "dev".into())]),
            ),
        ],
        replacing: vec!["name", "path"],
    };
    let ctx = |token: &str| ctx("iam_role.conformance", token);
    let passed = conformance::run(&p, &ctx, case).await;
    assert_eq!(passed.len(), 7, "every check ran: {passed:?}");
}

#[tokio::test]
async fn an_eks_role_reads_back_as_applied_and_deletes_cleanly() {
    let p = provider();
    let sdk = sdk().await;
    let managed = managed_policy(&sdk, "eks-cluster").await;
    let name = unique("airflow-eks");
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("assume_role_policy", trust("eks.amazonaws.com")),
            ("managed_policy_arns", strings(&[&managed])),
            (
                "inline_policies",
                table(vec![("logs", allow("logs:PutLogEvents", "*"))]),
            ),
            ("description", Value::from("the EKS control plane")),
            ("tags", table(vec![("team", "data".into())])),
        ],
    );
    let c = ctx("iam_role.eks", "tok-eks");
    let created = p.create(&c, &given).await.expect("create");
    assert_eq!(created.id, name);
    // Observed inputs equal what was applied (what was not, reads as null).
    assert_applied(&created.inputs, &given);
    let arn = created
        .outputs
        .get("arn")
        .and_then(Value::as_str)
        .expect("arn");
    assert!(arn.ends_with(&format!(":role/{name}")), "{arn}");
    assert_eq!(
        created.outputs.get("name"),
        Some(&Value::from(name.clone()))
    );
    let unique_id = created.outputs.get("unique_id").and_then(Value::as_str);
    assert!(unique_id.is_some_and(|u| !u.is_empty()));

    // What the emulator holds.
    let role = sdk
        .get_role()
        .role_name(&name)
        .send()
        .await
        .expect("get role");
    let role = role.role.expect("role");
    let raw = role.assume_role_policy_document().expect("trust policy");
    assert!(
        raw.starts_with("%7B"),
        "URL-encoded, as IAM returns it: {raw}"
    );
    let trust_read = from_aws(raw).expect("a JSON document");
    assert!(same_policy(&trust_read, &trust("eks.amazonaws.com")));
    assert_eq!(role.description(), Some("the EKS control plane"));
    let mut tags: Vec<(&str, &str)> = role.tags().iter().map(|t| (t.key(), t.value())).collect();
    tags.sort();
    assert_eq!(tags, [("infra:token", "tok-eks"), ("team", "data")]);
    assert_eq!(attached(&sdk, &name).await, std::slice::from_ref(&managed));
    let inline = sdk
        .get_role_policy()
        .role_name(&name)
        .policy_name("logs")
        .send()
        .await
        .expect("get role policy");
    assert!(inline.policy_document().starts_with("%7B"));
    let doc = from_aws(inline.policy_document()).expect("a JSON document");
    assert!(same_policy(&doc, &allow("logs:PutLogEvents", "*")));

    // A second read changes nothing: the second plan is empty.
    let read = p
        .read(&c, &existing(&created))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, created);
    let again = p
        .read(&c, &existing(&read))
        .await
        .expect("read")
        .expect("exists");
    assert_applied(&again.inputs, &given);

    // Delete takes off the policies and the instance profile first.
    let profile = unique("airflow-nodes");
    sdk.create_instance_profile()
        .instance_profile_name(&profile)
        .send()
        .await
        .expect("create instance profile");
    sdk.add_role_to_instance_profile()
        .instance_profile_name(&profile)
        .role_name(&name)
        .send()
        .await
        .expect("add role to instance profile");
    p.delete(&c, &existing(&read)).await.expect("delete");
    let gone = sdk.get_role().role_name(&name).send().await;
    let code = gone
        .err()
        .and_then(|e| e.into_service_error().meta().code().map(str::to_owned));
    assert_eq!(code.as_deref(), Some("NoSuchEntity"));
    let held = sdk
        .get_instance_profile()
        .instance_profile_name(&profile)
        .send()
        .await
        .expect("get instance profile");
    assert!(held.instance_profile().expect("profile").roles().is_empty());
    assert_eq!(p.read(&c, &existing(&read)).await.expect("read"), None);
    p.delete(&c, &existing(&read))
        .await
        .expect("deleting what is gone succeeds");
}

#[tokio::test]
async fn drift_in_attachments_is_seen_and_undone() {
    let p = provider();
    let sdk = sdk().await;
    let wanted = managed_policy(&sdk, "drift-wanted").await;
    let stray = managed_policy(&sdk, "drift-stray").await;
    let name = unique("drift-role");
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("assume_role_policy", trust("eks.amazonaws.com")),
            ("managed_policy_arns", strings(&[&wanted])),
            (
                "inline_policies",
                table(vec![("keep", allow("s3:GetObject", "*"))]),
            ),
        ],
    );
    let c = ctx("iam_role.drift", "tok-drift");
    let created = p.create(&c, &given).await.expect("create");

    // By hand: the wanted policy detached, another attached, an inline added.
    sdk.detach_role_policy()
        .role_name(&name)
        .policy_arn(&wanted)
        .send()
        .await
        .expect("detach");
    sdk.attach_role_policy()
        .role_name(&name)
        .policy_arn(&stray)
        .send()
        .await
        .expect("attach");
    let extra = infra_iam::policy::to_json(&allow("iam:*", "*"));
    sdk.put_role_policy()
        .role_name(&name)
        .policy_name("extra")
        .policy_document(extra)
        .send()
        .await
        .expect("put role policy");

    let drifted = p
        .read(&c, &existing(&created))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        drifted.inputs.get("managed_policy_arns"),
        Some(&strings(&[&stray]))
    );
    let inline = drifted
        .inputs
        .get("inline_policies")
        .and_then(Value::as_map)
        .expect("map");
    assert_eq!(inline.keys().collect::<Vec<_>>(), ["extra", "keep"]);
    assert_eq!(
        inline.get("keep"),
        given.get("inline_policies").and_then(|i| i.get("keep"))
    );

    let updated = p
        .update(&c, &existing(&drifted), &given)
        .await
        .expect("update");
    assert_applied(&updated.inputs, &given);
    assert_eq!(attached(&sdk, &name).await, [wanted]);
    let names = sdk
        .list_role_policies()
        .role_name(&name)
        .send()
        .await
        .expect("list");
    assert_eq!(names.policy_names(), ["keep"]);
    let read = p
        .read(&c, &existing(&updated))
        .await
        .expect("read")
        .expect("exists");
    assert_applied(&read.inputs, &given);
    p.delete(&c, &existing(&read)).await.expect("delete");
}

#[tokio::test]
async fn create_adopts_only_a_role_carrying_its_token() {
    let p = provider();
    let sdk = sdk().await;
    let managed = managed_policy(&sdk, "adopt").await;
    let name = unique("adopt-role");
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("assume_role_policy", trust("eks.amazonaws.com")),
            ("managed_policy_arns", strings(&[&managed])),
        ],
    );
    // An interrupted create: the role made with its token, nothing attached.
    sdk.create_role()
        .role_name(&name)
        .assume_role_policy_document(infra_iam::policy::to_json(&trust("eks.amazonaws.com")))
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("infra:token")
                .value("tok-1")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("create role");
    let c = ctx("iam_role.adopt", "tok-1");
    assert!(p.find(&c, &given).await.expect("find").is_some());
    let adopted = p.create(&c, &given).await.expect("create adopts");
    assert_applied(&adopted.inputs, &given);
    assert_eq!(attached(&sdk, &name).await, [managed]);

    // Another create (another token) finds a role it did not make.
    let other = ctx("iam_role.other", "tok-2");
    assert_eq!(p.find(&other, &given).await.expect("find"), None);
    let err = p.create(&other, &given).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
    assert!(err.message.contains("already exists"), "{}", err.message);
    assert!(
        err.message
            .contains(&format!("infra import iam_role.other {name}")),
        "{}",
        err.message
    );
    assert!(err.message.contains("iam_role.other"), "{}", err.message);
    p.delete(&c, &existing(&adopted)).await.expect("delete");
}

#[tokio::test]
async fn unset_policy_lists_are_not_managed() {
    let p = provider();
    let sdk = sdk().await;
    let by_hand = managed_policy(&sdk, "unmanaged").await;
    let name = unique("unmanaged-role");
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("assume_role_policy", trust("eks.amazonaws.com")),
        ],
    );
    let c = ctx("iam_role.unmanaged", "tok-u");
    let created = p.create(&c, &given).await.expect("create");
    sdk.attach_role_policy()
        .role_name(&name)
        .policy_arn(&by_hand)
        .send()
        .await
        .expect("attach");
    let changed = with(&given, "description", Value::from("now described"));
    let updated = p
        .update(&c, &existing(&created), &changed)
        .await
        .expect("update");
    assert_eq!(
        attached(&sdk, &name).await,
        std::slice::from_ref(&by_hand),
        "left alone"
    );
    assert_eq!(
        updated.inputs.get("managed_policy_arns"),
        Some(&strings(&[&by_hand]))
    );
    p.delete(&c, &existing(&updated))
        .await
        .expect("delete with a policy attached by hand");
}
