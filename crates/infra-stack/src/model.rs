//! The validated stack model: what the engine plans from. Built by the TOML
//! loader, or directly in code by embedders (see [`StackBuilder`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use infra_core::{Address, Location, PathSeg, Value, ValuePath};

/// A stack: named resources with their (not yet evaluated) inputs, plus the
/// provider settings tables.
#[derive(Clone, Debug, PartialEq)]
pub struct Stack {
    /// The stack's name (`prod` for `stacks/prod.toml`).
    pub name: String,
    /// The project root; relative paths in settings resolve against it.
    pub root: PathBuf,
    /// Provider settings tables by section (`sim`, `aws`), vars substituted.
    pub settings: BTreeMap<String, Value>,
    /// Where state lives when not the default local file (`state = "..."`).
    pub state: Option<String>,
    /// The resources, sorted by address.
    pub resources: Vec<ResourceConfig>,
    /// The `[check]` table: how `infra check` judges the stack.
    pub check: CheckSettings,
}

/// The `[check]` table: which checklist profile applies and which rules
/// are waived, with why. What the rules are is `infra-check`'s business;
/// the loader checks only the table's shape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckSettings {
    /// `profile = "production" | "development"`; development when unset.
    pub profile: CheckProfile,
    /// Where `profile` was written, when it was.
    pub profile_location: Option<Location>,
    /// `[check.waive] rule-id = "why"`, sorted by rule id.
    pub waivers: Vec<Waiver>,
}

/// How strictly `infra check` judges a stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckProfile {
    /// Lighter: high-availability and durability rules are off or notes;
    /// security rules still apply. The default.
    #[default]
    Development,
    /// Every rule; high-availability and durability ones are errors.
    Production,
}

impl CheckProfile {
    /// Every profile, in the order they are listed to users.
    pub const ALL: [CheckProfile; 2] = [CheckProfile::Production, CheckProfile::Development];

    /// The name written in `[check] profile`.
    pub fn name(self) -> &'static str {
        match self {
            CheckProfile::Development => "development",
            CheckProfile::Production => "production",
        }
    }

    /// The profile a name stands for.
    pub fn from_name(name: &str) -> Option<CheckProfile> {
        CheckProfile::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for CheckProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `[check.waive]` entry: a rule whose findings do not fail the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiver {
    /// The rule id, e.g. `rds-multi-az`.
    pub rule: String,
    /// Why, printed with every finding it waives.
    pub reason: String,
    /// Where the waiver was written, when it came from a file.
    pub location: Option<Location>,
}

/// One resource as declared.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceConfig {
    /// `<type>.<name>`.
    pub address: Address,
    /// Input attributes by name, schema defaults already filled in.
    pub inputs: BTreeMap<String, Expr>,
    /// Explicit dependencies besides the references inside `inputs`.
    pub depends_on: Vec<Address>,
    /// Where each `depends_on` entry was written, when it came from a
    /// file: a cycle through one is reported there.
    pub depends_on_locations: BTreeMap<Address, Location>,
    /// The resource's lifecycle settings.
    pub lifecycle: Lifecycle,
    /// Where the resource is declared, when it came from a file.
    pub location: Option<Location>,
    /// Where each input value was written, for diagnostics found later
    /// (plan-time validation): the innermost recorded path wins.
    pub value_locations: ValueLocations,
}

/// Locations by value path: a map kept as a vector sorted by path, since a
/// resource records only a few and a tree node per resource costs more than
/// all of them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ValueLocations {
    /// Sorted by path, each path once.
    entries: Vec<(ValuePath, Location)>,
}

impl ValueLocations {
    /// No locations.
    pub fn new() -> Self {
        ValueLocations::default()
    }

    /// From entries in any order; of equal paths the last one wins.
    pub fn from_entries(mut entries: Vec<(ValuePath, Location)>) -> Self {
        // Usually already sorted (the loader records values depth first).
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable, so that equal paths keep their order for `dedup`.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            // Keep the last of equal paths, like repeated map inserts.
            entries.reverse();
            entries.dedup_by(|later, earlier| later.0 == earlier.0);
            entries.reverse();
        }
        entries.shrink_to_fit();
        ValueLocations { entries }
    }

    /// Records where the value at `path` was written.
    pub fn insert(&mut self, path: ValuePath, location: Location) {
        match self.search(&path) {
            Ok(i) => self.entries[i].1 = location,
            Err(i) => self.entries.insert(i, (path, location)),
        }
    }

    /// The location recorded for exactly this path.
    pub fn get(&self, path: &[PathSeg]) -> Option<&Location> {
        self.search(path).ok().map(|i| &self.entries[i].1)
    }

    /// The number of recorded paths.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no path is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The paths and their locations, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&ValuePath, &Location)> {
        self.entries.iter().map(|(p, l)| (p, l))
    }

    fn search(&self, path: &[PathSeg]) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(p, _)| p.as_slice().cmp(path))
    }
}

impl<'a> IntoIterator for &'a ValueLocations {
    type Item = (&'a ValuePath, &'a Location);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (ValuePath, Location)>,
        fn(&'a (ValuePath, Location)) -> (&'a ValuePath, &'a Location),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(p, l)| (p, l))
    }
}

/// An input value before evaluation: literals, references to other
/// resources, and templates mixing both. `${var.*}` and `${env.*}` are
/// already substituted by the loader.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A constant.
    Literal(Value),
    /// A string that is exactly one reference: takes the referenced value and type.
    Ref(Reference),
    /// A string mixing text and references; evaluates to a string.
    Template(Vec<Part>),
    /// A list of expressions.
    List(Vec<Expr>),
    /// A table of expressions.
    Map(BTreeMap<String, Expr>),
    /// A sensitive value from the environment: `{ from_env = "X" }`.
    /// `value` is `None` when the variable is unset.
    FromEnv {
        /// The environment variable.
        var: String,
        /// Its value when the stack was loaded.
        value: Option<String>,
    },
}

/// A piece of a template string.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// An interpolated reference.
    Ref(Reference),
}

/// `${type.name.attr[.key|[index]]...}`: a value of another resource.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// The resource referred to.
    pub address: Address,
    /// The attribute (input or output name) and any steps inside it.
    pub path: ValuePath,
}

/// Per-resource lifecycle settings: `lifecycle = { ... }`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lifecycle {
    /// Refuse any plan that would destroy the resource.
    pub prevent_destroy: bool,
    /// Input paths whose changes are not planned.
    pub ignore_changes: Vec<ValuePath>,
    /// Attributes the schema sets only at create (then the cloud's) that
    /// the stack keeps owning: each is diffed like any other
    /// (`own = ["scaling.desired"]`).
    pub own: Vec<ValuePath>,
    /// Replace by creating the new resource before deleting the old.
    pub create_before_destroy: bool,
    /// Per-operation time limits.
    pub timeouts: Timeouts,
}

/// Time limits per operation; `None` means the engine's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// For create.
    pub create: Option<Duration>,
    /// For update.
    pub update: Option<Duration>,
    /// For delete.
    pub delete: Option<Duration>,
}

impl Expr {
    /// Every reference inside, in order.
    pub fn references(&self) -> Vec<&Reference> {
        let mut out = Vec::new();
        self.collect_refs(&mut out);
        out
    }

    fn collect_refs<'a>(&'a self, out: &mut Vec<&'a Reference>) {
        match self {
            Expr::Ref(r) => out.push(r),
            Expr::Template(parts) => out.extend(parts.iter().filter_map(|p| match p {
                Part::Ref(r) => Some(r),
                Part::Text(_) => None,
            })),
            Expr::List(items) => items.iter().for_each(|e| e.collect_refs(out)),
            Expr::Map(m) => m.values().for_each(|e| e.collect_refs(out)),
            Expr::Literal(_) | Expr::FromEnv { .. } => {}
        }
    }

    /// Converts a plain value (as built in code) into an expression.
    /// Strings are taken literally; use [`Expr::Ref`] for references.
    pub fn from_value(value: Value) -> Expr {
        Expr::Literal(value)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.address)?;
        for seg in &self.path {
            match seg {
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

impl Reference {
    /// Parses `type.name.attr...` (without `${}`); `None` when malformed.
    pub fn parse(text: &str) -> Option<Reference> {
        let mut segs = text.split('.');
        let ty = segs.next()?;
        let name = segs.next()?;
        let address = Address::new(ty, name).ok()?;
        let mut path = Vec::new();
        for seg in segs {
            let (key, mut rest) = match seg.find('[') {
                Some(i) => seg.split_at(i),
                None => (seg, ""),
            };
            if key.is_empty() {
                return None;
            }
            path.push(PathSeg::Key(key.to_owned()));
            while let Some(stripped) = rest.strip_prefix('[') {
                let end = stripped.find(']')?;
                path.push(PathSeg::Index(stripped[..end].parse().ok()?));
                rest = &stripped[end + 1..];
            }
            if !rest.is_empty() {
                return None;
            }
        }
        if path.is_empty() {
            return None;
        }
        Some(Reference { address, path })
    }
}

impl Stack {
    /// The resource at an address.
    pub fn resource(&self, address: &Address) -> Option<&ResourceConfig> {
        self.resources
            .binary_search_by(|r| r.address.cmp(address))
            .ok()
            .map(|i| &self.resources[i])
    }
}

impl ResourceConfig {
    /// The location recorded for a path into the inputs, or the closest
    /// enclosing one, or the resource's own.
    pub fn location_of(&self, path: &[PathSeg]) -> Option<&Location> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.value_locations.get(&path[..n]))
            .or(self.location.as_ref())
    }
}

/// Builds a stack in code, without TOML. Validation happens when the engine
/// plans it, against the same schemas as loaded stacks.
#[derive(Debug)]
pub struct StackBuilder {
    stack: Stack,
}

impl StackBuilder {
    /// A new, empty stack rooted at `root`.
    pub fn new(name: &str, root: impl Into<PathBuf>) -> Self {
        StackBuilder {
            stack: Stack {
                name: name.to_owned(),
                root: root.into(),
                settings: BTreeMap::new(),
                state: None,
                resources: Vec::new(),
                check: CheckSettings::default(),
            },
        }
    }

    /// Sets a provider settings table (e.g. `sim` = `{ dir = ".sim" }`).
    pub fn settings(mut self, section: &str, value: Value) -> Self {
        self.stack.settings.insert(section.to_owned(), value);
        self
    }

    /// Adds a resource with its inputs and explicit dependencies.
    pub fn resource(
        mut self,
        address: Address,
        inputs: BTreeMap<String, Expr>,
        depends_on: Vec<Address>,
    ) -> Self {
        self.stack.resources.push(ResourceConfig {
            address,
            inputs,
            depends_on,
            depends_on_locations: BTreeMap::new(),
            lifecycle: Lifecycle::default(),
            location: None,
            value_locations: ValueLocations::new(),
        });
        self
    }

    /// Sets the `[check]` settings (profile and waivers).
    pub fn check(mut self, check: CheckSettings) -> Self {
        self.stack.check = check;
        self
    }

    /// The stack, resources sorted by address.
    pub fn build(mut self) -> Stack {
        self.stack
            .resources
            .sort_by(|a, b| a.address.cmp(&b.address));
        self.stack
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = Reference::parse("eks_node_group.workers.taints[0].key").unwrap();
        assert_eq!(r.address.to_string(), "eks_node_group.workers");
        assert_eq!(
            r.path,
            vec![
                PathSeg::Key("taints".into()),
                PathSeg::Index(0),
                PathSeg::Key("key".into())
            ]
        );
        assert_eq!(r.to_string(), "eks_node_group.workers.taints[0].key");
        for bad in ["a.b", "a", "a.b.", "a.b.c[x]", "a.b.c[1", "a.b..c"] {
            assert!(Reference::parse(bad).is_none(), "{bad}");
        }
    }
}
