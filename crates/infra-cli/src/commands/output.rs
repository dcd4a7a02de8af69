//! `infra output [NAME]`: the outputs (computed attributes) of the
//! resources in state.

use clap::Args;

use crate::{Context, Exit, json, render};

/// `infra output` flags.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// One output, `type.name.attr` (or `type.name` for all of a resource's).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

/// Prints outputs from state, without locking.
pub async fn exec(ctx: &Context, args: OutputArgs) -> anyhow::Result<Exit> {
    let engine = ctx.engine();
    let stack = ctx.stack_name()?;
    let state = engine.read_state(&ctx.root, stack).await?;
    let Some(name) = args.name else {
        if ctx.json {
            ctx.shell
                .out(&json::to_pretty(&json::Outputs::new(state.as_ref())));
        } else if let Some(state) = &state {
            ctx.shell.out(&render::outputs(state));
        }
        return Ok(Exit::Success);
    };
    let value = infra_engine::find_output(state.as_ref(), stack, &name)?;
    if ctx.json {
        ctx.shell.out(&json::to_line(value));
    } else {
        ctx.shell.out(&format!("{value}\n"));
    }
    Ok(Exit::Success)
}
