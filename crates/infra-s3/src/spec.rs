//! The bucket's desired configuration as typed data, read from the inputs
//! (defaults filled) and written back in the one normal shape that both
//! create and read report, so an unchanged bucket reads back equal.

use std::collections::BTreeMap;

use infra_core::{ErrorKind, Presence, ProviderError, Type, Value};

use crate::schema::{DEFAULT_ENCRYPTION, PAB_KEYS};

/// Everything `s3_bucket` configures.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BucketSpec {
    pub name: String,
    pub versioning: bool,
    /// `None` when the bucket has no default encryption (only ever read).
    pub encryption: Option<Encryption>,
    pub public_access_block: [bool; 4],
    pub lifecycle_rules: Vec<Rule>,
    pub tags: BTreeMap<String, String>,
    pub force_destroy: bool,
}

/// Default server-side encryption.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Encryption {
    pub algorithm: String,
    pub kms_key_id: Option<String>,
}

/// One lifecycle rule.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rule {
    pub id: String,
    pub enabled: bool,
    pub prefix: String,
    pub transitions: Vec<Transition>,
    pub expiration_days: Option<i32>,
    pub noncurrent_version_expiration_days: Option<i32>,
    pub abort_incomplete_multipart_upload_days: Option<i32>,
}

/// One storage class transition.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Transition {
    pub days: i32,
    pub storage_class: String,
}

/// Reads typed fields out of a map, naming the path in errors.
struct Fields<'a> {
    map: Option<&'a BTreeMap<String, Value>>,
    path: String,
}

impl<'a> Fields<'a> {
    fn new(value: &'a Value, path: &str) -> Result<Self, ProviderError> {
        match value {
            Value::Map(m) => Ok(Fields {
                map: Some(m),
                path: path.to_owned(),
            }),
            Value::Null => Ok(Fields {
                map: None,
                path: path.to_owned(),
            }),
            other => Err(wrong(path, "a table", other)),
        }
    }

    fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map
            .and_then(|m| m.get(key))
            .filter(|v| !matches!(v, Value::Null))
    }

    fn string(&self, key: &str) -> Result<Option<String>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(wrong(&self.at(key), "a string", other)),
        }
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, ProviderError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(wrong(&self.at(key), "a boolean", other)),
        }
    }

    fn days(&self, key: &str) -> Result<Option<i32>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Int(i)) => i32::try_from(*i)
                .map(Some)
                .map_err(|_| invalid(format!("`{}` is out of range: {i}", self.at(key)))),
            Some(other) => Err(wrong(&self.at(key), "an integer", other)),
        }
    }

    fn list(&self, key: &str) -> Result<&'a [Value], ProviderError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::List(l)) => Ok(l),
            Some(other) => Err(wrong(&self.at(key), "a list", other)),
        }
    }
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

fn wrong(path: &str, expected: &str, found: &Value) -> ProviderError {
    invalid(format!(
        "`{path}` must be {expected}, found {}",
        found.kind()
    ))
}

impl BucketSpec {
    /// Reads the inputs (secrets already revealed), filling defaults.
    pub fn from_inputs(inputs: &Value) -> Result<Self, ProviderError> {
        let f = Fields::new(inputs, "")?;
        let name = f
            .string("name")?
            .ok_or_else(|| invalid("`name` is required".to_owned()))?;
        let kms_key_id = f.string("kms_key_id")?;
        let algorithm = f
            .string("encryption")?
            .unwrap_or_else(|| DEFAULT_ENCRYPTION.to_owned());
        let pab = Fields::new(
            f.get("public_access_block").unwrap_or(&Value::Null),
            "public_access_block",
        )?;
        let mut public_access_block = [true; 4];
        for (slot, key) in public_access_block.iter_mut().zip(PAB_KEYS) {
            *slot = pab.bool(key, true)?;
        }
        let lifecycle_rules = f
            .list("lifecycle_rules")?
            .iter()
            .enumerate()
            .map(|(i, rule)| Rule::from_value(rule, &format!("lifecycle_rules[{i}]")))
            .collect::<Result<_, _>>()?;
        let mut tags = BTreeMap::new();
        match f.get("tags") {
            None => {}
            Some(Value::Map(m)) => {
                for (k, v) in m {
                    match v {
                        Value::String(s) => {
                            tags.insert(k.clone(), s.clone());
                        }
                        other => return Err(wrong(&format!("tags.{k}"), "a string", other)),
                    }
                }
            }
            Some(other) => return Err(wrong("tags", "a table", other)),
        }
        Ok(BucketSpec {
            name,
            versioning: f.bool("versioning", false)?,
            encryption: Some(Encryption {
                algorithm,
                kms_key_id,
            }),
            public_access_block,
            lifecycle_rules,
            tags,
            force_destroy: f.bool("force_destroy", false)?,
        })
    }

    /// The inputs in their normal shape: every defaulted key present, every
    /// unset optional key absent (the engine treats absent and null alike).
    pub fn to_inputs(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("name".into(), Value::from(self.name.as_str()));
        m.insert("versioning".into(), Value::Bool(self.versioning));
        match &self.encryption {
            Some(e) => {
                m.insert("encryption".into(), Value::from(e.algorithm.as_str()));
                if let Some(k) = &e.kms_key_id {
                    m.insert("kms_key_id".into(), Value::from(k.as_str()));
                }
            }
            None => {
                m.insert("encryption".into(), Value::Null);
            }
        }
        m.insert(
            "public_access_block".into(),
            PAB_KEYS
                .iter()
                .zip(self.public_access_block)
                .map(|(k, b)| (*k, Value::Bool(b)))
                .collect(),
        );
        m.insert(
            "lifecycle_rules".into(),
            Value::List(self.lifecycle_rules.iter().map(Rule::to_value).collect()),
        );
        m.insert(
            "tags".into(),
            self.tags
                .iter()
                .map(|(k, v)| (k.as_str(), Value::from(v.as_str())))
                .collect(),
        );
        m.insert("force_destroy".into(), Value::Bool(self.force_destroy));
        Value::Map(m)
    }
}

impl Rule {
    fn from_value(value: &Value, path: &str) -> Result<Self, ProviderError> {
        let f = Fields::new(value, path)?;
        let id = f
            .string("id")?
            .ok_or_else(|| invalid(format!("`{path}.id` is required")))?;
        let transitions = f
            .list("transitions")?
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let at = format!("{path}.transitions[{j}]");
                let t = Fields::new(t, &at)?;
                Ok(Transition {
                    days: t
                        .days("days")?
                        .ok_or_else(|| invalid(format!("`{at}.days` is required")))?,
                    storage_class: t
                        .string("storage_class")?
                        .ok_or_else(|| invalid(format!("`{at}.storage_class` is required")))?,
                })
            })
            .collect::<Result<_, ProviderError>>()?;
        Ok(Rule {
            id,
            enabled: f.bool("enabled", true)?,
            prefix: f.string("prefix")?.unwrap_or_default(),
            transitions,
            expiration_days: f.days("expiration_days")?,
            noncurrent_version_expiration_days: f.days("noncurrent_version_expiration_days")?,
            abort_incomplete_multipart_upload_days: f
                .days("abort_incomplete_multipart_upload_days")?,
        })
    }

    /// The rule in its normal shape.
    pub fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("id".into(), Value::from(self.id.as_str()));
        m.insert("enabled".into(), Value::Bool(self.enabled));
        m.insert("prefix".into(), Value::from(self.prefix.as_str()));
        m.insert(
            "transitions".into(),
            Value::List(
                self.transitions
                    .iter()
                    .map(|t| {
                        [
                            ("days", Value::Int(t.days.into())),
                            ("storage_class", Value::from(t.storage_class.as_str())),
                        ]
                        .into_iter()
                        .collect()
                    })
                    .collect(),
            ),
        );
        let optional = [
            ("expiration_days", self.expiration_days),
            (
                "noncurrent_version_expiration_days",
                self.noncurrent_version_expiration_days,
            ),
            (
                "abort_incomplete_multipart_upload_days",
                self.abort_incomplete_multipart_upload_days,
            ),
        ];
        for (key, days) in optional {
            if let Some(d) = days {
                m.insert(key.into(), Value::Int(d.into()));
            }
        }
        Value::Map(m)
    }
}

/// Brings what was read from the cloud into the shape of what was given, so
/// the engine sees no difference where there is none: a defaulted key the
/// given inputs leave out is left out when the cloud has the default, and
/// a secret the inputs hold is kept as given (its plaintext must not reach
/// state, and only its digest can be compared).
pub(crate) fn align(observed: &mut Value, given: &Value, ty: &Type) {
    if matches!(given, Value::Sensitive(_)) {
        *observed = given.clone();
        return;
    }
    match (ty, observed, given) {
        (Type::Object(attrs), Value::Map(o), Value::Map(g)) => {
            for attr in attrs {
                let given_value = g.get(&attr.name).filter(|v| !matches!(v, Value::Null));
                match (given_value, o.get_mut(&attr.name)) {
                    (None, Some(seen)) => {
                        if let Presence::Default(d) = &attr.presence
                            && seen == d
                        {
                            o.remove(&attr.name);
                        }
                    }
                    (Some(gv), Some(seen)) => align(seen, gv, &attr.ty),
                    _ => {}
                }
            }
        }
        (Type::List(item), Value::List(o), Value::List(g)) => {
            for (seen, gv) in o.iter_mut().zip(g) {
                align(seen, gv, item);
            }
        }
        (Type::Map(item), Value::Map(o), Value::Map(g)) => {
            for (k, seen) in o.iter_mut() {
                if let Some(gv) = g.get(k) {
                    align(seen, gv, item);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::schema;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn defaults_fill_and_round_trip() {
        let given =
            json(r#"{"name": "logs", "lifecycle_rules": [{"id": "old", "expiration_days": 90}]}"#);
        let spec = BucketSpec::from_inputs(&given).unwrap();
        assert_eq!(spec.encryption.as_ref().unwrap().algorithm, "AES256");
        assert_eq!(spec.public_access_block, [true; 4]);
        let normal = spec.to_inputs();
        assert_eq!(
            normal.get("lifecycle_rules"),
            Some(&json(
                r#"[{"id": "old", "enabled": true, "prefix": "", "transitions": [], "expiration_days": 90}]"#
            ))
        );
        assert_eq!(BucketSpec::from_inputs(&normal).unwrap(), spec);
    }

    #[test]
    fn wrong_types_name_their_path() {
        let given = json(
            r#"{"name": "x", "lifecycle_rules": [{"id": "a", "transitions": [{"days": "ten", "storage_class": "GLACIER"}]}]}"#,
        );
        let err = BucketSpec::from_inputs(&given).unwrap_err();
        assert!(
            err.message
                .contains("`lifecycle_rules[0].transitions[0].days` must be an integer"),
            "{}",
            err.message
        );
    }

    #[test]
    fn align_drops_defaults_the_inputs_leave_out_and_keeps_secrets() {
        let s = schema();
        let ty = Type::Object(s.attributes.clone());
        let given = json(
            r#"{"name": "x", "lifecycle_rules": [{"id": "a", "expiration_days": 3}], "tags": {"t": {"$sensitive": "hmac:1"}}}"#,
        );
        let mut seen = json(
            r#"{"name": "x", "lifecycle_rules": [{"id": "a", "enabled": true, "prefix": "", "transitions": [], "expiration_days": 3}], "tags": {"t": "plain"}}"#,
        );
        align(&mut seen, &given, &ty);
        assert_eq!(seen, given);
        // A default that differs in the cloud stays: that is drift.
        let mut drifted = json(
            r#"{"name": "x", "lifecycle_rules": [{"id": "a", "enabled": false, "expiration_days": 3}]}"#,
        );
        align(&mut drifted, &given, &ty);
        assert_eq!(
            drifted.at(&[
                infra_core::PathSeg::Key("lifecycle_rules".into()),
                infra_core::PathSeg::Index(0),
                infra_core::PathSeg::Key("enabled".into())
            ]),
            Some(&Value::Bool(false))
        );
    }
}
