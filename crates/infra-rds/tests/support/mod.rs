//! Test support: operation contexts, inputs completed with the schema's
//! defaults (as the engine does), secrets, an SDK client on the emulator,
//! and a VPC with subnets in two AZs made through moto's EC2 API.

#![allow(dead_code, missing_docs)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use infra_aws::testing::{Emulator, REGION};
use infra_core::{OpContext, Secret, Value};

#[allow(unused_imports)] // each test binary uses some
pub use infra_aws::testing::{existing, inputs, strings, unique, with};

/// A context for `address` on the shared emulator.
pub fn ctx(address: &str, token: &str) -> OpContext {
    ctx_with(address, token, Emulator::shared().settings())
}

/// A context with explicit settings (mock tests use `Null`).
pub fn ctx_with(address: &str, token: &str, settings: Value) -> OpContext {
    OpContext::new(
        address.parse().expect("a valid address"),
        token.to_owned(),
        settings,
        ".".into(),
        Duration::from_secs(120),
        Arc::new(|_| {}),
    )
}

/// A secret as the engine hands it over: plaintext plus a digest. The
/// digest here is just a marker, not the engine's keyed hash.
pub fn secret(plaintext: &str) -> Value {
    Value::Sensitive(Secret::new(
        format!("test-digest:{}", plaintext.len()),
        plaintext.into(),
    ))
}

/// An RDS client on the shared emulator, to check what it holds.
pub async fn sdk() -> aws_sdk_rds::Client {
    let emulator = Emulator::shared();
    let config = emulator
        .context()
        .sdk_config(&emulator.settings())
        .await
        .expect("sdk config");
    aws_sdk_rds::Client::new(&config)
}

/// A VPC and its subnets.
pub struct Network {
    pub vpc: String,
    pub subnets: Vec<String>,
}

/// moto's RDS looks subnet ids up in its EC2 backend
/// (`InvalidSubnetID.NotFound` otherwise), so subnet groups need real
/// ones. The workspace has no EC2 SDK; the EC2 query API is small enough
/// to call directly (moto routes by the signing scope and does not check
/// signatures).
pub fn network(third_octet_base: u8) -> Network {
    network_in(third_octet_base, &["a", "b"])
}

/// A VPC with one subnet in each of these AZs (suffixes of the region).
pub fn network_in(third_octet_base: u8, azs: &[&str]) -> Network {
    let vpc = ec2(
        "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0/16",
        "vpcId",
    );
    let subnets = azs
        .iter()
        .enumerate()
        .map(|(i, az)| {
            ec2(
                &format!(
                    "Action=CreateSubnet&Version=2016-11-15&VpcId={vpc}&CidrBlock=10.0.{}.0/24&AvailabilityZone={REGION}{az}",
                    third_octet_base as usize + i
                ),
                "subnetId",
            )
        })
        .collect();
    Network { vpc, subnets }
}

/// One EC2 query call on the emulator; returns the text of `<field>`.
fn ec2(body: &str, field: &str) -> String {
    let emulator = Emulator::shared();
    let host = emulator.endpoint().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&host).expect("connect to the emulator");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20240101/{REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let open = format!("<{field}>");
    let start = response
        .find(&open)
        .unwrap_or_else(|| panic!("no <{field}> in EC2 response: {response}"))
        + open.len();
    let len = response[start..].find('<').expect("closing tag");
    response[start..start + len].to_owned()
}
