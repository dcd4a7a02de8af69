//! The conformance suite for every EC2 type against moto, each with the
//! objects it needs made directly through the SDK.

use infra_aws::testing::Emulator;
use infra_core::conformance::{self, Case};
use infra_core::{Provider, Typed, Value};
use infra_ec2::{Eip, InternetGateway, NatGateway, RouteTable, SecurityGroup, Subnet, Vpc};

use crate::support::{address, ctx, gateway, strings, subnet, table, tags, unique, vpc};

/// Runs the suite with tokens unique to this test, so that types sharing
/// the emulator never find each other's objects; asserts every check ran.
async fn run(provider: &dyn Provider, case: Case) {
    let address = format!("{}.conformance", provider.schema().type_name);
    let prefix = unique("conf");
    let ctx = move |token: &str| ctx(&address, &format!("{prefix}-{token}"));
    let passed = conformance::run(provider, &ctx, case).await;
    assert_eq!(passed.len(), 7, "every check ran: {passed:?}");
}

fn aws() -> std::sync::Arc<infra_aws::AwsContext> {
    Emulator::shared().context()
}

#[tokio::test]
async fn vpc_conforms() {
    let case = Case {
        inputs: table(&[
            ("cidr_block", "10.20.0.0/16".into()),
            ("tags", tags(&[("Name", "conf")])),
        ]),
        updates: vec![
            ("enable_dns_hostnames", Value::Bool(true)),
            ("enable_dns_support", Value::Bool(false)),
            ("tags", tags(&[("Name", "conf-2"), ("team", "data")])),
        ],
        replacing: vec!["cidr_block"],
    };
    run(&Typed::new(Vpc::new(aws())), case).await;
}

#[tokio::test]
async fn subnet_conforms() {
    let vpc = vpc("10.21.0.0/16").await;
    let case = Case {
        inputs: table(&[
            ("vpc_id", vpc.as_str().into()),
            ("cidr_block", "10.21.1.0/24".into()),
            ("availability_zone", "us-east-1a".into()),
            ("tags", tags(&[("kubernetes.io/role/elb", "1")])),
        ]),
        updates: vec![
            ("map_public_ip_on_launch", Value::Bool(true)),
            ("tags", tags(&[("kubernetes.io/role/internal-elb", "1")])),
        ],
        replacing: vec!["vpc_id", "cidr_block", "availability_zone"],
    };
    run(&Typed::new(Subnet::new(aws())), case).await;
}

#[tokio::test]
async fn internet_gateway_conforms() {
    let (first, second) = (vpc("10.22.0.0/16").await, vpc("10.23.0.0/16").await);
    let case = Case {
        inputs: table(&[
            ("vpc_id", first.as_str().into()),
            ("tags", tags(&[("Name", "igw")])),
        ]),
        // Moving to another VPC is in place: detach, then attach.
        updates: vec![
            ("vpc_id", second.as_str().into()),
            ("tags", tags(&[("Name", "igw-2")])),
        ],
        replacing: vec![],
    };
    let p = Typed::new(InternetGateway::new(aws()));
    let address = "internet_gateway.conformance";
    let prefix = unique("conf");
    let ctx = move |token: &str| ctx(address, &format!("{prefix}-{token}"));
    let passed = conformance::run(&p, &ctx, case).await;
    // Nothing replaces an internet gateway, so that check does not run.
    assert_eq!(passed.len(), 6, "every other check ran: {passed:?}");
}

#[tokio::test]
async fn eip_conforms() {
    let case = Case {
        inputs: table(&[("tags", tags(&[("Name", "nat")]))]),
        updates: vec![("tags", tags(&[("Name", "nat-2")]))],
        replacing: vec![],
    };
    let p = Typed::new(Eip::new(aws()));
    let prefix = unique("conf");
    let ctx = move |token: &str| ctx("eip.conformance", &format!("{prefix}-{token}"));
    let passed = conformance::run(&p, &ctx, case).await;
    // Only tags are inputs; nothing replaces an address.
    assert_eq!(passed.len(), 6, "every other check ran: {passed:?}");
}

#[tokio::test]
async fn nat_gateway_conforms() {
    let vpc = vpc("10.24.0.0/16").await;
    let subnet = subnet(&vpc, "10.24.0.0/24", "us-east-1a").await;
    let allocation = address().await;
    let case = Case {
        inputs: table(&[
            ("subnet_id", subnet.as_str().into()),
            ("allocation_id", allocation.as_str().into()),
            ("tags", tags(&[("Name", "nat")])),
        ]),
        updates: vec![("tags", tags(&[("Name", "nat-a")]))],
        replacing: vec!["subnet_id", "allocation_id"],
    };
    run(&Typed::new(NatGateway::new(aws())), case).await;
}

#[tokio::test]
async fn route_table_conforms() {
    let vpc = vpc("10.25.0.0/16").await;
    let igw = gateway(&vpc).await;
    let (a, b) = (
        subnet(&vpc, "10.25.1.0/24", "us-east-1a").await,
        subnet(&vpc, "10.25.2.0/24", "us-east-1b").await,
    );
    let route = |cidr: &str| {
        table(&[
            ("cidr_block", cidr.into()),
            ("gateway_id", igw.as_str().into()),
        ])
    };
    let case = Case {
        inputs: table(&[
            ("vpc_id", vpc.as_str().into()),
            ("routes", Value::List(vec![route("0.0.0.0/0")])),
            ("subnet_ids", strings(&[&a])),
            ("tags", tags(&[("Name", "public")])),
        ]),
        updates: vec![
            (
                "routes",
                Value::List(vec![route("10.99.0.0/16"), route("0.0.0.0/0")]),
            ),
            ("subnet_ids", strings(&[&b, &a])),
            ("subnet_ids", strings(&[&b])),
            ("routes", Value::List(vec![route("10.98.0.0/16")])),
            ("tags", tags(&[("Name", "public-2")])),
        ],
        replacing: vec!["vpc_id"],
    };
    run(&Typed::new(RouteTable::new(aws())), case).await;
}

#[tokio::test]
async fn security_group_conforms() {
    let vpc = vpc("10.26.0.0/16").await;
    let https = |cidrs: &[&str]| {
        table(&[
            ("protocol", "tcp".into()),
            ("from_port", Value::Int(443)),
            ("to_port", Value::Int(443)),
            ("cidr_blocks", strings(cidrs)),
            ("description", "https".into()),
        ])
    };
    let all_out = table(&[
        ("protocol", "-1".into()),
        ("from_port", Value::Int(0)),
        ("to_port", Value::Int(0)),
        ("cidr_blocks", strings(&["0.0.0.0/0"])),
    ]);
    let case = Case {
        inputs: table(&[
            ("name", unique("conf-sg").into()),
            ("vpc_id", vpc.as_str().into()),
            ("ingress", Value::List(vec![https(&["10.0.0.0/8"])])),
            ("tags", tags(&[("Name", "sg")])),
        ]),
        updates: vec![
            (
                "ingress",
                Value::List(vec![https(&["10.0.0.0/8", "192.168.0.0/16"])]),
            ),
            ("egress", Value::List(vec![all_out])),
            ("ingress", Value::List(vec![])),
            ("tags", tags(&[("Name", "sg-2")])),
        ],
        replacing: vec!["name", "description", "vpc_id"],
    };
    run(&Typed::new(SecurityGroup::new(aws())), case).await;
}
