//! `iam_openid_connect_provider` against moto: the conformance suite, the
//! URL reported as given, thumbprints computed when unset, and adoption by
//! token (IAM allows one provider per URL).

use infra_aws::testing::Emulator;
use infra_core::conformance::{self, Case};
use infra_core::{ErrorKind, Provider, Typed, Value};
use infra_iam::IamOidcProvider;

use crate::support::{ctx, existing, inputs, sdk, strings, table, unique};

const THUMB_A: &str = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";
const THUMB_B: &str = "a031c46782e6e6c662c2c87c76da9aa62ccabd8e";

fn provider() -> Typed<IamOidcProvider> {
    Typed::new(IamOidcProvider::new(Emulator::shared().context()))
}

fn issuer() -> String {
    format!(
        "https://oidc.eks.us-east-1.amazonaws.com/id/{}",
        unique("CLUSTER")
    )
}

#[tokio::test]
async fn conformance() {
    let p = provider();
    let case = Case {
        inputs: table(vec![
            ("url", Value::from(issuer())),
            ("client_id_list", strings(&["sts.amazonaws.com"])),
            ("thumbprint_list", strings(&[THUMB_A])),
            ("tags", table(vec![("team", "data".into())])),
        ]),
        // client_id_list updates in place too, through calls moto lacks:
        // tested against mocked responses (moto/mocked.rs).
        updates: vec![
            ("thumbprint_list", strings(&[THUMB_B, THUMB_A])),
            ("tags", table(vec![("team", "platform".into())])),
        ],
        replacing: vec!["url"],
    };
    let ctx = |token: &str| ctx("iam_openid_connect_provider.conformance", token);
    let passed = conformance::run(&p, &ctx, case).await;
    assert_eq!(passed.len(), 7, "every check ran: {passed:?}");
}

#[tokio::test]
async fn the_url_reads_back_as_given_and_one_provider_per_url_is_adopted_by_token() {
    let p = provider();
    let sdk = sdk().await;
    let url = issuer();
    let given = inputs(
        &p,
        vec![
            ("url", Value::from(url.clone())),
            ("client_id_list", strings(&["sts.amazonaws.com"])),
        ],
    );
    let c = ctx("iam_openid_connect_provider.eks", "tok-oidc");
    let created = p.create(&c, &given).await.expect("create");
    let arn = created.id.clone();
    assert!(
        arn.ends_with(&format!(
            ":oidc-provider/{}",
            url.trim_start_matches("https://")
        )),
        "{arn}"
    );
    assert_eq!(created.outputs.get("arn"), Some(&Value::from(arn.clone())));
    assert_eq!(created.inputs.get("url"), Some(&Value::from(url.clone())));
    assert_eq!(
        created.inputs.get("client_id_list"),
        given.get("client_id_list")
    );
    // Unset thumbprints are IAM's to choose (moto chooses none).
    assert!(created.inputs.get("thumbprint_list").is_some());

    let held = sdk
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
        .expect("get provider");
    assert_eq!(held.url(), Some(url.trim_start_matches("https://")));
    assert_eq!(held.client_id_list(), ["sts.amazonaws.com"]);

    let read = p
        .read(&c, &existing(&created))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, created);
    let again = p.create(&c, &given).await.expect("create again adopts");
    assert_eq!(again.id, arn);

    let other = ctx("iam_openid_connect_provider.other", "tok-other");
    assert_eq!(p.find(&other, &given).await.expect("find"), None);
    let err = p.create(&other, &given).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
    assert!(err.message.contains("one per URL"), "{}", err.message);
    assert!(
        err.message.contains(&format!(
            "infra import iam_openid_connect_provider.other {arn}"
        )),
        "{}",
        err.message
    );

    p.delete(&c, &existing(&created)).await.expect("delete");
    assert_eq!(p.read(&c, &existing(&created)).await.expect("read"), None);
    assert_eq!(p.find(&c, &given).await.expect("find"), None);
}
