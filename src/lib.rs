//! The `infra` facade: the crates of the project under one name, and the
//! registry of every resource type compiled into this build.
//!
//! Embedders depend on this package and drive [`infra_engine`] directly;
//! the `infra` binary hands [`default_registry`] to the command line.

pub use infra_aws;
pub use infra_core;
pub use infra_engine;
pub use infra_stack;

use infra_core::Registry;

/// Every provider compiled in: the AWS types (`eks_cluster`,
/// `eks_node_group`, `rds_subnet_group`, `rds_instance`, `s3_bucket`),
/// `helm_release`, and `sim_resource` with feature `sim`; and the state
/// backends: `s3://bucket/key`.
pub fn default_registry() -> Registry {
    let mut registry = Registry::new();
    // One AWS context for every AWS type: SDK configuration is built once,
    // on the first operation that needs the cloud.
    let aws = infra_aws::AwsContext::new();
    for provider in infra_eks::providers(aws.clone())
        .into_iter()
        .chain(infra_rds::providers(aws.clone()))
        .chain(infra_s3::providers(aws.clone()))
        .chain(infra_helm::providers())
    {
        registry.register(provider);
    }
    registry.register_backend(std::sync::Arc::new(s3_state(aws)));
    #[cfg(feature = "sim")]
    registry.register(std::sync::Arc::new(infra_sim::SimProvider::new()));
    registry
}

/// The `s3://` state backend. `INFRA_S3_LOCK_LEASE` (e.g. `30s`) sets how
/// long the lock of a run that died blocks others before it may be taken
/// over; 60 s when unset. A live run renews its lease, however long it runs.
fn s3_state(aws: std::sync::Arc<infra_aws::AwsContext>) -> infra_state_s3::S3BackendFactory {
    let factory = infra_state_s3::S3BackendFactory::new(aws);
    match std::env::var("INFRA_S3_LOCK_LEASE")
        .ok()
        .and_then(|s| humantime::parse_duration(s.trim()).ok())
    {
        Some(lease) => factory.with_lease(lease),
        None => factory,
    }
}
