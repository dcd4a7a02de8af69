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

/// Every provider compiled in: the AWS types (`eks_cluster`, `eks_addon`,
/// `eks_access_entry`, `eks_node_group`, `rds_subnet_group`,
/// `rds_parameter_group`, `rds_instance`, `s3_bucket`,
/// the network (`vpc`, `subnet`, `internet_gateway`, `eip`, `nat_gateway`,
/// `route_table`, `security_group`), `iam_role`,
/// `iam_openid_connect_provider`, `secretsmanager_secret`),
/// `helm_release`, and `sim_resource` with feature `sim` (without it, a
/// stack using `sim_resource` is told to enable it); and the state
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
        .chain(infra_ec2::providers(aws.clone()))
        .chain(infra_iam::providers(aws.clone()))
        .chain(infra_secrets::providers(aws.clone()))
        .chain(infra_helm::providers())
    {
        registry.register(provider);
    }
    registry.register_backend(std::sync::Arc::new(s3_state(aws)));
    #[cfg(feature = "sim")]
    registry.register(std::sync::Arc::new(infra_sim::SimProvider::default()));
    #[cfg(not(feature = "sim"))]
    registry.register_hint(SIM_TYPE, SIM_HINT);
    registry
}

/// The type name of the simulated cloud's resources (feature `sim`).
#[cfg(not(feature = "sim"))]
const SIM_TYPE: &str = "sim_resource";

/// What a stack using [`SIM_TYPE`] is told by a build without it.
#[cfg(not(feature = "sim"))]
const SIM_HINT: &str = "`sim_resource` is the simulated cloud for tests and demos; build infra with `--features sim` (cargo run --features sim -- <command>)";

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

#[cfg(all(test, not(feature = "sim")))]
mod tests {
    use super::*;

    #[test]
    fn without_sim_a_sim_stack_is_told_how_to_enable_it() {
        let registry = default_registry();
        assert!(registry.get(SIM_TYPE).is_none());
        assert_eq!(registry.hint(SIM_TYPE), Some(SIM_HINT));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("stacks")).expect("mkdir");
        std::fs::write(
            dir.path().join("stacks/x.toml"),
            "[resources.sim_resource.a]\npayload = 1\n",
        )
        .expect("write");
        let loaded = infra_stack::load_stack(dir.path(), "x", &registry, &|_| None);
        let text: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [format!(
                "error: stacks/x.toml:1:12: unknown resource type `sim_resource`\n  hint: {SIM_HINT}"
            )]
        );
    }
}
