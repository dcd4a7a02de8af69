//! Finding a chart on the local disk and reading its `Chart.yaml` and
//! `values.schema.json`, from a directory or a packaged `.tgz`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::ChartError;
use crate::validate::ValuesSchema;

/// The largest chart file read (the Airflow chart's schema is 650 KB); a
/// bound so that a hostile archive cannot exhaust memory.
const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

const CHART_YAML: &str = "Chart.yaml";
const SCHEMA_JSON: &str = "values.schema.json";
const VALUES_YAML: &str = "values.yaml";

/// A Helm chart as far as values validation needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// `name` from `Chart.yaml`.
    pub name: String,
    /// `version` from `Chart.yaml`.
    pub version: String,
    /// `appVersion` from `Chart.yaml`, when set.
    pub app_version: Option<String>,
    /// The parsed `values.schema.json`, when the chart has one.
    pub schema: Option<serde_json::Value>,
    /// The chart's `values.yaml` (its defaults) as JSON; `None` when the
    /// chart has none or it is empty.
    pub values: Option<serde_json::Value>,
    /// The keys of the chart's dependencies in its values: each
    /// `dependencies` entry's `alias`, else its `name` (Chart.yaml).
    pub dependencies: Vec<String>,
    /// The directory or archive the chart was read from, for messages.
    pub source: PathBuf,
}

impl Chart {
    /// Finds `chart` (as given to `helm_release`) on the local disk:
    ///
    /// 1. a chart directory (holding `Chart.yaml`) or a `.tgz` at `chart`,
    ///    relative to `root` unless absolute;
    /// 2. otherwise a repository chart (`name`, `repo/name` or an `oci://`
    ///    reference) of exactly `version` in helm's cache,
    ///    `<helm_cache>/repository/<name>-<version>.tgz`, where `helm_cache`
    ///    is helm's cache home (see [`default_helm_cache`]).
    ///
    /// `Ok(None)` when the chart is not available locally: no such path, no
    /// cache, no exact version (a range or "latest" is resolved by helm
    /// against the repository index, which may be newer than the cache). A
    /// chart that is found but cannot be read is an error. `version` is not
    /// checked against a local chart, as helm does not check it either.
    pub fn locate(
        chart: &str,
        version: Option<&str>,
        root: &Path,
        helm_cache: Option<&Path>,
    ) -> Result<Option<Chart>, ChartError> {
        if chart.trim().is_empty() {
            return Ok(None);
        }
        let local = root.join(chart);
        if local.is_dir() {
            if local.join(CHART_YAML).is_file() {
                return Chart::from_dir(&local).map(Some);
            }
            return Ok(None);
        }
        if local.is_file() && is_archive_name(chart) {
            return Chart::from_archive(&local).map(Some);
        }
        if looks_like_path(chart) {
            return Ok(None);
        }
        let name = chart.rsplit('/').next().unwrap_or(chart);
        let (Some(version), Some(cache)) = (version, helm_cache) else {
            return Ok(None);
        };
        if name.is_empty() || !is_exact_version(version) {
            return Ok(None);
        }
        let cached = cache
            .join("repository")
            .join(format!("{name}-{version}.tgz"));
        if !cached.is_file() {
            return Ok(None);
        }
        let found = Chart::from_archive(&cached)?;
        // A file named after another chart is not the chart asked for.
        Ok((found.name == name
            && found.version.trim_start_matches('v') == version.trim_start_matches('v'))
        .then_some(found))
    }

    /// Reads an unpacked chart directory.
    pub fn from_dir(dir: &Path) -> Result<Chart, ChartError> {
        let chart_yaml = read_file_limited(dir, &dir.join(CHART_YAML))?.ok_or_else(|| {
            ChartError::ChartYaml {
                path: dir.join(CHART_YAML),
                message: "file not found".into(),
            }
        })?;
        let schema = read_file_limited(dir, &dir.join(SCHEMA_JSON))?;
        let values = read_file_limited(dir, &dir.join(VALUES_YAML))?;
        Chart::from_parts(dir, &chart_yaml, schema.as_deref(), values.as_deref())
    }

    /// Reads a chart packaged as `.tgz` (`helm package`): the files
    /// `<name>/Chart.yaml`, `<name>/values.yaml` and
    /// `<name>/values.schema.json`; subcharts under `<name>/charts/` are
    /// not read.
    pub fn from_archive(path: &Path) -> Result<Chart, ChartError> {
        let io = |source| ChartError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
        let mut tops: BTreeMap<String, ChartFiles> = BTreeMap::new();
        let mut first_chart: Option<String> = None;
        for entry in archive.entries().map_err(io)? {
            let mut entry = entry.map_err(io)?;
            let entry_path = entry.path().map_err(io)?.into_owned();
            let parts: Vec<String> = entry_path
                .components()
                .filter_map(|c| match c {
                    Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect();
            let [top, file] = parts.as_slice() else {
                continue;
            };
            if file != CHART_YAML && file != SCHEMA_JSON && file != VALUES_YAML {
                continue;
            }
            let bytes = read_limited(&mut entry, path, &format!("{top}/{file}"))?;
            let slot = tops.entry(top.clone()).or_default();
            if file == CHART_YAML {
                slot.chart_yaml = Some(bytes);
                first_chart.get_or_insert_with(|| top.clone());
            } else if file == SCHEMA_JSON {
                slot.schema = Some(bytes);
            } else {
                slot.values = Some(bytes);
            }
        }
        let Some(top) = first_chart else {
            return Err(ChartError::NotAChart {
                path: path.to_owned(),
            });
        };
        let files = tops.remove(&top).unwrap_or_default();
        Chart::from_parts(
            path,
            &files.chart_yaml.unwrap_or_default(),
            files.schema.as_deref(),
            files.values.as_deref(),
        )
    }

    /// Compiles the chart's schema, with the chart's defaults and
    /// dependencies, so that it validates what helm validates (see
    /// [`ValuesSchema::with_defaults`]); `Ok(None)` when the chart has no
    /// schema.
    pub fn values_schema(&self) -> Result<Option<ValuesSchema>, ChartError> {
        let Some(schema) = &self.schema else {
            return Ok(None);
        };
        let compiled = ValuesSchema::compile(schema)?;
        Ok(Some(match &self.values {
            Some(defaults) => compiled.with_defaults(defaults, &self.dependencies),
            None => compiled,
        }))
    }

    fn from_parts(
        source: &Path,
        chart_yaml: &[u8],
        schema: Option<&[u8]>,
        values: Option<&[u8]>,
    ) -> Result<Chart, ChartError> {
        let yaml_err = |message: String| ChartError::ChartYaml {
            path: source.to_owned(),
            message,
        };
        let doc: serde_norway::Value =
            serde_norway::from_slice(chart_yaml).map_err(|e| yaml_err(e.to_string()))?;
        let field = |key: &str| doc.get(key).and_then(scalar_string);
        let name = field("name").ok_or_else(|| yaml_err("`name` is missing".into()))?;
        let dependencies = doc
            .get("dependencies")
            .and_then(serde_norway::Value::as_sequence)
            .map(|deps| {
                deps.iter()
                    .filter_map(|d| {
                        d.get("alias")
                            .and_then(scalar_string)
                            .or_else(|| d.get("name").and_then(scalar_string))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let version = field("version").ok_or_else(|| yaml_err("`version` is missing".into()))?;
        let schema = schema
            .map(|bytes| {
                serde_json::from_slice(bytes).map_err(|e| ChartError::SchemaJson {
                    path: source.to_owned(),
                    message: e.to_string(),
                })
            })
            .transpose()?;
        let values = values
            .map(|bytes| {
                values_yaml(bytes).map_err(|message| ChartError::ValuesYaml {
                    path: source.to_owned(),
                    message,
                })
            })
            .transpose()?
            .flatten();
        Ok(Chart {
            name,
            version,
            app_version: field("appVersion"),
            schema,
            values,
            dependencies,
            source: source.to_owned(),
        })
    }
}

/// The files read from one top-level directory of a chart archive.
#[derive(Default)]
struct ChartFiles {
    chart_yaml: Option<Vec<u8>>,
    schema: Option<Vec<u8>>,
    values: Option<Vec<u8>>,
}

/// A chart's `values.yaml` as JSON, as helm reads it: merge keys (`<<`)
/// applied, keys that are numbers or booleans written as strings. `None`
/// for an empty document; an error for one that is not a table.
fn values_yaml(bytes: &[u8]) -> Result<Option<serde_json::Value>, String> {
    let mut doc: serde_norway::Value =
        serde_norway::from_slice(bytes).map_err(|e| e.to_string())?;
    doc.apply_merge().map_err(|e| e.to_string())?;
    match yaml_to_json(doc)? {
        serde_json::Value::Null => Ok(None),
        table @ serde_json::Value::Object(_) => Ok(Some(table)),
        _ => Err("the document is not a table of values".into()),
    }
}

fn yaml_to_json(v: serde_norway::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    use serde_norway::Value as Y;
    Ok(match v {
        Y::Null => J::Null,
        Y::Bool(b) => J::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                J::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(J::Number)
                    .ok_or_else(|| format!("{f} cannot be a value (JSON has no NaN or infinity)"))?
            }
        }
        Y::String(s) => J::String(s),
        Y::Sequence(items) => J::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = scalar_string(&k)
                    .or_else(|| k.is_null().then(|| "null".to_owned()))
                    .ok_or_else(|| "a key is a list or a table".to_owned())?;
                out.insert(key, yaml_to_json(v)?);
            }
            J::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value)?,
    })
}

/// helm's cache home as helm itself computes it: `$HELM_CACHE_HOME`, else
/// `$XDG_CACHE_HOME/helm`, else the platform's cache directory
/// (`~/.cache/helm`, `~/Library/Caches/helm` on macOS).
pub fn default_helm_cache() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env("HELM_CACHE_HOME") {
        return Some(dir);
    }
    if let Some(dir) = env("XDG_CACHE_HOME") {
        return Some(dir.join("helm"));
    }
    let home = env("HOME")?;
    if cfg!(target_os = "macos") {
        Some(home.join("Library/Caches/helm"))
    } else {
        Some(home.join(".cache/helm"))
    }
}

/// A YAML scalar as text: `appVersion: 2.9` is a number to YAML.
fn scalar_string(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn is_archive_name(chart: &str) -> bool {
    chart.ends_with(".tgz") || chart.ends_with(".tar.gz")
}

/// Whether `chart` names a path rather than a repository chart.
fn looks_like_path(chart: &str) -> bool {
    chart.starts_with('.')
        || chart.starts_with('/')
        || chart.starts_with('~')
        || chart.contains('\\')
        || is_archive_name(chart)
}

/// Whether `version` is one version rather than a range (`^1.2`, `>=1`, `1.x`).
fn is_exact_version(version: &str) -> bool {
    let v = version.trim_start_matches('v');
    let core = v.split(['-', '+']).next().unwrap_or_default();
    !core.is_empty()
        && core
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && !v.contains([' ', ',', '|', '<', '>', '=', '~', '^', '*'])
}

/// Reads `file` of the chart at `chart`, `None` when it does not exist.
fn read_file_limited(chart: &Path, file: &Path) -> Result<Option<Vec<u8>>, ChartError> {
    let mut f = match File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ChartError::Io {
                path: file.to_owned(),
                source,
            });
        }
    };
    let name = file
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    read_limited(&mut f, chart, &name).map(Some)
}

fn read_limited(r: &mut impl Read, chart: &Path, file: &str) -> Result<Vec<u8>, ChartError> {
    let mut buf = Vec::new();
    r.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|source| ChartError::Io {
            path: chart.join(file),
            source,
        })?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(ChartError::TooLarge {
            path: chart.to_owned(),
            file: file.to_owned(),
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_versions_and_ranges() {
        for v in ["1.15.0", "v1.15.0", "1.15.0-rc.1", "1.0.0-experimental"] {
            assert!(is_exact_version(v), "{v}");
        }
        for v in ["", "^1.15", ">=1.0", "1.x", "~1.2", "1.2 || 1.3", "latest"] {
            assert!(!is_exact_version(v), "{v}");
        }
    }

    #[test]
    fn paths_and_repo_charts() {
        for c in [
            "./charts/airflow",
            "../x",
            "/abs/chart",
            "airflow-1.15.0.tgz",
        ] {
            assert!(looks_like_path(c), "{c}");
        }
        for c in [
            "airflow",
            "apache-airflow/airflow",
            "oci://registry/charts/airflow",
        ] {
            assert!(!looks_like_path(c), "{c}");
        }
    }
}
