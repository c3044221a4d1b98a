#!/usr/bin/env bash
# Everything to check on a machine with an NVIDIA GPU, in one go, results in one file:
#   1. build with `--features cuda` (the system's CUDA toolkit if `nvcc` is on PATH, else
#      NVIDIA's PyPI wheels through tools/check_cuda_build.sh);
#   2. the reference tests (tests/reference.rs) on cuda:0 — f32 to 1e-3 of each tensor's scale
#      (1e-4 on the CPU), bf16 to 5e-2 as on the CPU;
#   3. the paper-scale benchmark (`bench --preset qwen2.5-3b`) on cuda:0 against PyTorch CUDA
#      in the same run (needs a Python with torch + transformers + safetensors: $TORCH_PY).
#
# Usage: tools/gpu_check.sh [RESULTS_FILE]      (default gpu_check_results.txt)
# Environment: TORCH_PY (default tools/.venv/bin/python), BENCH_DIR (where the benchmark writes
# its 7.9 GB of random weights; default a temporary folder, removed afterwards), CARGO.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-gpu_check_results.txt}")
TORCH_PY=${TORCH_PY:-tools/.venv/bin/python}
CARGO=${CARGO:-cargo}
: > "$OUT"
log() { echo "$*" | tee -a "$OUT"; }
run() { log "\$ $*"; "$@" 2>&1 | tee -a "$OUT"; local rc=${PIPESTATUS[0]}; log "exit $rc"; return $rc; }

log "# safe-sail GPU check, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null)"
run nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv || { log "no GPU"; exit 1; }
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-$cap}

# 1. Build: the system's CUDA toolkit if nvcc is on PATH, else NVIDIA's wheels (the real
#    driver, libcuda.so.1, comes from the system at run time; cuBLAS, cuRAND, NVRTC and the
#    runtime from the wheels).
if ! command -v nvcc >/dev/null; then
  eval "$(SKIP_BUILD=1 tools/check_cuda_build.sh)" || { log "cannot prepare the CUDA wheels"; exit 1; }
  export LD_LIBRARY_PATH=$CUDA_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
run $CARGO build --release --features cuda || exit 1

# 2. The reference tests on the GPU.
SAFE_SAIL_TEST_DEVICE=cuda:0 run $CARGO test --release --features cuda --test reference
tests_rc=$?

# 3. The paper-scale benchmark against PyTorch CUDA, bf16, same folder, same run.
bin=${CARGO_TARGET_DIR:-target}/release/safe-sail
torch_arg=()
if "$TORCH_PY" -c 'import torch, transformers, safetensors; assert torch.cuda.is_available()' 2>/dev/null; then
  torch_arg=(--torch "$TORCH_PY")
else
  log "no CUDA PyTorch at $TORCH_PY: our side only"
fi
dir_arg=()
[ -n "${BENCH_DIR:-}" ] && dir_arg=(--dir "$BENCH_DIR")
run "$bin" bench --preset qwen2.5-3b --device cuda:0 --dtype bf16 "${dir_arg[@]}" "${torch_arg[@]}"
bench_rc=$?
log "# done: reference tests exit $tests_rc, benchmark exit $bench_rc; results in $OUT"
