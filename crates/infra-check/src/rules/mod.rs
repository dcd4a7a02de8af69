//! The rules: their table ([`RULES`]) and the context they report through.
//! One module per part of the platform; each rule reads resources through
//! [`crate::view`] and reports findings at the attribute they are about.

mod airflow;
mod eks;
mod network;
mod rds;
mod s3;
pub(crate) mod support;

use infra_core::Address;
use infra_stack::Stack;

use crate::view::{Node, Res};
use crate::{CheckInput, Date, Finding, Profile, Severity};

/// A rule of the checklist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The id, kebab-case, as `[check.waive]` names it.
    pub id: &'static str,
    /// The checklist item it enforces.
    pub item: &'static str,
    /// What it checks, in one sentence.
    pub checks: &'static str,
    /// How to comply, in general (each finding has its own fix).
    pub help: &'static str,
    /// Its severity in production; `None` is off.
    pub production: Option<Severity>,
    /// Its severity in development; `None` is off.
    pub development: Option<Severity>,
}

impl Rule {
    /// The severity of its findings in a profile; `None` when it is off.
    pub fn severity(&self, profile: Profile) -> Option<Severity> {
        match profile {
            Profile::Production => self.production,
            Profile::Development => self.development,
        }
    }
}

use Severity::{Error, Note, Warning};

/// Every rule, in the order of the checklist.
pub static RULES: &[Rule] = &[
    support::EKS,
    support::RDS,
    rds::MULTI_AZ,
    rds::DELETION_PROTECTION,
    rds::BACKUP_RETENTION,
    rds::STORAGE_ENCRYPTED,
    rds::NOT_PUBLIC,
    rds::FINAL_SNAPSHOT,
    rds::PREVENT_DESTROY,
    s3::PUBLIC_ACCESS_BLOCK,
    s3::ENCRYPTION,
    s3::VERSIONING,
    s3::LIFECYCLE_TRANSITION,
    s3::LIFECYCLE_MIN_STORAGE,
    s3::LIFECYCLE_SMALL_OBJECTS,
    eks::PUBLIC_ENDPOINT,
    eks::CONTROL_PLANE_LOGS,
    eks::ACCESS_ENTRIES,
    network::PUBLIC_INGRESS,
    network::DB_SECURITY_GROUPS,
    airflow::EXTERNAL_DATABASE,
    airflow::PGBOUNCER,
    airflow::DATABASE_TLS,
    airflow::IN_CLUSTER_TLS,
    airflow::REMOTE_LOGGING,
    airflow::LOGS_IRSA,
    airflow::PLAINTEXT_SECRET,
    airflow::HA_REPLICAS,
    airflow::RESOURCE_REQUESTS,
    airflow::DEFAULT_USER,
    airflow::DAG_DELIVERY,
    airflow::WORKER_TOLERATIONS,
    airflow::MONITORING,
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Severities for a rule's table entry: production, development.
const fn levels(
    production: Option<Severity>,
    development: Option<Severity>,
) -> (Option<Severity>, Option<Severity>) {
    (production, development)
}

/// Security: an error everywhere.
pub(crate) const SECURITY: (Option<Severity>, Option<Severity>) = levels(Some(Error), Some(Error));
/// High availability: an error in production, off in development.
pub(crate) const HA: (Option<Severity>, Option<Severity>) = levels(Some(Error), None);
/// Durability and operations: an error in production, a note in development.
pub(crate) const DURABILITY: (Option<Severity>, Option<Severity>) = levels(Some(Error), Some(Note));
/// Operations that matter in development too: an error in production, a
/// warning in development.
pub(crate) const OPERATIONS: (Option<Severity>, Option<Severity>) =
    levels(Some(Error), Some(Warning));

/// What the rules report through.
pub(crate) struct Cx<'a> {
    stack: &'a Stack,
    input: &'a CheckInput,
    pub profile: Profile,
    findings: Vec<Finding>,
}

impl<'a> Cx<'a> {
    /// The day support windows are judged on.
    pub fn today(&self) -> Date {
        self.input.today
    }

    /// Every resource of a type, with its planned values.
    pub fn of_type(&self, ty: &str) -> Vec<Res<'a>> {
        let input = self.input;
        self.stack
            .resources
            .iter()
            .filter(|r| r.address.ty == ty)
            .map(|r| Res::new(r, input.planned.get(&r.address)))
            .collect()
    }

    /// The resource at an address.
    pub fn resource(&self, address: &Address) -> Option<Res<'a>> {
        let r = self.stack.resource(address)?;
        Some(Res::new(r, self.input.planned.get(address)))
    }

    /// Reports a finding of `rule` at `at` in `res`, with the rule's
    /// severity in the profile (nothing when the rule is off).
    pub fn report(
        &mut self,
        rule: &'static Rule,
        res: &Res<'_>,
        at: Option<&Node<'_>>,
        message: String,
        fix: String,
    ) {
        if let Some(severity) = rule.severity(self.profile) {
            self.report_as(rule, severity, res, at, message, fix);
        }
    }

    /// Reports a finding with a severity the rule decides itself.
    pub fn report_as(
        &mut self,
        rule: &'static Rule,
        severity: Severity,
        res: &Res<'_>,
        at: Option<&Node<'_>>,
        message: String,
        fix: String,
    ) {
        let location = match at {
            Some(node) => res.location(node),
            None => res.config.location.clone(),
        };
        self.findings.push(Finding {
            rule: rule.id,
            item: rule.item,
            severity,
            address: res.config.address.clone(),
            attribute: at.map(|n| infra_core::display_path(&n.path)),
            location,
            message,
            fix,
            waived: None,
        });
    }
}

/// Every rule's findings, in no particular order.
pub(crate) fn run(stack: &Stack, input: &CheckInput) -> Vec<Finding> {
    let mut cx = Cx {
        stack,
        input,
        profile: stack.check.profile,
        findings: Vec::new(),
    };
    support::check(&mut cx);
    rds::check(&mut cx);
    s3::check(&mut cx);
    eks::check(&mut cx);
    network::check(&mut cx);
    airflow::check(&mut cx);
    cx.findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_documented() {
        let docs = include_str!("../lib.rs");
        for (i, r) in RULES.iter().enumerate() {
            assert!(
                r.id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                r.id
            );
            assert!(
                RULES[..i].iter().all(|o| o.id != r.id),
                "duplicate {}",
                r.id
            );
            let show = |s: Option<Severity>| s.map_or("-", Severity::name);
            let row = format!(
                "//! | `{}` | {} | {} | {} |",
                r.id,
                r.item,
                show(r.production),
                show(r.development)
            );
            assert!(docs.contains(&row), "the crate docs lack the row\n{row}");
            assert!(r.production.is_some(), "{} is off in production", r.id);
        }
    }
}
