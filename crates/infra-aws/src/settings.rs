//! The stack's `[aws]` table.

use infra_core::{ErrorKind, ProviderError, Value};

/// Where and as whom to reach AWS. Every field is optional: what is unset
/// comes from the standard AWS environment (`AWS_REGION`, `AWS_PROFILE`,
/// `AWS_ENDPOINT_URL`, the credentials chain).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AwsSettings {
    /// `region = "eu-west-1"`.
    pub region: Option<String>,
    /// `profile = "prod-admin"`: a profile of the shared config files.
    pub profile: Option<String>,
    /// `endpoint_url = "http://127.0.0.1:5000"`: an AWS-compatible endpoint
    /// (an emulator); S3 then uses path-style addressing.
    pub endpoint_url: Option<String>,
}

const KEYS: [&str; 3] = ["region", "profile", "endpoint_url"];

impl AwsSettings {
    /// Every problem of the `[aws]` table, each at its key.
    pub fn problems(table: &Value) -> Vec<(infra_core::ValuePath, String)> {
        infra_core::settings_problems(table, |t| AwsSettings::parse(t).err().map(|e| e.message))
    }

    /// Reads the `[aws]` table as the engine hands it over (`Null` when the
    /// stack has none).
    pub fn parse(table: &Value) -> Result<Self, ProviderError> {
        let invalid = |m: String| ProviderError::new(ErrorKind::Invalid, m);
        let map = match table {
            Value::Null => return Ok(AwsSettings::default()),
            Value::Map(m) => m,
            other => {
                return Err(invalid(format!(
                    "[aws] must be a table, found {}",
                    other.kind()
                )));
            }
        };
        let mut settings = AwsSettings::default();
        for (key, value) in map {
            let text = match value {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::String(_) | Value::Null => None,
                other => {
                    return Err(invalid(format!(
                        "[aws] {key} must be a string, found {}",
                        other.kind()
                    )));
                }
            };
            match key.as_str() {
                "region" => settings.region = text,
                "profile" => settings.profile = text,
                "endpoint_url" => settings.endpoint_url = text,
                _ => {
                    return Err(invalid(format!(
                        "unknown key `{key}` in [aws]; the keys are {}",
                        KEYS.join(", ")
                    )));
                }
            }
        }
        Ok(settings)
    }
}

/// The `[aws]` table every AWS resource type reads.
pub const AWS_SETTINGS: infra_core::SettingsTable = infra_core::SettingsTable {
    section: "aws",
    check: AwsSettings::problems,
};

/// An AWS resource type as the registry takes it: reading the `[aws]`
/// table. This is a type's one registration line.
pub fn typed<R: infra_core::Resource>(resource: R) -> std::sync::Arc<dyn infra_core::Provider> {
    std::sync::Arc::new(infra_core::Typed::new(resource).with_settings(AWS_SETTINGS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_table_and_refuses_unknown_keys() {
        let v: Value = [
            ("region", Value::from("eu-west-1")),
            ("endpoint_url", Value::from("http://127.0.0.1:5000")),
        ]
        .into_iter()
        .collect();
        let s = AwsSettings::parse(&v).unwrap();
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(
            AwsSettings::parse(&Value::Null).unwrap(),
            AwsSettings::default()
        );
        let bad: Value = [("regoin", Value::from("x"))].into_iter().collect();
        let err = AwsSettings::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("unknown key `regoin`"), "{err}");
    }
}
