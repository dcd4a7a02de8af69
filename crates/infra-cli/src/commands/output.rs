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
    let Some(state) = &state else {
        bail!(
            "no output `{name}`: stack `{stack}` has no state yet\n  hint: outputs exist once `infra apply` created the resources"
        );
    };
    let mut parts = name.splitn(3, '.');
    let (ty, res, attr) = (parts.next(), parts.next(), parts.next());
    let found = state
        .resources()
        .find(|r| Some(r.address.ty.as_str()) == ty && Some(r.address.name.as_str()) == res);
    let value = match (found, attr) {
        (Some(r), None) => Some(&r.outputs),
        (Some(r), Some(attr)) => r.outputs.get(attr),
        (None, _) => None,
    };
    let Some(value) = value else {
        let available: Vec<String> = match found {
            // The resource is there: its attributes are what was meant.
            Some(r) => names(
                r.outputs
                    .as_map()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| format!("{}.{k}", r.address)),
            ),
            None => names(state.resources().flat_map(|r| {
                let attrs = r.outputs.as_map().into_iter().flatten();
                attrs.map(|(k, _)| format!("{}.{k}", r.address))
            })),
        };
        let hint = if available.is_empty() {
            match found {
                Some(r) => format!("`{}` has no outputs", r.address),
                None => "the state has no outputs".to_owned(),
            }
        } else {
            format!("available: {}", available.join(", "))
        };
        bail!(
            "no output `{name}` in the state of stack `{stack}`\n  hint: {hint}; list them all with `infra output`"
        );
    };
    if ctx.json {
        ctx.shell.out(&json::to_line(value));
    } else {
        ctx.shell.out(&format!("{value}\n"));
    }
    Ok(Exit::Success)
}

/// At most ten names for a hint, with how many were left out.
fn names(all: impl Iterator<Item = String>) -> Vec<String> {
    const SHOWN: usize = 10;
    let all: Vec<String> = all.collect();
    let mut shown: Vec<String> = all.iter().take(SHOWN).cloned().collect();
    if all.len() > SHOWN {
        shown.push(format!("and {} more", all.len() - SHOWN));
    }
    shown
}
