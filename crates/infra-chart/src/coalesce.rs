//! The values helm validates: a release's values coalesced with the chart's
//! `values.yaml`, by helm's rules (Helm 4.1 `pkg/chart/common/util/coalesce.go`,
//! `CoalesceValues`; Helm 3 behaves the same for what follows).
//!
//! - A key the release does not set takes the chart's default (a `null`
//!   default included).
//! - Tables are merged key by key; any other value of the release replaces
//!   the default (lists are not merged; a table over a scalar default, or a
//!   scalar over a table default, is the release's value as it is).
//! - A release value of `null` deletes the key, so that the default is gone
//!   rather than replaced: at the top level whenever the chart has the key,
//!   inside tables when the chart's default is not itself `null`. A `null`
//!   the chart does not default stays `null`, and is validated as one.
//!
//! - Under the key of a subchart (a dependency's name or alias in
//!   Chart.yaml) tables are merged with nulls kept: helm coalesces that
//!   table again with the subchart's own values.yaml, which this crate does
//!   not read, so a null there is kept as it is when the subchart has no
//!   default for it and may be deleted by helm otherwise. helm also adds a
//!   table per dependency and copies `global` into it; neither is modelled.
//!
//! Unknown values are taken as the non-null leaves they will be; a secret
//! is coalesced as its plaintext and stays a secret (under its digest).

use std::collections::BTreeMap;

use infra_core::{Secret, Value};

/// `values` (a release's) coalesced with `defaults` (the chart's
/// `values.yaml`), as helm does before it validates and renders;
/// `subcharts` are the keys of the chart's dependencies. A `values` that
/// is not a table (unknown, say) is returned as it is.
pub fn coalesce(defaults: &Value, subcharts: &[String], values: &Value) -> Value {
    match (plain(values), defaults) {
        (Plain::Map(user), Value::Map(defaults)) => {
            rewrap(values, Value::Map(top(user.clone(), defaults, subcharts)))
        }
        _ => values.clone(),
    }
}

/// What coalescing sees of a value: secrets by their plaintext.
enum Plain<'a> {
    Null,
    Map(&'a BTreeMap<String, Value>),
    Other,
}

fn plain(value: &Value) -> Plain<'_> {
    match value {
        Value::Null => Plain::Null,
        Value::Map(m) => Plain::Map(m),
        Value::Sensitive(s) => s.plaintext().map_or(Plain::Other, plain),
        _ => Plain::Other,
    }
}

/// `merged` in place of `original`'s plaintext: a secret stays a secret.
fn rewrap(original: &Value, merged: Value) -> Value {
    match original {
        Value::Sensitive(s) => match s.plaintext() {
            Some(inner) => Value::Sensitive(Secret::new(s.digest(), rewrap(inner, merged))),
            None => original.clone(),
        },
        _ => merged,
    }
}

/// helm's `coalesceValues`: the release's top-level table over the chart's.
fn top(
    mut user: BTreeMap<String, Value>,
    defaults: &BTreeMap<String, Value>,
    subcharts: &[String],
) -> BTreeMap<String, Value> {
    for (key, default) in defaults {
        let Some(given) = user.get(key) else {
            user.insert(key.clone(), default.clone());
            continue;
        };
        match (plain(given), default) {
            (Plain::Null, _) => {
                user.remove(key);
            }
            (Plain::Map(table), Value::Map(default)) => {
                let keep_nulls = subcharts.contains(key);
                let merged = rewrap(
                    given,
                    Value::Map(nested(table.clone(), default, keep_nulls)),
                );
                user.insert(key.clone(), merged);
            }
            _ => {}
        }
    }
    user
}

/// helm's `coalesceTablesFullKey`: a release's table (below the top level)
/// over the chart's; `keep_nulls` is helm's `merge` (under a subchart).
fn nested(
    mut user: BTreeMap<String, Value>,
    defaults: &BTreeMap<String, Value>,
    keep_nulls: bool,
) -> BTreeMap<String, Value> {
    for (key, default) in defaults {
        let Some(given) = user.get(key) else {
            user.insert(key.clone(), default.clone());
            continue;
        };
        match (plain(given), default) {
            (Plain::Null, Value::Null) => {}
            (Plain::Null, _) if keep_nulls => {}
            (Plain::Null, _) => {
                user.remove(key);
            }
            (Plain::Map(table), Value::Map(default)) => {
                let merged = rewrap(
                    given,
                    Value::Map(nested(table.clone(), default, keep_nulls)),
                );
                user.insert(key.clone(), merged);
            }
            _ => {}
        }
    }
    user
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v(j: serde_json::Value) -> Value {
        Value::from_json(j)
    }

    #[test]
    fn defaults_fill_in_and_tables_merge() {
        let defaults = v(json!({
            "executor": "CeleryExecutor",
            "workers": {"replicas": 1, "resources": {}, "args": ["a", "b"]},
            "host": null
        }));
        let given = v(json!({"workers": {"replicas": 3, "args": ["c"]}, "extra": 1}));
        assert_eq!(
            coalesce(&defaults, &[], &given),
            v(json!({
                "executor": "CeleryExecutor",
                "workers": {"replicas": 3, "resources": {}, "args": ["c"]},
                "host": null,
                "extra": 1
            }))
        );
    }

    #[test]
    fn nulls_delete_defaults_as_helm_does() {
        let defaults = v(json!({
            "executor": "CeleryExecutor",
            "unset": null,
            "workers": {"replicas": 1, "command": null},
            "config": {"core": {"parallelism": 32}}
        }));
        let given = v(json!({
            "executor": null,
            "unset": null,
            "workers": {"replicas": null, "command": null},
            "config": {"core": {"extra": null}},
            "mine": null
        }));
        assert_eq!(
            coalesce(&defaults, &[], &given),
            v(json!({
                // Deleted at the top level, whatever the default was.
                // Inside tables only over a non-null default.
                "workers": {"command": null},
                "config": {"core": {"parallelism": 32, "extra": null}},
                "mine": null
            }))
        );
    }

    #[test]
    fn nulls_under_a_subchart_are_kept() {
        let defaults = v(json!({"postgresql": {"enabled": true, "auth": {"username": "u"}}}));
        let given = v(json!({"postgresql": {"auth": {"username": null}}}));
        let subcharts = ["postgresql".to_owned()];
        assert_eq!(
            coalesce(&defaults, &subcharts, &given),
            v(json!({"postgresql": {"enabled": true, "auth": {"username": null}}}))
        );
        assert_eq!(
            coalesce(&defaults, &[], &given),
            v(json!({"postgresql": {"enabled": true, "auth": {}}}))
        );
    }

    #[test]
    fn the_release_value_wins_over_a_default_of_another_shape() {
        let defaults = v(json!({"workers": {"replicas": 1}, "executor": "CeleryExecutor"}));
        let given = v(json!({"workers": "many", "executor": {"name": "x"}}));
        assert_eq!(coalesce(&defaults, &[], &given), given);
    }

    #[test]
    fn unknowns_and_secrets_keep_their_markers() {
        let defaults = v(json!({"data": {"pass": "postgres", "port": 5432}, "host": "h"}));
        let secret = Value::Sensitive(Secret::new("hmac:1", v(json!({"pass": "s3cr3t"}))));
        let given: Value = [("data", secret), ("host", Value::Unknown)]
            .into_iter()
            .collect();
        let merged = coalesce(&defaults, &[], &given);
        assert_eq!(merged.get("host"), Some(&Value::Unknown));
        let Some(Value::Sensitive(s)) = merged.get("data") else {
            panic!("the secret is still one: {merged:?}");
        };
        assert_eq!(s.digest(), "hmac:1");
        assert_eq!(
            s.plaintext(),
            Some(&v(json!({"pass": "s3cr3t", "port": 5432})))
        );
        // A secret null deletes like any null; unknown values are left alone.
        let given: Value = [("host", Value::Sensitive(Secret::new("hmac:2", Value::Null)))]
            .into_iter()
            .collect();
        assert_eq!(coalesce(&defaults, &[], &given).get("host"), None);
        assert_eq!(coalesce(&defaults, &[], &Value::Unknown), Value::Unknown);
    }
}
