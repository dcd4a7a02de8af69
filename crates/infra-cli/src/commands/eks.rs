//! `infra eks token --cluster NAME`: the `ExecCredential` a kubeconfig
//! `exec` entry calls for, so helm and kubectl reach an EKS cluster
//! without the aws CLI. Stdout holds that one JSON document and nothing
//! else; problems go to stderr with exit 1.

use anyhow::Context as _;
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

/// Signs a token with the credentials of the stack's `[aws]` table (when a
/// stack is given) or of the environment, and prints its ExecCredential.
async fn token(ctx: &Context, args: TokenArgs) -> anyhow::Result<Exit> {
    let mut settings = match &ctx.stack {
        Some(name) => {
            let engine = ctx.engine();
            let stack = ctx.load(&engine, name)?;
            stack.settings.get("aws").cloned().unwrap_or(Value::Null)
        }
        None => Value::Null,
    };
    if let Some(region) = args.region.filter(|r| !r.is_empty()) {
        settings = with_region(settings, region);
    }
    let aws = AwsContext::new();
    let token = infra_eks::token_for(&aws, &settings, &args.cluster)
        .await
        .with_context(|| format!("cannot build a token for EKS cluster `{}`", args.cluster))?;
    ctx.shell
        .out(&format!("{}\n", infra_eks::exec_credential_json(&token)));
    Ok(Exit::Success)
}

/// The `[aws]` table with `region` set. A table of the wrong kind is left
/// as it is, for `AwsSettings` to report.
fn with_region(settings: Value, region: String) -> Value {
    match settings {
        Value::Null => [("region", Value::from(region))].into_iter().collect(),
        Value::Map(mut map) => {
            map.insert("region".to_owned(), Value::from(region));
            Value::Map(map)
        }
        other => other,
    }
}
