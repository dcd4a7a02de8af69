//! `infra state list` and `infra state show ADDR`: read the state without
//! locking it.

use anyhow::bail;
use clap::Subcommand;
use infra_core::Address;

use crate::{Context, Exit, json, render};

/// `infra state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// The addresses in state, one per line.
    List,
    /// One resource: id, inputs (secrets redacted), outputs, dependencies.
    Show {
        /// The resource, `type.name`.
        #[arg(value_name = "ADDR")]
        address: Address,
    },
}

/// Runs a state subcommand.
pub async fn exec(ctx: &Context, command: StateCommand) -> anyhow::Result<Exit> {
    let engine = ctx.engine();
    let name = ctx.stack_name()?;
    let state = engine.read_state(&ctx.root, name).await?;
    match command {
        StateCommand::List => {
            if ctx.json {
                ctx.shell
                    .out(&json::to_pretty(&json::StateList::new(state.as_ref())));
            } else if let Some(state) = &state {
                ctx.shell.out(&render::state_list(state));
            }
        }
        StateCommand::Show { address } => {
            let Some((r, state)) = state.as_ref().and_then(|s| s.get(&address).map(|r| (r, s)))
            else {
                bail!(
                    "`{address}` is not in the state of stack `{}`\n  hint: list what is with `infra state list`",
                    name
                );
            };
            let deposed: Vec<_> = state
                .deposed
                .iter()
                .filter(|d| d.address == address)
                .collect();
            if ctx.json {
                ctx.shell
                    .out(&json::to_pretty(&json::StateShow::new(r, deposed)));
            } else {
                ctx.shell.out(&render::state_show(r, &deposed));
            }
        }
    }
    Ok(Exit::Success)
}
