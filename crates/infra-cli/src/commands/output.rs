//! `infra output [NAME]`: the outputs (computed attributes) of the
//! resources in state.

use anyhow::bail;
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
    let name = ctx.stack_name()?;
    let state = engine.read_state(&ctx.root, name).await?;
    let Some(name) = args.name else {
        if ctx.json {
            ctx.shell
                .out(&json::to_pretty(&json::Outputs::new(state.as_ref())));
        } else if let Some(state) = &state {
            ctx.shell.out(&render::outputs(state));
        }
        return Ok(Exit::Success);
    };
    let mut parts = name.splitn(3, '.');
    let (ty, res, attr) = (parts.next(), parts.next(), parts.next());
    let found = state.as_ref().and_then(|s| {
        s.resources()
            .find(|r| Some(r.address.ty.as_str()) == ty && Some(r.address.name.as_str()) == res)
    });
    let value = match (found, attr) {
        (Some(r), None) => Some(&r.outputs),
        (Some(r), Some(attr)) => r.outputs.get(attr),
        (None, _) => None,
    };
    let Some(value) = value else {
        bail!(
            "no output `{name}` in the state of stack `{}`\n  hint: list them with `infra output`",
            name
        );
    };
    if ctx.json {
        ctx.shell.out(&json::to_line(value));
    } else {
        ctx.shell.out(&format!("{value}\n"));
    }
    Ok(Exit::Success)
}
