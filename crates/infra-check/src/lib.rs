//! `infra check`: the production checklist of the Airflow platform as
//! built-in policy. [`check`] runs every rule over a loaded [`Stack`] (and,
//! when there is one, the values its plan resolved) and returns a
//! [`Report`] of findings, each naming its rule, the checklist item it
//! enforces, the resource, the file:line:col of the attribute (or of the
//! resource when the attribute is not written), a severity and the fix.
//! It is pure: no I/O, no clock (the caller says what day it is, which the
//! support windows need), no cloud.
//!
//! # Reading the stack
//!
//! Rules read inputs as written, after `${var.*}` substitution and schema
//! defaults: a literal is known; a `${...}` reference to another resource
//! is followed where a rule needs what it names (the IRSA role behind a
//! service account's annotation, the security groups of the database), and
//! otherwise resolved through the plan's `after` values when a plan is
//! given ([`CheckInput::planned`]). What is known only at apply is never
//! judged: no rule guesses. `{ from_env = ... }` and sensitive values are
//! secrets.
//!
//! # Profiles and waivers
//!
//! `[check] profile = "production"` runs every rule, high-availability and
//! durability ones as errors; `"development"` (the default) turns those off
//! or into notes and keeps the security rules. `[check.waive] rule-id =
//! "why"` keeps a rule's findings in the report, marked waived with the
//! reason, and stops them failing the check. A waiver of an unknown rule is
//! an error at its line ([`Report::problems`]).
//!
//! # The rules
//!
//! Severity per profile (production / development); "-" is off.
//!
//! | rule | checklist item | production | development |
//! | --- | --- | --- | --- |
//! | `eks-version-support` | Kubernetes version in support | error | warning |
//! | `rds-engine-support` | Database engine version in support | error | warning |
//! | `rds-multi-az` | Multi-AZ in production | error | - |
//! | `rds-deletion-protection` | Deletion protection | error | - |
//! | `rds-backup-retention` | Backups kept 7 days or more | error | note |
//! | `rds-storage-encrypted` | Encryption at rest | error | error |
//! | `rds-not-public` | Database not publicly accessible | error | error |
//! | `rds-final-snapshot` | Final snapshot kept | error | note |
//! | `rds-prevent-destroy` | Database protected from destroy | error | - |
//! | `s3-public-access-block` | All public access blocked | error | error |
//! | `s3-encryption` | Bucket encryption | error | error |
//! | `s3-versioning` | Bucket versioning | error | note |
//! | `s3-lifecycle-transition` | Lifecycle rules valid for the storage classes' minimum durations | error | error |
//! | `s3-lifecycle-min-storage` | Lifecycle rules valid for the storage classes' minimum durations | warning | warning |
//! | `s3-lifecycle-small-objects` | Lifecycle rules valid for object sizes | note | note |
//! | `eks-public-endpoint` | Public endpoint not open to 0.0.0.0/0 in production | error | note |
//! | `eks-control-plane-logs` | Control-plane logs on | error | warning |
//! | `eks-access-entries` | Access entries for more than the creator | error | warning |
//! | `network-public-ingress` | Nothing but the load balancer reachable from 0.0.0.0/0 | error | error |
//! | `network-db-security-groups` | The database admits only security groups | error | error |
//! | `airflow-external-database` | External managed database | error | warning |
//! | `airflow-pgbouncer` | Connection pooling (PgBouncer) | error | note |
//! | `airflow-database-tls` | TLS on the hop to the database | error | error |
//! | `airflow-in-cluster-tls` | No TLS on the in-cluster hop to PgBouncer | error | error |
//! | `airflow-remote-logging` | Remote logging | error | warning |
//! | `airflow-logs-irsa` | Remote logging with an IRSA role | error | warning |
//! | `airflow-plaintext-secret` | Secrets kept out of plain text | error | error |
//! | `airflow-ha-replicas` | 2 or more schedulers and API servers in production | error | - |
//! | `airflow-resource-requests` | Resource requests on every component | error | warning |
//! | `airflow-default-user` | Default user off | error | error |
//! | `airflow-dag-delivery` | DAG delivery configured | error | warning |
//! | `airflow-worker-tolerations` | Worker tolerations match the node group's taint | error | error |
//! | `airflow-monitoring` | Monitoring (StatsD metrics) | error | note |
//!
//! The support rules also say more than the table: a version past its
//! extended support is an error in every profile, a version the calendar
//! does not know is a warning, and one whose support ends within
//! [`SOON_DAYS`] days is a note. The calendar is dated data shipped in
//! this crate ([`EKS_CALENDAR`], [`POSTGRES_CALENDAR`], each with its
//! source), so a stack that passes today fails the day its version lapses:
//! support counts as over on the end date itself, the day AWS moves the
//! version to extended support (or out of it).
//!
//! The S3 lifecycle rules: a transition to `STANDARD_IA` or `ONEZONE_IA`
//! before day 30, or out of one within 30 days of entering it, is refused
//! by S3 (`s3-lifecycle-transition`); leaving a class before its minimum
//! storage duration (`STANDARD_IA`/`ONEZONE_IA` 30 days, `GLACIER_IR` and
//! `GLACIER` 90, `DEEP_ARCHIVE` 180; `INTELLIGENT_TIERING` has none) is
//! billed for the rest of it (`s3-lifecycle-min-storage`); a transition to
//! a class that bills small objects as 128 KiB is noted, since `s3_bucket`
//! rules cannot filter by object size (`s3-lifecycle-small-objects`).
//!
//! `network-db-security-groups` follows the database's
//! `vpc_security_group_ids` to the stack's `security_group`s: an ingress
//! rule with `cidr_blocks` there is a finding; a database with no group of
//! its own (the VPC's default group) is a warning.
//!
//! The Airflow rules apply to `helm_release`s of the official chart
//! (`chart = "airflow"`, a repository's `<repo>/airflow`, or a packaged
//! `airflow-<version>.tgz`), reading unset values as the chart's defaults
//! (1.19: the in-cluster PostgreSQL on, PgBouncer off with `sslmode =
//! "prefer"`, one scheduler and API server, the default user on, StatsD
//! on).

mod date;
mod rules;
pub mod sarif;
mod view;

use std::collections::BTreeMap;
use std::fmt;

use infra_core::{Address, Diagnostic, Location, Value};
use infra_stack::Stack;
pub use infra_stack::{CheckProfile as Profile, Waiver};

pub use crate::date::Date;
pub use crate::rules::support::{
    EKS_CALENDAR, EKS_SOURCE, EksSupport, POSTGRES_CALENDAR, POSTGRES_SOURCE, PostgresSupport,
    SOON_DAYS,
};
pub use crate::rules::{RULES, Rule, rule};

/// What a check needs besides the stack.
#[derive(Clone, Debug)]
pub struct CheckInput {
    /// The day support windows are judged on (the CLI's `INFRA_CHECK_TODAY`
    /// or the system clock).
    pub today: Date,
    /// Each resource's inputs as the plan resolved them (a change's
    /// `after`), so that values references take from state are checked too;
    /// empty without a plan.
    pub planned: BTreeMap<Address, Value>,
}

impl CheckInput {
    /// A check of the stack alone, on `today`.
    pub fn new(today: Date) -> Self {
        CheckInput {
            today,
            planned: BTreeMap::new(),
        }
    }
}

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; never fails.
    Note,
    /// Should be fixed; does not fail the check.
    Warning,
    /// Fails the check, and `apply` refuses, unless waived.
    Error,
}

impl Severity {
    /// `error`, `warning` or `note` (also SARIF's level).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One thing a rule found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule's id, e.g. `rds-multi-az`.
    pub rule: &'static str,
    /// The checklist item the rule enforces, e.g. "Multi-AZ in production".
    pub item: &'static str,
    /// How much it matters in the stack's profile.
    pub severity: Severity,
    /// The resource the fix goes in.
    pub address: Address,
    /// The attribute's path in the inputs (`values.scheduler.replicas`),
    /// `None` for the resource as a whole.
    pub attribute: Option<String>,
    /// Where the attribute is written, else the closest enclosing value,
    /// else the resource; `None` for a stack built in code.
    pub location: Option<Location>,
    /// What is wrong, lowercase, no trailing period; never a secret.
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// The waiver's reason, when `[check.waive]` waives the rule.
    pub waived: Option<String>,
}

impl Finding {
    /// Whether it fails the check: an error not waived.
    pub fn blocks(&self) -> bool {
        self.severity == Severity::Error && self.waived.is_none()
    }
}

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The profile the stack was judged by.
    pub profile: Profile,
    /// The day the support windows were judged on.
    pub today: Date,
    /// Every finding, in file order (then by rule and address).
    pub findings: Vec<Finding>,
    /// The stack's waivers.
    pub waivers: Vec<Waiver>,
    /// Problems with the `[check]` table itself: a waiver of an unknown
    /// rule (an error), a waiver that waives nothing (a warning).
    pub problems: Vec<Diagnostic>,
}

impl Report {
    /// Findings of a severity that are not waived.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity && f.waived.is_none())
            .count()
    }

    /// Waived findings.
    pub fn waived(&self) -> usize {
        self.findings.iter().filter(|f| f.waived.is_some()).count()
    }

    /// The findings that fail the check: errors not waived.
    pub fn blocking(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.blocks())
    }

    /// Whether the check passes: no error finding that is not waived, and
    /// no error in the `[check]` table.
    pub fn passed(&self) -> bool {
        self.blocking().next().is_none() && !self.problems.iter().any(Diagnostic::is_error)
    }

    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty() && self.problems.is_empty()
    }
}

/// Runs every rule of the stack's profile over the stack.
pub fn check(stack: &Stack, input: &CheckInput) -> Report {
    let profile = stack.check.profile;
    let mut findings = rules::run(stack, input);
    findings.sort_by(|a, b| {
        let key = |f: &Finding| {
            (
                f.location
                    .as_ref()
                    .map(|l| (l.file.clone(), l.line, l.column)),
                f.rule,
                f.address.clone(),
                f.attribute.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    findings.dedup();
    let waivers = stack.check.waivers.clone();
    let mut problems = Vec::new();
    for w in &waivers {
        let at = |d: Diagnostic| match &w.location {
            Some(l) => d.at(l.clone()),
            None => d,
        };
        if rule(&w.rule).is_none() {
            let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
            let hint = match closest(&w.rule, &ids) {
                Some(c) => format!("did you mean `{c}`? (`infra check --rules` lists them)"),
                None => "`infra check --rules` lists the rule ids".to_owned(),
            };
            problems.push(at(Diagnostic::error(format!(
                "unknown rule `{}` in `[check.waive]`",
                w.rule
            ))
            .hint(hint)));
            continue;
        }
        let mut used = false;
        for f in findings.iter_mut().filter(|f| f.rule == w.rule) {
            f.waived = Some(w.reason.clone());
            used = true;
        }
        if !used {
            problems.push(at(Diagnostic::warning(format!(
                "the waiver of `{}` waives nothing: the rule finds nothing in this stack",
                w.rule
            ))
            .hint("remove it from `[check.waive]`")));
        }
    }
    Report {
        profile,
        today: input.today,
        findings,
        waivers,
        problems,
    }
}

/// The id closest to a mistyped one.
fn closest<'a>(name: &str, ids: &[&'a str]) -> Option<&'a str> {
    // Nobody mistypes a rule id of hundreds of characters.
    if name.len() > 256 {
        return None;
    }
    let limit = (name.chars().count() / 3).max(1);
    ids.iter()
        .map(|id| (strsim::damerau_levenshtein(name, id), *id))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, id)| id)
}
