//! The `infra` facade: the crates of the project under one name, and the
//! registry of every resource type compiled into this build.
//!
//! Embedders depend on this package and drive [`infra_engine`] directly;
//! the `infra` binary hands [`default_registry`] to the command line.

pub use infra_core;
pub use infra_engine;
pub use infra_stack;

use infra_core::Registry;

/// Every provider compiled in: `sim_resource` with feature `sim`.
pub fn default_registry() -> Registry {
    #[allow(unused_mut)]
    let mut registry = Registry::new();
    #[cfg(feature = "sim")]
    registry.register(std::sync::Arc::new(infra_sim::SimProvider::new()));
    registry
}
