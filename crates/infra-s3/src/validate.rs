//! Plan-time checks against AWS's documented rules for bucket names
//! (reference §3.5), lifecycle configurations, encryption and tags. Each
//! problem carries the path of the offending value, so the engine can point
//! at its line in the stack file. Values that are unknown until apply, or of
//! the wrong type (the schema reports those), are skipped.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use infra_core::{PathSeg, Value, ValuePath};

/// Storage classes a lifecycle transition may name, warmest first: the
/// order of AWS's transition "waterfall", in which objects only move down.
pub const STORAGE_CLASSES: [&str; 6] = [
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];

/// Classes that need objects to be 30 days old, and 30 days in them before
/// the next transition.
const INFREQUENT_ACCESS: [&str; 2] = ["STANDARD_IA", "ONEZONE_IA"];
const IA_MIN_DAYS: i64 = 30;

const MAX_RULES: usize = 1000;
const MAX_RULE_ID: usize = 255;
const MAX_TAGS: usize = 50;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;

const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// Every problem found in an `s3_bucket`'s inputs.
pub fn validate(inputs: &Value) -> Vec<(ValuePath, String)> {
    let mut out = Problems::default();
    if let Some(Value::String(name)) = inputs.get("name")
        && let Err(message) = check_name(name)
    {
        out.push(vec![key("name")], message);
    }
    check_encryption(inputs, &mut out);
    if let Some(Value::List(rules)) = inputs.get("lifecycle_rules") {
        check_rules(rules, &mut out);
    }
    if let Some(Value::Map(tags)) = inputs.get("tags") {
        check_tags(tags, &mut out);
    }
    out.0
}

#[derive(Default)]
struct Problems(Vec<(ValuePath, String)>);

impl Problems {
    fn push(&mut self, path: ValuePath, message: String) {
        self.0.push((path, message));
    }
}

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_owned())
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

fn check_encryption(inputs: &Value, out: &mut Problems) {
    let algorithm = inputs.get("encryption");
    if let Some(Value::String(a)) = algorithm
        && a != "AES256"
        && a != "aws:kms"
    {
        out.push(
            vec![key("encryption")],
            format!("encryption must be \"AES256\" or \"aws:kms\", not {a:?}"),
        );
    }
    if let (Some(Value::String(a)), Some(Value::String(_))) = (algorithm, inputs.get("kms_key_id"))
        && a != "aws:kms"
    {
        out.push(
            vec![key("kms_key_id")],
            "kms_key_id needs encryption = \"aws:kms\"".to_owned(),
        );
    }
}

fn check_tags(tags: &BTreeMap<String, Value>, out: &mut Problems) {
    if tags.len() > MAX_TAGS {
        out.push(
            vec![key("tags")],
            format!("a bucket has at most {MAX_TAGS} tags, not {}", tags.len()),
        );
    }
    for (k, v) in tags {
        let at = || vec![key("tags"), key(k)];
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY {
            out.push(at(), format!("tag keys are 1 to {MAX_TAG_KEY} characters"));
        }
        if k.starts_with("aws:") {
            out.push(
                at(),
                format!("tag key {k:?}: the prefix \"aws:\" is reserved by AWS"),
            );
        }
        if let Value::String(s) = v
            && s.chars().count() > MAX_TAG_VALUE
        {
            out.push(
                at(),
                format!("tag values are at most {MAX_TAG_VALUE} characters"),
            );
        }
    }
}

/// A known integer, if the value is one.
fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_int)
}

fn check_rules(rules: &[Value], out: &mut Problems) {
    if rules.len() > MAX_RULES {
        out.push(
            vec![key("lifecycle_rules")],
            format!(
                "a bucket has at most {MAX_RULES} lifecycle rules, not {}",
                rules.len()
            ),
        );
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, rule) in rules.iter().enumerate() {
        let base = vec![key("lifecycle_rules"), PathSeg::Index(i)];
        let at = |k: &str| {
            let mut p = base.clone();
            p.push(key(k));
            p
        };
        if let Some(Value::String(id)) = rule.get("id") {
            if id.is_empty() || id.chars().count() > MAX_RULE_ID {
                out.push(
                    at("id"),
                    format!("rule ids are 1 to {MAX_RULE_ID} characters"),
                );
            }
            if let Some(first) = seen.insert(id, i) {
                out.push(
                    at("id"),
                    format!("rule id {id:?} is already used by lifecycle_rules[{first}]; ids must be unique"),
                );
            }
        }
        let name = rule.get("id").and_then(Value::as_str).map_or_else(
            || format!("lifecycle_rules[{i}]"),
            |id| format!("rule {id:?}"),
        );
        let last_transition = check_transitions(rule.get("transitions"), &base, &name, out);
        for (k, what) in [
            ("expiration_days", "expiration_days"),
            (
                "noncurrent_version_expiration_days",
                "noncurrent_version_expiration_days",
            ),
            (
                "abort_incomplete_multipart_upload_days",
                "abort_incomplete_multipart_upload_days",
            ),
        ] {
            if let Some(d) = int(rule.get(k))
                && d < 1
            {
                out.push(at(k), format!("{name}: {what} must be at least 1, not {d}"));
            }
        }
        if let (Some(exp), Some(last)) = (int(rule.get("expiration_days")), last_transition)
            && exp <= last
        {
            out.push(
                at("expiration_days"),
                format!(
                    "{name}: objects expire after {exp} days, which is not after the last transition at {last} days; expire later or drop the transition"
                ),
            );
        }
        let has_action = |k: &str| rule.get(k).is_some_and(|v| !matches!(v, Value::Null));
        let transitions = rule.get("transitions").is_some_and(|t| {
            !matches!(t, Value::List(l) if l.is_empty()) && !matches!(t, Value::Null)
        });
        if rule.as_map().is_some()
            && !transitions
            && !has_action("expiration_days")
            && !has_action("noncurrent_version_expiration_days")
            && !has_action("abort_incomplete_multipart_upload_days")
        {
            out.push(
                base.clone(),
                format!("{name} has no action: set transitions, expiration_days, noncurrent_version_expiration_days or abort_incomplete_multipart_upload_days"),
            );
        }
    }
}

/// Checks one rule's transitions; returns the days of the last one when
/// every day count is known.
fn check_transitions(
    transitions: Option<&Value>,
    base: &[PathSeg],
    name: &str,
    out: &mut Problems,
) -> Option<i64> {
    let Some(Value::List(list)) = transitions else {
        return None;
    };
    let mut prev: Option<(i64, &str, usize)> = None;
    let mut all_known = true;
    for (j, t) in list.iter().enumerate() {
        let at = |k: &str| {
            let mut p = base.to_vec();
            p.extend([key("transitions"), PathSeg::Index(j), key(k)]);
            p
        };
        let days = int(t.get("days"));
        let class = t.get("storage_class").and_then(Value::as_str);
        let rank = class.and_then(|c| STORAGE_CLASSES.iter().position(|k| *k == c));
        if let (Some(c), None) = (class, rank) {
            out.push(
                at("storage_class"),
                format!(
                    "{name}: unknown storage class {c:?}; use one of {}",
                    STORAGE_CLASSES.join(", ")
                ),
            );
        }
        if let Some(d) = days {
            if d < 0 {
                out.push(
                    at("days"),
                    format!("{name}: transition days must not be negative, not {d}"),
                );
            }
            if let Some(c) = class
                && INFREQUENT_ACCESS.contains(&c)
                && d < IA_MIN_DAYS
            {
                out.push(
                    at("days"),
                    format!("{name}: objects must be at least {IA_MIN_DAYS} days old to move to {c}, not {d}"),
                );
            }
        } else {
            all_known = false;
        }
        if let (Some(d), Some((pd, pc, pj))) = (days, prev) {
            if d <= pd {
                out.push(
                    at("days"),
                    format!("{name}: transitions must be in strictly increasing days; {d} is not after {pd} (transitions[{pj}])"),
                );
            } else if INFREQUENT_ACCESS.contains(&pc) && d - pd < IA_MIN_DAYS {
                out.push(
                    at("days"),
                    format!("{name}: objects must stay {IA_MIN_DAYS} days in {pc} before the next transition; use at least {} days", pd + IA_MIN_DAYS),
                );
            }
        }
        if let (Some(c), Some(r), Some((_, pc, pj))) = (class, rank, prev) {
            let prev_rank = STORAGE_CLASSES.iter().position(|k| *k == pc);
            if prev_rank.is_some_and(|p| r <= p) {
                out.push(
                    at("storage_class"),
                    format!("{name}: cannot transition from {pc} (transitions[{pj}]) to {c}; order transitions from warmer to colder ({})", STORAGE_CLASSES.join(" → ")),
                );
            }
        }
        if let (Some(d), Some(c)) = (days, class) {
            prev = Some((d, c, j));
        } else if let Some(d) = days {
            // An unknown class still orders by days.
            prev = Some((d, "", j));
        }
    }
    if all_known { prev.map(|p| p.0) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

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
