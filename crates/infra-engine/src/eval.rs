//! Evaluating input expressions into values, given what is known of the
//! resources they reference.

use std::collections::BTreeMap;

use infra_core::{PathSeg, Value, ValuePath, display_path};
use infra_stack::{Expr, Part, Reference};

use crate::secrets::SecretKey;

/// What is known of referenced resources.
pub(crate) trait Resolve {
    /// The referenced attribute (input or output), `Unknown` when it is
    /// known only after apply.
    fn attribute(&self, reference: &Reference) -> Result<Value, String>;
}

/// A `from_env` input whose variable is unset: where in the inputs its
/// (unknown) value is, and the variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unset {
    pub(crate) path: ValuePath,
    pub(crate) var: String,
}

/// Evaluates expressions; collects the unset `from_env` variables and
/// where their values go.
pub(crate) struct Evaluator<'a> {
    pub(crate) key: &'a SecretKey,
    pub(crate) resolver: &'a dyn Resolve,
    pub(crate) unset: Vec<Unset>,
}

/// One step of the path being evaluated, borrowed from the expression.
#[derive(Clone, Copy)]
enum Step<'e> {
    Key(&'e str),
    Index(usize),
}

impl Evaluator<'_> {
    /// Evaluates the input `name` of a resource.
    pub(crate) fn eval_input(&mut self, name: &str, expr: &Expr) -> Result<Value, String> {
        self.eval(expr, &mut vec![Step::Key(name)])
    }

    fn eval<'e>(&mut self, expr: &'e Expr, at: &mut Vec<Step<'e>>) -> Result<Value, String> {
        Ok(match expr {
            Expr::Literal(v) => v.clone(),
            Expr::Ref(r) => self.resolve(r)?,
            Expr::Template(parts) => {
                let mut out = String::new();
                let mut sensitive = false;
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(t),
                        Part::Ref(r) => match self.resolve(r)? {
                            Value::Unknown => return Ok(Value::Unknown),
                            Value::Sensitive(s) => match s.plaintext() {
                                Some(v) => {
                                    sensitive = true;
                                    out.push_str(&stringify(v, r)?);
                                }
                                None => return Ok(Value::Unknown),
                            },
                            v => out.push_str(&stringify(&v, r)?),
                        },
                    }
                }
                if sensitive {
                    self.key.seal(Value::String(out))
                } else {
                    Value::String(out)
                }
            }
            Expr::List(items) => Value::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, e)| self.eval_at(Step::Index(i), e, at))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Map(m) => Value::Map(
                m.iter()
                    .map(|(k, e)| Ok((k.clone(), self.eval_at(Step::Key(k), e, at)?)))
                    .collect::<Result<BTreeMap<_, _>, String>>()?,
            ),
            Expr::FromEnv { var, value } => match value {
                Some(v) => self.key.seal(Value::String(v.clone())),
                None => {
                    let path = at
                        .iter()
                        .map(|s| match *s {
                            Step::Key(k) => PathSeg::Key(k.to_owned()),
                            Step::Index(i) => PathSeg::Index(i),
                        })
                        .collect();
                    self.unset.push(Unset {
                        path,
                        var: var.clone(),
                    });
                    Value::Unknown
                }
            },
        })
    }

    /// Evaluates `expr`, one `step` below `at`.
    fn eval_at<'e>(
        &mut self,
        step: Step<'e>,
        expr: &'e Expr,
        at: &mut Vec<Step<'e>>,
    ) -> Result<Value, String> {
        at.push(step);
        let v = self.eval(expr, at);
        at.pop();
        v
    }

    fn resolve(&self, r: &Reference) -> Result<Value, String> {
        let value = self.resolver.attribute(r)?;
        // The resolver picks the attribute; the rest of the path goes inside it.
        if r.path.len() <= 1 {
            return Ok(value);
        }
        navigate(&value, &r.path[1..], self.key).ok_or_else(|| {
            format!(
                "`{r}` does not exist: `{}` has no `{}`",
                r.address,
                display_path(&r.path)
            )
        })
    }
}

/// Walks a path into a value; unknowns stay unknown, secrets stay sealed.
fn navigate(value: &Value, path: &[PathSeg], key: &SecretKey) -> Option<Value> {
    if path.is_empty() {
        return Some(value.clone());
    }
    match value {
        Value::Unknown => Some(Value::Unknown),
        Value::Sensitive(s) => match s.plaintext() {
            Some(v) => navigate(v, path, key).map(|v| key.seal(v)),
            None => Some(Value::Unknown),
        },
        v => navigate(v.at(&path[..1])?, &path[1..], key),
    }
}

fn stringify(v: &Value, r: &Reference) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(x) => Ok(x.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "`${{{r}}}` is a {} and cannot be put inside a string; use the reference alone as the whole value",
            other.kind()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    impl Resolve for Nothing {
        fn attribute(&self, reference: &Reference) -> Result<Value, String> {
            Err(format!("no `{reference}`"))
        }
    }

    #[test]
    fn unset_variables_are_noted_where_their_values_go() {
        let env = |var: &str, value: Option<&str>| Expr::FromEnv {
            var: var.to_owned(),
            value: value.map(str::to_owned),
        };
        let expr = Expr::Map(
            [
                ("set".to_owned(), env("SET", Some("s"))),
                (
                    "list".to_owned(),
                    Expr::List(vec![Expr::Literal(Value::Int(1)), env("ITEM", None)]),
                ),
                ("token".to_owned(), env("TOKEN", None)),
            ]
            .into_iter()
            .collect(),
        );
        let key = SecretKey::from_bytes(b"k");
        let mut eval = Evaluator {
            key: &key,
            resolver: &Nothing,
            unset: Vec::new(),
        };
        let v = eval.eval_input("payload", &expr).unwrap();
        assert_eq!(v.get("token"), Some(&Value::Unknown));
        assert!(matches!(v.get("set"), Some(Value::Sensitive(_))));
        assert_eq!(
            eval.eval_input("password", &env("PW", None)),
            Ok(Value::Unknown)
        );
        let noted: Vec<(String, &str)> = eval
            .unset
            .iter()
            .map(|u| (display_path(&u.path), u.var.as_str()))
            .collect();
        assert_eq!(
            noted,
            [
                ("payload.list[1]".to_owned(), "ITEM"),
                ("payload.token".to_owned(), "TOKEN"),
                ("password".to_owned(), "PW"),
            ]
        );
    }
}
