//! The planner: diffs the desired resources against state, attribute by
//! attribute, and classifies each resource's change from its schema.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use infra_core::{
    Address, Change, CheckContext, Diagnostic, OpKind, PathSeg, Provider, Registry, Schema, Value,
    ValuePath, display_path,
};
use infra_stack::{Reference, ResourceConfig, Stack};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::eval::{Evaluator, Resolve};
use crate::graph::DepGraph;
use crate::secrets::SecretKey;
use crate::state::State;

/// The plan format version.
pub const PLAN_VERSION: u32 = 2;

/// What a plan is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// Make the cloud match the stack.
    Apply,
    /// Delete everything in state.
    Destroy,
}

/// A plan: the changes an apply would make, bound to the state and config it
/// was computed from. Serializable (`infra plan --out`); secrets appear only
/// as digests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Plan format version.
    pub version: u32,
    /// The stack's name.
    pub stack: String,
    /// Apply or destroy.
    pub mode: PlanMode,
    /// The lineage of the state planned against; `None` when there was none.
    pub lineage: Option<String>,
    /// The serial of the state planned against.
    pub serial: u64,
    /// A hash of the stack's configuration; a saved plan whose config has
    /// changed since is refused.
    pub config_hash: String,
    /// Changes made outside infra, found by refresh.
    pub drift: Vec<Drift>,
    /// The changes, in dependency order.
    pub changes: Vec<ResourceChange>,
    /// Resources whose recorded lifecycle (prevent_destroy, dependencies)
    /// changes without touching the cloud.
    pub state_only: Vec<StateOnlyChange>,
    /// Counts.
    pub summary: Summary,
    /// Estimated apply duration: the critical path of the change graph.
    pub estimate_ms: u64,
    /// Warnings found while planning.
    pub warnings: Vec<String>,
    /// Environment variables of `from_env` inputs that were unset: such a
    /// plan shows, but cannot be applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_env: Vec<String>,
}

/// Counts of planned changes, as in `Plan: N to add, ...`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Resources to create.
    pub add: usize,
    /// Resources to update in place.
    pub change: usize,
    /// Resources to replace.
    pub replace: usize,
    /// Resources (and deposed objects) to delete.
    pub destroy: usize,
}

/// What happens to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create it.
    Create,
    /// Update it in place.
    Update,
    /// Replace it: delete then create, or create then delete.
    Replace,
    /// Delete it.
    Delete,
    /// Delete an object left deposed by an earlier create-before-destroy.
    DeleteDeposed,
}

/// One resource's planned change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// The resource.
    pub address: Address,
    /// What happens.
    pub action: Action,
    /// Why, when it is not obvious from the attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The object a delete targets (the current id, or the deposed one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// Attribute-level changes.
    pub attributes: Vec<AttrChange>,
    /// The inputs to apply (create, update, replace); may hold unknowns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Dependencies, as recorded into state.
    pub dependencies: Vec<Address>,
    /// Replace by creating first.
    #[serde(default)]
    pub create_before_destroy: bool,
    /// Recorded into state.
    #[serde(default)]
    pub prevent_destroy: bool,
    /// Time limit for this resource's operations.
    pub timeout_ms: u64,
}

/// A change of one attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    /// The attribute path, e.g. `scaling.min`.
    pub path: String,
    /// The old value; `None` when it was absent.
    pub before: Option<Value>,
    /// The new value; `None` when it is removed.
    pub after: Option<Value>,
    /// Whether this change forces replacement.
    pub forces_replacement: bool,
}

/// What changes in state alone for one resource: lifecycle facts, no
/// cloud operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateOnlyChange {
    /// The resource.
    pub address: Address,
    /// What changes: `lifecycle.prevent_destroy`, `dependencies`.
    pub attributes: Vec<AttrChange>,
}

/// A resource changed outside infra.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The resource.
    pub address: Address,
    /// `true` when it no longer exists.
    pub deleted: bool,
    /// The attributes that differ from state.
    pub attributes: Vec<AttrChange>,
}

impl Plan {
    /// Whether applying would change anything (cloud or state).
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || !self.state_only.is_empty()
    }
}

/// Options that shape a plan.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Apply or destroy (`None` means apply).
    pub destroy: bool,
    /// Compare against the cloud first (`--refresh=false` turns it off).
    pub refresh: bool,
    /// Plan only these resources and what they need (`--target`).
    pub targets: Vec<Address>,
    /// Replace these resources even if unchanged (`--replace`).
    pub replace: Vec<Address>,
}

/// The default time limit of an operation without `lifecycle.timeouts`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);

pub(crate) struct Planner<'a> {
    pub(crate) stack: &'a Stack,
    pub(crate) graph: &'a DepGraph,
    pub(crate) state: &'a State,
    pub(crate) registry: &'a Registry,
    pub(crate) key: &'a SecretKey,
}

/// What the planner knows of a resource while walking the graph. Borrowed
/// rather than cloned: inputs live in the plan's changes, in state, or in
/// `kept` (unchanged resources).
#[derive(Clone, Copy)]
struct Known<'s> {
    inputs: Inputs<'s>,
    /// `None` while the outputs are known only after apply.
    outputs: Option<&'s Value>,
}

/// Where the known inputs of a resource are.
#[derive(Clone, Copy)]
enum Inputs<'s> {
    /// In state (resources outside `--target`).
    State(&'s Value),
    /// `after` of `changes[i]`.
    Change(usize),
    /// `kept[i]`: the desired inputs of a resource without changes.
    Kept(usize),
}

/// The planner's knowledge, indexed like `stack.resources`.
struct KnownResolver<'k, 's> {
    stack: &'s Stack,
    known: &'k [Option<Known<'s>>],
    changes: &'k [ResourceChange],
    kept: &'k [Value],
    registry: &'k Registry,
}

impl<'s> KnownResolver<'_, 's> {
    fn inputs<'x>(&'x self, known: &Known<'s>) -> Option<&'x Value> {
        match known.inputs {
            Inputs::State(v) => Some(v),
            Inputs::Change(i) => self.changes[i].after.as_ref(),
            Inputs::Kept(i) => Some(&self.kept[i]),
        }
    }
}

impl Resolve for KnownResolver<'_, '_> {
    fn attribute(&self, r: &Reference) -> Result<Value, String> {
        let Some(PathSeg::Key(attr)) = r.path.first() else {
            return Err(format!("`{r}` does not name an attribute"));
        };
        let known = resource_index(self.stack, &r.address).and_then(|i| self.known[i].as_ref());
        let Some(known) = known else {
            // Not planned (outside --target) and not in state.
            return Ok(Value::Unknown);
        };
        let schema = self.registry.get(&r.address.ty).map(|p| p.schema());
        if schema.is_some_and(|s| s.input(attr).is_some()) {
            return Ok(self
                .inputs(known)
                .and_then(|v| v.get(attr))
                .cloned()
                .unwrap_or(Value::Null));
        }
        match known.outputs {
            None => Ok(Value::Unknown),
            Some(outputs) => outputs.get(attr).cloned().ok_or_else(|| {
                format!(
                    "`{r}` does not exist: `{}` has no attribute `{attr}`",
                    r.address
                )
            }),
        }
    }
}

/// The position of a resource in `stack.resources` (sorted by address).
fn resource_index(stack: &Stack, address: &Address) -> Option<usize> {
    stack
        .resources
        .binary_search_by(|r| r.address.cmp(address))
        .ok()
}

impl Planner<'_> {
    pub(crate) fn plan(
        &self,
        opts: &PlanOptions,
        drift: Vec<Drift>,
    ) -> Result<Plan, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        let mut missing_env = Vec::new();
        let mut changes = Vec::new();
        let mut state_only = Vec::new();
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
                &mut missing_env,
            );
            for var in &missing_env {
                warnings.push(format!(
                    "environment variable {var} is not set, so a sensitive input is unknown; apply will fail until it is set"
                ));
            }
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
        })
    }

    /// Evaluates a resource's inputs with what is known so far: referenced
    /// resources already walked, in dependency order.
    pub(crate) fn desired_inputs(
        &self,
        config: &ResourceConfig,
        resolver: &dyn Resolve,
        problems: &mut Vec<Diagnostic>,
        missing_env: &mut Vec<String>,
    ) -> Option<Value> {
        let Some(provider) = self.registry.get(&config.address.ty) else {
            problems.push(
                Diagnostic::error(format!("unknown resource type `{}`", config.address.ty))
                    .on(config.address.clone())
                    .hint(format!(
                        "known types: {}",
                        self.registry.type_names().collect::<Vec<_>>().join(", ")
                    )),
            );
            return None;
        };
        desired_inputs(
            config,
            &**provider,
            &check_context(self.stack, &**provider),
            self.key,
            resolver,
            problems,
            missing_env,
        )
    }

    fn plan_apply(
        &self,
        opts: &PlanOptions,
        changes: &mut Vec<ResourceChange>,
        state_only: &mut Vec<StateOnlyChange>,
        problems: &mut Vec<Diagnostic>,
        missing_env: &mut Vec<String>,
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
            let Some(mut after) = self.desired_inputs(config, &resolver, problems, missing_env)
            else {
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
            change.attributes = diff(schema, &prior.inputs, &after);
            change.target_id = Some(prior.id.clone());
            let forced = opts.replace.contains(address);
            let replace = forced || change.attributes.iter().any(|a| a.forces_replacement);
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
        missing_env.sort();
        missing_env.dedup();
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
                .hint(format!(
                    "run an infra built with the `{}` type, which made it",
                    r.address.ty
                )),
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

    /// The critical path through the changes, each weighted by its
    /// provider's estimate.
    fn estimate(&self, changes: &[ResourceChange]) -> Duration {
        // Deletes wait on the deletes of what depended on them.
        let mut dependents: HashMap<&Address, Vec<&Address>> = HashMap::new();
        let deletes = changes
            .iter()
            .any(|c| matches!(c.action, Action::Delete | Action::DeleteDeposed));
        if deletes {
            for c in changes {
                for d in &c.dependencies {
                    dependents.entry(d).or_default().push(&c.address);
                }
            }
        }
        let empty = Value::map();
        let mut finish: HashMap<&Address, Duration> = HashMap::with_capacity(changes.len());
        let mut total = Duration::ZERO;
        // Creates and updates come in dependency order, deletes in reverse:
        // each starts when the slowest change it waits on ends.
        for c in changes {
            let Some(provider) = self.registry.get(&c.address.ty) else {
                continue;
            };
            let after = c.after.as_ref().unwrap_or(&empty);
            let (own, waits_on): (Duration, &[&Address]) = match c.action {
                Action::Create => (provider.estimate(OpKind::Create, after), &[]),
                Action::Update => (provider.estimate(OpKind::Update, after), &[]),
                Action::Replace => (
                    provider.estimate(OpKind::Create, after)
                        + provider.estimate(OpKind::Delete, after),
                    &[],
                ),
                Action::Delete | Action::DeleteDeposed => {
                    let before = self.state.get(&c.address).map_or(&empty, |r| &r.inputs);
                    (
                        provider.estimate(OpKind::Delete, before),
                        dependents.get(&c.address).map_or(&[], Vec::as_slice),
                    )
                }
            };
            // Creates, updates and replacements wait on their dependencies.
            let waits_on_dependencies = !matches!(c.action, Action::Delete | Action::DeleteDeposed);
            let start = waits_on
                .iter()
                .copied()
                .chain(c.dependencies.iter().filter(|_| waits_on_dependencies))
                .filter_map(|d| finish.get(d))
                .max()
                .copied()
                .unwrap_or_default();
            let end = start + own;
            total = total.max(end);
            finish.insert(&c.address, end);
        }
        total
    }
}

/// What a provider's plan-time checks see of `stack`.
pub(crate) fn check_context<'a>(stack: &'a Stack, provider: &dyn Provider) -> CheckContext<'a> {
    static NONE: Value = Value::Null;
    CheckContext {
        root: &stack.root,
        settings: provider
            .settings_section()
            .and_then(|s| stack.settings.get(s))
            .unwrap_or(&NONE),
    }
}

/// Evaluates one resource's inputs and checks them against its schema and
/// the provider's own checks.
pub(crate) fn desired_inputs(
    config: &ResourceConfig,
    provider: &dyn Provider,
    project: &CheckContext<'_>,
    key: &SecretKey,
    resolver: &dyn Resolve,
    problems: &mut Vec<Diagnostic>,
    missing_env: &mut Vec<String>,
) -> Option<Value> {
    let schema = provider.schema();
    let mut eval = Evaluator {
        key,
        resolver,
        missing_env: Vec::new(),
    };
    let mut inputs = BTreeMap::new();
    let mut ok = true;
    for (name, expr) in &config.inputs {
        match eval.eval(expr) {
            // A reference keeps its value's type, so references to deep
            // values can build one deeper than the loader let through;
            // state must be able to hold and read back whatever is applied.
            Ok(v) if v.nesting() > infra_core::MAX_NESTING => {
                ok = false;
                let path = [PathSeg::Key(name.clone())];
                let message = format!(
                    "value nested too deeply: `{name}` evaluates to {} lists and tables deep, more than {}",
                    v.nesting(),
                    infra_core::MAX_NESTING
                );
                problems.push(
                    located(Diagnostic::error(message), config, &path).hint(
                        "flatten the value: the references it is built from are deep already",
                    ),
                );
            }
            Ok(v) => {
                let v = match schema.input(name) {
                    Some(attr) if attr.sensitive => key.seal(v),
                    _ => v,
                };
                inputs.insert(name.clone(), v);
            }
            Err(message) => {
                ok = false;
                let path = [PathSeg::Key(name.clone())];
                problems.push(located(Diagnostic::error(message), config, &path));
            }
        }
    }
    missing_env.append(&mut eval.missing_env);
    if !ok {
        return None;
    }
    for attr in &schema.attributes {
        if let infra_core::Presence::Default(d) = &attr.presence {
            inputs.entry(attr.name.clone()).or_insert_with(|| d.clone());
        }
    }
    let inputs = Value::Map(inputs);
    for attr in &schema.attributes {
        if let Some(v) = inputs.get(&attr.name) {
            for m in attr.ty.check(v) {
                let mut path = vec![PathSeg::Key(attr.name.clone())];
                path.extend(m.path.iter().cloned());
                let message = format!(
                    "`{}` expects {}, but the value is {}",
                    display_path(&path),
                    m.expected,
                    m.found
                );
                problems.push(located(Diagnostic::error(message), config, &path));
                ok = false;
            }
        } else if attr.presence == infra_core::Presence::Required {
            problems.push(
                located(
                    Diagnostic::error(format!("missing required attribute `{}`", attr.name)),
                    config,
                    &[],
                )
                .hint(format!("add `{} = ...` to {}", attr.name, config.address)),
            );
            ok = false;
        }
    }
    for name in inputs.as_map().into_iter().flat_map(|m| m.keys()) {
        if schema.input(name).is_none() {
            problems.push(located(
                Diagnostic::error(format!(
                    "unknown attribute `{name}` for `{}`",
                    schema.type_name
                )),
                config,
                &[PathSeg::Key(name.clone())],
            ));
            ok = false;
        }
    }
    if ok {
        for (path, message) in provider.validate_in(project, &inputs) {
            problems.push(located(Diagnostic::error(message), config, &path));
            ok = false;
        }
    }
    ok.then_some(inputs)
}

fn located(d: Diagnostic, config: &ResourceConfig, path: &[PathSeg]) -> Diagnostic {
    let d = d.on(config.address.clone());
    match config.location_of(path) {
        Some(l) => d.at(l.clone()),
        None => d,
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
        });
    }
    out
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

/// Copies the prior value at an ignored path into the desired inputs.
pub(crate) fn keep_prior(after: &mut Value, prior: &Value, path: &[PathSeg]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = after;
    for seg in parents {
        cur = match (cur, seg) {
            (Value::Map(m), PathSeg::Key(k)) => match m.get_mut(k) {
                Some(v) => v,
                None => return,
            },
            (Value::List(l), PathSeg::Index(i)) => match l.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    let old = prior.at(path).cloned();
    match (cur, last, old) {
        (Value::Map(m), PathSeg::Key(k), Some(v)) => {
            m.insert(k.clone(), v);
        }
        (Value::Map(m), PathSeg::Key(k), None) => {
            m.remove(k);
        }
        (Value::List(l), PathSeg::Index(i), Some(v)) if *i < l.len() => l[*i] = v,
        _ => {}
    }
}

/// Attribute-level differences between two input maps: maps are compared
/// key by key, lists of equal length item by item, anything else whole.
pub(crate) fn diff(schema: &Schema, before: &Value, after: &Value) -> Vec<AttrChange> {
    // Usually one change per attribute at most (nested maps may add more).
    let mut out = Vec::with_capacity(after.as_map().map_or(0, |m| m.len()));
    diff_into(schema, &mut Vec::new(), Some(before), Some(after), &mut out);
    out
}

fn diff_into(
    schema: &Schema,
    path: &mut ValuePath,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<AttrChange>,
) {
    // An absent value and null mean the same thing.
    let before = before.filter(|v| !matches!(v, Value::Null));
    let after = after.filter(|v| !matches!(v, Value::Null));
    match (before, after) {
        (Some(Value::Map(a)), Some(Value::Map(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                path.push(PathSeg::Key(k.clone()));
                diff_into(schema, path, a.get(k), b.get(k), out);
                path.pop();
            }
        }
        (Some(Value::List(a)), Some(Value::List(b))) if a.len() == b.len() && !path.is_empty() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                path.push(PathSeg::Index(i));
                diff_into(schema, path, Some(x), Some(y), out);
                path.pop();
            }
        }
        (a, b) if a == b && !b.is_some_and(Value::has_unknown) => {}
        (a, b) => out.push(AttrChange {
            path: display_path(path),
            before: a.cloned(),
            after: b.cloned(),
            forces_replacement: schema.change_at(path) == Change::Replace,
        }),
    }
}

/// A hash of everything in the stack that affects a plan; secrets enter
/// only as keyed digests. The text is streamed into the hasher, without
/// building it first.
pub(crate) fn config_hash(stack: &Stack, key: &SecretKey) -> String {
    let mut h = HashWriter(Sha256::new());
    h.0.update(stack.name.as_bytes());
    // Serializing values into a writer that cannot fail does not fail.
    let _ = serde_json::to_writer(&mut h, &stack.settings);
    for r in &stack.resources {
        let _ = write!(h, "{}", r.address);
        for (name, expr) in &r.inputs {
            h.0.update(name.as_bytes());
            write_fingerprint(&mut h, expr, key);
        }
        let _ = write!(h, "{:?}{:?}", r.depends_on, r.lifecycle);
    }
    h.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds whatever is written into a hash.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Write for HashWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// Writes an expression's fingerprint: JSON for literals, digests for
/// secrets, the debug form for references and templates.
fn write_fingerprint(h: &mut HashWriter, expr: &infra_stack::Expr, key: &SecretKey) {
    use std::fmt::Write as _;

    use infra_stack::Expr;
    match expr {
        Expr::FromEnv { var, value } => {
            let sealed = value.as_ref().map(|v| key.seal(Value::String(v.clone())));
            let _ = write!(h, "env:{var}:");
            let _ = serde_json::to_writer(&mut *h, &sealed);
        }
        Expr::Literal(v) => {
            let _ = serde_json::to_writer(&mut *h, v);
        }
        Expr::List(items) => {
            h.0.update(b"[");
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    h.0.update(b",");
                }
                write_fingerprint(h, e, key);
            }
            h.0.update(b"]");
        }
        Expr::Map(m) => {
            h.0.update(b"{");
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    h.0.update(b",");
                }
                let _ = write!(h, "{k:?}:");
                write_fingerprint(h, e, key);
            }
            h.0.update(b"}");
        }
        other => {
            let _ = write!(h, "{other:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Attribute, Type};

    use super::*;

    fn schema() -> Schema {
        Schema::new("t")
            .attribute(Attribute::new("name", Type::String).forces_replacement())
            .attribute(Attribute::new("tags", Type::map(Type::String)))
            .attribute(Attribute::new("size", Type::Int))
    }

    fn v(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn diff_is_attribute_level_and_classified() {
        let d = diff(
            &schema(),
            &v(r#"{"name": "a", "tags": {"x": "1", "y": "2"}, "size": 1}"#),
            &v(r#"{"name": "b", "tags": {"x": "1", "z": "3"}, "size": 1}"#),
        );
        let lines: Vec<String> = d
            .iter()
            .map(|c| {
                format!(
                    "{} {:?} {:?} {}",
                    c.path, c.before, c.after, c.forces_replacement
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                r#"name Some(String("a")) Some(String("b")) true"#,
                r#"tags.y Some(String("2")) None false"#,
                r#"tags.z None Some(String("3")) false"#,
            ]
        );
    }

    #[test]
    fn unknown_is_always_a_change() {
        let d = diff(
            &schema(),
            &v(r#"{"size": 1}"#),
            &Value::Map([("size".to_owned(), Value::Unknown)].into()),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].after, Some(Value::Unknown));
    }

    #[test]
    fn ignore_changes_keeps_prior_values() {
        let mut after = v(r#"{"tags": {"x": "new"}, "size": 2}"#);
        keep_prior(
            &mut after,
            &v(r#"{"tags": {"x": "old"}, "size": 1}"#),
            &[PathSeg::Key("tags".into()), PathSeg::Key("x".into())],
        );
        assert_eq!(after, v(r#"{"tags": {"x": "old"}, "size": 2}"#));
    }
}
