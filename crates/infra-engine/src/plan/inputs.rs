//! One resource's inputs: evaluated, checked against the schema and the
//! provider, and with ignored paths (and attributes the cloud owns after
//! create) kept from state.

use std::collections::BTreeMap;

use infra_core::{
    CheckContext, Diagnostic, PathSeg, Provider, Schema, Value, ValuePath, display_path,
};
use infra_stack::{Lifecycle, ResourceConfig, Stack};

use crate::eval::{Evaluator, Resolve, Unset};
use crate::secrets::SecretKey;

/// What a provider's plan-time checks see of `stack`.
pub(crate) fn check_context<'a>(stack: &'a Stack, provider: &dyn Provider) -> CheckContext<'a> {
    static NONE: Value = Value::Null;
    CheckContext {
        root: &stack.root,
        settings: provider
            .settings_section()
            .and_then(|s| stack.settings.get(s))
            .unwrap_or(&NONE),
    }
}

/// Evaluates one resource's inputs and checks them against its schema and
/// the provider's own checks; `missing_env` gets the unset `from_env`
/// variables.
pub(crate) fn desired_inputs(
    config: &ResourceConfig,
    provider: &dyn Provider,
    project: &CheckContext<'_>,
    key: &SecretKey,
    resolver: &dyn Resolve,
    problems: &mut Vec<Diagnostic>,
    missing_env: &mut Vec<String>,
) -> Option<Value> {
    let mut unset = Vec::new();
    let inputs = desired_inputs_noting_unset(
        config, provider, project, key, resolver, problems, &mut unset,
    );
    missing_env.extend(unset.into_iter().map(|u| u.var));
    inputs
}

/// [`desired_inputs`], noting also where in the inputs the value of each
/// unset `from_env` variable goes.
pub(crate) fn desired_inputs_noting_unset(
    config: &ResourceConfig,
    provider: &dyn Provider,
    project: &CheckContext<'_>,
    key: &SecretKey,
    resolver: &dyn Resolve,
    problems: &mut Vec<Diagnostic>,
    unset: &mut Vec<Unset>,
) -> Option<Value> {
    let schema = provider.schema();
    let mut eval = Evaluator {
        key,
        resolver,
        unset: Vec::new(),
    };
    let mut inputs = BTreeMap::new();
    let mut ok = true;
    for (name, expr) in &config.inputs {
        match eval.eval_input(name, expr) {
            // A reference keeps its value's type, so references to deep
            // values can build one deeper than the loader let through;
            // state must be able to hold and read back whatever is applied.
            Ok(v) if v.nesting() > infra_core::MAX_NESTING => {
                ok = false;
                let path = [PathSeg::Key(name.clone())];
                let message = format!(
                    "value nested too deeply: `{name}` evaluates to {} lists and tables deep, more than {}",
                    v.nesting(),
                    infra_core::MAX_NESTING
                );
                problems.push(
                    located(Diagnostic::error(message), config, &path).hint(
                        "flatten the value: the references it is built from are deep already",
                    ),
                );
            }
            Ok(v) => {
                let v = match schema.input(name) {
                    Some(attr) if attr.sensitive => key.seal(v),
                    _ => v,
                };
                inputs.insert(name.clone(), v);
            }
            Err(message) => {
                ok = false;
                let path = [PathSeg::Key(name.clone())];
                problems.push(located(Diagnostic::error(message), config, &path));
            }
        }
    }
    unset.append(&mut eval.unset);
    if !ok {
        return None;
    }
    for attr in &schema.attributes {
        if let infra_core::Presence::Default(d) = &attr.presence {
            inputs.entry(attr.name.clone()).or_insert_with(|| d.clone());
        }
    }
    let inputs = Value::Map(inputs);
    for attr in &schema.attributes {
        if let Some(v) = inputs.get(&attr.name) {
            for m in attr.ty.check(v) {
                let mut path = vec![PathSeg::Key(attr.name.clone())];
                path.extend(m.path.iter().cloned());
                let message = format!(
                    "`{}` expects {}, but the value is {}",
                    display_path(&path),
                    m.expected,
                    m.found
                );
                problems.push(located(Diagnostic::error(message), config, &path));
                ok = false;
            }
        } else if attr.presence == infra_core::Presence::Required {
            problems.push(
                located(
                    Diagnostic::error(format!("missing required attribute `{}`", attr.name)),
                    config,
                    &[],
                )
                .hint(format!("add `{} = ...` to {}", attr.name, config.address)),
            );
            ok = false;
        }
    }
    for name in inputs.as_map().into_iter().flat_map(|m| m.keys()) {
        if schema.input(name).is_none() {
            problems.push(located(
                Diagnostic::error(format!(
                    "unknown attribute `{name}` for `{}`",
                    schema.type_name
                )),
                config,
                &[PathSeg::Key(name.clone())],
            ));
            ok = false;
        }
    }
    if ok {
        let rules = schema.validate(&inputs);
        for (path, message) in rules
            .into_iter()
            .chain(provider.validate_in(project, &inputs))
        {
            problems.push(located(Diagnostic::error(message), config, &path));
            ok = false;
        }
    }
    ok.then_some(inputs)
}

pub(super) fn located(d: Diagnostic, config: &ResourceConfig, path: &[PathSeg]) -> Diagnostic {
    let d = d.on(config.address.clone());
    match config.location_of(path) {
        Some(l) => d.at(l.clone()),
        None => d,
    }
}

/// Copies the prior value at an ignored path into the desired inputs.
pub(crate) fn keep_prior(after: &mut Value, prior: &Value, path: &[PathSeg]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = after;
    for seg in parents {
        cur = match (cur, seg) {
            (Value::Map(m), PathSeg::Key(k)) => match m.get_mut(k) {
                Some(v) => v,
                None => return,
            },
            (Value::List(l), PathSeg::Index(i)) => match l.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    let old = prior.at(path).cloned();
    match (cur, last, old) {
        (Value::Map(m), PathSeg::Key(k), Some(v)) => {
            m.insert(k.clone(), v);
        }
        (Value::Map(m), PathSeg::Key(k), None) => {
            m.remove(k);
        }
        (Value::List(l), PathSeg::Index(i), Some(v)) if *i < l.len() => l[*i] = v,
        _ => {}
    }
}

/// The attributes the schema sets only at create that the stack does not
/// own (`lifecycle.own`): once the resource exists they are the cloud's,
/// and are planned and updated as if in `lifecycle.ignore_changes`.
pub(crate) fn cloud_owned(schema: &Schema, lifecycle: &Lifecycle) -> Vec<ValuePath> {
    schema
        .set_at_create_paths()
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| !lifecycle.own.contains(path))
        .collect()
}

/// Copies into the desired inputs the recorded value at each of `paths`
/// that state has one for; a value state lacks (never read back) stays
/// as the stack says.
pub(crate) fn keep_recorded(after: &mut Value, recorded: &Value, paths: &[ValuePath]) {
    for path in paths {
        if recorded.at(path).is_some_and(|v| !matches!(v, Value::Null)) {
            keep_prior(after, recorded, path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ignore_changes_keeps_prior_values() {
        let mut after = v(r#"{"tags": {"x": "new"}, "size": 2}"#);
        keep_prior(
            &mut after,
            &v(r#"{"tags": {"x": "old"}, "size": 1}"#),
            &[PathSeg::Key("tags".into()), PathSeg::Key("x".into())],
        );
        assert_eq!(after, v(r#"{"tags": {"x": "old"}, "size": 2}"#));
    }

    #[test]
    fn recorded_values_are_kept_only_where_state_has_one() {
        let desired = [
            PathSeg::Key("scaling".into()),
            PathSeg::Key("desired".into()),
        ];
        let mut after = v(r#"{"scaling": {"desired": 3, "max": 9}}"#);
        keep_recorded(
            &mut after,
            &v(r#"{"scaling": {"desired": 7, "max": 5}}"#),
            std::slice::from_ref(&desired.to_vec()),
        );
        assert_eq!(after, v(r#"{"scaling": {"desired": 7, "max": 9}}"#));
        let mut after = v(r#"{"scaling": {"desired": 3}}"#);
        keep_recorded(
            &mut after,
            &v(r#"{"scaling": {"desired": null}}"#),
            &[desired.to_vec()],
        );
        assert_eq!(
            after,
            v(r#"{"scaling": {"desired": 3}}"#),
            "nothing recorded"
        );
    }
}
