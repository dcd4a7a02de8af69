//! The `infra` binary: the command line over every provider in this build.

fn main() -> std::process::ExitCode {
    infra_cli::main_with(infra::default_registry())
}
