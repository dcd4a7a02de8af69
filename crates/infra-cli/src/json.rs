//! The `--json` output forms, versioned, apart from the engine's types
//! where those have no version of their own. Secrets appear only as the
//! digests the engine's serde forms carry.

use std::collections::BTreeMap;

use infra_core::{Diagnostic, Severity, Value};
use infra_engine::{Deposed, Event, ResourceState, State};
use serde::Serialize;

/// The version of every JSON document the CLI prints.
pub const VERSION: u32 = 1;

/// One line of `apply --json` / `destroy --json`.
#[derive(Serialize)]
pub struct EventLine<'a> {
    version: u32,
    #[serde(flatten)]
    event: &'a Event,
}

impl<'a> EventLine<'a> {
    /// Wraps an engine event.
    pub fn new(event: &'a Event) -> Self {
        EventLine {
            version: VERSION,
            event,
        }
    }
}

/// `output --json`: outputs by address, then by attribute.
#[derive(Serialize)]
pub struct Outputs<'a> {
    version: u32,
    outputs: BTreeMap<String, &'a Value>,
}

impl<'a> Outputs<'a> {
    /// Every resource's outputs.
    pub fn new(state: Option<&'a State>) -> Self {
        let outputs = state
            .into_iter()
            .flat_map(|s| s.resources())
            .map(|r| (r.address.to_string(), &r.outputs))
            .collect();
        Outputs {
            version: VERSION,
            outputs,
        }
    }
}

/// `state list --json`.
#[derive(Serialize)]
pub struct StateList {
    version: u32,
    resources: Vec<String>,
}

impl StateList {
    /// The addresses in state.
    pub fn new(state: Option<&State>) -> Self {
        StateList {
            version: VERSION,
            resources: state
                .into_iter()
                .flat_map(|s| s.resources())
                .map(|r| r.address.to_string())
                .collect(),
        }
    }
}

/// `state show --json`.
#[derive(Serialize)]
pub struct StateShow<'a> {
    version: u32,
    resource: &'a ResourceState,
    deposed: Vec<&'a Deposed>,
}

impl<'a> StateShow<'a> {
    /// One resource and its deposed objects.
    pub fn new(resource: &'a ResourceState, deposed: Vec<&'a Deposed>) -> Self {
        StateShow {
            version: VERSION,
            resource,
            deposed,
        }
    }
}

/// `validate --json`.
#[derive(Serialize)]
pub struct Validation {
    version: u32,
    valid: bool,
    diagnostics: Vec<JsonDiagnostic>,
}

impl Validation {
    /// The outcome of a validation.
    pub fn new(diagnostics: &[Diagnostic]) -> Self {
        Validation {
            version: VERSION,
            valid: !diagnostics.iter().any(Diagnostic::is_error),
            diagnostics: diagnostics.iter().map(JsonDiagnostic::from).collect(),
        }
    }
}

/// `--json` when a command fails: one line on stdout,
/// `{"version":1,"error":{"message":...,"diagnostics":[...]}}`. The
/// diagnostics have the shape of `validate --json`'s; an error that is not
/// about the stack is one diagnostic without a place.
#[derive(Serialize)]
pub struct ErrorReport {
    version: u32,
    error: ErrorBody,
}

#[derive(Serialize)]
struct ErrorBody {
    message: String,
    diagnostics: Vec<JsonDiagnostic>,
}

impl ErrorReport {
    /// Problems in the stack or the plan, each with its place.
    pub fn diagnostics(diagnostics: &[Diagnostic]) -> Self {
        let mut errors = diagnostics.iter().filter(|d| d.is_error());
        let message = match (errors.next(), errors.count()) {
            (Some(first), 0) => first.message.clone(),
            (Some(first), more) => format!(
                "{} (and {more} more error{})",
                first.message,
                if more == 1 { "" } else { "s" }
            ),
            (None, _) => "the stack has problems".to_owned(),
        };
        ErrorReport {
            version: VERSION,
            error: ErrorBody {
                message,
                diagnostics: diagnostics.iter().map(JsonDiagnostic::from).collect(),
            },
        }
    }

    /// Any other error, as rendered for people: its `hint:` lines become
    /// the hint.
    pub fn message(text: &str) -> Self {
        let (message, hint) = match text.split_once("\n  hint: ") {
            Some((message, hint)) => (message, Some(hint.replace("\n  hint: ", "\n"))),
            None => (text, None),
        };
        ErrorReport {
            version: VERSION,
            error: ErrorBody {
                message: message.to_owned(),
                diagnostics: vec![JsonDiagnostic {
                    severity: "error",
                    message: message.to_owned(),
                    file: None,
                    line: None,
                    column: None,
                    address: None,
                    hint,
                }],
            },
        }
    }
}

#[derive(Serialize)]
struct JsonDiagnostic {
    severity: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

impl From<&Diagnostic> for JsonDiagnostic {
    fn from(d: &Diagnostic) -> Self {
        JsonDiagnostic {
            severity: match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            message: d.message.clone(),
            file: d.location.as_ref().map(|l| l.file.display().to_string()),
            line: d.location.as_ref().map(|l| l.line),
            column: d.location.as_ref().map(|l| l.column),
            address: d.address.as_ref().map(ToString::to_string),
            hint: d.hint.clone(),
        }
    }
}

/// Serializes a document, one line.
pub fn to_line<T: Serialize>(value: &T) -> String {
    // The types above serialize infallibly (string keys, no custom errors).
    let mut s = serde_json::to_string(value).unwrap_or_else(|e| {
        serde_json::json!({ "version": VERSION, "error": e.to_string() }).to_string()
    });
    s.push('\n');
    s
}

/// Serializes a document, indented.
pub fn to_pretty<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|e| {
        serde_json::json!({ "version": VERSION, "error": e.to_string() }).to_string()
    });
    s.push('\n');
    s
}

/// `diff --json`: two stacks compared, only what differs (what is compared
/// and how: [`crate::render::diff`]).
///
/// ```json
/// {"version": 1, "a": "staging", "b": "prod", "differ": true, "in_both": 38,
///  "settings": [{"path": "aws.region", "a": {...}, "b": {...}}],
///  "resources": [
///    {"address": "nat_gateway.b", "only_in": "prod",
///     "location": {"file": "stacks/prod.toml", "line": 40, "column": 1}},
///    {"address": "rds_instance.airflow_db", "attributes": [
///      {"path": "deletion_protection",
///       "a": {"value": "false", "origin": "default"},
///       "b": {"value": "true", "origin": "file", "file": "stacks/prod.toml", "line": 26, "column": 23}}]}]}
/// ```
///
/// A side is `null` when the stack leaves the attribute unset. `value` is
/// the value as infra prints it (strings quoted, references as
/// `${type.name.attr}`, `{ from_env = "X" }` by name, secrets redacted);
/// `origin` is `file` (with `file`, `line`, `column`), `default`, or
/// `not_recorded` (provider and lifecycle settings, whose locations the
/// loader does not keep).
#[derive(Serialize)]
pub struct Diff<'a> {
    version: u32,
    a: &'a str,
    b: &'a str,
    differ: bool,
    in_both: usize,
    settings: Vec<DiffAttribute<'a>>,
    resources: Vec<DiffResource<'a>>,
}

#[derive(Serialize)]
struct DiffResource<'a> {
    address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    only_in: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<JsonLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<DiffAttribute<'a>>,
}

#[derive(Serialize)]
struct DiffAttribute<'a> {
    path: &'a str,
    a: Option<DiffSide<'a>>,
    b: Option<DiffSide<'a>>,
}

#[derive(Serialize)]
struct DiffSide<'a> {
    value: &'a str,
    origin: &'static str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    location: Option<JsonLocation>,
}

#[derive(Serialize)]
struct JsonLocation {
    file: String,
    line: usize,
    column: usize,
}

impl From<&infra_core::Location> for JsonLocation {
    fn from(l: &infra_core::Location) -> Self {
        JsonLocation {
            file: l.file.display().to_string(),
            line: l.line,
            column: l.column,
        }
    }
}

impl<'a> Diff<'a> {
    /// The document of a comparison.
    pub fn new(d: &'a crate::render::diff::StackDiff) -> Self {
        use crate::render::diff::{AttrDiff, Origin, ResourceDiffKind, Side};
        let side = |s: &'a Side| match s {
            Side::Unset => None,
            Side::Set { value, origin } => Some(DiffSide {
                value,
                origin: match origin {
                    Origin::Written(_) => "file",
                    Origin::Default => "default",
                    Origin::NotRecorded => "not_recorded",
                },
                location: match origin {
                    Origin::Written(l) => Some(l.into()),
                    _ => None,
                },
            }),
        };
        let attributes = |attrs: &'a [AttrDiff]| -> Vec<DiffAttribute<'a>> {
            attrs
                .iter()
                .map(|a| DiffAttribute {
                    path: &a.path,
                    a: side(&a.a),
                    b: side(&a.b),
                })
                .collect()
        };
        Diff {
            version: VERSION,
            a: &d.a,
            b: &d.b,
            differ: !d.is_empty(),
            in_both: d.in_both,
            settings: attributes(&d.settings),
            resources: d
                .resources
                .iter()
                .map(|r| match &r.kind {
                    ResourceDiffKind::OnlyIn(which, location) => DiffResource {
                        address: r.address.to_string(),
                        only_in: Some(d.name(*which)),
                        location: location.as_ref().map(JsonLocation::from),
                        attributes: Vec::new(),
                    },
                    ResourceDiffKind::Changed(attrs) => DiffResource {
                        address: r.address.to_string(),
                        only_in: None,
                        location: None,
                        attributes: attributes(attrs),
                    },
                })
                .collect(),
        }
    }
}

/// `check --json`: the production checklist's findings.
///
/// ```json
/// {"version": 1, "stack": "prod", "profile": "production", "today": "2026-12-04",
///  "passed": false, "summary": {"errors": 1, "warnings": 0, "notes": 0, "waived": 1},
///  "findings": [{"rule": "rds-multi-az", "item": "Multi-AZ in production",
///    "severity": "error", "address": "rds_instance.airflow_db", "attribute": "multi_az",
///    "file": "stacks/prod.toml", "line": 12, "column": 12,
///    "message": "...", "fix": "set `multi_az = true`", "waived": null}],
///  "problems": [...]}
/// ```
///
/// `waived` is the waiver's reason, `null` when the finding is not waived;
/// `problems` are diagnostics of the `[check]` table, in the shape of
/// `validate --json`'s.
#[derive(Serialize)]
pub struct Check<'a> {
    version: u32,
    stack: &'a str,
    #[serde(flatten)]
    report: CheckBody<'a>,
}

impl<'a> Check<'a> {
    /// The report of stack `stack`.
    pub fn new(stack: &'a str, report: &'a infra_check::Report) -> Self {
        Check {
            version: VERSION,
            stack,
            report: CheckBody::new(report),
        }
    }
}

/// A check report, as `check --json` and `plan --json` show it.
#[derive(Serialize)]
pub struct CheckBody<'a> {
    profile: &'static str,
    today: String,
    passed: bool,
    summary: CheckSummary,
    findings: Vec<JsonFinding<'a>>,
    problems: Vec<JsonDiagnostic>,
}

#[derive(Serialize)]
struct CheckSummary {
    errors: usize,
    warnings: usize,
    notes: usize,
    waived: usize,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'static str,
    item: &'static str,
    severity: &'static str,
    address: String,
    attribute: Option<&'a str>,
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    message: &'a str,
    fix: &'a str,
    waived: Option<&'a str>,
}

impl<'a> CheckBody<'a> {
    fn new(report: &'a infra_check::Report) -> Self {
        use infra_check::Severity as S;
        CheckBody {
            profile: report.profile.name(),
            today: report.today.to_string(),
            passed: report.passed(),
            summary: CheckSummary {
                errors: report.count(S::Error),
                warnings: report.count(S::Warning),
                notes: report.count(S::Note),
                waived: report.waived(),
            },
            findings: report
                .findings
                .iter()
                .map(|f| JsonFinding {
                    rule: f.rule,
                    item: f.item,
                    severity: f.severity.name(),
                    address: f.address.to_string(),
                    attribute: f.attribute.as_deref(),
                    file: f.location.as_ref().map(|l| l.file.display().to_string()),
                    line: f.location.as_ref().map(|l| l.line),
                    column: f.location.as_ref().map(|l| l.column),
                    message: &f.message,
                    fix: &f.fix,
                    waived: f.waived.as_deref(),
                })
                .collect(),
            problems: report.problems.iter().map(JsonDiagnostic::from).collect(),
        }
    }
}

/// `plan --json`: the plan as the engine serializes it (its own
/// `version`), with the checklist's findings under `check` (absent for a
/// destroy plan).
#[derive(Serialize)]
pub struct PlanDocument<'a> {
    #[serde(flatten)]
    plan: &'a infra_engine::Plan,
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<CheckBody<'a>>,
}

impl<'a> PlanDocument<'a> {
    /// A plan and, unless it destroys, its check.
    pub fn new(plan: &'a infra_engine::Plan, check: Option<&'a infra_check::Report>) -> Self {
        PlanDocument {
            plan,
            check: check.map(CheckBody::new),
        }
    }
}
