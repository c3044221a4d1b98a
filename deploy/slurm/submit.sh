#!/usr/bin/env bash
# Submits a Safe-SAIL Explorer run to Slurm as array jobs with dependencies.
#
#   deploy/slurm/submit.sh RUN.env STAGE...      stages: collect evaluate explain score
#   deploy/slurm/submit.sh --dry-run RUN.env ... prints the sbatch commands instead
#
# collect: an array of $SHARDS tasks (collect --shard i/$SHARDS), then merge-stores after all
#          of them succeeded (--dependency=afterok) into $WORK/stores.
# evaluate: one task per SAE in $SAES, then merge-evaluations into $WORK/eval.
# explain / score: $LLM_SHARDS tasks over the latents of $WORK/stores/$STORE_NAME into $DB,
#          after the stage before them in this submission (explain after collect, score after
#          explain).
# Prints one line per job: STAGE JOBID. Outputs and logs go under $WORK (logs/).
set -euo pipefail
dry=0
if [ "${1:-}" = --dry-run ]; then dry=1; shift; fi
env_file=${1:?usage: submit.sh [--dry-run] RUN.env STAGE...}
shift
[ $# -gt 0 ] || { echo "submit.sh: name at least one stage: collect evaluate explain score" >&2; exit 2; }
env_file=$(cd "$(dirname "$env_file")" && pwd)/$(basename "$env_file")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC1090
source "$env_file"
mkdir -p "$WORK/logs"

common=(--export="ALL,SAFE_SAIL_ENV=$env_file,SAFE_SAIL_DEPLOY=$here" --parsable
  --cpus-per-task="${CPUS_PER_TASK:-1}" --mem="${MEM_PER_TASK:-4G}")
if [ "${GPUS_PER_TASK:-0}" -gt 0 ]; then common+=(--gpus-per-task="$GPUS_PER_TASK"); fi
# shellcheck disable=SC2206
common+=(${SBATCH_ARGS:-})

n=0
submit() { # submit NAME [sbatch options...] SCRIPT
  local name=$1; shift
  # Logs: one file per array task, or per job.
  local log="$WORK/logs/%x-%j.out"
  case " $* " in *" --array="*) log="$WORK/logs/%x-%A_%a.out" ;; esac
  set -- -o "$log" "$@"
  if [ $dry = 1 ]; then
    n=$((n + 1)); echo "sbatch ${common[*]} $*" >&2; echo "$name dry$n"; last="dry$n"; return
  fi
  last=$(sbatch "${common[@]}" "$@")
  last=${last%%;*}
  echo "$name $last"
}

after_collect=""
after_explain=""
for stage in "$@"; do
  case $stage in
  collect)
    submit collect --array="0-$((SHARDS - 1))" "$here/collect.sbatch"
    submit merge-stores --dependency="afterok:$last" "$here/merge-stores.sbatch"
    after_collect=$last ;;
  evaluate)
    submit evaluate --array="0-$((${#SAES[@]} - 1))" "$here/evaluate.sbatch"
    submit merge-evaluations --dependency="afterok:$last" "$here/merge-evaluations.sbatch" ;;
  explain|score)
    dep=()
    if [ "$stage" = explain ] && [ -n "$after_collect" ]; then dep=(--dependency="afterok:$after_collect"); fi
    if [ "$stage" = score ] && [ -n "$after_explain" ]; then dep=(--dependency="afterok:$after_explain");
    elif [ "$stage" = score ] && [ -n "$after_collect" ]; then dep=(--dependency="afterok:$after_collect"); fi
    submit "$stage" --array="0-$((${LLM_SHARDS:-1} - 1))" --export="ALL,SAFE_SAIL_ENV=$env_file,SAFE_SAIL_DEPLOY=$here,LLM_TASK=$stage" \
      "${dep[@]}" "$here/llm.sbatch"
    [ "$stage" = explain ] && after_explain=$last ;;
  *) echo "submit.sh: unknown stage $stage (collect evaluate explain score)" >&2; exit 2 ;;
  esac
done
