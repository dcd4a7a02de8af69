//! [`SimResource`]: the `sim_resource` type, whose cloud is a sim dir;
//! [`SimProvider`] is it as the engine's provider.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use infra_core::{
    Attribute, ErrorKind, Existing, Fields, Observed, OpContext, OpKind, Output, Phase,
    ProviderError, Request, Resource, Schema, SettingsTable, Type, Typed, UpdateRequest, Value,
};
use tokio::sync::OnceCell;

use crate::cloud::{Cloud, CloudError, Created};
use crate::disk::{self, ResourceFile};
use crate::faults::{self, FaultSettings, Injected, Operation};

/// The resource type the provider implements.
pub const TYPE_NAME: &str = "sim_resource";

/// The sim dir, relative to the project root, when `[sim]` sets no `dir`.
pub const DEFAULT_DIR: &str = ".sim";

/// The settings table of the provider in a stack file.
const SECTION: &str = "sim";

const CREATE_MS: &str = "create_ms";
const UPDATE_MS: &str = "update_ms";
const DELETE_MS: &str = "delete_ms";
const READ_MS: &str = "read_ms";
const FAIL_ON: &str = "fail_on";

/// The `sim_resource` provider: `SimProvider::default()`. See the crate
/// docs for its schema, files and ledger. Cheap to create; one value can
/// serve any number of sim dirs and concurrent operations.
pub type SimProvider = Typed<SimResource>;

/// The `sim_resource` type. Dropping it brings `ledger.json` of every dir
/// it used up to date.
#[derive(Default)]
pub struct SimResource {
    /// The sim dirs this provider has opened, by path.
    clouds: Mutex<HashMap<PathBuf, Arc<OnceCell<Arc<Cloud>>>>>,
}

impl SimResource {
    /// The cloud of the sim dir the context's settings name, opened once,
    /// and what fault injection decided for this call of `op` there.
    async fn cloud(
        &self,
        ctx: &OpContext,
        op: Operation,
    ) -> Result<(Arc<Cloud>, Injected), ProviderError> {
        let settings =
            Settings::parse(&ctx.settings).map_err(|m| error(ErrorKind::Invalid, ctx, &m))?;
        let cloud = self.open(ctx, &settings).await?;
        let Some(faults) = settings.faults else {
            return Ok((cloud, Injected::NONE));
        };
        let address = ctx.address.to_string();
        let injected = blocking(&cloud, move |c| {
            Ok(c.injector().next(&faults, &address, op)?)
        })
        .await
        .map_err(|e| cloud_error(ctx, &cloud, e))?;
        Ok((cloud, injected))
    }

    /// Opens the sim dir the settings name, once per provider.
    async fn open(
        &self,
        ctx: &OpContext,
        settings: &Settings,
    ) -> Result<Arc<Cloud>, ProviderError> {
        let dir = ctx.root.join(&settings.dir);
        let cell = {
            let mut clouds = self.clouds.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(clouds.entry(dir.clone()).or_default())
        };
        let cloud = cell
            .get_or_try_init(|| async move {
                let cloud = tokio::task::spawn_blocking(move || Cloud::open(&dir))
                    .await
                    .unwrap_or_else(|e| Err(io::Error::other(format!("sim task failed: {e}"))))?;
                let cloud = Arc::new(cloud);
                Cloud::spawn_flusher(&cloud);
                Ok::<_, io::Error>(cloud)
            })
            .await
            .map_err(|e| error(ErrorKind::Failed, ctx, &e.to_string()))?;
        Ok(Arc::clone(cloud))
    }
}

impl Drop for SimResource {
    /// Brings `ledger.json` of every dir this provider used up to date.
    fn drop(&mut self) {
        let clouds = self
            .clouds
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for cloud in clouds.values().filter_map(|cell| cell.get()) {
            // Nobody to report to; `ledger()` rebuilds and reports.
            let _ = cloud.flush_if_dirty();
        }
    }
}

#[async_trait]
impl Resource for SimResource {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        let latency = |name: &str, op: &str| {
            Attribute::new(name, Type::Int)
                .default(0)
                .describe(&format!("milliseconds a {op} takes"))
        };
        Schema::new(TYPE_NAME)
            .attribute(latency(CREATE_MS, "create"))
            .attribute(latency(UPDATE_MS, "update"))
            .attribute(latency(DELETE_MS, "delete"))
            .attribute(latency(READ_MS, "read"))
            .attribute(Attribute::new("payload", Type::Any).describe("any data, updated in place"))
            .attribute(
                Attribute::new("replace_key", Type::Any)
                    .forces_replacement()
                    .describe("any data; a change replaces the resource"),
            )
            .attribute(
                Attribute::new(FAIL_ON, Type::String)
                    .describe("`create`, `update` or `delete`: that operation fails"),
            )
            .output(
                Output::new(
                    "secret",
                    Type::String,
                    "a secret the simulated cloud generated at create",
                )
                .sensitive(),
            )
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        Spec::read(f)
    }

    fn settings(&self) -> Option<SettingsTable> {
        Some(SettingsTable {
            section: SECTION,
            check: |table| infra_core::settings_problems(table, |t| Settings::parse(t).err()),
        })
    }

    fn default_timeout(&self, _op: OpKind) -> Duration {
        // Latencies are the stack's to choose.
        Duration::from_secs(60 * 60)
    }

    fn estimate(&self, op: OpKind, inputs: &Value) -> Duration {
        Spec::lenient(inputs).latency(op)
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, inputs) = op.parts();
        let (cloud, injected) = self.cloud(ctx, Operation::Create).await?;
        before(ctx, &injected)?;
        refuse_redacted(ctx, inputs)?;
        if spec.fail_on == Some(OpKind::Create) {
            wait(ctx, &injected, spec.create).await;
            return Err(failed_as_configured(ctx, OpKind::Create));
        }
        let id = disk::id_for_token(&ctx.token);
        let (address, token, given) = (ctx.address.to_string(), ctx.token.clone(), inputs.clone());
        let created = blocking(&cloud, move |c| c.create(&id, &address, &token, &given))
            .await
            .map_err(|e| cloud_error(ctx, &cloud, e))?;
        let file = match created {
            Created::New(file) => {
                // The cloud has accepted the create; now wait until usable.
                wait(ctx, &injected, spec.create).await;
                file
            }
            Created::Replayed(file) => file,
        };
        after(ctx, &injected)?;
        Ok(observed(file))
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        let spec = Spec::lenient(&existing.inputs);
        let (cloud, injected) = self.cloud(ctx, Operation::Read).await?;
        before(ctx, &injected)?;
        wait(ctx, &injected, spec.read).await;
        let id = existing.id.clone();
        let file = blocking(&cloud, move |c| c.load(&id))
            .await
            .map_err(|e| cloud_error(ctx, &cloud, e))?;
        after(ctx, &injected)?;
        Ok(file.filter(|f| f.live).map(observed))
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let (ctx, _, _) = op.parts();
        let (cloud, injected) = self.cloud(ctx, Operation::Find).await?;
        before(ctx, &injected)?;
        let id = disk::id_for_token(&ctx.token);
        let file = blocking(&cloud, move |c| c.load(&id))
            .await
            .map_err(|e| cloud_error(ctx, &cloud, e))?;
        after(ctx, &injected)?;
        match file {
            Some(file) if file.live && file.address != ctx.address.to_string() => Err(cloud_error(
                ctx,
                &cloud,
                CloudError::TokenReused {
                    id: file.id,
                    address: file.address,
                },
            )),
            Some(file) if file.live => Ok(Some(observed(file))),
            _ => Ok(None),
        }
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, spec, inputs) = op.parts();
        let (cloud, injected) = self.cloud(ctx, Operation::Update).await?;
        before(ctx, &injected)?;
        refuse_redacted(ctx, inputs)?;
        if spec.fail_on == Some(OpKind::Update) {
            wait(ctx, &injected, spec.update).await;
            return Err(failed_as_configured(ctx, OpKind::Update));
        }
        let (id, given) = (existing.id.clone(), inputs.clone());
        let file = blocking(&cloud, move |c| c.update(&id, &given))
            .await
            .map_err(|e| cloud_error(ctx, &cloud, e))?;
        wait(ctx, &injected, spec.update).await;
        after(ctx, &injected)?;
        Ok(observed(file))
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let (cloud, injected) = self.cloud(ctx, Operation::Delete).await?;
        before(ctx, &injected)?;
        let id = existing.id.clone();
        let stored = blocking(&cloud, move |c| c.load(&id))
            .await
            .map_err(|e| cloud_error(ctx, &cloud, e))?;
        if let Some(stored) = stored.filter(|f| f.live) {
            // The cloud's own configuration decides, as deletion protection would.
            let spec = Spec::lenient(&stored.inputs);
            if spec.fail_on == Some(OpKind::Delete) {
                wait(ctx, &injected, spec.delete).await;
                return Err(failed_as_configured(ctx, OpKind::Delete));
            }
            let id = existing.id.clone();
            let deleted = blocking(&cloud, move |c| c.delete(&id))
                .await
                .map_err(|e| cloud_error(ctx, &cloud, e))?;
            if deleted.is_some() {
                wait(ctx, &injected, spec.delete).await;
            }
        }
        after(ctx, &injected)
    }
}

/// The `[sim]` settings table.
struct Settings {
    /// The sim dir, relative to the project root.
    dir: PathBuf,
    /// Seeded fault injection; none when `faults` is absent.
    faults: Option<FaultSettings>,
}

impl Settings {
    fn parse(settings: &Value) -> Result<Settings, String> {
        let mut parsed = Settings {
            dir: PathBuf::from(DEFAULT_DIR),
            faults: None,
        };
        let table = match settings {
            Value::Null => return Ok(parsed),
            Value::Map(table) => table,
            other => {
                return Err(format!(
                    "[{SECTION}] must be a table, found {}",
                    other.kind()
                ));
            }
        };
        for (key, value) in table {
            match (key.as_str(), value) {
                ("dir", Value::String(dir)) if !dir.is_empty() => parsed.dir = PathBuf::from(dir),
                ("dir", other) => {
                    return Err(format!(
                        "[{SECTION}] dir must be a non-empty path, found {}",
                        other.kind()
                    ));
                }
                (faults::KEY, value) => parsed.faults = Some(FaultSettings::parse(value)?),
                _ => {
                    return Err(format!(
                        "unknown key `{key}` in [{SECTION}]: expected `dir` or `{}`",
                        faults::KEY
                    ));
                }
            }
        }
        Ok(parsed)
    }
}

/// What the inputs say about the simulation itself.
pub struct Spec {
    create: Duration,
    update: Duration,
    delete: Duration,
    read: Duration,
    fail_on: Option<OpKind>,
}

impl Spec {
    /// Reads the spec, anything invalid as its default, with the problems
    /// in `f`.
    fn read(f: &mut Fields<'_>) -> Spec {
        let mut latency = |key: &str| match f.int(key) {
            None => Duration::ZERO,
            Some(ms) if ms >= 0 => Duration::from_millis(ms.unsigned_abs()),
            Some(ms) => {
                let message =
                    format!("`{key}`: expected a number of milliseconds (0 or more), found {ms}");
                f.problem_at(key, message);
                Duration::ZERO
            }
        };
        let (create, update, delete, read) = (
            latency(CREATE_MS),
            latency(UPDATE_MS),
            latency(DELETE_MS),
            latency(READ_MS),
        );
        let fail_on = f.string(FAIL_ON).and_then(|op| match op.as_str() {
            "create" => Some(OpKind::Create),
            "update" => Some(OpKind::Update),
            "delete" => Some(OpKind::Delete),
            _ => {
                let message = format!(
                    "`{FAIL_ON}`: expected \"create\", \"update\" or \"delete\", found {}",
                    Value::String(op)
                );
                f.problem_at(FAIL_ON, message);
                None
            }
        });
        Spec {
            create,
            update,
            delete,
            read,
            fail_on,
        }
    }

    /// The spec of inputs as the cloud or the state has them, anything
    /// invalid or unknown as its default.
    fn lenient(inputs: &Value) -> Spec {
        Spec::read(&mut Fields::new(inputs, Phase::Plan))
    }

    fn latency(&self, op: OpKind) -> Duration {
        match op {
            OpKind::Create => self.create,
            OpKind::Update => self.update,
            OpKind::Delete => self.delete,
            OpKind::Read => self.read,
        }
    }
}

/// Simulates the time an operation takes, longer when the call is slow.
async fn wait(ctx: &OpContext, injected: &Injected, latency: Duration) {
    let latency = injected.latency(latency);
    if latency.is_zero() {
        return;
    }
    match injected.slow_factor() {
        Some(factor) => ctx.progress(&format!(
            "simulating {} ms of latency ({factor}x slow, injected by [{SECTION}] faults)",
            latency.as_millis()
        )),
        None => ctx.progress(&format!("simulating {} ms of latency", latency.as_millis())),
    }
    tokio::time::sleep(latency).await;
}

/// The injected error a call fails with before it has any effect.
fn before(ctx: &OpContext, injected: &Injected) -> Result<(), ProviderError> {
    match injected.before() {
        Some((kind, message)) => Err(error(kind, ctx, &message)),
        None => Ok(()),
    }
}

/// The injected error a call fails with after it has taken effect.
fn after(ctx: &OpContext, injected: &Injected) -> Result<(), ProviderError> {
    match injected.after() {
        Some((kind, message)) => Err(error(kind, ctx, &message)),
        None => Ok(()),
    }
}

/// Runs file work off the async workers.
async fn blocking<T: Send + 'static>(
    cloud: &Arc<Cloud>,
    work: impl FnOnce(&Cloud) -> Result<T, CloudError> + Send + 'static,
) -> Result<T, CloudError> {
    let cloud = Arc::clone(cloud);
    tokio::task::spawn_blocking(move || work(&cloud))
        .await
        .unwrap_or_else(|e| {
            Err(CloudError::Io(io::Error::other(format!(
                "sim task failed: {e}"
            ))))
        })
}

fn observed(file: ResourceFile) -> Observed {
    let secret = Some(file.secret).filter(|s| !s.is_empty());
    let outputs = [
        ("id", Value::String(file.id.clone())),
        ("secret", secret.into()),
    ]
    .into_iter()
    .collect();
    Observed {
        id: file.id,
        inputs: file.inputs,
        outputs,
    }
}

fn error(kind: ErrorKind, ctx: &OpContext, message: &str) -> ProviderError {
    ProviderError::new(kind, format!("{}: {message}", ctx.address))
}

/// A real cloud needs the plaintext of a secret input; one that arrives as
/// a digest only (the engine lost it) fails, as it would there.
fn refuse_redacted(ctx: &OpContext, inputs: &Value) -> Result<(), ProviderError> {
    if inputs.reveal().has_unknown() {
        let message = "a sensitive input arrived without its plaintext";
        return Err(error(ErrorKind::Invalid, ctx, message));
    }
    Ok(())
}

fn failed_as_configured(ctx: &OpContext, op: OpKind) -> ProviderError {
    error(
        ErrorKind::Failed,
        ctx,
        &format!(
            "{op} failed as configured by `fail_on = \"{op}\"`; remove `fail_on` to let it succeed"
        ),
    )
}

fn cloud_error(ctx: &OpContext, cloud: &Cloud, e: CloudError) -> ProviderError {
    match e {
        CloudError::Io(e) => error(ErrorKind::Failed, ctx, &e.to_string()),
        CloudError::TokenReused { id, address } => error(
            ErrorKind::Invalid,
            ctx,
            &format!(
                "idempotency token already used by {address} (sim id {id} in {})",
                cloud.dir().display()
            ),
        ),
        CloudError::NotFound(id) => error(
            ErrorKind::NotFound,
            ctx,
            &format!(
                "resource {id} does not exist in the simulated cloud {}",
                cloud.dir().display()
            ),
        ),
    }
}
