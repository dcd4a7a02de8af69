//! `infra graph`: the dependency graph as Graphviz dot or Mermaid, or as
//! JSON with `--json`.

use anyhow::bail;
use clap::Args;
use infra_engine::{EngineError, GraphFormat};

use crate::args::GraphFormatArg;
use crate::{Context, Exit};

/// `infra graph` flags.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The output format [default: dot].
    #[arg(long, value_enum)]
    pub format: Option<GraphFormatArg>,
}

/// Prints the graph.
pub fn exec(ctx: &Context, args: GraphArgs) -> anyhow::Result<Exit> {
    if ctx.json && args.format.is_some() {
        bail!(
            "--format and --json cannot be used together\n  hint: --json prints the graph as JSON; drop one of them"
        );
    }
    let engine = ctx.engine();
    let stack = ctx.load(&engine, ctx.stack_name()?)?;
    let format = match (ctx.json, args.format.unwrap_or(GraphFormatArg::Dot)) {
        (true, _) => GraphFormat::Json,
        (false, GraphFormatArg::Dot) => GraphFormat::Dot,
        (false, GraphFormatArg::Mermaid) => GraphFormat::Mermaid,
    };
    let text = engine
        .graph(&stack, format)
        .map_err(EngineError::Diagnostics)?;
    ctx.shell.out(&text);
    Ok(Exit::Success)
}
