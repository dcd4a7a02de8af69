//! `infra graph`: the dependency graph as Graphviz dot or Mermaid.

use clap::Args;
use infra_engine::{EngineError, GraphFormat};

use crate::args::GraphFormatArg;
use crate::{Context, Exit};

/// `infra graph` flags.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The output format.
    #[arg(long, value_enum, default_value_t = GraphFormatArg::Dot)]
    pub format: GraphFormatArg,
}

/// Prints the graph.
pub fn exec(ctx: &Context, args: GraphArgs) -> anyhow::Result<Exit> {
    let engine = ctx.engine();
    let stack = ctx.load(&engine, ctx.stack_name()?)?;
    let format = match args.format {
        GraphFormatArg::Dot => GraphFormat::Dot,
        GraphFormatArg::Mermaid => GraphFormat::Mermaid,
    };
    let text = engine
        .graph(&stack, format)
        .map_err(EngineError::Diagnostics)?;
    ctx.shell.out(&text);
    Ok(Exit::Success)
}
