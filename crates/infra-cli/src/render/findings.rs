//! The production checklist's findings for people: one block per finding
//! (`error[rule]: file:line:col: address: message`, the checklist item,
//! the fix, and the waiver's reason when waived), a summary line, and the
//! rule table of `infra check --rules`.

use std::fmt::Write as _;

use infra_check::{Finding, Profile, RULES, Report, Severity};

use super::Style;

/// Every finding, then the summary line.
pub fn report(report: &Report, style: Style) -> String {
    let mut out = String::new();
    for f in &report.findings {
        finding(&mut out, f, style);
    }
    out.push_str(&summary(report, style));
    out
}

/// What `plan` and `apply` show after the plan: nothing when the check
/// found nothing, else the findings under a heading.
pub fn after_plan(report: &Report, style: Style) -> String {
    if report.findings.is_empty() {
        return String::new();
    }
    format!(
        "\n{}\n\n{}",
        style.bold(&format!(
            "Production checklist (profile {}):",
            report.profile
        )),
        self::report(report, style)
    )
}

fn finding(out: &mut String, f: &Finding, style: Style) {
    let label = format!("{}[{}]", f.severity, f.rule);
    let label = match (f.severity, &f.waived) {
        (_, Some(_)) => label,
        (Severity::Error, None) => style.red(&label),
        (Severity::Warning, None) => style.yellow(&label),
        (Severity::Note, None) => label,
    };
    out.push_str(&label);
    out.push_str(": ");
    if let Some(at) = &f.location {
        let _ = write!(out, "{at}: ");
    }
    let _ = writeln!(out, "{}: {}", f.address, f.message);
    let _ = writeln!(out, "  checklist: {}", f.item);
    let _ = writeln!(out, "  fix: {}", f.fix);
    if let Some(reason) = &f.waived {
        let _ = writeln!(out, "  waived: {reason}");
    }
    out.push('\n');
}

/// `Check passed (profile production): 0 errors, 1 warning, 2 notes, 1 waived.`
pub fn summary(report: &Report, style: Style) -> String {
    let count = |n: usize, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    let counts = format!(
        "{}, {}, {}, {} waived",
        count(report.count(Severity::Error), "error"),
        count(report.count(Severity::Warning), "warning"),
        count(report.count(Severity::Note), "note"),
        report.waived()
    );
    let line = if report.passed() {
        style.green(&format!(
            "Check passed (profile {}): {counts}.",
            report.profile
        ))
    } else {
        style.red(&format!(
            "Check failed (profile {}): {counts}.",
            report.profile
        ))
    };
    format!("{line}\n")
}

/// The rules as a table: id, severity in each profile, checklist item.
pub fn rules() -> String {
    let width = RULES.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let level = |r: &infra_check::Rule, p: Profile| r.severity(p).map_or("-", Severity::name);
    let mut out = format!(
        "{:width$}  {:10}  {:11}  checklist item\n",
        "rule", "production", "development"
    );
    for r in RULES {
        let _ = writeln!(
            out,
            "{:width$}  {:10}  {:11}  {}",
            r.id,
            level(r, Profile::Production),
            level(r, Profile::Development),
            r.item
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use expect_test::expect;
    use infra_check::{Date, Finding, Report};
    use infra_core::{Diagnostic, Location};

    use super::*;

    fn finding(rule: &'static str, severity: Severity, waived: Option<&str>) -> Finding {
        let r = infra_check::rule(rule).expect("rule");
        Finding {
            rule,
            item: r.item,
            severity,
            address: "rds_instance.db".parse().expect("address"),
            attribute: Some("multi_az".into()),
            location: Some(Location {
                file: Arc::from(Path::new("stacks/prod.toml")),
                line: 12,
                column: 3,
            }),
            message: "the message".into(),
            fix: "the fix".into(),
            waived: waived.map(str::to_owned),
        }
    }

    #[test]
    fn findings_then_a_summary() {
        let mut report = Report {
            profile: Profile::Production,
            today: Date::parse("2026-12-04").expect("date"),
            findings: vec![
                finding("rds-multi-az", Severity::Error, None),
                finding("rds-deletion-protection", Severity::Error, Some("why not")),
                finding("rds-backup-retention", Severity::Note, None),
            ],
            waivers: Vec::new(),
            problems: Vec::new(),
        };
        expect![[r#"
            error[rds-multi-az]: stacks/prod.toml:12:3: rds_instance.db: the message
              checklist: Multi-AZ in production
              fix: the fix

            error[rds-deletion-protection]: stacks/prod.toml:12:3: rds_instance.db: the message
              checklist: Deletion protection
              fix: the fix
              waived: why not

            note[rds-backup-retention]: stacks/prod.toml:12:3: rds_instance.db: the message
              checklist: Backups kept 7 days or more
              fix: the fix

            Check failed (profile production): 1 error, 0 warnings, 1 note, 1 waived.
        "#]]
        .assert_eq(&super::report(&report, Style::PLAIN));
        report.findings.remove(0);
        expect![[r#"
            Check passed (profile production): 0 errors, 0 warnings, 1 note, 1 waived.
        "#]]
        .assert_eq(&summary(&report, Style::PLAIN));
        // An error in `[check]` fails the check too.
        report.problems.push(Diagnostic::error("unknown rule"));
        assert!(summary(&report, Style::PLAIN).starts_with("Check failed"));
        // Nothing found: nothing after the plan.
        report.findings.clear();
        assert_eq!(after_plan(&report, Style::PLAIN), "");
    }

    #[test]
    fn the_rule_table_lists_every_rule() {
        let table = rules();
        assert_eq!(table.lines().count(), RULES.len() + 1, "{table}");
        assert!(
            table
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()[..3]
                    == ["airflow-ha-replicas", "error", "-"]),
            "{table}"
        );
    }
}
