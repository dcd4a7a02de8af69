//! Support windows, as dated data: the EKS Kubernetes calendar (standard
//! and extended support) and the end of RDS for PostgreSQL's standard
//! support per major version. A version past its window is a finding from
//! the day the window closes; updating these tables is how infra learns of
//! new versions.

use super::{Cx, OPERATIONS, Rule};
use crate::Severity::{Error, Note, Warning};
use crate::{Date, Severity};

/// The EKS rule.
pub(crate) const EKS: Rule = Rule {
    id: "eks-version-support",
    item: "Kubernetes version in support",
    checks: "the EKS cluster's Kubernetes version is inside its standard support window (past extended support: an error in every profile)",
    help: "upgrade the cluster one minor version at a time (`version` of the `eks_cluster`), node groups and add-ons with it",
    production: OPERATIONS.0,
    development: OPERATIONS.1,
};

/// The RDS rule.
pub(crate) const RDS: Rule = Rule {
    id: "rds-engine-support",
    item: "Database engine version in support",
    checks: "the RDS instance's PostgreSQL major version is inside its standard support window",
    help: "upgrade to a supported major version (`engine_version` of the `rds_instance`, and the parameter group's `family`)",
    production: OPERATIONS.0,
    development: OPERATIONS.1,
};

/// A support window ending within this many days is a note.
pub const SOON_DAYS: i64 = 90;

/// Where [`EKS_CALENDAR`] comes from.
pub const EKS_SOURCE: &str = "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html (and https://endoflife.date/amazon-eks)";

/// One Kubernetes minor version on EKS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EksSupport {
    /// `1.N`.
    pub version: &'static str,
    /// The first day without standard support.
    pub standard_end: Date,
    /// The first day without extended support.
    pub extended_end: Date,
}

const fn eks(version: &'static str, standard_end: Date, extended_end: Date) -> EksSupport {
    EksSupport {
        version,
        standard_end,
        extended_end,
    }
}

/// The EKS release calendar, oldest first ([`EKS_SOURCE`]).
pub const EKS_CALENDAR: &[EksSupport] = &[
    eks("1.28", Date::ymd(2024, 11, 26), Date::ymd(2025, 11, 26)),
    eks("1.29", Date::ymd(2025, 3, 23), Date::ymd(2026, 3, 23)),
    eks("1.30", Date::ymd(2025, 7, 23), Date::ymd(2026, 7, 23)),
    eks("1.31", Date::ymd(2025, 11, 26), Date::ymd(2026, 11, 26)),
    eks("1.32", Date::ymd(2026, 3, 23), Date::ymd(2027, 3, 23)),
    eks("1.33", Date::ymd(2026, 7, 29), Date::ymd(2027, 7, 29)),
    eks("1.34", Date::ymd(2026, 12, 2), Date::ymd(2027, 12, 2)),
    eks("1.35", Date::ymd(2027, 3, 27), Date::ymd(2028, 3, 27)),
];

/// Where [`POSTGRES_CALENDAR`] comes from.
pub const POSTGRES_SOURCE: &str = "https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html";

/// One PostgreSQL major version on RDS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostgresSupport {
    /// The major version, `16`.
    pub major: &'static str,
    /// The first day without standard support (RDS Extended Support, at
    /// extra cost, may follow).
    pub standard_end: Date,
}

const fn pg(major: &'static str, standard_end: Date) -> PostgresSupport {
    PostgresSupport {
        major,
        standard_end,
    }
}

/// RDS for PostgreSQL's end of standard support, oldest first
/// ([`POSTGRES_SOURCE`]).
pub const POSTGRES_CALENDAR: &[PostgresSupport] = &[
    pg("11", Date::ymd(2024, 2, 29)),
    pg("12", Date::ymd(2025, 2, 28)),
    pg("13", Date::ymd(2026, 2, 28)),
    pg("14", Date::ymd(2027, 2, 28)),
    pg("15", Date::ymd(2028, 2, 29)),
    pg("16", Date::ymd(2029, 2, 28)),
    pg("17", Date::ymd(2030, 2, 28)),
    pg("18", Date::ymd(2031, 2, 28)),
];

/// Where a version stands on a day.
#[derive(Debug, PartialEq, Eq)]
enum Standing {
    /// Supported, and for more than [`SOON_DAYS`].
    Fine,
    /// Supported until `end`, which is near.
    EndsSoon { what: &'static str, end: Date },
    /// Past standard support since `end`; extended support until
    /// `extended` (when there is any).
    PastStandard { end: Date, extended: Option<Date> },
    /// Past every support.
    PastExtended { end: Date },
    /// Older than every version the calendar knows: long out of support.
    Ancient,
    /// Not in the calendar (newer, or not a version).
    Unknown,
}

/// `1.N` as a number N, for ordering.
fn minor(version: &str) -> Option<u32> {
    version.strip_prefix("1.")?.parse().ok()
}

fn eks_standing(version: &str, today: Date) -> Standing {
    let Some(entry) = EKS_CALENDAR.iter().find(|e| e.version == version) else {
        let oldest = EKS_CALENDAR.first().and_then(|e| minor(e.version));
        return match (minor(version), oldest) {
            (Some(n), Some(oldest)) if n < oldest => Standing::Ancient,
            _ => Standing::Unknown,
        };
    };
    standing(
        today,
        entry.standard_end,
        Some(entry.extended_end),
        "standard support",
    )
}

fn postgres_standing(major: &str, today: Date) -> Standing {
    let Some(entry) = POSTGRES_CALENDAR.iter().find(|e| e.major == major) else {
        let oldest = POSTGRES_CALENDAR
            .first()
            .and_then(|e| e.major.parse::<u32>().ok());
        return match (major.parse::<u32>().ok(), oldest) {
            (Some(n), Some(oldest)) if n < oldest => Standing::Ancient,
            _ => Standing::Unknown,
        };
    };
    standing(today, entry.standard_end, None, "standard support")
}

fn standing(today: Date, standard: Date, extended: Option<Date>, what: &'static str) -> Standing {
    if today < standard {
        return if today.days_until(standard) <= SOON_DAYS {
            Standing::EndsSoon {
                what,
                end: standard,
            }
        } else {
            Standing::Fine
        };
    }
    match extended {
        Some(end) if today >= end => Standing::PastExtended { end },
        extended => Standing::PastStandard {
            end: standard,
            extended,
        },
    }
}

pub(crate) fn check(cx: &mut Cx<'_>) {
    let today = cx.today();
    for res in cx.of_type("eks_cluster") {
        let node = res.get("version");
        let Some(version) = node.str() else {
            if node.is_missing() {
                let message = "no `version`: EKS picks one at create, and nothing then says when it leaves support".to_owned();
                let fix = "pin `version`, e.g. \"1.35\"".to_owned();
                cx.report_as(&EKS, Warning, &res, None, message, fix);
            }
            continue;
        };
        let (severity, message, fix) = match eks_standing(version, today) {
            Standing::Fine => continue,
            Standing::EndsSoon { what, end } => (
                Note,
                format!("Kubernetes {version} leaves EKS {what} on {end}"),
                format!("plan the upgrade from {version} before {end}"),
            ),
            Standing::PastStandard { end, extended } => {
                let until = extended.map_or(String::new(), |e| {
                    format!(", and extended support (billed extra) ends on {e}")
                });
                (
                    profile_severity(cx, &EKS),
                    format!("Kubernetes {version} is past EKS standard support since {end}{until}"),
                    format!("upgrade the cluster from {version} to the next minor version"),
                )
            }
            Standing::PastExtended { end } => (
                Error,
                format!(
                    "Kubernetes {version} is past EKS extended support since {end}: EKS upgrades it without asking"
                ),
                format!("upgrade the cluster from {version} now"),
            ),
            Standing::Ancient => (
                Error,
                format!("Kubernetes {version} is older than every version EKS still supports"),
                "upgrade the cluster to a supported version".to_owned(),
            ),
            Standing::Unknown => (
                Warning,
                format!("Kubernetes version `{version}` is not in infra's EKS support calendar"),
                format!(
                    "use a version from {EKS_SOURCE}, or update the calendar of infra-check if it is newer"
                ),
            ),
        };
        cx.report_as(&EKS, severity, &res, Some(&node), message, fix);
    }
    for res in cx.of_type("rds_instance") {
        let node = res.get("engine_version");
        let Some(version) = node.str() else {
            if node.is_missing() {
                let message = "no `engine_version`: RDS picks one at create, and nothing then says when it leaves support".to_owned();
                let fix = "pin the major version, e.g. engine_version = \"16\"".to_owned();
                cx.report_as(&RDS, Warning, &res, None, message, fix);
            }
            continue;
        };
        let engine = res.get("engine");
        let engine_name = engine.str().unwrap_or("postgres");
        if engine_name != "postgres" {
            cx.report_as(
                &RDS,
                Warning,
                &res,
                Some(&engine),
                format!("infra has no support calendar for engine `{engine_name}`"),
                "check the engine's release calendar by hand".to_owned(),
            );
            continue;
        }
        let major = version.split('.').next().unwrap_or(version);
        let (severity, message, fix) = match postgres_standing(major, today) {
            Standing::Fine => continue,
            Standing::EndsSoon { what, end } => (
                Note,
                format!("PostgreSQL {major} leaves RDS {what} on {end}"),
                format!("plan the major version upgrade from {major} before {end}"),
            ),
            Standing::PastStandard { end, .. } | Standing::PastExtended { end } => (
                profile_severity(cx, &RDS),
                format!(
                    "PostgreSQL {major} is past RDS standard support since {end}: RDS Extended Support bills it extra, then upgrades it"
                ),
                format!("upgrade `engine_version` from {major} to a supported major version"),
            ),
            Standing::Ancient => (
                profile_severity(cx, &RDS),
                format!("PostgreSQL {major} is older than every version RDS still supports"),
                "upgrade `engine_version` to a supported major version".to_owned(),
            ),
            Standing::Unknown => (
                Warning,
                format!("PostgreSQL `{version}` is not in infra's RDS support calendar"),
                format!(
                    "use a major version from {POSTGRES_SOURCE}, or update the calendar of infra-check if it is newer"
                ),
            ),
        };
        cx.report_as(&RDS, severity, &res, Some(&node), message, fix);
    }
}

/// The rule's severity for "past standard support" in the profile.
fn profile_severity(cx: &Cx<'_>, rule: &Rule) -> Severity {
    rule.severity(cx.profile).unwrap_or(Warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendars_are_ordered_and_their_windows_close_in_order() {
        for pair in EKS_CALENDAR.windows(2) {
            assert!(minor(pair[0].version) < minor(pair[1].version));
            assert!(pair[0].standard_end < pair[1].standard_end);
        }
        for e in EKS_CALENDAR {
            assert_eq!(e.standard_end.days_until(e.extended_end) / 30, 12, "{e:?}");
        }
        for pair in POSTGRES_CALENDAR.windows(2) {
            assert!(pair[0].standard_end < pair[1].standard_end);
        }
    }

    #[test]
    fn a_version_lapses_on_its_end_date() {
        let d = |s| Date::parse(s).unwrap();
        assert_eq!(eks_standing("1.35", d("2026-12-01")), Standing::Fine);
        assert_eq!(
            eks_standing("1.35", d("2027-01-01")),
            Standing::EndsSoon {
                what: "standard support",
                end: d("2027-03-27")
            }
        );
        assert!(matches!(
            eks_standing("1.35", d("2027-03-26")),
            Standing::EndsSoon { .. }
        ));
        assert_eq!(
            eks_standing("1.35", d("2027-03-27")),
            Standing::PastStandard {
                end: d("2027-03-27"),
                extended: Some(d("2028-03-27"))
            }
        );
        assert_eq!(
            eks_standing("1.30", d("2026-07-23")),
            Standing::PastExtended {
                end: d("2026-07-23")
            }
        );
        assert_eq!(eks_standing("1.21", d("2026-01-01")), Standing::Ancient);
        assert_eq!(eks_standing("1.99", d("2026-01-01")), Standing::Unknown);
        assert_eq!(eks_standing("latest", d("2026-01-01")), Standing::Unknown);
        assert_eq!(postgres_standing("16", d("2026-12-04")), Standing::Fine);
        assert!(matches!(
            postgres_standing("13", d("2026-02-28")),
            Standing::PastStandard { .. }
        ));
        assert!(matches!(
            postgres_standing("13", d("2026-02-27")),
            Standing::EndsSoon { .. }
        ));
        assert_eq!(postgres_standing("9", d("2026-01-01")), Standing::Ancient);
        assert_eq!(postgres_standing("19", d("2026-01-01")), Standing::Unknown);
    }
}
