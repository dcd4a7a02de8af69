//! A whole network through the providers, as an EKS + RDS platform needs
//! it: a VPC with public and private subnets in two AZs, an internet
//! gateway, an Elastic IP and a NAT gateway, public and private route
//! tables with their associations, and two security groups (the database's
//! admitting 5432 from the application's). Each object is checked through
//! the SDK, then everything is deleted and checked gone.

use aws_sdk_ec2::types::{NatGatewayState, VpcAttributeName};
use infra_aws::testing::Emulator;
use infra_core::{ErrorKind, Observed, Provider, Typed, Value};
use infra_ec2::{Eip, InternetGateway, NatGateway, RouteTable, SecurityGroup, Subnet, Vpc};

use crate::support::{code, ctx, existing, inputs, output, sdk, strings, table, tags, unique, vpc};

/// Creates `pairs` with `provider`, asserting the read-back equals them.
async fn make(provider: &dyn Provider, address: &str, pairs: Vec<(&str, Value)>) -> Observed {
    let given = inputs(provider, pairs);
    let c = ctx(address, &unique("net"));
    let made = provider
        .create(&c, &given)
        .await
        .unwrap_or_else(|e| panic!("{address}: {e}"));
    let read = provider
        .read(&c, &existing(&made))
        .await
        .expect("read")
        .expect("exists");
    assert!(
        provider.schema().same(&[], &read.inputs, &given),
        "{address}: read {} but applied {given}",
        read.inputs
    );
    made
}

async fn destroy(provider: &dyn Provider, address: &str, o: &Observed) {
    let c = ctx(address, "delete");
    provider
        .delete(&c, &existing(o))
        .await
        .unwrap_or_else(|e| panic!("deleting {address}: {e}"));
    assert_eq!(
        provider.read(&c, &existing(o)).await.expect("read"),
        None,
        "{address} is gone"
    );
}

#[tokio::test]
async fn a_vpc_for_eks_and_rds_is_built_and_torn_down() {
    let aws = Emulator::shared().context();
    let (vpcs, subnets) = (
        Typed::new(Vpc::new(aws.clone())),
        Typed::new(Subnet::new(aws.clone())),
    );
    let igws = Typed::new(InternetGateway::new(aws.clone()));
    let (eips, nats) = (
        Typed::new(Eip::new(aws.clone())),
        Typed::new(NatGateway::new(aws.clone())),
    );
    let tables = Typed::new(RouteTable::new(aws.clone()));
    let groups = Typed::new(SecurityGroup::new(aws));
    let client = sdk().await;

    let vpc = make(
        &vpcs,
        "vpc.main",
        vec![
            ("cidr_block", "10.30.0.0/16".into()),
            ("enable_dns_hostnames", Value::Bool(true)),
            ("tags", tags(&[("Name", "airflow")])),
        ],
    )
    .await;
    let vpc_id = vpc.id.clone();
    let hostnames = client
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .expect("attribute");
    assert_eq!(
        hostnames.enable_dns_hostnames().and_then(|v| v.value()),
        Some(true)
    );
    assert!(
        output(&vpc, "arn").starts_with("arn:aws:ec2:us-east-1:"),
        "{}",
        output(&vpc, "arn")
    );
    assert!(output(&vpc, "default_security_group_id").starts_with("sg-"));
    assert!(output(&vpc, "main_route_table_id").starts_with("rtb-"));

    let mut subnet = Vec::new();
    for (name, cidr, az, public) in [
        ("public_a", "10.30.0.0/24", "us-east-1a", true),
        ("public_b", "10.30.1.0/24", "us-east-1b", true),
        ("private_a", "10.30.10.0/24", "us-east-1a", false),
        ("private_b", "10.30.11.0/24", "us-east-1b", false),
    ] {
        let role = if public {
            "kubernetes.io/role/elb"
        } else {
            "kubernetes.io/role/internal-elb"
        };
        let made = make(
            &subnets,
            &format!("subnet.{name}"),
            vec![
                ("vpc_id", vpc_id.as_str().into()),
                ("cidr_block", cidr.into()),
                ("availability_zone", az.into()),
                ("map_public_ip_on_launch", Value::Bool(public)),
                ("tags", tags(&[(role, "1")])),
            ],
        )
        .await;
        let out = client
            .describe_subnets()
            .subnet_ids(&made.id)
            .send()
            .await
            .expect("subnet");
        let s = &out.subnets()[0];
        assert_eq!(
            (s.vpc_id(), s.cidr_block(), s.availability_zone()),
            (Some(vpc_id.as_str()), Some(cidr), Some(az))
        );
        assert_eq!(s.map_public_ip_on_launch(), Some(public));
        assert!(
            s.tags()
                .iter()
                .any(|t| t.key() == Some(role) && t.value() == Some("1"))
        );
        assert_eq!(output(&made, "availability_zone"), az);
        subnet.push(made);
    }

    let igw = make(
        &igws,
        "internet_gateway.main",
        vec![("vpc_id", vpc_id.as_str().into())],
    )
    .await;
    let out = client
        .describe_internet_gateways()
        .internet_gateway_ids(&igw.id)
        .send()
        .await
        .expect("igw");
    assert_eq!(
        out.internet_gateways()[0].attachments()[0].vpc_id(),
        Some(vpc_id.as_str())
    );

    let eip = make(&eips, "eip.nat", vec![("tags", tags(&[("Name", "nat")]))]).await;
    let out = client
        .describe_addresses()
        .allocation_ids(&eip.id)
        .send()
        .await
        .expect("eip");
    assert_eq!(
        out.addresses()[0].public_ip(),
        Some(output(&eip, "public_ip"))
    );

    let nat = make(
        &nats,
        "nat_gateway.main",
        vec![
            ("subnet_id", subnet[0].id.as_str().into()),
            ("allocation_id", eip.id.as_str().into()),
        ],
    )
    .await;
    let out = client
        .describe_nat_gateways()
        .nat_gateway_ids(&nat.id)
        .send()
        .await
        .expect("nat");
    let gw = &out.nat_gateways()[0];
    assert_eq!(
        (gw.state(), gw.subnet_id()),
        (
            Some(&NatGatewayState::Available),
            Some(subnet[0].id.as_str())
        )
    );

    let route = |key: &str, to: &str| {
        Value::List(vec![table(&[
            ("cidr_block", "0.0.0.0/0".into()),
            (key, to.into()),
        ])])
    };
    let public = make(
        &tables,
        "route_table.public",
        vec![
            ("vpc_id", vpc_id.as_str().into()),
            ("routes", route("gateway_id", &igw.id)),
            ("subnet_ids", strings(&[&subnet[0].id, &subnet[1].id])),
        ],
    )
    .await;
    let private = make(
        &tables,
        "route_table.private",
        vec![
            ("vpc_id", vpc_id.as_str().into()),
            ("routes", route("nat_gateway_id", &nat.id)),
            ("subnet_ids", strings(&[&subnet[2].id, &subnet[3].id])),
        ],
    )
    .await;
    for (t, target, subnets) in [(&public, &igw.id, [0, 1]), (&private, &nat.id, [2, 3])] {
        let out = client
            .describe_route_tables()
            .route_table_ids(&t.id)
            .send()
            .await
            .expect("rt");
        let rt = &out.route_tables()[0];
        let default = rt
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .expect("default route");
        // AWS's `local` route is there, and is not reported (never drift).
        assert!(rt.routes().iter().any(|r| r.gateway_id() == Some("local")));
        let observed = t
            .inputs
            .get("routes")
            .and_then(Value::as_list)
            .expect("routes");
        assert_eq!(observed.len(), 1, "{observed:?}");
        assert_eq!(
            default.gateway_id().or(default.nat_gateway_id()),
            Some(target.as_str())
        );
        let mut associated: Vec<&str> = rt
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id())
            .collect();
        associated.sort_unstable();
        let mut want: Vec<&str> = subnets.iter().map(|i| subnet[*i].id.as_str()).collect();
        want.sort_unstable();
        assert_eq!(associated, want);
    }

    let everywhere = table(&[
        ("protocol", "-1".into()),
        ("from_port", Value::Int(0)),
        ("to_port", Value::Int(0)),
        ("cidr_blocks", strings(&["0.0.0.0/0"])),
    ]);
    let app = make(
        &groups,
        "security_group.app",
        vec![
            ("name", unique("app").into()),
            ("vpc_id", vpc_id.as_str().into()),
            ("egress", Value::List(vec![everywhere])),
        ],
    )
    .await;
    let postgres = table(&[
        ("protocol", "tcp".into()),
        ("from_port", Value::Int(5432)),
        ("to_port", Value::Int(5432)),
        ("source_security_group_id", app.id.as_str().into()),
        ("description", "postgres from the app".into()),
    ]);
    let db = make(
        &groups,
        "security_group.db",
        vec![
            ("name", unique("db").into()),
            ("vpc_id", vpc_id.as_str().into()),
            ("ingress", Value::List(vec![postgres])),
        ],
    )
    .await;
    let out = client
        .describe_security_groups()
        .group_ids(&db.id)
        .group_ids(&app.id)
        .send()
        .await
        .expect("sgs");
    let group = |id: &str| {
        out.security_groups()
            .iter()
            .find(|g| g.group_id() == Some(id))
            .expect("group")
    };
    let ingress = group(&db.id).ip_permissions();
    assert_eq!(ingress.len(), 1);
    assert_eq!(
        (
            ingress[0].ip_protocol(),
            ingress[0].from_port(),
            ingress[0].to_port()
        ),
        (Some("tcp"), Some(5432), Some(5432))
    );
    assert_eq!(
        ingress[0].user_id_group_pairs()[0].group_id(),
        Some(app.id.as_str())
    );
    assert!(
        group(&db.id).ip_permissions_egress().is_empty(),
        "AWS's allow-all egress was revoked"
    );
    assert_eq!(
        group(&app.id).ip_permissions_egress().len(),
        1,
        "kept where the stack lists it"
    );

    destroy(&groups, "security_group.db", &db).await;
    destroy(&groups, "security_group.app", &app).await;
    destroy(&tables, "route_table.private", &private).await;
    destroy(&tables, "route_table.public", &public).await;
    destroy(&nats, "nat_gateway.main", &nat).await;
    destroy(&eips, "eip.nat", &eip).await;
    destroy(&igws, "internet_gateway.main", &igw).await;
    for (i, s) in subnet.iter().enumerate() {
        destroy(&subnets, &format!("subnet.s{i}"), s).await;
    }
    destroy(&vpcs, "vpc.main", &vpc).await;

    // Gone in the emulator, not only to the providers.
    let gone = client.describe_vpcs().vpc_ids(&vpc_id).send().await;
    assert_eq!(
        gone.err().as_ref().and_then(code).as_deref(),
        Some("InvalidVpcID.NotFound")
    );
    let gone = client
        .describe_subnets()
        .subnet_ids(&subnet[0].id)
        .send()
        .await;
    assert_eq!(
        gone.err().as_ref().and_then(code).as_deref(),
        Some("InvalidSubnetID.NotFound")
    );
    let gone = client
        .describe_security_groups()
        .group_ids(&db.id)
        .send()
        .await;
    assert_eq!(
        gone.err().as_ref().and_then(code).as_deref(),
        Some("InvalidGroup.NotFound")
    );
    let gone = client
        .describe_route_tables()
        .route_table_ids(&public.id)
        .send()
        .await;
    assert!(
        gone.map(|o| o.route_tables().is_empty()).unwrap_or(true),
        "route table gone"
    );
    let gone = client
        .describe_internet_gateways()
        .internet_gateway_ids(&igw.id)
        .send()
        .await;
    assert!(
        gone.map(|o| o.internet_gateways().is_empty())
            .unwrap_or(true),
        "igw gone"
    );
    let gone = client
        .describe_addresses()
        .allocation_ids(&eip.id)
        .send()
        .await;
    assert!(
        gone.map(|o| o.addresses().is_empty()).unwrap_or(true),
        "address released"
    );
    let nat_now = client
        .describe_nat_gateways()
        .nat_gateway_ids(&nat.id)
        .send()
        .await;
    let states: Vec<_> = nat_now
        .map(|o| {
            o.nat_gateways()
                .iter()
                .filter_map(|g| g.state().cloned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        states.iter().all(|s| *s == NatGatewayState::Deleted),
        "{states:?}"
    );
}

#[tokio::test]
async fn a_subnet_outside_its_vpc_or_overlapping_a_sibling_is_invalid() {
    let p = Typed::new(Subnet::new(Emulator::shared().context()));
    let vpc = vpc("10.31.0.0/16").await;
    let given = |cidr: &str| {
        inputs(
            &p,
            vec![("vpc_id", vpc.as_str().into()), ("cidr_block", cidr.into())],
        )
    };
    let c = ctx("subnet.bad", &unique("bad"));
    let outside = p.create(&c, &given("10.99.0.0/24")).await.unwrap_err();
    assert_eq!(outside.kind, ErrorKind::Invalid, "{}", outside.message);
    assert!(
        outside.message.contains("InvalidSubnet.Range"),
        "{}",
        outside.message
    );
    assert!(
        outside.message.contains("subnet.bad") && outside.message.contains("choose a `cidr_block`"),
        "{}",
        outside.message
    );

    let first = p
        .create(&ctx("subnet.a", &unique("ok")), &given("10.31.0.0/20"))
        .await
        .expect("create");
    let overlap = p
        .create(&ctx("subnet.b", &unique("bad")), &given("10.31.1.0/24"))
        .await
        .unwrap_err();
    assert_eq!(overlap.kind, ErrorKind::Invalid, "{}", overlap.message);
    assert!(
        overlap.message.contains("InvalidSubnet.Conflict"),
        "{}",
        overlap.message
    );
    p.delete(&c, &existing(&first)).await.expect("delete");
}
