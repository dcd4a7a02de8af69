//! The `infra` command line: parses arguments, runs one engine call per
//! command and renders the result. Only this crate knows clap, indicatif
//! and the terminal; everything it does goes through `infra-engine`.
//!
//! Exit codes: 0 success, 1 any error, 2 only for `plan --detailed-exitcode`
//! when there are changes, and 128 + the signal's number when a signal
//! stopped the command: 130 for SIGINT (Ctrl-C), 143 for SIGTERM, 129 for
//! SIGHUP.
//!
//! Signals. SIGINT, SIGTERM and SIGHUP are handled alike, for every
//! command, from before it starts (see `listen`). Outside an apply
//! (loading, waiting for the lock, refreshing, planning, asking for
//! confirmation, any read-only command) the first one exits at once with
//! its code: nothing is in flight that needs care, and the lock goes with
//! the process (a lease, as on S3, expires). During an apply or destroy
//! the first asks the engine to start nothing new and to let in-flight
//! operations finish; the state is written, the journal folded, and the
//! run exits with the signal's code (130, 143, 129) unless the work was
//! all done anyway. A second signal of any of the three stops at
//! once, leaving the journal for the next run to recover from; the exit
//! code is the first signal's (130 after a Ctrl-C). SIGINT and SIGTERM are
//! handled even when the parent started infra with them ignored (a
//! background job of a script); SIGHUP is left ignored when it was, so that
//! `nohup infra apply` survives a closed terminal.

pub mod args;
mod commands;
pub mod json;
mod progress;
pub mod render;
mod shell;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::{Context as _, bail};
use clap::Parser;
use infra_core::{Diagnostic, Registry};
use infra_engine::{Engine, EngineError, InterruptHandle, Stack};

pub use crate::commands::schema::{schema_json, schema_markdown};

use crate::args::{Cli, Command};
use crate::progress::Progress;
use crate::shell::Shell;

/// What the first Ctrl-C during an apply prints.
const INTERRUPT_MESSAGE: &str = "interrupt received: finishing in-flight operations, starting nothing new (press Ctrl-C again to stop now)";

/// What the first SIGTERM or SIGHUP during an apply prints (after its name).
const SIGNAL_MESSAGE: &str = "received: finishing in-flight operations, starting nothing new (send another signal or press Ctrl-C to stop now)";

/// Runs the command line of this process over these resource types.
pub fn main_with(registry: Registry) -> ExitCode {
    main_from(registry, std::env::args_os())
}

/// Runs a command line given as arguments (the first is the program name).
pub fn main_from<I, T>(registry: Registry, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.global.verbose);
    let shell = Shell::new(cli.global.no_color);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            shell.err(&render::error(
                &format!("cannot start the async runtime: {e}"),
                shell.err_style,
            ));
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async {
        let ctx = Context::new(cli.global, registry, shell);
        SIGNALS.reset();
        if let Err(e) = listen(shell) {
            tracing::warn!(error = %e, "cannot handle signals; they stop infra at once");
        }
        let exit = match run(&ctx, cli.command).await {
            Ok(exit) => exit,
            Err(e) => report(&ctx, &e),
        };
        SIGNALS.exit(exit)
    });
    drop(runtime);
    code.into()
}

/// Diagnostic logs to stderr, off unless asked for: `-v` info, `-vv`
/// debug, `-vvv` trace, or an `INFRA_LOG` filter. Secrets are never in
/// them: values render redacted and helm gets secrets only in files.
fn init_logging(verbose: u8) {
    let filter = match std::env::var("INFRA_LOG") {
        Ok(f) if !f.trim().is_empty() => f,
        _ => match verbose {
            0 => return,
            1 => "info".to_owned(),
            2 => "debug".to_owned(),
            _ => "trace".to_owned(),
        },
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// How a command ended, short of an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Exit 0.
    Success,
    /// Exit 2: `plan --detailed-exitcode` found changes, `diff --exit-code`
    /// found differences.
    Changes,
    /// Exit 1, the problem already reported.
    Failure,
    /// Exit 130: stopped by a second interrupt, already reported.
    Interrupted,
    /// Exit 128 + the signal's number: stopped by this signal (SIGTERM,
    /// SIGHUP), already reported.
    Signalled(Stop),
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        match e {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Changes => ExitCode::from(2),
            Exit::Failure => ExitCode::from(1),
            Exit::Interrupted => ExitCode::from(Stop::Interrupt.code()),
            Exit::Signalled(stop) => ExitCode::from(stop.code()),
        }
    }
}

async fn run(ctx: &Context, command: Command) -> anyhow::Result<Exit> {
    if !matches!(command, Command::Diff(_)) {
        ctx.one_stack()?;
    }
    match command {
        Command::Plan(a) => commands::plan::exec(ctx, a).await,
        Command::Apply(a) => commands::apply::exec(ctx, a).await,
        Command::Destroy(a) => commands::destroy::exec(ctx, a).await,
        Command::Validate => commands::validate::exec(ctx),
        Command::Graph(a) => commands::graph::exec(ctx, a),
        Command::Import(a) => commands::import::exec(ctx, a).await,
        Command::Output(a) => commands::output::exec(ctx, a).await,
        Command::State(a) => commands::state::exec(ctx, a).await,
        Command::ForceUnlock(a) => commands::force_unlock::exec(ctx, a).await,
        Command::Backend(c) => commands::backend::exec(ctx, c).await,
        Command::Eks(c) => commands::eks::exec(ctx, c).await,
        Command::Schema(a) => commands::schema::exec(ctx, a),
        Command::Check(a) => commands::check::exec(ctx, a).await,
        Command::Diff(a) => commands::diff::exec(ctx, a),
    }
}

/// Prints an error and picks the exit code. With `--json` the error is
/// also a JSON document on stdout (one line, [`json::ErrorReport`]): that
/// is where the command's JSON goes, plan documents and apply events alike,
/// so a consumer reading stdout learns of the failure; stderr keeps the
/// message for people.
fn report(ctx: &Context, e: &anyhow::Error) -> Exit {
    let shell = &ctx.shell;
    let style = shell.err_style;
    let engine = e
        .downcast_ref::<EngineError>()
        .filter(|_| e.chain().count() == 1);
    if ctx.json {
        let doc = match engine {
            Some(EngineError::Diagnostics(d)) => json::ErrorReport::diagnostics(d),
            _ => json::ErrorReport::message(&render::humanize(&message(e))),
        };
        shell.out(&json::to_line(&doc));
    }
    match e.downcast_ref::<EngineError>() {
        Some(EngineError::Interrupted) => {
            shell.err(&render::engine_error(&EngineError::Interrupted, style));
            Exit::Interrupted
        }
        _ => {
            match engine {
                Some(engine) => shell.err(&render::engine_error(engine, style)),
                None => shell.err(&render::error(&message(e), style)),
            }
            Exit::Failure
        }
    }
}

/// An error with its causes, like `{e:#}`, but without a cause whose text
/// the message already holds: an error that shows its source and also
/// returns it from `source()` (`cannot write x: disk full: disk full`).
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The validated global settings every command runs with (the second
/// stage after [`args::GlobalArgs`]).
pub(crate) struct Context {
    /// The `--stack`, when exactly one was given.
    stack: Option<String>,
    /// Every `--stack` given, in order: `infra diff` takes two, every
    /// other command at most one.
    stacks: Vec<String>,
    root: PathBuf,
    json: bool,
    /// `--state`.
    state: Option<String>,
    registry: Registry,
    shell: Shell,
    stdin_tty: bool,
}

impl Context {
    fn new(global: args::GlobalArgs, registry: Registry, shell: Shell) -> Self {
        let stacks: Vec<String> = global.stack.into_iter().filter(|s| !s.is_empty()).collect();
        Context {
            stack: (stacks.len() == 1).then(|| stacks[0].clone()),
            stacks,
            root: global.dir,
            json: global.json,
            state: global.state.filter(|s| !s.is_empty()),
            registry,
            shell,
            stdin_tty: std::io::stdin().is_terminal(),
        }
    }

    /// The stack name, which every command needs.
    fn stack_name(&self) -> anyhow::Result<&str> {
        self.one_stack()?;
        match &self.stack {
            Some(s) => Ok(s),
            None => bail!("no stack given\n  hint: pass --stack NAME or set INFRA_STACK"),
        }
    }

    /// Refuses more than one `--stack`: only `infra diff` takes two.
    fn one_stack(&self) -> anyhow::Result<()> {
        if self.stacks.len() > 1 {
            bail!(
                "--stack was given {} times ({}), but this command works on one stack\n  hint: pass --stack NAME once; to compare two stacks, run `infra diff --stack A --stack B`",
                self.stacks.len(),
                self.stacks.join(", ")
            );
        }
        Ok(())
    }

    /// An engine without an event renderer.
    fn engine(&self) -> Engine {
        Engine::new(self.registry.clone()).with_state(self.state.clone())
    }

    /// An engine whose events go to `progress`.
    fn engine_with(&self, progress: &Arc<Progress>) -> Engine {
        self.engine().with_events(progress.sink())
    }

    /// Loads and checks the stack; on problems prints every diagnostic and
    /// fails.
    fn load(&self, engine: &Engine, name: &str) -> anyhow::Result<Stack> {
        let (stack, warnings) = engine
            .load(&self.root, name)
            .map_err(EngineError::Diagnostics)?;
        if !self.json {
            self.diagnostics(&warnings);
        }
        Ok(stack)
    }

    fn diagnostics(&self, d: &[Diagnostic]) {
        self.shell
            .err(&render::diagnostics(d, self.shell.err_style));
    }

    /// Asks an interactive `yes`; refuses without a terminal.
    async fn confirm(&self, question: &str, what: &str) -> anyhow::Result<bool> {
        if !self.stdin_tty {
            bail!(
                "refusing to {what} without confirmation: stdin is not a terminal\n  hint: pass --auto-approve to {what} without asking"
            );
        }
        self.shell.out(&format!(
            "{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
        ));
        let line = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| line)
        })
        .await
        .context("cannot read the answer")?
        .context("cannot read the answer from stdin")?;
        self.shell.out("\n");
        Ok(line.trim() == "yes")
    }
}

/// A signal that stops a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: `kill`, `timeout`, `docker stop`, Kubernetes, CI cancellation.
    Terminate,
    /// SIGHUP: the terminal went away.
    Hangup,
}

impl Stop {
    /// 128 + the signal's number, the shells' convention.
    fn code(self) -> u8 {
        128 + match self {
            Stop::Hangup => 1,
            Stop::Interrupt => 2,
            Stop::Terminate => 15,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
            Stop::Hangup => "SIGHUP",
        }
    }
}

/// Where the signal handler sends interrupts. Signals are process-wide,
/// hence a static: one handler serves whichever command runs.
struct Signals {
    /// The running apply's handle; `None` outside an apply.
    armed: Mutex<Option<InterruptHandle>>,
    /// The signal that asked an apply to stop, for the exit code.
    first: Mutex<Option<Stop>>,
}

static SIGNALS: Signals = Signals {
    armed: Mutex::new(None),
    first: Mutex::new(None),
};

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Signals {
    /// Forgets an earlier command line of this process.
    fn reset(&self) {
        *locked(&self.armed) = None;
        *locked(&self.first) = None;
    }

    /// The exit code of a command that ended as `exit`: the stopping
    /// signal's (128 + its number) when a signal stopped an apply before
    /// all its work was done, gracefully or not.
    fn exit(&self, exit: Exit) -> Exit {
        match (exit, *locked(&self.first)) {
            (Exit::Failure | Exit::Interrupted, Some(stop)) => Exit::Signalled(stop),
            (exit, _) => exit,
        }
    }

    /// Acts on one signal.
    fn received(&self, stop: Stop, shell: Shell) {
        let level = locked(&self.armed).as_ref().map(InterruptHandle::interrupt);
        let progress = Progress::current();
        let notice = |message: &str| match &progress {
            Some(p) => p.notice(message),
            None => shell.err(&format!("{message}\n")),
        };
        let first = *locked(&self.first);
        match level {
            None => {
                if let Some(p) = &progress {
                    p.finish();
                }
                notice(match stop {
                    Stop::Interrupt => "\ninterrupted",
                    Stop::Terminate => "\nterminated (SIGTERM)",
                    Stop::Hangup => "\nhung up (SIGHUP)",
                });
                std::process::exit(first.unwrap_or(stop).code().into());
            }
            Some(1) => {
                *locked(&self.first) = Some(stop);
                match stop {
                    Stop::Interrupt => notice(INTERRUPT_MESSAGE),
                    other => notice(&format!("{} {SIGNAL_MESSAGE}", other.name())),
                }
            }
            Some(2) => notice("stopping now"),
            Some(_) => std::process::exit(first.unwrap_or(stop).code().into()),
        }
    }
}

/// Starts handling SIGINT, SIGTERM and SIGHUP (see the crate docs). The
/// handlers are registered before this returns, so no signal falls
/// between it and the command. Call inside the runtime.
fn listen(shell: Shell) -> std::io::Result<()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    // Read before any handler is registered: registering one replaces
    // the disposition inherited from `nohup`.
    let keep_hangup_ignored = hangup_ignored();
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = match keep_hangup_ignored {
        true => None,
        false => Some(signal(SignalKind::hangup())?),
    };
    async fn recv(s: &mut Option<Signal>) -> Option<()> {
        match s {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    }
    tokio::spawn(async move {
        loop {
            let stop = tokio::select! {
                Some(()) = interrupt.recv() => Stop::Interrupt,
                Some(()) = terminate.recv() => Stop::Terminate,
                Some(()) = recv(&mut hangup) => Stop::Hangup,
                else => return,
            };
            SIGNALS.received(stop, shell);
        }
    });
    Ok(())
}

/// Whether this process started with SIGHUP ignored (`nohup`). Read from
/// Linux's /proc; elsewhere SIGHUP is always handled.
fn hangup_ignored() -> bool {
    // Bit n-1 of the mask stands for signal n; SIGHUP is 1.
    const SIGHUP_BIT: u64 = 1;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & SIGHUP_BIT != 0)
}

/// A command's hold on the signal handler (which [`main_from`] installs
/// for every command). Outside an apply a signal exits at once, after
/// finishing the command's [`Progress`]; an armed apply gets the first
/// signal as "start nothing new" and the second as "stop now".
pub(crate) struct CtrlC {
    _private: (),
}

impl CtrlC {
    /// Makes `progress` the renderer a signal finishes before exiting.
    /// The handler itself is already listening.
    pub(crate) fn install(progress: Arc<Progress>) -> Self {
        progress.make_current();
        CtrlC { _private: () }
    }

    /// Routes signals to an apply.
    pub(crate) fn arm(&self, handle: InterruptHandle) {
        *locked(&SIGNALS.armed) = Some(handle);
    }

    /// Back to exiting at once.
    pub(crate) fn disarm(&self) {
        *locked(&SIGNALS.armed) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that shows its source and returns it too, as thiserror's
    /// `#[error("cannot {what} {path}: {source}")]` does.
    #[derive(Debug)]
    struct ShowsItsSource(std::io::Error);

    impl std::fmt::Display for ShowsItsSource {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot write state/x.json: {}", self.0)
        }
    }

    impl std::error::Error for ShowsItsSource {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let full = std::io::Error::from_raw_os_error(28);
        let e = anyhow::Error::new(ShowsItsSource(full));
        assert_eq!(
            format!("{e:#}"),
            "cannot write state/x.json: No space left on device (os error 28): No space left on device (os error 28)"
        );
        assert_eq!(
            message(&e),
            "cannot write state/x.json: No space left on device (os error 28)"
        );
        let e = e.context("cannot apply");
        assert_eq!(
            message(&e),
            "cannot apply: cannot write state/x.json: No space left on device (os error 28)"
        );
    }

    #[test]
    fn signals_exit_with_their_number() {
        let code = |stop: Stop| stop.code();
        assert_eq!(
            [Stop::Hangup, Stop::Interrupt, Stop::Terminate].map(code),
            [129, 130, 143]
        );
    }
}
