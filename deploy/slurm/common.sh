# shellcheck shell=bash disable=SC2034
# Sourced by the batch scripts: reads the run's env file, checks it, and offers helpers.
set -euo pipefail
: "${SAFE_SAIL_ENV:?set SAFE_SAIL_ENV to the env file of the run (submit.sh does)}"
# shellcheck disable=SC1090
source "$SAFE_SAIL_ENV"
for v in SAFE_SAIL WORK MODEL; do
  [ -n "${!v:-}" ] || { echo "$SAFE_SAIL_ENV: $v is not set" >&2; exit 2; }
done
DEVICE=${DEVICE:-cpu}
DTYPE=${DTYPE:-f32}
task=${SLURM_ARRAY_TASK_ID:-0}
count=${SLURM_ARRAY_TASK_COUNT:-1}
model_args=(--model "$MODEL" --device "$DEVICE" --dtype "$DTYPE")
sae_args=()
for s in "${SAES[@]}"; do sae_args+=(--sae "$s"); done
log() { echo "[$(date -u +%FT%TZ) task $task/$count restart ${SLURM_RESTART_COUNT:-0}] $*" >&2; }
