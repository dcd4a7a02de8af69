//! IAM policy documents: written in the stack as TOML tables, checked at
//! plan time (each problem at its element), sent to IAM as JSON, read back
//! from IAM's URL-encoded text, and compared as IAM means them, so that a
//! document IAM returns in another spelling is no drift.
//!
//! What [`same_policy`] treats as the same, following IAM:
//! - key order, and the order of statements and of the items of `Action`,
//!   `NotAction`, `Resource`, `NotResource`, principal and condition value
//!   lists (IAM evaluates them as sets; repeats are ignored);
//! - a lone string and a one-element list, for those same elements;
//! - a lone statement table and a one-statement list;
//! - `Principal = "*"` and `Principal = { AWS = "*" }`;
//! - an account id `123456789012` and `arn:<partition>:iam::123456789012:root`
//!   among `AWS` principals (IAM stores trust policies with the ARN);
//! - condition values `true` / `10` and `"true"` / `"10"` (IAM compares
//!   condition values as strings);
//! - a missing `Version` and `"2008-10-17"`, which is what IAM assumes
//!   without one (but not `"2012-10-17"`: policy variables differ).

use std::collections::{BTreeMap, BTreeSet};

use infra_core::{Fields, PathSeg, Phase, Value, ValuePath, display_path};

/// Which policy a document is; it decides which elements a statement needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A role's trust policy: who may assume it (`Principal`, no `Resource`).
    Trust,
    /// A permissions policy: what may be done to what (`Resource`, no
    /// `Principal`).
    Identity,
}

/// The versions of the policy language IAM accepts.
pub const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];

/// The version IAM assumes when a document has none.
const IMPLIED_VERSION: &str = "2008-10-17";

/// The elements whose values are one string or a list of strings.
const STRING_OR_LIST: [&str; 4] = ["Action", "NotAction", "Resource", "NotResource"];

/// The kinds of principal IAM knows.
const PRINCIPAL_KINDS: [&str; 4] = ["AWS", "Service", "Federated", "CanonicalUser"];

const STATEMENT_KEYS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// Reads the policy document under `key` (a table), recording every
/// problem at its element; `None` when unset or unknown.
pub fn read(f: &mut Fields<'_>, key: &str, kind: Kind) -> Option<Value> {
    let base = vec![PathSeg::Key(key.to_owned())];
    let doc = f.table(key, |t| t.inputs().clone())?;
    for (path, message) in problems(&doc, kind, &base, f.phase()) {
        f.problem(&path, message);
    }
    Some(doc)
}

/// Every problem of the document `doc` found at `base` (paths are relative
/// to the table being read, messages name the whole path). Values unknown
/// until apply pass at plan time.
pub fn problems(
    doc: &Value,
    kind: Kind,
    base: &[PathSeg],
    phase: Phase,
) -> Vec<(ValuePath, String)> {
    let mut c = Check {
        phase,
        out: Vec::new(),
    };
    c.document(doc, kind, &mut base.to_vec());
    c.out
}

struct Check {
    phase: Phase,
    out: Vec<(ValuePath, String)>,
}

impl Check {
    fn problem(&mut self, path: &ValuePath, what: &str) {
        let message = format!("`{}` {what}", display_path(path));
        self.out.push((path.clone(), message));
    }

    /// Whether `v` is known; an unknown value is a problem at apply.
    fn known(&mut self, v: &Value, path: &ValuePath) -> bool {
        if v.has_unknown() {
            if self.phase == Phase::Apply {
                self.problem(path, "is not known yet; it cannot be applied");
            }
            return false;
        }
        true
    }

    fn at<T>(
        &mut self,
        path: &mut ValuePath,
        seg: PathSeg,
        f: impl FnOnce(&mut Self, &mut ValuePath) -> T,
    ) -> T {
        path.push(seg);
        let out = f(self, path);
        path.pop();
        out
    }

    fn unknown_keys(
        &mut self,
        m: &BTreeMap<String, Value>,
        allowed: &[&str],
        path: &mut ValuePath,
        what: &str,
    ) {
        for k in m.keys().filter(|k| !allowed.contains(&k.as_str())) {
            let message = format!("is not {what}: use one of {}", allowed.join(", "));
            self.at(path, PathSeg::Key(k.clone()), |c, p| c.problem(p, &message));
        }
    }

    fn document(&mut self, doc: &Value, kind: Kind, path: &mut ValuePath) {
        let Some(m) = doc.as_map() else {
            if self.known(doc, path) {
                self.problem(
                    path,
                    &format!("must be a policy table, found {}", doc.kind()),
                );
            }
            return;
        };
        self.unknown_keys(m, &["Version", "Id", "Statement"], path, "a policy element");
        if let Some(v) = m.get("Version") {
            self.at(path, PathSeg::Key("Version".into()), |c, p| {
                if c.known(v, p) && !v.as_str().is_some_and(|s| VERSIONS.contains(&s)) {
                    c.problem(
                        p,
                        &format!("must be \"2012-10-17\" (or the old \"2008-10-17\"), found {v}"),
                    );
                }
            });
        }
        if let Some(v) = m.get("Id") {
            self.at(path, PathSeg::Key("Id".into()), |c, p| c.string(v, p));
        }
        let Some(statements) = m.get("Statement") else {
            self.problem(path, "needs a `Statement`: a table, or a list of tables");
            return;
        };
        self.at(
            path,
            PathSeg::Key("Statement".into()),
            |c, p| match statements {
                Value::Map(_) => c.statement(statements, kind, p, &mut BTreeSet::new()),
                Value::List(items) if items.is_empty() => {
                    c.problem(p, "must hold at least one statement")
                }
                Value::List(items) => {
                    let mut sids = BTreeSet::new();
                    for (i, s) in items.iter().enumerate() {
                        c.at(p, PathSeg::Index(i), |c, p| {
                            c.statement(s, kind, p, &mut sids)
                        });
                    }
                }
                other => {
                    if c.known(other, p) {
                        c.problem(
                            p,
                            &format!(
                                "must be a table or a list of tables, found {}",
                                other.kind()
                            ),
                        );
                    }
                }
            },
        );
    }

    fn statement(
        &mut self,
        s: &Value,
        kind: Kind,
        path: &mut ValuePath,
        sids: &mut BTreeSet<String>,
    ) {
        let Some(m) = s.as_map() else {
            if self.known(s, path) {
                self.problem(
                    path,
                    &format!("must be a statement table, found {}", s.kind()),
                );
            }
            return;
        };
        self.unknown_keys(m, &STATEMENT_KEYS, path, "a statement element");
        if let Some(v) = m.get("Sid") {
            self.at(path, PathSeg::Key("Sid".into()), |c, p| {
                if let Some(sid) = v.as_str() {
                    if !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        c.problem(p, &format!("must be letters and digits only (IAM's rule for statement ids), found {v}"));
                    } else if !sid.is_empty() && !sids.insert(sid.to_owned()) {
                        c.problem(p, &format!("repeats the statement id {v}: ids must be unique in a policy"));
                    }
                } else {
                    c.string(v, p);
                }
            });
        }
        match m.get("Effect") {
            None => self.problem(path, "needs an `Effect`: \"Allow\" or \"Deny\""),
            Some(v) => self.at(path, PathSeg::Key("Effect".into()), |c, p| {
                if c.known(v, p) && !matches!(v.as_str(), Some("Allow" | "Deny")) {
                    c.problem(p, &format!("must be \"Allow\" or \"Deny\", found {v}"));
                }
            }),
        }
        self.exactly_one(m, ["Action", "NotAction"], path);
        match kind {
            Kind::Trust => {
                self.exactly_one(m, ["Principal", "NotPrincipal"], path);
                for key in ["Resource", "NotResource"] {
                    if m.contains_key(key) {
                        self.at(path, PathSeg::Key(key.into()), |c, p| {
                            c.problem(p, "is not allowed in a trust policy: it says who may assume the role, with `Principal`")
                        });
                    }
                }
            }
            Kind::Identity => {
                self.exactly_one(m, ["Resource", "NotResource"], path);
                for key in ["Principal", "NotPrincipal"] {
                    if m.contains_key(key) {
                        self.at(path, PathSeg::Key(key.into()), |c, p| {
                            c.problem(p, "is not allowed in a permissions policy: the principal is the role itself")
                        });
                    }
                }
            }
        }
        for key in STRING_OR_LIST {
            if let Some(v) = m.get(key) {
                self.at(path, PathSeg::Key(key.into()), |c, p| c.strings(v, p));
            }
        }
        for key in ["Principal", "NotPrincipal"] {
            if let Some(v) = m.get(key) {
                self.at(path, PathSeg::Key(key.into()), |c, p| c.principal(v, p));
            }
        }
        if let Some(v) = m.get("Condition") {
            self.at(path, PathSeg::Key("Condition".into()), |c, p| {
                c.condition(v, p)
            });
        }
    }

    fn exactly_one(&mut self, m: &BTreeMap<String, Value>, keys: [&str; 2], path: &mut ValuePath) {
        let [a, b] = keys;
        match (m.contains_key(a), m.contains_key(b)) {
            (false, false) => self.problem(path, &format!("needs `{a}` (or `{b}`)")),
            (true, true) => self.at(path, PathSeg::Key(b.into()), |c, p| {
                c.problem(p, &format!("cannot be given with `{a}` in one statement"))
            }),
            _ => {}
        }
    }

    fn string(&mut self, v: &Value, path: &ValuePath) {
        if self.known(v, path) && v.as_str().is_none() {
            self.problem(path, &format!("must be a string, found {}", v.kind()));
        }
    }

    /// A string, or a non-empty list of strings.
    fn strings(&mut self, v: &Value, path: &mut ValuePath) {
        match v {
            Value::List(items) if items.is_empty() => self.problem(
                path,
                "must not be empty: give a string or a list of strings",
            ),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.at(path, PathSeg::Index(i), |c, p| c.string(item, p));
                }
            }
            other => {
                if self.known(other, path) && other.as_str().is_none() {
                    self.problem(
                        path,
                        &format!(
                            "must be a string or a list of strings, found {}",
                            other.kind()
                        ),
                    );
                }
            }
        }
    }

    fn principal(&mut self, v: &Value, path: &mut ValuePath) {
        match v {
            Value::String(s) if s == "*" => {}
            Value::Map(m) if m.is_empty() => self.problem(path, "must name a principal"),
            Value::Map(m) => {
                self.unknown_keys(m, &PRINCIPAL_KINDS, path, "a kind of principal");
                for (k, item) in m {
                    self.at(path, PathSeg::Key(k.clone()), |c, p| c.strings(item, p));
                }
            }
            other => {
                if self.known(other, path) {
                    self.problem(path, &format!("must be \"*\" or a table such as {{ Service = \"eks.amazonaws.com\" }}, found {other}"));
                }
            }
        }
    }

    /// `{ Operator = { key = value or [values] } }`, values strings,
    /// booleans or numbers.
    fn condition(&mut self, v: &Value, path: &mut ValuePath) {
        let Some(ops) = v.as_map() else {
            if self.known(v, path) {
                self.problem(path, &format!("must be a table of operators, such as {{ StringEquals = {{ \"aws:SourceAccount\" = \"123456789012\" }} }}, found {}", v.kind()));
            }
            return;
        };
        for (op, keys) in ops {
            self.at(path, PathSeg::Key(op.clone()), |c, p| {
                let Some(keys) = keys.as_map() else {
                    if c.known(keys, p) {
                        c.problem(
                            p,
                            &format!(
                                "must be a table of condition keys and values, found {}",
                                keys.kind()
                            ),
                        );
                    }
                    return;
                };
                for (key, value) in keys {
                    c.at(p, PathSeg::Key(key.clone()), |c, p| match value {
                        Value::List(items) if items.is_empty() => c.problem(p, "must not be empty"),
                        Value::List(items) => {
                            for (i, item) in items.iter().enumerate() {
                                c.at(p, PathSeg::Index(i), |c, p| c.condition_value(item, p));
                            }
                        }
                        other => c.condition_value(other, p),
                    });
                }
            });
        }
    }

    fn condition_value(&mut self, v: &Value, path: &ValuePath) {
        if self.known(v, path) && condition_text(v).is_none() {
            self.problem(
                path,
                &format!(
                    "must be a string, a boolean or a number, found {}",
                    v.kind()
                ),
            );
        }
    }
}

/// A condition value as IAM compares it: as text.
fn condition_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(x) if x.is_finite() => Some(x.to_string()),
        _ => None,
    }
}

/// The document as the JSON text sent to IAM (secrets revealed: the call
/// to the cloud is the one place that needs them).
pub fn to_json(doc: &Value) -> String {
    json(&doc.reveal()).to_string()
}

fn json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null | Value::Unknown | Value::Sensitive(_) => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
        Value::String(s) => J::String(s.clone()),
        Value::List(l) => J::Array(l.iter().map(json).collect()),
        Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), json(v))).collect()),
    }
}

/// A document as IAM returns it (URL-encoded JSON, or plain JSON from an
/// emulator that does not encode), as a value; `None` when it is neither.
pub fn from_aws(text: &str) -> Option<Value> {
    let plain = serde_json::from_str::<serde_json::Value>(text);
    let parsed = match plain {
        Ok(v) => v,
        Err(_) => serde_json::from_str(&url_decode(text)?).ok()?,
    };
    Some(Value::from_json(parsed))
}

/// Decodes URL (query) encoding, `%XX` and `+` for a space, as Terraform
/// does (`url.QueryUnescape`) for IAM's documents. `None` for a malformed
/// escape or text that is not UTF-8 once decoded.
pub fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The document IAM has (`observed`), spelled as `applied` when the two
/// mean the same: a second plan is then empty.
pub fn as_applied(observed: Value, applied: Option<&Value>) -> Value {
    match applied {
        Some(a) if same_policy(a, &observed) => a.clone(),
        _ => observed,
    }
}

/// Whether two policy documents mean the same to IAM (see the module's
/// docs for what is treated alike).
pub fn same_policy(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

/// One canonical spelling of a document: `==` on two canonical forms is
/// [`same_policy`].
fn canonical(doc: &Value) -> Value {
    let Value::Map(m) = doc else {
        return doc.clone();
    };
    let mut out = m.clone();
    out.entry("Version".into())
        .or_insert_with(|| Value::from(IMPLIED_VERSION));
    if let Some(s) = out.get_mut("Statement") {
        let statements = match &*s {
            Value::List(items) => items.iter().map(statement).collect(),
            one @ Value::Map(_) => vec![statement(one)],
            _ => return Value::Map(out),
        };
        *s = sorted(statements);
    }
    Value::Map(out)
}

fn statement(s: &Value) -> Value {
    let Value::Map(m) = s else {
        return s.clone();
    };
    let mut out = m.clone();
    for key in STRING_OR_LIST {
        if let Some(v) = out.get_mut(key) {
            *v = string_set(v, |s| s.clone());
        }
    }
    for key in ["Principal", "NotPrincipal"] {
        if let Some(v) = out.get_mut(key) {
            *v = principal(v);
        }
    }
    if let Some(Value::Map(ops)) = out.get_mut("Condition") {
        for keys in ops.values_mut() {
            if let Value::Map(keys) = keys {
                for v in keys.values_mut() {
                    *v = string_set(v, |s| s.clone());
                }
            }
        }
    }
    Value::Map(out)
}

fn principal(v: &Value) -> Value {
    let mut kinds = match v {
        Value::String(s) if s == "*" => [("AWS".to_owned(), v.clone())].into_iter().collect(),
        Value::Map(m) => m.clone(),
        _ => return v.clone(),
    };
    for (kind, items) in &mut kinds {
        let account_root = kind == "AWS";
        *items = string_set(items, |s| {
            if account_root {
                account_of_root(s)
            } else {
                s.clone()
            }
        });
    }
    Value::Map(kinds)
}

/// `arn:<partition>:iam::<account>:root` as the bare account id, which IAM
/// turns into that ARN.
fn account_of_root(s: &str) -> String {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", "", account, "root"]
            if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (*account).to_owned()
        }
        _ => s.to_owned(),
    }
}

/// A lone value or a list, as a sorted list of distinct texts (`spell`
/// turning each string into its canonical form); anything else unchanged.
fn string_set(v: &Value, spell: impl Fn(&String) -> String) -> Value {
    let one = |v: &Value| condition_text(v).map(|s| spell(&s));
    let items: Option<BTreeSet<String>> = match v {
        Value::List(items) => items.iter().map(one).collect(),
        other => one(other).map(|s| [s].into_iter().collect()),
    };
    match items {
        Some(set) => Value::List(set.into_iter().map(Value::String).collect()),
        None => v.clone(),
    }
}

/// Values in a stable order, repeats kept (by their JSON text: `Value`
/// itself has no order).
fn sorted(items: Vec<Value>) -> Value {
    let mut keyed: Vec<(String, Value)> = items
        .into_iter()
        .map(|v| (json(&v).to_string(), v))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Value::List(keyed.into_iter().map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> Value {
        Value::from_json(serde_json::from_str(json).expect("test JSON"))
    }

    fn same(a: &str, b: &str) -> bool {
        same_policy(&doc(a), &doc(b))
    }

    const EKS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

    #[test]
    fn key_order_and_statement_order_do_not_matter() {
        assert!(same(
            EKS_TRUST,
            r#"{"Statement":[{"Action":"sts:AssumeRole","Principal":{"Service":"eks.amazonaws.com"},"Effect":"Allow"}],"Version":"2012-10-17"}"#
        ));
        let two = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Effect":"Deny","Action":"s3:PutObject","Resource":"*"}]}"#;
        let swapped = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:PutObject","Resource":"*"},{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
        assert!(same(two, swapped));
    }

    #[test]
    fn a_lone_string_is_a_one_element_list() {
        let listed = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["eks.amazonaws.com"]},"Action":["sts:AssumeRole"]}]}"#;
        assert!(same(EKS_TRUST, listed));
        // A lone statement table is a one-statement list.
        let lone = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
        assert!(same(EKS_TRUST, lone));
        // Lists are sets: order and repeats do not count.
        assert!(same(
            r#"{"Statement":[{"Effect":"Allow","Action":["a:B","a:C"],"Resource":["x","y"]}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":["a:C","a:B","a:C"],"Resource":["y","x"]}]}"#
        ));
        assert!(same(
            r#"{"Statement":[{"Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:s3:::b"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","NotAction":["iam:*"],"NotResource":["arn:aws:s3:::b"]}]}"#
        ));
    }

    #[test]
    fn what_differs_is_not_the_same() {
        let other_service = EKS_TRUST.replace("eks.amazonaws.com", "ec2.amazonaws.com");
        assert!(!same(EKS_TRUST, &other_service));
        assert!(!same(EKS_TRUST, &EKS_TRUST.replace("Allow", "Deny")));
        // An added action, an added statement.
        assert!(!same(
            r#"{"Statement":[{"Effect":"Allow","Action":"a:B","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":["a:B","a:C"],"Resource":"*"}]}"#
        ));
        assert!(!same(
            r#"{"Statement":[{"Effect":"Allow","Action":"a:B","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"a:B","Resource":"*"},{"Effect":"Allow","Action":"a:B","Resource":"*"}]}"#
        ));
        // Action and NotAction are not interchangeable.
        assert!(!same(
            r#"{"Statement":[{"Effect":"Allow","Action":"a:B","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","NotAction":"a:B","Resource":"*"}]}"#
        ));
    }

    #[test]
    fn version_defaults_as_iam_does() {
        let without = r#"{"Statement":[{"Effect":"Allow","Action":"a:B","Resource":"*"}]}"#;
        let old = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"a:B","Resource":"*"}]}"#;
        let new = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"a:B","Resource":"*"}]}"#;
        assert!(same(without, old));
        assert!(
            !same(without, new),
            "policy variables differ between versions"
        );
    }

    #[test]
    fn principals_as_iam_stores_them() {
        let id = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}]}"#;
        let arn = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root"]},"Action":"sts:AssumeRole"}]}"#;
        assert!(same(id, arn));
        let other = arn.replace("123456789012", "210987654321");
        assert!(!same(id, &other));
        // A role ARN is not the account.
        let role = arn.replace(":root", ":role/x");
        assert!(!same(id, &role));
        // Only AWS principals are account ids.
        let service = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"123456789012"},"Action":"sts:AssumeRole"}]}"#;
        let service_arn = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
        assert!(!same(service, service_arn));
        let star =
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}"#;
        let aws_star = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"sts:AssumeRole"}]}"#;
        assert!(same(star, aws_star));
    }

    #[test]
    fn nested_conditions_compare_as_sets_of_text() {
        let a = r#"{"Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"oidc.eks.us-east-1.amazonaws.com/id/ABC:sub":"system:serviceaccount:airflow:worker","oidc.eks.us-east-1.amazonaws.com/id/ABC:aud":"sts.amazonaws.com"},"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"aws:MultiFactorAuthAge":3600}}}]}"#;
        let b = r#"{"Statement":[{"Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":["3600"]},"Bool":{"aws:SecureTransport":"true"},"StringEquals":{"oidc.eks.us-east-1.amazonaws.com/id/ABC:aud":["sts.amazonaws.com"],"oidc.eks.us-east-1.amazonaws.com/id/ABC:sub":["system:serviceaccount:airflow:worker"]}},"Action":["sts:AssumeRoleWithWebIdentity"],"Principal":{"Federated":["arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"]},"Effect":"Allow"}]}"#;
        assert!(same(a, b));
        let other_sub = b.replace("airflow:worker", "airflow:scheduler");
        assert!(!same(a, &other_sub));
        let list = r#"{"Statement":[{"Effect":"Allow","Action":"a:B","Resource":"*","Condition":{"StringLike":{"k":["x","y"]}}}]}"#;
        let reversed = r#"{"Statement":[{"Effect":"Allow","Action":"a:B","Resource":"*","Condition":{"StringLike":{"k":["y","x"]}}}]}"#;
        assert!(same(list, reversed));
        let operator = list.replace("StringLike", "StringEquals");
        assert!(!same(list, &operator));
    }

    #[test]
    fn documents_read_back_url_encoded_or_plain() {
        // As IAM (and moto, with Python's `quote`) return them.
        let encoded = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Principal%22%3A%20%7B%22Service%22%3A%20%22eks.amazonaws.com%22%7D%2C%20%22Action%22%3A%20%22sts%3AAssumeRole%22%7D%5D%7D";
        let read = from_aws(encoded).expect("decodes");
        assert_eq!(read, doc(EKS_TRUST));
        assert_eq!(from_aws(EKS_TRUST), Some(doc(EKS_TRUST)));
        // `+` is a space, `%2B` a plus.
        assert_eq!(url_decode("a+b%2Bc").as_deref(), Some("a b+c"));
        assert_eq!(url_decode("%zz"), None);
        assert_eq!(url_decode("%4"), None);
        assert_eq!(url_decode("%FF"), None, "not UTF-8");
        assert_eq!(url_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(from_aws("not a policy"), None);
    }

    #[test]
    fn json_round_trips_through_the_value() {
        let v = doc(
            r#"{"Statement":[{"Effect":"Allow","Action":"a:B","Resource":"*","Condition":{"NumericLessThan":{"n":1.5},"Bool":{"b":true}}}],"Version":"2012-10-17"}"#,
        );
        let text = to_json(&v);
        assert_eq!(from_aws(&text), Some(v));
    }

    #[test]
    fn as_applied_keeps_the_stack_spelling_when_it_means_the_same() {
        let given = doc(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}}"#,
        );
        let iam = doc(EKS_TRUST);
        assert_eq!(as_applied(iam.clone(), Some(&given)), given);
        let changed = doc(&EKS_TRUST.replace("eks", "ec2"));
        assert_eq!(as_applied(changed.clone(), Some(&given)), changed);
        assert_eq!(as_applied(iam.clone(), None), iam);
    }

    fn paths(doc_json: &str, kind: Kind) -> Vec<String> {
        let base = [PathSeg::Key("p".into())];
        problems(&doc(doc_json), kind, &base, Phase::Plan)
            .into_iter()
            .map(|(p, m)| {
                assert!(m.starts_with(&format!("`{}`", display_path(&p))), "{m}");
                display_path(&p)
            })
            .collect()
    }

    #[test]
    fn valid_documents_have_no_problems() {
        assert!(paths(EKS_TRUST, Kind::Trust).is_empty());
        let s3 = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::logs/*","Condition":{"Bool":{"aws:SecureTransport":true}}}]}"#;
        assert!(paths(s3, Kind::Identity).is_empty());
    }

    #[test]
    fn problems_land_at_their_elements() {
        assert_eq!(
            paths(r#"{"Version":"2020-01-01","Statment":[]}"#, Kind::Identity),
            ["p.Statment", "p.Version", "p"]
        );
        assert_eq!(
            paths(r#"{"Statement":[]}"#, Kind::Identity),
            ["p.Statement"]
        );
        assert_eq!(
            paths(
                r#"{"Statement":[{"Effect":"allow","Action":[],"Resource":5,"Principal":"*","Sid":"no-dash"}]}"#,
                Kind::Identity
            ),
            [
                "p.Statement[0].Sid",
                "p.Statement[0].Effect",
                "p.Statement[0].Principal",
                "p.Statement[0].Action",
                "p.Statement[0].Resource"
            ]
        );
        assert_eq!(
            paths(
                r#"{"Statement":{"Action":"sts:AssumeRole","Resource":"*"}}"#,
                Kind::Trust
            ),
            ["p.Statement", "p.Statement", "p.Statement.Resource"]
        );
        assert_eq!(
            paths(
                r#"{"Statement":[{"Effect":"Allow","Action":"a","NotAction":"b","Principal":{"Servce":"x","AWS":[1]}}]}"#,
                Kind::Trust
            ),
            [
                "p.Statement[0].NotAction",
                "p.Statement[0].Principal.Servce",
                "p.Statement[0].Principal.AWS[0]"
            ]
        );
        assert_eq!(
            paths(
                r#"{"Statement":[{"Effect":"Allow","Action":"a","Resource":"*","Condition":{"StringEquals":"x","Bool":{"k":[]},"IpAddress":{"k":[{"a":1}]}}}]}"#,
                Kind::Identity
            ),
            [
                "p.Statement[0].Condition.Bool.k",
                "p.Statement[0].Condition.IpAddress.k[0]",
                "p.Statement[0].Condition.StringEquals"
            ]
        );
        assert_eq!(
            paths(
                r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"a","Resource":"*"},{"Sid":"A","Effect":"Allow","Action":"a","Resource":"*"}]}"#,
                Kind::Identity
            ),
            ["p.Statement[1].Sid"]
        );
    }

    #[test]
    fn unknown_values_wait_for_apply() {
        let mut statement: BTreeMap<String, Value> = [
            ("Effect".to_owned(), Value::from("Allow")),
            ("Action".to_owned(), Value::from("s3:GetObject")),
            ("Resource".to_owned(), Value::Unknown),
        ]
        .into_iter()
        .collect();
        let d: Value = [("Statement", Value::Map(statement.clone()))]
            .into_iter()
            .collect();
        assert!(problems(&d, Kind::Identity, &[], Phase::Plan).is_empty());
        let at_apply = problems(&d, Kind::Identity, &[], Phase::Apply);
        assert_eq!(display_path(&at_apply[0].0), "Statement.Resource");
        assert!(at_apply[0].1.contains("not known yet"), "{}", at_apply[0].1);
        statement.insert(
            "Resource".into(),
            Value::List(vec![Value::from("a"), Value::Unknown]),
        );
        let d: Value = [("Statement", Value::Map(statement))].into_iter().collect();
        assert!(problems(&d, Kind::Identity, &[], Phase::Plan).is_empty());
    }
}
