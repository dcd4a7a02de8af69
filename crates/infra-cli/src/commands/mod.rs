//! One module per subcommand: its clap args and an `exec` that makes one
//! engine call and renders the result.

pub mod apply;
pub mod backend;
pub mod check;
pub mod destroy;
pub mod diff;
pub mod eks;
pub mod force_unlock;
pub mod graph;
pub mod import;
pub mod output;
pub mod plan;
pub mod schema;
pub mod state;
pub mod validate;

use infra_engine::Session;

/// Releases a session's lock whatever happened in it; the first error wins.
pub(crate) async fn close<T>(session: Session<'_>, result: anyhow::Result<T>) -> anyhow::Result<T> {
    let closed = session.close().await;
    let value = result?;
    closed?;
    Ok(value)
}
