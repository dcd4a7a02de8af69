//! Attribute-level differences between input maps.

use std::collections::BTreeSet;

use infra_core::{Change, PathSeg, Schema, Value, ValuePath, display_path};

use super::AttrChange;

/// Attribute-level differences between two input maps: maps are compared
/// key by key, lists of equal length item by item, anything else whole.
pub(crate) fn diff(schema: &Schema, before: &Value, after: &Value) -> Vec<AttrChange> {
    // Usually one change per attribute at most (nested maps may add more).
    let mut out = Vec::with_capacity(after.as_map().map_or(0, |m| m.len()));
    // Sets in canonical order, so that reordering one is no change.
    let (before, after) = (schema.normalize(before), schema.normalize(after));
    diff_into(
        schema,
        &mut Vec::new(),
        Some(&before),
        Some(&after),
        &mut out,
    );
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
        // A set changes as a whole: its positions mean nothing.
        (Some(Value::List(a)), Some(Value::List(b)))
            if a.len() == b.len() && !path.is_empty() && !schema.is_set_at(path) =>
        {
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
            note: None,
        }),
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
}
