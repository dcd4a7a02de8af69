//! Known-answer tests of the EKS token: with a fixed clock and fixed
//! credentials, the presigned URL inside the token carries exactly the
//! SigV4 query parameters, and its signature equals one computed here by
//! hand from the SigV4 presign steps (canonical request → string to sign →
//! HMAC chain), so the test checks our use of aws-sigv4 against the
//! specification rather than against itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use infra_eks::token::TOKEN_LIFETIME;
use infra_eks::{EksToken, exec_credential_json, presign_token};
use sha2::{Digest, Sha256};

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const CLUSTER: &str = "airflow-prod";
/// 2015-08-30T12:36:00Z, the date of AWS's SigV4 examples.
const EPOCH_SECS: u64 = 1_440_938_160;
const AMZ_DATE: &str = "20150830T123600Z";
const SCOPE: &str = "20150830/us-east-1/sts/aws4_request";
/// SHA-256 of the empty payload.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EPOCH_SECS)
}

fn credentials(session_token: Option<&str>) -> Credentials {
    Credentials::new(
        ACCESS_KEY,
        SECRET_KEY,
        session_token.map(str::to_owned),
        None,
        "known-answer",
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac takes any key");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The signature by the SigV4 presign steps, written out for these inputs.
fn expected_signature(canonical_query: &str) -> String {
    // 1. Canonical request: method, path, sorted and encoded query,
    //    canonical headers, signed headers, payload hash.
    let canonical_request = format!(
        "GET\n/\n{canonical_query}\nhost:sts.us-east-1.amazonaws.com\nx-k8s-aws-id:{CLUSTER}\n\nhost;x-k8s-aws-id\n{EMPTY_SHA256}"
    );
    // 2. String to sign.
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{AMZ_DATE}\n{SCOPE}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    // 3. Signing key: the HMAC chain over date, region, service, terminator.
    let k_date = hmac(format!("AWS4{SECRET_KEY}").as_bytes(), "20150830");
    let k_region = hmac(&k_date, REGION);
    let k_service = hmac(&k_region, "sts");
    let k_signing = hmac(&k_service, "aws4_request");
    // 4. Signature.
    hex(&hmac(&k_signing, &string_to_sign))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let h = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(h, 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// The URL inside a token, split into host part and decoded parameters.
fn decode(token: &EksToken) -> (String, Vec<(String, String)>) {
    let encoded = token
        .token()
        .strip_prefix("k8s-aws-v1.")
        .expect("the k8s-aws-v1. prefix");
    assert!(!encoded.contains('='), "padding in {encoded}");
    assert!(
        !encoded.contains('+') && !encoded.contains('/'),
        "not base64url: {encoded}"
    );
    let url =
        String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).expect("base64url")).expect("utf-8");
    let (base, query) = url.split_once('?').expect("a query");
    let params = query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (base.to_owned(), params)
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {params:?}"))
}

#[test]
fn the_presigned_url_matches_a_hand_computed_sigv4_presign() {
    let token = presign_token(CLUSTER, REGION, &credentials(None), now()).unwrap();
    let (base, params) = decode(&token);
    assert_eq!(base, "https://sts.us-east-1.amazonaws.com/");

    let mut keys: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "Action",
            "Version",
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-Signature",
            "X-Amz-SignedHeaders",
        ]
    );
    assert_eq!(param(&params, "Action"), "GetCallerIdentity");
    assert_eq!(param(&params, "Version"), "2011-06-15");
    assert_eq!(param(&params, "X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    assert_eq!(
        param(&params, "X-Amz-Credential"),
        format!("{ACCESS_KEY}/{SCOPE}")
    );
    assert_eq!(param(&params, "X-Amz-Date"), AMZ_DATE);
    assert_eq!(param(&params, "X-Amz-Expires"), "60");
    assert_eq!(param(&params, "X-Amz-SignedHeaders"), "host;x-k8s-aws-id");

    let canonical_query = "Action=GetCallerIdentity&Version=2011-06-15\
        &X-Amz-Algorithm=AWS4-HMAC-SHA256\
        &X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request\
        &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60\
        &X-Amz-SignedHeaders=host%3Bx-k8s-aws-id";
    let signature = param(&params, "X-Amz-Signature");
    assert_eq!(signature, expected_signature(canonical_query));
    assert_eq!(signature.len(), 64);
}

#[test]
fn a_session_token_is_signed_into_the_query() {
    let session = "FQoGZXIvYXdzE//session+token=";
    let token = presign_token(CLUSTER, REGION, &credentials(Some(session)), now()).unwrap();
    let (_, params) = decode(&token);
    assert_eq!(param(&params, "X-Amz-Security-Token"), session);
    assert_eq!(params.len(), 9, "{params:?}");
    let canonical_query = "Action=GetCallerIdentity&Version=2011-06-15\
        &X-Amz-Algorithm=AWS4-HMAC-SHA256\
        &X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request\
        &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60\
        &X-Amz-Security-Token=FQoGZXIvYXdzE%2F%2Fsession%2Btoken%3D\
        &X-Amz-SignedHeaders=host%3Bx-k8s-aws-id";
    assert_eq!(
        param(&params, "X-Amz-Signature"),
        expected_signature(canonical_query)
    );
}

#[test]
fn the_token_is_short_expires_after_14_minutes_and_is_redacted() {
    let token = presign_token(CLUSTER, REGION, &credentials(None), now()).unwrap();
    assert!(token.token().starts_with("k8s-aws-v1."));
    assert!(token.token().len() < 4096, "{}", token.token().len());
    assert_eq!(token.expires_at(), now() + Duration::from_secs(14 * 60));
    assert_eq!(TOKEN_LIFETIME, Duration::from_secs(840));

    let debug = format!("{token:?}");
    assert!(!debug.contains(token.token()), "{debug}");
    assert!(!debug.contains("k8s-aws-v1"), "{debug}");
    assert_eq!(
        debug,
        r#"EksToken { token: "<redacted>", expires_at: "2015-08-30T12:50:00Z" }"#
    );
}

#[test]
fn the_exec_credential_has_the_client_go_shape() {
    let token = presign_token(CLUSTER, REGION, &credentials(None), now()).unwrap();
    let json = exec_credential_json(&token);
    assert!(!json.contains('\n'), "{json}");
    let expected = format!(
        r#"{{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{{}},"status":{{"expirationTimestamp":"2015-08-30T12:50:00Z","token":"{}"}}}}"#,
        token.token()
    );
    assert_eq!(json, expected);
}

#[test]
fn the_cluster_name_binds_the_signature() {
    let a = presign_token("a", REGION, &credentials(None), now()).unwrap();
    let b = presign_token("b", REGION, &credentials(None), now()).unwrap();
    assert_ne!(a.token(), b.token());
    assert_eq!(
        presign_token("a", REGION, &credentials(None), now()).unwrap(),
        a
    );
}

#[test]
fn china_regions_use_their_partition_host() {
    let token = presign_token(CLUSTER, "cn-north-1", &credentials(None), now()).unwrap();
    let (base, _) = decode(&token);
    assert_eq!(base, "https://sts.cn-north-1.amazonaws.com.cn/");
}

#[test]
fn bad_input_is_refused_with_a_hint() {
    let err = presign_token("", REGION, &credentials(None), now()).unwrap_err();
    assert!(err.to_string().contains("cluster name is empty"), "{err}");
    let err = presign_token(CLUSTER, "us east/1", &credentials(None), now()).unwrap_err();
    assert!(err.to_string().contains("not an AWS region"), "{err}");
    let huge = "x".repeat(5000);
    let err = presign_token(CLUSTER, REGION, &credentials(Some(&huge)), now()).unwrap_err();
    assert!(err.to_string().contains("over the 4096"), "{err}");
}
