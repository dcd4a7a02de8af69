//! Validation of a release's values (infra [`Value`]s) against a chart's
//! `values.schema.json`, with unknown and sensitive values handled so that
//! they cause no false errors and no leaks.
//!
//! How the two markers are treated:
//!
//! - **Unknown** (known only after apply, or a secret whose plaintext this
//!   process lacks): replaced by a stand-in of the type the schema expects
//!   there, found by trying one value of each JSON type and keeping the one
//!   the schema objects to least. Whatever is then reported at or under an
//!   unknown path is about the stand-in and is dropped. The key of an unknown
//!   value is still known, so "unknown key" errors are kept.
//! - **Sensitive** with plaintext: validated as the plaintext; every message
//!   about it is written with `(sensitive)` in place of the value, and an
//!   error inside a sensitive table is reported at the secret itself, so
//!   neither its contents nor its keys reach a message.
//!
//! Plan time validates with unknowns in place; apply time, once every value
//! is known, validates again ([`ValuesSchema::check_known`]) so that what
//! was unknown is checked for type before helm sees it.
//!
//! With the chart's defaults ([`ValuesSchema::with_defaults`]) what is
//! validated is what helm validates: the values coalesced with the chart's
//! `values.yaml` ([`coalesce`](crate::coalesce)).

use infra_core::{PathSeg, Value, ValuePath};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value as Json;

use crate::ChartError;

/// One schema violation: where in the values table, and what is wrong (a
/// short lowercase message without the path; render it as
/// ``"`{display_path(path)}`: {message}"``).
pub type Violation = (ValuePath, String);

/// What stands for a secret in messages.
const SENSITIVE: &str = "(sensitive)";

/// Above this many unknown values the stand-ins are not searched for (each
/// search validates the whole document a few times); they are `null`, and
/// errors about them are dropped all the same.
const MAX_UNKNOWN_SEARCH: usize = 64;

/// The longest string shown in a message, in characters.
const MAX_SHOWN_CHARS: usize = 40;

/// A chart's values schema, compiled once, validated against many times.
#[derive(Debug, Clone)]
pub struct ValuesSchema {
    validator: Validator,
    /// The schema document, for "did you mean" hints.
    schema: Json,
    /// The chart's `values.yaml`, coalesced under the values validated.
    defaults: Option<Value>,
    /// The keys of the chart's subcharts, for [`coalesce`].
    subcharts: Vec<String>,
}

/// Compiles `schema` and validates `values` against it: every violation,
/// sorted by path and deduplicated. See [`ValuesSchema::validate`].
pub fn validate_values(schema: &Json, values: &Value) -> Result<Vec<Violation>, ChartError> {
    Ok(ValuesSchema::compile(schema)?.validate(values))
}

impl ValuesSchema {
    /// Compiles a JSON Schema (any draft the `jsonschema` crate knows,
    /// detected from `$schema`). Remote `$ref`s are not fetched: a schema
    /// that needs one is an error, as is any schema that does not compile.
    pub fn compile(schema: &Json) -> Result<ValuesSchema, ChartError> {
        let validator =
            jsonschema::validator_for(schema).map_err(|e| ChartError::InvalidSchema {
                message: lower_first(&e.to_string()),
            })?;
        Ok(ValuesSchema {
            validator,
            schema: schema.clone(),
            defaults: None,
            subcharts: Vec::new(),
        })
    }

    /// This schema validating, as helm does, the values coalesced with the
    /// chart's defaults (its `values.yaml`, as JSON); `subcharts` are the
    /// keys of its dependencies ([`Chart::dependencies`](crate::Chart)).
    /// Without defaults the values are validated as they are.
    pub fn with_defaults(mut self, defaults: &Json, subcharts: &[String]) -> ValuesSchema {
        self.defaults = Some(Value::from_json(defaults.clone()));
        self.subcharts = subcharts.to_vec();
        self
    }

    /// Every violation of the schema by `values` (coalesced with the
    /// chart's defaults when this schema has them), sorted by path and
    /// deduplicated. Unknown values cause none (see the module docs); use
    /// this at plan time.
    pub fn validate(&self, values: &Value) -> Vec<Violation> {
        let coalesced;
        let values = match &self.defaults {
            Some(defaults) => {
                coalesced = crate::coalesce(defaults, &self.subcharts, values);
                &coalesced
            }
            None => values,
        };
        let mut marks = Marks::default();
        let mut json = to_json(values, &mut Vec::new(), &mut marks);
        self.fill_unknowns(&mut json, &marks.unknown);
        let mut out = Vec::new();
        for err in self.validator.iter_errors(&json) {
            self.report(&err, values, &marks, &mut out);
        }
        out.sort();
        out.dedup();
        out
    }

    /// For apply time, once the values are fully resolved: the violations
    /// of `resolved` that `planned` (the same values at plan time, unknowns
    /// in place) did not have, i.e. those of the values that were unknown
    /// then. A plan that validated clean makes this every violation.
    pub fn check_known(&self, planned: &Value, resolved: &Value) -> Vec<Violation> {
        let before = self.validate(planned);
        self.validate(resolved)
            .into_iter()
            .filter(|v| !before.contains(v))
            .collect()
    }

    /// Replaces each unknown's `null` with the stand-in the schema objects
    /// to least, so that the unknown does not make its ancestors fail.
    fn fill_unknowns(&self, json: &mut Json, unknown: &[ValuePath]) {
        if unknown.len() > MAX_UNKNOWN_SEARCH {
            return;
        }
        for path in unknown {
            let mut best: Option<(usize, Json)> = None;
            for candidate in stand_ins() {
                let Some(slot) = slot_mut(json, path) else {
                    break;
                };
                *slot = candidate.clone();
                let errors = self.validator.iter_errors(json).count();
                if best.as_ref().is_none_or(|(least, _)| errors < *least) {
                    best = Some((errors, candidate));
                    if errors == 0 {
                        break;
                    }
                }
            }
            if let (Some((_, value)), Some(slot)) = (best, slot_mut(json, path)) {
                *slot = value;
            }
        }
    }

    fn report(
        &self,
        err: &ValidationError<'_>,
        values: &Value,
        marks: &Marks,
        out: &mut Vec<Violation>,
    ) {
        let path = pointer_to_path(err.instance_path().as_str(), values);
        if marks.unknown.iter().any(|u| path.starts_with(u)) {
            return;
        }
        if let Some(secret) = marks.sensitive.iter().find(|s| path.starts_with(s)) {
            let names_keys = matches!(
                err.kind(),
                ValidationErrorKind::AdditionalProperties { .. }
                    | ValidationErrorKind::UnevaluatedProperties { .. }
                    | ValidationErrorKind::PropertyNames { .. }
            );
            let message = if path.len() == secret.len() && !names_keys {
                message(err, SENSITIVE)
            } else {
                format!("{SENSITIVE} does not match the chart's schema")
            };
            out.push((secret.clone(), message));
            return;
        }
        match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                let known = self.known_keys(err);
                for key in unexpected {
                    let mut at = path.clone();
                    at.push(PathSeg::Key(key.clone()));
                    out.push((at, unknown_key_message(key, &known)));
                }
            }
            _ => out.push((path, message(err, &show(err.instance())))),
        }
    }

    /// The keys the schema object holding the failed `additionalProperties`
    /// declares, for a "did you mean" hint; empty when not found.
    fn known_keys(&self, err: &ValidationError<'_>) -> Vec<String> {
        let keyword = err.schema_path().as_str();
        let Some((parent, _)) = keyword.rsplit_once('/') else {
            return Vec::new();
        };
        self.schema
            .pointer(parent)
            .and_then(|s| s.get("properties"))
            .and_then(Json::as_object)
            .map(|props| props.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Where the unknown and sensitive values sit in the converted document.
#[derive(Default)]
struct Marks {
    unknown: Vec<ValuePath>,
    sensitive: Vec<ValuePath>,
}

/// infra's value as JSON; unknowns (and numbers JSON cannot hold: NaN and
/// the infinities) become `null` and are recorded in `marks.unknown`.
fn to_json(value: &Value, path: &mut ValuePath, marks: &mut Marks) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(x) => serde_json::Number::from_f64(*x).map_or_else(
            || {
                marks.unknown.push(path.clone());
                Json::Null
            },
            Json::Number,
        ),
        Value::String(s) => Json::String(s.clone()),
        Value::List(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    path.push(PathSeg::Index(i));
                    let json = to_json(v, path, marks);
                    path.pop();
                    json
                })
                .collect(),
        ),
        Value::Map(map) => Json::Object(
            map.iter()
                .map(|(k, v)| {
                    path.push(PathSeg::Key(k.clone()));
                    let json = to_json(v, path, marks);
                    path.pop();
                    (k.clone(), json)
                })
                .collect(),
        ),
        Value::Unknown => {
            marks.unknown.push(path.clone());
            Json::Null
        }
        Value::Sensitive(secret) => {
            marks.sensitive.push(path.clone());
            match secret.plaintext() {
                Some(plain) => to_json(plain, path, marks),
                None => {
                    marks.unknown.push(path.clone());
                    Json::Null
                }
            }
        }
    }
}

/// One value of each JSON type, the likeliest first (unknowns are mostly
/// ids, names and endpoints).
fn stand_ins() -> [Json; 7] {
    [
        Json::String(String::new()),
        Json::from(0),
        Json::from(0.5),
        Json::Bool(false),
        Json::Object(serde_json::Map::new()),
        Json::Array(Vec::new()),
        Json::Null,
    ]
}

/// The slot at `path` in a document built by [`to_json`].
fn slot_mut<'a>(json: &'a mut Json, path: &[PathSeg]) -> Option<&'a mut Json> {
    path.iter().try_fold(json, |node, seg| match (node, seg) {
        (Json::Object(map), PathSeg::Key(k)) => map.get_mut(k),
        (Json::Array(items), PathSeg::Index(i)) => items.get_mut(*i),
        _ => None,
    })
}

/// A JSON pointer into the converted document as a path into `values`:
/// whether a segment is a key or an index follows the values themselves,
/// so a key that looks like a number stays a key.
fn pointer_to_path(pointer: &str, values: &Value) -> ValuePath {
    let mut node = Some(values);
    let mut path = Vec::new();
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        let here = node.map(plaintext_of);
        if let (Some(Value::List(items)), Ok(i)) = (here, seg.parse::<usize>()) {
            node = items.get(i);
            path.push(PathSeg::Index(i));
        } else {
            node = here.and_then(|v| v.get(&seg));
            path.push(PathSeg::Key(seg));
        }
    }
    path
}

fn plaintext_of(value: &Value) -> &Value {
    match value {
        Value::Sensitive(s) => s.plaintext().map_or(value, plaintext_of),
        _ => value,
    }
}

/// A value as shown in a message: short scalars, never a table's contents.
fn show(value: &Json) -> String {
    match value {
        Json::String(s) if s.chars().count() > MAX_SHOWN_CHARS => {
            let cut: String = s.chars().take(MAX_SHOWN_CHARS - 1).collect();
            format!("{}…\"", Json::String(cut).to_string().trim_end_matches('"'))
        }
        Json::Object(_) => "a table".into(),
        Json::Array(_) => "a list".into(),
        other => other.to_string(),
    }
}

/// The message for `err`, with `shown` standing for the failing value.
fn message(err: &ValidationError<'_>, shown: &str) -> String {
    match err.kind() {
        ValidationErrorKind::Type { kind } => {
            let types = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            format!("{shown} is not of type {types}")
        }
        ValidationErrorKind::Required { property } => {
            let key = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            format!("missing required key `{key}`")
        }
        ValidationErrorKind::Enum { options } => {
            let listed = match options.as_array() {
                Some(items) => {
                    let mut parts: Vec<String> = items.iter().take(8).map(show).collect();
                    if items.len() > 8 {
                        parts.push("…".into());
                    }
                    parts.join(", ")
                }
                None => show(options),
            };
            format!("{shown} is not one of {listed}")
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!("{shown} is not {}", show(expected_value))
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!("{shown} does not match the pattern `{pattern}`")
        }
        ValidationErrorKind::Format { format } => format!("{shown} is not a valid {format}"),
        ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. } => {
            format!("{shown} matches none of the forms the schema allows")
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            format!("{shown} matches more than one of the forms the schema allows (oneOf)")
        }
        _ => {
            // The library's wording, with the value masked by ours.
            let text = err.masked_with(shown).to_string();
            if text.starts_with(shown) {
                text
            } else {
                lower_first(&text)
            }
        }
    }
}

fn unknown_key_message(key: &str, known: &[String]) -> String {
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, k)) => format!("unknown key `{key}` (did you mean `{k}`?)"),
        None => format!("unknown key `{key}`"),
    }
}

/// "Additional properties…" → "additional properties…", leaving acronyms.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), second)
            if first.is_uppercase() && !second.is_some_and(char::is_uppercase) =>
        {
            first.to_lowercase().chain(text.chars().skip(1)).collect()
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Secret, display_path};
    use serde_json::json;

    use super::*;

    fn check(schema: Json, values: Value, expected: &[&str]) {
        let got: Vec<String> = validate_values(&schema, &values)
            .expect("schema compiles")
            .into_iter()
            .map(|(p, m)| format!("`{}`: {m}", display_path(&p)))
            .collect();
        assert_eq!(got, expected);
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        entries.into_iter().collect()
    }

    fn secret(plain: Value) -> Value {
        Value::Sensitive(Secret::new("hmac-sha256:test", plain))
    }

    #[test]
    fn unknown_leaves_cause_no_errors_even_under_one_of() {
        // The unknown must be a string for the `oneOf` at its parent to hold.
        let schema = json!({
            "type": "object",
            "properties": {
                "db": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["host"],
                    "properties": {"host": {"type": "string", "minLength": 3}, "port": {"type": "integer"}},
                    "oneOf": [
                        {"properties": {"host": {"type": "string"}}},
                        {"properties": {"host": {"type": "integer"}}, "required": ["nope"]}
                    ]
                }
            }
        });
        let values = map(vec![(
            "db",
            map(vec![("host", Value::Unknown), ("port", Value::Unknown)]),
        )]);
        check(schema.clone(), values, &[]);
        // The key of an unknown value is known: an unexpected one is reported.
        let values = map(vec![(
            "db",
            map(vec![("host", Value::Unknown), ("hots", Value::Unknown)]),
        )]);
        check(
            schema,
            values,
            &["`db.hots`: unknown key `hots` (did you mean `host`?)"],
        );
    }

    #[test]
    fn secrets_never_reach_messages() {
        let schema = json!({
            "type": "object",
            "properties": {
                "pass": {"type": "string"},
                "port": {"type": "integer", "minimum": 1},
                "conn": {"type": "object", "additionalProperties": false,
                         "properties": {"user": {"type": "string"}}}
            }
        });
        let values = map(vec![
            ("pass", secret(Value::Int(424242))),
            ("port", secret(Value::from("hunter2"))),
            (
                "conn",
                secret(map(vec![
                    ("user", Value::Int(7777)),
                    ("hunter3", Value::Null),
                ])),
            ),
        ]);
        check(
            schema,
            values,
            &[
                "`conn`: (sensitive) does not match the chart's schema",
                "`pass`: (sensitive) is not of type string",
                "`port`: (sensitive) is not of type integer",
            ],
        );
    }

    #[test]
    fn paths_follow_the_values_not_the_pointer() {
        let schema = json!({
            "type": "object",
            "properties": {
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {"type": "array", "items": {"type": "integer"}}
            }
        });
        let values = map(vec![
            (
                "annotations",
                map(vec![
                    ("eks.amazonaws.com/role-arn", Value::Int(1)),
                    ("0", Value::Bool(true)),
                ]),
            ),
            ("items", Value::List(vec![1.into(), "two".into()])),
        ]);
        let got = validate_values(&schema, &values).unwrap();
        let paths: Vec<&ValuePath> = got.iter().map(|(p, _)| p).collect();
        let key = |k: &str| PathSeg::Key(k.into());
        assert_eq!(
            paths,
            [
                &vec![key("annotations"), key("0")],
                &vec![key("annotations"), key("eks.amazonaws.com/role-arn")],
                &vec![key("items"), PathSeg::Index(1)],
            ]
        );
    }

    #[test]
    fn messages_are_short_and_lowercase() {
        let schema = json!({
            "type": "object",
            "required": ["executor"],
            "properties": {
                "mode": {"enum": ["a", "b"]},
                "name": {"type": "string", "pattern": "^[a-z]+$"},
                "big": {"type": "string"},
                "n": {"type": "integer", "maximum": 3},
                "t": {"type": "string"},
                "fixed": {"const": 1}
            }
        });
        let long = "x".repeat(100);
        let values = map(vec![
            ("mode", "c".into()),
            ("name", "A".into()),
            ("big", Value::Int(1)),
            ("n", 9.into()),
            ("t", map(vec![("k", long.as_str().into())])),
            ("fixed", Value::List(vec![long.as_str().into()])),
        ]);
        check(
            schema,
            values,
            &[
                "``: missing required key `executor`",
                "`big`: 1 is not of type string",
                "`fixed`: a list is not 1",
                "`mode`: \"c\" is not one of \"a\", \"b\"",
                "`n`: 9 is greater than the maximum of 3",
                "`name`: \"A\" does not match the pattern `^[a-z]+$`",
                "`t`: a table is not of type string",
            ],
        );
        assert_eq!(
            show(&Json::String(long)).chars().count(),
            MAX_SHOWN_CHARS + 2
        );
    }

    #[test]
    fn schemas_that_do_not_compile_are_errors_not_panics() {
        for schema in [
            json!({"type": 5}),
            json!({"type": "integr"}),
            json!({"pattern": "("}),
            json!({"$ref": "https://example.com/schema.json"}),
            json!({"$ref": "other.json#/x"}),
            json!({"$ref": "#/definitions/missing"}),
            json!(5),
            json!("schema"),
        ] {
            let result = ValuesSchema::compile(&schema);
            assert!(
                matches!(result, Err(ChartError::InvalidSchema { .. })),
                "{schema}: {result:?}"
            );
        }
    }

    #[test]
    fn odd_values_never_panic() {
        let schema = json!({"type": "object", "properties": {"x": {"type": "number"}}});
        let values = map(vec![
            ("x", Value::Float(f64::NAN)),
            ("y", secret(Value::Unknown)),
            ("z", Value::Sensitive(Secret::redacted("hmac-sha256:x"))),
        ]);
        check(schema.clone(), values, &[]);
        check(schema.clone(), Value::Unknown, &[]);
        check(schema, Value::Int(1), &["``: 1 is not of type object"]);
    }

    #[test]
    fn check_known_reports_what_was_unknown() {
        let schema = json!({"type": "object", "properties": {"replicas": {"type": "integer"}}});
        let s = ValuesSchema::compile(&schema).unwrap();
        let planned = map(vec![("replicas", Value::Unknown)]);
        assert!(s.validate(&planned).is_empty());
        let got = s.check_known(&planned, &map(vec![("replicas", "three".into())]));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, "\"three\" is not of type integer");
        assert!(
            s.check_known(&planned, &map(vec![("replicas", 3.into())]))
                .is_empty()
        );
    }
}
