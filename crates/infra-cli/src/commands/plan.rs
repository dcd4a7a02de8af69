//! `infra plan`: lock, refresh and diff the stack; print the plan, save it
//! with `--out`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use infra_core::Address;
use infra_engine::{LockOptions, Plan, PlanOptions};

use super::close;
use crate::args::PlanFlags;
use crate::progress::{Mode, Progress};
use crate::{Context, Exit, json, render};

/// `infra plan` flags.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Replace this resource even if unchanged (repeatable).
    #[arg(long = "replace", value_name = "ADDR")]
    pub replace: Vec<Address>,
    /// Plan the destruction of every resource instead.
    #[arg(long)]
    pub destroy: bool,
    /// Save the plan as JSON (mode 0600) for `infra apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when there are no changes, 1 on error, 2 when there are.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Plans and prints.
pub async fn exec(ctx: &Context, args: PlanArgs) -> anyhow::Result<Exit> {
    let name = ctx.stack_name()?;
    let progress = Progress::new(if ctx.json { Mode::Quiet } else { Mode::Human });
    let engine = ctx.engine_with(&progress);
    let stack = ctx.load(&engine, name)?;
    let opts = PlanOptions {
        destroy: args.destroy,
        refresh: args.flags.refresh,
        targets: args.flags.targets,
        replace: args.replace,
    };
    let lock = LockOptions {
        operation: "plan".into(),
        timeout: args.flags.lock.lock_timeout,
    };
    let mut session = engine.open(&stack, &lock).await?;
    let planned = session.plan(&opts).await.map_err(Into::into);
    let plan = close(session, planned).await;
    progress.finish();
    let plan = plan?;
    if let Some(path) = &args.out {
        save(path, &plan)?;
    }
    if ctx.json {
        ctx.shell.out(&json::to_pretty(&plan));
    } else {
        ctx.shell.out(&render::plan(&plan, ctx.shell.style));
        if let Some(path) = &args.out {
            ctx.shell.out(&format!(
                "\nSaved the plan to {}. Apply exactly these changes with: infra apply {}\n",
                path.display(),
                path.display()
            ));
        }
    }
    let exit = if args.detailed_exitcode && plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Success
    };
    // The stack and the plan are the biggest structures of the process and
    // the command is about to exit: freeing them node by node would only
    // delay the exit (by a tenth of the plan's time at 10k resources).
    // Leaking them is sound; the OS reclaims the memory.
    std::mem::forget(plan);
    std::mem::forget(stack);
    Ok(exit)
}

/// Writes a plan file readable by its owner only: it describes the
/// infrastructure, though secrets appear only as digests.
fn save(path: &Path, plan: &Plan) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    // An existing file keeps its mode on open; tighten it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict the permissions of {}", path.display()))?;
    file.write_all(json::to_pretty(plan).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
