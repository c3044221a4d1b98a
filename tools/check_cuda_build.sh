#!/usr/bin/env bash
# Compile check of `cargo build --release --features cuda` on a machine without a GPU or a CUDA
# installation: NVIDIA's CUDA 13 toolchain comes from its PyPI wheels into a virtual
# environment, and the binary is linked against a stub of the driver library (libcuda.so.1),
# which a machine with a GPU provides at run time.
#
# Usage: tools/check_cuda_build.sh            (from the repository root)
# Environment (all optional):
#   CUDA_VENV          where the wheels go              (default /tmp/safe-sail-cudavenv)
#   CUDA_COMPUTE_CAP   GPU architecture for the kernels (default 90: H100/H200; 80 A100, 89 L40/4090)
#   CARGO              the cargo command                (default cargo; e.g. "flock /tmp/cargo.lock cargo")
#   CARGO_TARGET_DIR   as usual
#   SKIP_BUILD=1       only prepare the toolchain and print the environment (export lines) to
#                      build by hand: eval "$(SKIP_BUILD=1 tools/check_cuda_build.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CUDA_VENV:-/tmp/safe-sail-cudavenv}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
CARGO=${CARGO:-cargo}

# 1. The toolchain: nvcc, ptxas, fatbinary (nvidia-cuda-nvcc), cicc (nvidia-nvvm), headers and
#    libraries (runtime, cccl, cublas, curand; nvrtc comes with nvcc).
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install -q nvidia-cuda-nvcc nvidia-nvvm nvidia-cuda-runtime nvidia-cuda-cccl \
  nvidia-cublas nvidia-curand
ROOT=$("$VENV/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
[ -x "$ROOT/bin/nvcc" ] || { echo "no nvcc in $ROOT/bin" >&2; exit 1; }
[ -x "$ROOT/nvvm/bin/cicc" ] || { echo "no cicc in $ROOT/nvvm/bin (nvidia-nvvm)" >&2; exit 1; }

# 2. What the linker needs: unversioned names for the wheels' libraries, and a libcuda stub
#    exporting every driver function cudarc declares (the real driver replaces it at run time).
LIB=$ROOT/lib
for l in cublas cublasLt curand nvrtc cudart; do
  so=$(ls "$LIB"/lib$l.so.* 2>/dev/null | grep -E "lib$l\.so\.[0-9]+$" | head -1)
  [ -n "$so" ] || { echo "lib$l.so.* not found in $LIB" >&2; exit 1; }
  ln -sf "$(basename "$so")" "$LIB/lib$l.so"
done
CUDARC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* 2>/dev/null | tail -1 || true)
if [ -z "$CUDARC" ]; then $CARGO fetch >/dev/null; CUDARC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* | tail -1); fi
mkdir -p "$LIB/stubs"
grep -ohE 'load::<_F>\("cu[A-Za-z0-9_]+"\)' "$CUDARC/src/driver/sys/mod.rs" \
  | sed -E 's/.*\("(.*)"\)/int \1(void) { return 999; }/' | sort -u > "$LIB/stubs/libcuda_stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$LIB/stubs/libcuda.so" "$LIB/stubs/libcuda_stub.c"

# 3. The environment candle's build scripts read. cudarc 0.19 knows CUDA up to 13.4: the
#    wheels' 13.x toolchain is used with cudarc's 13.4 bindings (CUDARC_CUDA_VERSION).
export CUDA_ROOT=$ROOT CUDA_PATH=$ROOT CUDA_HOME=$ROOT
export PATH=$ROOT/bin:$PATH
export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13040}
export LIBRARY_PATH=$LIB:$LIB/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}
echo "nvcc: $(nvcc --version | tail -1)" >&2
echo "CUDA_ROOT=$ROOT CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION" >&2
if [ "${SKIP_BUILD:-}" = 1 ]; then
  # The environment, for `eval "$(SKIP_BUILD=1 tools/check_cuda_build.sh)"`.
  for v in CUDA_ROOT CUDA_PATH CUDA_HOME PATH CUDARC_CUDA_VERSION LIBRARY_PATH CUDA_COMPUTE_CAP; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
  exit 0
fi

# 4. The build.
start=$(date +%s)
$CARGO build --release --features cuda
echo "cargo build --release --features cuda: ok in $(( $(date +%s) - start )) s"
bin=${CARGO_TARGET_DIR:-target}/release/safe-sail
if command -v readelf >/dev/null; then
  echo "linked against: $(readelf -d "$bin" | grep -oE 'lib(cuda|cublas|cublasLt|curand|nvrtc|cudart)\.so[.0-9]*' | sort -u | tr '\n' ' ')"
fi
