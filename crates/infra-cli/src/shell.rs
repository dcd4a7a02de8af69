//! The one place the CLI writes to the terminal (like cargo's `Shell`):
//! stdout for results, stderr for errors and notices. Write errors (a
//! closed pipe) are ignored rather than turned into panics.

use std::io::{IsTerminal, Write};

use crate::render::Style;

/// Where output goes and how it looks.
#[derive(Clone, Copy, Debug)]
pub struct Shell {
    /// Colours for stdout.
    pub style: Style,
    /// Colours for stderr.
    pub err_style: Style,
}

impl Shell {
    /// Colours on a terminal unless `--no-color` or `NO_COLOR` says otherwise.
    pub fn new(no_color: bool) -> Self {
        let allowed = !no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Shell {
            style: Style {
                color: allowed && std::io::stdout().is_terminal(),
            },
            err_style: Style {
                color: allowed && std::io::stderr().is_terminal(),
            },
        }
    }

    /// Writes to stdout.
    pub fn out(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// Writes to stderr.
    pub fn err(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }
}
