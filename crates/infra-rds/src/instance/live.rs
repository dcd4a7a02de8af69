//! What AWS says about a DB instance: its settings once pending changes
//! apply, the observed inputs and outputs built from them, the
//! `ModifyDBInstance` fields that bring it to a spec, and its status sets.

use std::collections::BTreeMap;

use aws_sdk_rds::types::{DbInstance, PendingModifiedValues};
use infra_aws::Tags;
use infra_core::{
    ErrorKind, Observed, ProviderError, Value, keep_case, same_order, same_set, string_list,
    string_map,
};

use super::spec::{Spec, major_version, version_matches};
use crate::tags;

/// A DB instance as it is, or will be once its pending modifications are
/// applied: comparing a spec against this (actual plus pending) keeps a
/// change already scheduled for the maintenance window from being issued
/// again (reference §1.4).
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub(crate) identifier: String,
    pub(crate) status: String,
    pub(crate) engine: String,
    pub(crate) engine_version: Option<String>,
    pub(crate) instance_class: String,
    pub(crate) allocated_storage: i32,
    pub(crate) max_allocated_storage: Option<i32>,
    pub(crate) storage_type: Option<String>,
    pub(crate) storage_encrypted: bool,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) db_name: Option<String>,
    pub(crate) username: String,
    pub(crate) multi_az: bool,
    pub(crate) publicly_accessible: bool,
    pub(crate) vpc_security_group_ids: Vec<String>,
    pub(crate) db_subnet_group: Option<String>,
    /// The DB parameter group the instance uses (the new one while a
    /// change of group is applying).
    pub(crate) parameter_group: Option<String>,
    pub(crate) backup_retention_period: i32,
    pub(crate) backup_window: Option<String>,
    pub(crate) maintenance_window: Option<String>,
    pub(crate) deletion_protection: bool,
    pub(crate) cloudwatch_logs_exports: Vec<String>,
    pub(crate) tags: Tags,
    pub(crate) address: Option<String>,
    pub(crate) port: Option<i32>,
    pub(crate) arn: Option<String>,
    pub(crate) resource_id: Option<String>,
    /// Names of the settings still waiting to be applied.
    pub(crate) pending: Vec<&'static str>,
    /// AWS's explanations of an abnormal status.
    pub(crate) status_messages: Vec<String>,
}

/// The names of the fields a `PendingModifiedValues` holds.
fn pending_fields(p: &PendingModifiedValues) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut add = |set: bool, name: &'static str| {
        if set {
            out.push(name);
        }
    };
    add(p.db_instance_class().is_some(), "instance_class");
    add(p.allocated_storage().is_some(), "allocated_storage");
    add(p.master_user_password().is_some(), "password");
    add(p.port().is_some(), "port");
    add(
        p.backup_retention_period().is_some(),
        "backup_retention_period",
    );
    add(p.multi_az().is_some(), "multi_az");
    add(p.engine_version().is_some(), "engine_version");
    add(p.storage_type().is_some(), "storage_type");
    add(p.db_subnet_group_name().is_some(), "db_subnet_group");
    add(p.iops().is_some(), "iops");
    add(p.storage_throughput().is_some(), "storage_throughput");
    add(p.db_instance_identifier().is_some(), "identifier");
    add(
        p.ca_certificate_identifier().is_some(),
        "ca_certificate_identifier",
    );
    add(
        p.pending_cloudwatch_logs_exports().is_some(),
        "cloudwatch_logs_exports",
    );
    add(p.engine().is_some(), "engine");
    out
}

impl Live {
    pub(crate) fn from_sdk(db: &DbInstance) -> Live {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        let pending = db.pending_modified_values();
        let p = |f: fn(&PendingModifiedValues) -> Option<&str>| pending.and_then(f);
        let pi = |f: fn(&PendingModifiedValues) -> Option<i32>| pending.and_then(f);
        Live {
            identifier: db.db_instance_identifier().unwrap_or_default().to_owned(),
            status: db.db_instance_status().unwrap_or_default().to_owned(),
            engine: db.engine().unwrap_or_default().to_owned(),
            engine_version: owned(p(PendingModifiedValues::engine_version).or(db.engine_version())),
            instance_class: p(PendingModifiedValues::db_instance_class)
                .or(db.db_instance_class())
                .unwrap_or_default()
                .to_owned(),
            allocated_storage: pi(PendingModifiedValues::allocated_storage)
                .or(db.allocated_storage())
                .unwrap_or_default(),
            max_allocated_storage: db.max_allocated_storage(),
            storage_type: owned(p(PendingModifiedValues::storage_type).or(db.storage_type())),
            storage_encrypted: db.storage_encrypted().unwrap_or(false),
            kms_key_id: owned(db.kms_key_id()),
            db_name: owned(db.db_name()),
            username: db.master_username().unwrap_or_default().to_owned(),
            multi_az: pending
                .and_then(PendingModifiedValues::multi_az)
                .or(db.multi_az())
                .unwrap_or(false),
            publicly_accessible: db.publicly_accessible().unwrap_or(false),
            // A group on its way out is no longer wanted.
            vpc_security_group_ids: db
                .vpc_security_groups()
                .iter()
                .filter(|g| g.status() != Some("removing"))
                .filter_map(|g| owned(g.vpc_security_group_id()))
                .collect(),
            db_subnet_group: owned(
                p(PendingModifiedValues::db_subnet_group_name)
                    .or(db.db_subnet_group().and_then(|g| g.db_subnet_group_name())),
            ),
            parameter_group: owned(
                db.db_parameter_groups()
                    .first()
                    .and_then(|g| g.db_parameter_group_name()),
            ),
            backup_retention_period: pi(PendingModifiedValues::backup_retention_period)
                .or(db.backup_retention_period())
                .unwrap_or_default(),
            backup_window: owned(db.preferred_backup_window()),
            maintenance_window: owned(db.preferred_maintenance_window()),
            deletion_protection: db.deletion_protection().unwrap_or(false),
            cloudwatch_logs_exports: db.enabled_cloudwatch_logs_exports().to_vec(),
            tags: tags::from_sdk(db.tag_list()),
            address: owned(db.endpoint().and_then(|e| e.address())),
            port: db
                .endpoint()
                .and_then(|e| e.port())
                .or(db.db_instance_port().filter(|p| *p != 0)),
            arn: owned(db.db_instance_arn()),
            resource_id: owned(db.dbi_resource_id()),
            pending: pending.map(pending_fields).unwrap_or_default(),
            status_messages: db
                .status_infos()
                .iter()
                .filter_map(|s| owned(s.message()))
                .collect(),
        }
    }

    /// Storage autoscaling's limit, `None` when autoscaling is off (AWS
    /// reports no limit, or one equal to the allocated storage).
    fn autoscaling_limit(&self) -> Option<i32> {
        self.max_allocated_storage
            .filter(|m| *m > self.allocated_storage)
    }

    /// The observed inputs and outputs. `reference` holds the inputs as
    /// given or last applied: it supplies what AWS cannot return (the
    /// password, client-side flags), and its spelling where AWS only
    /// normalised a value (case, list order). Optional attributes that AWS
    /// fills in when unset (engine version, windows, security groups, KMS
    /// key, subnet group, parameter group) are reported only when the
    /// reference sets them, so leaving them unset is not drift.
    pub(crate) fn observe(&self, reference: &Value) -> Observed {
        let r_str = |k: &str| reference.get(k).and_then(Value::as_str);
        let r_int = |k: &str| reference.get(k).and_then(Value::as_int);
        let mut inputs = BTreeMap::new();
        let mut put = |k: &str, v: Value| {
            inputs.insert(k.to_owned(), v);
        };
        put(
            "identifier",
            keep_case(&self.identifier, r_str("identifier")).into(),
        );
        put("engine", self.engine.clone().into());
        if let (Some(wanted), Some(actual)) = (r_str("engine_version"), &self.engine_version) {
            let v = if version_matches(wanted, actual) {
                wanted.to_owned()
            } else {
                actual.clone()
            };
            put("engine_version", v.into());
        }
        put("instance_class", self.instance_class.clone().into());
        // Storage autoscaling grows storage past what was asked: not drift.
        let given_allocated = r_int("allocated_storage");
        let allocated = match (given_allocated, self.autoscaling_limit()) {
            (Some(given), Some(limit))
                if i64::from(self.allocated_storage) > given
                    && i64::from(self.allocated_storage) <= i64::from(limit) =>
            {
                given
            }
            _ => i64::from(self.allocated_storage),
        };
        put("allocated_storage", Value::Int(allocated));
        match (self.autoscaling_limit(), r_int("max_allocated_storage")) {
            (Some(limit), _) => put("max_allocated_storage", Value::Int(limit.into())),
            // Off, asked for as "limit = allocated": the same thing.
            (None, Some(given)) if given == allocated => put("max_allocated_storage", given.into()),
            (None, _) => {}
        }
        if let Some(t) = &self.storage_type {
            put("storage_type", t.clone().into());
        }
        put("storage_encrypted", self.storage_encrypted.into());
        if let (Some(wanted), Some(actual)) = (r_str("kms_key_id"), &self.kms_key_id) {
            // AWS reports the key's ARN whatever form was given; an alias
            // cannot be resolved without KMS, so only a different key id is drift.
            let same = actual == wanted
                || actual.ends_with(&format!("/{wanted}"))
                || wanted.starts_with("alias/")
                || wanted.starts_with("arn:") && wanted.contains(":alias/");
            put(
                "kms_key_id",
                if same {
                    wanted.to_owned()
                } else {
                    actual.clone()
                }
                .into(),
            );
        }
        if let Some(n) = &self.db_name {
            put("db_name", n.clone().into());
        }
        put(
            "username",
            keep_case(&self.username, r_str("username")).into(),
        );
        put("multi_az", self.multi_az.into());
        put("publicly_accessible", self.publicly_accessible.into());
        if let Some(Value::List(given)) = reference.get("vpc_security_group_ids") {
            let given: Vec<String> = given
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            put(
                "vpc_security_group_ids",
                string_list(&same_order(
                    self.vpc_security_group_ids.clone(),
                    Some(&given),
                )),
            );
        }
        if let (Some(given), Some(actual)) = (r_str("db_subnet_group"), &self.db_subnet_group) {
            put("db_subnet_group", keep_case(actual, Some(given)).into());
        }
        if let (Some(given), Some(actual)) = (r_str("parameter_group_name"), &self.parameter_group)
        {
            put(
                "parameter_group_name",
                keep_case(actual, Some(given)).into(),
            );
        }
        put(
            "backup_retention_period",
            Value::Int(self.backup_retention_period.into()),
        );
        if let (Some(given), Some(actual)) = (r_str("backup_window"), &self.backup_window) {
            put("backup_window", keep_case(actual, Some(given)).into());
        }
        if let (Some(given), Some(actual)) = (r_str("maintenance_window"), &self.maintenance_window)
        {
            put("maintenance_window", keep_case(actual, Some(given)).into());
        }
        put("deletion_protection", self.deletion_protection.into());
        let exports = string_list(&self.cloudwatch_logs_exports);
        put("enabled_cloudwatch_logs_exports", exports);
        put("tags", string_map(&self.tags));
        // AWS never returns these: the password, and the client-side flags.
        for key in [
            "password",
            "skip_final_snapshot",
            "final_snapshot_identifier",
            "apply_immediately",
        ] {
            if let Some(v) = reference.get(key) {
                put(key, v.clone());
            }
        }
        let opt_str = |s: &Option<String>| s.clone().map_or(Value::Null, Value::String);
        let endpoint = match (&self.address, self.port) {
            (Some(a), Some(p)) => Value::String(format!("{a}:{p}")),
            _ => Value::Null,
        };
        let outputs: Value = [
            ("id", Value::from(self.identifier.clone())),
            ("address", opt_str(&self.address)),
            (
                "port",
                self.port.map_or(Value::Null, |p| Value::Int(p.into())),
            ),
            ("endpoint", endpoint),
            ("arn", opt_str(&self.arn)),
            ("resource_id", opt_str(&self.resource_id)),
            ("status", Value::from(self.status.clone())),
        ]
        .into_iter()
        .collect();
        Observed {
            id: self.identifier.clone(),
            inputs: Value::Map(inputs),
            outputs,
        }
    }
}

/// The `ModifyDBInstance` fields that bring an instance to a spec: only
/// what differs from the instance plus its pending changes.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Modify {
    pub(crate) instance_class: Option<String>,
    pub(crate) allocated_storage: Option<i32>,
    pub(crate) max_allocated_storage: Option<i32>,
    pub(crate) storage_type: Option<String>,
    pub(crate) engine_version: Option<String>,
    pub(crate) allow_major_version_upgrade: bool,
    pub(crate) multi_az: Option<bool>,
    pub(crate) publicly_accessible: Option<bool>,
    pub(crate) vpc_security_group_ids: Option<Vec<String>>,
    pub(crate) db_subnet_group: Option<String>,
    pub(crate) parameter_group_name: Option<String>,
    pub(crate) backup_retention_period: Option<i32>,
    pub(crate) backup_window: Option<String>,
    pub(crate) maintenance_window: Option<String>,
    /// Always sent with a modification (as Terraform does); this says
    /// whether it changes.
    pub(crate) deletion_protection_changes: bool,
    /// Log types to start and to stop publishing.
    pub(crate) cloudwatch_logs: Option<(Vec<String>, Vec<String>)>,
    pub(crate) password: bool,
}

impl Modify {
    /// The attributes that change, for progress and errors.
    pub(crate) fn changed(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut add = |set: bool, name: &'static str| {
            if set {
                out.push(name);
            }
        };
        add(self.instance_class.is_some(), "instance_class");
        add(self.allocated_storage.is_some(), "allocated_storage");
        add(
            self.max_allocated_storage.is_some(),
            "max_allocated_storage",
        );
        add(self.storage_type.is_some(), "storage_type");
        add(self.engine_version.is_some(), "engine_version");
        add(self.multi_az.is_some(), "multi_az");
        add(self.publicly_accessible.is_some(), "publicly_accessible");
        add(
            self.vpc_security_group_ids.is_some(),
            "vpc_security_group_ids",
        );
        add(self.db_subnet_group.is_some(), "db_subnet_group");
        add(self.parameter_group_name.is_some(), "parameter_group_name");
        add(
            self.backup_retention_period.is_some(),
            "backup_retention_period",
        );
        add(self.backup_window.is_some(), "backup_window");
        add(self.maintenance_window.is_some(), "maintenance_window");
        add(self.deletion_protection_changes, "deletion_protection");
        add(
            self.cloudwatch_logs.is_some(),
            "enabled_cloudwatch_logs_exports",
        );
        add(self.password, "password");
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.changed().is_empty()
    }
}

/// What to send to bring `live` to `spec`. `password_changed` comes from
/// state (AWS never returns the password). Shrinking storage is refused:
/// RDS storage only grows.
pub(crate) fn plan_modify(
    what: &str,
    spec: &Spec,
    live: &Live,
    password_changed: bool,
) -> Result<Modify, ProviderError> {
    let mut m = Modify::default();
    let differs = |want: &str, have: &Option<String>| have.as_deref() != Some(want);
    if spec.instance_class != live.instance_class {
        m.instance_class = Some(spec.instance_class.clone());
    }
    let autoscaling = spec
        .max_allocated_storage
        .is_some_and(|m| m > spec.allocated_storage);
    if spec.allocated_storage > live.allocated_storage {
        m.allocated_storage = Some(spec.allocated_storage);
    } else if spec.allocated_storage < live.allocated_storage && !autoscaling {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "{what}: allocated_storage cannot shrink from {} to {} GiB (RDS storage only grows); keep {} or replace the instance",
                live.allocated_storage, spec.allocated_storage, live.allocated_storage
            ),
        ));
    }
    let want_limit = spec
        .max_allocated_storage
        .filter(|m| *m > spec.allocated_storage);
    if want_limit != live.autoscaling_limit() {
        // Autoscaling is turned off by setting the limit to the storage.
        m.max_allocated_storage = Some(want_limit.unwrap_or(spec.allocated_storage));
    }
    if differs(&spec.storage_type, &live.storage_type) {
        m.storage_type = Some(spec.storage_type.clone());
    }
    if let Some(want) = &spec.engine_version {
        let matches = live
            .engine_version
            .as_deref()
            .is_some_and(|have| version_matches(want, have));
        if !matches {
            m.engine_version = Some(want.clone());
            m.allow_major_version_upgrade = live
                .engine_version
                .as_deref()
                .is_none_or(|have| major_version(have) != major_version(want));
        }
    }
    if spec.multi_az != live.multi_az {
        m.multi_az = Some(spec.multi_az);
    }
    if spec.publicly_accessible != live.publicly_accessible {
        m.publicly_accessible = Some(spec.publicly_accessible);
    }
    if let Some(want) = &spec.vpc_security_group_ids
        && !same_set(want, &live.vpc_security_group_ids)
    {
        m.vpc_security_group_ids = Some(want.clone());
    }
    if let Some(want) = &spec.db_subnet_group
        && !live
            .db_subnet_group
            .as_deref()
            .is_some_and(|have| have.eq_ignore_ascii_case(want))
    {
        m.db_subnet_group = Some(want.clone());
    }
    if let Some(want) = &spec.parameter_group_name
        && !live
            .parameter_group
            .as_deref()
            .is_some_and(|have| have.eq_ignore_ascii_case(want))
    {
        m.parameter_group_name = Some(want.clone());
    }
    if spec.backup_retention_period != live.backup_retention_period {
        m.backup_retention_period = Some(spec.backup_retention_period);
    }
    let window_differs = |want: &Option<String>, have: &Option<String>| match want {
        Some(w) => !have.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(w)),
        None => false,
    };
    if window_differs(&spec.backup_window, &live.backup_window) {
        m.backup_window = spec.backup_window.clone();
    }
    if window_differs(&spec.maintenance_window, &live.maintenance_window) {
        m.maintenance_window = spec.maintenance_window.clone();
    }
    m.deletion_protection_changes = spec.deletion_protection != live.deletion_protection;
    let (want, have) = (&spec.cloudwatch_logs_exports, &live.cloudwatch_logs_exports);
    let enable: Vec<String> = want.iter().filter(|l| !have.contains(l)).cloned().collect();
    let disable: Vec<String> = have.iter().filter(|l| !want.contains(l)).cloned().collect();
    if !enable.is_empty() || !disable.is_empty() {
        m.cloudwatch_logs = Some((enable, disable));
    }
    m.password = password_changed;
    Ok(m)
}

/// Where a DB instance is on its way to `available`.
#[derive(Debug, PartialEq)]
pub(crate) enum Health {
    Ready,
    Waiting,
    Failed,
}

/// Statuses that end a wait for `available` with success (reference §2.1).
const READY: [&str; 2] = ["available", "storage-optimization"];

/// Classifies a status on the way to `available`: the reference's pending
/// set and anything new keep waiting; these cannot become available by
/// themselves.
pub(crate) fn health(status: &str) -> Health {
    if READY.contains(&status) {
        Health::Ready
    } else if status == "failed"
        || status == "stopped"
        || status == "deleting"
        || status == "deleted"
        || status == "restore-error"
        || status == "insufficient-capacity"
        || status.starts_with("incompatible-")
        || status.starts_with("inaccessible-encryption-credentials")
    {
        Health::Failed
    } else {
        Health::Waiting
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_rds::types::{
        DbParameterGroupStatus, DbSubnetGroup, Endpoint, Tag, VpcSecurityGroupMembership,
    };
    use infra_core::Secret;

    use super::*;
    use crate::instance::spec::parsed;

    fn inputs() -> Value {
        [
            ("identifier", Value::from("Dev-DB")),
            ("engine", Value::from("postgres")),
            ("engine_version", Value::from("16")),
            ("instance_class", Value::from("db.t4g.micro")),
            ("allocated_storage", Value::Int(20)),
            ("storage_type", Value::from("gp3")),
            ("storage_encrypted", Value::Bool(true)),
            ("username", Value::from("airflow")),
            (
                "password",
                Value::Sensitive(Secret::new("digest", "secret-pass".into())),
            ),
            ("multi_az", Value::Bool(false)),
            ("publicly_accessible", Value::Bool(false)),
            (
                "vpc_security_group_ids",
                Value::List(vec!["sg-2".into(), "sg-1".into()]),
            ),
            ("db_subnet_group", Value::from("Airflow-Subnets")),
            ("backup_retention_period", Value::Int(7)),
            ("enabled_cloudwatch_logs_exports", Value::List(Vec::new())),
            ("maintenance_window", Value::from("Sun:05:00-Sun:06:00")),
            ("deletion_protection", Value::Bool(false)),
            ("skip_final_snapshot", Value::Bool(true)),
            ("apply_immediately", Value::Bool(false)),
            (
                "tags",
                [("team", Value::from("data"))].into_iter().collect(),
            ),
        ]
        .into_iter()
        .collect()
    }

    fn db() -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier("dev-db")
            .db_instance_status("available")
            .engine("postgres")
            .engine_version("16.4")
            .db_instance_class("db.t4g.micro")
            .allocated_storage(20)
            .max_allocated_storage(20)
            .storage_type("gp3")
            .storage_encrypted(true)
            .kms_key_id("arn:aws:kms:us-east-1:1:key/abc")
            .master_username("airflow")
            .multi_az(false)
            .publicly_accessible(false)
            .vpc_security_groups(
                VpcSecurityGroupMembership::builder()
                    .vpc_security_group_id("sg-1")
                    .status("active")
                    .build(),
            )
            .vpc_security_groups(
                VpcSecurityGroupMembership::builder()
                    .vpc_security_group_id("sg-2")
                    .status("active")
                    .build(),
            )
            .db_subnet_group(
                DbSubnetGroup::builder()
                    .db_subnet_group_name("airflow-subnets")
                    .build(),
            )
            // What AWS picks when the stack names no group.
            .db_parameter_groups(
                DbParameterGroupStatus::builder()
                    .db_parameter_group_name("default.postgres16")
                    .parameter_apply_status("in-sync")
                    .build(),
            )
            .backup_retention_period(7)
            .preferred_backup_window("03:00-03:30")
            .preferred_maintenance_window("sun:05:00-sun:06:00")
            .deletion_protection(false)
            .tag_list(Tag::builder().key("team").value("data").build())
            .endpoint(
                Endpoint::builder()
                    .address("dev-db.x.rds.amazonaws.com")
                    .port(5432)
                    .build(),
            )
            .db_instance_arn("arn:aws:rds:us-east-1:1:db:dev-db")
            .dbi_resource_id("db-ABC")
            .build()
    }

    #[test]
    fn observed_inputs_equal_what_was_applied() {
        let given = inputs();
        let observed = Live::from_sdk(&db()).observe(&given);
        assert_eq!(observed.inputs, given);
        assert_eq!(observed.id, "dev-db");
        assert_eq!(
            observed.outputs.get("endpoint").and_then(Value::as_str),
            Some("dev-db.x.rds.amazonaws.com:5432")
        );
        assert_eq!(
            observed.outputs.get("resource_id").and_then(Value::as_str),
            Some("db-ABC")
        );
    }

    #[test]
    fn drift_is_reported() {
        let mut changed = db();
        changed.db_instance_class = Some("db.t4g.large".into());
        changed.engine_version = Some("17.1".into());
        changed.tag_list = None;
        let observed = Live::from_sdk(&changed).observe(&inputs());
        assert_eq!(
            observed
                .inputs
                .get("instance_class")
                .and_then(Value::as_str),
            Some("db.t4g.large")
        );
        assert_eq!(
            observed
                .inputs
                .get("engine_version")
                .and_then(Value::as_str),
            Some("17.1")
        );
        assert_eq!(observed.inputs.get("tags"), Some(&Value::map()));
    }

    #[test]
    fn nothing_to_modify_when_in_sync() {
        let spec = parsed(&inputs());
        let m = plan_modify("x", &spec, &Live::from_sdk(&db()), false).expect("plan");
        assert!(m.is_empty(), "{m:?}");
    }

    #[test]
    fn only_changed_attributes_are_sent() {
        let mut given = inputs();
        if let Value::Map(m) = &mut given {
            m.insert("instance_class".into(), "db.r6g.large".into());
            m.insert("backup_retention_period".into(), Value::Int(14));
            m.insert("engine_version".into(), "17.2".into());
            m.insert("max_allocated_storage".into(), Value::Int(100));
        }
        let spec = parsed(&given);
        let m = plan_modify("x", &spec, &Live::from_sdk(&db()), true).expect("plan");
        assert_eq!(
            m.changed(),
            [
                "instance_class",
                "max_allocated_storage",
                "engine_version",
                "backup_retention_period",
                "password"
            ]
        );
        assert!(m.allow_major_version_upgrade);
        assert_eq!(m.max_allocated_storage, Some(100));
    }

    #[test]
    fn pending_changes_are_not_issued_again() {
        let mut pending = db();
        pending.pending_modified_values = Some(
            PendingModifiedValues::builder()
                .db_instance_class("db.r6g.large")
                .build(),
        );
        let live = Live::from_sdk(&pending);
        assert_eq!(live.pending, ["instance_class"]);
        let mut given = inputs();
        if let Value::Map(m) = &mut given {
            m.insert("instance_class".into(), "db.r6g.large".into());
        }
        let spec = parsed(&given);
        assert!(
            plan_modify("x", &spec, &live, false)
                .expect("plan")
                .is_empty()
        );
        // And a read shows the scheduled value, so the plan stays empty.
        assert_eq!(live.observe(&given).inputs, given);
    }

    #[test]
    fn storage_never_shrinks_but_autoscaled_growth_is_not_drift() {
        let mut grown = db();
        grown.allocated_storage = Some(40);
        grown.max_allocated_storage = Some(100);
        let live = Live::from_sdk(&grown);
        let spec = parsed(&inputs());
        let err = plan_modify("`rds_instance.db`", &spec, &live, false).unwrap_err();
        assert!(err.message.contains("cannot shrink"), "{}", err.message);
        let mut given = inputs();
        if let Value::Map(m) = &mut given {
            m.insert("max_allocated_storage".into(), Value::Int(100));
        }
        let spec = parsed(&given);
        assert!(
            plan_modify("x", &spec, &live, false)
                .expect("plan")
                .is_empty()
        );
        assert_eq!(live.observe(&given).inputs, given);
    }

    #[test]
    fn autoscaled_growth_within_the_limit_only_is_not_drift() {
        let mut given = inputs();
        if let Value::Map(m) = &mut given {
            m.insert("max_allocated_storage".into(), Value::Int(100));
        }
        let grown = |gib: i32| {
            let mut d = db();
            d.allocated_storage = Some(gib);
            d.max_allocated_storage = Some(100);
            Live::from_sdk(&d).observe(&given)
        };
        // Autoscaling grew it to 60 GiB: reported as given.
        assert_eq!(
            grown(60).inputs.get("allocated_storage"),
            Some(&Value::Int(20))
        );
        assert_eq!(grown(60).inputs, given);
        // Past the limit is not autoscaling's doing: drift.
        assert_eq!(
            grown(120).inputs.get("allocated_storage"),
            Some(&Value::Int(120))
        );
        // Without autoscaling, any growth is drift.
        let mut d = db();
        d.allocated_storage = Some(40);
        let observed = Live::from_sdk(&d).observe(&inputs());
        assert_eq!(
            observed.inputs.get("allocated_storage"),
            Some(&Value::Int(40))
        );
    }

    #[test]
    fn the_parameter_group_is_read_when_set_and_changed_in_place() {
        // Unset: AWS's default group is not reported, so not drift.
        let live = Live::from_sdk(&db());
        assert_eq!(live.parameter_group.as_deref(), Some("default.postgres16"));
        assert_eq!(
            live.observe(&inputs()).inputs.get("parameter_group_name"),
            None
        );
        assert!(
            plan_modify("x", &parsed(&inputs()), &live, false)
                .expect("plan")
                .is_empty()
        );
        // Set: read back in the stack's spelling; a change is one field.
        let mut given = inputs();
        if let Value::Map(m) = &mut given {
            m.insert("parameter_group_name".into(), "Airflow-PG".into());
        }
        let mut with_group = db();
        with_group.db_parameter_groups = Some(vec![
            DbParameterGroupStatus::builder()
                .db_parameter_group_name("airflow-pg")
                .parameter_apply_status("pending-reboot")
                .build(),
        ]);
        let live = Live::from_sdk(&with_group);
        assert_eq!(live.observe(&given).inputs, given);
        assert!(
            plan_modify("x", &parsed(&given), &live, false)
                .expect("plan")
                .is_empty()
        );
        let m = plan_modify("x", &parsed(&given), &Live::from_sdk(&db()), false).expect("plan");
        assert_eq!(m.changed(), ["parameter_group_name"]);
        assert_eq!(m.parameter_group_name.as_deref(), Some("Airflow-PG"));
        // Drift to another group is reported as AWS has it.
        let observed = Live::from_sdk(&db()).observe(&given);
        assert_eq!(
            observed
                .inputs
                .get("parameter_group_name")
                .and_then(Value::as_str),
            Some("default.postgres16")
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(health("available"), Health::Ready);
        assert_eq!(health("storage-optimization"), Health::Ready);
        assert_eq!(health("creating"), Health::Waiting);
        assert_eq!(health("modifying"), Health::Waiting);
        assert_eq!(health("some-new-status"), Health::Waiting);
        assert_eq!(health("failed"), Health::Failed);
        assert_eq!(health("incompatible-parameters"), Health::Failed);
        assert_eq!(
            health("inaccessible-encryption-credentials-recoverable"),
            Health::Failed
        );
    }
}
