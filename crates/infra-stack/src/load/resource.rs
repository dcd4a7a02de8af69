//! Lowering one `[resources.<type>.<name>]` table into a [`ResourceConfig`]:
//! inputs checked against the type's schema, references checked against the
//! stack, `depends_on` and `lifecycle` parsed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use infra_core::{
    Address, Attribute, Diagnostic, Location, MAX_NESTING, PathSeg, Presence, Registry, Schema,
    Type, Value, ValuePath, display_path,
};

use super::interp::Interpolated;
use super::source::{Entry, Kind, MAX_DEPTH, Node, Pos, Table};
use super::{Ctx, closest};
use crate::{Expr, Lifecycle, Reference, ResourceConfig, Timeouts, ValueLocations};

/// Keys of a resource table that are not input attributes.
const RESERVED: [&str; 3] = ["depends_on", "enabled", "lifecycle"];

/// What to do about a value nested deeper than [`MAX_NESTING`].
pub(super) const NESTING_HINT: &str = "flatten it, or pass the data as a JSON string";

/// What every resource is checked against: the types and the declared
/// addresses of the whole stack.
pub(super) struct StackIndex<'r> {
    pub registry: &'r Registry,
    pub declared: BTreeSet<Address>,
    /// Resources left out with `enabled = false`, and where that was said.
    pub disabled: BTreeMap<Address, Location>,
}

impl StackIndex<'_> {
    /// When `address` is disabled: the error for a reference to it,
    /// naming where it was disabled, and the fix.
    fn disabled(&self, address: &Address) -> Option<(String, String)> {
        let at = self.disabled.get(address)?;
        Some((
            format!("`{address}` is disabled (`enabled = false` at {at})"),
            format!("enable `{address}`, or drop this reference where it is disabled"),
        ))
    }
}

impl Ctx<'_> {
    /// Lowers a resource; `None` when it had errors (all reported).
    pub(super) fn lower_resource(
        &mut self,
        index: &StackIndex<'_>,
        schema: &Schema,
        address: Address,
        entry: &Entry,
    ) -> Option<ResourceConfig> {
        let Kind::Table(table) = &entry.value.kind else {
            return None;
        };
        // An inline table's brace says less than its key.
        let pos = if self.sources.is_inline_table(entry.value.pos) {
            entry.key
        } else {
            entry.value.pos
        };
        let mut lowering = Lowering {
            cx: self,
            index,
            schema,
            address: &address,
            locations: Vec::with_capacity(table.len()),
            too_deep: Vec::new(),
            ok: true,
        };
        let (depends_on, depends_on_locations) = match table.get("depends_on") {
            Some(e) => lowering.depends_on(&e.value),
            None => (Vec::new(), BTreeMap::new()),
        };
        let lifecycle = match table.get("lifecycle") {
            Some(e) => lowering.lifecycle(&e.value),
            None => Lifecycle::default(),
        };
        // The reserved keys are not inputs.
        let inputs = lowering.object(
            table,
            &RESERVED,
            &schema.attributes,
            pos,
            &mut Vec::new(),
            0,
        );
        let Lowering { locations, ok, .. } = lowering;
        let location = Some(self.sources.location(pos));
        match inputs {
            Some(inputs) if ok => Some(ResourceConfig {
                address,
                inputs,
                depends_on,
                depends_on_locations,
                lifecycle,
                location,
                value_locations: ValueLocations::from_entries(locations),
            }),
            _ => None,
        }
    }
}

struct Lowering<'c, 'a, 'r> {
    cx: &'c mut Ctx<'a>,
    index: &'c StackIndex<'r>,
    schema: &'c Schema,
    address: &'c Address,
    /// In the order values are lowered (depth first, keys sorted), which
    /// is the order of their paths.
    locations: Vec<(ValuePath, Location)>,
    /// The inputs already reported as nested too deeply: once each, since
    /// every branch of a deep value is likely as deep.
    too_deep: Vec<String>,
    ok: bool,
}

impl Lowering<'_, '_, '_> {
    fn loc(&self, pos: Pos) -> Location {
        self.cx.sources.location(pos)
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
        let mut d = Diagnostic::error(message)
            .at(self.loc(pos))
            .on(self.address.clone());
        d.hint = hint;
        self.cx.diags.push(d);
        self.ok = false;
    }

    fn mismatch(&mut self, pos: Pos, path: &[PathSeg], expected: &Type, found: &str) {
        self.error(
            pos,
            format!(
                "wrong type for `{}`: expected {}, found {found}",
                display_path(path),
                expected.describe()
            ),
            None,
        );
    }

    /// Reports a value nested deeper than [`MAX_NESTING`] at `pos`, once
    /// per input. `var` is the string that brought in a variable's lists
    /// and tables, with the depth they make; `None` when the file itself
    /// nests too deeply.
    fn nested_too_deeply(&mut self, pos: Pos, path: &[PathSeg], var: Option<(&str, usize)>) {
        self.ok = false;
        let input = match path.first() {
            Some(PathSeg::Key(k)) => k.clone(),
            _ => String::new(),
        };
        if self.too_deep.contains(&input) {
            return;
        }
        let message = match var {
            Some((s, depth)) => format!(
                "value nested too deeply: `{s}` in `{}` makes `{input}` {depth} lists and tables deep, more than {MAX_NESTING}",
                display_path(path)
            ),
            None => format!(
                "value nested too deeply: `{input}` nests lists and tables more than {MAX_NESTING} deep"
            ),
        };
        self.error(pos, message, Some(NESTING_HINT.to_owned()));
        self.too_deep.push(input);
    }

    /// Lowers the keys of a table against the attributes of an object
    /// (the resource itself at the top), filling defaults.
    fn object(
        &mut self,
        table: &Table,
        skip: &[&str],
        attrs: &[Attribute],
        pos: Pos,
        path: &mut ValuePath,
        depth: usize,
    ) -> Option<BTreeMap<String, Expr>> {
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, entry) in table {
            if skip.contains(&key.as_str()) {
                continue;
            }
            let Some(attr) = attrs.iter().find(|a| &a.name == key) else {
                self.unknown_attribute(key, entry.key, attrs, path);
                ok = false;
                continue;
            };
            path.push(PathSeg::Key(key.clone()));
            if attr.sensitive {
                self.warn_plaintext_secret(&entry.value, path);
            }
            match self.lower(&entry.value, &attr.ty, path, depth + 1) {
                Some(e) => {
                    out.insert(key.clone(), e);
                }
                None => ok = false,
            }
            path.pop();
        }
        for attr in attrs {
            if table.contains_key(&attr.name) && !skip.contains(&attr.name.as_str()) {
                continue;
            }
            match &attr.presence {
                Presence::Required => {
                    path.push(PathSeg::Key(attr.name.clone()));
                    let mut hint = format!("add `{}` ({})", attr.name, attr.ty.describe());
                    if !attr.description.is_empty() {
                        hint.push_str(": ");
                        hint.push_str(&attr.description);
                    }
                    let message = format!("missing required attribute `{}`", display_path(path));
                    path.pop();
                    self.error(pos, message, Some(hint));
                    ok = false;
                }
                Presence::Default(v) => {
                    out.insert(attr.name.clone(), Expr::Literal(v.clone()));
                }
                Presence::Optional => {}
            }
        }
        ok.then_some(out)
    }

    fn unknown_attribute(&mut self, key: &str, pos: Pos, attrs: &[Attribute], path: &[PathSeg]) {
        let mut names: Vec<&str> = attrs.iter().map(|a| a.name.as_str()).collect();
        if path.is_empty() {
            names.extend(RESERVED);
        }
        let hint = match closest(key, names.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None if names.is_empty() => "it takes no attributes".to_owned(),
            None => format!("valid attributes: {}", names.join(", ")),
        };
        let mut full = path.to_vec();
        full.push(PathSeg::Key(key.to_owned()));
        let message = format!(
            "unknown attribute `{}` for `{}`",
            display_path(&full),
            self.schema.type_name
        );
        self.error(pos, message, Some(hint));
    }

    fn warn_plaintext_secret(&mut self, node: &Node, path: &[PathSeg]) {
        if matches!(&node.kind, Kind::String(s) if !s.contains("${")) {
            let name = display_path(path);
            let d = Diagnostic::warning(format!(
                "sensitive attribute `{name}` is written in the stack file"
            ))
            .at(self.loc(node.pos))
            .on(self.address.clone())
            .hint(format!(
                "use `{name} = {{ from_env = \"VAR\" }}` to keep the secret out of the file"
            ));
            self.cx.diags.push(d);
        }
    }

    /// Lowers one value against its type; `None` after reporting errors.
    fn lower(
        &mut self,
        node: &Node,
        ty: &Type,
        path: &mut ValuePath,
        depth: usize,
    ) -> Option<Expr> {
        let loc = self.loc(node.pos);
        self.locations.push((path.clone(), loc));
        if depth > MAX_DEPTH {
            // Unreachable with trees from `source`, which are capped already.
            self.error(node.pos, "value nested too deeply", None);
            return None;
        }
        let literal = |v: Value| Some(Expr::Literal(v));
        match &node.kind {
            Kind::Invalid => {
                self.ok = false;
                None
            }
            Kind::String(s) => self.string(s, node.pos, ty, path, depth),
            Kind::Int(i) => self
                .scalar(Value::Int(*i), node.pos, ty, path)
                .and_then(literal),
            Kind::Float(x) => self
                .scalar(Value::Float(*x), node.pos, ty, path)
                .and_then(literal),
            Kind::Bool(b) => self
                .scalar(Value::Bool(*b), node.pos, ty, path)
                .and_then(literal),
            Kind::Datetime(d) => self
                .scalar(Value::String(d.clone()), node.pos, ty, path)
                .and_then(literal),
            // `depth` counts the lists and tables this value is in, itself
            // included: an input's own list is level 1.
            Kind::Array(_) if depth > MAX_NESTING => {
                self.nested_too_deeply(node.pos, path, None);
                None
            }
            Kind::Array(items) => {
                let item_ty = match ty {
                    Type::List(item) | Type::Set(item) => &**item,
                    Type::Any => &Type::Any,
                    _ => {
                        self.mismatch(node.pos, path, ty, "list");
                        return None;
                    }
                };
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    path.push(PathSeg::Index(i));
                    match self.lower(item, item_ty, path, depth + 1) {
                        Some(e) => out.push(e),
                        None => ok = false,
                    }
                    path.pop();
                }
                ok.then(|| collapse_list(out))
            }
            Kind::Table(table) => {
                if let Some(e) = self.env_input(table) {
                    return e;
                }
                if depth > MAX_NESTING {
                    self.nested_too_deeply(node.pos, path, None);
                    return None;
                }
                match ty {
                    Type::Object(attrs) => self
                        .object(table, &[], attrs, node.pos, path, depth)
                        .map(collapse_map),
                    Type::Map(item) => self.map(table, item, path, depth),
                    Type::Any => self.map(table, &Type::Any, path, depth),
                    _ => {
                        self.mismatch(node.pos, path, ty, "table");
                        None
                    }
                }
            }
        }
    }

    fn map(
        &mut self,
        table: &Table,
        item: &Type,
        path: &mut ValuePath,
        depth: usize,
    ) -> Option<Expr> {
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, entry) in table {
            path.push(PathSeg::Key(key.clone()));
            match self.lower(&entry.value, item, path, depth + 1) {
                Some(e) => {
                    out.insert(key.clone(), e);
                }
                None => ok = false,
            }
            path.pop();
        }
        ok.then(|| collapse_map(out))
    }

    /// `{ from_env = "X" }`: `Some(result)` when the table is one. A table
    /// with `from_env` and other keys is an error, not data: it is far
    /// more likely a mistyped secret than a map that means that key.
    fn env_input(&mut self, table: &Table) -> Option<Option<Expr>> {
        let entry = table.get("from_env")?;
        let others: Vec<(&String, &Entry)> =
            table.iter().filter(|(k, _)| *k != "from_env").collect();
        if let Some((_, first)) = others.first() {
            let names: Vec<String> = others.iter().map(|(k, _)| format!("`{k}`")).collect();
            self.error(
                first.key,
                format!(
                    "a `from_env` table takes no other keys: found {}",
                    names.join(", ")
                ),
                Some("write `{ from_env = \"NAME\" }` alone, as the whole value".to_owned()),
            );
        }
        match &entry.value.kind {
            Kind::String(var) if !var.is_empty() && others.is_empty() => {
                Some(Some(Expr::FromEnv {
                    var: var.clone(),
                    value: (self.cx.env)(var),
                }))
            }
            Kind::String(var) if !var.is_empty() => Some(None),
            _ => {
                self.error(
                    entry.value.pos,
                    "`from_env` must name an environment variable",
                    Some("write `{ from_env = \"NAME\" }`".to_owned()),
                );
                Some(None)
            }
        }
    }

    fn scalar(&mut self, value: Value, pos: Pos, ty: &Type, path: &[PathSeg]) -> Option<Value> {
        if ty.check(&value).is_empty() {
            Some(value)
        } else {
            self.mismatch(pos, path, ty, value.kind());
            None
        }
    }

    fn string(
        &mut self,
        s: &str,
        pos: Pos,
        ty: &Type,
        path: &[PathSeg],
        depth: usize,
    ) -> Option<Expr> {
        let interp = self.cx.interpolate(s, pos, depth);
        let Some(interp) = interp else {
            self.ok = false;
            return None;
        };
        let mut refs_ok = true;
        for (r, at) in &interp.refs {
            refs_ok &= self.check_ref(r, *at);
        }
        let expr = match interp.value {
            Interpolated::Value(v) => {
                // A string that is exactly `${var.x}` takes the variable's
                // lists and tables, inside the ones around it.
                let nesting = depth.saturating_sub(1) + v.nesting();
                if nesting > MAX_NESTING {
                    self.nested_too_deeply(pos, path, Some((s, nesting)));
                    return None;
                }
                let unquote = !s.contains("${") && parses_as(ty, s);
                let mismatches = ty.check(&v);
                for m in &mismatches {
                    let mut full = path.to_vec();
                    full.extend(m.path.iter().cloned());
                    let mut d = Diagnostic::error(format!(
                        "wrong type for `{}`: expected {}, found {}",
                        display_path(&full),
                        m.expected,
                        m.found
                    ))
                    .at(self.loc(pos))
                    .on(self.address.clone());
                    if unquote {
                        d = d.hint("write the value without quotes");
                    }
                    self.cx.diags.push(d);
                    self.ok = false;
                }
                if !mismatches.is_empty() {
                    return None;
                }
                Expr::Literal(v)
            }
            // The referenced value's type is known only when planning.
            Interpolated::Ref(r) => Expr::Ref(r),
            Interpolated::Template(parts) => {
                if !matches!(ty, Type::String | Type::Any) {
                    self.mismatch(pos, path, ty, "string");
                    return None;
                }
                Expr::Template(parts)
            }
        };
        refs_ok.then_some(expr)
    }

    /// Checks that a reference names a declared resource and one of its
    /// type's attributes.
    fn check_ref(&mut self, r: &Reference, at: Pos) -> bool {
        if let Some((message, hint)) = self.index.disabled(&r.address) {
            let message = format!("reference `${{{r}}}` to a disabled resource: {message}");
            self.error(at, message, Some(hint));
            return false;
        }
        if !self.index.declared.contains(&r.address) {
            let declared: Vec<String> = self
                .index
                .declared
                .iter()
                .map(ToString::to_string)
                .collect();
            let target = r.address.to_string();
            let hint = match closest(&target, declared.iter().map(String::as_str)) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!(
                    "declare it as `[resources.{}.{}]`",
                    r.address.ty, r.address.name
                ),
            };
            self.error(
                at,
                format!("dangling reference `${{{r}}}`: no resource `{target}` in the stack"),
                Some(hint),
            );
            return false;
        }
        // Resources of unknown types are reported where they are declared.
        let Some(provider) = self.index.registry.get(&r.address.ty) else {
            return true;
        };
        let schema = provider.schema();
        let Some(PathSeg::Key(attr)) = r.path.first() else {
            return true;
        };
        if schema.input(attr).is_some() || schema.computed(attr).is_some() {
            return true;
        }
        let names: Vec<&str> = schema
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .chain(schema.outputs.iter().map(|o| o.name.as_str()))
            .collect();
        let hint = match closest(attr, names.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("`{}` has: {}", schema.type_name, names.join(", ")),
        };
        self.error(
            at,
            format!(
                "unknown attribute `{attr}` in reference `${{{r}}}`: `{}` has no such input or output",
                schema.type_name
            ),
            Some(hint),
        );
        false
    }

    /// The addresses and where each was written.
    fn depends_on(&mut self, node: &Node) -> (Vec<Address>, BTreeMap<Address, Location>) {
        let Kind::Array(items) = &node.kind else {
            self.error(
                node.pos,
                format!(
                    "`depends_on` must be a list of addresses, found {}",
                    node.kind.name()
                ),
                Some("write `depends_on = [\"<type>.<name>\"]`".to_owned()),
            );
            return (Vec::new(), BTreeMap::new());
        };
        let mut out = Vec::new();
        let mut locations = BTreeMap::new();
        for item in items {
            let Kind::String(s) = &item.kind else {
                self.error(
                    item.pos,
                    format!(
                        "`depends_on` entries must be strings, found {}",
                        item.kind.name()
                    ),
                    Some("write `depends_on = [\"<type>.<name>\"]`".to_owned()),
                );
                continue;
            };
            let address: Address = match s.parse() {
                Ok(a) => a,
                Err(e) => {
                    self.error(item.pos, e.to_string(), None);
                    continue;
                }
            };
            // An order against what the stack leaves out orders nothing:
            // dropped. (A reference to it is an error: its value is missing.)
            if self.index.disabled.contains_key(&address) {
                continue;
            }
            if !self.index.declared.contains(&address) {
                let declared: Vec<String> = self
                    .index
                    .declared
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let hint = match closest(s, declared.iter().map(String::as_str)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!(
                        "declare it as `[resources.{}.{}]`",
                        address.ty, address.name
                    ),
                };
                self.error(
                    item.pos,
                    format!("dangling dependency `{address}`: no such resource in the stack"),
                    Some(hint),
                );
                continue;
            }
            if !out.contains(&address) {
                locations.insert(address.clone(), self.loc(item.pos));
                out.push(address);
            }
        }
        (out, locations)
    }

    fn lifecycle(&mut self, node: &Node) -> Lifecycle {
        let mut lifecycle = Lifecycle::default();
        let Kind::Table(table) = &node.kind else {
            self.error(
                node.pos,
                format!("`lifecycle` must be a table, found {}", node.kind.name()),
                Some("write `lifecycle = { prevent_destroy = true }`".to_owned()),
            );
            return lifecycle;
        };
        const KEYS: [&str; 5] = [
            "create_before_destroy",
            "ignore_changes",
            "own",
            "prevent_destroy",
            "timeouts",
        ];
        let mut owned = Vec::new();
        for (key, entry) in table {
            let value = &entry.value;
            match key.as_str() {
                "prevent_destroy" => {
                    if let Some(b) = self.bool_setting(key, value) {
                        lifecycle.prevent_destroy = b;
                    }
                }
                "create_before_destroy" => {
                    if let Some(b) = self.bool_setting(key, value) {
                        lifecycle.create_before_destroy = b;
                    }
                }
                "ignore_changes" => {
                    let paths = self.paths(value, key, "[\"tags\", \"scaling.desired\"]");
                    lifecycle.ignore_changes = paths.into_iter().map(|(p, _)| p).collect();
                }
                "own" => owned = self.owned(value),
                "timeouts" => lifecycle.timeouts = self.timeouts(value),
                _ => {
                    let hint = match closest(key, KEYS) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!("valid settings: {}", KEYS.join(", ")),
                    };
                    self.error(
                        entry.key,
                        format!("unknown lifecycle setting `{key}`"),
                        Some(hint),
                    );
                }
            }
        }
        for (path, pos) in owned {
            if lifecycle.ignore_changes.contains(&path) {
                let shown = display_path(&path);
                self.error(
                    pos,
                    format!("`{shown}` is in both `lifecycle.ignore_changes` and `lifecycle.own`"),
                    Some(
                        "keep it in `own` to have the stack set it, or in `ignore_changes` to leave it alone; not both"
                            .to_owned(),
                    ),
                );
                continue;
            }
            lifecycle.own.push(path);
        }
        lifecycle
    }

    /// `lifecycle.own`: paths of attributes the schema sets only at create
    /// (then the cloud's) that the stack keeps owning, each with where it
    /// is written.
    fn owned(&mut self, node: &Node) -> Vec<(ValuePath, Pos)> {
        let marked: Vec<String> = self
            .schema
            .set_at_create_paths()
            .iter()
            .map(|(p, _)| display_path(p))
            .collect();
        let takes = || match marked.as_slice() {
            [] => format!(
                "`{}` has no attribute the cloud takes over after create: remove `own`",
                self.schema.type_name
            ),
            some => format!("`own` takes: {}", some.join(", ")),
        };
        let mut out = Vec::new();
        for (path, pos) in self.paths(node, "own", "[\"scaling.desired\"]") {
            let shown = display_path(&path);
            let message = match self.schema.attribute_at(&path) {
                Some(a) if a.set_at_create.is_some() => {
                    out.push((path, pos));
                    continue;
                }
                Some(_) => format!(
                    "`{shown}` of `{}` is the stack's already: `lifecycle.own` takes only attributes the cloud owns after create",
                    self.schema.type_name
                ),
                None => format!(
                    "unknown attribute `{shown}` for `{}` in `own`",
                    self.schema.type_name
                ),
            };
            let hint = match closest(&shown, marked.iter().map(String::as_str)) {
                Some(c) if c != shown => format!("did you mean `{c}`?"),
                _ => takes(),
            };
            self.error(pos, message, Some(hint));
        }
        out
    }

    fn bool_setting(&mut self, key: &str, node: &Node) -> Option<bool> {
        match node.kind {
            Kind::Bool(b) => Some(b),
            _ => {
                self.error(
                    node.pos,
                    format!(
                        "wrong type for `lifecycle.{key}`: expected boolean, found {}",
                        node.kind.name()
                    ),
                    None,
                );
                None
            }
        }
    }

    /// A `lifecycle.<key>` list of attribute paths, each with where it is
    /// written; `example` is such a list, for the hint.
    fn paths(&mut self, node: &Node, key: &str, example: &str) -> Vec<(ValuePath, Pos)> {
        let Kind::Array(items) = &node.kind else {
            self.error(
                node.pos,
                format!(
                    "wrong type for `lifecycle.{key}`: expected list of string, found {}",
                    node.kind.name()
                ),
                Some(format!("write `{key} = {example}`")),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Kind::String(s) = &item.kind else {
                self.error(
                    item.pos,
                    format!(
                        "wrong type for `lifecycle.{key}` entry: expected string, found {}",
                        item.kind.name()
                    ),
                    None,
                );
                continue;
            };
            let Some(path) = parse_value_path(s) else {
                self.error(
                    item.pos,
                    format!("malformed attribute path `{s}`"),
                    Some(
                        "write a path like `tags`, `scaling.desired` or `taints[0].key`".to_owned(),
                    ),
                );
                continue;
            };
            if let Some(PathSeg::Key(first)) = path.first()
                && self.schema.input(first).is_none()
            {
                let names: Vec<&str> = self
                    .schema
                    .attributes
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect();
                let hint = match closest(first, names.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("valid attributes: {}", names.join(", ")),
                };
                self.error(
                    item.pos,
                    format!(
                        "unknown attribute `{first}` for `{}` in `{key}`",
                        self.schema.type_name
                    ),
                    Some(hint),
                );
                continue;
            }
            out.push((path, item.pos));
        }
        out
    }

    fn timeouts(&mut self, node: &Node) -> Timeouts {
        let mut timeouts = Timeouts::default();
        let Kind::Table(table) = &node.kind else {
            self.error(
                node.pos,
                format!(
                    "wrong type for `lifecycle.timeouts`: expected table, found {}",
                    node.kind.name()
                ),
                Some("write `timeouts = { create = \"40m\", delete = \"1h\" }`".to_owned()),
            );
            return timeouts;
        };
        const OPS: [&str; 3] = ["create", "delete", "update"];
        for (key, entry) in table {
            let slot = match key.as_str() {
                "create" => &mut timeouts.create,
                "update" => &mut timeouts.update,
                "delete" => &mut timeouts.delete,
                _ => {
                    let hint = match closest(key, OPS) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!("valid operations: {}", OPS.join(", ")),
                    };
                    self.error(entry.key, format!("unknown timeout `{key}`"), Some(hint));
                    continue;
                }
            };
            let value = &entry.value;
            let parsed = match &value.kind {
                Kind::String(s) => match parse_duration(s) {
                    Some(d) if d <= MAX_TIMEOUT => Ok(d),
                    Some(_) => {
                        self.error(
                            value.pos,
                            format!(
                                "timeout `{s}` of `lifecycle.timeouts.{key}` is longer than the limit of 8766h (1 year)"
                            ),
                            Some("write at most \"8766h\"".to_owned()),
                        );
                        continue;
                    }
                    None => Err(format!("invalid duration `{s}`")),
                },
                other => Err(format!(
                    "wrong type for `lifecycle.timeouts.{key}`: expected duration string, found {}",
                    other.name()
                )),
            };
            match parsed {
                Ok(d) => *slot = Some(d),
                Err(message) => self.error(
                    value.pos,
                    message,
                    Some(
                        "write hours, minutes and seconds like \"40m\", \"1h30m\" or \"90s\""
                            .to_owned(),
                    ),
                ),
            }
        }
        timeouts
    }
}

/// Whether a quoted string would have the right type without its quotes.
fn parses_as(ty: &Type, s: &str) -> bool {
    match ty {
        Type::Int => s.parse::<i64>().is_ok(),
        Type::Number => s.parse::<f64>().is_ok(),
        Type::Bool => s == "true" || s == "false",
        _ => false,
    }
}

/// A list whose items are all literals is a literal list.
fn collapse_list(items: Vec<Expr>) -> Expr {
    if items.iter().all(|e| matches!(e, Expr::Literal(_))) {
        Expr::Literal(Value::List(
            items
                .into_iter()
                .filter_map(|e| match e {
                    Expr::Literal(v) => Some(v),
                    _ => None,
                })
                .collect(),
        ))
    } else {
        Expr::List(items)
    }
}

/// A table whose values are all literals is a literal table.
fn collapse_map(entries: BTreeMap<String, Expr>) -> Expr {
    if entries.values().all(|e| matches!(e, Expr::Literal(_))) {
        Expr::Literal(Value::Map(
            entries
                .into_iter()
                .filter_map(|(k, e)| match e {
                    Expr::Literal(v) => Some((k, v)),
                    _ => None,
                })
                .collect(),
        ))
    } else {
        Expr::Map(entries)
    }
}

/// Parses `tags`, `scaling.desired`, `taints[0].key` into a path.
fn parse_value_path(text: &str) -> Option<ValuePath> {
    // The same syntax as the attribute part of a reference.
    Reference::parse(&format!("x.x.{text}")).map(|r| r.path)
}

/// The longest timeout: a year (365.25 days, the CLI's `1y`). Longer is
/// surely a typo, and far longer a deadline no clock can represent.
const MAX_TIMEOUT: Duration = Duration::from_secs(8766 * 3600);

/// Parses `40m`, `1h30m`, `90s`, `1h30m15s`: hours, minutes and seconds,
/// each at most once and in that order; more than zero in total. A number
/// too large for a `u64` of seconds saturates: it is longer than any
/// limit, not malformed.
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut last_unit = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        // Only digits: the parse fails only when the number is too large.
        let n: u64 = rest[..digits].parse().unwrap_or(u64::MAX);
        let mut units = rest[digits..].chars();
        let (rank, secs) = match units.next()? {
            'h' => (1, 3600),
            'm' => (2, 60),
            's' => (3, 1),
            _ => return None,
        };
        if rank <= last_unit {
            return None;
        }
        last_unit = rank;
        total = total.saturating_add(n.saturating_mul(secs));
        rest = units.as_str();
    }
    (total > 0).then(|| Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use infra_core::{ErrorKind, Existing, Observed, OpContext, Provider, ProviderError};

    use super::*;

    /// A schema and nothing else: loading never calls the provider.
    struct Schemaonly(Schema);

    fn never() -> ProviderError {
        ProviderError::new(ErrorKind::Failed, "not called while loading")
    }

    #[async_trait]
    impl Provider for Schemaonly {
        fn schema(&self) -> &Schema {
            &self.0
        }
        async fn create(&self, _: &OpContext, _: &Value) -> Result<Observed, ProviderError> {
            Err(never())
        }
        async fn read(&self, _: &OpContext, _: &Existing) -> infra_core::ReadResult {
            Err(never())
        }
        async fn find(&self, _: &OpContext, _: &Value) -> infra_core::ReadResult {
            Err(never())
        }
        async fn update(
            &self,
            _: &OpContext,
            _: &Existing,
            _: &Value,
        ) -> Result<Observed, ProviderError> {
            Err(never())
        }
        async fn delete(&self, _: &OpContext, _: &Existing) -> Result<(), ProviderError> {
            Err(never())
        }
    }

    /// Loads `lifecycle = { .. }` on a node group and a bucket; the
    /// diagnostics as text, or the owned paths of each resource.
    fn own(node_group: &str, bucket: &str) -> Result<Vec<String>, Vec<String>> {
        let scaling = Type::Object(vec![
            Attribute::new("min", Type::Int),
            Attribute::new("desired", Type::Int).set_at_create("it may drain nodes"),
        ]);
        let mut registry = Registry::new();
        registry.register(Arc::new(Schemaonly(
            Schema::new("node_group")
                .attribute(Attribute::new("scaling", scaling))
                .attribute(Attribute::new("labels", Type::map(Type::String))),
        )));
        registry.register(Arc::new(Schemaonly(
            Schema::new("bucket").attribute(Attribute::new("name", Type::String)),
        )));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("stacks")).expect("mkdir");
        let text = format!(
            "[resources.node_group.w]\nscaling = {{ min = 1, desired = 2 }}\nlifecycle = {node_group}\n\n[resources.bucket.b]\nname = \"b\"\nlifecycle = {bucket}\n"
        );
        std::fs::write(dir.path().join("stacks/x.toml"), text).expect("write");
        let loaded = super::super::load_stack(dir.path(), "x", &registry, &|_| None);
        if !loaded.diagnostics.is_empty() {
            return Err(loaded.diagnostics.iter().map(ToString::to_string).collect());
        }
        let stack = loaded.stack.expect("a stack without diagnostics");
        Ok(stack
            .resources
            .iter()
            .map(|r| {
                let paths: Vec<String> = r.lifecycle.own.iter().map(|p| display_path(p)).collect();
                format!("{}: [{}]", r.address, paths.join(", "))
            })
            .collect())
    }

    #[test]
    fn lifecycle_own_takes_only_what_the_schema_sets_at_create() {
        assert_eq!(
            own(r#"{ own = ["scaling.desired"] }"#, "{}"),
            Ok(vec![
                "bucket.b: []".to_owned(),
                "node_group.w: [scaling.desired]".to_owned()
            ])
        );
        let errors = own(
            r#"{ own = ["scaling.min", "scaling.desird", "sclaing"] }"#,
            r#"{ own = ["name"] }"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "error: stacks/x.toml:3:22: node_group.w: `scaling.min` of `node_group` is the stack's already: `lifecycle.own` takes only attributes the cloud owns after create\n  hint: `own` takes: scaling.desired",
                "error: stacks/x.toml:3:37: node_group.w: unknown attribute `scaling.desird` for `node_group` in `own`\n  hint: did you mean `scaling.desired`?",
                "error: stacks/x.toml:3:55: node_group.w: unknown attribute `sclaing` for `node_group` in `own`\n  hint: did you mean `scaling`?",
                "error: stacks/x.toml:7:22: bucket.b: `name` of `bucket` is the stack's already: `lifecycle.own` takes only attributes the cloud owns after create\n  hint: `bucket` has no attribute the cloud takes over after create: remove `own`",
            ]
        );
        let errors = own(
            r#"{ ignore_changes = ["scaling.desired"], own = ["scaling.desired"] }"#,
            r#"{ own = "name" }"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "error: stacks/x.toml:3:60: node_group.w: `scaling.desired` is in both `lifecycle.ignore_changes` and `lifecycle.own`\n  hint: keep it in `own` to have the stack set it, or in `ignore_changes` to leave it alone; not both",
                "error: stacks/x.toml:7:21: bucket.b: wrong type for `lifecycle.own`: expected list of string, found string\n  hint: write `own = [\"scaling.desired\"]`",
            ]
        );
    }

    #[test]
    fn parses_durations() {
        let ok = [
            ("40m", 2400),
            ("1h30m", 5400),
            ("90s", 90),
            ("1h30m15s", 5415),
            ("2h", 7200),
        ];
        for (text, secs) in ok {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in ["", "40", "m", "1m1h", "1h1h", "0s", "1.5h", "1d", "-1m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        for huge in ["99999999999999999999h", "18446744073709551615h1s"] {
            assert_eq!(parse_duration(huge), Some(Duration::from_secs(u64::MAX)));
        }
    }

    #[test]
    fn parses_value_paths() {
        assert_eq!(
            parse_value_path("scaling.desired"),
            Some(vec![
                PathSeg::Key("scaling".into()),
                PathSeg::Key("desired".into())
            ])
        );
        assert_eq!(
            parse_value_path("taints[0]"),
            Some(vec![PathSeg::Key("taints".into()), PathSeg::Index(0)])
        );
        assert_eq!(parse_value_path("a..b"), None);
        assert_eq!(parse_value_path(""), None);
    }
}
