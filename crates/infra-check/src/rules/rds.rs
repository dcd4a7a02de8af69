//! The metadata database (`rds_instance`): Multi-AZ, deletion protection,
//! backups, encryption, no public address, a final snapshot, and
//! `prevent_destroy`.

use super::{Cx, DURABILITY, HA, Rule, SECURITY};

pub(crate) const MULTI_AZ: Rule = Rule {
    id: "rds-multi-az",
    item: "Multi-AZ in production",
    checks: "the database keeps a standby in a second availability zone",
    help: "set `multi_az = true` on the `rds_instance`",
    production: HA.0,
    development: HA.1,
};

pub(crate) const DELETION_PROTECTION: Rule = Rule {
    id: "rds-deletion-protection",
    item: "Deletion protection",
    checks: "RDS refuses to delete the database",
    help: "set `deletion_protection = true` on the `rds_instance`",
    production: HA.0,
    development: HA.1,
};

pub(crate) const BACKUP_RETENTION: Rule = Rule {
    id: "rds-backup-retention",
    item: "Backups kept 7 days or more",
    checks: "automated backups are kept at least 7 days",
    help: "set `backup_retention_period` to 7 or more (at most 35)",
    production: DURABILITY.0,
    development: DURABILITY.1,
};

pub(crate) const STORAGE_ENCRYPTED: Rule = Rule {
    id: "rds-storage-encrypted",
    item: "Encryption at rest",
    checks: "the database's storage is encrypted",
    help: "set `storage_encrypted = true` (the instance is replaced: restore it from a snapshot)",
    production: SECURITY.0,
    development: SECURITY.1,
};

pub(crate) const NOT_PUBLIC: Rule = Rule {
    id: "rds-not-public",
    item: "Database not publicly accessible",
    checks: "the database's endpoint has no public address",
    help: "set `publicly_accessible = false` and reach the database from inside the VPC",
    production: SECURITY.0,
    development: SECURITY.1,
};

pub(crate) const FINAL_SNAPSHOT: Rule = Rule {
    id: "rds-final-snapshot",
    item: "Final snapshot kept",
    checks: "deleting the database takes a final snapshot",
    help: "set `skip_final_snapshot = false` and a `final_snapshot_identifier`",
    production: DURABILITY.0,
    development: DURABILITY.1,
};

pub(crate) const PREVENT_DESTROY: Rule = Rule {
    id: "rds-prevent-destroy",
    item: "Database protected from destroy",
    checks: "infra refuses any plan that would destroy the database (`lifecycle.prevent_destroy`)",
    help: "add `lifecycle = { prevent_destroy = true }` to the `rds_instance`",
    production: HA.0,
    development: HA.1,
};

pub(crate) fn check(cx: &mut Cx<'_>) {
    for res in cx.of_type("rds_instance") {
        let multi_az = res.get("multi_az");
        if multi_az.bool() == Some(false) {
            cx.report(
                &MULTI_AZ,
                &res,
                Some(&multi_az),
                "the database runs in one availability zone: an outage of that zone stops Airflow"
                    .into(),
                "set `multi_az = true`".into(),
            );
        }
        let protection = res.get("deletion_protection");
        if protection.bool() == Some(false) {
            cx.report(
                &DELETION_PROTECTION,
                &res,
                Some(&protection),
                "deletion protection is off: one call deletes the metadata database".into(),
                "set `deletion_protection = true`".into(),
            );
        }
        let backups = res.get("backup_retention_period");
        if let Some(days) = backups.int()
            && days < 7
        {
            let message = if days == 0 {
                "automated backups are off (`backup_retention_period = 0`)".to_owned()
            } else {
                let unit = if days == 1 { "day" } else { "days" };
                format!("automated backups are kept {days} {unit}, fewer than 7")
            };
            cx.report(
                &BACKUP_RETENTION,
                &res,
                Some(&backups),
                message,
                "set `backup_retention_period` to 7 or more (at most 35)".into(),
            );
        }
        let encrypted = res.get("storage_encrypted");
        if encrypted.bool() == Some(false) {
            cx.report(
                &STORAGE_ENCRYPTED,
                &res,
                Some(&encrypted),
                "the database's storage is not encrypted".into(),
                "set `storage_encrypted = true`; this replaces the instance, so restore the data from a snapshot".into(),
            );
        }
        let public = res.get("publicly_accessible");
        if public.bool() == Some(true) {
            cx.report(
                &NOT_PUBLIC,
                &res,
                Some(&public),
                "the database's endpoint has a public address".into(),
                "set `publicly_accessible = false`".into(),
            );
        }
        let skip = res.get("skip_final_snapshot");
        let name = res.get("final_snapshot_identifier");
        if skip.bool() == Some(true) {
            cx.report(
                &FINAL_SNAPSHOT,
                &res,
                Some(&skip),
                "deleting the database takes no final snapshot (`skip_final_snapshot = true`)"
                    .into(),
                "set `skip_final_snapshot = false` and a `final_snapshot_identifier`".into(),
            );
        } else if name.is_missing() {
            cx.report(
                &FINAL_SNAPSHOT,
                &res,
                None,
                "no `final_snapshot_identifier`: the final snapshot has no name".into(),
                "set `final_snapshot_identifier`, e.g. \"<identifier>-final\"".into(),
            );
        }
        if !res.config.lifecycle.prevent_destroy {
            cx.report(
                &PREVENT_DESTROY,
                &res,
                None,
                "a plan may destroy the database: `lifecycle.prevent_destroy` is not set".into(),
                "add `lifecycle = { prevent_destroy = true }`".into(),
            );
        }
    }
}
