//! `infra force-unlock ID`: remove the lock of a run that is gone.

use clap::Args;
use infra_core::Diagnostic;

use crate::{Context, Exit};

/// `infra force-unlock` flags.
#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock id, from the message of the run that found the stack locked.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Also remove a local lock taken on another machine, which this one
    /// cannot check is gone: make sure that run has stopped first. A lock
    /// whose holder runs on this machine is never removed.
    #[arg(long)]
    pub force: bool,
}

/// Removes the lock after confirmation, if its holder is gone (or, with
/// `--force`, on another machine).
pub async fn exec(ctx: &Context, args: ForceUnlockArgs) -> anyhow::Result<Exit> {
    let engine = ctx.engine();
    let name = ctx.stack_name()?;
    if args.force {
        ctx.diagnostics(&[Diagnostic::warning(format!(
            "--force removes lock {} of stack `{name}` even when its holder is on another machine, which infra cannot check from here; if that run is still going, two runs will change the same state",
            args.id
        ))]);
    }
    if !args.auto_approve {
        let question = format!(
            "Do you really want to remove lock {} of stack `{}`? If its holder is still running, two runs may change the same state.",
            args.id, name
        );
        if !ctx.confirm(&question, "force-unlock").await? {
            anyhow::bail!("force-unlock cancelled: the answer was not `yes`");
        }
    }
    engine
        .force_unlock_with(&ctx.root, name, &args.id, args.force)
        .await?;
    ctx.shell
        .out(&format!("The lock of stack `{name}` was removed.\n"));
    Ok(Exit::Success)
}
