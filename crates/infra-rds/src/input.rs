//! Reading a resource's inputs into typed fields, collecting every problem
//! instead of stopping at the first.

use std::collections::BTreeMap;

use infra_core::{ErrorKind, ProviderError, Value};

/// Reads typed fields out of an inputs map. Absent keys and `null` read as
/// "not set"; wrong types and values unknown at apply time are recorded.
pub(crate) struct Reader<'a> {
    inputs: &'a Value,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(inputs: &'a Value) -> Self {
        let mut problems = Vec::new();
        if !matches!(inputs, Value::Map(_)) {
            problems.push(format!("inputs must be a table, found {}", inputs.kind()));
        }
        Reader { inputs, problems }
    }

    fn raw(&mut self, key: &str) -> Option<&'a Value> {
        match self.inputs.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Unknown) => {
                self.problems
                    .push(format!("`{key}` is not known yet; it cannot be applied"));
                None
            }
            Some(v) => Some(v),
        }
    }

    fn wrong(&mut self, key: &str, expected: &str, found: &Value) {
        self.problems.push(format!(
            "`{key}` must be {expected}, found {}",
            found.kind()
        ));
    }

    pub(crate) fn string(&mut self, key: &str) -> Option<String> {
        match self.raw(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.wrong(key, "a string", other);
                None
            }
        }
    }

    pub(crate) fn required_string(&mut self, key: &str) -> String {
        let v = self.string(key);
        if v.is_none()
            && self
                .inputs
                .get(key)
                .is_none_or(|v| matches!(v, Value::Null))
        {
            self.problems.push(format!("`{key}` is required"));
        }
        v.unwrap_or_default()
    }

    pub(crate) fn string_or(&mut self, key: &str, default: &str) -> String {
        self.string(key).unwrap_or_else(|| default.to_owned())
    }

    pub(crate) fn int(&mut self, key: &str) -> Option<i32> {
        match self.raw(key)? {
            Value::Int(i) => match i32::try_from(*i) {
                Ok(i) => Some(i),
                Err(_) => {
                    self.problems.push(format!("`{key}` is out of range: {i}"));
                    None
                }
            },
            Value::Float(f) if f.fract() == 0.0 && f.abs() < f64::from(i32::MAX) => Some(*f as i32),
            other => {
                self.wrong(key, "an integer", other);
                None
            }
        }
    }

    pub(crate) fn required_int(&mut self, key: &str) -> i32 {
        let v = self.int(key);
        if v.is_none()
            && self
                .inputs
                .get(key)
                .is_none_or(|v| matches!(v, Value::Null))
        {
            self.problems.push(format!("`{key}` is required"));
        }
        v.unwrap_or_default()
    }

    pub(crate) fn bool_or(&mut self, key: &str, default: bool) -> bool {
        match self.raw(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.wrong(key, "a boolean", other);
                default
            }
        }
    }

    pub(crate) fn strings(&mut self, key: &str) -> Option<Vec<String>> {
        match self.raw(key)? {
            Value::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        other => {
                            self.wrong(key, "a list of strings", other);
                            return None;
                        }
                    }
                }
                Some(out)
            }
            other => {
                self.wrong(key, "a list of strings", other);
                None
            }
        }
    }

    pub(crate) fn tags(&mut self, key: &str) -> BTreeMap<String, String> {
        match self.raw(key) {
            None => BTreeMap::new(),
            Some(Value::Map(m)) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    match v {
                        Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        other => self.wrong(&format!("{key}.{k}"), "a string", other),
                    }
                }
                out
            }
            Some(other) => {
                self.wrong(key, "a table of strings", other);
                BTreeMap::new()
            }
        }
    }

    /// The value as given, for secrets that must keep their digest.
    pub(crate) fn value(&mut self, key: &str) -> Option<Value> {
        self.raw(key).cloned()
    }

    /// Ends reading: the collected problems as one `Invalid` error.
    pub(crate) fn finish(self, what: &str) -> Result<(), ProviderError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("{what}: {}", self.problems.join("; ")),
            ))
        }
    }
}

/// A string list as a value.
pub(crate) fn string_list(items: &[String]) -> Value {
    Value::List(items.iter().cloned().map(Value::String).collect())
}

/// A tag map as a value.
pub(crate) fn tag_map(tags: &BTreeMap<String, String>) -> Value {
    Value::Map(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// `actual` in the order of `reference` when both hold the same items (AWS
/// may reorder lists it stores as sets), else sorted.
pub(crate) fn same_order(actual: Vec<String>, reference: Option<&[String]>) -> Vec<String> {
    let mut sorted_actual = actual;
    sorted_actual.sort();
    sorted_actual.dedup();
    if let Some(reference) = reference {
        let mut sorted_ref = reference.to_vec();
        sorted_ref.sort();
        sorted_ref.dedup();
        if sorted_ref == sorted_actual {
            return reference.to_vec();
        }
    }
    sorted_actual
}

/// Whether two string lists hold the same items, ignoring order.
pub(crate) fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

/// `actual`, spelled as `reference` when they differ only in case (AWS
/// stores identifiers and names lowercase).
pub(crate) fn keep_case(actual: &str, reference: Option<&str>) -> String {
    match reference {
        Some(r) if r.eq_ignore_ascii_case(actual) => r.to_owned(),
        _ => actual.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_collects_every_problem() {
        let v: Value = [
            ("a", Value::Int(1)),
            ("b", Value::Unknown),
            ("c", Value::from("x")),
        ]
        .into_iter()
        .collect();
        let mut r = Reader::new(&v);
        assert_eq!(r.string("a"), None);
        assert_eq!(r.string("b"), None);
        assert_eq!(r.required_string("missing"), "");
        assert_eq!(r.string("c").as_deref(), Some("x"));
        let err = r.finish("rds_instance.x").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(
            err.message.contains("`a` must be a string"),
            "{}",
            err.message
        );
        assert!(err.message.contains("`b` is not known"), "{}", err.message);
        assert!(
            err.message.contains("`missing` is required"),
            "{}",
            err.message
        );
    }

    #[test]
    fn lists_keep_the_given_order_when_equal_as_sets() {
        let given = vec!["b".to_owned(), "a".to_owned()];
        assert_eq!(
            same_order(vec!["a".into(), "b".into()], Some(&given)),
            given
        );
        assert_eq!(
            same_order(vec!["c".into(), "a".into()], Some(&given)),
            vec!["a".to_owned(), "c".to_owned()]
        );
        assert_eq!(keep_case("mygroup", Some("MyGroup")), "MyGroup");
        assert_eq!(keep_case("other", Some("MyGroup")), "other");
    }
}
