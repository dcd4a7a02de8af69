//! `infra eks token --cluster NAME`: the `ExecCredential` a kubeconfig
//! `exec` entry calls for, so helm and kubectl reach an EKS cluster
//! without the aws CLI. Stdout holds that one JSON document and nothing
//! else; problems go to stderr with exit 1.

use clap::{Args, Subcommand};
use infra_aws::AwsContext;
use infra_core::Value;

use crate::{Context, Exit};

/// `infra eks` subcommands.
#[derive(Debug, Subcommand)]
pub enum EksCommand {
    /// Print an ExecCredential with a bearer token for an EKS cluster
    /// (what a kubeconfig `exec` entry calls).
    Token(TokenArgs),
}

/// `infra eks token` flags.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The EKS cluster's name.
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
    /// The cluster's region; else the stack's `[aws] region` (with
    /// `--stack`), else the standard AWS environment.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

/// Runs an `infra eks` subcommand.
pub async fn exec(ctx: &Context, command: EksCommand) -> anyhow::Result<Exit> {
    match command {
        EksCommand::Token(args) => token(ctx, args).await,
    }
}

/// Prints the ExecCredential of a token signed with the credentials of the
/// stack's `[aws]` table (when a stack is given) or of the environment.
async fn token(ctx: &Context, args: TokenArgs) -> anyhow::Result<Exit> {
    let settings = match &ctx.stack {
        Some(name) => {
            let engine = ctx.engine();
            let stack = ctx.load(&engine, name)?;
            stack.settings.get("aws").cloned().unwrap_or(Value::Null)
        }
        None => Value::Null,
    };
    let credential = infra_eks::exec_credential(
        &AwsContext::new(),
        settings,
        &args.cluster,
        args.region.as_deref(),
    )
    .await?;
    ctx.shell.out(&format!("{credential}\n"));
    Ok(Exit::Success)
}
