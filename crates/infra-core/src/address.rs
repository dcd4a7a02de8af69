//! Resource addresses: `<type>.<name>`, the key of a resource everywhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The address of a resource, `<type>.<name>`, e.g. `rds_instance.airflow_db`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    /// The resource type, e.g. `s3_bucket`.
    pub ty: String,
    /// The resource's name within the stack, e.g. `logs`.
    pub name: String,
}

/// A string that is not a valid `<type>.<name>` address.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not a resource address: expected `<type>.<name>` with ASCII letters, digits, `_` or `-`"
)]
pub struct AddressError(pub String);

impl Address {
    /// Builds an address from its parts, checking both are identifiers.
    pub fn new(ty: &str, name: &str) -> Result<Self, AddressError> {
        if is_identifier(ty) && is_identifier(name) {
            Ok(Address {
                ty: ty.to_owned(),
                name: name.to_owned(),
            })
        } else {
            Err(AddressError(format!("{ty}.{name}")))
        }
    }
}

/// Identifiers are what a TOML bare key allows, so every address can be
/// written unquoted in a stack file.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.ty, self.name)
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('.') {
            Some((ty, name)) => Address::new(ty, name),
            None => Err(AddressError(s.to_owned())),
        }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let a: Address = "s3_bucket.logs".parse().unwrap();
        assert_eq!(a.ty, "s3_bucket");
        assert_eq!(a.name, "logs");
        assert_eq!(a.to_string(), "s3_bucket.logs");
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "s3_bucket", "s3_bucket.", ".logs", "a.b.c", "a b.c"] {
            assert!(
                bad.parse::<Address>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
