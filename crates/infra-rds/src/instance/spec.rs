//! The `rds_instance` schema, its inputs as typed fields, and the plan-time
//! checks of AWS's rules.

use std::collections::BTreeMap;

use infra_core::{
    Attribute, ErrorKind, OpContext, Output, PathSeg, ProviderError, Schema, Type, Value, ValuePath,
};

use crate::input::Reader;
use crate::rules;

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
                .describe("storage in GiB; it can only grow"),
        )
        .attribute(
            Attribute::new("max_allocated_storage", Type::Int)
                .describe("upper limit for storage autoscaling in GiB; unset disables it"),
        )
        .attribute(
            Attribute::new("storage_type", Type::String)
                .default(DEFAULT_STORAGE_TYPE)
                .describe("standard, gp2, gp3, io1 or io2"),
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
        .attribute(Attribute::new("multi_az", Type::Bool).default(false))
        .attribute(Attribute::new("publicly_accessible", Type::Bool).default(false))
        .attribute(
            Attribute::new("vpc_security_group_ids", Type::list(Type::String))
                .describe("VPC security groups; the VPC's default group when unset"),
        )
        .attribute(
            Attribute::new("db_subnet_group", Type::String).describe("the DB subnet group's name"),
        )
        .attribute(
            Attribute::new("backup_retention_period", Type::Int)
                .default(DEFAULT_BACKUP_RETENTION)
                .describe("days of automated backups, 0 to 35"),
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
            Attribute::new("skip_final_snapshot", Type::Bool)
                .default(false)
                .describe("delete without a final snapshot (client-side)"),
        )
        .attribute(
            Attribute::new("final_snapshot_identifier", Type::String)
                .describe("the final snapshot's name, taken on delete (client-side)"),
        )
        .attribute(
            Attribute::new("apply_immediately", Type::Bool)
                .default(false)
                .describe("apply changes now instead of in the maintenance window (client-side)"),
        )
        .attribute(Attribute::new("tags", Type::map(Type::String)).default(Value::map()))
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

/// The inputs, typed, with the schema's defaults.
#[derive(Debug)]
pub(crate) struct Spec {
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
    pub(crate) backup_retention_period: i32,
    pub(crate) backup_window: Option<String>,
    pub(crate) maintenance_window: Option<String>,
    pub(crate) deletion_protection: bool,
    pub(crate) apply_immediately: bool,
    pub(crate) tags: BTreeMap<String, String>,
}

impl Spec {
    pub(crate) fn parse(ctx: &OpContext, inputs: &Value) -> Result<Spec, ProviderError> {
        let mut r = Reader::new(inputs);
        let spec = Spec {
            identifier: r.required_string("identifier"),
            engine: r.string_or("engine", DEFAULT_ENGINE),
            engine_version: r.string("engine_version"),
            instance_class: r.required_string("instance_class"),
            allocated_storage: r.required_int("allocated_storage"),
            max_allocated_storage: r.int("max_allocated_storage"),
            storage_type: r.string_or("storage_type", DEFAULT_STORAGE_TYPE),
            storage_encrypted: r.bool_or("storage_encrypted", true),
            kms_key_id: r.string("kms_key_id"),
            db_name: r.string("db_name"),
            username: r.required_string("username"),
            password: r.value("password"),
            multi_az: r.bool_or("multi_az", false),
            publicly_accessible: r.bool_or("publicly_accessible", false),
            vpc_security_group_ids: r.strings("vpc_security_group_ids"),
            db_subnet_group: r.string("db_subnet_group"),
            backup_retention_period: r
                .int("backup_retention_period")
                .unwrap_or(DEFAULT_BACKUP_RETENTION as i32),
            backup_window: r.string("backup_window"),
            maintenance_window: r.string("maintenance_window"),
            deletion_protection: r.bool_or("deletion_protection", false),
            apply_immediately: r.bool_or("apply_immediately", false),
            tags: r.tags("tags"),
        };
        // Client-side flags are read where they are used (delete), but a
        // wrong type is still an error now.
        r.bool_or("skip_final_snapshot", false);
        r.string("final_snapshot_identifier");
        r.finish(&ctx.address.to_string())?;
        Ok(spec)
    }

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

/// Plan-time checks beyond types. Unknown values are skipped: they are
/// checked once known.
pub(crate) fn validate(inputs: &Value) -> Vec<(ValuePath, String)> {
    let mut out: Vec<(ValuePath, String)> = Vec::new();
    let at = |k: &str| vec![PathSeg::Key(k.to_owned())];
    let s = |k: &str| inputs.get(k).and_then(Value::as_str);
    let i = |k: &str| inputs.get(k).and_then(Value::as_int);
    let b = |k: &str| inputs.get(k).and_then(Value::as_bool);

    if let Some(id) = s("identifier")
        && let Err(m) = rules::identifier(id, 63)
    {
        out.push((at("identifier"), format!("identifier `{id}` {m}")));
    }
    if let Some(e) = s("engine")
        && !e.starts_with("postgres")
    {
        out.push((
            at("engine"),
            format!("engine `{e}` is not supported: rds_instance manages PostgreSQL (`postgres`)"),
        ));
    }
    if let Some(c) = s("instance_class")
        && !c.starts_with("db.")
    {
        out.push((
            at("instance_class"),
            format!("instance class `{c}` must start with `db.`, e.g. `db.t4g.medium`"),
        ));
    }
    let allocated = i("allocated_storage");
    if let Some(a) = allocated
        && !(1..=65536).contains(&a)
    {
        out.push((
            at("allocated_storage"),
            format!("allocated_storage must be 1 to 65536 GiB, found {a}"),
        ));
    }
    if let (Some(max), Some(a)) = (i("max_allocated_storage"), allocated)
        && max < a
    {
        out.push((
            at("max_allocated_storage"),
            format!("max_allocated_storage ({max}) must be at least allocated_storage ({a})"),
        ));
    }
    if let Some(t) = s("storage_type")
        && !STORAGE_TYPES.contains(&t)
    {
        out.push((
            at("storage_type"),
            format!(
                "storage_type `{t}` must be one of {}",
                STORAGE_TYPES.join(", ")
            ),
        ));
    }
    if s("kms_key_id").is_some() && b("storage_encrypted") == Some(false) {
        out.push((
            at("kms_key_id"),
            "kms_key_id needs storage_encrypted = true".into(),
        ));
    }
    for key in ["username", "db_name"] {
        if let Some(v) = s(key)
            && let Err(m) = rules::pg_name(v)
        {
            out.push((at(key), format!("{key} `{v}` {m}")));
        }
    }
    if s("username").is_some_and(|u| u.eq_ignore_ascii_case("rdsadmin")) {
        out.push((
            at("username"),
            "username `rdsadmin` is reserved by RDS".into(),
        ));
    }
    if let Some(Value::Sensitive(secret)) = inputs.get("password")
        && let Some(Value::String(p)) = secret.plaintext()
        && let Err(m) = rules::password(p)
    {
        out.push((at("password"), format!("password {m}")));
    }
    if let Some(Value::String(p)) = inputs.get("password")
        && let Err(m) = rules::password(p)
    {
        out.push((at("password"), format!("password {m}")));
    }
    if let Some(r) = i("backup_retention_period")
        && !(0..=35).contains(&r)
    {
        out.push((
            at("backup_retention_period"),
            format!("backup_retention_period must be 0 to 35 days, found {r}"),
        ));
    }
    if let Some(w) = s("backup_window")
        && let Err(m) = rules::backup_window(w)
    {
        out.push((at("backup_window"), format!("backup_window {m}")));
    }
    if let Some(w) = s("maintenance_window")
        && let Err(m) = rules::maintenance_window(w)
    {
        out.push((at("maintenance_window"), format!("maintenance_window {m}")));
    }
    if let Some(g) = s("db_subnet_group")
        && let Err(m) = rules::subnet_group_name(g)
    {
        out.push((at("db_subnet_group"), format!("db_subnet_group `{g}` {m}")));
    }
    let snapshot = inputs.get("final_snapshot_identifier");
    if let Some(Value::String(f)) = snapshot
        && let Err(m) = rules::identifier(f, 255)
    {
        out.push((
            at("final_snapshot_identifier"),
            format!("final_snapshot_identifier `{f}` {m}"),
        ));
    }
    // Like Terraform: without a snapshot name the instance could not be
    // destroyed later, so say so now rather than at destroy time.
    let skip = b("skip_final_snapshot").unwrap_or(false);
    if !skip && matches!(snapshot, None | Some(Value::Null)) {
        out.push((
            at("final_snapshot_identifier"),
            "skip_final_snapshot = false needs final_snapshot_identifier, the name of the snapshot taken when the instance is destroyed; set one, or set skip_final_snapshot = true".into(),
        ));
    }
    if let Some(Value::Map(t)) = inputs.get("tags") {
        for (k, v) in t {
            if let Value::String(v) = v
                && let Err(m) = rules::tag(k, v)
            {
                out.push((
                    vec![PathSeg::Key("tags".into()), PathSeg::Key(k.clone())],
                    m,
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use infra_core::{Secret, display_path};

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
        validate(&Value::Map(m))
            .into_iter()
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
        let cases: [(&str, Value); 9] = [
            ("identifier", Value::from("1-bad")),
            ("backup_retention_period", Value::Int(36)),
            ("max_allocated_storage", Value::Int(10)),
            ("final_snapshot_identifier", Value::from("ends-")),
            ("storage_type", Value::from("gp9")),
            ("username", Value::from("rdsadmin")),
            ("maintenance_window", Value::from("sunday")),
            ("instance_class", Value::from("t3.micro")),
            ("engine", Value::from("mysql")),
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
