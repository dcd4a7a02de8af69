//! Resource schemas: what a resource type accepts and computes, and how each
//! attribute changes (in place or by replacement). The planner and the stack
//! loader are driven entirely by these.

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
        }
    }

    /// Marks the attribute required.
    pub fn required(mut self) -> Self {
        self.presence = Presence::Required;
        self
    }

    /// Gives the attribute a default.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.presence = Presence::Default(value.into());
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
}

impl Output {
    /// A computed output.
    pub fn new(name: &str, ty: Type, description: &str) -> Self {
        Output {
            name: name.to_owned(),
            ty,
            description: description.to_owned(),
        }
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
                (_, Some(Type::List(inner) | Type::Map(inner))) => {
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

    /// Human name, e.g. `list of string`.
    pub fn describe(&self) -> String {
        match self {
            Type::Any => "any value".into(),
            Type::Bool => "boolean".into(),
            Type::Int => "integer".into(),
            Type::Number => "number".into(),
            Type::String => "string".into(),
            Type::List(t) => format!("list of {}", t.describe()),
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
        (Type::List(item), Value::List(items)) => {
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
}
