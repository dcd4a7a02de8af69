//! A plan as a pull-request comment (GitHub and GitLab markdown): the
//! summary counts and the estimate first, one collapsible section per
//! resource holding the same lines `infra plan` prints, then the check's
//! findings as a table. Values come from the plan, which holds secrets only
//! as `(sensitive)`.

use std::fmt::Write as _;

use infra_check::{Report, Severity};
use infra_engine::{Action, Plan, UnsetInput};

use super::{Style, duration};

/// The markdown comment for `plan` of stack `stack`, with the check's
/// `report` when there is one.
pub fn plan(plan: &Plan, stack: &str, report: Option<&Report>) -> String {
    let mut out = String::new();
    let s = &plan.summary;
    let _ = writeln!(out, "### infra plan: `{}`\n", code(stack));
    if plan.has_changes() {
        let _ = writeln!(
            out,
            "**{} to add, {} to change, {} to replace, {} to destroy.** Estimated apply time: {} (critical path).\n",
            s.add,
            s.change,
            s.replace,
            s.destroy,
            duration(plan.estimate_ms)
        );
    } else {
        out.push_str("**No changes.** The stack matches the cloud.\n\n");
    }
    if !plan.drift.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>{} objects changed outside infra</summary>\n",
            plan.drift.len()
        );
        let mut text = String::new();
        for d in &plan.drift {
            super::drift(&mut text, d, Style::PLAIN);
        }
        fenced(&mut out, &text);
        out.push_str("</details>\n\n");
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "> **warning:** {}\n", escape(w));
    }
    for c in &plan.changes {
        let unset: Vec<&UnsetInput> = plan
            .unset
            .iter()
            .filter(|u| u.address == c.address)
            .collect();
        let mut text = String::new();
        super::change(&mut text, c, &unset, Style::PLAIN);
        let _ = writeln!(
            out,
            "<details><summary><code>{} {}</code> {}</summary>\n",
            symbol(c.action, c.create_before_destroy),
            escape(&c.address.to_string()),
            verb(c.action)
        );
        fenced(&mut out, text.trim_end());
        out.push_str("</details>\n\n");
    }
    if let Some(report) = report {
        findings(&mut out, report);
    }
    out
}

/// The findings as a table, or the line saying the check passed clean.
fn findings(out: &mut String, report: &Report) {
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    let _ = writeln!(
        out,
        "#### Production checklist (profile {}): {}\n",
        report.profile,
        if report.passed() { "passed" } else { "failed" }
    );
    if report.findings.is_empty() {
        out.push_str("No findings.\n");
        return;
    }
    let _ = writeln!(
        out,
        "{}, {}, {}, {} waived.\n",
        counted(errors, "error"),
        counted(warnings, "warning"),
        counted(report.count(Severity::Note), "note"),
        report.waived()
    );
    out.push_str("| | rule | resource | where | finding | fix |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for f in &report.findings {
        let mark = match (&f.waived, f.severity) {
            (Some(_), _) => "waived",
            (None, Severity::Error) => "error",
            (None, Severity::Warning) => "warning",
            (None, Severity::Note) => "note",
        };
        let at = f
            .location
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let mut message = cell(&f.message);
        if let Some(reason) = &f.waived {
            let _ = write!(message, " (waived: {})", cell(reason));
        }
        let _ = writeln!(
            out,
            "| {mark} | `{}` | `{}` | {} | {message} | {} |",
            code(f.rule),
            code(&f.address.to_string()),
            cell(&at),
            cell(&f.fix)
        );
    }
}

/// `3 errors`, `1 error`.
fn counted(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `text` in a fence longer than any run of backticks inside it.
fn fenced(out: &mut String, text: &str) {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = writeln!(out, "{fence}diff\n{text}\n{fence}\n");
}

fn symbol(action: Action, create_before_destroy: bool) -> &'static str {
    match action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Replace if create_before_destroy => "+/-",
        Action::Replace => "-/+",
        Action::Delete | Action::DeleteDeposed => "-",
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update in place",
        Action::Replace => "replace",
        Action::Delete => "destroy",
        Action::DeleteDeposed => "destroy the deposed object",
    }
}

/// HTML text: what a summary or a quote may hold.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A table cell: escaped, on one line, with no column break.
fn cell(text: &str) -> String {
    escape(text).replace('|', "\\|").replace('\n', " ")
}

/// Inside an inline code span: no backtick can end it early.
fn code(text: &str) -> String {
    text.replace('`', "'")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use infra_check::{Date, Finding, Profile};
    use infra_core::{Address, Location, Secret, Value};
    use infra_engine::{AttrChange, PlanMode, ResourceChange, Summary};

    use super::*;

    fn change(address: &str, action: Action, attributes: Vec<AttrChange>) -> ResourceChange {
        ResourceChange {
            address: address.parse::<Address>().expect("address"),
            action,
            reason: None,
            target_id: (action != Action::Create).then(|| "id-1".to_owned()),
            attributes,
            after: None,
            dependencies: Vec::new(),
            create_before_destroy: false,
            prevent_destroy: false,
            timeout_ms: 60_000,
        }
    }

    fn attr(path: &str, before: Option<Value>, after: Option<Value>) -> AttrChange {
        AttrChange {
            path: path.to_owned(),
            before,
            after,
            forces_replacement: false,
            note: None,
        }
    }

    fn sample() -> Plan {
        let secret = Value::Sensitive(Secret::new("hmac:01", Value::from("hunter2")));
        Plan {
            version: 1,
            stack: "prod".into(),
            mode: PlanMode::Apply,
            lineage: None,
            serial: 3,
            config_hash: String::new(),
            drift: Vec::new(),
            changes: vec![
                change(
                    "rds_instance.airflow_db",
                    Action::Update,
                    vec![
                        attr("multi_az", Some(false.into()), Some(true.into())),
                        attr("password", Some(secret.clone()), Some(secret)),
                    ],
                ),
                change(
                    "s3_bucket.logs",
                    Action::Create,
                    vec![attr("name", None, Some("prod-logs".into()))],
                ),
            ],
            state_only: Vec::new(),
            summary: Summary {
                add: 1,
                change: 1,
                replace: 0,
                destroy: 0,
            },
            estimate_ms: 754_000,
            warnings: vec!["environment variable X is not set <here>".into()],
            missing_env: Vec::new(),
            unset: Vec::new(),
        }
    }

    #[test]
    fn a_plan_comment_has_counts_sections_and_no_secret() {
        let text = plan(&sample(), "prod", None);
        assert!(!text.contains("hunter2"), "a secret leaked:\n{text}");
        expect![[r#"
            ### infra plan: `prod`

            **1 to add, 1 to change, 0 to replace, 0 to destroy.** Estimated apply time: 12m 34s (critical path).

            > **warning:** environment variable X is not set &lt;here&gt;

            <details><summary><code>~ rds_instance.airflow_db</code> update in place</summary>

            ```diff
              ~ rds_instance.airflow_db
                  ~ multi_az = false -> true
                  ~ password = (sensitive) -> (sensitive)
            ```

            </details>

            <details><summary><code>+ s3_bucket.logs</code> create</summary>

            ```diff
              + s3_bucket.logs
                  + name = "prod-logs"
            ```

            </details>

        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn findings_are_a_table_waivers_with_their_reason() {
        let at = |line| Location {
            file: std::path::Path::new("stacks/prod.toml").into(),
            line,
            column: 12,
        };
        let finding = |rule, severity, waived: Option<&str>| Finding {
            rule,
            item: "Multi-AZ in production",
            severity,
            address: "rds_instance.airflow_db".parse().expect("address"),
            attribute: Some("multi_az".into()),
            location: Some(at(7)),
            message: "multi_az is false | not HA".into(),
            fix: "set multi_az = true".into(),
            waived: waived.map(str::to_owned),
        };
        let report = Report {
            profile: Profile::Production,
            today: Date::new(2026, 12, 3).expect("date"),
            findings: vec![
                finding("rds-multi-az", Severity::Error, None),
                finding(
                    "rds-deletion-protection",
                    Severity::Error,
                    Some("a scratch copy"),
                ),
            ],
            waivers: Vec::new(),
            problems: Vec::new(),
        };
        let mut text = String::new();
        findings(&mut text, &report);
        expect![[r#"
            #### Production checklist (profile production): failed

            1 error, 0 warnings, 0 notes, 1 waived.

            | | rule | resource | where | finding | fix |
            | --- | --- | --- | --- | --- | --- |
            | error | `rds-multi-az` | `rds_instance.airflow_db` | stacks/prod.toml:7:12 | multi_az is false \| not HA | set multi_az = true |
            | waived | `rds-deletion-protection` | `rds_instance.airflow_db` | stacks/prod.toml:7:12 | multi_az is false \| not HA (waived: a scratch copy) | set multi_az = true |
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn a_fence_outlasts_the_backticks_inside() {
        let mut out = String::new();
        fenced(&mut out, "a ``` b");
        assert!(out.starts_with("````diff\n"), "{out}");
        assert_eq!(cell("a | b\nc"), "a \\| b c");
    }
}
