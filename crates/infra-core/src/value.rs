//! Values of resource attributes: JSON-like data plus two markers the planner
//! needs, "unknown until apply" and "sensitive".

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An attribute value.
///
/// Serialized as plain JSON, except `Unknown` as `{"$unknown": true}` and
/// `Sensitive` as `{"$sensitive": "<digest>"}`: the plaintext of a secret is
/// never serialized, so it cannot reach state, plan files or `--json` output.
/// So that no user data can be mistaken for a marker, a map key that starts
/// with `$` is written with one more `$` (`"$x"` as `"$$x"`) and read back
/// without it: a single-`$` key only ever belongs to a marker.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// No value.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    String(String),
    /// An ordered list.
    List(Vec<Value>),
    /// A map with sorted keys.
    Map(BTreeMap<String, Value>),
    /// Known only after apply (e.g. an id the cloud assigns).
    Unknown,
    /// A sensitive value: compared by digest, printed and stored redacted.
    Sensitive(Secret),
}

/// A sensitive value. Two secrets are equal when their digests are (a keyed
/// hash computed by the engine); the plaintext is present only in memory, for
/// the provider call, and is absent once a secret has been read back from disk.
#[derive(Clone)]
pub struct Secret {
    digest: String,
    plaintext: Option<Arc<Value>>,
}

impl Secret {
    /// A secret with its plaintext and the engine's digest of it.
    pub fn new(digest: impl Into<String>, plaintext: Value) -> Self {
        Secret {
            digest: digest.into(),
            plaintext: Some(Arc::new(plaintext)),
        }
    }

    /// A secret known only by its digest (as read from state or a plan).
    pub fn redacted(digest: impl Into<String>) -> Self {
        Secret {
            digest: digest.into(),
            plaintext: None,
        }
    }

    /// The keyed hash that identifies the value.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The plaintext, when this process has it.
    pub fn plaintext(&self) -> Option<&Value> {
        self.plaintext.as_deref()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) | (Unknown, Unknown) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Float(a), Float(b)) => a == b,
            // A float that holds an integer equals it: TOML `5` and `5.0`
            // describe the same setting.
            (Int(a), Float(b)) | (Float(b), Int(a)) => (*a as f64) == *b,
            (String(a), String(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            (Sensitive(a), Sensitive(b)) => a == b,
            _ => false,
        }
    }
}

/// One step into a value: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathSeg {
    /// A key of a map.
    Key(String),
    /// An index into a list.
    Index(usize),
}

/// A path from a resource's inputs to one value inside them.
pub type ValuePath = Vec<PathSeg>;

/// Renders a path the way a user writes it: `scaling.min`, `taints[0].key`.
pub fn display_path(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

impl Value {
    /// An empty map.
    pub fn map() -> Value {
        Value::Map(BTreeMap::new())
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// A key of a map; `None` for missing keys and non-maps.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// The value at `path`, if every step exists.
    pub fn at(&self, path: &[PathSeg]) -> Option<&Value> {
        path.iter().try_fold(self, |v, seg| match (v, seg) {
            (Value::Map(m), PathSeg::Key(k)) => m.get(k),
            (Value::List(l), PathSeg::Index(i)) => l.get(*i),
            _ => None,
        })
    }

    /// Whether this value, or anything inside it, is unknown until apply.
    pub fn has_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::List(l) => l.iter().any(Value::has_unknown),
            Value::Map(m) => m.values().any(Value::has_unknown),
            Value::Sensitive(s) => s.plaintext().is_some_and(Value::has_unknown),
            _ => false,
        }
    }

    /// Whether this value, or anything inside it, is sensitive.
    pub fn has_sensitive(&self) -> bool {
        match self {
            Value::Sensitive(_) => true,
            Value::List(l) => l.iter().any(Value::has_sensitive),
            Value::Map(m) => m.values().any(Value::has_sensitive),
            _ => false,
        }
    }

    /// The value with every secret replaced by its plaintext, for the one
    /// place that needs it: the call to the cloud. A secret whose plaintext
    /// this process does not have becomes `Unknown`.
    pub fn reveal(&self) -> Value {
        match self {
            Value::Sensitive(s) => s.plaintext().map_or(Value::Unknown, Value::reveal),
            Value::List(l) => Value::List(l.iter().map(Value::reveal).collect()),
            Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), v.reveal())).collect()),
            other => other.clone(),
        }
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "table",
            Value::Unknown => "unknown",
            Value::Sensitive(_) => "sensitive value",
        }
    }

    /// Converts plain JSON (a provider's API answer) as data: every key
    /// is a key, nothing is read as a marker. Numbers beyond `i64` become
    /// floats.
    pub fn from_json(json: serde_json::Value) -> Value {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(b),
            J::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN))),
            J::String(s) => Value::String(s),
            J::Array(a) => Value::List(a.into_iter().map(Value::from_json).collect()),
            J::Object(o) => Value::Map(
                o.into_iter()
                    .map(|(k, v)| (k, Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts to plain JSON for a provider's API request, revealing
    /// secrets (so only for the request that sends them). `Err` says why
    /// it cannot: a value not known yet, a secret whose plaintext this run
    /// does not have, a float JSON cannot hold.
    pub fn to_json(&self) -> Result<serde_json::Value, String> {
        use serde_json::Value as J;
        Ok(match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(x) => serde_json::Number::from_f64(*x)
                .map(J::Number)
                .ok_or_else(|| format!("{x} is not a number JSON can hold"))?,
            Value::String(s) => J::String(s.clone()),
            Value::List(items) => {
                J::Array(items.iter().map(Value::to_json).collect::<Result<_, _>>()?)
            }
            Value::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), v.to_json()?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Sensitive(s) => match s.plaintext() {
                Some(plain) => plain.to_json()?,
                None => return Err("it holds a secret whose value is not available".into()),
            },
            Value::Unknown => return Err("a value is not known yet".into()),
        })
    }

    /// How deeply lists and tables nest in this value: 0 for a scalar, 1
    /// for a flat list or table. Secrets count what their plaintext holds.
    pub fn nesting(&self) -> usize {
        match self {
            Value::List(l) => 1 + l.iter().map(Value::nesting).max().unwrap_or(0),
            Value::Map(m) => 1 + m.values().map(Value::nesting).max().unwrap_or(0),
            Value::Sensitive(s) => s.plaintext().map_or(1, |p| p.nesting().max(1)),
            Value::Unknown => 1,
            _ => 0,
        }
    }
}

impl fmt::Display for Value {
    /// Renders the value for a human: strings quoted, secrets redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    if is_bare_key(k) {
                        write!(f, " {k} = {v}")?;
                    } else {
                        write!(f, " {k:?} = {v}")?;
                    }
                }
                f.write_str(if m.is_empty() { "}" } else { " }" })
            }
            Value::Unknown => f.write_str("(known after apply)"),
            Value::Sensitive(_) => f.write_str("(sensitive)"),
        }
    }
}

/// Whether a map key can be written without quotes, as in TOML: ASCII
/// letters, digits, `_` and `-`.
pub fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// `None` is null: an output the cloud did not report.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Value {
    fn from_iter<T: IntoIterator<Item = (K, Value)>>(iter: T) -> Self {
        Value::Map(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

/// The deepest nesting of lists and tables a value may have (see
/// [`Value::nesting`]). The stack loader and the planner refuse deeper
/// values at their source, so that whatever infra accepts, its state,
/// journal and plan files can hold and read back: their decoder (serde_json,
/// limited to 128 levels in all) has room for this depth plus the few
/// levels of the documents around a value.
pub const MAX_NESTING: usize = 64;

const UNKNOWN_KEY: &str = "$unknown";
const SENSITIVE_KEY: &str = "$sensitive";

/// A map key as written: user keys starting with `$` get one more, so that
/// a single `$` marks infra's own markers only.
fn escape_key(key: &str) -> std::borrow::Cow<'_, str> {
    if key.starts_with('$') {
        std::borrow::Cow::Owned(format!("${key}"))
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}

/// A map key as read back.
fn unescape_key(mut key: String) -> String {
    if key.starts_with("$$") {
        key.remove(0);
    }
    key
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) => s.serialize_f64(*x),
            Value::String(v) => s.serialize_str(v),
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(&escape_key(k), v)?;
                }
                map.end()
            }
            Value::Unknown => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(UNKNOWN_KEY, &true)?;
                map.end()
            }
            Value::Sensitive(secret) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(SENSITIVE_KEY, secret.digest())?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map_or(Value::Float(u as f64), Value::Int))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Float(x))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::List(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut raw = Vec::new();
        while let Some((k, v)) = access.next_entry::<String, Value>()? {
            raw.push((k, v));
        }
        // Only infra writes single-`$` keys, and only in these two shapes.
        if let [(key, value)] = raw.as_slice() {
            match (key.as_str(), value) {
                (UNKNOWN_KEY, Value::Bool(true)) => return Ok(Value::Unknown),
                (SENSITIVE_KEY, Value::String(digest)) => {
                    return Ok(Value::Sensitive(Secret::redacted(digest.clone())));
                }
                _ => {}
            }
        }
        // Anything else with a single `$` was not written by infra (it
        // escapes user keys): refused rather than guessed at.
        if let Some((key, _)) = raw
            .iter()
            .find(|(k, _)| k.starts_with('$') && !k.starts_with("$$"))
        {
            return Err(de::Error::custom(format!(
                "`{key}` is neither a marker infra writes ({{\"{UNKNOWN_KEY}\": true}}, {{\"{SENSITIVE_KEY}\": \"digest\"}}) nor an escaped key (`${key}`)"
            )));
        }
        Ok(Value::Map(
            raw.into_iter().map(|(k, v)| (unescape_key(k), v)).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_serialize_as_digest_only() {
        let v: Value = [(
            "password",
            Value::Sensitive(Secret::new("hmac:abc", "hunter2".into())),
        )]
        .into_iter()
        .collect();
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, r#"{"password":{"$sensitive":"hmac:abc"}}"#);
        assert!(!format!("{v} {v:?}").contains("hunter2"));
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v, "secrets compare by digest");
        assert_eq!(back.get("password").unwrap().reveal(), Value::Unknown);
        assert_eq!(v.get("password").unwrap().reveal(), Value::from("hunter2"));
    }

    #[test]
    fn unknown_round_trips() {
        let v = Value::List(vec![Value::Unknown, 1.into()]);
        let back: Value = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(back, v);
        assert!(back.has_unknown());
    }

    #[test]
    fn user_data_shaped_like_markers_stays_data() {
        let v: Value = [
            ("$sensitive", Value::from("hello")),
            ("$unknown", Value::Bool(true)),
            ("$$x", Value::from(1)),
            ("plain", Value::Unknown),
        ]
        .into_iter()
        .collect();
        let alone: Value = [("$sensitive", Value::from("hello"))].into_iter().collect();
        for v in [v, alone] {
            let json = serde_json::to_string(&v).unwrap();
            let back: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(back, v, "{json}");
            assert!(!back.has_sensitive(), "{json}");
        }
    }

    #[test]
    fn plain_json_is_data() {
        let v = Value::from_json(serde_json::json!({"$unknown": true, "n": [1, 2.5]}));
        assert_eq!(v.get("$unknown"), Some(&Value::Bool(true)));
        assert_eq!(v.nesting(), 2);
    }

    #[test]
    fn integer_valued_floats_equal_integers() {
        assert_eq!(Value::Int(5), Value::Float(5.0));
        assert_ne!(Value::Int(5), Value::Float(5.5));
    }

    #[test]
    fn paths_display_like_toml() {
        let p = vec![
            PathSeg::Key("taints".into()),
            PathSeg::Index(0),
            PathSeg::Key("key".into()),
        ];
        assert_eq!(display_path(&p), "taints[0].key");
    }
}
