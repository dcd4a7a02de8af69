//! `infra import ADDR ID`: adopt a resource that already exists in the cloud
//! into state, under the address the stack declares for it.

use clap::Args;
use infra_core::Address;
use infra_engine::LockOptions;

use crate::args::LockFlags;
use crate::{Context, Exit};

/// `infra import` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The address the stack declares, `type.name`.
    #[arg(value_name = "ADDR")]
    pub address: Address,
    /// The cloud's identifier: the bucket name, the DB identifier, the
    /// cluster name, `cluster:nodegroup` for a node group.
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub lock: LockFlags,
}

/// Reads the resource from the cloud and records it in state.
pub async fn exec(ctx: &Context, args: ImportArgs) -> anyhow::Result<Exit> {
    let engine = ctx.engine();
    let stack = ctx.load(&engine, ctx.stack_name()?)?;
    let lock = LockOptions {
        operation: "import".into(),
        timeout: args.lock.lock_timeout,
    };
    let mut session = engine.open(&stack, &lock).await?;
    let result = session.import(&args.address, &args.id).await;
    super::close(session, result.map_err(Into::into)).await?;
    ctx.shell.out(&format!(
        "Imported {} (id {}).\nRun `infra plan --stack {}` to see how it differs from the stack.\n",
        args.address, args.id, stack.name
    ));
    Ok(Exit::Success)
}
