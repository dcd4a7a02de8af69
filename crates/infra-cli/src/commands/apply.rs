//! `infra apply [PLANFILE]`: plan, confirm, apply with progress, summarize.
//! Also the flow `infra destroy` shares.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use infra_core::Address;
use infra_engine::{
    ApplyOptions, ApplyReport, Interrupt, LockOptions, Plan, PlanMode, PlanOptions, Session, Stack,
};

use super::close;
use crate::args::{ApplyFlags, PlanFlags};
use crate::progress::{Mode, Progress};
use crate::{Context, CtrlC, Exit, render};

/// `infra apply` flags.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `infra plan --out`: applied as is, without asking
    /// again; refused if the state or the stack changed since.
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Replace this resource even if unchanged (repeatable).
    #[arg(long = "replace", value_name = "ADDR")]
    pub replace: Vec<Address>,
    #[command(flatten)]
    pub apply: ApplyFlags,
}

/// Applies the stack, or a saved plan.
pub async fn exec(ctx: &Context, args: ApplyArgs) -> anyhow::Result<Exit> {
    let saved = match &args.plan_file {
        Some(path) => {
            if !args.flags.targets.is_empty() || !args.replace.is_empty() || !args.flags.refresh {
                bail!(
                    "--target, --replace and --refresh cannot be used with a saved plan: they were fixed when it was made\n  hint: pass them to `infra plan --out` instead"
                );
            }
            Some(ctx.engine().read_plan(&ctx.root, path)?)
        }
        None => None,
    };
    run(
        ctx,
        Run {
            opts: PlanOptions {
                destroy: false,
                refresh: args.flags.refresh,
                targets: args.flags.targets,
                replace: args.replace,
            },
            lock_timeout: args.flags.lock.lock_timeout,
            apply: args.apply,
            saved,
        },
    )
    .await
}

/// One apply or destroy run.
pub(crate) struct Run {
    pub(crate) opts: PlanOptions,
    pub(crate) lock_timeout: Duration,
    pub(crate) apply: ApplyFlags,
    /// A saved plan to apply instead of planning now.
    pub(crate) saved: Option<Plan>,
}

impl Run {
    fn verb(&self) -> &'static str {
        let destroy = match &self.saved {
            Some(p) => p.mode == PlanMode::Destroy,
            None => self.opts.destroy,
        };
        if destroy { "destroy" } else { "apply" }
    }
}

/// Load, lock, plan (or take the saved plan), confirm, apply, unlock,
/// summarize. The lock is released on every path.
pub(crate) async fn run(ctx: &Context, run: Run) -> anyhow::Result<Exit> {
    let verb = run.verb();
    if run.saved.is_none() && !run.apply.auto_approve {
        if ctx.json {
            bail!(
                "--json needs --auto-approve: machine output cannot ask for confirmation\n  hint: review `infra plan --json` first, then {verb} with --auto-approve"
            );
        }
        if !ctx.stdin_tty {
            bail!(
                "refusing to {verb} without confirmation: stdin is not a terminal\n  hint: pass --auto-approve to {verb} without asking"
            );
        }
    }
    let name = match (&ctx.stack, &run.saved) {
        (Some(s), _) => s.clone(),
        (None, Some(plan)) => plan.stack.clone(),
        (None, None) => ctx.stack_name()?.to_owned(),
    };
    let progress = Progress::new(if ctx.json {
        Mode::JsonLines
    } else {
        Mode::Human
    });
    let ctrlc = CtrlC::install(progress.clone());
    let engine = ctx.engine_with(&progress);
    let stack = ctx.load(&engine, &name)?;
    // A saved plan is checked before the session opens: opening may
    // recover an interrupted run, which writes state.
    if let Some(plan) = &run.saved {
        super::check::gate(ctx, &stack, plan)?;
    }
    let lock = LockOptions {
        operation: verb.into(),
        timeout: run.lock_timeout,
    };
    let mut session = engine.open(&stack, &lock).await?;
    let result = in_session(ctx, &mut session, &stack, &ctrlc, &run, &name).await;
    progress.finish();
    let Some((mode, report)) = close(session, result).await? else {
        return Ok(Exit::Success);
    };
    let style = ctx.shell.style;
    if !ctx.json {
        ctx.shell.out(&format!(
            "\n{}",
            render::apply_summary(&report, mode, style)
        ));
    }
    ctx.shell
        .err(&render::failures(&report, ctx.shell.err_style));
    Ok(if report.succeeded() {
        Exit::Success
    } else {
        Exit::Failure
    })
}

async fn in_session(
    ctx: &Context,
    session: &mut Session<'_>,
    stack: &Stack,
    ctrlc: &CtrlC,
    run: &Run,
    name: &str,
) -> anyhow::Result<Option<(PlanMode, ApplyReport)>> {
    let verb = run.verb();
    let fresh;
    let plan = match &run.saved {
        // Checked before the session opened.
        Some(plan) => plan,
        None => {
            fresh = session.plan(&run.opts).await?;
            if !ctx.json {
                ctx.shell.out(&render::plan(&fresh, ctx.shell.style));
            }
            // The production checklist: refused before anything changes
            // and before asking for approval.
            super::check::gate(ctx, stack, &fresh)?;
            if !fresh.has_changes() {
                record_drift(ctx, session, &fresh).await?;
                return Ok(None);
            }
            if !run.apply.auto_approve {
                let question = if run.opts.destroy {
                    format!(
                        "\nDo you really want to destroy every resource of stack `{name}`? There is no undo."
                    )
                } else {
                    format!("\nDo you want to perform these actions on stack `{name}`?")
                };
                if !ctx.confirm(&question, verb).await? {
                    bail!("{verb} cancelled: the answer was not `yes`");
                }
            }
            &fresh
        }
    };
    let (handle, interrupt) = Interrupt::new();
    ctrlc.arm(handle);
    let report = session
        .apply(
            plan,
            &ApplyOptions {
                parallelism: run.apply.parallelism as usize,
                interrupt,
            },
        )
        .await;
    ctrlc.disarm();
    Ok(Some((plan.mode, report?)))
}

/// A plan without changes may still have found resources deleted outside
/// infra: they leave state (with nothing to do, the plan alone would keep
/// them there for `state list` and `output` to show).
async fn record_drift(ctx: &Context, session: &mut Session<'_>, plan: &Plan) -> anyhow::Result<()> {
    if plan.drift.is_empty() {
        return Ok(());
    }
    session.apply(plan, &ApplyOptions::default()).await?;
    let gone: Vec<String> = plan
        .drift
        .iter()
        .filter(|d| d.deleted)
        .map(|d| d.address.to_string())
        .collect();
    if !gone.is_empty() && !ctx.json {
        ctx.shell.out(&format!(
            "\nRemoved from state, already deleted outside infra: {}\n",
            gone.join(", ")
        ));
    }
    Ok(())
}
