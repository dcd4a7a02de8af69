//! `infra backend bootstrap LOCATION`: create the storage shared state
//! needs (for S3: the bucket, versioned, encrypted, never public).

use clap::Subcommand;

use crate::{Context, Exit};

/// `infra backend` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackendCommand {
    /// Create the storage for a state location, idempotently. With
    /// --stack, the stack's `[aws]` settings (region, profile, endpoint)
    /// are used.
    Bootstrap {
        /// Where state will live, e.g. `s3://my-team-infra-state`.
        #[arg(value_name = "LOCATION")]
        location: String,
    },
}

/// Runs an `infra backend` subcommand.
pub async fn exec(ctx: &Context, command: BackendCommand) -> anyhow::Result<Exit> {
    match command {
        BackendCommand::Bootstrap { location } => {
            let engine = ctx.engine();
            let stack = match &ctx.stack {
                Some(name) => Some(ctx.load(&engine, name)?),
                None => None,
            };
            let done = engine
                .bootstrap_backend(&location, stack.as_ref(), &ctx.root)
                .await?;
            ctx.shell.out(&format!("{done}\n"));
            Ok(Exit::Success)
        }
    }
}
