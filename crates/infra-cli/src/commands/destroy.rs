//! `infra destroy`: the apply flow with a destroy plan.

use clap::Args;
use infra_engine::PlanOptions;

use super::apply::{Run, run};
use crate::args::{ApplyFlags, PlanFlags};
use crate::{Context, Exit};

/// `infra destroy` flags.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub flags: PlanFlags,
    #[command(flatten)]
    pub apply: ApplyFlags,
}

/// Destroys every resource in state (or the `--target`s and their dependents).
pub async fn exec(ctx: &Context, args: DestroyArgs) -> anyhow::Result<Exit> {
    run(
        ctx,
        Run {
            opts: PlanOptions {
                destroy: true,
                refresh: args.flags.refresh,
                targets: args.flags.targets,
                replace: Vec::new(),
            },
            lock_timeout: args.flags.lock.lock_timeout,
            apply: args.apply,
            saved: None,
        },
    )
    .await
}
