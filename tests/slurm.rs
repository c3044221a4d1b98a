//! The Slurm batch scripts on a real Slurm: deploy/slurm/test-local.sh starts a single-node
//! cluster on localhost and checks that sharded collect (with a task killed and requeued),
//! score and evaluate equal one process's results. Skipped, saying why, without root or
//! without Debian's slurm-wlm and munge (CI installs them).

#[test]
fn batch_scripts_on_a_local_slurm_equal_one_process() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = std::process::Command::new("bash")
        .arg(root.join("deploy/slurm/test-local.sh"))
        .arg(env!("CARGO_BIN_EXE_safe-sail"))
        .output()
        .expect("bash runs");
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.code() == Some(77) {
        eprintln!("skipping the Slurm test: {}", err.trim());
        return;
    }
    assert!(o.status.success(), "deploy/slurm/test-local.sh failed:\n{err}");
    assert!(err.contains("all Slurm checks passed"), "{err}");
}
