//! `infra plan`: lock, refresh and diff the stack; print the plan, save it
//! with `--out`.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};
use infra_core::Address;
use infra_engine::{LockOptions, PlanOptions};

use super::close;
use crate::args::PlanFlags;
use crate::progress::{Mode, Progress};
use crate::{Context, Exit, json, render};

/// `infra plan` flags.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Replace this resource even if unchanged (repeatable).
    #[arg(long = "replace", value_name = "ADDR")]
    pub replace: Vec<Address>,
    /// Plan the destruction of every resource instead.
    #[arg(long)]
    pub destroy: bool,
    /// Save the plan, signed with the project's secret key (mode 0600), for
    /// `infra apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when there are no changes, 1 on error, 2 when there are.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// How to print the plan: for a terminal, a JSON document (as
    /// `--json`), or markdown for a pull-request comment.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
}

/// Output formats of `infra plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// The changes as Terraform users read them.
    Human,
    /// The plan as a JSON document.
    Json,
    /// A pull-request comment: counts, estimate, one collapsible section
    /// per resource, the check's findings.
    Markdown,
}

/// Plans and prints.
pub async fn exec(ctx: &Context, args: PlanArgs) -> anyhow::Result<Exit> {
    let name = ctx.stack_name()?;
    let format = match (ctx.json, args.format) {
        (true, PlanFormat::Markdown) => bail!(
            "--json and --format markdown ask for two different documents\n  hint: pass one of them"
        ),
        (true, _) => PlanFormat::Json,
        (false, format) => format,
    };
    let progress = Progress::new(match format {
        PlanFormat::Human => Mode::Human,
        PlanFormat::Json | PlanFormat::Markdown => Mode::Quiet,
    });
    let engine = ctx.engine_with(&progress);
    let stack = ctx.load(&engine, name)?;
    let opts = PlanOptions {
        destroy: args.destroy,
        refresh: args.flags.refresh,
        targets: args.flags.targets,
        replace: args.replace,
    };
    let lock = LockOptions {
        operation: "plan".into(),
        timeout: args.flags.lock.lock_timeout,
    };
    let mut session = engine.open(&stack, &lock).await?;
    let planned = session.plan(&opts).await.map_err(Into::into);
    let plan = close(session, planned).await;
    progress.finish();
    let plan = plan?;
    // The production checklist over the stack and the plan's values.
    let check = super::check::after_plan(&stack, &plan)?;
    if let Some(path) = &args.out {
        engine.save_plan(&ctx.root, &plan, path)?;
    }
    match format {
        PlanFormat::Json => {
            let doc = json::PlanDocument::new(&plan, check.as_ref());
            ctx.shell.out(&json::to_pretty(&doc));
        }
        PlanFormat::Markdown => {
            if let Some(report) = &check {
                ctx.diagnostics(&report.problems);
            }
            ctx.shell
                .out(&render::markdown::plan(&plan, name, check.as_ref()));
        }
        PlanFormat::Human => {
            ctx.shell.out(&render::plan(&plan, ctx.shell.style));
            if let Some(report) = &check {
                super::check::show(ctx, report);
            }
            if let Some(path) = &args.out {
                ctx.shell.out(&format!(
                    "\nSaved the plan to {}. Apply exactly these changes with: infra apply {}\n",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    let exit = if args.detailed_exitcode && plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Success
    };
    // The stack and the plan are the biggest structures of the process and
    // the command is about to exit: freeing them node by node would only
    // delay the exit (by a tenth of the plan's time at 10k resources).
    // Leaking them is sound; the OS reclaims the memory.
    std::mem::forget(plan);
    std::mem::forget(stack);
    Ok(exit)
}
