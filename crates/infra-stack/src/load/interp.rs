//! `${...}` interpolation: splitting strings into text and references,
//! resolving `${var.*}` (with cycle detection) and `${env.*}` at load time,
//! and keeping resource references for the engine.

use std::collections::HashMap;
use std::rc::Rc;

use infra_core::{Diagnostic, MAX_NESTING, Value};

use super::resource::NESTING_HINT;
use super::source::{Kind, MAX_DEPTH, Node, Pos, Table};
use super::{Ctx, closest, is_identifier};
use crate::{Part, Reference};

const SYNTAX_HINT: &str = "write `${var.<name>}`, `${env.<NAME>}` or `${<type>.<name>.<attribute>}`; `$${` is a literal `${`";

/// A piece of a string: literal text or the body of a `${...}`.
#[derive(Debug, PartialEq)]
enum Piece<'s> {
    Text(String),
    /// `start` is the byte offset of the `$` in the string.
    Interp {
        body: &'s str,
        start: usize,
    },
}

/// Splits a string at its `${...}`; `Err` holds the offset of an
/// unterminated `${`.
fn split(s: &str) -> Result<Vec<Piece<'_>>, usize> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while let Some(found) = s[i..].find('$') {
        let at = i + found;
        text.push_str(&s[i..at]);
        let rest = &s[at..];
        if rest.starts_with("$${") {
            text.push_str("${");
            i = at + 3;
        } else if let Some(open) = rest.strip_prefix("${") {
            let Some(len) = open.find('}') else {
                return Err(at);
            };
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Interp {
                body: &open[..len],
                start: at,
            });
            i = at + 2 + len + 1;
        } else {
            text.push('$');
            i = at + 1;
        }
    }
    text.push_str(&s[i..]);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// What a `${...}` refers to.
#[derive(Debug, PartialEq)]
enum Target {
    Var(String),
    Env(String),
    Ref(Reference),
}

/// Classifies the body of a `${...}`; `Err` is the message.
fn classify(body: &str) -> Result<Target, String> {
    let body = body.trim();
    if body.is_empty() {
        return Err("empty interpolation `${}`".into());
    }
    if let Some(name) = body.strip_prefix("var.") {
        return if is_identifier(name) {
            Ok(Target::Var(name.to_owned()))
        } else {
            Err(format!("malformed variable reference `${{{body}}}`"))
        };
    }
    if let Some(name) = body.strip_prefix("env.") {
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return if valid {
            Ok(Target::Env(name.to_owned()))
        } else {
            Err(format!("malformed environment reference `${{{body}}}`"))
        };
    }
    Reference::parse(body)
        .map(Target::Ref)
        .ok_or_else(|| format!("malformed reference `${{{body}}}`"))
}

/// A string after interpolation.
#[derive(Debug)]
pub(super) enum Interpolated {
    /// No resource references: the text, or the typed value of the single
    /// `${var.*}` the string consisted of.
    Value(Value),
    /// The string was exactly one resource reference.
    Ref(Reference),
    /// Text mixed with resource references.
    Template(Vec<Part>),
}

/// The result of interpolating a string, with where each resource
/// reference was written (for checking it).
#[derive(Debug)]
pub(super) struct Interpolation {
    pub value: Interpolated,
    pub refs: Vec<(Reference, Pos)>,
}

enum VarState {
    InProgress,
    Done(Option<Value>),
}

/// The `[vars]` table and what has been resolved of it.
#[derive(Default)]
pub(super) struct Vars {
    nodes: Rc<Table>,
    state: HashMap<String, VarState>,
    /// The variables being resolved, outermost first: the cycle path.
    stack: Vec<String>,
    /// Whether a too-long chain was reported (once is enough).
    too_deep: bool,
}

impl Vars {
    pub(super) fn new(nodes: Table) -> Self {
        Vars {
            nodes: Rc::new(nodes),
            ..Vars::default()
        }
    }

    pub(super) fn names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }
}

impl Ctx<'_> {
    /// Interpolates a string written at `pos`. `None` when an error was
    /// reported (or a variable it uses failed earlier).
    pub(super) fn interpolate(&mut self, s: &str, pos: Pos, depth: usize) -> Option<Interpolation> {
        if !s.contains('$') {
            // Plain text, the common case: what `split` would make of it.
            return Some(Interpolation {
                value: Interpolated::Value(Value::String(s.to_owned())),
                refs: Vec::new(),
            });
        }
        let pieces = match split(s) {
            Ok(pieces) => pieces,
            Err(at) => {
                let loc = self.sources.location(self.sources.inner_pos(pos, s, at));
                self.diags.push(
                    Diagnostic::error("unterminated `${` in string")
                        .at(loc)
                        .hint("close it with `}`, or write `$${` for a literal `${`"),
                );
                return None;
            }
        };
        let exact = pieces.len() == 1;
        let mut parts: Vec<Part> = Vec::new();
        let mut refs = Vec::new();
        let mut failed = false;
        for piece in pieces {
            let (body, start) = match piece {
                Piece::Text(t) => {
                    push_text(&mut parts, &t);
                    continue;
                }
                Piece::Interp { body, start } => (body, start),
            };
            let at = self.sources.inner_pos(pos, s, start);
            let target = match classify(body) {
                Ok(t) => t,
                Err(message) => {
                    let loc = self.sources.location(at);
                    self.diags
                        .push(Diagnostic::error(message).at(loc).hint(SYNTAX_HINT));
                    failed = true;
                    continue;
                }
            };
            match target {
                Target::Var(name) => {
                    let Some(value) = self.resolve_var(&name, at, depth + 1) else {
                        failed = true;
                        continue;
                    };
                    if exact {
                        return Some(Interpolation {
                            value: Interpolated::Value(value),
                            refs,
                        });
                    }
                    match value {
                        Value::String(v) => push_text(&mut parts, &v),
                        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                            push_text(&mut parts, &value.to_string());
                        }
                        other => {
                            let loc = self.sources.location(at);
                            self.diags.push(
                                Diagnostic::error(format!(
                                    "cannot interpolate `var.{name}` into a string: it is a {}",
                                    other.kind()
                                ))
                                .at(loc)
                                .hint(format!("use it as the whole value: `\"${{var.{name}}}\"`")),
                            );
                            failed = true;
                        }
                    }
                }
                Target::Env(name) => match (self.env)(&name) {
                    Some(v) => push_text(&mut parts, &v),
                    None => {
                        let loc = self.sources.location(at);
                        self.diags.push(
                            Diagnostic::error(format!("environment variable `{name}` is not set"))
                                .at(loc)
                                .hint(format!("set it before running, e.g. `export {name}=...`")),
                        );
                        failed = true;
                    }
                },
                Target::Ref(r) => {
                    refs.push((r.clone(), at));
                    parts.push(Part::Ref(r));
                }
            }
        }
        if failed {
            return None;
        }
        let value = if parts.len() > 1 {
            Interpolated::Template(parts)
        } else {
            match parts.pop() {
                None => Interpolated::Value(Value::String(String::new())),
                Some(Part::Text(t)) => Interpolated::Value(Value::String(t)),
                Some(Part::Ref(r)) => Interpolated::Ref(r),
            }
        };
        Some(Interpolation { value, refs })
    }

    /// The value of `var.<name>`, used at `at`. Errors are reported once,
    /// at the variable's definition; later uses just get `None`.
    pub(super) fn resolve_var(&mut self, name: &str, at: Pos, depth: usize) -> Option<Value> {
        match self.vars.state.get(name) {
            Some(VarState::Done(v)) => return v.clone(),
            Some(VarState::InProgress) => {
                let from = self.vars.stack.iter().position(|n| n == name).unwrap_or(0);
                let mut chain: Vec<String> = self.vars.stack[from..]
                    .iter()
                    .map(|n| format!("var.{n}"))
                    .collect();
                chain.push(format!("var.{name}"));
                let pos = self.vars.nodes.get(name).map_or(at, |e| e.value.pos);
                let loc = self.sources.location(pos);
                self.diags.push(
                    Diagnostic::error(format!("variable cycle: {}", chain.join(" -> ")))
                        .at(loc)
                        .hint("give one of these variables a value that does not refer back"),
                );
                return None;
            }
            None => {}
        }
        let nodes = Rc::clone(&self.vars.nodes);
        let Some(entry) = nodes.get(name) else {
            let names = self.vars.names();
            let hint = match closest(name, names.iter().map(String::as_str)) {
                Some(c) => format!("did you mean `var.{c}`?"),
                None => format!("declare it under `[vars]`: `{name} = ...`"),
            };
            let loc = self.sources.location(at);
            self.diags.push(
                Diagnostic::error(format!("unknown variable `var.{name}`"))
                    .at(loc)
                    .hint(hint),
            );
            return None;
        };
        // Each step through a variable nests the loader's recursion, which
        // shares one depth budget with the values themselves.
        if depth >= MAX_DEPTH {
            if !self.vars.too_deep {
                self.vars.too_deep = true;
                let loc = self.sources.location(at);
                self.diags.push(
                    Diagnostic::error("variables refer to each other too deeply")
                        .at(loc)
                        .hint("shorten the chain of `${var.*}` references"),
                );
            }
            return None;
        }
        self.vars
            .state
            .insert(name.to_owned(), VarState::InProgress);
        self.vars.stack.push(name.to_owned());
        let mut value = self.node_to_value(&entry.value, "`[vars]`", depth + 1);
        // Refused at the definition, which is where to flatten it; with
        // variables inside counted, as they are in the value.
        if let Some(nesting) = value.as_ref().map(Value::nesting)
            && nesting > MAX_NESTING
        {
            let loc = self.sources.location(entry.value.pos);
            self.diags.push(
                Diagnostic::error(format!(
                    "value nested too deeply: `var.{name}` is {nesting} lists and tables deep, more than {MAX_NESTING}"
                ))
                .at(loc)
                .hint(NESTING_HINT),
            );
            value = None;
        }
        self.vars.stack.pop();
        self.vars
            .state
            .insert(name.to_owned(), VarState::Done(value.clone()));
        value
    }

    /// Converts a value outside resources (`[vars]`, settings, `state`) to a
    /// plain value, interpolating strings. Resource references are errors
    /// there: such values are needed before any resource exists.
    pub(super) fn node_to_value(
        &mut self,
        node: &Node,
        section: &str,
        depth: usize,
    ) -> Option<Value> {
        if depth > MAX_DEPTH {
            let loc = self.sources.location(node.pos);
            // Trees from `source` are capped below this, so only a chain of
            // variables (each step counts) gets here.
            self.diags.push(
                Diagnostic::error("variables and the values they hold nest too deeply")
                    .at(loc)
                    .hint("shorten the chain of `${var.*}` references, or flatten the value"),
            );
            return None;
        }
        match &node.kind {
            Kind::String(s) => {
                let interp = self.interpolate(s, node.pos, depth)?;
                for (r, pos) in &interp.refs {
                    let loc = self.sources.location(*pos);
                    self.diags.push(
                        Diagnostic::error(format!(
                            "resource reference `${{{r}}}` in {section}"
                        ))
                        .at(loc)
                        .hint(format!(
                            "{section} is resolved when the stack loads, before resources exist; refer to `{r}` from a resource's inputs instead"
                        )),
                    );
                }
                match interp.value {
                    Interpolated::Value(v) => Some(v),
                    Interpolated::Ref(_) | Interpolated::Template(_) => None,
                }
            }
            Kind::Int(i) => Some(Value::Int(*i)),
            Kind::Float(x) => Some(Value::Float(*x)),
            Kind::Bool(b) => Some(Value::Bool(*b)),
            Kind::Datetime(d) => Some(Value::String(d.clone())),
            Kind::Array(items) => {
                let values: Vec<Option<Value>> = items
                    .iter()
                    .map(|item| self.node_to_value(item, section, depth + 1))
                    .collect();
                values
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Value::List)
            }
            Kind::Table(table) => {
                let values: Vec<(String, Option<Value>)> = table
                    .iter()
                    .map(|(k, e)| (k.clone(), self.node_to_value(&e.value, section, depth + 1)))
                    .collect();
                values
                    .into_iter()
                    .map(|(k, v)| v.map(|v| (k, v)))
                    .collect::<Option<_>>()
                    .map(Value::Map)
            }
            Kind::Invalid => None,
        }
    }
}

/// Appends text, joining it to a preceding text part.
fn push_text(parts: &mut Vec<Part>, text: &str) {
    if let Some(Part::Text(t)) = parts.last_mut() {
        t.push_str(text);
    } else {
        parts.push(Part::Text(text.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_strings() {
        assert_eq!(
            split("a-${var.x}-$${b}-$$-${ c.d.e }").unwrap(),
            vec![
                Piece::Text("a-".into()),
                Piece::Interp {
                    body: "var.x",
                    start: 2
                },
                Piece::Text("-${b}-$$-".into()),
                Piece::Interp {
                    body: " c.d.e ",
                    start: 20
                },
            ]
        );
        assert_eq!(split("x ${var.y").unwrap_err(), 2);
        assert_eq!(split("").unwrap(), vec![]);
        assert_eq!(split("é$").unwrap(), vec![Piece::Text("é$".into())]);
    }

    #[test]
    fn classifies_bodies() {
        assert_eq!(classify(" var.x "), Ok(Target::Var("x".into())));
        assert_eq!(classify("env.HOME_1"), Ok(Target::Env("HOME_1".into())));
        assert!(matches!(classify("a.b.c"), Ok(Target::Ref(_))));
        for bad in ["", " ", "var.", "var.a.b", "env.", "env.A-B", "a.b", "a"] {
            assert!(classify(bad).is_err(), "{bad:?}");
        }
    }
}
