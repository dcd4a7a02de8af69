//! [`RdsInstance`]: the `rds_instance` type, an RDS PostgreSQL DB instance.

mod live;
mod spec;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::operation::delete_db_instance::DeleteDBInstanceError;
use aws_sdk_rds::types::{CloudwatchLogsExportConfiguration, DbInstance};
use infra_aws::{AwsOp, Poll, error_code, found, poll_until};
use infra_core::{
    ErrorKind, Existing, Fields, Observed, OpContext, OpKind, ProviderError, Request, Resource,
    Schema, UpdateRequest, Value,
};

use crate::tags;
use live::{Health, Live, health, plan_modify};

pub use spec::{Spec, TYPE_NAME};

infra_aws::resource_type! {
    /// The `rds_instance` type (Terraform's `aws_db_instance`, for
    /// PostgreSQL); register it as `infra_aws::typed(RdsInstance::new(aws))`.
    /// R = a change replaces the instance; client-side attributes change no
    /// API call.
    ///
    /// | attribute | type | change | default |
    /// | --- | --- | --- | --- |
    /// | `identifier` | string, required | R | |
    /// | `engine` | string | R | `"postgres"` |
    /// | `engine_version` | string | in place (major upgrades allowed) | AWS's |
    /// | `instance_class` | string, required | in place | |
    /// | `allocated_storage` | int, required | in place (grow only) | |
    /// | `max_allocated_storage` | int | in place | off |
    /// | `storage_type` | string | in place | `"gp3"` |
    /// | `storage_encrypted` | bool | R | `true` |
    /// | `kms_key_id` | string | R | AWS's key |
    /// | `db_name` | string | R | |
    /// | `username` | string, required | R | |
    /// | `password` | string, required, sensitive | in place | |
    /// | `multi_az` | bool | in place | `false` |
    /// | `publicly_accessible` | bool | in place | `false` |
    /// | `vpc_security_group_ids` | set of string | in place | VPC default |
    /// | `db_subnet_group` | string | in place | |
    /// | `parameter_group_name` | string, computed | in place (static parameters at the next reboot) | `default.<family>` |
    /// | `backup_retention_period` | int 0–35 | in place | `7` |
    /// | `backup_window`, `maintenance_window` | string | in place | AWS's |
    /// | `deletion_protection` | bool | in place | `false` |
    /// | `skip_final_snapshot` | bool | client-side | `false` |
    /// | `final_snapshot_identifier` | string | client-side | |
    /// | `apply_immediately` | bool | client-side | `false` |
    /// | `tags` | table of string | in place | `{}` |
    ///
    /// Outputs: `address`, `port`, `endpoint` (`host:port`), `arn`,
    /// `resource_id`, `status`. The cloud id is the identifier, lowercase.
    pub struct RdsInstance(Client, "DB instance");
}

/// The instance `id`, or `None` when there is none.
async fn describe(op: &AwsOp<Client>, id: &str) -> Result<Option<DbInstance>, ProviderError> {
    let request = op.client.describe_db_instances().db_instance_identifier(id);
    let out = request.send().await.map_err(|e| op.failed("reading", &e));
    Ok(found(out)?.and_then(|o| o.db_instances().first().cloned()))
}

/// Waits until the instance is `available` (and, when `settled`, has no
/// pending modifications left), failing on statuses it cannot leave alone.
async fn wait_available(
    op: &AwsOp<Client>,
    ctx: &OpContext,
    id: &str,
    settled: bool,
) -> Result<Live, ProviderError> {
    let what = &op.what;
    poll_until(
        ctx,
        &format!("waiting for {what} to be available"),
        || async {
            let Some(db) = describe(op, id).await? else {
                return Err(ProviderError::new(
                    ErrorKind::NotFound,
                    format!("{what} disappeared while waiting for it to be available"),
                ));
            };
            let live = Live::from_sdk(&db);
            match health(&live.status) {
                Health::Ready if settled && !live.pending.is_empty() => Ok(Poll::Pending(format!(
                    "pending modifications: {}",
                    live.pending.join(", ")
                ))),
                Health::Ready => Ok(Poll::Ready(live)),
                Health::Waiting => Ok(Poll::Pending(format!("status {}", live.status))),
                Health::Failed => {
                    let mut message = format!("{what} is `{}`", live.status);
                    if !live.status_messages.is_empty() {
                        message.push_str(": ");
                        message.push_str(&live.status_messages.join("; "));
                    }
                    message.push_str(
                        "; it will not become available by itself: see the RDS console or events",
                    );
                    Err(ProviderError::new(ErrorKind::Failed, message))
                }
            }
        },
    )
    .await
}

/// Waits until DescribeDBInstances no longer finds the instance.
async fn wait_gone(op: &AwsOp<Client>, ctx: &OpContext, id: &str) -> Result<(), ProviderError> {
    poll_until(
        ctx,
        &format!("waiting for {} to be deleted", op.what),
        || async {
            Ok(match describe(op, id).await? {
                None => Poll::Ready(()),
                Some(db) => Poll::Pending(format!(
                    "status {}",
                    db.db_instance_status().unwrap_or("unknown")
                )),
            })
        },
    )
    .await
}

/// The final snapshot's name: the stack's, with this destroy's own suffix
/// (from its journal token). A retried or recovered delete names the same
/// snapshot; a later destroy of a re-created instance names another, so it
/// never collides with the first one's.
fn final_snapshot_name(base: &str, token: &str) -> String {
    let suffix: String = token
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    // Identifiers are ASCII (checked at plan time) and at most 255 long.
    let base = base.get(..base.len().min(255 - 9)).unwrap_or(base);
    let base = base.trim_end_matches('-');
    if suffix.is_empty() {
        return base.to_owned();
    }
    format!("{base}-{suffix}")
}

fn protected(ctx: &OpContext) -> ProviderError {
    ProviderError::new(
        ErrorKind::Invalid,
        format!(
            "`{}` has deletion_protection = true: set it to false and apply, then destroy",
            ctx.address
        ),
    )
}

async fn create_instance(
    op: &AwsOp<Client>,
    ctx: &OpContext,
    spec: &Spec,
) -> Result<(), ProviderError> {
    let password = spec.reveal_password(ctx)?;
    let request = op
        .client
        .create_db_instance()
        .db_instance_identifier(&spec.identifier)
        .engine(&spec.engine)
        .set_engine_version(spec.engine_version.clone())
        .db_instance_class(&spec.instance_class)
        .allocated_storage(spec.allocated_storage)
        .set_max_allocated_storage(spec.max_allocated_storage)
        .storage_type(&spec.storage_type)
        .storage_encrypted(spec.storage_encrypted)
        .set_kms_key_id(spec.kms_key_id.clone())
        .set_db_name(spec.db_name.clone())
        .master_username(&spec.username)
        .master_user_password(&password)
        .multi_az(spec.multi_az)
        .publicly_accessible(spec.publicly_accessible)
        .set_vpc_security_group_ids(spec.vpc_security_group_ids.clone())
        .set_db_subnet_group_name(spec.db_subnet_group.clone())
        .set_db_parameter_group_name(spec.parameter_group_name.clone())
        .backup_retention_period(spec.backup_retention_period)
        .set_preferred_backup_window(spec.backup_window.clone())
        .set_preferred_maintenance_window(spec.maintenance_window.clone())
        .deletion_protection(spec.deletion_protection)
        .set_enable_cloudwatch_logs_exports(
            (!spec.cloudwatch_logs_exports.is_empty())
                .then(|| spec.cloudwatch_logs_exports.clone()),
        )
        .set_tags(Some(tags::to_sdk(&spec.tags)));
    match request.send().await {
        Ok(_) => Ok(()),
        // Made by an earlier attempt of this create (the API has no
        // client token): adopt it (reference §3.4).
        Err(e) if error_code(&e) == Some("DBInstanceAlreadyExists") => Ok(()),
        Err(e) => Err(op.failed("creating", &e)),
    }
}

/// What a refused DeleteDBInstance means: `Ok` when the instance is gone,
/// or going anyway.
fn refused_delete(
    ctx: &OpContext,
    op: &AwsOp<Client>,
    e: &SdkError<DeleteDBInstanceError, HttpResponse>,
) -> Result<(), ProviderError> {
    let message = e
        .as_service_error()
        .and_then(ProvideErrorMetadata::message)
        .unwrap_or_default();
    match error_code(e) {
        Some("DBInstanceNotFound" | "DBInstanceNotFoundFault") => Ok(()),
        Some("InvalidDBInstanceState" | "InvalidDBInstanceStateFault")
            if message.contains("already being deleted") =>
        {
            Ok(())
        }
        Some("InvalidParameterCombination")
            if message.to_ascii_lowercase().contains("deletion protection") =>
        {
            Err(protected(ctx))
        }
        Some("DBSnapshotAlreadyExists" | "DBSnapshotAlreadyExistsFault") => {
            let hint = "choose another final_snapshot_identifier and apply, or delete that snapshot, then destroy";
            Err(op.failed("deleting", e).hint(hint))
        }
        _ => Err(op.failed("deleting", e)),
    }
}

#[async_trait]
impl Resource for RdsInstance {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        spec::schema()
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        spec::parse(f)
    }

    fn deletable(&self, existing: &Existing) -> Result<(), String> {
        // Refused at plan time, before a destroy deletes anything else; the
        // delete itself checks the live instance again, in case state is stale.
        match existing.inputs.get("deletion_protection") {
            Some(Value::Bool(true)) => Err(
                "it has deletion_protection = true: set it to false and apply, then destroy".into(),
            ),
            _ => Ok(()),
        }
    }

    fn default_timeout(&self, op: OpKind) -> Duration {
        // Terraform's aws_db_instance: 40m / 80m / 60m.
        Duration::from_secs(60)
            * match op {
                OpKind::Create => 40,
                OpKind::Update => 80,
                OpKind::Delete => 60,
                OpKind::Read => 5,
            }
    }

    fn estimate(&self, op: OpKind, _inputs: &Value) -> Duration {
        // No authoritative figure exists (reference §2.3): 5–20 minutes.
        Duration::from_secs(60)
            * match op {
                OpKind::Create => 12,
                OpKind::Update => 8,
                OpKind::Delete => 8,
                OpKind::Read => 0,
            }
            + Duration::from_secs(1)
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let id = spec.id();
        let op = self.op(ctx, &id).await?;
        match describe(&op, &id).await? {
            Some(db) if db.db_instance_status() == Some("deleting") => {
                // The name frees up once the old instance is gone.
                wait_gone(&op, ctx, &id).await?;
                create_instance(&op, ctx, spec).await?;
            }
            // An instance with this identifier is what an interrupted
            // create made: adopt it; the next plan shows any difference.
            Some(_) => ctx.progress("adopting the existing DB instance"),
            None => create_instance(&op, ctx, spec).await?,
        }
        let live = wait_available(&op, ctx, &id, false).await?;
        Ok(live.observe(inputs))
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let op = self.op(ctx, &existing.id).await?;
        Ok(describe(&op, &existing.id)
            .await?
            .map(|db| Live::from_sdk(&db).observe(&existing.inputs)))
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let (ctx, spec, inputs) = op.parts();
        let id = spec.id();
        let op = self.op(ctx, &id).await?;
        Ok(describe(&op, &id)
            .await?
            .filter(|db| db.db_instance_status() != Some("deleting"))
            .map(|db| Live::from_sdk(&db).observe(inputs)))
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, spec, inputs) = op.parts();
        let id = existing.id.clone();
        let op = self.op(ctx, &id).await?;
        let db = describe(&op, &id)
            .await?
            .ok_or_else(|| op.gone("updating"))?;
        let live = Live::from_sdk(&db);
        // AWS never returns the password: state's digest says if it changed.
        let password_changed = existing.inputs.get("password") != inputs.get("password");
        let modify = plan_modify(&op.what, spec, &live, password_changed)?;
        if !modify.is_empty() {
            let password = match modify.password {
                true => Some(spec.reveal_password(ctx)?),
                false => None,
            };
            let changed = modify.changed().join(", ");
            let doing = format!("modifying {changed} of");
            ctx.progress(&format!("modifying {changed}"));
            let allow_major_version_upgrade = modify.allow_major_version_upgrade.then_some(true);
            // InvalidDBInstanceState ("not in the available state") is
            // classified transient, so the engine retries it.
            op.client
                .modify_db_instance()
                .db_instance_identifier(&id)
                .apply_immediately(spec.apply_immediately)
                .deletion_protection(spec.deletion_protection)
                .set_db_instance_class(modify.instance_class.clone())
                .set_allocated_storage(modify.allocated_storage)
                .set_max_allocated_storage(modify.max_allocated_storage)
                .set_storage_type(modify.storage_type.clone())
                .set_engine_version(modify.engine_version.clone())
                .set_allow_major_version_upgrade(allow_major_version_upgrade)
                .set_multi_az(modify.multi_az)
                .set_publicly_accessible(modify.publicly_accessible)
                .set_vpc_security_group_ids(modify.vpc_security_group_ids.clone())
                .set_db_subnet_group_name(modify.db_subnet_group.clone())
                .set_db_parameter_group_name(modify.parameter_group_name.clone())
                .set_backup_retention_period(modify.backup_retention_period)
                .set_preferred_backup_window(modify.backup_window.clone())
                .set_preferred_maintenance_window(modify.maintenance_window.clone())
                .set_master_user_password(password)
                .set_cloudwatch_logs_export_configuration(modify.cloudwatch_logs.clone().map(
                    |(enable, disable)| {
                        CloudwatchLogsExportConfiguration::builder()
                            .set_enable_log_types(Some(enable))
                            .set_disable_log_types(Some(disable))
                            .build()
                    },
                ))
                .send()
                .await
                .map_err(|e| op.failed(&doing, &e))?;
        }
        if let Some(arn) = &live.arn {
            tags::sync(&op, arn, &live.tags, &spec.tags).await?;
        }
        // With apply_immediately the changes must also have left
        // PendingModifiedValues: a freshly modified instance can still read
        // `available` before the change starts (reference §2.1).
        let settled = spec.apply_immediately && !modify.is_empty();
        let live = wait_available(&op, ctx, &id, settled).await?;
        Ok(live.observe(inputs))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let id = existing.id.clone();
        let op = self.op(ctx, &id).await?;
        let Some(db) = describe(&op, &id).await? else {
            return Ok(());
        };
        if db.db_instance_status() != Some("deleting") {
            // The live setting decides, so a stale state cannot delete a
            // protected database.
            if db.deletion_protection() == Some(true) {
                return Err(protected(ctx));
            }
            let skip = existing
                .inputs
                .get("skip_final_snapshot")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let snapshot = existing
                .inputs
                .get("final_snapshot_identifier")
                .and_then(Value::as_str)
                .filter(|_| !skip)
                .map(|base| final_snapshot_name(base, &ctx.token));
            if !skip && snapshot.is_none() {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "`{}` has skip_final_snapshot = false but no final_snapshot_identifier: set one (or skip_final_snapshot = true) and apply, then destroy",
                        ctx.address
                    ),
                ));
            }
            if let Some(name) = &snapshot {
                ctx.progress(&format!("taking final snapshot `{name}`"));
            }
            let request = op
                .client
                .delete_db_instance()
                .db_instance_identifier(&id)
                .skip_final_snapshot(skip)
                .set_final_db_snapshot_identifier(snapshot);
            if let Err(e) = request.send().await {
                refused_delete(ctx, &op, &e)?;
            }
        }
        wait_gone(&op, ctx, &id).await
    }
}

#[cfg(test)]
mod tests {
    use super::final_snapshot_name;

    #[test]
    fn final_snapshots_are_named_per_destroy() {
        let a = final_snapshot_name("airflow-final", "34cf3541d266e1b2");
        assert_eq!(a, "airflow-final-34cf3541");
        assert_eq!(
            final_snapshot_name("airflow-final", "34cf3541d266e1b2"),
            a,
            "a retry names the same"
        );
        assert_ne!(
            final_snapshot_name("airflow-final", "9f00aa11d266e1b2"),
            a,
            "another destroy another"
        );
        let long = format!("a{}", "b".repeat(254));
        let named = final_snapshot_name(&long, "34cf3541");
        assert_eq!(named.len(), 255);
        assert!(!named.contains("--"), "{named}");
        assert_eq!(final_snapshot_name("x-", "ab"), "x-ab");
    }
}
