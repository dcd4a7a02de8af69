//! A [`Report`] as a SARIF 2.1.0 log, for code scanning (GitHub, GitLab):
//! one run whose driver lists every rule, one result per finding at its
//! file:line:col (relative to the project root), waived findings as
//! results suppressed in source with the waiver's reason, and problems
//! with the `[check]` table as tool configuration notifications.

use std::collections::BTreeMap;

use infra_core::{Diagnostic, Location, Severity as DiagnosticSeverity};
use serde::Serialize;

use crate::{Finding, RULES, Report, Severity};

/// The schema the log declares (the OASIS standard, errata 01).
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The tool the log names.
#[derive(Clone, Copy, Debug)]
pub struct Tool<'a> {
    /// E.g. `infra`.
    pub name: &'a str,
    /// The tool's version.
    pub version: &'a str,
    /// Where to read about it, if anywhere.
    pub information_uri: Option<&'a str>,
}

/// A SARIF log, ready to serialize.
#[derive(Debug, Serialize)]
pub struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: ToolObject,
    invocations: Vec<Invocation>,
    /// Columns count characters, as infra's diagnostics do.
    column_kind: &'static str,
    results: Vec<SarifResult>,
    properties: RunProperties,
}

#[derive(Debug, Serialize)]
struct RunProperties {
    profile: &'static str,
    today: String,
}

#[derive(Debug, Serialize)]
struct ToolObject {
    driver: Driver,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: String,
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    information_uri: Option<String>,
    rules: Vec<Descriptor>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    id: &'static str,
    short_description: Text,
    full_description: Text,
    help: Text,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Debug, Serialize)]
struct Configuration {
    enabled: bool,
    level: &'static str,
}

#[derive(Debug, Serialize)]
struct RuleProperties {
    /// The checklist item.
    item: &'static str,
    production: &'static str,
    development: &'static str,
    tags: [&'static str; 2],
}

#[derive(Debug, Serialize)]
struct Text {
    text: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_configuration_notifications: Vec<Notification>,
}

#[derive(Debug, Serialize)]
struct Notification {
    level: &'static str,
    message: Text,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<SarifLocation>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: Vec<SarifLocation>,
    partial_fingerprints: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
    properties: ResultProperties,
}

#[derive(Debug, Serialize)]
struct ResultProperties {
    item: &'static str,
    address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    attribute: Option<String>,
    fix: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<Physical>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<Logical>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Physical {
    artifact_location: Artifact,
    region: Region,
}

#[derive(Debug, Serialize)]
struct Artifact {
    uri: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Logical {
    fully_qualified_name: String,
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct Suppression {
    kind: &'static str,
    justification: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<SarifLocation>,
}

fn level(severity: Option<Severity>) -> &'static str {
    severity.map_or("none", Severity::name)
}

/// The report as a SARIF log.
pub fn log(report: &Report, tool: Tool<'_>) -> Log {
    let rules = RULES
        .iter()
        .map(|r| {
            let severity = r.severity(report.profile);
            Descriptor {
                id: r.id,
                short_description: Text {
                    text: r.item.to_owned(),
                },
                full_description: Text {
                    text: sentence(r.checks),
                },
                help: Text {
                    text: sentence(r.help),
                },
                default_configuration: Configuration {
                    enabled: severity.is_some(),
                    level: level(severity),
                },
                properties: RuleProperties {
                    item: r.item,
                    production: level(r.production),
                    development: level(r.development),
                    tags: ["infra", "production-checklist"],
                },
            }
        })
        .collect();
    let results = report.findings.iter().map(|f| result(report, f)).collect();
    let notifications = report.problems.iter().map(notification).collect();
    Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: ToolObject {
                driver: Driver {
                    name: tool.name.to_owned(),
                    version: tool.version.to_owned(),
                    information_uri: tool.information_uri.map(str::to_owned),
                    rules,
                },
            },
            invocations: vec![Invocation {
                execution_successful: true,
                tool_configuration_notifications: notifications,
            }],
            column_kind: "unicodeCodePoints",
            results,
            properties: RunProperties {
                profile: report.profile.name(),
                today: report.today.to_string(),
            },
        }],
    }
}

fn result(report: &Report, f: &Finding) -> SarifResult {
    let rule_index = RULES.iter().position(|r| r.id == f.rule).unwrap_or(0);
    let suppressions = match &f.waived {
        Some(reason) => {
            let at = report
                .waivers
                .iter()
                .find(|w| w.rule == f.rule)
                .and_then(|w| w.location.as_ref());
            vec![Suppression {
                kind: "inSource",
                justification: reason.clone(),
                location: at.map(|l| location(Some(l), None)),
            }]
        }
        None => Vec::new(),
    };
    let address = f.address.to_string();
    SarifResult {
        rule_id: f.rule,
        rule_index,
        level: f.severity.name(),
        message: Text {
            text: format!("{address}: {}; fix: {}", f.message, f.fix),
        },
        locations: vec![location(f.location.as_ref(), Some(&address))],
        partial_fingerprints: BTreeMap::from([(
            "infraFinding/v1",
            format!(
                "{}:{address}:{}",
                f.rule,
                f.attribute.as_deref().unwrap_or_default()
            ),
        )]),
        suppressions,
        properties: ResultProperties {
            item: f.item,
            address,
            attribute: f.attribute.clone(),
            fix: f.fix.clone(),
        },
    }
}

fn notification(d: &Diagnostic) -> Notification {
    let mut text = d.message.clone();
    if let Some(hint) = &d.hint {
        text.push_str("; ");
        text.push_str(hint);
    }
    Notification {
        level: match d.severity {
            DiagnosticSeverity::Error => "error",
            DiagnosticSeverity::Warning => "warning",
        },
        message: Text { text },
        locations: d
            .location
            .as_ref()
            .map(|l| location(Some(l), None))
            .into_iter()
            .collect(),
    }
}

fn location(at: Option<&Location>, address: Option<&str>) -> SarifLocation {
    SarifLocation {
        physical_location: at.map(|l| Physical {
            artifact_location: Artifact {
                uri: uri(&l.file.to_string_lossy()),
            },
            region: Region {
                start_line: l.line.max(1),
                start_column: l.column.max(1),
            },
        }),
        logical_locations: address
            .map(|a| Logical {
                fully_qualified_name: a.to_owned(),
                kind: "resource",
            })
            .into_iter()
            .collect(),
    }
}

/// A relative path as a URI reference: `/` separators, everything but
/// unreserved characters and `/` percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A rule's text as a sentence, for tools that show it as one.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => {
            let mut s: String = first.to_uppercase().collect();
            s.push_str(chars.as_str());
            if !s.ends_with('.') {
                s.push('.');
            }
            s
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(uri("stacks/prod.toml"), "stacks/prod.toml");
        assert_eq!(uri("stacks\\my stack.toml"), "stacks/my%20stack.toml");
        assert_eq!(uri("stacks/é.toml"), "stacks/%C3%A9.toml");
        assert_eq!(
            sentence("the database is encrypted"),
            "The database is encrypted."
        );
    }
}
