//! Evaluating input expressions into values, given what is known of the
//! resources they reference.

use std::collections::BTreeMap;

use infra_core::{PathSeg, Value, display_path};
use infra_stack::{Expr, Part, Reference};

use crate::secrets::SecretKey;

/// What is known of referenced resources.
pub(crate) trait Resolve {
    /// The referenced attribute (input or output), `Unknown` when it is
    /// known only after apply.
    fn attribute(&self, reference: &Reference) -> Result<Value, String>;
}

/// Evaluates expressions; collects the names of unset `from_env` variables.
pub(crate) struct Evaluator<'a> {
    pub(crate) key: &'a SecretKey,
    pub(crate) resolver: &'a dyn Resolve,
    pub(crate) missing_env: Vec<String>,
}

impl Evaluator<'_> {
    pub(crate) fn eval(&mut self, expr: &Expr) -> Result<Value, String> {
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
                    .map(|e| self.eval(e))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Map(m) => Value::Map(
                m.iter()
                    .map(|(k, e)| Ok((k.clone(), self.eval(e)?)))
                    .collect::<Result<BTreeMap<_, _>, String>>()?,
            ),
            Expr::FromEnv { var, value } => match value {
                Some(v) => self.key.seal(Value::String(v.clone())),
                None => {
                    self.missing_env.push(var.clone());
                    Value::Unknown
                }
            },
        })
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
