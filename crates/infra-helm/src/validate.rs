//! The rules of `helm_release` inputs beyond their types that the spec's
//! parse applies (release and namespace names, the timeout's syntax), and
//! the plan-time check of the values against the chart's
//! `values.schema.json` when the chart is on the local disk.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use infra_chart::{Chart, ValuesSchema, default_helm_cache};
use infra_core::{CheckContext, PathSeg, Value, ValuePath, display_path};

use crate::spec::Settings;

/// The longest release name helm accepts.
pub const MAX_NAME_LEN: usize = 53;

/// The longest namespace name Kubernetes accepts (a DNS label).
const MAX_NAMESPACE_LEN: usize = 63;

/// Checks a release name: 1-53 characters, a DNS label (lowercase letters,
/// digits and `-`, starting and ending with a letter or digit).
pub fn check_name(name: &str) -> Result<(), String> {
    check_label(name, MAX_NAME_LEN, "release name")
}

/// Checks a namespace name: a DNS label of 1-63 characters.
pub(crate) fn check_namespace(namespace: &str) -> Result<(), String> {
    check_label(namespace, MAX_NAMESPACE_LEN, "namespace")
}

fn check_label(s: &str, max: usize, what: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > max {
        return Err(format!(
            "{what} `{s}` must be 1 to {max} characters long, not {}",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "{what} `{s}` contains {c:?}: use lowercase letters, digits and `-`"
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(format!(
            "{what} `{s}` must start and end with a letter or digit"
        ));
    }
    Ok(())
}

/// Parses a helm duration: one or more `<number><unit>` with unit `h`, `m`
/// or `s`, e.g. `10m`, `1h30m`, `300s`. helm receives the text as written.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let bad =
        || format!("timeout `{s}` is not a duration: write e.g. \"10m\", \"1h30m\" or \"300s\"");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

fn key(name: &str) -> ValuePath {
    vec![PathSeg::Key(name.to_owned())]
}

/// What a compiled schema was made from: the chart's schema, defaults
/// (`values.yaml`) and dependencies.
type SchemaSource = (serde_json::Value, Option<serde_json::Value>, Vec<String>);

/// Compiled chart schemas by chart file, so that a plan (which checks each
/// release more than once) compiles a large schema once.
#[derive(Default)]
pub(crate) struct SchemaCache(Mutex<HashMap<PathBuf, (SchemaSource, Arc<ValuesSchema>)>>);

impl SchemaCache {
    /// The violations of the release's `values` against its chart's schema,
    /// each at its path under `values`: the values coalesced with the
    /// chart's `values.yaml` first, as helm validates them (a `null` that
    /// deletes a default is no error). None when the chart is not on the
    /// local disk (helm fetches it at apply; nothing to check against) or
    /// has no schema. Values unknown until apply pass here and are checked
    /// when the engine resolves them, before helm runs.
    pub(crate) fn check(
        &self,
        project: &CheckContext<'_>,
        chart: &str,
        version: Option<&str>,
        values: &Value,
    ) -> Vec<(ValuePath, String)> {
        let cache = match Settings::from_value(project.settings, project.root) {
            Ok(s) => s.cache.or_else(default_helm_cache),
            Err(e) => return vec![(Vec::new(), e.message)],
        };
        let chart = match Chart::locate(chart, version, project.root, cache.as_deref()) {
            Ok(Some(c)) => c,
            Ok(None) => return Vec::new(),
            Err(e) => return vec![(key("chart"), e.to_string())],
        };
        let schema = match self.schema(&chart) {
            Ok(Some(s)) => s,
            Ok(None) => return Vec::new(),
            Err(e) => return vec![(key("chart"), e)],
        };
        schema
            .validate(values)
            .into_iter()
            .map(|(path, message)| {
                let mut at = key("values");
                at.extend(path);
                let message = format!(
                    "`{}`: {message} (values.schema.json of chart {} {})",
                    display_path(&at),
                    chart.name,
                    chart.version
                );
                (at, message)
            })
            .collect()
    }

    fn schema(&self, chart: &Chart) -> Result<Option<Arc<ValuesSchema>>, String> {
        let Some(document) = &chart.schema else {
            return Ok(None);
        };
        let source = (
            document.clone(),
            chart.values.clone(),
            chart.dependencies.clone(),
        );
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // The chart was just read: a schema or values.yaml edited since is
        // compiled again.
        if let Some((seen, compiled)) = cache.get(&chart.source)
            && *seen == source
        {
            return Ok(Some(compiled.clone()));
        }
        let Some(schema) = chart.values_schema().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let schema = Arc::new(schema);
        cache.insert(chart.source.clone(), (source, schema.clone()));
        Ok(Some(schema))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_label_rules() {
        assert!(check_name("airflow").is_ok());
        assert!(check_name("a").is_ok());
        assert!(check_name(&"a".repeat(53)).is_ok());
        assert!(check_name(&"a".repeat(54)).is_err());
        assert!(check_name("").is_err());
        assert!(check_name("Airflow").is_err());
        assert!(check_name("air_flow").is_err());
        assert!(check_name("-airflow").is_err());
        assert!(check_name("airflow-").is_err());
        assert!(check_name("air.flow").is_err());
    }

    #[test]
    fn timeouts_parse_like_go_durations() {
        assert_eq!(parse_timeout("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_timeout("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_timeout("300s"), Ok(Duration::from_secs(300)));
        for bad in ["", "10", "m", "10x", "1.5h", "-1m"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }
}
