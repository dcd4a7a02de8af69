//! The `rds_instance` schema, and its inputs read into a typed [`Spec`]
//! with every rule of AWS's checked on the way.

use infra_aws::{Tags, read_tags};
use infra_core::{
    Attribute, ErrorKind, Fields, OpContext, Output, ProviderError, Schema, Type, Validator, Value,
};

use crate::rules::{self, quoting};

/// The resource type name.
pub const TYPE_NAME: &str = "rds_instance";

pub(crate) const DEFAULT_ENGINE: &str = "postgres";
pub(crate) const DEFAULT_STORAGE_TYPE: &str = "gp3";
pub(crate) const DEFAULT_BACKUP_RETENTION: i64 = 7;
const STORAGE_TYPES: [&str; 5] = ["standard", "gp2", "gp3", "io1", "io2"];

/// The schema; see [`crate::RdsInstance`] for the table.
pub(crate) fn schema() -> Schema {
    let replace = |a: Attribute| a.forces_replacement();
    Schema::new(TYPE_NAME)
        .attribute(replace(
            Attribute::new("identifier", Type::String)
                .required()
                .describe("the DB instance identifier; AWS stores it lowercase"),
        ))
        .attribute(replace(
            Attribute::new("engine", Type::String)
                .default(DEFAULT_ENGINE)
                .describe("the database engine"),
        ))
        .attribute(
            Attribute::new("engine_version", Type::String)
                .describe("e.g. `16.4`, or `16` for the latest minor; upgrades in place"),
        )
        .attribute(
            Attribute::new("instance_class", Type::String)
                .required()
                .describe("e.g. `db.t4g.medium`"),
        )
        .attribute(
            Attribute::new("allocated_storage", Type::Int)
                .required()
                .validate(Validator::Range { min: 1, max: 65536 })
                .describe("storage in GiB; it can only grow"),
        )
        .attribute(
            Attribute::new("max_allocated_storage", Type::Int)
                .describe("upper limit for storage autoscaling in GiB; unset disables it"),
        )
        .attribute(
            Attribute::new("storage_type", Type::String)
                .default(DEFAULT_STORAGE_TYPE)
                .validate(Validator::one_of(&STORAGE_TYPES))
                .describe("the kind of storage volume"),
        )
        .attribute(replace(
            Attribute::new("storage_encrypted", Type::Bool)
                .default(true)
                .describe("encrypt storage at rest"),
        ))
        .attribute(replace(
            Attribute::new("kms_key_id", Type::String)
                .describe("the KMS key for storage encryption; AWS's key when unset"),
        ))
        .attribute(replace(
            Attribute::new("db_name", Type::String).describe("a database to create"),
        ))
        .attribute(replace(
            Attribute::new("username", Type::String)
                .required()
                .describe("the master user name"),
        ))
        .attribute(
            Attribute::new("password", Type::String)
                .required()
                .sensitive()
                .describe("the master password; AWS never returns it"),
        )
        .attribute(
            Attribute::new("multi_az", Type::Bool)
                .default(false)
                .describe("keep a standby in another availability zone"),
        )
        .attribute(
            Attribute::new("publicly_accessible", Type::Bool)
                .default(false)
                .describe("give the endpoint a public address"),
        )
        .attribute(
            Attribute::new("vpc_security_group_ids", Type::set(Type::String))
                .describe("VPC security groups; the VPC's default group when unset"),
        )
        .attribute(
            Attribute::new("db_subnet_group", Type::String).describe("the DB subnet group's name"),
        )
        .attribute(
            Attribute::new("parameter_group_name", Type::String)
                .computed()
                .describe("the DB parameter group, e.g. an `rds_parameter_group`'s name; AWS uses `default.<family>` when unset (not drift); changed in place, but the new group's static parameters apply only once the instance reboots"),
        )
        .attribute(
            Attribute::new("backup_retention_period", Type::Int)
                .default(DEFAULT_BACKUP_RETENTION)
                .validate(Validator::Range { min: 0, max: 35 })
                .describe("days of automated backups"),
        )
        .attribute(
            Attribute::new("backup_window", Type::String)
                .describe("daily `hh24:mi-hh24:mi` UTC; AWS picks one when unset"),
        )
        .attribute(
            Attribute::new("maintenance_window", Type::String)
                .describe("weekly `ddd:hh24:mi-ddd:hh24:mi` UTC; AWS picks one when unset"),
        )
        .attribute(
            Attribute::new("deletion_protection", Type::Bool)
                .default(false)
                .describe("refuse deletion while true"),
        )
        .attribute(
            Attribute::new("enabled_cloudwatch_logs_exports", Type::set(Type::String))
                .default(Value::List(Vec::new()))
                .validate(Validator::one_of(&LOG_EXPORTS))
                .describe("PostgreSQL logs published to CloudWatch Logs, updated in place"),
        )
        .attribute(
            Attribute::new("skip_final_snapshot", Type::Bool)
                .default(false)
                .describe("delete without a final snapshot (client-side)"),
        )
        .attribute(
            Attribute::new("final_snapshot_identifier", Type::String)
                .describe("the final snapshot's name, taken on delete with the destroy's own suffix (`<name>-<8 hex>`), so a later destroy never collides (client-side)"),
        )
        .attribute(
            Attribute::new("apply_immediately", Type::Bool)
                .default(false)
                .describe("apply changes now instead of in the maintenance window (client-side)"),
        )
        .attribute(infra_aws::tags_attribute("instance"))
        .output(Output::new(
            "address",
            Type::String,
            "the endpoint's host name",
        ))
        .output(Output::new("port", Type::Int, "the endpoint's port"))
        .output(Output::new("endpoint", Type::String, "`host:port`"))
        .output(Output::new("arn", Type::String, "the instance's ARN"))
        .output(Output::new(
            "resource_id",
            Type::String,
            "the immutable DbiResourceId",
        ))
        .output(Output::new("status", Type::String, "e.g. `available`"))
}

/// The inputs of an `rds_instance`, typed, with the schema's defaults.
#[derive(Debug)]
pub struct Spec {
    pub(crate) identifier: String,
    pub(crate) engine: String,
    pub(crate) engine_version: Option<String>,
    pub(crate) instance_class: String,
    pub(crate) allocated_storage: i32,
    pub(crate) max_allocated_storage: Option<i32>,
    pub(crate) storage_type: String,
    pub(crate) storage_encrypted: bool,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) db_name: Option<String>,
    pub(crate) username: String,
    /// Kept sealed; revealed only in the request that needs it.
    password: Option<Value>,
    pub(crate) multi_az: bool,
    pub(crate) publicly_accessible: bool,
    pub(crate) vpc_security_group_ids: Option<Vec<String>>,
    pub(crate) db_subnet_group: Option<String>,
    pub(crate) parameter_group_name: Option<String>,
    pub(crate) backup_retention_period: i32,
    pub(crate) backup_window: Option<String>,
    pub(crate) maintenance_window: Option<String>,
    pub(crate) deletion_protection: bool,
    pub(crate) cloudwatch_logs_exports: Vec<String>,
    pub(crate) apply_immediately: bool,
    pub(crate) tags: Tags,
}

/// The logs an RDS PostgreSQL instance can publish to CloudWatch Logs.
pub(crate) const LOG_EXPORTS: [&str; 3] = ["postgresql", "upgrade", "iam-db-auth-error"];

impl Spec {
    /// The identifier as AWS stores it: the cloud id.
    pub(crate) fn id(&self) -> String {
        self.identifier.to_ascii_lowercase()
    }

    /// The master password's plaintext, for the one request that sends it.
    pub(crate) fn reveal_password(&self, ctx: &OpContext) -> Result<String, ProviderError> {
        match self.password.as_ref().map(Value::reveal) {
            Some(Value::String(s)) => Ok(s),
            Some(Value::Unknown) => Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "`{}`: the password is not available in this run (state holds only its digest); provide it (e.g. `password = {{ from_env = \"...\" }}`) and apply again",
                    ctx.address
                ),
            )),
            Some(other) => Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "`{}`: `password` must be a string, found {}",
                    ctx.address,
                    other.kind()
                ),
            )),
            None => Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("`{}`: `password` is required", ctx.address),
            )),
        }
    }
}

/// The engine's major version: `16` of `16.4`, `9.6` of `9.6.24`.
pub(crate) fn major_version(version: &str) -> &str {
    let mut parts = version.splitn(3, '.');
    let first = parts.next().unwrap_or_default();
    match (first.parse::<u32>(), parts.next()) {
        (Ok(n), Some(second)) if n < 10 => &version[..first.len() + 1 + second.len()],
        _ => first,
    }
}

/// Whether the version AWS reports satisfies the one asked for: `16`
/// is satisfied by `16.4` (AWS picks the minor, and may upgrade it).
pub(crate) fn version_matches(wanted: &str, actual: &str) -> bool {
    actual == wanted
        || actual
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Reads the spec, each problem at its attribute. Unknown values are
/// checked once known.
pub(crate) fn parse(f: &mut Fields<'_>) -> Spec {
    let identifier = rules::required(
        f,
        "identifier",
        quoting("identifier", |v| rules::identifier(v, 63)),
    );
    let engine = f.string_with(
        "engine",
        quoting("engine", |e| match e.starts_with("postgres") {
            true => Ok(()),
            false => Err("is not supported: rds_instance manages PostgreSQL (`postgres`)".into()),
        }),
    );
    let instance_class = rules::required(
        f,
        "instance_class",
        quoting("instance class", |c| match c.starts_with("db.") {
            true => Ok(()),
            false => Err("must start with `db.`, e.g. `db.t4g.medium`".into()),
        }),
    );
    if !f.is_set("allocated_storage") {
        f.problem_at("allocated_storage", "`allocated_storage` is required");
    }
    let allocated_storage = f.i32("allocated_storage");
    let max_allocated_storage = f.i32("max_allocated_storage");
    if let (Some(max), Some(a)) = (max_allocated_storage, allocated_storage)
        && max < a
    {
        let message =
            format!("max_allocated_storage ({max}) must be at least allocated_storage ({a})");
        f.problem_at("max_allocated_storage", message);
    }
    let storage_encrypted = f.bool_or("storage_encrypted", true);
    let kms_key_id = f.string("kms_key_id");
    if kms_key_id.is_some() && !storage_encrypted {
        f.problem_at("kms_key_id", "kms_key_id needs storage_encrypted = true");
    }
    let username = rules::required(f, "username", quoting("username", rules::pg_name));
    let db_name = f.string_with("db_name", quoting("db_name", rules::pg_name));
    if username.eq_ignore_ascii_case("rdsadmin") {
        f.problem_at("username", "username `rdsadmin` is reserved by RDS");
    }
    let password = f.value("password").cloned();
    let plaintext = match &password {
        Some(Value::Sensitive(secret)) => secret.plaintext(),
        other => other.as_ref(),
    };
    if let Some(Value::String(p)) = plaintext
        && let Err(m) = rules::password(p)
    {
        f.problem_at("password", format!("password {m}"));
    }
    let window = |key: &'static str, rule: fn(&str) -> Result<(), String>| {
        move |w: &str| rule(w).map_err(|m| format!("{key} {m}"))
    };
    let backup_window = f.string_with(
        "backup_window",
        window("backup_window", rules::backup_window),
    );
    let maintenance_window = f.string_with(
        "maintenance_window",
        window("maintenance_window", rules::maintenance_window),
    );
    let db_subnet_group = f.string_with(
        "db_subnet_group",
        quoting("db_subnet_group", rules::subnet_group_name),
    );
    let parameter_group_name = f.string_with(
        "parameter_group_name",
        quoting("parameter_group_name", rules::parameter_group_name),
    );
    f.string_with(
        "final_snapshot_identifier",
        quoting("final_snapshot_identifier", |v| rules::identifier(v, 255)),
    );
    // Like Terraform: without a snapshot name the instance could not be
    // destroyed later, so say so now rather than at destroy time. (Delete
    // reads both from state.)
    if !f.bool_or("skip_final_snapshot", false) && !f.is_set("final_snapshot_identifier") {
        f.problem_at(
            "final_snapshot_identifier",
            "skip_final_snapshot = false needs final_snapshot_identifier, the name of the snapshot taken when the instance is destroyed; set one, or set skip_final_snapshot = true",
        );
    }
    Spec {
        identifier,
        engine: engine.unwrap_or_else(|| DEFAULT_ENGINE.into()),
        engine_version: f.string("engine_version"),
        instance_class,
        allocated_storage: allocated_storage.unwrap_or_default(),
        max_allocated_storage,
        storage_type: f.string_or("storage_type", DEFAULT_STORAGE_TYPE),
        storage_encrypted,
        kms_key_id,
        db_name,
        username,
        password,
        multi_az: f.bool_or("multi_az", false),
        publicly_accessible: f.bool_or("publicly_accessible", false),
        vpc_security_group_ids: f.strings("vpc_security_group_ids"),
        db_subnet_group,
        parameter_group_name,
        backup_retention_period: f
            .i32("backup_retention_period")
            .unwrap_or(DEFAULT_BACKUP_RETENTION as i32),
        backup_window,
        maintenance_window,
        deletion_protection: f.bool_or("deletion_protection", false),
        cloudwatch_logs_exports: f
            .strings("enabled_cloudwatch_logs_exports")
            .unwrap_or_default(),
        apply_immediately: f.bool_or("apply_immediately", false),
        tags: read_tags(f, "tags"),
    }
}

/// The spec of inputs that must be valid (tests).
#[cfg(test)]
pub(crate) fn parsed(inputs: &Value) -> Spec {
    let mut f = Fields::new(inputs, infra_core::Phase::Apply);
    let spec = parse(&mut f);
    f.finish("test", spec).expect("valid inputs")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use infra_core::{Phase, Secret, display_path};

    use super::*;

    fn valid() -> BTreeMap<String, Value> {
        [
            ("identifier", Value::from("dev-airflow-db")),
            ("instance_class", Value::from("db.t4g.medium")),
            ("allocated_storage", Value::Int(20)),
            ("username", Value::from("airflow")),
            (
                "password",
                Value::Sensitive(Secret::new("d", "correct-horse-1".into())),
            ),
            (
                "final_snapshot_identifier",
                Value::from("dev-airflow-final"),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn problems(changes: &[(&str, Value)]) -> Vec<(String, String)> {
        let mut m = valid();
        for (k, v) in changes {
            m.insert((*k).to_owned(), v.clone());
        }
        plan_problems(&Value::Map(m))
    }

    /// Every plan-time problem: the schema's rules, then the parse's.
    fn plan_problems(inputs: &Value) -> Vec<(String, String)> {
        let mut f = Fields::new(inputs, Phase::Plan);
        parse(&mut f);
        let schema = schema().validate(inputs);
        schema
            .into_iter()
            .chain(f.into_problems())
            .map(|(p, msg)| (display_path(&p), msg))
            .collect()
    }

    #[test]
    fn a_valid_instance_passes() {
        assert_eq!(problems(&[]), []);
        assert_eq!(
            problems(&[
                ("skip_final_snapshot", Value::Bool(true)),
                ("final_snapshot_identifier", Value::Null)
            ]),
            []
        );
    }

    #[test]
    fn each_rule_reports_its_attribute() {
        let cases: [(&str, Value); 10] = [
            ("identifier", Value::from("1-bad")),
            ("backup_retention_period", Value::Int(36)),
            ("max_allocated_storage", Value::Int(10)),
            ("final_snapshot_identifier", Value::from("ends-")),
            ("storage_type", Value::from("gp9")),
            ("username", Value::from("rdsadmin")),
            ("maintenance_window", Value::from("sunday")),
            ("instance_class", Value::from("t3.micro")),
            ("engine", Value::from("mysql")),
            ("parameter_group_name", Value::from("airflow--pg")),
        ];
        for (key, value) in cases {
            let found = problems(&[(key, value)]);
            assert_eq!(found.len(), 1, "{key}: {found:?}");
            assert_eq!(found[0].0, key);
        }
    }

    #[test]
    fn final_snapshot_is_required_unless_skipped() {
        let found = problems(&[("final_snapshot_identifier", Value::Null)]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "final_snapshot_identifier");
        assert!(found[0].1.contains("skip_final_snapshot"), "{}", found[0].1);
    }

    #[test]
    fn a_bad_password_is_reported_without_its_text() {
        let found = problems(&[(
            "password",
            Value::Sensitive(Secret::new("d", "pw@x".into())),
        )]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "password");
        assert!(!found[0].1.contains("pw@x"));
        // A secret without plaintext (from state) cannot be checked: no error.
        assert_eq!(
            problems(&[("password", Value::Sensitive(Secret::redacted("d")))]),
            []
        );
    }

    #[test]
    fn unknown_values_pass() {
        assert_eq!(
            problems(&[
                ("identifier", Value::Unknown),
                ("final_snapshot_identifier", Value::Unknown)
            ]),
            []
        );
    }

    #[test]
    fn versions() {
        assert_eq!(major_version("16.4"), "16");
        assert_eq!(major_version("9.6.24"), "9.6");
        assert_eq!(major_version("16"), "16");
        assert!(version_matches("16", "16.4"));
        assert!(version_matches("16.4", "16.4"));
        assert!(!version_matches("16.4", "16.40"));
        assert!(!version_matches("1", "16.4"));
    }
}
