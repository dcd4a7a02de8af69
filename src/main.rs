//! The `infra` binary: the command line over every provider in this build.

// Planning allocates many small values; mimalloc makes that markedly
// cheaper than the system allocator (see scripts/bench).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    infra_cli::main_with(infra::default_registry())
}
