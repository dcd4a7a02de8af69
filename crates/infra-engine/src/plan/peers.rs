//! Checks that span resources ([`Provider::check_peers`]), run once every
//! resource of the stack is planned: a subnet sees its VPC and the other
//! subnets of that VPC.
//!
//! [`Provider::check_peers`]: infra_core::Provider::check_peers

use infra_core::{Address, Diagnostic, Peer, Peers};
use infra_stack::{Expr, ResourceConfig};

use super::inputs::located;
use super::known::KnownResolver;

/// Every resource's cross-resource problems, at their TOML lines.
pub(super) fn check(resolver: &KnownResolver<'_, '_>, problems: &mut Vec<Diagnostic>) {
    for (this, config) in resolver.stack.resources.iter().enumerate() {
        let provider = resolver.registry.get(&config.address.ty);
        let (Some(provider), Some(inputs)) = (provider, planned(resolver, this)) else {
            continue;
        };
        let peers = StackPeers { resolver, this };
        for (path, message) in provider.check_peers(inputs.inputs, &peers) {
            problems.push(located(Diagnostic::error(message), config, &path));
        }
    }
}

/// The resource at `index` as planned, if it was.
fn planned<'r>(resolver: &'r KnownResolver<'_, '_>, index: usize) -> Option<Peer<'r>> {
    let known = resolver.known[index].as_ref()?;
    Some(Peer {
        address: &resolver.stack.resources[index].address,
        inputs: resolver.inputs(known)?,
    })
}

/// What input `attr` of `config` names by a whole-string reference.
fn reference<'c>(config: &'c ResourceConfig, attr: &str) -> Option<&'c Address> {
    match config.inputs.get(attr)? {
        Expr::Ref(r) => Some(&r.address),
        _ => None,
    }
}

struct StackPeers<'r, 'k, 's> {
    resolver: &'r KnownResolver<'k, 's>,
    this: usize,
}

impl Peers for StackPeers<'_, '_, '_> {
    fn referenced(&self, attr: &str) -> Option<Peer<'_>> {
        let stack = self.resolver.stack;
        let target = reference(&stack.resources[self.this], attr)?;
        planned(self.resolver, super::known::resource_index(stack, target)?)
    }

    fn siblings(&self, attr: &str) -> Vec<Peer<'_>> {
        let resources = &self.resolver.stack.resources;
        let this = &resources[self.this];
        let Some(target) = reference(this, attr) else {
            return Vec::new();
        };
        (0..resources.len())
            .filter(|&i| i != self.this && resources[i].address.ty == this.address.ty)
            .filter(|&i| reference(&resources[i], attr) == Some(target))
            .filter_map(|i| planned(self.resolver, i))
            .collect()
    }
}
