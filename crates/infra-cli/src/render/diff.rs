//! `infra diff`: two loaded stacks compared resource by resource and
//! attribute by attribute ([`compare`]), and the result for people
//! ([`render`]). Pure functions over the stack model: no state, no cloud.
//!
//! What is compared, and how:
//!
//! - Resources by address. One declared in only one stack (or disabled
//!   in the other) is listed with where it is declared, not attribute by
//!   attribute.
//! - Inputs at leaf granularity. Tables are compared key by key, at any
//!   depth (a table on one side only, too, leaf by leaf). Lists are
//!   compared whole, except two lists of tables of the same length, which
//!   are compared item by item (`routes[0].nat_gateway_id`). Sets (the
//!   schema's `Type::Set`) are always compared whole, in any order.
//! - Values as the loader resolved them: `${var.*}` and `${env.*}` are
//!   substituted, so a variable an overlay sets shows up in the attributes
//!   that use it. Literals compare by value; references and templates by
//!   their text (`${vpc.main.id}`); `{ from_env = "X" }` by the name of
//!   the variable, whose value is never read. Attributes the schema marks
//!   sensitive print as `(sensitive)` when written in the file.
//! - `depends_on` (as a set), the `lifecycle` settings, the provider
//!   settings tables (`aws.region`), `state`, and the `[check]` table
//!   (`check.profile`, each waiver as `check.waive.<rule>`).
//!
//! Equal values are not shown, wherever each was written. Each side of a
//! difference says where its value comes from: the file:line:col the
//! loader recorded for its path, or for the nearest enclosing path (a
//! value a `${var.*}` brought in points at the string naming the
//! variable; a default inside a written table at the table); `(default)`
//! for a schema default; `(unset)`. The loader records no locations for
//! provider settings and lifecycle settings: those say `(location not
//! recorded)` unless they have the default value.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use infra_core::{Address, Location, PathSeg, Registry, Schema, Type, Value, is_bare_key};
use infra_engine::{Expr, Part, Reference, ResourceConfig, Stack};

use super::Style;

/// Two stacks compared: only what differs.
#[derive(Clone, Debug, PartialEq)]
pub struct StackDiff {
    /// The first stack's name (the first `--stack`).
    pub a: String,
    /// The second stack's name.
    pub b: String,
    /// Differences in the provider settings tables (`aws.region`), in
    /// `state` and in the `[check]` table.
    pub settings: Vec<AttrDiff>,
    /// The resources that differ, sorted by address.
    pub resources: Vec<ResourceDiff>,
    /// How many resources both stacks declare, differing or not.
    pub in_both: usize,
}

/// One resource that differs between the stacks.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDiff {
    /// Its address.
    pub address: Address,
    /// How it differs.
    pub kind: ResourceDiffKind,
}

/// How a resource differs.
#[derive(Clone, Debug, PartialEq)]
pub enum ResourceDiffKind {
    /// Declared in only one of the stacks, here (when it came from a file).
    OnlyIn(Which, Option<Location>),
    /// Declared in both, with these attributes different (never empty).
    Changed(Vec<AttrDiff>),
}

/// One of the two stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The first.
    A,
    /// The second.
    B,
}

/// One attribute whose values differ.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrDiff {
    /// Where: `multi_az`, `scaling.min`, `tags."kubernetes.io/role/elb"`,
    /// `routes[0].nat_gateway_id`, `depends_on`, `lifecycle.prevent_destroy`.
    pub path: String,
    /// The first stack's side.
    pub a: Side,
    /// The second stack's side.
    pub b: Side,
}

/// One stack's value of an attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum Side {
    /// The stack does not set it and it has no default.
    Unset,
    /// The value, as infra prints it (strings quoted, references as
    /// `${type.name.attr}`, secrets redacted), and where it comes from.
    Set {
        /// The value's text.
        value: String,
        /// Where it comes from.
        origin: Origin,
    },
}

/// Where a value comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// Written here (or inside the value written here).
    Written(Location),
    /// The schema's (or the lifecycle's) default.
    Default,
    /// Written in the stack files; the loader keeps no location for it.
    NotRecorded,
}

impl StackDiff {
    /// Whether the stacks are the same.
    pub fn is_empty(&self) -> bool {
        self.settings.is_empty() && self.resources.is_empty()
    }

    /// The name of one of the stacks.
    pub fn name(&self, which: Which) -> &str {
        match which {
            Which::A => &self.a,
            Which::B => &self.b,
        }
    }
}

/// Compares two loaded stacks; `registry` gives each type's schema (sets,
/// sensitive attributes).
pub fn compare(a: &Stack, b: &Stack, registry: &Registry) -> StackDiff {
    let mut settings = Walk::settings();
    let (sa, sb) = (settings_node(&a.settings), settings_node(&b.settings));
    settings.walk(&mut Vec::new(), Some(&sa), Some(&sb));
    let mut settings = settings.out;
    if a.state != b.state {
        let side = |s: &Option<String>| match s {
            None => Side::Unset,
            Some(s) => Side::Set {
                value: Value::from(s.as_str()).to_string(),
                origin: Origin::NotRecorded,
            },
        };
        settings.push(AttrDiff {
            path: "state".to_owned(),
            a: side(&a.state),
            b: side(&b.state),
        });
    }

    check_diff(a, b, &mut settings);

    let mut by_address: BTreeMap<&Address, (Option<&ResourceConfig>, Option<&ResourceConfig>)> =
        BTreeMap::new();
    for r in &a.resources {
        by_address.entry(&r.address).or_default().0 = Some(r);
    }
    for r in &b.resources {
        by_address.entry(&r.address).or_default().1 = Some(r);
    }
    let mut resources = Vec::new();
    let mut in_both = 0;
    for (address, sides) in by_address {
        let kind = match sides {
            (Some(ra), Some(rb)) => {
                in_both += 1;
                let schema = registry.get(&address.ty).map(|p| p.schema());
                let attributes = resource_diff(ra, rb, schema);
                if attributes.is_empty() {
                    continue;
                }
                ResourceDiffKind::Changed(attributes)
            }
            (Some(r), None) => ResourceDiffKind::OnlyIn(Which::A, r.location.clone()),
            (None, Some(r)) => ResourceDiffKind::OnlyIn(Which::B, r.location.clone()),
            (None, None) => continue,
        };
        resources.push(ResourceDiff {
            address: address.clone(),
            kind,
        });
    }
    StackDiff {
        a: a.name.clone(),
        b: b.name.clone(),
        settings,
        resources,
        in_both,
    }
}

/// The `[check]` tables: `check.profile`, and each waiver as
/// `check.waive.<rule>` with its reason.
fn check_diff(a: &Stack, b: &Stack, out: &mut Vec<AttrDiff>) {
    let (ca, cb) = (&a.check, &b.check);
    if ca.profile != cb.profile {
        let side = |c: &Stack| Side::Set {
            value: Value::from(c.check.profile.name()).to_string(),
            origin: c
                .check
                .profile_location
                .as_ref()
                .map_or(Origin::Default, |l| Origin::Written(l.clone())),
        };
        out.push(AttrDiff {
            path: "check.profile".to_owned(),
            a: side(a),
            b: side(b),
        });
    }
    let rules: BTreeSet<&str> = ca
        .waivers
        .iter()
        .chain(&cb.waivers)
        .map(|w| w.rule.as_str())
        .collect();
    for rule in rules {
        let side = |s: &Stack| match s.check.waivers.iter().find(|w| w.rule == rule) {
            None => Side::Unset,
            Some(w) => Side::Set {
                value: Value::from(w.reason.as_str()).to_string(),
                origin: w
                    .location
                    .as_ref()
                    .map_or(Origin::NotRecorded, |l| Origin::Written(l.clone())),
            },
        };
        let (x, y) = (side(a), side(b));
        let reason = |s: &Side| match s {
            Side::Unset => None,
            Side::Set { value, .. } => Some(value.clone()),
        };
        if reason(&x) == reason(&y) {
            continue;
        }
        out.push(AttrDiff {
            path: show_path(&[
                PathSeg::Key("check".to_owned()),
                PathSeg::Key("waive".to_owned()),
                PathSeg::Key(rule.to_owned()),
            ]),
            a: x,
            b: y,
        });
    }
}

/// The differences of one resource both stacks declare: inputs, then
/// `depends_on`, then `lifecycle`.
fn resource_diff(a: &ResourceConfig, b: &ResourceConfig, schema: Option<&Schema>) -> Vec<AttrDiff> {
    let mut walk = Walk {
        schema,
        a: Some(a),
        b: Some(b),
        out: Vec::new(),
    };
    let (ia, ib) = (inputs_node(&a.inputs), inputs_node(&b.inputs));
    walk.walk(&mut Vec::new(), Some(&ia), Some(&ib));
    let mut out = walk.out;

    let deps = |r: &ResourceConfig| -> BTreeSet<String> {
        r.depends_on.iter().map(ToString::to_string).collect()
    };
    if deps(a) != deps(b) {
        let side = |r: &ResourceConfig| match r.depends_on.first() {
            None => Side::Unset,
            Some(first) => Side::Set {
                value: quoted_list(r.depends_on.iter().map(ToString::to_string)),
                origin: r
                    .depends_on_locations
                    .get(first)
                    .map_or(Origin::NotRecorded, |l| Origin::Written(l.clone())),
            },
        };
        out.push(AttrDiff {
            path: "depends_on".to_owned(),
            a: side(a),
            b: side(b),
        });
    }

    let (la, lb) = (&a.lifecycle, &b.lifecycle);
    let mut flag = |name: &str, x: bool, y: bool| {
        if x != y {
            let side = |v: bool| Side::Set {
                value: v.to_string(),
                origin: if v {
                    Origin::NotRecorded
                } else {
                    Origin::Default
                },
            };
            out.push(AttrDiff {
                path: format!("lifecycle.{name}"),
                a: side(x),
                b: side(y),
            });
        }
    };
    flag("prevent_destroy", la.prevent_destroy, lb.prevent_destroy);
    flag(
        "create_before_destroy",
        la.create_before_destroy,
        lb.create_before_destroy,
    );
    let paths = |name: &str, x: &[Vec<PathSeg>], y: &[Vec<PathSeg>], out: &mut Vec<AttrDiff>| {
        let set = |p: &[Vec<PathSeg>]| -> BTreeSet<String> {
            p.iter().map(|p| infra_core::display_path(p)).collect()
        };
        if set(x) != set(y) {
            let side = |p: &[Vec<PathSeg>]| Side::Set {
                value: quoted_list(p.iter().map(|p| infra_core::display_path(p))),
                origin: if p.is_empty() {
                    Origin::Default
                } else {
                    Origin::NotRecorded
                },
            };
            out.push(AttrDiff {
                path: format!("lifecycle.{name}"),
                a: side(x),
                b: side(y),
            });
        }
    };
    paths(
        "ignore_changes",
        &la.ignore_changes,
        &lb.ignore_changes,
        &mut out,
    );
    paths("own", &la.own, &lb.own, &mut out);
    let (ta, tb) = (la.timeouts, lb.timeouts);
    for (name, x, y) in [
        ("create", ta.create, tb.create),
        ("update", ta.update, tb.update),
        ("delete", ta.delete, tb.delete),
    ] {
        if x != y {
            let side = |d: Option<Duration>| match d {
                None => Side::Unset,
                Some(d) => Side::Set {
                    value: Value::from(humantime::format_duration(d).to_string()).to_string(),
                    origin: Origin::NotRecorded,
                },
            };
            out.push(AttrDiff {
                path: format!("lifecycle.timeouts.{name}"),
                a: side(x),
                b: side(y),
            });
        }
    }
    out
}

/// `["a", "b"]`.
fn quoted_list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(", "))
}

/// A value or expression as the comparison sees it: tables and lists
/// opened up (whether written as literals or holding references), the
/// rest as leaves.
#[derive(Debug, PartialEq)]
enum Node<'a> {
    /// A literal that is not a table or a list.
    Scalar(&'a Value),
    /// A whole-string reference.
    Ref(&'a Reference),
    /// Text with references.
    Template(&'a [Part]),
    /// `{ from_env = "X" }`: only the variable's name.
    FromEnv(&'a str),
    List(Vec<Node<'a>>),
    Map(BTreeMap<&'a str, Node<'a>>),
}

fn value_node(v: &Value) -> Node<'_> {
    match v {
        Value::List(items) => Node::List(items.iter().map(value_node).collect()),
        Value::Map(m) => Node::Map(m.iter().map(|(k, v)| (k.as_str(), value_node(v))).collect()),
        other => Node::Scalar(other),
    }
}

fn expr_node(e: &Expr) -> Node<'_> {
    match e {
        Expr::Literal(v) => value_node(v),
        Expr::Ref(r) => Node::Ref(r),
        Expr::Template(parts) => Node::Template(parts),
        Expr::List(items) => Node::List(items.iter().map(expr_node).collect()),
        Expr::Map(m) => Node::Map(m.iter().map(|(k, e)| (k.as_str(), expr_node(e))).collect()),
        // The value is never looked at: a secret, compared by its name.
        Expr::FromEnv { var, .. } => Node::FromEnv(var),
    }
}

fn inputs_node(inputs: &BTreeMap<String, Expr>) -> Node<'_> {
    Node::Map(
        inputs
            .iter()
            .map(|(k, e)| (k.as_str(), expr_node(e)))
            .collect(),
    )
}

fn settings_node(settings: &BTreeMap<String, Value>) -> Node<'_> {
    Node::Map(
        settings
            .iter()
            .map(|(k, v)| (k.as_str(), value_node(v)))
            .collect(),
    )
}

/// One comparison in progress: a resource's inputs (with its schema and
/// both sides' locations), or the settings (neither).
struct Walk<'s> {
    schema: Option<&'s Schema>,
    a: Option<&'s ResourceConfig>,
    b: Option<&'s ResourceConfig>,
    out: Vec<AttrDiff>,
}

impl<'s> Walk<'s> {
    fn settings() -> Self {
        Walk {
            schema: None,
            a: None,
            b: None,
            out: Vec::new(),
        }
    }

    fn walk(&mut self, path: &mut Vec<PathSeg>, a: Option<&Node<'_>>, b: Option<&Node<'_>>) {
        let opens = |n: Option<&Node<'_>>| matches!(n, Some(Node::Map(m)) if !m.is_empty());
        match (a, b) {
            (Some(Node::Map(x)), Some(Node::Map(y))) => {
                self.keys(path, Some(x), Some(y));
                return;
            }
            (Some(Node::Map(x)), None) if opens(a) => {
                self.keys(path, Some(x), None);
                return;
            }
            (None, Some(Node::Map(y))) if opens(b) => {
                self.keys(path, None, Some(y));
                return;
            }
            (Some(Node::List(x)), Some(Node::List(y)))
                if x.len() == y.len()
                    && x.iter().chain(y).all(|n| matches!(n, Node::Map(_)))
                    && !self.is_set(path) =>
            {
                for (i, (x, y)) in x.iter().zip(y).enumerate() {
                    path.push(PathSeg::Index(i));
                    self.walk(path, Some(x), Some(y));
                    path.pop();
                }
                return;
            }
            _ => {}
        }
        if self.same(path, a, b) {
            return;
        }
        let side = |r: Option<&ResourceConfig>, n: Option<&Node<'_>>| match n {
            None => Side::Unset,
            Some(n) => Side::Set {
                value: text(n, self.schema, &mut path.clone()),
                origin: match r {
                    Some(r) => origin(r, path),
                    None => Origin::NotRecorded,
                },
            },
        };
        let diff = AttrDiff {
            path: show_path(path),
            a: side(self.a, a),
            b: side(self.b, b),
        };
        self.out.push(diff);
    }

    fn keys(
        &mut self,
        path: &mut Vec<PathSeg>,
        a: Option<&BTreeMap<&str, Node<'_>>>,
        b: Option<&BTreeMap<&str, Node<'_>>>,
    ) {
        let keys: BTreeSet<&str> = a
            .into_iter()
            .chain(b)
            .flat_map(|m| m.keys().copied())
            .collect();
        for k in keys {
            path.push(PathSeg::Key(k.to_owned()));
            self.walk(path, a.and_then(|m| m.get(k)), b.and_then(|m| m.get(k)));
            path.pop();
        }
    }

    fn is_set(&self, path: &[PathSeg]) -> bool {
        self.schema.is_some_and(|s| s.is_set_at(path))
    }

    fn same(&self, path: &[PathSeg], a: Option<&Node<'_>>, b: Option<&Node<'_>>) -> bool {
        match (a, b) {
            (Some(Node::List(x)), Some(Node::List(y))) if self.is_set(path) => {
                let items = |l: &[Node<'_>]| -> BTreeSet<String> {
                    l.iter().map(|n| text(n, None, &mut Vec::new())).collect()
                };
                items(x) == items(y)
            }
            (x, y) => x == y,
        }
    }
}

/// Where the value at `path` was written: its own recorded location, or
/// the nearest enclosing one; none means the schema's default.
fn origin(r: &ResourceConfig, path: &[PathSeg]) -> Origin {
    (1..=path.len())
        .rev()
        .find_map(|n| r.value_locations.get(&path[..n]))
        .map_or(Origin::Default, |l| Origin::Written(l.clone()))
}

/// A path as written in a stack file: keys joined by `.`, quoted when
/// they are not bare (`tags."kubernetes.io/role/elb"`), indices `[0]`.
fn show_path(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if is_bare_key(k) {
                    out.push_str(k);
                } else {
                    let _ = write!(out, "{k:?}");
                }
            }
            PathSeg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// Whether the schema marks the attribute at `path`, or one enclosing it,
/// sensitive.
fn sensitive_at(schema: &Schema, path: &[PathSeg]) -> bool {
    let mut attrs = schema.attributes.as_slice();
    let mut ty: Option<&Type> = None;
    for seg in path {
        match (seg, ty) {
            (PathSeg::Key(k), None | Some(Type::Object(_))) => {
                let Some(a) = attrs.iter().find(|a| &a.name == k) else {
                    return false;
                };
                if a.sensitive {
                    return true;
                }
                ty = Some(&a.ty);
            }
            (_, Some(Type::List(item) | Type::Set(item) | Type::Map(item))) => ty = Some(item),
            _ => return false,
        }
        if let Some(Type::Object(inner)) = ty {
            attrs = inner;
        }
    }
    false
}

/// A node as infra prints values; with a schema, what it marks sensitive
/// is `(sensitive)` (a reference or a `from_env` name is no secret).
fn text(n: &Node<'_>, schema: Option<&Schema>, path: &mut Vec<PathSeg>) -> String {
    let secret = || schema.is_some_and(|s| sensitive_at(s, path));
    match n {
        Node::Scalar(Value::Null) => "null".to_owned(),
        Node::Scalar(_) if secret() => "(sensitive)".to_owned(),
        Node::Scalar(v) => v.to_string(),
        Node::Ref(r) => format!("${{{r}}}"),
        Node::Template(_) if secret() => "(sensitive)".to_owned(),
        Node::Template(parts) => {
            let mut s = String::new();
            for p in *parts {
                match p {
                    Part::Text(t) => s.push_str(t),
                    Part::Ref(r) => {
                        let _ = write!(s, "${{{r}}}");
                    }
                }
            }
            format!("{s:?}")
        }
        Node::FromEnv(var) => format!("{{ from_env = {var:?} }}"),
        Node::List(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(PathSeg::Index(i));
                parts.push(text(item, schema, path));
                path.pop();
            }
            format!("[{}]", parts.join(", "))
        }
        Node::Map(m) if m.is_empty() => "{}".to_owned(),
        Node::Map(m) => {
            let mut parts = Vec::with_capacity(m.len());
            for (k, v) in m {
                path.push(PathSeg::Key((*k).to_owned()));
                let v = text(v, schema, path);
                path.pop();
                parts.push(if is_bare_key(k) {
                    format!("{k} = {v}")
                } else {
                    format!("{k:?} = {v}")
                });
            }
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// Values wider than this do not widen their column: the rest of their
/// line moves right instead.
const MAX_VALUE_WIDTH: usize = 40;

/// Paths wider than this do not widen their column.
const MAX_PATH_WIDTH: usize = 48;

/// The comparison for people: a block per resource that differs (`~` in
/// both, `-` only in the first stack, `+` only in the second), each
/// attribute on one line with both sides aligned, then a summary.
///
/// ```text
/// ~ rds_instance.airflow_db
///     deletion_protection  staging: false  (default)   prod: true  (stacks/prod.toml:26:23)
/// ```
pub fn render(d: &StackDiff, style: Style) -> String {
    let mut out = String::new();
    if !d.settings.is_empty() {
        let _ = writeln!(out, "{} settings", style.yellow("~"));
        attributes(&mut out, d, &d.settings);
        out.push('\n');
    }
    for r in &d.resources {
        match &r.kind {
            ResourceDiffKind::Changed(attrs) => {
                let _ = writeln!(out, "{} {}", style.yellow("~"), r.address);
                attributes(&mut out, d, attrs);
            }
            ResourceDiffKind::OnlyIn(which, location) => {
                let mark = match which {
                    Which::A => style.red("-"),
                    Which::B => style.green("+"),
                };
                let at = location
                    .as_ref()
                    .map_or(String::new(), |l| format!(", {l}"));
                let _ = writeln!(
                    out,
                    "{mark} {}  (only in {}{at})",
                    r.address,
                    d.name(*which)
                );
            }
        }
        out.push('\n');
    }
    out.push_str(&summary(d));
    out
}

/// One side of an attribute's line: the value and where it comes from.
struct Cell {
    value: String,
    origin: String,
}

impl Cell {
    fn of(s: &Side) -> Cell {
        match s {
            Side::Unset => Cell {
                value: "(unset)".to_owned(),
                origin: String::new(),
            },
            Side::Set { value, origin } => Cell {
                value: value.clone(),
                origin: origin_text(origin),
            },
        }
    }
}

fn attributes(out: &mut String, d: &StackDiff, attrs: &[AttrDiff]) {
    let rows: Vec<(&str, Cell, Cell)> = attrs
        .iter()
        .map(|a| (a.path.as_str(), Cell::of(&a.a), Cell::of(&a.b)))
        .collect();
    let width = |s: &str| s.chars().count();
    let path_w = column(rows.iter().map(|r| width(r.0)), MAX_PATH_WIDTH);
    let a_value_w = column(rows.iter().map(|r| width(&r.1.value)), MAX_VALUE_WIDTH);
    let a_origin_w = column(rows.iter().map(|r| width(&r.1.origin)), usize::MAX);
    let b_value_w = column(rows.iter().map(|r| width(&r.2.value)), MAX_VALUE_WIDTH);
    for (path, a, b) in &rows {
        let line = format!(
            "    {path:path_w$}  {}: {:a_value_w$}  {:a_origin_w$}   {}: {:b_value_w$}  {}",
            d.a, a.value, a.origin, d.b, b.value, b.origin
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// The width of a column: its widest cell, leaving out cells wider than
/// `max`.
fn column(widths: impl Iterator<Item = usize>, max: usize) -> usize {
    widths.filter(|w| *w <= max).max().unwrap_or(0)
}

fn origin_text(o: &Origin) -> String {
    match o {
        Origin::Written(l) => format!("({l})"),
        Origin::Default => "(default)".to_owned(),
        Origin::NotRecorded => "(location not recorded)".to_owned(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The last line: what differs, in counts.
fn summary(d: &StackDiff) -> String {
    if d.is_empty() {
        return format!(
            "No differences: {} and {} declare the same {} with the same settings.\n",
            d.a,
            d.b,
            plural(d.in_both, "resource", "resources")
        );
    }
    let (mut changed, mut only_a, mut only_b) = (0, 0, 0);
    for r in &d.resources {
        match r.kind {
            ResourceDiffKind::Changed(_) => changed += 1,
            ResourceDiffKind::OnlyIn(Which::A, _) => only_a += 1,
            ResourceDiffKind::OnlyIn(Which::B, _) => only_b += 1,
        }
    }
    let mut parts = vec![format!(
        "{} of {} in both differ",
        changed,
        plural(d.in_both, "resource", "resources")
    )];
    if only_a > 0 {
        parts.push(format!("{only_a} only in {}", d.a));
    }
    if only_b > 0 {
        parts.push(format!("{only_b} only in {}", d.b));
    }
    parts.push(
        if d.settings.is_empty() {
            "settings the same"
        } else {
            "settings differ"
        }
        .to_owned(),
    );
    format!("{} and {} differ: {}.\n", d.a, d.b, parts.join(", "))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use expect_test::expect;
    use infra_core::Attribute;

    use super::*;

    fn at(line: usize, column: usize) -> Location {
        Location {
            file: Arc::from(Path::new("stacks/a.toml")),
            line,
            column,
        }
    }

    #[test]
    fn sensitive_paths_follow_the_schema() {
        let schema = Schema::new("t")
            .attribute(Attribute::new("password", Type::String).sensitive())
            .attribute(Attribute::new(
                "users",
                Type::list(Type::Object(vec![
                    Attribute::new("name", Type::String),
                    Attribute::new("token", Type::String).sensitive(),
                ])),
            ))
            .attribute(Attribute::new("values", Type::Any));
        let key = |k: &str| PathSeg::Key(k.to_owned());
        assert!(sensitive_at(&schema, &[key("password")]));
        assert!(sensitive_at(
            &schema,
            &[key("users"), PathSeg::Index(0), key("token")]
        ));
        assert!(!sensitive_at(
            &schema,
            &[key("users"), PathSeg::Index(0), key("name")]
        ));
        assert!(!sensitive_at(&schema, &[key("values"), key("password")]));
        let users = Value::List(vec![Value::Map(BTreeMap::from([
            ("name".to_owned(), Value::from("ann")),
            ("token".to_owned(), Value::from("hunter2")),
        ]))]);
        let shown = text(&value_node(&users), Some(&schema), &mut vec![key("users")]);
        assert_eq!(shown, r#"[{ name = "ann", token = (sensitive) }]"#);
    }

    #[test]
    fn renders_aligned_blocks_and_a_summary() {
        let d = StackDiff {
            a: "staging".into(),
            b: "prod".into(),
            settings: vec![AttrDiff {
                path: "aws.region".into(),
                a: Side::Set {
                    value: "\"us-east-1\"".into(),
                    origin: Origin::NotRecorded,
                },
                b: Side::Set {
                    value: "\"eu-west-1\"".into(),
                    origin: Origin::NotRecorded,
                },
            }],
            resources: vec![
                ResourceDiff {
                    address: "nat_gateway.b".parse().unwrap(),
                    kind: ResourceDiffKind::OnlyIn(Which::B, Some(at(40, 1))),
                },
                ResourceDiff {
                    address: "rds_instance.db".parse().unwrap(),
                    kind: ResourceDiffKind::Changed(vec![
                        AttrDiff {
                            path: "deletion_protection".into(),
                            a: Side::Set {
                                value: "false".into(),
                                origin: Origin::Default,
                            },
                            b: Side::Set {
                                value: "true".into(),
                                origin: Origin::Written(at(26, 23)),
                            },
                        },
                        AttrDiff {
                            path: "lifecycle.timeouts.create".into(),
                            a: Side::Unset,
                            b: Side::Set {
                                value: "\"40m\"".into(),
                                origin: Origin::NotRecorded,
                            },
                        },
                    ]),
                },
            ],
            in_both: 3,
        };
        expect![[r#"
            ~ settings
                aws.region  staging: "us-east-1"  (location not recorded)   prod: "eu-west-1"  (location not recorded)

            + nat_gateway.b  (only in prod, stacks/a.toml:40:1)

            ~ rds_instance.db
                deletion_protection        staging: false    (default)   prod: true   (stacks/a.toml:26:23)
                lifecycle.timeouts.create  staging: (unset)              prod: "40m"  (location not recorded)

            staging and prod differ: 1 of 3 resources in both differ, 1 only in prod, settings differ.
        "#]]
        .assert_eq(&render(&d, Style::PLAIN));
    }
}
