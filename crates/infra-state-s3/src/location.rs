//! `s3://bucket/path/to/key.json`: where a stack's state lives, and the
//! names of the objects kept beside it.

use std::fmt;
use std::str::FromStr;

use infra_core::BackendError;

/// A parsed `s3://bucket/key` state location.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct S3Location {
    bucket: String,
    key: String,
}

const EXAMPLE: &str = "s3://my-state-bucket/stacks/prod.json";

impl S3Location {
    /// Parses `s3://bucket/path/to/key.json`.
    pub fn parse(location: &str) -> Result<Self, BackendError> {
        let bad = |why: &str| {
            BackendError::Io(format!(
                "invalid state location `{location}`: {why}; a valid one looks like `{EXAMPLE}`"
            ))
        };
        let rest = location
            .strip_prefix("s3://")
            .ok_or_else(|| bad("it does not start with `s3://`"))?;
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| bad("it names no object key after the bucket"))?;
        if bucket.is_empty() {
            return Err(bad("the bucket name is empty"));
        }
        // S3 bucket naming rules, the parts a typo breaks.
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && bucket.as_bytes()[0].is_ascii_alphanumeric()
            && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric();
        if !bucket_ok {
            return Err(bad(&format!(
                "`{bucket}` is not a valid bucket name (3 to 63 lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit)"
            )));
        }
        if key.is_empty() || key.ends_with('/') {
            return Err(bad("the object key is empty or ends with `/`"));
        }
        if key.starts_with('/') || key.contains("//") {
            return Err(bad("the object key has an empty path segment (`//`)"));
        }
        if key.len() > 900 {
            // S3 allows 1024 bytes; leave room for `.journal/<seq>`.
            return Err(bad("the object key is longer than 900 bytes"));
        }
        Ok(S3Location {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The snapshot's object key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The lock object's key: `<key>.lock`.
    pub fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    /// The prefix of the journal's objects: `<key>.journal/`.
    pub fn journal_prefix(&self) -> String {
        format!("{}.journal/", self.key)
    }

    /// The journal object with sequence number `seq`, zero-padded so that
    /// names sort in append order.
    pub fn journal_key(&self, seq: u64) -> String {
        format!("{}{seq:020}", self.journal_prefix())
    }

    /// `s3://bucket/<key>` for another object of this bucket, for messages.
    pub fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl FromStr for S3Location {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        S3Location::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_key() {
        let l = S3Location::parse("s3://my-bucket/stacks/prod.json").unwrap();
        assert_eq!(l.bucket(), "my-bucket");
        assert_eq!(l.key(), "stacks/prod.json");
        assert_eq!(l.lock_key(), "stacks/prod.json.lock");
        assert_eq!(
            l.journal_key(7),
            "stacks/prod.json.journal/00000000000000000007"
        );
        assert_eq!(l.to_string(), "s3://my-bucket/stacks/prod.json");
    }

    #[test]
    fn bad_locations_say_what_a_good_one_looks_like() {
        for (bad, why) in [
            ("my-bucket/prod.json", "does not start with `s3://`"),
            ("s3://my-bucket", "names no object key"),
            ("s3:///prod.json", "bucket name is empty"),
            ("s3://My_Bucket/prod.json", "not a valid bucket name"),
            ("s3://my-bucket/", "object key is empty"),
            ("s3://my-bucket/a//b.json", "empty path segment"),
        ] {
            let e = S3Location::parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
            assert!(e.contains(why), "{e}");
            assert!(e.contains(EXAMPLE), "{e}");
        }
    }
}
