//! Reading a resource's inputs into a typed spec, once: every problem is
//! collected at its path, so the same parse serves plan-time validation
//! (problems land on TOML lines) and apply (one `Invalid` error).
//!
//! At plan time some values are not known yet (`Value::Unknown`): a reader
//! returns `None` for them without a problem, and rules given to readers
//! run only on known values, so a value known only after apply never
//! causes a false error. At apply everything must be known; an unknown
//! value is then a problem.

use std::collections::BTreeMap;

use crate::{ErrorKind, PathSeg, ProviderError, Value, ValuePath};

/// When the inputs are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Checking a plan: unknown values are allowed.
    Plan,
    /// Applying: every value must be known.
    Apply,
}

/// A reader of typed fields out of an inputs table (or a table inside it).
/// Absent keys and `null` read as "not set".
#[derive(Debug)]
pub struct Fields<'a> {
    inputs: &'a Value,
    /// The path of `inputs` inside the resource's inputs.
    at: ValuePath,
    phase: Phase,
    problems: Vec<(ValuePath, String)>,
}

impl<'a> Fields<'a> {
    /// A reader of a resource's inputs; `null` inputs set nothing.
    pub fn new(inputs: &'a Value, phase: Phase) -> Self {
        let mut fields = Fields {
            inputs,
            at: Vec::new(),
            phase,
            problems: Vec::new(),
        };
        if !matches!(inputs, Value::Map(_) | Value::Null) {
            fields.problem(
                &[],
                format!("inputs must be a table, found {}", inputs.kind()),
            );
        }
        fields
    }

    /// When this read happens.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The table being read, as given (e.g. to read it again with its
    /// secrets revealed, or to keep a value as given).
    pub fn inputs(&self) -> &'a Value {
        self.inputs
    }

    fn path(&self, key: &str) -> ValuePath {
        let mut p = self.at.clone();
        p.push(PathSeg::Key(key.to_owned()));
        p
    }

    fn display(&self, key: &str) -> String {
        crate::display_path(&self.path(key))
    }

    /// Records a problem at `path` (relative to this table).
    pub fn problem(&mut self, path: &[PathSeg], message: impl Into<String>) {
        let mut p = self.at.clone();
        p.extend(path.iter().cloned());
        self.problems.push((p, message.into()));
    }

    /// Records a problem at `key`.
    pub fn problem_at(&mut self, key: &str, message: impl Into<String>) {
        self.problem(&[PathSeg::Key(key.to_owned())], message);
    }

    /// Whether `key` is given (known or not).
    pub fn is_set(&self, key: &str) -> bool {
        !matches!(self.inputs.get(key), None | Some(Value::Null))
    }

    /// Whether a value given under `key` is not known yet.
    pub fn is_unknown(&self, key: &str) -> bool {
        self.inputs.get(key).is_some_and(Value::has_unknown)
    }

    /// The raw value under `key`; `None` when unset, or unknown (a problem
    /// at apply).
    pub fn value(&mut self, key: &str) -> Option<&'a Value> {
        match self.inputs.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Unknown) => {
                if self.phase == Phase::Apply {
                    let what = format!(
                        "`{}` is not known yet; it cannot be applied",
                        self.display(key)
                    );
                    self.problem_at(key, what);
                }
                None
            }
            Some(v) => Some(v),
        }
    }

    fn wrong(&mut self, key: &str, expected: &str, found: &Value) {
        let message = format!(
            "`{}` must be {expected}, found {}",
            self.display(key),
            found.kind()
        );
        self.problem_at(key, message);
    }

    fn missing(&mut self, key: &str) {
        if !self.is_set(key) {
            let message = format!("`{}` is required", self.display(key));
            self.problem_at(key, message);
        }
    }

    /// A string.
    pub fn string(&mut self, key: &str) -> Option<String> {
        match self.value(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.wrong(key, "a string", other);
                None
            }
        }
    }

    /// A string that must be given; `""` (with a problem) when it is not.
    pub fn required_string(&mut self, key: &str) -> String {
        self.missing(key);
        self.string(key).unwrap_or_default()
    }

    /// A string, or `default`.
    pub fn string_or(&mut self, key: &str, default: &str) -> String {
        self.string(key).unwrap_or_else(|| default.to_owned())
    }

    /// A string checked by `rule` when known (`Err` says what is wrong).
    pub fn string_with(
        &mut self,
        key: &str,
        rule: impl FnOnce(&str) -> Result<(), String>,
    ) -> Option<String> {
        let s = self.string(key)?;
        if let Err(m) = rule(&s) {
            self.problem_at(key, m);
        }
        Some(s)
    }

    /// An integer.
    pub fn int(&mut self, key: &str) -> Option<i64> {
        match self.value(key)? {
            Value::Int(i) => Some(*i),
            other => {
                self.wrong(key, "an integer", other);
                None
            }
        }
    }

    /// An integer that fits an `i32` (most AWS numbers).
    pub fn i32(&mut self, key: &str) -> Option<i32> {
        let i = self.int(key)?;
        match i32::try_from(i) {
            Ok(i) => Some(i),
            Err(_) => {
                let message = format!("`{}` is out of range: {i}", self.display(key));
                self.problem_at(key, message);
                None
            }
        }
    }

    /// A boolean, or `default`.
    pub fn bool_or(&mut self, key: &str, default: bool) -> bool {
        match self.value(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.wrong(key, "a boolean", other);
                default
            }
        }
    }

    /// A list of strings; `None` when unset or not fully known. Unknown
    /// items are allowed at plan time.
    pub fn strings(&mut self, key: &str) -> Option<Vec<String>> {
        let items = match self.value(key)? {
            Value::List(items) => items,
            other => {
                self.wrong(key, "a list of strings", other);
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        let mut known = true;
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                Value::Unknown if self.phase == Phase::Plan => known = false,
                other => {
                    let message = format!(
                        "`{}[{i}]` must be a string, found {}",
                        self.display(key),
                        other.kind()
                    );
                    self.problem(&[PathSeg::Key(key.to_owned()), PathSeg::Index(i)], message);
                    known = false;
                }
            }
        }
        known.then_some(out)
    }

    /// A table of strings (tags, labels); empty when unset.
    pub fn string_map(&mut self, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match self.value(key) {
            None => {}
            Some(Value::Map(m)) => {
                for (k, v) in m {
                    match v {
                        Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        Value::Unknown if self.phase == Phase::Plan => {}
                        other => {
                            let message = format!(
                                "`{}.{k}` must be a string, found {}",
                                self.display(key),
                                other.kind()
                            );
                            self.problem(
                                &[PathSeg::Key(key.to_owned()), PathSeg::Key(k.clone())],
                                message,
                            );
                        }
                    }
                }
            }
            Some(other) => self.wrong(key, "a table of strings", other),
        }
        out
    }

    /// Reads the table under `key` with `read`, its problems at their
    /// paths inside it; `None` when unset.
    pub fn table<T>(&mut self, key: &str, read: impl FnOnce(&mut Fields<'a>) -> T) -> Option<T> {
        let v = self.value(key)?;
        if !matches!(v, Value::Map(_)) {
            self.wrong(key, "a table", v);
            return None;
        }
        let mut inner = Fields {
            inputs: v,
            at: self.path(key),
            phase: self.phase,
            problems: Vec::new(),
        };
        let out = read(&mut inner);
        self.problems.append(&mut inner.problems);
        Some(out)
    }

    /// Reads each table of the list under `key` with `read`; empty when
    /// unset.
    pub fn tables<T>(&mut self, key: &str, mut read: impl FnMut(&mut Fields<'a>) -> T) -> Vec<T> {
        let Some(v) = self.value(key) else {
            return Vec::new();
        };
        let Value::List(items) = v else {
            self.wrong(key, "a list of tables", v);
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let mut at = self.path(key);
            at.push(PathSeg::Index(i));
            if !matches!(item, Value::Map(_)) {
                if !(matches!(item, Value::Unknown) && self.phase == Phase::Plan) {
                    let message = format!(
                        "`{}` must be a table, found {}",
                        crate::display_path(&at),
                        item.kind()
                    );
                    self.problems.push((at, message));
                }
                continue;
            }
            let mut inner = Fields {
                inputs: item,
                at,
                phase: self.phase,
                problems: Vec::new(),
            };
            out.push(read(&mut inner));
            self.problems.append(&mut inner.problems);
        }
        out
    }

    /// The problems found, each at its path.
    pub fn into_problems(self) -> Vec<(ValuePath, String)> {
        self.problems
    }

    /// `spec` when nothing was wrong, else every problem as one `Invalid`
    /// error for `what` (the resource address).
    pub fn finish<T>(self, what: &str, spec: T) -> Result<T, ProviderError> {
        if self.problems.is_empty() {
            return Ok(spec);
        }
        let messages: Vec<String> = self.problems.into_iter().map(|(_, m)| m).collect();
        Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("{what}: {}", messages.join("; ")),
        ))
    }
}

/// A string list as a value.
pub fn string_list(items: &[String]) -> Value {
    Value::List(items.iter().cloned().map(Value::String).collect())
}

/// A table of strings as a value.
pub fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Map(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// `actual` in the order of `reference` when both hold the same items (the
/// cloud may reorder what it stores as a set), else sorted.
pub fn same_order(actual: Vec<String>, reference: Option<&[String]>) -> Vec<String> {
    let mut sorted = actual;
    sorted.sort();
    sorted.dedup();
    if let Some(reference) = reference
        && same_set(&sorted, reference)
    {
        return reference.to_vec();
    }
    sorted
}

/// Whether two string lists hold the same items, ignoring order and
/// repetition.
pub fn same_set(a: &[String], b: &[String]) -> bool {
    use std::collections::BTreeSet;
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

/// `actual`, spelled as `reference` when they differ only in ASCII case
/// (clouds that store names lowercase).
pub fn keep_case(actual: &str, reference: Option<&str>) -> String {
    match reference {
        Some(r) if r.eq_ignore_ascii_case(actual) => r.to_owned(),
        _ => actual.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Value {
        let nested: Value = [("port", Value::from("eighty"))].into_iter().collect();
        [
            ("a", Value::Int(1)),
            ("b", Value::Unknown),
            ("c", Value::from("x")),
            ("list", Value::List(vec![Value::from("s"), Value::Unknown])),
            ("nested", nested),
        ]
        .into_iter()
        .collect()
    }

    fn paths(problems: &[(ValuePath, String)]) -> Vec<String> {
        problems
            .iter()
            .map(|(p, _)| crate::display_path(p))
            .collect()
    }

    #[test]
    fn every_problem_is_collected_at_its_path() {
        let v = inputs();
        let mut f = Fields::new(&v, Phase::Apply);
        assert_eq!(f.string("a"), None);
        assert_eq!(f.string("b"), None);
        assert_eq!(f.required_string("missing"), "");
        assert_eq!(f.string("c").as_deref(), Some("x"));
        assert_eq!(f.strings("list"), None);
        let port = f.table("nested", |t| t.int("port"));
        assert_eq!(port, Some(None));
        let problems = f.into_problems();
        assert_eq!(
            paths(&problems),
            ["a", "b", "missing", "list[1]", "nested.port"]
        );
        assert!(problems[3].1.contains("`list[1]` must be a string"));
        assert!(problems[4].1.contains("`nested.port` must be an integer"));
    }

    #[test]
    fn unknown_values_are_no_problem_at_plan_time() {
        let v = inputs();
        let mut f = Fields::new(&v, Phase::Plan);
        assert_eq!(f.string("b"), None);
        assert!(f.is_set("b") && f.is_unknown("b"));
        assert_eq!(f.strings("list"), None);
        // A rule runs only on known values.
        let checked = f.string_with("b", |_| Err("never".into()));
        assert_eq!(checked, None);
        f.string_with("c", |s| Err(format!("`{s}` is wrong")));
        assert_eq!(paths(&f.into_problems()), ["c"]);
    }

    #[test]
    fn finish_joins_the_problems() {
        let v = inputs();
        let mut f = Fields::new(&v, Phase::Apply);
        f.string("a");
        let err = f.finish("x.y", ()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert_eq!(err.message, "x.y: `a` must be a string, found integer");
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
