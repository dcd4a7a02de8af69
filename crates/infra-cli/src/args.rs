//! The command line as typed: clap definitions, no I/O. [`crate::Context`]
//! lowers the global flags into validated settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use infra_core::Address;

use crate::commands;

/// Provision and update infrastructure from stack files: plan the changes
/// against state and the cloud, apply them in dependency order, in
/// parallel, recording state after every step.
#[derive(Debug, Parser)]
// `about` is the doc comment above: what the tool does for its user (not
// the crate's description, which `about` alone would take).
#[command(name = "infra", version, propagate_version = true)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The stack: `stacks/<NAME>.toml` under the project root (twice for
    /// `infra diff`: `--stack staging --stack prod`).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        env = "INFRA_STACK",
        action = ArgAction::Append
    )]
    pub stack: Vec<String>,
    /// The project root (holds stacks/ and state/).
    #[arg(long, global = true, value_name = "PATH", default_value = ".")]
    pub dir: PathBuf,
    /// Machine-readable output: JSON documents, or JSON lines for events.
    #[arg(long, global = true)]
    pub json: bool,
    /// Never colour the output (also when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Log what infra does to stderr: -v info, -vv debug (every provider
    /// call, helm's argv), -vvv trace (inputs, secrets redacted).
    /// INFRA_LOG takes a full filter instead (`infra_engine=debug`).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Where state lives (`s3://bucket/key`), overriding the stack file's
    /// `state`.
    #[arg(
        long = "state",
        global = true,
        value_name = "LOCATION",
        env = "INFRA_STATE"
    )]
    pub state: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what apply would change.
    Plan(commands::plan::PlanArgs),
    /// Make the cloud match the stack (or apply a saved plan).
    Apply(commands::apply::ApplyArgs),
    /// Delete every resource of the stack.
    Destroy(commands::destroy::DestroyArgs),
    /// Check the stack files without touching state or the cloud.
    Validate,
    /// Print the dependency graph.
    Graph(commands::graph::GraphArgs),
    /// Adopt an existing cloud resource into state under a declared address.
    Import(commands::import::ImportArgs),
    /// Print the outputs of the resources in state.
    Output(commands::output::OutputArgs),
    /// Inspect the state.
    #[command(subcommand)]
    State(commands::state::StateCommand),
    /// Remove a stale lock left by a process that is gone.
    ForceUnlock(commands::force_unlock::ForceUnlockArgs),
    /// Shared state storage: `infra backend bootstrap s3://bucket`.
    #[command(subcommand)]
    Backend(commands::backend::BackendCommand),
    /// EKS helpers: `infra eks token` for kubeconfig exec entries.
    #[command(subcommand)]
    Eks(commands::eks::EksCommand),
    /// Describe resource types: inputs, outputs, rules (`--json`, `--markdown`).
    Schema(commands::schema::SchemaArgs),
    /// Check the stack against the production checklist (built-in policy).
    Check(commands::check::CheckArgs),
    /// Compare two stacks' resolved resources, attribute by attribute.
    Diff(commands::diff::DiffArgs),
}

/// Flags shared by the commands that plan.
#[derive(Debug, Args)]
pub struct PlanFlags {
    /// Compare against the cloud first (`--refresh=false` to skip).
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub refresh: bool,
    /// Plan only this resource and what it needs (repeatable).
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<Address>,
    /// How long to wait for the state lock.
    #[command(flatten)]
    pub lock: LockFlags,
}

/// Flags of the commands that take the state lock.
#[derive(Debug, Args)]
pub struct LockFlags {
    /// How long to wait for another run's lock (e.g. `30s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
}

/// Flags of the commands that apply.
#[derive(Debug, Args)]
pub struct ApplyFlags {
    /// At most this many operations at once.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallelism: u32,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
}

/// Output formats of `infra graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormatArg {
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// The longest duration a flag takes: a year (humantime's `1y`, 365.25
/// days). Longer is surely a typo, and far longer a deadline no clock can
/// represent.
const MAX_DURATION: Duration = Duration::from_secs(31_557_600);

fn parse_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        Ok(_) | Err(humantime::DurationError::NumberOverflow) => Err(format!(
            "`{s}` is longer than the limit of 1 year (`1y`, 365.25 days)"
        )),
        Err(e) => Err(format!("{e} (write e.g. `30s` or `2m`)")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn refresh_takes_an_optional_value() {
        let parse = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Plan(p) => p.flags.refresh,
            other => panic!("{other:?}"),
        };
        assert!(parse(&["infra", "plan"]));
        assert!(parse(&["infra", "plan", "--refresh"]));
        assert!(!parse(&["infra", "plan", "--refresh=false"]));
    }

    #[test]
    fn addresses_and_durations_are_checked() {
        assert!(Cli::try_parse_from(["infra", "plan", "--target", "nodot"]).is_err());
        assert!(Cli::try_parse_from(["infra", "plan", "--lock-timeout", "soon"]).is_err());
        assert!(Cli::try_parse_from(["infra", "apply", "--parallelism", "0"]).is_err());
        for too_long in ["300000000000y", "10000000000000000000s", "366d", "1y 1s"] {
            let e = Cli::try_parse_from(["infra", "plan", "--lock-timeout", too_long]).unwrap_err();
            let e = e.to_string();
            assert!(
                e.contains(&format!("`{too_long}` is longer than the limit of 1 year")),
                "{e}"
            );
        }
        let limit = Cli::try_parse_from(["infra", "plan", "--lock-timeout", "1y"]).unwrap();
        match limit.command {
            Command::Plan(p) => assert_eq!(p.flags.lock.lock_timeout, MAX_DURATION),
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["infra", "plan", "--lock-timeout", "1m 30s"]).unwrap();
        match cli.command {
            Command::Plan(p) => assert_eq!(p.flags.lock.lock_timeout, Duration::from_secs(90)),
            other => panic!("{other:?}"),
        }
    }
}
