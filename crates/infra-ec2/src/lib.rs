//! EC2 network resource types for infra: `vpc`, `subnet`,
//! `internet_gateway`, `eip`, `nat_gateway`, `route_table` and
//! `security_group`, through `aws-sdk-ec2`.
//!
//! Their semantics follow the Terraform AWS provider's `aws_vpc`,
//! `aws_subnet`, `aws_internet_gateway`, `aws_eip`, `aws_nat_gateway`,
//! `aws_route_table` and `aws_security_group`. Creates are made findable
//! by an `infra:token` tag (and a client token where EC2 takes one); a new
//! object not visible yet is waited for; deletes of what EKS or RDS still
//! hold through network interfaces wait for them to be released
//! (`DependencyViolation`), within the delete's timeout. [`cidr`] has the
//! CIDR arithmetic for cross-resource plan checks.

use std::sync::Arc;

use infra_aws::AwsContext;
use infra_core::Provider;

pub mod cidr;
mod ec2;
mod eip;
mod internet_gateway;
mod nat_gateway;
mod route_table;
mod security_group;
mod settle;
mod subnet;
mod vpc;

pub use cidr::{Ipv4Cidr, cidr_contains, cidr_overlaps, parse_cidr};
pub use eip::{Eip, Spec as EipSpec, TYPE_NAME as EIP_TYPE};
pub use internet_gateway::{
    InternetGateway, Spec as InternetGatewaySpec, TYPE_NAME as INTERNET_GATEWAY_TYPE,
};
pub use nat_gateway::{NatGateway, Spec as NatGatewaySpec, TYPE_NAME as NAT_GATEWAY_TYPE};
pub use route_table::{RouteTable, Spec as RouteTableSpec, TYPE_NAME as ROUTE_TABLE_TYPE, Target};
pub use security_group::{
    DEFAULT_DESCRIPTION as SECURITY_GROUP_DEFAULT_DESCRIPTION, SecurityGroup,
    Spec as SecurityGroupSpec, TYPE_NAME as SECURITY_GROUP_TYPE,
};
pub use subnet::{Spec as SubnetSpec, Subnet, TYPE_NAME as SUBNET_TYPE};
pub use vpc::{Spec as VpcSpec, TYPE_NAME as VPC_TYPE, Vpc};

/// The EC2 resource types, sharing one AWS context.
pub fn providers(aws: Arc<AwsContext>) -> Vec<Arc<dyn Provider>> {
    vec![
        infra_aws::typed(Vpc::new(Arc::clone(&aws))),
        infra_aws::typed(Subnet::new(Arc::clone(&aws))),
        infra_aws::typed(InternetGateway::new(Arc::clone(&aws))),
        infra_aws::typed(Eip::new(Arc::clone(&aws))),
        infra_aws::typed(NatGateway::new(Arc::clone(&aws))),
        infra_aws::typed(RouteTable::new(Arc::clone(&aws))),
        infra_aws::typed(SecurityGroup::new(aws)),
    ]
}
