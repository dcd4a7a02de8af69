//! `infra diff --stack A --stack B`: two stacks' resolved resources side
//! by side, attribute by attribute, each side's value with the file:line
//! it comes from; only what differs. Loads both stacks, touching neither
//! state nor the cloud. What is compared and how: [`crate::render::diff`].
//!
//! Exit codes: 0 whether or not the stacks differ, 2 with `--exit-code`
//! when they differ (as `git diff --exit-code`), 1 when either stack has
//! errors (all of both are reported).

use anyhow::bail;
use clap::Args;
use infra_core::Diagnostic;
use infra_engine::EngineError;

use crate::{Context, Exit, json, render};

/// `infra diff` flags.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Exit 2 when the stacks differ (0 when they are the same), like
    /// `git diff --exit-code`; without it the exit code is 0 either way.
    #[arg(long)]
    pub exit_code: bool,
}

/// Compares two stacks and prints what differs.
pub fn exec(ctx: &Context, args: DiffArgs) -> anyhow::Result<Exit> {
    let (a, b) = match ctx.stacks.as_slice() {
        [a, b] => (a.as_str(), b.as_str()),
        [] => bail!(
            "`infra diff` compares two stacks, but no stack was given\n  hint: name both: `infra diff --stack staging --stack prod`"
        ),
        [one] => bail!(
            "`infra diff` compares two stacks, but --stack was given once ({one})\n  hint: name the other one too: `infra diff --stack {one} --stack OTHER`"
        ),
        many => bail!(
            "`infra diff` compares two stacks, but --stack was given {} times ({})\n  hint: pass --stack exactly twice: `infra diff --stack A --stack B`",
            many.len(),
            many.join(", ")
        ),
    };
    let engine = ctx.engine();
    let (stack_a, stack_b) = match (engine.load(&ctx.root, a), engine.load(&ctx.root, b)) {
        (Ok((sa, wa)), Ok((sb, wb))) => {
            if !ctx.json {
                ctx.diagnostics(&unique(wa.into_iter().chain(wb)));
            }
            (sa, sb)
        }
        (ra, rb) => {
            // Both stacks' problems, each once: an error in the file both
            // extend is one error.
            let all = [ra, rb].into_iter().flat_map(|r| match r {
                Ok((_, warnings)) => warnings,
                Err(diagnostics) => diagnostics,
            });
            return Err(EngineError::Diagnostics(unique(all)).into());
        }
    };
    let diff = render::diff::compare(&stack_a, &stack_b, &ctx.registry);
    if ctx.json {
        ctx.shell.out(&json::to_pretty(&json::Diff::new(&diff)));
    } else {
        ctx.shell.out(&render::diff::render(&diff, ctx.shell.style));
    }
    Ok(if args.exit_code && !diff.is_empty() {
        Exit::Changes
    } else {
        Exit::Success
    })
}

/// The diagnostics in order, repeats left out.
fn unique(diagnostics: impl Iterator<Item = Diagnostic>) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    for d in diagnostics {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}
