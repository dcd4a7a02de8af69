//! helm's JSON answers, parsed defensively: every field is optional and a
//! shape helm did not promise never panics, it only leaves fields unset.
//! Reference §5.3 (history, get values) and §5.4 (status).

use infra_core::Value;
use serde_json::Value as Json;

/// A release's status, as `info.status` spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// `deployed`: the desired state.
    Deployed,
    /// `failed`: the last operation failed; drift to repair with an upgrade.
    Failed,
    /// `pending-install`, `pending-upgrade`, `pending-rollback`: an operation
    /// in progress, or one that was interrupted and holds the release lock.
    Pending(String),
    /// `uninstalling`: an uninstall in progress or interrupted.
    Uninstalling,
    /// `uninstalled` (kept with `--keep-history`): the release is gone.
    Uninstalled,
    /// `superseded`, `unknown` or anything newer helm may add.
    Other(String),
}

impl Status {
    /// Parses helm's spelling.
    pub fn parse(s: &str) -> Status {
        match s {
            "deployed" => Status::Deployed,
            "failed" => Status::Failed,
            "uninstalling" => Status::Uninstalling,
            "uninstalled" => Status::Uninstalled,
            p if p.starts_with("pending-") => Status::Pending(p.to_owned()),
            other => Status::Other(other.to_owned()),
        }
    }

    /// helm's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Deployed => "deployed",
            Status::Failed => "failed",
            Status::Uninstalling => "uninstalling",
            Status::Uninstalled => "uninstalled",
            Status::Pending(s) | Status::Other(s) => s,
        }
    }
}

/// What `helm status -o json` (or `upgrade -o json`) says about a release.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReleaseInfo {
    /// `version`: the revision.
    pub revision: Option<i64>,
    /// `info.status`.
    pub status: Option<String>,
    /// `chart.metadata.version` (only `upgrade` prints the chart).
    pub chart_version: Option<String>,
    /// `chart.metadata.appVersion`.
    pub app_version: Option<String>,
}

fn str_at<'a>(j: &'a Json, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(j, |j, k| j.get(k))
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
}

fn int(j: Option<&Json>) -> Option<i64> {
    match j? {
        Json::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        // `helm list` prints the revision as a string.
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl ReleaseInfo {
    /// Parses a release document; `None` when it is not JSON at all.
    pub fn parse(text: &str) -> Option<ReleaseInfo> {
        let j: Json = serde_json::from_str(text.trim()).ok()?;
        Some(ReleaseInfo {
            revision: int(j.get("version")),
            status: str_at(&j, &["info", "status"]).map(str::to_owned),
            chart_version: str_at(&j, &["chart", "metadata", "version"]).map(str::to_owned),
            app_version: str_at(&j, &["chart", "metadata", "appVersion"]).map(str::to_owned),
        })
    }
}

/// One entry of `helm history -o json`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryEntry {
    /// The revision.
    pub revision: Option<i64>,
    /// Its status.
    pub status: Option<String>,
    /// `chart`, e.g. `airflow-1.22.0`.
    pub chart: Option<String>,
    /// `app_version`.
    pub app_version: Option<String>,
}

impl HistoryEntry {
    /// The chart version out of `chart` (`airflow-1.22.0` → `1.22.0`).
    pub fn chart_version(&self) -> Option<&str> {
        self.chart.as_deref().and_then(split_chart).map(|(_, v)| v)
    }
}

/// Parses `helm history -o json`; anything that is not an array is empty.
pub fn parse_history(text: &str) -> Vec<HistoryEntry> {
    let Ok(Json::Array(items)) = serde_json::from_str::<Json>(text.trim()) else {
        return Vec::new();
    };
    items
        .iter()
        .map(|j| HistoryEntry {
            revision: int(j.get("revision")),
            status: str_at(j, &["status"]).map(str::to_owned),
            chart: str_at(j, &["chart"]).map(str::to_owned),
            app_version: str_at(j, &["app_version"]).map(str::to_owned),
        })
        .collect()
}

/// Parses `helm get values -o json`: a table, or `null` for none. `None`
/// when the answer is not JSON or not a table.
pub fn parse_values(text: &str) -> Option<Value> {
    let j: Json = serde_json::from_str(text.trim()).ok()?;
    match j {
        Json::Null => Some(Value::map()),
        Json::Object(_) => Some(Value::from_json(j)),
        _ => None,
    }
}

/// Splits `name-version` at the `-` that starts the version: the rightmost
/// one followed by `<digits>.` (chart names and versions may both hold `-`).
pub fn split_chart(chart: &str) -> Option<(&str, &str)> {
    let bytes = chart.as_bytes();
    (2..chart.len()).rev().find_map(|i| {
        if bytes[i - 1] != b'-' {
            return None;
        }
        let rest = &chart[i..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        (digits > 0 && rest[digits..].starts_with('.')).then(|| (&chart[..i - 1], rest))
    })
}

/// What to do about a pending release: roll back to the last revision that
/// was deployed, or uninstall when none ever was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryPlan {
    /// `helm rollback NAME REV`.
    Rollback(i64),
    /// `helm uninstall NAME`.
    Uninstall,
}

/// The recovery for a history whose last revision is pending: the newest
/// `deployed` revision, else the newest `superseded` one (it was deployed
/// once), else uninstall.
pub fn recovery_plan(history: &[HistoryEntry]) -> RecoveryPlan {
    let newest = |status: &str| {
        history
            .iter()
            .filter(|e| e.status.as_deref() == Some(status))
            .filter_map(|e| e.revision)
            .max()
    };
    newest("deployed")
        .or_else(|| newest("superseded"))
        .map_or(RecoveryPlan::Uninstall, RecoveryPlan::Rollback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_names_split_at_the_version() {
        assert_eq!(split_chart("airflow-1.22.0"), Some(("airflow", "1.22.0")));
        assert_eq!(
            split_chart("my-chart-2-1.0.0"),
            Some(("my-chart-2", "1.0.0"))
        );
        assert_eq!(split_chart("x-1.0.0-rc-1"), Some(("x", "1.0.0-rc-1")));
        assert_eq!(split_chart("airflow"), None);
        assert_eq!(split_chart("-1.0"), None);
    }

    #[test]
    fn odd_answers_do_not_panic() {
        for text in [
            "",
            "null",
            "[]",
            "{\"version\": \"x\"}",
            "{\"info\": 3}",
            "garbage",
        ] {
            let _ = ReleaseInfo::parse(text);
            let _ = parse_history(text);
            let _ = parse_values(text);
        }
        let info = ReleaseInfo::parse(r#"{"version": 7, "info": {"status": "deployed"}}"#);
        assert_eq!(
            info,
            Some(ReleaseInfo {
                revision: Some(7),
                status: Some("deployed".into()),
                ..ReleaseInfo::default()
            })
        );
        assert_eq!(parse_values("null"), Some(Value::map()));
        assert_eq!(parse_values("[1]"), None);
    }

    #[test]
    fn recovery_targets_the_last_deployed_revision() {
        let h = |entries: &[(i64, &str)]| -> Vec<HistoryEntry> {
            entries
                .iter()
                .map(|(r, s)| HistoryEntry {
                    revision: Some(*r),
                    status: Some((*s).to_owned()),
                    ..HistoryEntry::default()
                })
                .collect()
        };
        assert_eq!(
            recovery_plan(&h(&[
                (1, "superseded"),
                (2, "deployed"),
                (3, "pending-upgrade")
            ])),
            RecoveryPlan::Rollback(2)
        );
        assert_eq!(
            recovery_plan(&h(&[
                (1, "superseded"),
                (2, "failed"),
                (3, "pending-upgrade")
            ])),
            RecoveryPlan::Rollback(1)
        );
        assert_eq!(
            recovery_plan(&h(&[(1, "pending-install")])),
            RecoveryPlan::Uninstall
        );
    }
}
