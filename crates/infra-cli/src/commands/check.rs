//! `infra check`: the stack against the production checklist
//! (`infra-check`), for people, as JSON (`--json`), or as SARIF for code
//! scanning (`--format sarif`); exit 1 when an error finding is not waived.
//! Also the check `plan` shows after the plan and `apply` enforces before
//! asking for approval.
//!
//! The support windows are judged on today's date (UTC), or on the date in
//! `INFRA_CHECK_TODAY` (`YYYY-MM-DD`), which tests and "will this pass next
//! month?" use. When the stack has state, the check also sees the values a
//! plan (without refresh, under the state lock) resolves from it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use anyhow::bail;
use clap::{Args, ValueEnum};
use infra_check::{CheckInput, Date, Report};
use infra_core::{Address, Value};
use infra_engine::{Engine, LockOptions, Plan, PlanMode, PlanOptions, Stack};

use super::close;
use crate::args::LockFlags;
use crate::{Context, Exit, json, render};

/// The environment variable that sets the day support windows are judged on.
pub const TODAY_VAR: &str = "INFRA_CHECK_TODAY";

/// `infra check` flags.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Output: `human`, `json` (as with --json) or `sarif` (SARIF 2.1.0, for
    /// code-scanning annotations at file:line).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    /// List the rules (id, severity per profile, checklist item) and exit.
    #[arg(long)]
    pub rules: bool,
    #[command(flatten)]
    pub lock: LockFlags,
}

/// Output formats of `infra check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// One block per finding, then a summary line.
    Human,
    /// The report as a JSON document.
    Json,
    /// A SARIF 2.1.0 log.
    Sarif,
}

/// Checks the stack and prints the findings.
pub async fn exec(ctx: &Context, args: CheckArgs) -> anyhow::Result<Exit> {
    if args.rules {
        ctx.shell.out(&render::findings::rules());
        return Ok(Exit::Success);
    }
    let format = match (ctx.json, args.format) {
        (true, CheckFormat::Sarif) => bail!(
            "--json and --format sarif ask for two different documents\n  hint: pass one of them"
        ),
        (true, _) => CheckFormat::Json,
        (false, f) => f,
    };
    let name = ctx.stack_name()?;
    let engine = ctx.engine();
    let stack = ctx.load(&engine, name)?;
    let input = CheckInput {
        today: today()?,
        planned: planned_from_state(ctx, &engine, &stack, &args.lock).await?,
    };
    let report = infra_check::check(&stack, &input);
    match format {
        CheckFormat::Human => {
            ctx.diagnostics(&report.problems);
            ctx.shell
                .out(&render::findings::report(&report, ctx.shell.style));
        }
        CheckFormat::Json => ctx
            .shell
            .out(&json::to_pretty(&json::Check::new(name, &report))),
        CheckFormat::Sarif => {
            ctx.diagnostics(&report.problems);
            let tool = infra_check::sarif::Tool {
                name: "infra",
                version: env!("CARGO_PKG_VERSION"),
                information_uri: None,
            };
            ctx.shell
                .out(&json::to_pretty(&infra_check::sarif::log(&report, tool)));
        }
    }
    Ok(if report.passed() {
        Exit::Success
    } else {
        Exit::Failure
    })
}

/// The day support windows are judged on: [`TODAY_VAR`], else the system
/// clock's (UTC).
pub(crate) fn today() -> anyhow::Result<Date> {
    match std::env::var(TODAY_VAR) {
        Ok(text) if !text.trim().is_empty() => match Date::parse(text.trim()) {
            Some(d) => Ok(d),
            None => bail!(
                "{TODAY_VAR}={text:?} is not a date\n  hint: write it as YYYY-MM-DD (e.g. 2027-03-27), or unset it to check against today"
            ),
        },
        _ => Ok(Date::from_system_time(SystemTime::now())),
    }
}

/// Each change's inputs as the plan resolved them.
fn planned(plan: &Plan) -> BTreeMap<Address, Value> {
    plan.changes
        .iter()
        .filter_map(|c| Some((c.address.clone(), c.after.clone()?)))
        .collect()
}

/// When the stack has state: the values a plan resolves from it (no
/// refresh, so no cloud call besides the state's own backend). Opening
/// the session recovers a run that was interrupted, as `plan` does: that
/// may ask the cloud how the interrupted operations ended and write state.
async fn planned_from_state(
    ctx: &Context,
    engine: &Engine,
    stack: &Stack,
    lock: &LockFlags,
) -> anyhow::Result<BTreeMap<Address, Value>> {
    if engine.read_state(&ctx.root, &stack.name).await?.is_none() {
        return Ok(BTreeMap::new());
    }
    let lock = LockOptions {
        operation: "check".into(),
        timeout: lock.lock_timeout,
    };
    let mut session = engine.open(stack, &lock).await?;
    let opts = PlanOptions {
        refresh: false,
        ..PlanOptions::default()
    };
    let plan = session.plan(&opts).await.map_err(Into::into);
    let plan = close(session, plan).await?;
    Ok(planned(&plan))
}

/// The check of a plan's stack, with the plan's values; `None` for a
/// destroy plan, which the checklist has nothing to say about.
pub(crate) fn after_plan(stack: &Stack, plan: &Plan) -> anyhow::Result<Option<Report>> {
    if plan.mode == PlanMode::Destroy {
        return Ok(None);
    }
    let input = CheckInput {
        today: today()?,
        planned: planned(plan),
    };
    Ok(Some(infra_check::check(stack, &input)))
}

/// Prints what the check found after a plan (nothing when it found
/// nothing): problems of `[check]` to stderr, findings to stdout.
pub(crate) fn show(ctx: &Context, report: &Report) {
    ctx.diagnostics(&report.problems);
    ctx.shell
        .out(&render::findings::after_plan(report, ctx.shell.style));
}

/// What `apply` does with a plan before asking for approval: shows the
/// findings and refuses when an error finding is not waived.
pub(crate) fn gate(ctx: &Context, stack: &Stack, plan: &Plan) -> anyhow::Result<()> {
    let Some(report) = after_plan(stack, plan)? else {
        return Ok(());
    };
    if !ctx.json {
        show(ctx, &report);
    }
    if report.passed() {
        return Ok(());
    }
    bail!("{}", refusal(&report))
}

/// Why apply refuses: the blocking findings by rule and address, and
/// what to do.
fn refusal(report: &Report) -> String {
    let blocking: Vec<String> = report
        .blocking()
        .map(|f| format!("{} ({})", f.rule, f.address))
        .collect();
    let mut why = Vec::new();
    if !blocking.is_empty() {
        let n = blocking.len();
        why.push(format!(
            "{n} error finding{} of the production checklist (profile {}) not waived: {}",
            if n == 1 { "" } else { "s" },
            report.profile,
            blocking.join(", ")
        ));
    }
    let problems = report.problems.iter().filter(|d| d.is_error()).count();
    if problems > 0 {
        why.push(format!(
            "{problems} error{} in `[check]`",
            if problems == 1 { "" } else { "s" }
        ));
    }
    let example = report.blocking().next().map_or("<rule-id>", |f| f.rule);
    format!(
        "refusing to apply: {}\n  hint: fix the stack, or waive a rule with the reason it does not apply (`[check.waive] {example} = \"why\"`); `infra check` shows every finding with its fix",
        why.join("; ")
    )
}
