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
    assert!(
        o.status.success(),
        "deploy/slurm/test-local.sh failed:\n{err}"
    );
    assert!(err.contains("all Slurm checks passed"), "{err}");
}

/// `workspace slurm-env`: the env file of a workspace sources in bash with the workspace's
/// model and every SAE (absolute paths), and submit.sh accepts it.
#[test]
fn a_workspace_becomes_a_slurm_env_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("run.env");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_safe-sail"))
        .current_dir(root)
        .args(["workspace", "slurm-env", "sample_data/sample.sail.json"])
        .args(["--work", &tmp.path().join("work").display().to_string()])
        .args(["--out", &env.display().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ws =
        safe_sail::workspace::Workspace::load(&root.join("sample_data/sample.sail.json")).unwrap();
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"set -eu; source "$1"; echo "${#SAES[@]}"; echo "$MODEL"; echo "${SAES[0]}""#)
        .arg("-")
        .arg(&env)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], ws.saes.len().to_string());
    assert!(
        std::path::Path::new(lines[1]).join("config.json").exists(),
        "{}",
        lines[1]
    );
    assert!(
        std::path::Path::new(lines[2]).is_absolute() && std::path::Path::new(lines[2]).exists(),
        "{}",
        lines[2]
    );
    // submit.sh takes it (a dry run needs no Slurm).
    let o = std::process::Command::new("bash")
        .arg(root.join("deploy/slurm/submit.sh"))
        .args([
            "--dry-run",
            &env.display().to_string(),
            "collect",
            "evaluate",
        ])
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&o.stdout);
    let se = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{se}");
    assert!(
        so.contains("collect ") && so.contains("merge-evaluations "),
        "{so}"
    );
    assert!(
        se.contains(&format!("--array=0-{}", ws.saes.len() - 1)),
        "{se}"
    );
}
