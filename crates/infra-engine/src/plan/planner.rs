//! The planner: walks the dependency graph, diffs each resource against
//! state and decides its action; deletes come dependents first.

use std::collections::HashMap;
use std::time::Duration;

use infra_core::{Address, Diagnostic, OpKind, Registry, Schema, Value, display_path};
use infra_stack::{Lifecycle, ResourceConfig, Stack};

use super::diff::diff;
use super::hash::config_hash;
use super::inputs::{
    check_context, cloud_owned, desired_inputs_noting_unset, keep_prior, keep_recorded,
};
use super::known::{Inputs, Known, KnownResolver, resource_index};
use super::{
    Action, AttrChange, DEFAULT_TIMEOUT, Drift, PLAN_VERSION, Plan, PlanMode, PlanOptions,
    ResourceChange, StateOnlyChange, Summary, UnsetInput,
};
use crate::eval::Resolve;
use crate::graph::DepGraph;
use crate::secrets::SecretKey;
use crate::state::State;

pub(crate) struct Planner<'a> {
    pub(crate) stack: &'a Stack,
    pub(crate) graph: &'a DepGraph,
    pub(crate) state: &'a State,
    pub(crate) registry: &'a Registry,
    pub(crate) key: &'a SecretKey,
}

impl Planner<'_> {
    pub(crate) fn plan(
        &self,
        opts: &PlanOptions,
        drift: Vec<Drift>,
    ) -> Result<Plan, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        let mut unset = Vec::new();
        let mut changes = Vec::new();
        let mut state_only = Vec::new();
        let drift = self.relevant(drift);
        for t in opts.targets.iter().chain(&opts.replace) {
            if self.stack.resource(t).is_none() && self.state.get(t).is_none() {
                problems.push(
                    Diagnostic::error(format!("`{t}` is neither in the stack nor in state"))
                        .hint("check the address with `infra state list`"),
                );
            }
        }
        if opts.destroy {
            self.plan_destroy(opts, &mut changes, &mut problems);
        } else {
            self.plan_apply(
                opts,
                &mut changes,
                &mut state_only,
                &mut problems,
                &mut unset,
            );
        }
        let mut missing_env: Vec<String> = unset.iter().map(|u| u.var.clone()).collect();
        missing_env.sort();
        missing_env.dedup();
        for var in &missing_env {
            warnings.push(format!(
                "environment variable {var} is not set, so a sensitive input is unknown; apply will fail until it is set"
            ));
        }
        if problems.iter().any(Diagnostic::is_error) {
            return Err(problems);
        }
        let summary = summarize(&changes);
        let estimate_ms = self.estimate(&changes).as_millis() as u64;
        Ok(Plan {
            version: PLAN_VERSION,
            stack: self.stack.name.clone(),
            mode: if opts.destroy {
                PlanMode::Destroy
            } else {
                PlanMode::Apply
            },
            lineage: None,
            serial: 0,
            config_hash: config_hash(self.stack, self.key),
            drift,
            changes,
            state_only,
            summary,
            estimate_ms,
            warnings,
            missing_env,
            unset,
        })
    }

    /// Evaluates a resource's inputs with what is known so far: referenced
    /// resources already walked, in dependency order.
    pub(crate) fn desired_inputs(
        &self,
        config: &ResourceConfig,
        resolver: &dyn Resolve,
        problems: &mut Vec<Diagnostic>,
        unset: &mut Vec<UnsetInput>,
    ) -> Option<Value> {
        let Some(provider) = self.registry.get(&config.address.ty) else {
            problems.push(
                Diagnostic::error(format!("unknown resource type `{}`", config.address.ty))
                    .on(config.address.clone())
                    .hint(match self.registry.hint(&config.address.ty) {
                        Some(hint) => hint.to_owned(),
                        None => format!(
                            "known types: {}",
                            self.registry.type_names().collect::<Vec<_>>().join(", ")
                        ),
                    }),
            );
            return None;
        };
        let mut found = Vec::new();
        let inputs = desired_inputs_noting_unset(
            config,
            &**provider,
            &check_context(self.stack, &**provider),
            self.key,
            resolver,
            problems,
            &mut found,
        );
        unset.extend(found.into_iter().map(|u| UnsetInput {
            address: config.address.clone(),
            path: display_path(&u.path),
            var: u.var,
        }));
        inputs
    }

    fn plan_apply(
        &self,
        opts: &PlanOptions,
        changes: &mut Vec<ResourceChange>,
        state_only: &mut Vec<StateOnlyChange>,
        problems: &mut Vec<Diagnostic>,
        unset: &mut Vec<UnsetInput>,
    ) {
        let selected =
            (!opts.targets.is_empty()).then(|| self.graph.with_dependencies(&opts.targets));
        let mut known: Vec<Option<Known<'_>>> = vec![None; self.stack.resources.len()];
        let mut kept: Vec<Value> = Vec::new();
        changes.reserve(self.stack.resources.len());
        for address in self.graph.order_refs() {
            let Some(index) = resource_index(self.stack, address) else {
                continue;
            };
            let config = &self.stack.resources[index];
            let prior = self.state.get(address);
            if selected.as_ref().is_some_and(|s| !s.contains(address)) {
                if let Some(p) = prior {
                    known[index] = Some(Known {
                        inputs: Inputs::State(&p.inputs),
                        outputs: Some(&p.outputs),
                    });
                }
                continue;
            }
            let resolver = KnownResolver {
                stack: self.stack,
                known: &known,
                changes,
                kept: &kept,
                registry: self.registry,
            };
            let Some(mut after) = self.desired_inputs(config, &resolver, problems, unset) else {
                continue;
            };
            let schema = self.registry.get(&address.ty).map(|p| p.schema());
            let Some(schema) = schema else { continue };
            let dependencies = self.graph.dependencies(address);
            let lifecycle = &config.lifecycle.timeouts;
            let provider = self.registry.get(&address.ty);
            let limit = |set: Option<Duration>, op: OpKind| {
                set.or_else(|| provider.map(|p| p.default_timeout(op)))
            };
            let mut change = ResourceChange {
                address: address.clone(),
                action: Action::Create,
                reason: None,
                target_id: None,
                attributes: Vec::new(),
                after: None,
                dependencies: Vec::new(),
                create_before_destroy: config.lifecycle.create_before_destroy,
                prevent_destroy: config.lifecycle.prevent_destroy,
                timeout_ms: 0,
            };
            let Some(prior) = prior else {
                change.attributes = diff(schema, &Value::map(), &after);
                annotate(
                    &mut change.attributes,
                    schema,
                    &config.lifecycle,
                    true,
                    &after,
                );
                change.timeout_ms = ms(limit(lifecycle.create, OpKind::Create));
                change.dependencies = dependencies;
                change.after = Some(after);
                known[index] = Some(Known {
                    inputs: Inputs::Change(changes.len()),
                    outputs: None,
                });
                changes.push(change);
                continue;
            };
            for path in &config.lifecycle.ignore_changes {
                keep_prior(&mut after, &prior.inputs, path);
            }
            // Set at create, then the cloud's: what state holds stands, as
            // if ignored, unless the stack owns it.
            let owned_by_cloud = cloud_owned(schema, &config.lifecycle);
            let declared = (!owned_by_cloud.is_empty()).then(|| after.clone());
            keep_recorded(&mut after, &prior.inputs, &owned_by_cloud);
            // What the cloud picked for computed inputs the stack leaves unset.
            schema.fill_computed(&mut after, &prior.inputs);
            change.attributes = diff(schema, &prior.inputs, &after);
            change.target_id = Some(prior.id.clone());
            let forced = opts.replace.contains(address);
            let replace = forced || change.attributes.iter().any(|a| a.forces_replacement);
            if let (true, Some(declared)) = (replace, &declared) {
                // A replacement is a create: it gets the stack's value.
                for path in &owned_by_cloud {
                    keep_prior(&mut after, declared, path);
                }
                change.attributes = diff(schema, &prior.inputs, &after);
            }
            annotate(
                &mut change.attributes,
                schema,
                &config.lifecycle,
                replace,
                &after,
            );
            if replace {
                change.action = Action::Replace;
                change.timeout_ms = ms(limit(lifecycle.create, OpKind::Create))
                    .max(ms(limit(lifecycle.delete, OpKind::Delete)));
                if forced {
                    change.reason = Some("replacement requested with --replace".into());
                }
                if config.lifecycle.prevent_destroy || prior.prevent_destroy {
                    problems.push(prevented(address, "replace", config.location.as_ref()));
                }
                self.check_deletable(prior, "replace", config.location.as_ref(), problems);
            } else if !change.attributes.is_empty() {
                change.action = Action::Update;
                change.timeout_ms = ms(limit(lifecycle.update, OpKind::Update));
            }
            let outputs = (!replace).then_some(&prior.outputs);
            let recorded = recorded_changes(prior, config.lifecycle.prevent_destroy, &dependencies);
            let inputs = if replace || !change.attributes.is_empty() {
                // Shown with the change; dependencies are recorded with it
                // as a matter of course.
                change
                    .attributes
                    .extend(recorded.into_iter().filter(|a| a.path == PREVENT_DESTROY));
                change.dependencies = dependencies;
                change.after = Some(after);
                changes.push(change);
                Inputs::Change(changes.len() - 1)
            } else {
                if !recorded.is_empty() {
                    state_only.push(StateOnlyChange {
                        address: address.clone(),
                        attributes: recorded,
                    });
                }
                kept.push(after);
                Inputs::Kept(kept.len() - 1)
            };
            known[index] = Some(Known { inputs, outputs });
        }
        let resolver = KnownResolver {
            stack: self.stack,
            known: &known,
            changes,
            kept: &kept,
            registry: self.registry,
        };
        super::peers::check(&resolver, problems);
        // Resources gone from the config, dependents first.
        let mut gone: Vec<&crate::state::ResourceState> = self
            .state
            .resources()
            .filter(|r| self.stack.resource(&r.address).is_none())
            .filter(|r| opts.targets.is_empty() || opts.targets.contains(&r.address))
            .collect();
        order_for_deletion(&mut gone);
        for r in gone {
            if r.prevent_destroy {
                problems.push(prevented(&r.address, "destroy", None));
            }
            self.check_deletable(r, "destroy", None, problems);
            changes.push(delete_change(
                &r.address,
                &r.id,
                &r.dependencies,
                r.prevent_destroy,
                self.delete_timeout(&r.address, None),
            ));
        }
        for d in &self.state.deposed {
            if opts.targets.is_empty() || opts.targets.contains(&d.address) {
                changes.push(ResourceChange {
                    action: Action::DeleteDeposed,
                    reason: Some(format!(
                        "deposed object {} left by an earlier replacement",
                        d.id
                    )),
                    ..delete_change(
                        &d.address,
                        &d.id,
                        &d.dependencies,
                        false,
                        self.delete_timeout(&d.address, None),
                    )
                });
            }
        }
    }

    fn plan_destroy(
        &self,
        opts: &PlanOptions,
        changes: &mut Vec<ResourceChange>,
        problems: &mut Vec<Diagnostic>,
    ) {
        let selected = if opts.targets.is_empty() {
            None
        } else {
            // Destroying a resource destroys what depends on it, in state
            // as well as in the config.
            let mut g = DepGraph::default();
            for r in self.state.resources() {
                g.node(&r.address);
                for d in &r.dependencies {
                    g.edge(d, &r.address);
                }
            }
            let mut s = g.with_dependents(&opts.targets);
            s.extend(self.graph.with_dependents(&opts.targets));
            Some(s)
        };
        let mut doomed: Vec<&crate::state::ResourceState> = self
            .state
            .resources()
            .filter(|r| selected.as_ref().is_none_or(|s| s.contains(&r.address)))
            .collect();
        order_for_deletion(&mut doomed);
        for r in doomed {
            let config = self.stack.resource(&r.address);
            let prevent = r.prevent_destroy || config.is_some_and(|c| c.lifecycle.prevent_destroy);
            if prevent {
                problems.push(prevented(
                    &r.address,
                    "destroy",
                    config.and_then(|c| c.location.as_ref()),
                ));
            }
            self.check_deletable(
                r,
                "destroy",
                config.and_then(|c| c.location.as_ref()),
                problems,
            );
            let timeout =
                self.delete_timeout(&r.address, config.and_then(|c| c.lifecycle.timeouts.delete));
            changes.push(delete_change(
                &r.address,
                &r.id,
                &r.dependencies,
                prevent,
                timeout,
            ));
        }
        for d in &self.state.deposed {
            if selected.as_ref().is_none_or(|s| s.contains(&d.address)) {
                changes.push(ResourceChange {
                    action: Action::DeleteDeposed,
                    ..delete_change(
                        &d.address,
                        &d.id,
                        &d.dependencies,
                        false,
                        self.delete_timeout(&d.address, None),
                    )
                });
            }
        }
    }

    /// Drift worth showing: not that of attributes the cloud owns after
    /// create (a node group's desired size moved by the autoscaler), which
    /// is expected and never planned back.
    fn relevant(&self, drift: Vec<Drift>) -> Vec<Drift> {
        drift
            .into_iter()
            .filter_map(|mut d| {
                let config = self.stack.resource(&d.address);
                let provider = self.registry.get(&d.address.ty);
                let (Some(config), Some(provider), false) = (config, provider, d.deleted) else {
                    return Some(d);
                };
                let owned = cloud_owned(provider.schema(), &config.lifecycle);
                if owned.is_empty() {
                    return Some(d);
                }
                let owned: Vec<String> = owned.iter().map(|p| display_path(p)).collect();
                d.attributes
                    .retain(|a| !owned.iter().any(|o| a.path == *o || within(&a.path, o)));
                (!d.attributes.is_empty()).then_some(d)
            })
            .collect()
    }

    /// Asks the provider whether the recorded resource can be deleted
    /// (e.g. deletion protection), so the plan fails before anything changes.
    fn check_deletable(
        &self,
        r: &crate::state::ResourceState,
        what: &str,
        location: Option<&infra_core::Location>,
        problems: &mut Vec<Diagnostic>,
    ) {
        let Some(provider) = self.registry.get(&r.address.ty) else {
            // Planning it anyway would apply everything else and then fail.
            problems.push(
                Diagnostic::error(format!(
                    "cannot {what} `{}`: the state holds it, but this build of infra has no `{}` resource type",
                    r.address, r.address.ty
                ))
                .on(r.address.clone())
                .hint(match self.registry.hint(&r.address.ty) {
                    Some(hint) => hint.to_owned(),
                    None => format!(
                        "run an infra built with the `{}` type, which made it",
                        r.address.ty
                    ),
                }),
            );
            return;
        };
        if let Err(why) = provider.deletable(&r.existing()) {
            let d = Diagnostic::error(format!("cannot {what} `{}`: {why}", r.address))
                .on(r.address.clone());
            problems.push(match location {
                Some(l) => d.at(l.clone()),
                None => d,
            });
        }
    }

    /// The time limit of a delete: the stack's, else the provider's default.
    fn delete_timeout(&self, address: &Address, set: Option<Duration>) -> Option<Duration> {
        set.or_else(|| {
            self.registry
                .get(&address.ty)
                .map(|p| p.default_timeout(OpKind::Delete))
        })
    }
}

fn ms(d: Option<Duration>) -> u64 {
    d.unwrap_or(DEFAULT_TIMEOUT).as_millis() as u64
}

fn prevented(address: &Address, what: &str, location: Option<&infra_core::Location>) -> Diagnostic {
    let d = Diagnostic::error(format!(
        "refusing to {what} `{address}`: it has lifecycle.prevent_destroy set"
    ))
    .on(address.clone())
    .hint(format!(
        "if you really mean to {what} it, set prevent_destroy = false in its lifecycle (keep the resource block), apply, then {what} it"
    ));
    match location {
        Some(l) => d.at(l.clone()),
        None => d,
    }
}

fn delete_change(
    address: &Address,
    id: &str,
    dependencies: &[Address],
    prevent_destroy: bool,
    timeout: Option<Duration>,
) -> ResourceChange {
    ResourceChange {
        address: address.clone(),
        action: Action::Delete,
        reason: None,
        target_id: Some(id.to_owned()),
        attributes: Vec::new(),
        after: None,
        dependencies: dependencies.to_vec(),
        create_before_destroy: false,
        prevent_destroy,
        timeout_ms: ms(timeout),
    }
}

/// How the lifecycle facts state records change, as attribute changes
/// to show.
fn recorded_changes(
    prior: &crate::state::ResourceState,
    prevent_destroy: bool,
    dependencies: &[Address],
) -> Vec<AttrChange> {
    let mut out = Vec::new();
    if prior.prevent_destroy != prevent_destroy {
        out.push(AttrChange {
            path: PREVENT_DESTROY.into(),
            before: Some(Value::Bool(prior.prevent_destroy)),
            after: Some(Value::Bool(prevent_destroy)),
            forces_replacement: false,
            note: None,
        });
    }
    if prior.dependencies != dependencies {
        let list = |deps: &[Address]| {
            Value::List(deps.iter().map(|d| Value::String(d.to_string())).collect())
        };
        out.push(AttrChange {
            path: "dependencies".into(),
            before: Some(list(&prior.dependencies)),
            after: Some(list(dependencies)),
            forces_replacement: false,
            note: None,
        });
    }
    out
}

/// Whether the displayed path `inner` lies inside `outer` (`scaling.desired`
/// inside `scaling`).
fn within(inner: &str, outer: &str) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// Notes who owns each attribute the schema sets only at create, on the
/// line that shows it: at a create (or replacement) the value is sent and
/// then the cloud's, unless the stack owns it (`lifecycle.own`); on an
/// update only an owned one can change, and the note says what resetting
/// it does.
fn annotate(
    attrs: &mut [AttrChange],
    schema: &Schema,
    lifecycle: &Lifecycle,
    creating: bool,
    after: &Value,
) {
    for (path, attr) in schema.set_at_create_paths() {
        let Some(value) = after.at(&path).filter(|v| !matches!(v, Value::Null)) else {
            continue;
        };
        let shown = display_path(&path);
        let Some(line) = attrs
            .iter_mut()
            .find(|a| a.path == shown || within(&shown, &a.path))
        else {
            continue;
        };
        let owned = lifecycle.own.contains(&path);
        let kept = match value {
            Value::Unknown => "the value set here".to_owned(),
            v => v.to_string(),
        };
        let note = match (creating, owned) {
            (true, false) => format!(
                "at create; then the cloud's — lifecycle.own = [\"{shown}\"] to keep it at {kept}"
            ),
            (true, true) => format!("owned by the stack (lifecycle.own): kept at {kept}"),
            (false, true) => match attr.set_at_create.as_deref() {
                Some(reset) if !reset.is_empty() => {
                    format!("owned by the stack (lifecycle.own); {reset}")
                }
                _ => "owned by the stack (lifecycle.own)".to_owned(),
            },
            // Not planned: kept as the cloud has it.
            (false, false) => continue,
        };
        let note = if line.path == shown {
            note
        } else {
            format!("{shown}: {note}")
        };
        line.note = Some(match line.note.take() {
            Some(earlier) => format!("{earlier}; {note}"),
            None => note,
        });
    }
}

/// The path under which a change of `prevent_destroy` is shown.
const PREVENT_DESTROY: &str = "lifecycle.prevent_destroy";

/// Orders resources so that each comes before everything it depends on.
fn order_for_deletion(resources: &mut Vec<&crate::state::ResourceState>) {
    let mut g = DepGraph::default();
    for r in resources.iter() {
        g.node(&r.address);
        for d in &r.dependencies {
            g.edge(d, &r.address);
        }
    }
    let rank: HashMap<Address, usize> = g
        .order()
        .into_iter()
        .enumerate()
        .map(|(i, a)| (a, i))
        .collect();
    resources.sort_by_key(|r| std::cmp::Reverse(rank.get(&r.address).copied().unwrap_or(0)));
}

fn summarize(changes: &[ResourceChange]) -> Summary {
    let mut s = Summary::default();
    for c in changes {
        match c.action {
            Action::Create => s.add += 1,
            Action::Update => s.change += 1,
            Action::Replace => s.replace += 1,
            Action::Delete | Action::DeleteDeposed => s.destroy += 1,
        }
    }
    s
}
