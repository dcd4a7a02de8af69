//! The `infra` command line: parses arguments, runs one engine call per
//! command and renders the result. Only this crate knows clap, indicatif
//! and the terminal; everything it does goes through `infra-engine`.
//!
//! Exit codes: 0 success, 1 any error, 2 only for `plan --detailed-exitcode`
//! when there are changes, 130 when a second Ctrl-C stopped an apply.

mod args;
mod commands;
pub mod json;
mod progress;
pub mod render;
mod shell;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context as _, bail};
use clap::Parser;
use infra_core::{Diagnostic, Registry};
use infra_engine::{Engine, EngineError, InterruptHandle, Stack};

use crate::args::{Cli, Command};
use crate::progress::Progress;
use crate::shell::Shell;

/// What the first Ctrl-C during an apply prints.
const INTERRUPT_MESSAGE: &str = "interrupt received: finishing in-flight operations, starting nothing new (press Ctrl-C again to stop now)";

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
        match run(&ctx, cli.command).await {
            Ok(exit) => exit,
            Err(e) => report(&shell, &e),
        }
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
    /// Exit 2: `plan --detailed-exitcode` found changes.
    Changes,
    /// Exit 1, the problem already reported.
    Failure,
    /// Exit 130: stopped by a second interrupt, already reported.
    Interrupted,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        match e {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Changes => ExitCode::from(2),
            Exit::Failure => ExitCode::from(1),
            Exit::Interrupted => ExitCode::from(130),
        }
    }
}

async fn run(ctx: &Context, command: Command) -> anyhow::Result<Exit> {
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
    }
}

/// Prints an error and picks the exit code.
fn report(shell: &Shell, e: &anyhow::Error) -> Exit {
    let style = shell.err_style;
    match e.downcast_ref::<EngineError>() {
        Some(EngineError::Interrupted) => {
            shell.err(&render::engine_error(&EngineError::Interrupted, style));
            Exit::Interrupted
        }
        Some(engine) if e.chain().count() == 1 => {
            shell.err(&render::engine_error(engine, style));
            Exit::Failure
        }
        _ => {
            shell.err(&render::error(&format!("{e:#}"), style));
            Exit::Failure
        }
    }
}

/// The validated global settings every command runs with (the second
/// stage after [`args::GlobalArgs`]).
pub(crate) struct Context {
    stack: Option<String>,
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
        Context {
            stack: global.stack.filter(|s| !s.is_empty()),
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
        match &self.stack {
            Some(s) => Ok(s),
            None => bail!("no stack given\n  hint: pass --stack NAME or set INFRA_STACK"),
        }
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

/// Ctrl-C handling. Outside an apply, Ctrl-C exits at once (nothing is in
/// flight that needs care). During an apply, the first asks the engine to
/// start nothing new, the second to stop now.
pub(crate) struct CtrlC {
    armed: Arc<Mutex<Option<InterruptHandle>>>,
}

impl CtrlC {
    /// Installs the handler. Call inside the runtime.
    pub(crate) fn install(progress: Arc<Progress>) -> Self {
        let armed: Arc<Mutex<Option<InterruptHandle>>> = Arc::new(Mutex::new(None));
        let watch = Arc::clone(&armed);
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                let level = watch
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .map(InterruptHandle::interrupt);
                match level {
                    None => {
                        progress.finish();
                        progress.notice("\ninterrupted");
                        std::process::exit(130);
                    }
                    Some(1) => progress.notice(INTERRUPT_MESSAGE),
                    Some(2) => progress.notice("stopping now"),
                    Some(_) => std::process::exit(130),
                }
            }
        });
        CtrlC { armed }
    }

    /// Routes interrupts to an apply.
    pub(crate) fn arm(&self, handle: InterruptHandle) {
        *self.armed.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
    }

    /// Back to exiting at once.
    pub(crate) fn disarm(&self) {
        *self.armed.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
