//! A workspace as a cluster run: the env file `deploy/slurm/submit.sh` reads, with the
//! workspace's model, SAEs, dtype and device filled in and every path made absolute (batch
//! tasks start elsewhere).

use super::Workspace;
use std::fmt::Write as _;
use std::path::Path;

/// Quotes `s` for bash (single quotes; a single quote inside as `'\''`).
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The SAE argument of entry `i` (`PATH[,key=value...]`) with its path made absolute.
fn absolute_sae(ws: &Workspace, i: usize) -> String {
    let given = &ws.saes[i].sae;
    let (path, opts) = match given.split_once(',') {
        Some((p, o)) => (p, format!(",{o}")),
        None => (given.as_str(), String::new()),
    };
    format!("{}{opts}", absolute(&ws.resolve(path)).display())
}

/// `p` made absolute against the working directory (as it is when relative to it).
fn absolute(p: &Path) -> std::path::PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The env file of a Slurm run over this workspace: `binary` runs in every task, `work` holds
/// every output. The corpus, shard counts and scheduler options are left as commented
/// defaults to edit.
pub fn slurm_env(ws: &Workspace, binary: &Path, work: &Path) -> String {
    let mut o = String::new();
    let name = ws.name.as_str();
    let _ = writeln!(
        o,
        "# Safe-SAIL Explorer on Slurm: the workspace {}",
        ws.file
            .as_ref()
            .map_or(name.to_string(), |f| format!("{name} ({})", f.display()))
    );
    o.push_str(
        "# Edit the corpus, the counts and the scheduler options, then:\n\
         #   deploy/slurm/submit.sh THIS_FILE collect evaluate explain score\n\
         # (deploy/slurm/safe-sail.env.example explains every variable.)\n\n",
    );
    let _ = writeln!(o, "SAFE_SAIL={}", sh(&binary.display().to_string()));
    let _ = writeln!(o, "WORK={}", sh(&work.display().to_string()));
    // A local folder made absolute; a hub id as given.
    let model = ws.model_spec();
    let model = if Path::new(&model).exists() {
        absolute(Path::new(&model)).display().to_string()
    } else {
        model
    };
    let _ = writeln!(o, "MODEL={}", sh(&model));
    o.push_str("SAES=(\n");
    for (i, s) in ws.saes.iter().enumerate() {
        let _ = writeln!(
            o,
            "  {}  # {}",
            sh(&absolute_sae(ws, i)),
            s.name.replace('\n', " ")
        );
    }
    o.push_str(")\n");
    let _ = writeln!(o, "DEVICE={}", sh(&ws.device));
    let _ = writeln!(o, "DTYPE={}", sh(&ws.dtype));
    o.push_str(
        "\n# collect\n\
         CORPUS=/path/to/corpus.jsonl\n\
         SHARDS=8\n\
         COLLECT_ARGS=\"--context 64 --batch 8 --checkpoint-every 500\"\n\
         \n# evaluate (one task per SAE above)\n\
         EVAL_CORPUS=/path/to/general.jsonl\n\
         EVAL_ARGS=\"--tokens 100000\"\n\
         \n# explain / score: the store of one SAE (a folder under $WORK/stores)\n",
    );
    // The store folder collect gives the first SAE.
    let first_store = (!ws.saes.is_empty())
        .then(|| absolute_sae(ws, 0))
        .and_then(|s| {
            crate::store::run::store_name_of_path(Path::new(
                s.split(',').next().unwrap_or_default(),
            ))
        })
        .unwrap_or_default();
    let _ = writeln!(o, "STORE_NAME={}", sh(&first_store));
    o.push_str(
        "DB=$WORK/neurons.json\n\
         LLM=baseline\n\
         ENDPOINT=http://localhost:8000/v1\n\
         LLM_SHARDS=4\n\
         LLM_ARGS=\"--concurrency 4\"\n\
         \n# the scheduler\n\
         SBATCH_ARGS=\"--time=12:00:00\"\n\
         CPUS_PER_TASK=8\n\
         MEM_PER_TASK=32G\n",
    );
    let gpu = ws.device.starts_with("cuda");
    let _ = writeln!(o, "GPUS_PER_TASK={}", u8::from(gpu));
    if gpu {
        o.push_str("# Each task sees its GPU as device 0.\nDEVICE=cuda:0\n");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_bash() {
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), r"'it'\''s'");
    }
}
