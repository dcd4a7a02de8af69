//! `iam_role` with `service_account_trust` against moto: the conformance
//! suite, and a role for Kubernetes service accounts whose trust policy is
//! checked through the SDK as IAM holds it (the condition keys built from
//! the OIDC provider's ARN), read back without drift, changed in place,
//! changed by hand (drift, undone), and deleted.

use infra_aws::testing::Emulator;
use infra_core::conformance::{self, Case};
use infra_core::{Provider, Typed, Value};
use infra_iam::IamRole;
use infra_iam::policy::url_decode;
use serde_json::json;

use crate::support::{
    assert_applied, ctx, existing, inputs, sdk, strings, table, trust, unique, with,
};

fn provider() -> Typed<IamRole> {
    Typed::new(IamRole::new(Emulator::shared().context()))
}

/// An OIDC provider for a new cluster issuer, made in the emulator: its
/// ARN and the issuer's host path.
async fn oidc_provider(sdk: &aws_sdk_iam::Client) -> (String, String) {
    let host = format!("oidc.eks.us-east-1.amazonaws.com/id/{}", unique("CLUSTER"));
    let out = sdk
        .create_open_id_connect_provider()
        .url(format!("https://{host}"))
        .client_id_list("sts.amazonaws.com")
        .send()
        .await
        .expect("create OIDC provider");
    let arn = out.open_id_connect_provider_arn().expect("provider arn");
    assert_eq!(
        arn,
        format!("arn:aws:iam::123456789012:oidc-provider/{host}"),
        "moto names providers as IAM does"
    );
    (arn.to_owned(), host)
}

async fn delete_oidc_provider(sdk: &aws_sdk_iam::Client, arn: &str) {
    sdk.delete_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
        .expect("delete OIDC provider");
}

/// `service_account_trust` as a stack writes it.
fn service_account_trust(arn: &str, accounts: &[&str]) -> Value {
    table(vec![
        ("oidc_provider_arn", Value::from(arn)),
        ("service_accounts", strings(accounts)),
    ])
}

/// The role's trust policy as IAM holds it: GetRole, URL-decoded.
async fn held_trust(sdk: &aws_sdk_iam::Client, role: &str) -> serde_json::Value {
    let got = sdk
        .get_role()
        .role_name(role)
        .send()
        .await
        .expect("get role");
    let raw = got
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .expect("trust policy")
        .to_owned();
    assert!(
        raw.starts_with("%7B"),
        "URL-encoded, as IAM returns it: {raw}"
    );
    let text = url_decode(&raw).expect("a URL-encoded document");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{role}'s trust policy: {e}: {text}"))
}

/// The `system:serviceaccount:` subjects of `accounts`.
fn subjects(accounts: &[&str]) -> serde_json::Value {
    let subs: Vec<String> = accounts
        .iter()
        .map(|a| format!("system:serviceaccount:{a}"))
        .collect();
    json!(subs)
}

/// The one statement IAM holds for service accounts, exactly.
fn irsa_statement(arn: &str, host: &str, accounts: &[&str]) -> serde_json::Value {
    let operator = if accounts.iter().any(|a| a.ends_with(":*")) {
        "StringLike"
    } else {
        "StringEquals"
    };
    let mut condition = json!({
        "StringEquals": { format!("{host}:aud"): "sts.amazonaws.com" }
    });
    condition[operator][format!("{host}:sub")] = subjects(accounts);
    json!({
        "Effect": "Allow",
        "Principal": { "Federated": arn },
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition
    })
}

#[tokio::test]
async fn conformance_with_service_account_trust() {
    let p = provider();
    let sdk = sdk().await;
    let (arn, _) = oidc_provider(&sdk).await;
    let case = Case {
        inputs: table(vec![
            ("name", Value::from(unique("conf-irsa"))),
            (
                "service_account_trust",
                service_account_trust(&arn, &["airflow:airflow-worker"]),
            ),
        ]),
        updates: vec![
            (
                "service_account_trust",
                service_account_trust(&arn, &["airflow:airflow-worker", "airflow:*"]),
            ),
            // Both: the statement is appended to the table's.
            ("assume_role_policy", trust("eks.amazonaws.com")),
        ],
        replacing: vec!["name"],
    };
    let ctx = |token: &str| ctx("iam_role.conformance_irsa", token);
    let passed = conformance::run(&p, &ctx, case).await;
    assert_eq!(passed.len(), 7, "every check ran: {passed:?}");
    delete_oidc_provider(&sdk, &arn).await;
}

#[tokio::test]
async fn a_service_account_role_trusts_its_issuer_and_changes_in_place() {
    let p = provider();
    let sdk = sdk().await;
    let (arn, host) = oidc_provider(&sdk).await;
    let name = unique("task-logs");
    let accounts = ["airflow:airflow-worker", "airflow:airflow-scheduler"];
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            (
                "service_account_trust",
                service_account_trust(&arn, &accounts),
            ),
        ],
    );
    let c = ctx("iam_role.task_logs", "tok-irsa");
    let created = p.create(&c, &given).await.expect("create");
    assert_eq!(created.id, name);
    assert_eq!(
        created.inputs.get("service_account_trust"),
        given.get("service_account_trust")
    );
    assert_eq!(created.inputs.get("assume_role_policy"), Some(&Value::Null));

    // What IAM holds: one statement, the Federated principal, exactly the
    // two condition keys under the issuer's host path.
    let held = held_trust(&sdk, &name).await;
    assert_eq!(held["Version"], "2012-10-17");
    assert_eq!(
        held["Statement"],
        json!([irsa_statement(&arn, &host, &accounts)])
    );
    let statement = &held["Statement"][0];
    assert_eq!(statement["Principal"]["Federated"], arn.as_str());
    let mut keys: Vec<&String> = statement["Condition"]["StringEquals"]
        .as_object()
        .expect("StringEquals")
        .keys()
        .collect();
    keys.sort();
    assert_eq!(keys, [&format!("{host}:aud"), &format!("{host}:sub")]);

    // Read back: the second plan is empty.
    let read = p
        .read(&c, &existing(&created))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, created);
    assert_applied(&read.inputs, &given);
    let unique_id = created.outputs.get("unique_id").cloned();

    // Other service accounts, in place (UpdateAssumeRolePolicy).
    let changed_accounts = ["airflow:airflow-triggerer", "airflow:airflow-worker"];
    let changed = with(
        &given,
        "service_account_trust",
        service_account_trust(&arn, &changed_accounts),
    );
    let updated = p
        .update(&c, &existing(&read), &changed)
        .await
        .expect("update");
    assert_eq!(updated.id, name);
    assert_eq!(
        updated.outputs.get("unique_id").cloned(),
        unique_id,
        "the same role, changed in place"
    );
    assert_applied(&updated.inputs, &changed);
    let held = held_trust(&sdk, &name).await;
    assert_eq!(
        held["Statement"],
        json!([irsa_statement(&arn, &host, &changed_accounts)])
    );
    let read = p
        .read(&c, &existing(&updated))
        .await
        .expect("read")
        .expect("exists");
    assert_applied(&read.inputs, &changed);

    // Changed by hand: drift, reported as IAM has it, and undone.
    let by_hand = infra_iam::policy::to_json(&trust("ec2.amazonaws.com"));
    sdk.update_assume_role_policy()
        .role_name(&name)
        .policy_document(by_hand)
        .send()
        .await
        .expect("update assume role policy");
    let drifted = p
        .read(&c, &existing(&read))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        drifted.inputs.get("service_account_trust"),
        Some(&Value::Null)
    );
    assert!(
        infra_iam::policy::same_policy(
            drifted.inputs.get("assume_role_policy").expect("reported"),
            &trust("ec2.amazonaws.com")
        ),
        "{:?}",
        drifted.inputs.get("assume_role_policy")
    );
    let restored = p
        .update(&c, &existing(&drifted), &changed)
        .await
        .expect("update");
    assert_applied(&restored.inputs, &changed);
    assert_eq!(
        held_trust(&sdk, &name).await["Statement"],
        json!([irsa_statement(&arn, &host, &changed_accounts)])
    );

    p.delete(&c, &existing(&restored)).await.expect("delete");
    let gone = sdk.get_role().role_name(&name).send().await;
    let code = gone
        .err()
        .and_then(|e| e.into_service_error().meta().code().map(str::to_owned));
    assert_eq!(code.as_deref(), Some("NoSuchEntity"));
    assert_eq!(p.read(&c, &existing(&restored)).await.expect("read"), None);
    delete_oidc_provider(&sdk, &arn).await;
}

#[tokio::test]
async fn with_assume_role_policy_the_statement_is_appended() {
    let p = provider();
    let sdk = sdk().await;
    let (arn, host) = oidc_provider(&sdk).await;
    let name = unique("both-trusts");
    let accounts = ["kube-system:*"];
    let given = inputs(
        &p,
        vec![
            ("name", Value::from(name.clone())),
            ("assume_role_policy", trust("eks.amazonaws.com")),
            (
                "service_account_trust",
                table(vec![
                    ("oidc_provider_arn", Value::from(arn.clone())),
                    ("service_accounts", strings(&accounts)),
                    ("audience", Value::from("sts.amazonaws.com")),
                ]),
            ),
        ],
    );
    let c = ctx("iam_role.both", "tok-both");
    let created = p.create(&c, &given).await.expect("create");
    assert_applied(&created.inputs, &given);
    let held = held_trust(&sdk, &name).await;
    let eks = json!({
        "Effect": "Allow",
        "Principal": { "Service": "eks.amazonaws.com" },
        "Action": "sts:AssumeRole"
    });
    assert_eq!(
        held["Statement"],
        json!([eks, irsa_statement(&arn, &host, &accounts)])
    );
    assert!(
        held["Statement"][1]["Condition"]["StringLike"][format!("{host}:sub")].is_array(),
        "a whole namespace is matched with StringLike: {held}"
    );
    let read = p
        .read(&c, &existing(&created))
        .await
        .expect("read")
        .expect("exists");
    assert_applied(&read.inputs, &given);
    p.delete(&c, &existing(&read)).await.expect("delete");
    delete_oidc_provider(&sdk, &arn).await;
}
