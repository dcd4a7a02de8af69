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
