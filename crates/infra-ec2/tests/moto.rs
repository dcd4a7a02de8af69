//! The EC2 types against moto's server (one binary): the conformance suite
//! for every type, a whole network built and torn down and checked through
//! the SDK, and the behaviours moto produces (subnet range errors, the
//! default egress rule). What moto cannot produce (`DependencyViolation`
//! while ENIs are released) runs against mocked responses, in `mocked`.

#[path = "moto/support.rs"]
mod support;

#[path = "moto/conformance.rs"]
mod conformance;

#[path = "moto/network.rs"]
mod network;

#[path = "moto/mocked.rs"]
mod mocked;
