//! Resource schemas: what a resource type accepts and computes, and how each
//! attribute changes (in place or by replacement). The planner and the stack
//! loader are driven entirely by these.
//!
//! Beyond types, a schema says:
//!
//! - which lists are sets ([`Type::Set`]): order-insensitive, compared with
//!   [`Type::same`] / [`Schema::normalize`];
//! - which optional attributes the cloud fills in when the stack leaves them
//!   unset ([`Attribute::computed`]): see [`Schema::fill_computed`];
//! - which attributes the stack sets only at create, the cloud owning them
//!   afterwards unless the stack takes them with `lifecycle.own`
//!   ([`Attribute::set_at_create`]);
//! - rules on values ([`Validator`]), checked by [`Schema::validate`].

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::validators::Validator;
use crate::value::{PathSeg, Value, ValuePath, display_path};

/// The type of an attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    /// Anything.
    Any,
    /// `true` / `false`.
    Bool,
    /// An integer.
    Int,
    /// A number, integer or float.
    Number,
    /// A string.
    String,
    /// A list whose items have one type.
    List(Box<Type>),
    /// A list whose order does not matter: two lists with the same items in
    /// any order are the same value (security group ids, subnet ids). Values
    /// are still [`Value::List`]s. Each item may appear once: a repeated item
    /// is a plan-time error ([`Schema::validate`]); when comparing (values
    /// the cloud reports), repeats are ignored.
    Set(Box<Type>),
    /// A table with free keys whose values have one type.
    Map(Box<Type>),
    /// A table with fixed, named attributes.
    Object(Vec<Attribute>),
}

/// Whether an attribute must be given, and what it is when not.
#[derive(Clone, Debug, PartialEq)]
pub enum Presence {
    /// The stack must set it.
    Required,
    /// May be absent.
    Optional,
    /// Takes this value when absent.
    Default(Value),
}

/// How a change of an attribute reaches the cloud.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Updated on the existing resource.
    InPlace,
    /// Forces the resource to be replaced.
    Replace,
}

/// One input attribute of a resource type (or of an object inside one).
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// The key in the stack file.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Required, optional or defaulted.
    pub presence: Presence,
    /// In-place update or replacement.
    pub change: Change,
    /// Redacted everywhere; state keeps only a keyed hash.
    pub sensitive: bool,
    /// One line for `infra` docs and hints.
    pub description: String,
    /// Optional, and when the stack leaves it unset the cloud picks the
    /// value (see [`Attribute::computed`]).
    pub computed: bool,
    /// Rules on the value beyond its type, checked at plan time.
    pub validators: Vec<Validator>,
    /// Sent at create; afterwards the cloud owns the value unless the
    /// stack takes it with `lifecycle.own` (see
    /// [`Attribute::set_at_create`]). The text says what setting it again
    /// does, for the plan of a stack that owns it.
    pub set_at_create: Option<String>,
}

impl Attribute {
    /// An optional, in-place, non-sensitive attribute.
    pub fn new(name: &str, ty: Type) -> Self {
        Attribute {
            name: name.to_owned(),
            ty,
            presence: Presence::Optional,
            change: Change::InPlace,
            sensitive: false,
            description: String::new(),
            computed: false,
            validators: Vec::new(),
            set_at_create: None,
        }
    }

    /// Marks the attribute required (and not computed).
    pub fn required(mut self) -> Self {
        self.presence = Presence::Required;
        self.computed = false;
        self
    }

    /// Gives the attribute a default (and makes it not computed).
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.presence = Presence::Default(value.into());
        self.computed = false;
        self
    }

    /// Marks the attribute optional and computed: the stack may set it;
    /// when it does not, the cloud picks a value (an RDS engine version,
    /// an availability zone). The planner then treats it so:
    ///
    /// - when the stack leaves it unset, the value infra last recorded or
    ///   saw is kept ([`Schema::fill_computed`]): neither a planned change
    ///   nor drift. Removing it from the stack therefore keeps the current
    ///   value; to get the cloud's default back, set it;
    /// - when the stack sets it, it is an input like any other: a change
    ///   is planned, and the cloud changing it is drift.
    ///
    /// Only top-level attributes and attributes of objects (not of objects
    /// in lists or maps) are followed. Not for sensitive attributes.
    pub fn computed(mut self) -> Self {
        self.presence = Presence::Optional;
        self.computed = true;
        self
    }

    /// Marks the attribute as the stack's only at create: the value is sent
    /// when the resource is created, and afterwards the cloud owns it (the
    /// cluster autoscaler moves a node group's desired size). The planner
    /// then treats it as if it were in `lifecycle.ignore_changes`: neither
    /// the cloud changing it nor a changed value in the stack is a diff,
    /// and an update is given the value recorded in state, so a provider
    /// sends it only when it differs from `existing.inputs` (which happens
    /// only when the stack owns it). A replacement is a create: it gets the
    /// stack's value.
    ///
    /// With `lifecycle.own = ["path"]` the stack owns it, and it is diffed
    /// like any other attribute. `on_reset` says what setting it again does
    /// ("resetting it may drain nodes"); the plan shows it beside such a
    /// change. Top-level attributes and attributes of objects (not of
    /// objects in lists or maps), like [`Attribute::computed`].
    pub fn set_at_create(mut self, on_reset: &str) -> Self {
        self.set_at_create = Some(on_reset.to_owned());
        self
    }

    /// Adds a rule on the value (see [`Validator`] for where it applies:
    /// to each item of a list, set or map).
    pub fn validate(mut self, validator: Validator) -> Self {
        self.validators.push(validator);
        self
    }

    /// Marks that a change replaces the resource.
    pub fn forces_replacement(mut self) -> Self {
        self.change = Change::Replace;
        self
    }

    /// Marks the attribute sensitive.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Sets the description.
    pub fn describe(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }
}

/// A value the cloud computes, readable by references.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// The attribute name, e.g. `arn`.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// One line of documentation.
    pub description: String,
    /// A secret the cloud holds (a generated password): kept only as a
    /// digest in state, plans and journals, and read from the cloud again
    /// when a dependent needs its plaintext.
    pub sensitive: bool,
}

impl Output {
    /// A computed output.
    pub fn new(name: &str, ty: Type, description: &str) -> Self {
        Output {
            name: name.to_owned(),
            ty,
            description: description.to_owned(),
            sensitive: false,
        }
    }

    /// Marks the output sensitive.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
}

/// The schema of one resource type.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    /// The type name used in addresses, e.g. `s3_bucket`.
    pub type_name: String,
    /// Inputs the stack sets.
    pub attributes: Vec<Attribute>,
    /// Outputs the cloud computes. Every type has at least `id`.
    pub outputs: Vec<Output>,
}

/// A value that does not have the type the schema asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeMismatch {
    /// Where, inside the checked value.
    pub path: ValuePath,
    /// What the schema asks for.
    pub expected: String,
    /// What was found.
    pub found: &'static str,
}

impl Schema {
    /// An empty schema for a type; add attributes with [`Schema::attribute`].
    pub fn new(type_name: &str) -> Self {
        Schema {
            type_name: type_name.to_owned(),
            attributes: Vec::new(),
            outputs: vec![Output::new(
                "id",
                Type::String,
                "the cloud's identifier of the resource",
            )],
        }
    }

    /// Adds an input attribute.
    pub fn attribute(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Adds a computed output.
    pub fn output(mut self, output: Output) -> Self {
        self.outputs.push(output);
        self
    }

    /// The input attribute with this name.
    pub fn input(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The computed output with this name.
    pub fn computed(&self, name: &str) -> Option<&Output> {
        self.outputs.iter().find(|o| o.name == name)
    }

    /// Whether a reference to `attr` reads the resource's `inputs` (else
    /// its outputs). An input is read, unless an output has the same name
    /// and the input is unset: a secret's `value` is given, or generated by
    /// the cloud and then known only as the output.
    pub fn reads_input(&self, attr: &str, inputs: Option<&Value>) -> bool {
        if self.input(attr).is_none() {
            return false;
        }
        self.computed(attr).is_none()
            || inputs
                .and_then(|v| v.get(attr))
                .is_some_and(|v| !matches!(v, Value::Null))
    }

    /// The attribute a path into the inputs falls under, innermost first
    /// checked: a change at `scaling.min` is governed by `min` inside the
    /// `scaling` object if it says replace, else by `scaling`.
    pub fn change_at(&self, path: &[PathSeg]) -> Change {
        let mut attrs = &self.attributes;
        let mut change = Change::InPlace;
        let mut ty: Option<&Type> = None;
        for seg in path {
            let next = match (seg, ty) {
                (PathSeg::Key(k), None) => attrs.iter().find(|a| &a.name == k),
                (PathSeg::Key(k), Some(Type::Object(inner))) => inner.iter().find(|a| &a.name == k),
                (_, Some(Type::List(inner) | Type::Set(inner) | Type::Map(inner))) => {
                    ty = Some(inner);
                    if let Type::Object(inner) = &**inner {
                        attrs = inner;
                    }
                    continue;
                }
                _ => None,
            };
            let Some(attr) = next else { break };
            if attr.change == Change::Replace {
                change = Change::Replace;
            }
            ty = Some(&attr.ty);
            if let Type::Object(inner) = &attr.ty {
                attrs = inner;
            }
        }
        change
    }

    /// The type of the value at a path into the inputs (`scaling.min`,
    /// `taints[0].key`); `None` for paths the schema does not know.
    pub fn type_at(&self, path: &[PathSeg]) -> Option<&Type> {
        static ANY: Type = Type::Any;
        let (PathSeg::Key(first), rest) = path.split_first()? else {
            return None;
        };
        let mut ty = &self.input(first)?.ty;
        for seg in rest {
            ty = match (ty, seg) {
                (Type::Any, _) => return Some(&ANY),
                (Type::Object(attrs), PathSeg::Key(k)) => &attrs.iter().find(|a| &a.name == k)?.ty,
                (Type::List(item) | Type::Set(item), PathSeg::Index(_)) => item,
                (Type::Map(item), PathSeg::Key(_)) => item,
                _ => return None,
            };
        }
        Some(ty)
    }

    /// The attribute a path of keys names: a top-level attribute, or one
    /// of an object's (`scaling.desired`); `None` for other paths.
    pub fn attribute_at(&self, path: &[PathSeg]) -> Option<&Attribute> {
        let mut attrs = &self.attributes;
        let mut found = None;
        for seg in path {
            let PathSeg::Key(k) = seg else { return None };
            let attr = attrs.iter().find(|a| &a.name == k)?;
            found = Some(attr);
            attrs = match &attr.ty {
                Type::Object(inner) => inner,
                _ => &EMPTY,
            };
        }
        found
    }

    /// The paths of the attributes marked [`Attribute::set_at_create`],
    /// with each attribute, in schema order.
    pub fn set_at_create_paths(&self) -> Vec<(ValuePath, &Attribute)> {
        fn walk<'s>(
            attrs: &'s [Attribute],
            path: &mut ValuePath,
            out: &mut Vec<(ValuePath, &'s Attribute)>,
        ) {
            for a in attrs {
                path.push(PathSeg::Key(a.name.clone()));
                if a.set_at_create.is_some() {
                    out.push((path.clone(), a));
                }
                if let Type::Object(inner) = &a.ty {
                    walk(inner, path, out);
                }
                path.pop();
            }
        }
        let mut out = Vec::new();
        walk(&self.attributes, &mut Vec::new(), &mut out);
        out
    }

    /// Whether the value at `path` is a set (compare it whole, as a set).
    pub fn is_set_at(&self, path: &[PathSeg]) -> bool {
        matches!(self.type_at(path), Some(Type::Set(_)))
    }

    /// Whether two values at `path` are the same: sets (at the path or
    /// inside it) compare regardless of order and repetition, anything else
    /// with `==`. The empty path compares whole input maps.
    pub fn same(&self, path: &[PathSeg], a: &Value, b: &Value) -> bool {
        if path.is_empty() {
            return *self.normalize(a) == *self.normalize(b);
        }
        match self.type_at(path) {
            Some(ty) => ty.same(a, b),
            None => a == b,
        }
    }

    /// The inputs with every set in canonical order (sorted, repeats
    /// removed), so that `==` and a diff of two normalized input maps see
    /// sets as sets. Borrowed when nothing needed reordering, which is
    /// always the case for schemas without sets.
    pub fn normalize<'v>(&self, inputs: &'v Value) -> Cow<'v, Value> {
        let sets = self.attributes.iter().any(|a| holds_set(&a.ty));
        match inputs {
            Value::Map(m) if sets && !object_is_normal(&self.attributes, m) => {
                let mut out = inputs.clone();
                if let Value::Map(m) = &mut out {
                    normalize_object(&self.attributes, m);
                }
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(inputs),
        }
    }

    /// Copies into `target` every computed attribute it leaves unset
    /// (absent or null) that `source` has. The planner calls it on the
    /// desired inputs with the recorded ones as `source`, so that a value
    /// the cloud picked is not planned away; refresh on the recorded
    /// inputs with the observed ones, so that the value the cloud reports
    /// for an attribute infra never set is not drift.
    pub fn fill_computed(&self, target: &mut Value, source: &Value) {
        fill_computed(&self.attributes, target, source);
    }

    /// [`fill_computed`](Schema::fill_computed) on a copy of `target`.
    pub fn with_computed(&self, target: &Value, source: &Value) -> Value {
        let mut out = target.clone();
        self.fill_computed(&mut out, source);
        out
    }

    /// Every problem the validators of the schema's attributes find in a
    /// resource's inputs, and every item repeated in a set, each at its
    /// path (see [`Validator`] for where rules apply). Values of the wrong
    /// kind are left to the type check; unknown values pass.
    pub fn validate(&self, inputs: &Value) -> Vec<(ValuePath, String)> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        for attr in &self.attributes {
            if let Some(v) = inputs.get(&attr.name) {
                path.push(PathSeg::Key(attr.name.clone()));
                validate_into(
                    &attr.ty,
                    &attr.validators,
                    true,
                    v,
                    false,
                    &mut path,
                    &mut out,
                );
                path.pop();
            }
        }
        out
    }
}

/// No attributes: what a path steps into below a non-object.
static EMPTY: Vec<Attribute> = Vec::new();

fn fill_computed(attrs: &[Attribute], target: &mut Value, source: &Value) {
    let (Value::Map(t), Value::Map(s)) = (target, source) else {
        return;
    };
    let set = |v: &Value| !matches!(v, Value::Null);
    for a in attrs {
        if a.computed {
            if !t.get(&a.name).is_some_and(set)
                && let Some(v) = s.get(&a.name).filter(|v| set(v))
            {
                t.insert(a.name.clone(), v.clone());
            }
        } else if let Type::Object(inner) = &a.ty
            && let (Some(tv), Some(sv)) = (t.get_mut(&a.name), s.get(&a.name))
        {
            fill_computed(inner, tv, sv);
        }
    }
}

/// Applies `rules` (of the attribute at `path`, whose type is `ty`) to
/// `value`. `own` is true at the attribute's own value, where
/// [`Validator::Count`] applies; items get the other rules.
fn validate_into(
    ty: &Type,
    rules: &[Validator],
    own: bool,
    value: &Value,
    sensitive: bool,
    path: &mut ValuePath,
    out: &mut Vec<(ValuePath, String)>,
) {
    let mut check = |rule: &Validator, path: &ValuePath| {
        if let Err(m) = rule.check(value, sensitive) {
            out.push((path.clone(), format!("`{}` {m}", display_path(path))));
        }
    };
    match value {
        Value::Unknown | Value::Null => {}
        Value::Sensitive(s) => {
            if let Some(plain) = s.plaintext() {
                validate_into(ty, rules, own, plain, true, path, out);
            }
        }
        Value::List(items) => {
            let item = match ty {
                Type::List(item) | Type::Set(item) => &**item,
                Type::Any => &Type::Any,
                _ => return,
            };
            if own {
                rules
                    .iter()
                    .filter(|r| r.counts_items())
                    .for_each(|r| check(r, path));
            }
            if matches!(ty, Type::Set(_)) {
                repeats(items, sensitive, path, out);
            }
            for (i, x) in items.iter().enumerate() {
                path.push(PathSeg::Index(i));
                validate_into(item, rules, false, x, sensitive, path, out);
                path.pop();
            }
        }
        Value::Map(m) => {
            let item = match ty {
                Type::Object(attrs) => {
                    if own {
                        rules
                            .iter()
                            .filter(|r| r.counts_items())
                            .for_each(|r| check(r, path));
                    }
                    for attr in attrs {
                        if let Some(v) = m.get(&attr.name) {
                            path.push(PathSeg::Key(attr.name.clone()));
                            validate_into(
                                &attr.ty,
                                &attr.validators,
                                true,
                                v,
                                sensitive,
                                path,
                                out,
                            );
                            path.pop();
                        }
                    }
                    return;
                }
                Type::Map(item) => &**item,
                Type::Any => &Type::Any,
                _ => return,
            };
            if own {
                rules
                    .iter()
                    .filter(|r| r.counts_items())
                    .for_each(|r| check(r, path));
            }
            for (k, v) in m {
                path.push(PathSeg::Key(k.clone()));
                validate_into(item, rules, false, v, sensitive, path, out);
                path.pop();
            }
        }
        _ => rules
            .iter()
            .filter(|r| !r.counts_items())
            .for_each(|r| check(r, path)),
    }
}

/// Reports each item of a set that repeats an earlier one, at its path.
fn repeats(
    items: &[Value],
    sensitive: bool,
    path: &mut ValuePath,
    out: &mut Vec<(ValuePath, String)>,
) {
    for (i, x) in items.iter().enumerate() {
        if x.has_unknown() {
            continue;
        }
        if let Some(first) = items[..i].iter().position(|y| y == x) {
            let shown = if sensitive || x.has_sensitive() {
                "(sensitive)".to_owned()
            } else {
                x.to_string()
            };
            let set = display_path(path);
            path.push(PathSeg::Index(i));
            out.push((
                path.clone(),
                format!(
                    "`{set}` is a set, but lists {shown} twice (items {first} and {i}): remove one"
                ),
            ));
            path.pop();
        }
    }
}

/// A total order of values, for putting sets in canonical order: by kind
/// (null, boolean, number, string, list, table, secret), then by value;
/// values holding unknowns last, in their order. Consistent with `==`
/// (an integer and the equal float are equal) for values without unknowns.
fn order(a: &Value, b: &Value) -> Ordering {
    match (a.has_unknown(), b.has_unknown()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::Float(_) => 2,
            Value::String(_) => 3,
            Value::List(_) => 4,
            Value::Map(_) => 5,
            Value::Sensitive(_) => 6,
            Value::Unknown => 7,
        }
    }
    let float = |x: f64, y: f64| x.partial_cmp(&y).unwrap_or_else(|| x.total_cmp(&y));
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Int(x), Value::Float(y)) => float(*x as f64, *y),
        (Value::Float(x), Value::Int(y)) => float(*x, *y as f64),
        (Value::Float(x), Value::Float(y)) => float(*x, *y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::List(x), Value::List(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| order(p, q))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Value::Map(x), Value::Map(y)) => x
            .iter()
            .zip(y)
            .map(|((k, p), (l, q))| k.cmp(l).then_with(|| order(p, q)))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Value::Sensitive(x), Value::Sensitive(y)) => x.digest().cmp(y.digest()),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Whether two neighbours of a sorted set are one item.
fn repeated(a: &Value, b: &Value) -> bool {
    !a.has_unknown() && order(a, b).is_eq()
}

/// Whether a value of this type may hold a set.
fn holds_set(ty: &Type) -> bool {
    match ty {
        Type::Set(_) => true,
        Type::List(t) | Type::Map(t) => holds_set(t),
        Type::Object(attrs) => attrs.iter().any(|a| holds_set(&a.ty)),
        _ => false,
    }
}

fn is_normal(ty: &Type, v: &Value) -> bool {
    match (ty, v) {
        (Type::Set(item), Value::List(l)) => {
            l.iter().all(|x| is_normal(item, x))
                && l.windows(2).all(|w| match order(&w[0], &w[1]) {
                    Ordering::Less => true,
                    Ordering::Equal => w[0].has_unknown(),
                    Ordering::Greater => false,
                })
        }
        (Type::List(item), Value::List(l)) => l.iter().all(|x| is_normal(item, x)),
        (Type::Map(item), Value::Map(m)) => m.values().all(|x| is_normal(item, x)),
        (Type::Object(attrs), Value::Map(m)) => object_is_normal(attrs, m),
        _ => true,
    }
}

fn object_is_normal(attrs: &[Attribute], m: &std::collections::BTreeMap<String, Value>) -> bool {
    attrs
        .iter()
        .all(|a| m.get(&a.name).is_none_or(|v| is_normal(&a.ty, v)))
}

fn normalize_in(ty: &Type, v: &mut Value) {
    match (ty, v) {
        (Type::Set(item), Value::List(l)) => {
            l.iter_mut().for_each(|x| normalize_in(item, x));
            l.sort_by(order);
            l.dedup_by(|a, b| repeated(a, b));
        }
        (Type::List(item), Value::List(l)) => l.iter_mut().for_each(|x| normalize_in(item, x)),
        (Type::Map(item), Value::Map(m)) => m.values_mut().for_each(|x| normalize_in(item, x)),
        (Type::Object(attrs), Value::Map(m)) => normalize_object(attrs, m),
        _ => {}
    }
}

fn normalize_object(attrs: &[Attribute], m: &mut std::collections::BTreeMap<String, Value>) {
    for a in attrs {
        if let Some(v) = m.get_mut(&a.name) {
            normalize_in(&a.ty, v);
        }
    }
}

impl Type {
    /// A list of `item`.
    pub fn list(item: Type) -> Type {
        Type::List(Box::new(item))
    }

    /// A map of `item`.
    pub fn map(item: Type) -> Type {
        Type::Map(Box::new(item))
    }

    /// A set of `item`: an order-insensitive list.
    pub fn set(item: Type) -> Type {
        Type::Set(Box::new(item))
    }

    /// The type as the schema reference writes it: `string`, `int`,
    /// `list(string)`, `set(string)`, `map(string)`, `object{min, max}`.
    pub fn syntax(&self) -> String {
        match self {
            Type::Any => "any".into(),
            Type::Bool => "bool".into(),
            Type::Int => "int".into(),
            Type::Number => "number".into(),
            Type::String => "string".into(),
            Type::List(t) => format!("list({})", t.syntax()),
            Type::Set(t) => format!("set({})", t.syntax()),
            Type::Map(t) => format!("map({})", t.syntax()),
            Type::Object(attrs) => {
                let names: Vec<&str> = attrs.iter().map(|a| a.name.as_str()).collect();
                format!("object{{{}}}", names.join(", "))
            }
        }
    }

    /// The attributes of the objects this type holds: its own for an
    /// object, its items' for a list, set or map of objects.
    pub fn attributes(&self) -> &[Attribute] {
        match self {
            Type::Object(attrs) => attrs,
            Type::List(t) | Type::Set(t) | Type::Map(t) => t.attributes(),
            _ => &[],
        }
    }

    /// `v` with every set in it in canonical order (see
    /// [`Schema::normalize`]); borrowed when already so.
    pub fn normalize<'v>(&self, v: &'v Value) -> Cow<'v, Value> {
        if !holds_set(self) || is_normal(self, v) {
            Cow::Borrowed(v)
        } else {
            let mut out = v.clone();
            normalize_in(self, &mut out);
            Cow::Owned(out)
        }
    }

    /// Whether two values of this type are the same value: sets compare
    /// regardless of order and repetition, at any depth.
    pub fn same(&self, a: &Value, b: &Value) -> bool {
        *self.normalize(a) == *self.normalize(b)
    }

    /// Human name, e.g. `list of string`.
    pub fn describe(&self) -> String {
        match self {
            Type::Any => "any value".into(),
            Type::Bool => "boolean".into(),
            Type::Int => "integer".into(),
            Type::Number => "number".into(),
            Type::String => "string".into(),
            Type::List(t) => format!("list of {}", t.describe()),
            Type::Set(t) => format!("set of {}", t.describe()),
            Type::Map(t) => format!("table of {}", t.describe()),
            Type::Object(_) => "table".into(),
        }
    }

    /// Checks a value against this type, collecting every mismatch.
    /// Unknown values and secrets without plaintext pass: they are checked
    /// once known. Unknown keys of objects are reported by the loader, which
    /// can suggest the closest name.
    pub fn check(&self, value: &Value) -> Vec<TypeMismatch> {
        let mut out = Vec::new();
        check_into(self, value, &mut Vec::new(), &mut out);
        out
    }
}

fn check_into(ty: &Type, value: &Value, path: &mut ValuePath, out: &mut Vec<TypeMismatch>) {
    let ok = match (ty, value) {
        (_, Value::Unknown) | (Type::Any, _) => true,
        (_, Value::Sensitive(s)) => {
            if let Some(v) = s.plaintext() {
                check_into(ty, v, path, out);
            }
            true
        }
        (Type::Bool, Value::Bool(_)) => true,
        (Type::Int, Value::Int(_)) => true,
        (Type::Number, Value::Int(_) | Value::Float(_)) => true,
        (Type::String, Value::String(_)) => true,
        (Type::List(item) | Type::Set(item), Value::List(items)) => {
            for (i, v) in items.iter().enumerate() {
                path.push(PathSeg::Index(i));
                check_into(item, v, path, out);
                path.pop();
            }
            true
        }
        (Type::Map(item), Value::Map(entries)) => {
            for (k, v) in entries {
                path.push(PathSeg::Key(k.clone()));
                check_into(item, v, path, out);
                path.pop();
            }
            true
        }
        (Type::Object(attrs), Value::Map(entries)) => {
            for attr in attrs {
                if let Some(v) = entries.get(&attr.name) {
                    path.push(PathSeg::Key(attr.name.clone()));
                    check_into(&attr.ty, v, path, out);
                    path.pop();
                }
            }
            true
        }
        _ => false,
    };
    if !ok {
        out.push(TypeMismatch {
            path: path.clone(),
            expected: ty.describe(),
            found: value.kind(),
        });
    }
}

impl std::fmt::Display for TypeMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "expected {}, found {}", self.expected, self.found)
        } else {
            write!(
                f,
                "`{}`: expected {}, found {}",
                display_path(&self.path),
                self.expected,
                self.found
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_group() -> Schema {
        Schema::new("eks_node_group")
            .attribute(
                Attribute::new("name", Type::String)
                    .required()
                    .forces_replacement(),
            )
            .attribute(Attribute::new(
                "scaling",
                Type::Object(vec![
                    Attribute::new("min", Type::Int),
                    Attribute::new("max", Type::Int),
                ]),
            ))
            .attribute(Attribute::new(
                "taints",
                Type::list(Type::Object(vec![
                    Attribute::new("key", Type::String).forces_replacement(),
                ])),
            ))
    }

    fn path(segs: &[&str]) -> ValuePath {
        segs.iter()
            .map(|s| match s.parse() {
                Ok(i) => PathSeg::Index(i),
                Err(_) => PathSeg::Key((*s).to_owned()),
            })
            .collect()
    }

    #[test]
    fn change_follows_nested_attributes() {
        let s = node_group();
        assert_eq!(s.change_at(&path(&["name"])), Change::Replace);
        assert_eq!(s.change_at(&path(&["scaling", "min"])), Change::InPlace);
        assert_eq!(s.change_at(&path(&["taints", "0", "key"])), Change::Replace);
        assert_eq!(s.change_at(&path(&["unknown"])), Change::InPlace);
    }

    #[test]
    fn check_collects_every_mismatch() {
        let ty = Type::Object(node_group().attributes);
        let v: Value = serde_json::from_str(
            r#"{"name": 3, "scaling": {"min": "one", "max": 2}, "taints": [{"key": true}]}"#,
        )
        .unwrap();
        let found: Vec<String> = ty.check(&v).iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "`name`: expected string, found integer",
                "`scaling.min`: expected integer, found string",
                "`taints[0].key`: expected string, found boolean",
            ]
        );
        assert!(Type::Int.check(&Value::Unknown).is_empty());
    }

    fn v(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    fn problems(found: Vec<(ValuePath, String)>) -> Vec<String> {
        found
            .into_iter()
            .map(|(p, m)| format!("{}: {m}", display_path(&p)))
            .collect()
    }

    #[test]
    fn sets_compare_regardless_of_order_and_repetition() {
        let ids = Type::set(Type::String);
        assert!(ids.same(&v(r#"["sg-1", "sg-2"]"#), &v(r#"["sg-2", "sg-1"]"#)));
        assert!(ids.same(&v(r#"["sg-1", "sg-1"]"#), &v(r#"["sg-1"]"#)));
        assert!(!ids.same(&v(r#"["sg-1", "sg-2"]"#), &v(r#"["sg-1", "sg-3"]"#)));
        assert!(!ids.same(&v(r#"["sg-1"]"#), &v(r#"["sg-1", "sg-2"]"#)));
        // A list is not a set.
        let list = Type::list(Type::String);
        assert!(!list.same(&v(r#"["a", "b"]"#), &v(r#"["b", "a"]"#)));
        // Integers and equal floats are one item; unknowns are never merged.
        let nums = Type::set(Type::Number);
        assert!(nums.same(&v("[2, 1.0]"), &v("[1, 2]")));
        let unknowns = Value::List(vec![Value::Unknown, "a".into(), Value::Unknown]);
        assert_eq!(
            *nums.normalize(&unknowns),
            Value::List(vec!["a".into(), Value::Unknown, Value::Unknown])
        );
    }

    #[test]
    fn sets_inside_objects_and_lists_are_normalized() {
        let s = Schema::new("t")
            .attribute(Attribute::new("ids", Type::set(Type::String)))
            .attribute(Attribute::new("name", Type::String))
            .attribute(Attribute::new(
                "rules",
                Type::list(Type::Object(vec![Attribute::new(
                    "cidrs",
                    Type::set(Type::String),
                )])),
            ))
            .attribute(Attribute::new("order", Type::list(Type::String)));
        let a =
            v(r#"{"ids": ["b", "a"], "rules": [{"cidrs": ["2", "1", "2"]}], "order": ["y", "x"]}"#);
        let b = v(r#"{"ids": ["a", "b"], "rules": [{"cidrs": ["1", "2"]}], "order": ["y", "x"]}"#);
        assert_eq!(*s.normalize(&a), b);
        assert!(
            matches!(s.normalize(&b), Cow::Borrowed(_)),
            "already normal"
        );
        assert!(s.same(&[], &a, &b));
        let ids = [PathSeg::Key("ids".into())];
        assert!(s.is_set_at(&ids));
        assert!(s.same(&ids, &v(r#"["x", "y"]"#), &v(r#"["y", "x"]"#)));
        let order = [PathSeg::Key("order".into())];
        assert!(!s.is_set_at(&order));
        assert!(!s.same(&order, &v(r#"["x", "y"]"#), &v(r#"["y", "x"]"#)));
        let cidrs = [
            PathSeg::Key("rules".into()),
            PathSeg::Index(3),
            PathSeg::Key("cidrs".into()),
        ];
        assert_eq!(s.type_at(&cidrs), Some(&Type::set(Type::String)));
        assert_eq!(s.type_at(&[PathSeg::Key("nope".into())]), None);
        let no_sets = Schema::new("t").attribute(Attribute::new("x", Type::list(Type::Int)));
        assert!(matches!(
            no_sets.normalize(&v(r#"{"x": [2, 1]}"#)),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn sets_are_type_checked_and_refuse_repeats() {
        let s = Schema::new("t").attribute(
            Attribute::new("ports", Type::set(Type::Int))
                .validate(Validator::Range { min: 1, max: 65535 }),
        );
        let mismatches = s.attributes[0].ty.check(&v(r#"[80, "443"]"#));
        let at: Vec<String> = mismatches.iter().map(|m| display_path(&m.path)).collect();
        assert_eq!(at, ["[1]"]);
        assert_eq!(
            problems(s.validate(&v(r#"{"ports": [80, 443, 80, 0]}"#))),
            [
                "ports[2]: `ports` is a set, but lists 80 twice (items 0 and 2): remove one",
                "ports[3]: `ports[3]` must be between 1 and 65535, found 0",
            ]
        );
        let unknown = Value::Map(
            [(
                "ports".to_owned(),
                Value::List(vec![Value::Unknown, Value::Unknown]),
            )]
            .into(),
        );
        assert!(
            s.validate(&unknown).is_empty(),
            "unknowns may differ once known"
        );
        assert_eq!(Type::set(Type::String).describe(), "set of string");
        assert_eq!(Type::set(Type::String).syntax(), "set(string)");
    }

    #[test]
    fn validators_report_at_the_value() {
        let s = Schema::new("t")
            .attribute(
                Attribute::new("port", Type::Int).validate(Validator::Range { min: 1, max: 65535 }),
            )
            .attribute(
                Attribute::new("cidrs", Type::list(Type::String))
                    .validate(Validator::Cidr)
                    .validate(Validator::Count { min: 1, max: 2 }),
            )
            .attribute(Attribute::new(
                "scaling",
                Type::Object(vec![Attribute::new("min", Type::Int).validate(
                    Validator::Range {
                        min: 0,
                        max: i64::MAX,
                    },
                )]),
            ))
            .attribute(
                Attribute::new("labels", Type::map(Type::String))
                    .validate(Validator::Length { min: 1, max: 3 }),
            )
            .attribute(
                Attribute::new("password", Type::String)
                    .sensitive()
                    .validate(Validator::Length { min: 8, max: 128 }),
            );
        let inputs: Value = [
            ("port", Value::from(70000)),
            ("cidrs", v(r#"["10.0.0.0/16", "10.0.0.1/16", "0.0.0.0/0"]"#)),
            ("scaling", v(r#"{"min": -1}"#)),
            ("labels", v(r#"{"team": "data", "tier": "web"}"#)),
            (
                "password",
                Value::Sensitive(crate::Secret::new("d", "short".into())),
            ),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            problems(s.validate(&inputs)),
            [
                "port: `port` must be between 1 and 65535, found 70000",
                "cidrs: `cidrs` must have between 1 and 2 items, found 3",
                "cidrs[1]: `cidrs[1]` must be an IPv4 CIDR block such as 10.0.0.0/16, found \"10.0.0.1/16\": bits are set after the /16 prefix; the block is 10.0.0.0/16",
                "scaling.min: `scaling.min` must be at least 0, found -1",
                "labels.team: `labels.team` must be between 1 and 3 characters long, found \"data\" (4 characters)",
                "password: `password` must be between 8 and 128 characters long, found (sensitive)",
            ]
        );
        // Unknown values pass; a value of the wrong type is the type
        // check's to report, once.
        let later: Value = [
            ("port", Value::Unknown),
            ("scaling", v(r#"{"min": "one"}"#)),
        ]
        .into_iter()
        .collect();
        assert!(s.validate(&later).is_empty());
        assert_eq!(
            problems(s.validate(&v(r#"{"port": "eighty", "scaling": {"min": -5}}"#))),
            ["scaling.min: `scaling.min` must be at least 0, found -5"]
        );
    }

    #[test]
    fn computed_attributes_keep_what_the_cloud_picked() {
        let s = Schema::new("t")
            .attribute(Attribute::new("engine_version", Type::String).computed())
            .attribute(Attribute::new("size", Type::Int))
            .attribute(Attribute::new(
                "update_config",
                Type::Object(vec![
                    Attribute::new("max_unavailable", Type::Int).computed(),
                ]),
            ));
        let recorded =
            v(r#"{"engine_version": "16.4", "size": 1, "update_config": {"max_unavailable": 1}}"#);
        // Unset: the recorded value stays; plain attributes are not touched.
        let mut desired = v(r#"{"size": 2, "update_config": {}}"#);
        s.fill_computed(&mut desired, &recorded);
        assert_eq!(
            desired,
            v(r#"{"engine_version": "16.4", "size": 2, "update_config": {"max_unavailable": 1}}"#)
        );
        // Set: the stack's value wins.
        let mut desired = v(r#"{"engine_version": "17.0", "engine_version_x": null}"#);
        s.fill_computed(&mut desired, &recorded);
        assert_eq!(desired.get("engine_version"), Some(&Value::from("17.0")));
        // Null counts as unset; nothing recorded leaves it unset.
        let mut desired = v(r#"{"engine_version": null}"#);
        s.fill_computed(&mut desired, &recorded);
        assert_eq!(desired.get("engine_version"), Some(&Value::from("16.4")));
        assert_eq!(s.with_computed(&v("{}"), &v("{}")), v("{}"));
        // Refresh: what the cloud reports for an unset attribute is filled
        // into the recorded inputs, so it compares equal.
        let observed = v(r#"{"engine_version": "16.4", "size": 1}"#);
        assert_eq!(s.with_computed(&v(r#"{"size": 1}"#), &observed), observed);

        let a = Attribute::new("x", Type::Int).computed();
        assert!(a.computed && a.presence == Presence::Optional);
        let a = Attribute::new("x", Type::Int).computed().default(1);
        assert!(!a.computed, "the last of computed, default, required wins");
        let a = Attribute::new("x", Type::Int).required().computed();
        assert!(a.computed && a.presence == Presence::Optional);
    }

    #[test]
    fn set_at_create_attributes_are_found_by_path() {
        let s = Schema::new("eks_node_group")
            .attribute(Attribute::new("name", Type::String))
            .attribute(Attribute::new(
                "scaling",
                Type::Object(vec![
                    Attribute::new("min", Type::Int),
                    Attribute::new("desired", Type::Int).set_at_create("it may drain nodes"),
                ]),
            ))
            .attribute(Attribute::new(
                "taints",
                Type::list(Type::Object(vec![Attribute::new("key", Type::String)])),
            ));
        let found: Vec<(String, Option<&str>)> = s
            .set_at_create_paths()
            .into_iter()
            .map(|(p, a)| (display_path(&p), a.set_at_create.as_deref()))
            .collect();
        assert_eq!(
            found,
            [("scaling.desired".to_owned(), Some("it may drain nodes"))]
        );
        let at = |segs: &[&str]| s.attribute_at(&path(segs)).map(|a| a.name.clone());
        assert_eq!(at(&["scaling", "desired"]).as_deref(), Some("desired"));
        assert_eq!(at(&["scaling"]).as_deref(), Some("scaling"));
        assert_eq!(at(&["scaling", "wanted"]), None);
        assert_eq!(at(&["name", "x"]), None, "a string has no attributes");
        assert_eq!(at(&["taints", "0", "key"]), None, "not inside lists");
        assert_eq!(at(&[]), None);
        assert!(Attribute::new("x", Type::Int).set_at_create.is_none());
    }

    #[test]
    fn types_have_reference_names() {
        let t = Type::list(Type::Object(vec![
            Attribute::new("key", Type::String),
            Attribute::new("value", Type::map(Type::Int)),
        ]));
        assert_eq!(t.syntax(), "list(object{key, value})");
        assert_eq!(t.attributes().len(), 2);
        assert!(Type::String.attributes().is_empty());
        assert_eq!(Type::map(Type::Any).syntax(), "map(any)");
    }
}
