//! Reading a resource's inputs the way the rules need them: a path into
//! the inputs as written (literals, references, secrets), resolved through
//! the plan's value where the plan knows it, with the place it was written.

use infra_core::{Location, PathSeg, Value, ValuePath};
use infra_stack::{Expr, Reference, ResourceConfig};

/// One resource, with the values the plan resolved for it (if any).
#[derive(Clone, Copy)]
pub(crate) struct Res<'a> {
    pub config: &'a ResourceConfig,
    planned: Option<&'a Value>,
}

impl<'a> Res<'a> {
    pub fn new(config: &'a ResourceConfig, planned: Option<&'a Value>) -> Self {
        Res { config, planned }
    }

    /// An input attribute.
    pub fn get(&self, key: &str) -> Node<'a> {
        Node {
            written: self
                .config
                .inputs
                .get(key)
                .map_or(Written::Missing, Written::Expr),
            planned: self.planned.and_then(|v| v.get(key)),
            path: vec![PathSeg::Key(key.to_owned())],
        }
    }

    /// A dotted path of keys from the inputs (`values.pgbouncer.enabled`).
    pub fn at(&self, dotted: &str) -> Node<'a> {
        let mut keys = dotted.split('.');
        let first = keys.next().unwrap_or_default();
        keys.fold(self.get(first), |n, k| n.get(k))
    }

    /// Where the value at `node` was written, or the closest enclosing
    /// value, or the resource.
    pub fn location(&self, node: &Node<'_>) -> Option<Location> {
        self.config.location_of(&node.path).cloned()
    }
}

/// What a stack file wrote at a path.
#[derive(Clone, Copy)]
enum Written<'a> {
    Missing,
    Expr(&'a Expr),
    Value(&'a Value),
    /// Inside a value known only at apply (a reference the plan did not
    /// resolve): neither missing nor known.
    Unresolved,
}

/// A value at a path inside a resource's inputs.
#[derive(Clone)]
pub(crate) struct Node<'a> {
    written: Written<'a>,
    planned: Option<&'a Value>,
    pub path: ValuePath,
}

/// What a value is, as far as a rule can tell.
pub(crate) enum Shape<'a> {
    /// Not written, or `null`.
    Missing,
    /// A secret: `{ from_env = ... }`, or a sensitive value.
    Secret,
    /// Known only at apply (a reference the plan did not resolve).
    Unknown,
    /// A string written in plain text.
    Text(&'a str),
    /// Anything else that is known.
    Other,
}

impl<'a> Node<'a> {
    fn step(&self, seg: PathSeg) -> Node<'a> {
        let written = match (self.written, &seg) {
            (Written::Expr(Expr::Map(m)), PathSeg::Key(k)) => {
                m.get(k).map_or(Written::Missing, Written::Expr)
            }
            (Written::Expr(Expr::List(l)), PathSeg::Index(i)) => {
                l.get(*i).map_or(Written::Missing, Written::Expr)
            }
            (Written::Expr(Expr::Literal(v)) | Written::Value(v), _) => v
                .at(std::slice::from_ref(&seg))
                .map_or(Written::Missing, Written::Value),
            (Written::Expr(Expr::Ref(_) | Expr::Template(_) | Expr::FromEnv { .. }), _) => {
                match self.value() {
                    Some(v) => v
                        .at(std::slice::from_ref(&seg))
                        .map_or(Written::Missing, Written::Value),
                    None => Written::Unresolved,
                }
            }
            (Written::Unresolved, _) => Written::Unresolved,
            _ => Written::Missing,
        };
        let planned = self.planned.and_then(|v| v.at(std::slice::from_ref(&seg)));
        let mut path = self.path.clone();
        path.push(seg);
        Node {
            written,
            planned,
            path,
        }
    }

    /// The value under a key.
    pub fn get(&self, key: &str) -> Node<'a> {
        self.step(PathSeg::Key(key.to_owned()))
    }

    /// A dotted path of keys below this one.
    pub fn at(&self, dotted: &str) -> Node<'a> {
        dotted.split('.').fold(self.clone(), |n, k| n.get(k))
    }

    /// The item at an index.
    pub fn index(&self, i: usize) -> Node<'a> {
        self.step(PathSeg::Index(i))
    }

    /// The value when it is known: a literal, or what the plan resolved a
    /// reference to. `None` for composites holding references (read their
    /// parts instead), secrets and unknowns.
    pub fn value(&self) -> Option<&'a Value> {
        match self.written {
            Written::Expr(Expr::Literal(v)) | Written::Value(v) => Some(v),
            Written::Expr(Expr::Ref(_) | Expr::Template(_)) => {
                self.planned.filter(|v| !v.has_unknown())
            }
            _ => None,
        }
    }

    /// Whether nothing (or `null`) is written here.
    pub fn is_missing(&self) -> bool {
        matches!(self.shape(), Shape::Missing)
    }

    /// What the value is.
    pub fn shape(&self) -> Shape<'a> {
        match self.written {
            Written::Missing => Shape::Missing,
            Written::Expr(Expr::FromEnv { .. }) => Shape::Secret,
            _ => match self.value() {
                Some(Value::Null) => Shape::Missing,
                Some(Value::Sensitive(_)) => Shape::Secret,
                Some(Value::String(s)) => Shape::Text(s),
                Some(_) => Shape::Other,
                None => match self.written {
                    Written::Expr(Expr::List(_) | Expr::Map(_)) => Shape::Other,
                    _ => Shape::Unknown,
                },
            },
        }
    }

    /// A known string.
    pub fn str(&self) -> Option<&'a str> {
        self.value()?.as_str()
    }

    /// A string written in the stack (or a variable), not one a
    /// reference brought in.
    pub fn literal_str(&self) -> Option<&'a str> {
        match self.written {
            Written::Expr(Expr::Literal(v)) | Written::Value(v) => v.as_str(),
            _ => None,
        }
    }

    /// A known boolean.
    pub fn bool(&self) -> Option<bool> {
        self.value()?.as_bool()
    }

    /// A known boolean, also from Airflow's `"True"` / `"False"` strings.
    pub fn truthy(&self) -> Option<bool> {
        match self.value()? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// A known integer (also a float holding one, or a string of digits,
    /// as Helm values sometimes are).
    pub fn int(&self) -> Option<i64> {
        match self.value()? {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => Some(*f as i64),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The reference, when the whole value is exactly one.
    pub fn reference(&self) -> Option<&'a Reference> {
        match self.written {
            Written::Expr(Expr::Ref(r)) => Some(r),
            _ => None,
        }
    }

    /// The number of items of a list (0 for anything else).
    pub fn len(&self) -> usize {
        match self.written {
            Written::Expr(Expr::List(l)) => l.len(),
            Written::Expr(Expr::Literal(v)) | Written::Value(v) => {
                v.as_list().map_or(0, <[_]>::len)
            }
            Written::Expr(Expr::Ref(_)) => {
                self.planned.and_then(Value::as_list).map_or(0, <[_]>::len)
            }
            _ => 0,
        }
    }

    /// The items of a list.
    pub fn items(&self) -> Vec<Node<'a>> {
        (0..self.len()).map(|i| self.index(i)).collect()
    }

    /// The keys of a table, sorted.
    pub fn keys(&self) -> Vec<&'a str> {
        match self.written {
            Written::Expr(Expr::Map(m)) => m.keys().map(String::as_str).collect(),
            Written::Expr(Expr::Literal(v)) | Written::Value(v) => v
                .as_map()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The strings of a list, when every item is a known string.
    pub fn strings(&self) -> Option<Vec<&'a str>> {
        let value = self.value();
        if let Some(Value::List(items)) = value {
            return items.iter().map(Value::as_str).collect();
        }
        if value.is_some() {
            return None;
        }
        match self.written {
            Written::Expr(Expr::List(_)) => self.items().iter().map(Node::str).collect(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use infra_core::Address;
    use infra_stack::{Lifecycle, ValueLocations};

    use super::*;

    fn config(inputs: BTreeMap<String, Expr>) -> ResourceConfig {
        ResourceConfig {
            address: Address::new("t", "r").unwrap(),
            inputs,
            depends_on: Vec::new(),
            depends_on_locations: BTreeMap::new(),
            lifecycle: Lifecycle::default(),
            location: None,
            value_locations: ValueLocations::new(),
        }
    }

    #[test]
    fn literals_references_and_plan_values() {
        let r = Reference::parse("iam_role.logs.arn").unwrap();
        let inputs = BTreeMap::from([
            (
                "values".to_owned(),
                Expr::Map(BTreeMap::from([
                    (
                        "a".to_owned(),
                        Expr::Literal(Value::from_json(serde_json::json!({"b": [1, "x"]}))),
                    ),
                    ("role".to_owned(), Expr::Ref(r.clone())),
                    (
                        "key".to_owned(),
                        Expr::FromEnv {
                            var: "K".into(),
                            value: None,
                        },
                    ),
                ])),
            ),
            ("n".to_owned(), Expr::Ref(r.clone())),
        ]);
        let c = config(inputs);
        let planned: Value = [
            (
                "values",
                [("role", Value::from("arn:aws:iam::1:role/logs"))]
                    .into_iter()
                    .collect(),
            ),
            ("n", Value::Unknown),
        ]
        .into_iter()
        .collect();
        let res = Res::new(&c, Some(&planned));
        assert_eq!(res.at("values.a.b").len(), 2);
        assert_eq!(res.at("values.a.b").index(0).int(), Some(1));
        assert_eq!(res.at("values.a.b").index(1).str(), Some("x"));
        assert!(res.at("values.a.nope").is_missing());
        assert_eq!(res.at("values.role").reference(), Some(&r));
        assert_eq!(
            res.at("values.role").str(),
            Some("arn:aws:iam::1:role/logs")
        );
        assert!(matches!(res.at("values.key").shape(), Shape::Secret));
        assert!(matches!(res.get("n").shape(), Shape::Unknown));
        assert_eq!(res.get("values").keys(), ["a", "key", "role"]);
        let bare = Res::new(&c, None);
        assert!(matches!(bare.at("values.role").shape(), Shape::Unknown));
        assert_eq!(bare.at("values.role").str(), None);
        // Inside a reference is unknown, not missing: no rule reads a
        // chart default there.
        assert!(!bare.at("values.role.enabled").is_missing());
        assert!(matches!(
            bare.at("values.role.enabled").shape(),
            Shape::Unknown
        ));
        assert!(res.at("values.role.enabled").is_missing());
    }
}
