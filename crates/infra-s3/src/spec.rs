//! The bucket's desired configuration as typed data, read from the inputs
//! (defaults filled) and written back in the one normal shape that both
//! create and read report, so an unchanged bucket reads back equal.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use infra_aws::{Tags, read_tags};
use infra_core::{Fields, Presence, Type, Value};

use crate::lifecycle::{Rule, read_rules};
use crate::schema::{DEFAULT_ENCRYPTION, PAB_KEYS};

/// The server-side encryption algorithms a bucket's default may use.
const ALGORITHMS: [&str; 2] = ["AES256", "aws:kms"];

const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// Everything `s3_bucket` configures.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketSpec {
    pub name: String,
    pub versioning: bool,
    /// `None` when the bucket has no default encryption (only ever read).
    pub encryption: Option<Encryption>,
    pub public_access_block: [bool; 4],
    pub lifecycle_rules: Vec<Rule>,
    pub tags: Tags,
    pub force_destroy: bool,
}

/// Default server-side encryption.
#[derive(Clone, Debug, PartialEq)]
pub struct Encryption {
    pub algorithm: String,
    pub kms_key_id: Option<String>,
}

/// Reads the spec out of the inputs, filling defaults; every problem is
/// recorded at its path.
pub(crate) fn parse(f: &mut Fields<'_>) -> BucketSpec {
    let name = f.string_with("name", check_name);
    if !f.is_set("name") {
        f.problem_at("name", "`name` is required");
    }
    let given_algorithm = f.string_with("encryption", |a| {
        if ALGORITHMS.contains(&a) {
            Ok(())
        } else {
            Err(format!(
                "encryption must be \"AES256\" or \"aws:kms\", not {a:?}"
            ))
        }
    });
    let kms_key_id = f.string("kms_key_id");
    if let (Some(a), Some(_)) = (&given_algorithm, &kms_key_id)
        && a != "aws:kms"
    {
        f.problem_at("kms_key_id", "kms_key_id needs encryption = \"aws:kms\"");
    }
    let public_access_block = f
        .table("public_access_block", |p| {
            PAB_KEYS.map(|k| p.bool_or(k, true))
        })
        .unwrap_or([true; 4]);
    let versioning = f.bool_or("versioning", false);
    let lifecycle_rules = read_rules(f);
    let tags = tags(f);
    BucketSpec {
        name: name.unwrap_or_default(),
        versioning,
        encryption: Some(Encryption {
            algorithm: given_algorithm.unwrap_or_else(|| DEFAULT_ENCRYPTION.to_owned()),
            kms_key_id,
        }),
        public_access_block,
        lifecycle_rules,
        tags,
        force_destroy: f.bool_or("force_destroy", false),
    }
}

/// The tags, each problem at its tag. A tag's value may be a secret: its
/// plaintext is what AWS gets (and AWS's rules never show a tag's value).
fn tags(f: &mut Fields<'_>) -> Tags {
    let secret = match f.value("tags") {
        // Unset, or unknown (a problem at apply, recorded by `value`).
        None => return Tags::new(),
        Some(v) if !v.has_sensitive() => return read_tags(f, "tags"),
        Some(v) => v,
    };
    let revealed: Value = [("tags", secret.reveal())].into_iter().collect();
    let mut plain = Fields::new(&revealed, f.phase());
    let tags = read_tags(&mut plain, "tags");
    for (path, message) in plain.into_problems() {
        f.problem(&path, message);
    }
    tags
}

/// Checks a bucket name against S3's naming rules.
pub fn check_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid bucket name {name:?}: {why}"));
    let len = name.chars().count();
    if !(3..=63).contains(&len) {
        return bad(&format!("must be 3 to 63 characters long, not {len}"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return bad(&format!(
            "{c:?} is not allowed; use lowercase letters, digits, '.' and '-'"
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return bad("must begin and end with a letter or digit");
    }
    if name.contains("..") {
        return bad("must not contain two adjacent periods");
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return bad("must not be formatted as an IP address");
    }
    if let Some(p) = RESERVED_PREFIXES.iter().find(|p| name.starts_with(**p)) {
        return bad(&format!("the prefix {p:?} is reserved by AWS"));
    }
    if let Some(s) = RESERVED_SUFFIXES.iter().find(|s| name.ends_with(**s)) {
        return bad(&format!("the suffix {s:?} is reserved by AWS"));
    }
    Ok(())
}

impl BucketSpec {
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
    use infra_core::{Phase, ValuePath};

    /// Parses `inputs` as for an operation; every problem when any.
    fn read(inputs: &Value) -> Result<BucketSpec, Vec<(ValuePath, String)>> {
        let mut f = Fields::new(inputs, Phase::Apply);
        let spec = parse(&mut f);
        let problems = f.into_problems();
        if problems.is_empty() {
            Ok(spec)
        } else {
            Err(problems)
        }
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn defaults_fill_and_round_trip() {
        let given =
            json(r#"{"name": "logs", "lifecycle_rules": [{"id": "old", "expiration_days": 90}]}"#);
        let spec = read(&given).unwrap();
        assert_eq!(spec.encryption.as_ref().unwrap().algorithm, "AES256");
        assert_eq!(spec.public_access_block, [true; 4]);
        let normal = spec.to_inputs();
        assert_eq!(
            normal.get("lifecycle_rules"),
            Some(&json(
                r#"[{"id": "old", "enabled": true, "prefix": "", "transitions": [], "expiration_days": 90}]"#
            ))
        );
        assert_eq!(read(&normal).unwrap(), spec);
    }

    #[test]
    fn wrong_types_name_their_path() {
        let given = json(
            r#"{"name": "logs", "lifecycle_rules": [{"id": "a", "transitions": [{"days": "ten", "storage_class": "GLACIER"}]}]}"#,
        );
        let problems = read(&given).unwrap_err();
        let (path, message) = &problems[0];
        assert_eq!(
            infra_core::display_path(path),
            "lifecycle_rules[0].transitions[0].days"
        );
        assert!(message.contains("must be an integer"), "{message}");
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

    #[test]
    fn a_secret_tag_value_is_sent_as_its_plaintext() {
        let secret = |plain: Option<&str>| {
            let secret = match plain {
                Some(p) => infra_core::Secret::new("hmac:1", Value::from(p)),
                None => infra_core::Secret::redacted("hmac:1"),
            };
            let tags: Value = [("token", Value::Sensitive(secret))].into_iter().collect();
            [("name", Value::from("logs")), ("tags", tags)]
                .into_iter()
                .collect::<Value>()
        };
        let given = secret(Some("plain"));
        assert_eq!(read(&given).unwrap().tags["token"], "plain");
        let mut f = Fields::new(&given, Phase::Plan);
        parse(&mut f);
        assert!(f.into_problems().is_empty());
        // Without its plaintext (a state's digest): fine to plan, not to apply.
        let sealed = secret(None);
        let mut f = Fields::new(&sealed, Phase::Plan);
        parse(&mut f);
        assert!(f.into_problems().is_empty());
        let problems = read(&sealed).unwrap_err();
        assert_eq!(infra_core::display_path(&problems[0].0), "tags.token");
    }

    #[test]
    fn names_follow_the_s3_rules() {
        for ok in ["abc", "dev-airflow-logs", "a.b-c.1", &"a".repeat(63)] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("ab", "3 to 63"),
            (&"a".repeat(64), "3 to 63"),
            ("Logs", "'L' is not allowed"),
            ("my_bucket", "'_' is not allowed"),
            ("-abc", "begin and end"),
            ("abc.", "begin and end"),
            ("a..b", "adjacent periods"),
            ("192.168.5.4", "IP address"),
            ("xn--bucket", "prefix \"xn--\""),
            ("sthree-x", "prefix"),
            ("amzn-s3-demo-bucket", "prefix"),
            ("logs-s3alias", "suffix"),
            ("logs--ol-s3", "suffix"),
            ("logs.mrap", "suffix"),
            ("logs--x-s3", "suffix"),
        ] {
            let err = check_name(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
