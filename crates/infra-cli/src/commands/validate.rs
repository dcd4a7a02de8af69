//! `infra validate`: load and check the stack, touching neither state nor
//! the cloud.

use crate::{Context, Exit, json};

/// Prints every problem and whether the stack is valid.
pub fn exec(ctx: &Context) -> anyhow::Result<Exit> {
    let name = ctx.stack_name()?;
    let engine = ctx.engine();
    let diagnostics = match engine.load(&ctx.root, name) {
        Ok((stack, mut warnings)) => {
            warnings.extend(engine.check(&stack));
            warnings
        }
        Err(d) => d,
    };
    let valid = !diagnostics.iter().any(|d| d.is_error());
    if ctx.json {
        ctx.shell
            .out(&json::to_pretty(&json::Validation::new(&diagnostics)));
    } else {
        ctx.diagnostics(&diagnostics);
        if valid {
            ctx.shell.out("The stack is valid.\n");
        }
    }
    Ok(if valid { Exit::Success } else { Exit::Failure })
}
