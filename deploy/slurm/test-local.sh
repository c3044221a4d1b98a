#!/usr/bin/env bash
# Tests the batch scripts on a real Slurm: a single-node cluster on localhost (local-cluster.sh),
# the bundled sample model and two of its SAEs, and a small generated corpus.
#
#   deploy/slurm/test-local.sh [SAFE_SAIL_BINARY]     (default: target/release/safe-sail)
#
# 1. collect as a 3-task array + merge-stores; one task is cancelled mid-run (scancel) once it
#    has written a checkpoint, then requeued: it resumes, and the merged stores equal those of
#    one `collect` process over the whole corpus (every file but the internal state, byte for
#    byte).
# 2. score --llm baseline as a 2-task array into one database: equal, byte for byte, to one
#    `score` process.
# 3. evaluate as one task per SAE + merge-evaluations: equal to one `evaluate` process.
# Needs root and Debian's slurm-wlm and munge (`apt-get install slurm-wlm munge`; .ci/run
# installs them). Exits 77 (skipped) without them; stops every daemon it started, by PID.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$root/deploy/slurm"
bin=$(realpath "${1:-$root/target/release/safe-sail}")
[ -x "$bin" ] || { echo "test-local.sh: no binary at $bin (cargo build --release)" >&2; exit 2; }

if [ "$(id -u)" != 0 ]; then
  echo "test-local.sh: skipped: a local Slurm needs root (slurmd runs the jobs)" >&2
  exit 77
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "test-local.sh: skipped: Slurm is not installed (apt-get install slurm-wlm munge)" >&2
  exit 77
fi

t=$(mktemp -d /tmp/safe-sail-slurm.XXXXXX)
cleanup() {
  "$here/local-cluster.sh" stop "$t/cluster" || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $t" >&2; else rm -rf "$t"; fi
}
trap cleanup EXIT
eval "$("$here/local-cluster.sh" start "$t/cluster")"
say() { echo "[test-local $(date -u +%T)] $*" >&2; }
fail() { echo "test-local.sh: FAILED: $*" >&2; for f in "$t"/work/logs/*; do echo "== $f" >&2; tail -5 "$f" >&2; done; exit 1; }

# Waits until every job given is in a terminal state; prints nothing.
wait_jobs() {
  local deadline=$((SECONDS + ${WAIT_LIMIT:-600}))
  while [ $SECONDS -lt $deadline ]; do
    if ! squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING,REQUEUED -j "$(IFS=,; echo "$*")" 2>/dev/null | grep -q .; then
      return 0
    fi
    sleep 1
  done
  fail "jobs $* did not finish in ${WAIT_LIMIT:-600} s"
}
state() { squeue -h -t all -j "$1" -o %T 2>/dev/null | head -1; }
same_files() { # same_files DIR_A DIR_B: every file byte-equal but collect's internal state
  local a=$1 b=$2 f
  while IFS= read -r f; do
    case $f in */collect-state.bin) continue ;; esac
    cmp -s "$a/$f" "$b/$f" || fail "$b/$f differs from $a/$f"
  done < <(cd "$a" && find . -type f | sort)
  [ "$(cd "$a" && find . -type f | wc -l)" = "$(cd "$b" && find . -type f | wc -l)" ] \
    || fail "$a and $b hold different files"
}

sample="$root/sample_data"
saes=("$sample/saes/L1-mlp_out-w512-topk8" "$sample/saes/L2-mlp_out-w512-topk8")
"$bin" make-corpus --docs 600 --pairs 2 --seed 3 --out "$t/corpus" >/dev/null
cat > "$t/run.env" <<ENV
SAFE_SAIL=$bin
WORK=$t/work
MODEL=$sample/model
SAES=(${saes[*]})
CORPUS=$t/corpus/corpus.jsonl
SHARDS=3
COLLECT_ARGS="--batch 1 --checkpoint-every 10"
EVAL_CORPUS=$t/corpus/corpus.jsonl
EVAL_ARGS="--tokens 3000 --concept-pairs $t/corpus/concept_pairs.jsonl"
STORE_NAME=L1-mlp_out-w512-topk8
DB=$t/work/neurons.json
LLM=baseline
LLM_SHARDS=2
LLM_ARGS="--latents 0-79"
SBATCH_ARGS=""
CPUS_PER_TASK=1
MEM_PER_TASK=1G
ENV
export SOURCE_DATE_EPOCH=1764547200
sae_args=(--sae "${saes[0]}" --sae "${saes[1]}")

# 1. collect: an array of 3, one task killed and requeued, merged.
say "collect: 3 array tasks + merge-stores"
read -r _ collect < <("$here/submit.sh" "$t/run.env" collect | head -1)
merge=$((collect + 1))
victim="${collect}_1"
ckpt="$t/work/shards/1/.collect-checkpoint.bin"
deadline=$((SECONDS + 120))
until [ -f "$ckpt" ] && [ "$(state "$victim")" = RUNNING ]; do
  [ $SECONDS -lt $deadline ] || fail "task $victim never ran with a checkpoint"
  [ "$(state "$victim")" = COMPLETED ] && fail "task $victim finished before it could be killed (make the corpus larger)"
  sleep 0.2
done
say "cancelling $victim mid-run (its checkpoint is written)"
scancel "$victim"
until [ "$(state "$victim")" = CANCELLED ]; do sleep 0.2; done
[ -f "$t/work/shards/1/store.json" ] && fail "the cancelled task wrote its store"
say "requeueing $victim"
scontrol requeue "$victim"
scontrol update jobid="$victim" StartTime=now >/dev/null 2>&1 || true
wait_jobs "$collect"
[ "$(state "$victim")" = COMPLETED ] || fail "the requeued task ended $(state "$victim")"
grep -q "resuming shard 1/3 from its checkpoint" "$t/work/logs/safe-sail-collect-${collect}_1.out" \
  || fail "the requeued task did not resume from its checkpoint"
# The merge waited on the array (afterok); after the cancellation it may have been left
# unsatisfiable: then it is submitted again, as a user would.
deadline=$((SECONDS + 300))
until case "$(state "$merge")" in COMPLETED | FAILED | CANCELLED) true ;; *) false ;; esac ||
  squeue -h -j "$merge" -o %r 2>/dev/null | grep -q DependencyNeverSatisfied; do
  [ $SECONDS -lt $deadline ] || fail "merge-stores did not finish"
  sleep 1
done
if [ "$(state "$merge")" != COMPLETED ]; then
  say "merge-stores is $(state "$merge") after the cancellation: submitting it again"
  scancel "$merge" 2>/dev/null || true
  merge=$(sbatch --parsable --export="ALL,SAFE_SAIL_ENV=$t/run.env,SAFE_SAIL_DEPLOY=$here" \
    -o "$t/work/logs/merge-again.out" "$here/merge-stores.sbatch")
  wait_jobs "$merge"
  [ "$(state "$merge")" = COMPLETED ] || fail "merge-stores ended $(state "$merge")"
fi
say "collect in one process for comparison"
"$bin" collect --model "$sample/model" "${sae_args[@]}" --corpus "$t/corpus/corpus.jsonl" \
  --batch 1 --checkpoint-every 10 --out "$t/ref/stores" >/dev/null
same_files "$t/ref/stores" "$t/work/stores"
say "collect: the merged stores equal one run's"

# 2. score as 2 tasks into one database.
say "score: 2 array tasks into one database"
store="$t/work/stores/L1-mlp_out-w512-topk8"
"$bin" explain --store "$store" --db "$t/work/neurons.json" --llm baseline --latents 0-79 >/dev/null
cp "$t/work/neurons.json" "$t/ref/neurons.json"
"$bin" score --store "$store" --db "$t/ref/neurons.json" --llm baseline --latents 0-79 >/dev/null
read -r _ score < <("$here/submit.sh" "$t/run.env" score)
wait_jobs "$score"
for i in 0 1; do [ "$(state "${score}_$i")" = COMPLETED ] || fail "score task $i ended $(state "${score}_$i")"; done
cmp -s "$t/ref/neurons.json" "$t/work/neurons.json" || fail "the score shards' database differs from one run's"
say "score: the shards' database equals one run's"

# 3. evaluate, one task per SAE, merged.
say "evaluate: one task per SAE + merge-evaluations"
ids=$("$here/submit.sh" "$t/run.env" evaluate | awk '{print $2}' | paste -sd, -)
wait_jobs "$ids"
"$bin" evaluate --model "$sample/model" "${sae_args[@]}" --corpus "$t/corpus/corpus.jsonl" \
  --tokens 3000 --concept-pairs "$t/corpus/concept_pairs.jsonl" --out "$t/ref/eval" >/dev/null
for f in evaluation.json evaluation.parquet; do
  cmp -s "$t/ref/eval/$f" "$t/work/eval/$f" || fail "the merged $f differs from one run's"
done
say "evaluate: the merged evaluation equals one run's"
say "all Slurm checks passed"
