//! Rendering for humans: plans, diagnostics, events, summaries, state.
//! Pure functions from engine types to `String`s, so every one of them is
//! snapshot-tested; nothing here writes to the terminal.

use std::fmt::Write as _;

use infra_core::{Diagnostic, Severity, Value, is_bare_key};
use infra_engine::{
    Action, ApplyReport, AttrChange, Deposed, Drift, EngineError, Event, EventKind, Plan, PlanMode,
    ResourceChange, ResourceState, State, Step, UnsetInput,
};

pub mod diff;
pub mod findings;
pub mod markdown;

/// Whether to colour the output (ANSI escapes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Colour on.
    pub color: bool,
}

impl Style {
    /// No colour, for files, pipes and snapshots.
    pub const PLAIN: Style = Style { color: false };

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }

    fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Appends `text`, painted, to `out` (no intermediate string).
    fn paint_into(self, out: &mut String, code: &str, text: &str) {
        if self.color {
            let _ = write!(out, "\x1b[{code}m{text}\x1b[0m");
        } else {
            out.push_str(text);
        }
    }
}

/// A plan as Terraform users expect to read it: drift, warnings, each
/// change with its attributes, the summary and the estimated duration.
pub fn plan(plan: &Plan, style: Style) -> String {
    // Roughly a line per resource and per attribute: grow once or twice,
    // not a dozen times.
    let mut out = String::with_capacity(plan.changes.len() * 128);
    if !plan.drift.is_empty() {
        out.push_str("Objects changed outside infra:\n\n");
        for d in &plan.drift {
            drift(&mut out, d, style);
        }
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "{}: {w}\n", style.yellow("warning"));
    }
    if !plan.has_changes() {
        out.push_str("No changes. The stack matches the cloud.\n");
        return out;
    }
    if !plan.changes.is_empty() {
        out.push_str("infra will perform the following actions:\n\n");
    }
    for c in &plan.changes {
        let unset: Vec<&UnsetInput> = plan
            .unset
            .iter()
            .filter(|u| u.address == c.address)
            .collect();
        change(&mut out, c, &unset, style);
    }
    for a in &plan.state_only {
        let _ = writeln!(out, "  # {}: lifecycle recorded in state", a.address);
        attributes(&mut out, &a.attributes, false, &[], style);
        out.push('\n');
    }
    let s = plan.summary;
    let _ = writeln!(
        out,
        "{} {} to add, {} to change, {} to replace, {} to destroy.",
        style.bold("Plan:"),
        s.add,
        s.change,
        s.replace,
        s.destroy
    );
    let _ = writeln!(
        out,
        "Estimated apply time: {} (critical path).",
        duration(plan.estimate_ms)
    );
    out
}

fn drift(out: &mut String, d: &Drift, style: Style) {
    if d.deleted {
        let _ = writeln!(
            out,
            "  {} {} (deleted outside infra)\n",
            style.red("-"),
            d.address
        );
        return;
    }
    let _ = writeln!(out, "  {} {}", style.yellow("~"), d.address);
    attributes(out, &d.attributes, false, &[], style);
    out.push('\n');
}

/// `unset`: the change's inputs whose `from_env` variable is unset.
fn change(out: &mut String, c: &ResourceChange, unset: &[&UnsetInput], style: Style) {
    let (code, symbol) = match c.action {
        Action::Create => (GREEN, "+"),
        Action::Update => (YELLOW, "~"),
        Action::Replace if c.create_before_destroy => (RED, "+/-"),
        Action::Replace => (RED, "-/+"),
        Action::Delete | Action::DeleteDeposed => (RED, "-"),
    };
    out.push_str("  ");
    style.paint_into(out, code, symbol);
    let _ = write!(out, " {}", c.address);
    if let (Action::DeleteDeposed, Some(id)) = (c.action, &c.target_id) {
        let _ = write!(out, " (deposed object {id})");
    }
    out.push('\n');
    if let Some(reason) = &c.reason {
        let _ = writeln!(out, "      # {reason}");
    }
    attributes(out, &c.attributes, c.action == Action::Create, unset, style);
    out.push('\n');
}

/// One line per attribute, names aligned: `+ name = v`, `~ name = a -> b`,
/// `- name = a -> null`. An unknown whose `from_env` variable is unset
/// shows as `(unset: $VAR)`; a line's note (who owns an attribute set only
/// at create) follows it as `# note`.
fn attributes(
    out: &mut String,
    changes: &[AttrChange],
    creating: bool,
    unset: &[&UnsetInput],
    style: Style,
) {
    let width = changes.iter().map(|a| a.path.len()).max().unwrap_or(0);
    for a in changes {
        let (code, symbol) = match (&a.before, &a.after) {
            (None, Some(_)) => (GREEN, "+"),
            (Some(_), None) => (RED, "-"),
            (Some(_), Some(_)) | (None, None) => (YELLOW, "~"),
        };
        out.push_str("      ");
        style.paint_into(out, code, symbol);
        let _ = write!(out, " {:width$} = ", a.path, width = width);
        let _ = match (&a.before, &a.after) {
            (None, Some(after)) => {
                block(out, after, 8, 11 + width, &a.path, unset);
                Ok(())
            }
            (Some(before), None) => write!(out, "{before} -> null"),
            (Some(before), Some(after)) => {
                write!(out, "{before} -> {}", inline(after, &a.path, unset))
            }
            (None, None) => write!(out, "null"),
        };
        if a.forces_replacement && !creating {
            out.push(' ');
            style.paint_into(out, RED, "# forces replacement");
        }
        if let Some(note) = &a.note {
            out.push_str("  ");
            style.paint_into(out, YELLOW, &format!("# {note}"));
        }
        out.push('\n');
    }
}

/// Values longer than this on one line are shown one entry per line.
const LINE_WIDTH: usize = 100;

/// A value starting at column `start` in a block indented by `indent`: on
/// one line when it fits, else a table or list with one entry per line,
/// nested the same way (Helm values). `path` is where the value is in the
/// inputs, for [`inline`].
fn block(
    out: &mut String,
    value: &Value,
    indent: usize,
    start: usize,
    path: &str,
    unset: &[&UnsetInput],
) {
    let inline = inline(value, path, unset);
    if start + inline.len() <= LINE_WIDTH {
        out.push_str(&inline);
        return;
    }
    let pad = " ".repeat(indent);
    match value {
        Value::Map(m) if !m.is_empty() => {
            out.push_str("{\n");
            for (k, v) in m {
                let key = if is_bare_key(k) {
                    k.clone()
                } else {
                    format!("{k:?}")
                };
                let _ = write!(out, "{pad}  {key} = ");
                let at = key_path(path, k);
                block(out, v, indent + 2, indent + 2 + key.len() + 3, &at, unset);
                out.push('\n');
            }
            let _ = write!(out, "{pad}}}");
        }
        Value::List(l) if !l.is_empty() => {
            out.push_str("[\n");
            for (i, v) in l.iter().enumerate() {
                let _ = write!(out, "{pad}  ");
                let at = format!("{path}[{i}]");
                block(out, v, indent + 2, indent + 2, &at, unset);
                out.push_str(",\n");
            }
            let _ = write!(out, "{pad}]");
        }
        _ => out.push_str(&inline),
    }
}

/// A value on one line, as [`Value`] shows it, except that an unknown at
/// the `path` of an unset `from_env` input shows as `(unset: $VAR)`.
fn inline(value: &Value, path: &str, unset: &[&UnsetInput]) -> String {
    if unset.is_empty() || !value.has_unknown() {
        return value.to_string();
    }
    match value {
        Value::Unknown => match unset.iter().find(|u| u.path == path) {
            Some(u) => format!("(unset: ${})", u.var),
            None => value.to_string(),
        },
        Value::List(l) => {
            let items: Vec<String> = l
                .iter()
                .enumerate()
                .map(|(i, v)| inline(v, &format!("{path}[{i}]"), unset))
                .collect();
            format!("[{}]", items.join(", "))
        }
        Value::Map(m) if !m.is_empty() => {
            let entries: Vec<String> = m
                .iter()
                .map(|(k, v)| {
                    let v = inline(v, &key_path(path, k), unset);
                    if is_bare_key(k) {
                        format!(" {k} = {v}")
                    } else {
                        format!(" {k:?} = {v}")
                    }
                })
                .collect();
            format!("{{{} }}", entries.join(","))
        }
        other => other.to_string(),
    }
}

/// The path of key `k` inside `path`, as `display_path` writes it.
fn key_path(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_owned()
    } else {
        format!("{path}.{k}")
    }
}

const GREEN: &str = "32";
const YELLOW: &str = "33";
const RED: &str = "31";

/// A duration for humans: `0s`, `250ms`, `1.2s`, `45s`, `1m 30s`, `2h 5m`.
pub fn duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    // One decimal below ten seconds (that would not round up to ten).
    if ms < 9_950 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let secs = (ms + 500) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let parts: Vec<String> = [(h, "h"), (m, "m"), (s, "s")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    parts.join(" ")
}

/// Diagnostics, one per entry (each may span a hint line).
pub fn diagnostics(diagnostics: &[Diagnostic], style: Style) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let text = shorten(&d.to_string());
        let (label, rest) = match d.severity {
            Severity::Error => (style.red("error"), text.strip_prefix("error")),
            Severity::Warning => (style.yellow("warning"), text.strip_prefix("warning")),
        };
        match rest {
            Some(rest) => {
                let _ = writeln!(out, "{label}{rest}");
            }
            None => {
                let _ = writeln!(out, "{text}");
            }
        }
    }
    out
}

/// An engine error as `error: ...` lines.
pub fn engine_error(e: &EngineError, style: Style) -> String {
    match e {
        EngineError::Diagnostics(d) => diagnostics(d, style),
        other => error(&other.to_string(), style),
    }
}

/// Any other error: `error: ...` with its causes.
pub fn error(message: &str, style: Style) -> String {
    format!("{}: {}\n", style.red("error"), shorten(&humanize(message)))
}

/// How the OS words a full disk (`ENOSPC`, 28 on Linux and macOS alike).
const ENOSPC: &str = "No space left on device (os error 28)";

/// What we say instead.
const DISK_FULL: &str = "disk full (no space left on device)";

const DISK_FULL_HINT: &str =
    "free space on that disk (`df -h` shows which one is full), then run the command again";

/// An error message as people should read it: a full disk said once, in
/// words, with what to do about it. Other messages are unchanged.
pub fn humanize(message: &str) -> String {
    let mut text = disk_full(message);
    if text.contains(DISK_FULL) && !text.contains(DISK_FULL_HINT) {
        text.push_str("\n  hint: ");
        text.push_str(DISK_FULL_HINT);
    }
    text
}

/// The message with a full disk in words, said once.
fn disk_full(message: &str) -> String {
    if !message.contains(ENOSPC) {
        return message.to_owned();
    }
    let mut text = message.replace(ENOSPC, DISK_FULL);
    let twice = format!("{DISK_FULL}: {DISK_FULL}");
    while text.contains(&twice) {
        text = text.replace(&twice, DISK_FULL);
    }
    text
}

/// The longest line of a message shown whole, in characters.
const MAX_LINE: usize = 2_000;

/// A message whose lines longer than [`MAX_LINE`] characters keep only
/// their start and end: a 5 MB name quoted back is no help, only noise,
/// and what is wrong with it is usually said at the end.
fn shorten(message: &str) -> String {
    if message.len() <= MAX_LINE {
        return message.to_owned();
    }
    const TAIL: usize = 300;
    message
        .lines()
        .map(|line| {
            let chars = line.chars().count();
            if chars <= MAX_LINE {
                return line.to_owned();
            }
            let head: String = line.chars().take(MAX_LINE - TAIL).collect();
            let tail: String = line.chars().skip(chars - TAIL).collect();
            format!(
                "{head}…({} characters left out)…{tail}",
                chars - (MAX_LINE - TAIL) - TAIL
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn words(step: Step) -> (&'static str, &'static str, &'static str) {
    match step {
        Step::Create => ("creating", "created", "create"),
        Step::CreateReplacement => (
            "creating replacement",
            "created replacement",
            "create replacement",
        ),
        Step::Update => ("updating", "updated", "update"),
        Step::Delete => ("destroying", "destroyed", "destroy"),
        Step::DeleteDeposed => (
            "destroying deposed object",
            "destroyed deposed object",
            "destroy deposed object",
        ),
    }
}

/// What a running operation is doing, as the text of its spinner.
pub fn running(address: &impl std::fmt::Display, step: Step) -> String {
    format!("{address}: {}...", words(step).0)
}

/// An event as one plain progress line; `None` for events shown otherwise
/// (drift and plan summaries are part of the rendered plan).
pub fn event(event: &Event) -> Option<String> {
    Some(match &event.kind {
        EventKind::LockTakenOver { previous } => format!(
            "warning: took over the state lock of {} on {} (pid {}, {} since {}): its lease expired at {}",
            previous.holder,
            previous.host,
            previous.pid,
            previous.operation,
            previous.created,
            previous.expires.as_deref().unwrap_or("an unknown time")
        ),
        EventKind::Recovered {
            address,
            step,
            outcome,
        } => format!(
            "{address}: recovered an interrupted {}: {outcome}",
            words(*step).2
        ),
        EventKind::OperationStarted { address, step } => running(address, *step),
        EventKind::OperationProgress { address, message } => format!("{address}: {message}"),
        EventKind::OperationFinished {
            address,
            step,
            elapsed_ms,
        } => format!("{address}: {} in {}", words(*step).1, duration(*elapsed_ms)),
        EventKind::OperationFailed {
            address,
            step,
            error,
        } => format!(
            "{address}: {} failed: {}",
            words(*step).2,
            unprefixed(address, error)
        ),
        EventKind::OperationSkipped { address, because } => {
            format!("{address}: skipped because {because} failed")
        }
        EventKind::Drifted(_)
        | EventKind::PlanReady { .. }
        | EventKind::Interrupted { .. }
        | EventKind::ApplyFinished { .. } => return None,
    })
}

/// The closing line of an apply or destroy.
pub fn apply_summary(report: &ApplyReport, mode: PlanMode, style: Style) -> String {
    let s = report.summary;
    let counts = match mode {
        PlanMode::Apply => format!(
            "{} created, {} updated, {} replaced, {} destroyed",
            s.created, s.updated, s.replaced, s.deleted
        ),
        PlanMode::Destroy => format!("{} destroyed", s.deleted),
    };
    let noun = match mode {
        PlanMode::Apply => "Apply",
        PlanMode::Destroy => "Destroy",
    };
    if report.succeeded() {
        return format!("{}\n", style.green(&format!("{noun} complete: {counts}.")));
    }
    let mut line = if report.interrupted {
        format!("{noun} interrupted: {counts}")
    } else {
        format!("{noun} finished with errors: {counts}")
    };
    if s.failed > 0 {
        let _ = write!(line, ", {} failed", s.failed);
    }
    if s.skipped > 0 {
        let _ = write!(line, ", {} not started", s.skipped);
    }
    format!("{}\n", style.red(&format!("{line}.")))
}

/// Each failed operation of an apply as an `error:` line; a full disk's
/// hint once after them.
pub fn failures(report: &ApplyReport, style: Style) -> String {
    let mut out: String = report
        .failures
        .iter()
        .map(|(address, message)| {
            let message = disk_full(unprefixed(address, message));
            format!("{}: {address}: {}\n", style.red("error"), shorten(&message))
        })
        .collect();
    if out.contains(DISK_FULL) {
        let _ = writeln!(out, "  hint: {DISK_FULL_HINT}");
    }
    out
}

/// A provider's message without the address it may already start with,
/// so that lines which name the address do not name it twice.
fn unprefixed<'m>(address: &impl std::fmt::Display, message: &'m str) -> &'m str {
    message
        .strip_prefix(&format!("{address}: "))
        .unwrap_or(message)
}

/// The outputs of every resource in state: `address.attr = value`.
pub fn outputs(state: &State) -> String {
    let mut out = String::new();
    for r in state.resources() {
        for (name, value) in r.outputs.as_map().into_iter().flatten() {
            let _ = writeln!(out, "{}.{name} = {value}", r.address);
        }
    }
    out
}

/// The addresses in state, one per line.
pub fn state_list(state: &State) -> String {
    state
        .resources()
        .map(|r| format!("{}\n", r.address))
        .collect()
}

/// One resource in state, with any deposed objects at its address.
pub fn state_show(r: &ResourceState, deposed: &[&Deposed]) -> String {
    let mut out = format!("# {}\n", r.address);
    let deps: Vec<String> = r.dependencies.iter().map(ToString::to_string).collect();
    let fields = [
        ("id", Value::from(r.id.as_str()).to_string()),
        ("prevent_destroy", r.prevent_destroy.to_string()),
        ("dependencies", format!("[{}]", deps.join(", "))),
        ("created_at", r.created_at.clone()),
        ("updated_at", r.updated_at.clone()),
    ];
    for (k, v) in fields {
        let _ = writeln!(out, "{k:15} = {v}");
    }
    for (title, value) in [("inputs", &r.inputs), ("outputs", &r.outputs)] {
        let _ = writeln!(out, "\n{title}:");
        let map = value.as_map();
        let width = map
            .into_iter()
            .flatten()
            .map(|(k, _)| k.len())
            .max()
            .unwrap_or(0);
        for (k, v) in map.into_iter().flatten() {
            let _ = writeln!(out, "  {k:width$} = {v}");
        }
    }
    for d in deposed {
        let _ = writeln!(out, "\ndeposed object {} (awaiting deletion)", d.id);
    }
    out
}

#[cfg(test)]
mod tests;
