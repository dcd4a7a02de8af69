//! End-to-end tests of `infra eks token`, the command kubeconfig `exec`
//! entries call: stdout holds exactly one ExecCredential JSON document,
//! the region comes from `--region`, the stack's `[aws]` table or the
//! environment, and failures print nothing on stdout. No network: the
//! token is signed locally from credentials in the child's environment.
//! Run with `cargo test --features sim`.
#![cfg(feature = "sim")]

mod cli_support;

use std::process::Command;

use cli_support::{Project, Run};

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// `infra ARGS` in `project` with only the AWS environment given here:
/// static credentials, no shared config files, no instance metadata.
fn eks(project: &Project, args: &[&str], region: Option<&str>) -> Run {
    let mut cmd: Command = project.bare(args);
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_CONFIG_FILE", project.root().join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            project.root().join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    if let Some(region) = region {
        cmd.env("AWS_REGION", region);
    }
    cmd.output().expect("run infra").into()
}

/// Standard base64url without padding, decoded (the test has no base64
/// crate of its own).
fn base64url_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            other => panic!("not base64url: {:?}", char::from(other)),
        }
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        acc = (acc << 6) | value(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).expect("a byte"));
        }
    }
    out
}

/// Checks the ExecCredential shape and returns the presigned URL inside
/// the token.
fn exec_credential_url(run: &Run) -> String {
    run.expect_code(0);
    assert!(
        run.stdout.ends_with('\n') && run.stdout.trim_end().lines().count() == 1,
        "one line on stdout: {:?}",
        run.stdout
    );
    // Exactly one JSON document: a stream parser finds one and nothing after.
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&run.stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("stdout is JSON");
    assert_eq!(docs.len(), 1, "{}", run.stdout);
    let doc = &docs[0];
    assert_eq!(doc["kind"], "ExecCredential");
    assert_eq!(doc["apiVersion"], "client.authentication.k8s.io/v1beta1");
    assert_eq!(doc["spec"], serde_json::json!({}));
    let status = doc["status"].as_object().expect("status");
    assert_eq!(status.len(), 2, "{status:?}");
    let expiry = status["expirationTimestamp"].as_str().expect("expiry");
    assert!(
        expiry.len() == 20 && expiry.ends_with('Z') && expiry.as_bytes()[10] == b'T',
        "RFC 3339 in UTC: {expiry}"
    );
    let token = status["token"].as_str().expect("token");
    let encoded = token.strip_prefix("k8s-aws-v1.").expect("prefix");
    assert!(!encoded.contains('='), "no padding: {token}");
    assert!(token.len() < 4096);
    // The token is a credential: it never shows on stderr.
    assert!(!run.stderr.contains(token), "{}", run.stderr);
    String::from_utf8(base64url_decode(encoded)).expect("a URL")
}

#[test]
fn prints_one_exec_credential_from_the_environment() {
    let project = Project::new("");
    let run = eks(
        &project,
        &["eks", "token", "--cluster", "airflow"],
        Some("us-east-2"),
    );
    let url = exec_credential_url(&run);
    assert!(
        url.starts_with(
            "https://sts.us-east-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
        ),
        "{url}"
    );
    assert!(url.contains("X-Amz-Credential=AKIDEXAMPLE%2F"), "{url}");
    assert!(url.contains("X-Amz-Expires=60"), "{url}");
    assert!(
        url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"),
        "{url}"
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn the_region_flag_wins_over_the_stack_and_the_environment() {
    let project = Project::new("[aws]\nregion = \"eu-west-1\"\n");
    let run = eks(
        &project,
        &["eks", "token", "--cluster", "c", "--stack", "x"],
        Some("us-east-2"),
    );
    assert!(
        exec_credential_url(&run).starts_with("https://sts.eu-west-1.amazonaws.com/"),
        "the stack's [aws] region"
    );
    let run = eks(
        &project,
        &[
            "eks",
            "token",
            "--cluster",
            "c",
            "--stack",
            "x",
            "--region",
            "ap-south-1",
        ],
        Some("us-east-2"),
    );
    assert!(exec_credential_url(&run).starts_with("https://sts.ap-south-1.amazonaws.com/"));
}

#[test]
fn without_a_region_it_fails_on_stderr_only() {
    let project = Project::new("");
    let run = eks(&project, &["eks", "token", "--cluster", "c"], None);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("no AWS region"), "{}", run.stderr);
    assert!(run.stderr.contains("--region"), "{}", run.stderr);

    let run = eks(&project, &["eks", "token"], Some("us-east-1"));
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("--cluster"), "{}", run.stderr);
}
