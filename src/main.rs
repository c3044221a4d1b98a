//! `safe-sail`: the Safe-SAIL Explorer command line.

mod cli;

// Tensors are large and short-lived; mimalloc reuses their pages instead of mapping and
// faulting in fresh ones for every op as the system allocator does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
