//! `infra state list` and `infra state show ADDR` read the state without
//! locking it; `pull`, `push` and `migrate` move it between backends.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
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
    /// Print the stored state document to stdout, exactly as stored.
    Pull,
    /// Replace the stored state with a state file (e.g. from `pull`).
    /// Refused when the file is another stack's state or older than the
    /// stored one, unless --force.
    Push {
        /// The state file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Replace even a state of another lineage or a newer serial.
        #[arg(long)]
        force: bool,
    },
    /// Copy the state to another backend, keeping lineage and serial
    /// (`--to s3://bucket/key`, or `--to local`); then point the stack's
    /// `state` at it.
    Migrate {
        /// Where the state goes.
        #[arg(long, value_name = "LOCATION")]
        to: String,
    },
}

/// Runs a state subcommand.
pub async fn exec(ctx: &Context, command: StateCommand) -> anyhow::Result<Exit> {
    let engine = ctx.engine();
    let name = ctx.stack_name()?;
    match command {
        StateCommand::Pull => {
            let Some(bytes) = engine.pull_state(&ctx.root, name).await? else {
                bail!("stack `{name}` has no state yet\n  hint: it is created by the first apply");
            };
            ctx.shell.out(&String::from_utf8_lossy(&bytes));
            return Ok(Exit::Success);
        }
        StateCommand::Push { file, force } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            engine
                .push_state(&ctx.root, name, &bytes, &file.display().to_string(), force)
                .await?;
            ctx.shell.err(&format!(
                "Pushed {} to the state of stack `{name}`.\n",
                file.display()
            ));
            return Ok(Exit::Success);
        }
        StateCommand::Migrate { to } => {
            let stack = ctx.load(&engine, name)?;
            let to = (to != "local").then_some(to);
            let m = engine.migrate_state(&stack, to.as_deref()).await?;
            ctx.shell.err(&format!(
                "Copied the state of stack `{name}` ({} resources, lineage {}, serial {}) from {} to {}.\n  next: set `state = {} in stacks/{name}.toml (or pass --state); the old copy is left as it was.\n",
                m.resources,
                m.lineage,
                m.serial,
                m.from,
                m.to,
                to.as_deref()
                    .map_or("...` (remove it)".to_owned(), |t| format!("{t:?}`")),
            ));
            return Ok(Exit::Success);
        }
        StateCommand::List | StateCommand::Show { .. } => {}
    }
    let state = engine.read_state(&ctx.root, name).await?;
    match command {
        StateCommand::Pull | StateCommand::Push { .. } | StateCommand::Migrate { .. } => {}
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
