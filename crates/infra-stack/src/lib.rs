//! Stack files: loading `stacks/<name>.toml` (with `extends` overlays,
//! `[vars]`, `${...}` interpolation, sensitive inputs and lifecycle settings)
//! into the validated [`Stack`] model the engine plans from.
//!
//! Loading never stops at the first problem: it returns every diagnostic it
//! finds, each naming file:line:col with a hint.

mod load;
mod model;

pub use load::{Loaded, load_stack};
pub use model::{
    CheckProfile, CheckSettings, Expr, Lifecycle, Part, Reference, ResourceConfig, Stack,
    StackBuilder, Timeouts, ValueLocations, Waiver,
};
