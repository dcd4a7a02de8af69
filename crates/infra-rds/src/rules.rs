//! AWS's documented naming and value rules for RDS, checked when the inputs
//! are parsed, so a bad name fails the plan instead of the apply.

use infra_core::Fields;

/// A required string checked by `rule` once known; `""` when it is missing
/// (a problem) or not known yet.
pub(crate) fn required(
    f: &mut Fields<'_>,
    key: &str,
    rule: impl FnOnce(&str) -> Result<(), String>,
) -> String {
    if !f.is_set(key) {
        return f.required_string(key);
    }
    f.string_with(key, rule).unwrap_or_default()
}

/// `rule` with its message after what is checked and the value:
/// "identifier `1db` must start with a letter".
pub(crate) fn quoting(
    what: &str,
    rule: impl FnOnce(&str) -> Result<(), String>,
) -> impl FnOnce(&str) -> Result<(), String> {
    move |v| rule(v).map_err(|m| format!("{what} `{v}` {m}"))
}

/// DB instance identifiers and snapshot identifiers: letters, digits and
/// hyphens; first a letter; no trailing hyphen, no `--` (RDS API docs,
/// `DBInstanceIdentifier` / `FinalDBSnapshotIdentifier`).
pub(crate) fn identifier(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() || value.len() > max {
        return Err(format!("must be 1 to {max} characters long"));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("must start with a letter".into());
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!(
            "may contain only letters, digits and hyphens, found {c:?}"
        ));
    }
    if value.ends_with('-') {
        return Err("must not end with a hyphen".into());
    }
    if value.contains("--") {
        return Err("must not contain two consecutive hyphens".into());
    }
    Ok(())
}

/// DB subnet group names: up to 255 letters, digits, periods, underscores,
/// spaces or hyphens, and not `default` (RDS `CreateDBSubnetGroup`). AWS
/// stores them lowercase, so any case is accepted and compared lowercase.
pub(crate) fn subnet_group_name(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 255 {
        return Err("must be 1 to 255 characters long".into());
    }
    if value.eq_ignore_ascii_case("default") {
        return Err("must not be `default`, which AWS reserves".into());
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ' ' | '-')))
    {
        return Err(format!(
            "may contain only letters, digits, periods, underscores, spaces and hyphens, found {c:?}"
        ));
    }
    Ok(())
}

/// The DB parameter group an instance names: one of AWS's defaults
/// (`default.postgres16`), or a group's name as `CreateDBParameterGroup`
/// allows it (1 to 255 letters, digits and hyphens, first a letter, no
/// trailing hyphen or `--`). Compared without case, as AWS stores names
/// lowercase.
pub(crate) fn parameter_group_name(value: &str) -> Result<(), String> {
    let is_default = value
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("default."));
    if is_default && value.len() > 8 {
        return Ok(());
    }
    identifier(value, 255)
}

/// PostgreSQL master user names and database names: 1–63 letters, digits
/// or underscores, starting with a letter.
pub(crate) fn pg_name(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 63 {
        return Err("must be 1 to 63 characters long".into());
    }
    if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("must start with a letter".into());
    }
    if value
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err("may contain only letters, digits and underscores".into());
    }
    Ok(())
}

/// RDS PostgreSQL master passwords: 8–128 printable ASCII characters other
/// than `/`, `"`, `@` and space. The message never repeats the password.
pub(crate) fn password(value: &str) -> Result<(), String> {
    if value.len() < 8 || value.len() > 128 {
        return Err("must be 8 to 128 characters long".into());
    }
    if value
        .chars()
        .any(|c| !c.is_ascii_graphic() || matches!(c, '/' | '"' | '@'))
    {
        return Err(
            "may contain only printable ASCII characters other than '/', '\"', '@' and space"
                .into(),
        );
    }
    Ok(())
}

fn hh_mm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_hh_mm(s: &str) -> Option<u32> {
    let (day, time) = s.split_once(':')?;
    let d = DAYS.iter().position(|x| x.eq_ignore_ascii_case(day))?;
    Some(d as u32 * 24 * 60 + hh_mm(time)?)
}

/// `hh24:mi-hh24:mi`, UTC, at least 30 minutes.
pub(crate) fn backup_window(value: &str) -> Result<(), String> {
    let bad = || "must look like `hh24:mi-hh24:mi` (UTC), e.g. `03:00-03:30`".to_owned();
    let (a, b) = value.split_once('-').ok_or_else(bad)?;
    let (a, b) = (hh_mm(a).ok_or_else(bad)?, hh_mm(b).ok_or_else(bad)?);
    let minutes = (b + 24 * 60 - a) % (24 * 60);
    if minutes < 30 {
        return Err("must be at least 30 minutes long".into());
    }
    Ok(())
}

/// `ddd:hh24:mi-ddd:hh24:mi`, UTC, at least 30 minutes.
pub(crate) fn maintenance_window(value: &str) -> Result<(), String> {
    let bad =
        || "must look like `ddd:hh24:mi-ddd:hh24:mi` (UTC), e.g. `sun:05:00-sun:06:00`".to_owned();
    let (a, b) = value.split_once('-').ok_or_else(bad)?;
    let (a, b) = (day_hh_mm(a).ok_or_else(bad)?, day_hh_mm(b).ok_or_else(bad)?);
    let week = 7 * 24 * 60;
    if (b + week - a) % week < 30 {
        return Err("must be at least 30 minutes long".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_the_rds_rules() {
        assert!(identifier("dev-airflow-db", 63).is_ok());
        assert!(identifier("", 63).is_err());
        assert!(identifier(&"a".repeat(64), 63).is_err());
        assert!(identifier("1db", 63).unwrap_err().contains("letter"));
        assert!(identifier("db-", 63).unwrap_err().contains("end"));
        assert!(identifier("a--b", 63).unwrap_err().contains("consecutive"));
        assert!(identifier("a_b", 63).unwrap_err().contains("'_'"));
        assert!(identifier(&"a".repeat(255), 255).is_ok());
    }

    #[test]
    fn subnet_group_names_and_pg_names() {
        assert!(subnet_group_name("Airflow DB_subnets.v1").is_ok());
        assert!(subnet_group_name("DEFAULT").is_err());
        assert!(subnet_group_name("a/b").is_err());
        assert!(pg_name("airflow_1").is_ok());
        assert!(pg_name("_x").is_err());
        assert!(pg_name("a-b").is_err());
        assert!(parameter_group_name("default.postgres16").is_ok());
        assert!(parameter_group_name("Airflow-PG").is_ok());
        assert!(parameter_group_name("default.").is_err());
        assert!(parameter_group_name("airflow.pg").is_err());
    }

    #[test]
    fn passwords_are_checked_without_echoing_them() {
        assert!(password("correct-horse-battery").is_ok());
        let err = password("short").unwrap_err();
        assert!(!err.contains("short"), "{err}");
        assert!(password("has space in it").is_err());
        assert!(password("has@sign12").is_err());
    }

    #[test]
    fn windows() {
        assert!(backup_window("03:00-03:30").is_ok());
        assert!(backup_window("23:50-00:30").is_ok());
        assert!(backup_window("03:00-03:10").is_err());
        assert!(backup_window("3:00-03:30").is_err());
        assert!(maintenance_window("sun:05:00-sun:06:00").is_ok());
        assert!(maintenance_window("Sun:23:45-Mon:00:30").is_ok());
        assert!(maintenance_window("sun:05:00-sun:05:10").is_err());
        assert!(maintenance_window("xyz:05:00-sun:06:00").is_err());
    }
}
