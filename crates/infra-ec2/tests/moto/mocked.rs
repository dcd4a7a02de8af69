//! What moto cannot produce, against mocked responses (aws-smithy-mocks):
//! moto deletes a subnet or security group at once, with no network
//! interfaces of EKS or RDS being released, so `DependencyViolation` is
//! mocked here: waited out with progress naming the ENIs, and at the
//! timeout an error saying what still holds what. Time is paused, so the
//! waits cost nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::create_subnet::CreateSubnetOutput;
use aws_sdk_ec2::operation::delete_security_group::{
    DeleteSecurityGroupError, DeleteSecurityGroupOutput,
};
use aws_sdk_ec2::operation::delete_subnet::{DeleteSubnetError, DeleteSubnetOutput};
use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsError;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsError;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::types::NetworkInterface;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use infra_aws::AwsContext;
use infra_core::{ErrorKind, Existing, Provider, Typed, Value};
use infra_ec2::{SecurityGroup, Subnet};

use crate::support::ctx_seen;

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn in_use() -> DeleteSubnetError {
    DeleteSubnetError::generic(meta(
        "DependencyViolation",
        "The subnet 'subnet-1' has dependencies and cannot be deleted.",
    ))
}

fn eks_eni() -> DescribeNetworkInterfacesOutput {
    let eni = NetworkInterface::builder()
        .network_interface_id("eni-123")
        .description("Amazon EKS cluster-x")
        .subnet_id("subnet-1")
        .build();
    DescribeNetworkInterfacesOutput::builder()
        .network_interfaces(eni)
        .build()
}

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules)
}

fn existing(id: &str) -> Existing {
    Existing {
        id: id.into(),
        inputs: Value::map(),
        outputs: Value::map(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_subnet_held_by_eks_enis_is_waited_out_with_progress() {
    let delete = mock!(Client::delete_subnet)
        .sequence()
        .error(in_use)
        .times(2)
        .output(|| DeleteSubnetOutput::builder().build())
        .build();
    let enis = mock!(Client::describe_network_interfaces)
        .match_requests(|r| {
            r.filters()
                .iter()
                .any(|f| f.name() == Some("subnet-id") && f.values() == ["subnet-1"])
        })
        .then_output(eks_eni);
    let gone = mock!(Client::describe_subnets).then_error(|| {
        DescribeSubnetsError::generic(meta(
            "InvalidSubnetID.NotFound",
            "The subnet ID 'subnet-1' does not exist",
        ))
    });
    let p = Typed::new(Subnet::with_client(
        AwsContext::new(),
        client(&[&delete, &enis, &gone]),
    ));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let c = ctx_seen(
        "subnet.private_a",
        Duration::from_secs(20 * 60),
        seen.clone(),
    );
    p.delete(&c, &existing("subnet-1"))
        .await
        .expect("deleted once the ENIs are released");
    assert_eq!(delete.num_calls(), 3, "the delete is retried at each look");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].contains("waiting for ENIs held by others")
            && seen[0].contains("ENI eni-123 (Amazon EKS cluster-x)"),
        "{seen:?}"
    );
    assert!(
        seen[0].contains("`subnet.private_a` (subnet subnet-1)"),
        "{seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn at_the_timeout_the_error_says_what_still_holds_what() {
    let delete = mock!(Client::delete_subnet).then_error(in_use);
    let enis = mock!(Client::describe_network_interfaces).then_output(eks_eni);
    let p = Typed::new(Subnet::with_client(
        AwsContext::new(),
        client(&[&delete, &enis]),
    ));
    // A short timeout: `poll_until` measures the time waited on the
    // system clock, which paused test time does not move, while its sleeps
    // (2, 4, 8, 16 s, …) pass at once; 20 s ends it within five looks.
    let c = ctx_seen("subnet.private_a", Duration::from_secs(20), Arc::default());
    let err = p.delete(&c, &existing("subnet-1")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{}", err.message);
    let looks = delete.num_calls();
    assert!(
        (3..=5).contains(&looks),
        "one delete per look, a bounded number: {looks}"
    );
    for part in [
        "deleting `subnet.private_a` (subnet subnet-1)",
        "still in use after 20s",
        "ENI eni-123 (Amazon EKS cluster-x)",
        "from subnet-1",
        "raise lifecycle.timeouts",
    ] {
        assert!(err.message.contains(part), "{part}: {}", err.message);
    }
}

#[tokio::test(start_paused = true)]
async fn a_security_group_in_use_is_waited_out_and_other_errors_are_not() {
    let delete = mock!(Client::delete_security_group)
        .sequence()
        .error(|| {
            DeleteSecurityGroupError::generic(meta(
                "DependencyViolation",
                "resource sg-1 has a dependent object",
            ))
        })
        .output(|| DeleteSecurityGroupOutput::builder().build())
        .build();
    // No interfaces left: the wait names AWS's own reason.
    let enis = mock!(Client::describe_network_interfaces)
        .match_requests(|r| r.filters().iter().any(|f| f.name() == Some("group-id")))
        .then_output(|| DescribeNetworkInterfacesOutput::builder().build());
    let gone = mock!(Client::describe_security_groups).then_error(|| {
        DescribeSecurityGroupsError::generic(meta(
            "InvalidGroup.NotFound",
            "The security group 'sg-1' does not exist",
        ))
    });
    let p = Typed::new(SecurityGroup::with_client(
        AwsContext::new(),
        client(&[&delete, &enis, &gone]),
    ));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let c = ctx_seen(
        "security_group.db",
        Duration::from_secs(15 * 60),
        seen.clone(),
    );
    p.delete(&c, &existing("sg-1")).await.expect("deleted");
    let first = seen.lock().unwrap()[0].clone();
    assert!(
        first.contains(
            "waiting for what still depends on sg-1 (AWS: resource sg-1 has a dependent object)"
        ),
        "{first}"
    );

    // Anything else is classified and returned at once: no loop.
    let denied = mock!(Client::delete_security_group).then_error(|| {
        DeleteSecurityGroupError::generic(meta("UnauthorizedOperation", "You are not authorized"))
    });
    let p = Typed::new(SecurityGroup::with_client(
        AwsContext::new(),
        client(&[&denied]),
    ));
    let c = ctx_seen(
        "security_group.db",
        Duration::from_secs(15 * 60),
        Arc::default(),
    );
    let err = p.delete(&c, &existing("sg-1")).await.unwrap_err();
    assert_eq!(denied.num_calls(), 1);
    assert!(
        !err.kind.is_retryable() && err.message.contains("UnauthorizedOperation"),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_subnet_not_found_yet_is_not_visible_yet_not_gone() {
    let subnet = || {
        aws_sdk_ec2::types::Subnet::builder()
            .subnet_id("subnet-9")
            .vpc_id("vpc-1")
            .cidr_block("10.0.1.0/24")
            .availability_zone("us-east-1a")
            .map_public_ip_on_launch(false)
            .build()
    };
    let none_by_token = mock!(Client::describe_subnets)
        .match_requests(|r| !r.filters().is_empty())
        .then_output(|| DescribeSubnetsOutput::builder().build());
    let create = mock!(Client::create_subnet)
        .then_output(move || CreateSubnetOutput::builder().subnet(subnet()).build());
    // Eventual consistency: the id is unknown to the first two describes.
    let by_id = mock!(Client::describe_subnets)
        .match_requests(|r| r.subnet_ids() == ["subnet-9"])
        .sequence()
        .error(|| {
            DescribeSubnetsError::generic(meta(
                "InvalidSubnetID.NotFound",
                "The subnet ID 'subnet-9' does not exist",
            ))
        })
        .times(2)
        .output(move || DescribeSubnetsOutput::builder().subnets(subnet()).build())
        .repeatedly()
        .build();
    let p = Typed::new(Subnet::with_client(
        AwsContext::new(),
        client(&[&none_by_token, &create, &by_id]),
    ));
    let given: Value = [
        ("vpc_id", Value::from("vpc-1")),
        ("cidr_block", Value::from("10.0.1.0/24")),
        ("availability_zone", Value::from("us-east-1a")),
        ("map_public_ip_on_launch", Value::Bool(false)),
        ("tags", Value::map()),
    ]
    .into_iter()
    .collect();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let c = ctx_seen("subnet.new", Duration::from_secs(600), seen.clone());
    let made = p.create(&c, &given).await.expect("created once visible");
    assert_eq!(made.id, "subnet-9");
    assert_eq!(made.inputs, given);
    assert_eq!(create.num_calls(), 1, "created once");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|m| m.contains("not visible yet")),
        "{seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_nat_gateway_names_aws_reason() {
    use aws_sdk_ec2::operation::create_nat_gateway::CreateNatGatewayOutput;
    use aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput;
    use aws_sdk_ec2::types::{NatGateway as Gateway, NatGatewayState};
    use infra_ec2::NatGateway;

    let gateway = |state: NatGatewayState| {
        let g = Gateway::builder()
            .nat_gateway_id("nat-1")
            .subnet_id("subnet-1")
            .state(state);
        g.failure_code("InsufficientFreeAddressesInSubnet")
            .failure_message("Subnet has insufficient free addresses to create this NAT gateway")
            .build()
    };
    let none_by_token = mock!(Client::describe_nat_gateways)
        .match_requests(|r| !r.filter().is_empty())
        .then_output(|| DescribeNatGatewaysOutput::builder().build());
    let create = mock!(Client::create_nat_gateway)
        .match_requests(|r| r.client_token() == Some("tok"))
        .then_output(move || {
            CreateNatGatewayOutput::builder()
                .nat_gateway(gateway(NatGatewayState::Pending))
                .build()
        });
    let by_id = mock!(Client::describe_nat_gateways)
        .match_requests(|r| r.nat_gateway_ids() == ["nat-1"])
        .sequence()
        .output(move || {
            DescribeNatGatewaysOutput::builder()
                .nat_gateways(gateway(NatGatewayState::Pending))
                .build()
        })
        .output(move || {
            DescribeNatGatewaysOutput::builder()
                .nat_gateways(gateway(NatGatewayState::Failed))
                .build()
        })
        .build();
    let p = Typed::new(NatGateway::with_client(
        AwsContext::new(),
        client(&[&none_by_token, &create, &by_id]),
    ));
    let given: Value = [
        ("subnet_id", Value::from("subnet-1")),
        ("allocation_id", Value::from("eipalloc-1")),
        ("tags", Value::map()),
    ]
    .into_iter()
    .collect();
    let c = ctx_seen("nat_gateway.main", Duration::from_secs(600), Arc::default());
    let err = p.create(&c, &given).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed, "{}", err.message);
    assert_eq!(create.num_calls(), 1, "the token went as ClientToken");
    for part in [
        "`nat_gateway.main` (NAT gateway nat-1)",
        "InsufficientFreeAddressesInSubnet",
        "insufficient free addresses",
    ] {
        assert!(err.message.contains(part), "{part}: {}", err.message);
    }
}
