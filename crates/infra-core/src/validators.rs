//! Per-attribute rules beyond types: ranges, lengths, patterns, fixed
//! choices, CIDR blocks, ARNs. A schema attaches them with
//! [`Attribute::validate`](crate::Attribute::validate); the planner checks
//! them with [`Schema::validate`](crate::Schema::validate), each problem at
//! the path (and so the TOML line) of the offending value.
//!
//! Where a rule applies:
//!
//! - on a scalar attribute, to its value;
//! - on a list, set or map attribute, to each item (each value of a map),
//!   recursively; except [`Validator::Count`], which counts the items of the
//!   attribute's own list, set or map;
//! - never to a value of the wrong kind (a range on a string): the type
//!   check reports that;
//! - never to a value unknown until apply: it is checked once known, by the
//!   provider's own parse;
//! - to a secret's plaintext when this process has it, and the message then
//!   shows `(sensitive)` instead of the value.

use std::fmt;

use crate::value::Value;

/// A rule on an attribute's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Validator {
    /// The whole string matches a regular expression.
    Pattern(Pattern),
    /// An integer between `min` and `max`, both included. Use `i64::MIN` or
    /// `i64::MAX` for an open end.
    Range {
        /// The smallest value allowed.
        min: i64,
        /// The largest value allowed.
        max: i64,
    },
    /// A string of `min` to `max` characters (Unicode scalar values), both
    /// included; `usize::MAX` for no upper limit.
    Length {
        /// The fewest characters.
        min: usize,
        /// The most characters.
        max: usize,
    },
    /// A list, set or map of `min` to `max` items, both included;
    /// `usize::MAX` for no upper limit.
    Count {
        /// The fewest items.
        min: usize,
        /// The most items.
        max: usize,
    },
    /// One of these strings, exactly (case matters).
    OneOf(Vec<String>),
    /// An IPv4 CIDR block `a.b.c.d/n`: four decimal octets 0-255 without
    /// leading zeros, a prefix length 0-32, and no bits set after the
    /// prefix (`10.0.0.0/16`, not `10.0.0.1/16`), as AWS's VPC, subnet and
    /// EKS access CIDRs are network addresses.
    Cidr,
    /// An ARN, `arn:partition:service:region:account:resource`: partition
    /// `aws` or `aws-*`, a service, a region (empty for global services), an
    /// account (empty, 12 digits, or `aws` for AWS-managed resources), and a
    /// non-empty resource (which may hold `:` and `/`).
    Arn,
}

/// A compiled regular expression that must match a whole string, with a
/// description for people ("lowercase letters, digits and hyphens").
#[derive(Clone)]
pub struct Pattern {
    source: String,
    description: String,
    regex: regex_lite::Regex,
}

impl Pattern {
    /// The expression as written, without the anchors added to match the
    /// whole value.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What a matching value looks like, in words.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether `s` matches, as a whole.
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.description == other.description
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pattern")
            .field("source", &self.source)
            .field("description", &self.description)
            .finish()
    }
}

impl Validator {
    /// A string matching `regex` as a whole (it is anchored at both ends),
    /// described to people as `description`. The syntax is `regex-lite`'s
    /// (Rust `regex` without Unicode classes).
    ///
    /// # Panics
    ///
    /// When `regex` is not a valid expression: schemas are written in
    /// code, so this is a bug of the provider, found by its first test.
    pub fn pattern(regex: &str, description: &str) -> Validator {
        let anchored = format!("^(?:{regex})$");
        let compiled = regex_lite::Regex::new(&anchored)
            .unwrap_or_else(|e| panic!("invalid pattern `{regex}`: {e}"));
        Validator::Pattern(Pattern {
            source: regex.to_owned(),
            description: description.to_owned(),
            regex: compiled,
        })
    }

    /// One of these strings.
    pub fn one_of(values: &[&str]) -> Validator {
        Validator::OneOf(values.iter().map(|v| (*v).to_owned()).collect())
    }

    /// Whether the rule applies to the attribute's own list, set or map
    /// rather than to each of its items.
    pub(crate) fn counts_items(&self) -> bool {
        matches!(self, Validator::Count { .. })
    }

    /// The rule in words, for docs: `between 1 and 65535`, `one of `a`,
    /// `b``, `an IPv4 CIDR block`.
    pub fn describe(&self) -> String {
        match self {
            Validator::Pattern(p) => format!("{} (`{}`)", p.description, p.source),
            Validator::Range { min, max } => bounds(
                (*min != i64::MIN).then_some(*min),
                (*max != i64::MAX).then_some(*max),
                "",
            ),
            Validator::Length { min, max } => bounds(
                (*min > 0).then_some(*min),
                (*max != usize::MAX).then_some(*max),
                " characters long",
            ),
            Validator::Count { min, max } => bounds(
                (*min > 0).then_some(*min),
                (*max != usize::MAX).then_some(*max),
                " items",
            ),
            Validator::OneOf(values) => {
                let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
                format!("one of {}", quoted.join(", "))
            }
            Validator::Cidr => "an IPv4 CIDR block such as 10.0.0.0/16".into(),
            Validator::Arn => "an ARN (arn:partition:service:region:account:resource)".into(),
        }
    }

    /// Checks one value; `Err` holds the message after the attribute's
    /// name: `must be between 1 and 65535, found 70000`. A value of a kind
    /// the rule does not apply to passes. The message of a `sensitive`
    /// value shows `(sensitive)` instead of it, and nothing derived from it.
    pub fn check(&self, value: &Value, sensitive: bool) -> Result<(), String> {
        let shown: &dyn fmt::Display = if sensitive { &"(sensitive)" } else { value };
        let fail = || Err(format!("must be {}, found {shown}", self.describe()));
        match (self, value) {
            (Validator::Pattern(p), Value::String(s)) if !p.is_match(s) => Err(format!(
                "must be {} (matching `{}`), found {shown}",
                p.description, p.source
            )),
            (Validator::Range { min, max }, Value::Int(i)) if i < min || i > max => fail(),
            (Validator::Range { min, max }, Value::Float(x))
                if *x < *min as f64 || *x > *max as f64 =>
            {
                fail()
            }
            (Validator::Length { min, max }, Value::String(s)) => {
                let n = s.chars().count();
                if (*min..=*max).contains(&n) {
                    Ok(())
                } else if sensitive {
                    fail()
                } else {
                    Err(format!(
                        "must be {}, found {shown} ({n} characters)",
                        self.describe()
                    ))
                }
            }
            (Validator::Count { min, max }, Value::List(_) | Value::Map(_)) => {
                let n = match value {
                    Value::List(l) => l.len(),
                    Value::Map(m) => m.len(),
                    _ => 0,
                };
                if n < *min || n > *max {
                    Err(format!("must have {}, found {n}", self.describe()))
                } else {
                    Ok(())
                }
            }
            (Validator::OneOf(values), Value::String(s)) if !values.contains(s) => fail(),
            (Validator::Cidr | Validator::Arn, Value::String(s)) => {
                let shape = if matches!(self, Validator::Cidr) {
                    cidr(s)
                } else {
                    arn(s)
                };
                match shape {
                    Ok(()) => Ok(()),
                    // The reason quotes parts of the value.
                    Err(_) if sensitive => fail(),
                    Err(why) => Err(format!("must be {}, found {shown}: {why}", self.describe())),
                }
            }
            _ => Ok(()),
        }
    }
}

/// `between 1 and 65535`, `at least 1`, `at most 5 items`.
fn bounds<T: fmt::Display + PartialEq>(min: Option<T>, max: Option<T>, unit: &str) -> String {
    match (min, max) {
        (Some(a), Some(b)) if a == b => format!("exactly {a}{unit}"),
        (Some(a), Some(b)) => format!("between {a} and {b}{unit}"),
        (Some(a), None) => format!("at least {a}{unit}"),
        (None, Some(b)) => format!("at most {b}{unit}"),
        (None, None) => format!("any number{unit}"),
    }
}

/// Checks an IPv4 CIDR block; `Err` says what is wrong.
fn cidr(s: &str) -> Result<(), String> {
    let Some((addr, prefix)) = s.split_once('/') else {
        return Err("no `/` and prefix length".into());
    };
    let octets: Vec<&str> = addr.split('.').collect();
    if octets.len() != 4 {
        return Err(format!("`{addr}` is not four dot-separated numbers"));
    }
    let mut ip: u32 = 0;
    for o in &octets {
        let ok = !o.is_empty()
            && o.len() <= 3
            && o.bytes().all(|b| b.is_ascii_digit())
            && (o.len() == 1 || !o.starts_with('0'));
        let n = o.parse::<u32>().ok().filter(|n| ok && *n <= 255);
        let Some(n) = n else {
            return Err(format!("`{o}` is not a number from 0 to 255"));
        };
        ip = (ip << 8) | n;
    }
    let n = (!prefix.is_empty()
        && prefix.len() <= 2
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && (prefix.len() == 1 || !prefix.starts_with('0')))
    .then(|| prefix.parse::<u32>().ok())
    .flatten()
    .filter(|n| *n <= 32);
    let Some(n) = n else {
        return Err(format!("the prefix length `{prefix}` is not 0 to 32"));
    };
    let mask = if n == 0 { 0 } else { u32::MAX << (32 - n) };
    if ip & !mask != 0 {
        let net = ip & mask;
        return Err(format!(
            "bits are set after the /{n} prefix; the block is {}.{}.{}.{}/{n}",
            net >> 24,
            (net >> 16) & 0xff,
            (net >> 8) & 0xff,
            net & 0xff
        ));
    }
    Ok(())
}

/// Checks an ARN's shape; `Err` says what is wrong.
fn arn(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Err("not of the form arn:partition:service:region:account:resource".into());
    }
    let (partition, service, region, account, resource) =
        (parts[1], parts[2], parts[3], parts[4], parts[5]);
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !(partition == "aws" || partition.starts_with("aws-") && word(partition)) {
        return Err(format!(
            "the partition `{partition}` is not `aws` or `aws-*`"
        ));
    }
    if !word(service) {
        return Err(format!(
            "the service `{service}` is not lowercase letters, digits and `-`"
        ));
    }
    if !region.is_empty() && !word(region) {
        return Err(format!("the region `{region}` is not a region name"));
    }
    let account_ok = account.is_empty()
        || account == "aws"
        || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
    if !account_ok {
        return Err(format!(
            "the account `{account}` is not 12 digits (or empty, or `aws`)"
        ));
    }
    if resource.is_empty() {
        return Err("the resource is empty".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: &Validator, value: impl Into<Value>) -> Result<(), String> {
        let value = value.into();
        v.check(&value, false)
    }

    #[test]
    fn range_bounds_integers() {
        let port = Validator::Range { min: 1, max: 65535 };
        assert_eq!(check(&port, 1), Ok(()));
        assert_eq!(check(&port, 65535), Ok(()));
        assert_eq!(
            check(&port, 70000),
            Err("must be between 1 and 65535, found 70000".into())
        );
        assert_eq!(
            check(&port, 0),
            Err("must be between 1 and 65535, found 0".into())
        );
        assert!(port.check(&Value::Float(0.5), false).is_err());
        assert_eq!(
            check(&port, "eighty"),
            Ok(()),
            "the type check reports kinds"
        );
        let open = Validator::Range {
            min: 0,
            max: i64::MAX,
        };
        assert_eq!(open.describe(), "at least 0");
        assert_eq!(check(&open, -1), Err("must be at least 0, found -1".into()));
    }

    #[test]
    fn length_counts_characters() {
        let name = Validator::Length { min: 1, max: 3 };
        assert_eq!(check(&name, "abc"), Ok(()));
        assert_eq!(check(&name, "äöü"), Ok(()), "characters, not bytes");
        assert_eq!(
            check(&name, "abcd"),
            Err("must be between 1 and 3 characters long, found \"abcd\" (4 characters)".into())
        );
        assert!(check(&name, "").is_err());
        let max = Validator::Length { min: 0, max: 255 };
        assert_eq!(max.describe(), "at most 255 characters long");
    }

    #[test]
    fn count_counts_items() {
        let few = Validator::Count { min: 1, max: 2 };
        let list = |n: usize| Value::List(vec![Value::from("x"); n]);
        assert_eq!(check(&few, list(2)), Ok(()));
        assert_eq!(
            check(&few, list(3)),
            Err("must have between 1 and 2 items, found 3".into())
        );
        assert!(check(&few, Value::map()).is_err());
        assert_eq!(check(&few, "a string"), Ok(()));
    }

    #[test]
    fn one_of_is_exact() {
        let effect = Validator::one_of(&["NO_SCHEDULE", "NO_EXECUTE"]);
        assert_eq!(check(&effect, "NO_SCHEDULE"), Ok(()));
        assert_eq!(
            check(&effect, "no_schedule"),
            Err("must be one of `NO_SCHEDULE`, `NO_EXECUTE`, found \"no_schedule\"".into())
        );
    }

    #[test]
    fn pattern_matches_the_whole_value() {
        let p = Validator::pattern("[a-z][a-z0-9-]*", "lowercase letters, digits and `-`");
        assert_eq!(check(&p, "my-bucket1"), Ok(()));
        assert_eq!(
            check(&p, "My-bucket"),
            Err("must be lowercase letters, digits and `-` (matching `[a-z][a-z0-9-]*`), found \"My-bucket\"".into())
        );
        assert!(check(&p, "ok!").is_err(), "anchored at the end too");
        assert_eq!(
            p,
            Validator::pattern("[a-z][a-z0-9-]*", "lowercase letters, digits and `-`")
        );
    }

    #[test]
    #[should_panic(expected = "invalid pattern")]
    fn a_bad_pattern_is_a_bug() {
        let _ = Validator::pattern("(", "never");
    }

    #[test]
    fn cidr_blocks_are_network_addresses() {
        for good in [
            "10.0.0.0/16",
            "0.0.0.0/0",
            "192.168.1.17/32",
            "172.16.0.0/12",
        ] {
            assert_eq!(check(&Validator::Cidr, good), Ok(()), "{good}");
        }
        let why = |s: &str| check(&Validator::Cidr, s).unwrap_err();
        assert!(why("10.0.0.0").ends_with("no `/` and prefix length"));
        assert!(why("10.0.0/16").ends_with("`10.0.0` is not four dot-separated numbers"));
        assert!(why("10.0.0.256/16").ends_with("`256` is not a number from 0 to 255"));
        assert!(why("10.0.0.01/32").ends_with("`01` is not a number from 0 to 255"));
        assert!(why("10.0.0.0/33").ends_with("the prefix length `33` is not 0 to 32"));
        assert!(why("10.0.0.0/").ends_with("the prefix length `` is not 0 to 32"));
        assert!(why("10.0.0.0/+8").ends_with("the prefix length `+8` is not 0 to 32"));
        assert_eq!(
            why("10.0.0.1/16"),
            "must be an IPv4 CIDR block such as 10.0.0.0/16, found \"10.0.0.1/16\": bits are set after the /16 prefix; the block is 10.0.0.0/16"
        );
    }

    #[test]
    fn arns_have_six_parts() {
        for good in [
            "arn:aws:iam::123456789012:role/eks-cluster",
            "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            "arn:aws:s3:::my-bucket/key:with:colons",
            "arn:aws-cn:kms:cn-north-1:123456789012:key/abc",
            "arn:aws-us-gov:rds:us-gov-west-1:123456789012:db:mydb",
        ] {
            assert_eq!(check(&Validator::Arn, good), Ok(()), "{good}");
        }
        let why = |s: &str| check(&Validator::Arn, s).unwrap_err();
        assert!(
            why("role/eks")
                .ends_with("not of the form arn:partition:service:region:account:resource")
        );
        assert!(
            why("arn:gcp:iam::123456789012:role/x")
                .ends_with("the partition `gcp` is not `aws` or `aws-*`")
        );
        assert!(why("arn:aws:IAM::123456789012:role/x").contains("the service `IAM`"));
        assert!(why("arn:aws:iam::1234:role/x").contains("the account `1234` is not 12 digits"));
        assert!(why("arn:aws:iam::123456789012:").ends_with("the resource is empty"));
    }

    #[test]
    fn secrets_are_not_shown() {
        let v = Value::from("hunter2");
        let e = Validator::Length { min: 10, max: 20 }
            .check(&v, true)
            .unwrap_err();
        assert_eq!(
            e,
            "must be between 10 and 20 characters long, found (sensitive)"
        );
        let e = Validator::Cidr.check(&v, true).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
