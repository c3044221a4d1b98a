//! `safe-sail`: the Safe-SAIL Explorer command line.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
