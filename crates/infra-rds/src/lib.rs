//! RDS resource types for infra: `rds_subnet_group`, `rds_parameter_group`
//! and `rds_instance` (PostgreSQL), through `aws-sdk-rds`.
//!
//! The types take their SDK configuration from the stack's `[aws]` table
//! through a shared, lazily built [`AwsContext`]: constructing them, and
//! planning over an empty state, touches neither credentials nor network.
//! Their semantics (which attributes update in place, which replace, how
//! creates are made idempotent, what is waited for) follow Terraform's
//! `aws_db_subnet_group`, `aws_db_parameter_group` and `aws_db_instance`;
//! see each type's docs.

use std::sync::Arc;

use infra_aws::AwsContext;
use infra_core::Provider;

mod instance;
mod parameter_group;
mod rules;
mod subnet_group;
mod tags;

pub use instance::{RdsInstance, Spec as InstanceSpec, TYPE_NAME as INSTANCE_TYPE};
pub use parameter_group::{
    DEFAULT_DESCRIPTION as PARAMETER_GROUP_DEFAULT_DESCRIPTION, MAX_PARAMETERS_PER_CALL,
    RdsParameterGroup, Spec as ParameterGroupSpec, TYPE_NAME as PARAMETER_GROUP_TYPE,
};
pub use subnet_group::{
    DEFAULT_DESCRIPTION as SUBNET_GROUP_DEFAULT_DESCRIPTION, RdsSubnetGroup,
    Spec as SubnetGroupSpec, TYPE_NAME as SUBNET_GROUP_TYPE,
};

/// The RDS resource types, sharing one AWS context.
pub fn providers(aws: Arc<AwsContext>) -> Vec<Arc<dyn Provider>> {
    vec![
        infra_aws::typed(RdsSubnetGroup::new(Arc::clone(&aws))),
        infra_aws::typed(RdsParameterGroup::new(Arc::clone(&aws))),
        infra_aws::typed(RdsInstance::new(aws)),
    ]
}
