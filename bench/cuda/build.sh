#!/usr/bin/env bash
# Build mgr-cli with the CUDA feature, also on a machine without a GPU, into a binary that
# links no CUDA library: it loads libcuda, libcublas, libcublasLt and libcurand when
# `--device cuda` is asked for, and starts (and runs on the CPU) where they are missing.
#
# Why a script: candle-core 0.11.1 hard-wires cudarc's `dynamic-linking`, which makes the
# loader refuse to start the binary on a machine without the CUDA libraries. This script
#   1. copies candle-core's published source (from cargo's registry cache) into the target
#      directory and switches that one cudarc feature to `dynamic-loading`, then builds with
#      `--config patch.crates-io.candle-core.path=...` (nothing of candle is committed);
#   2. resolves candle-kernels' `-lcudart` to the CUDA runtime's static library
#      (a `libcudart.a` link to `libcudart_static.a` in a search directory of its own);
#   3. checks with `ldd` that the result needs no CUDA library.
# The repository's Cargo.lock is restored afterwards (the patch changes candle-core's source).
#
# Needs: a Rust toolchain, a C++ compiler, and the CUDA compiler + headers + static runtime
# (any CUDA 12.x/13.x toolkit; match the CUDA version of the GPU driver you will run on — an
# nvcc newer than the driver emits PTX that the driver rejects). Without a system toolkit, the
# PyPI wheels provide one (about 1 GB):
#     python3 -m venv cuda-venv
#     cuda-venv/bin/pip install 'cuda-toolkit[cublas,cudart,curand,nvrtc,nvcc,cccl,crt,nvvm]==13.0.2'
#     export CUDA_ROOT=$(cuda-venv/bin/python -c \
#         'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')
#
# Usage: bench/cuda/build.sh [--cuda-root DIR] [--compute-cap CAP] [-- CARGO ARGS...]
#   --cuda-root DIR    CUDA root with bin/nvcc, include/ and lib/ or lib64/ (default: $CUDA_ROOT,
#                      else the directory above the nvcc on PATH)
#   --compute-cap CAP  GPU compute capability the kernels are compiled for, e.g. 90 for
#                      H100/H200, 89 for L4/RTX 40xx, 80 for A100 (default: $CUDA_COMPUTE_CAP,
#                      else 90). There is no GPU to ask on a build machine.
#   CARGO ARGS         what to build (default: build --release -p mgr-cli
#                      --features cuda-dynamic-loading)
# Environment: CARGO_TARGET_DIR (default: target), CUDAFORGE_THREADS (parallel nvcc jobs,
# default: all cores; the kernels take about 8 minutes on 2 cores).
set -euo pipefail

die() {
  echo "build.sh: $*" >&2
  exit 2
}

cuda_root="${CUDA_ROOT:-}"
cap="${CUDA_COMPUTE_CAP:-90}"
cargo_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cuda-root) cuda_root="${2:?--cuda-root needs a directory}"; shift 2 ;;
    --compute-cap) cap="${2:?--compute-cap needs a value}"; shift 2 ;;
    --) shift; cargo_args=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
if [ ${#cargo_args[@]} -eq 0 ]; then
  cargo_args=(build --release -p mgr-cli --features cuda-dynamic-loading)
fi

if [ -z "$cuda_root" ] && command -v nvcc >/dev/null 2>&1; then
  cuda_root="$(dirname "$(dirname "$(command -v nvcc)")")"
fi
[ -n "$cuda_root" ] || die "no CUDA root: pass --cuda-root DIR or set CUDA_ROOT (see --help)"
cuda_root="$(cd "$cuda_root" && pwd)" || die "CUDA root $cuda_root does not exist"
nvcc="$cuda_root/bin/nvcc"
[ -x "$nvcc" ] || die "$nvcc not found"
cudart_static=""
for d in lib64 lib; do
  if [ -f "$cuda_root/$d/libcudart_static.a" ]; then
    cudart_static="$cuda_root/$d/libcudart_static.a"
    break
  fi
done
[ -n "$cudart_static" ] || die "no libcudart_static.a under $cuda_root/lib64 or $cuda_root/lib"
case "$cap" in
  [0-9][0-9]|[0-9][0-9]a|[0-9][0-9][0-9]|[0-9][0-9][0-9]a) ;;
  *) die "--compute-cap $cap: expected a number such as 90 (or 90a)" ;;
esac

repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
mkdir -p "$target"
target="$(cd "$target" && pwd)"
work="$target/cuda-build"
mkdir -p "$work/link"

# 1. candle-core with cudarc's dynamic-loading, copied from cargo's registry cache.
manifest=$(cargo metadata --format-version 1 2>/dev/null |
  grep -o '"manifest_path":"[^"]*/candle-core-[0-9][0-9.]*/Cargo.toml"' | head -n 1 |
  sed 's/^"manifest_path":"//; s/"$//') || true
if [ -z "$manifest" ] || [ ! -f "$manifest" ]; then
  die "candle-core's source is not in cargo's cache; run 'cargo fetch' first"
fi
src="$(dirname "$manifest")"
version="$(basename "$src")"
patched="$work/$version"
if ! grep -q '"dynamic-loading"' "$patched/Cargo.toml" 2>/dev/null; then
  rm -rf "$patched"
  cp -a "$src" "$patched"
  chmod -R u+w "$patched"
  sed -i 's/"dynamic-linking"/"dynamic-loading"/' "$patched/Cargo.toml"
  grep -q '"dynamic-loading"' "$patched/Cargo.toml" ||
    die "$version: cudarc's dynamic-linking feature not found in its Cargo.toml"
fi
grep -q '"dynamic-linking"' "$patched/Cargo.toml" &&
  die "$patched/Cargo.toml still asks for dynamic-linking"

# 2. -lcudart (candle-kernels) resolves to the static runtime: the search directory holds
# only libcudart.a, so the linker cannot pick a shared libcudart.
ln -sf "$cudart_static" "$work/link/libcudart.a"

# 3. Build. Cargo rewrites Cargo.lock for the patched source; put it back afterwards.
lock_backup="$work/Cargo.lock.orig"
cp Cargo.lock "$lock_backup"
trap 'cp "$lock_backup" "$repo/Cargo.lock"' EXIT

export PATH="$cuda_root/bin:$PATH"
export NVCC="$nvcc"
export CUDA_COMPUTE_CAP="$cap"
export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-$(nproc)}"
export CARGO_TARGET_DIR="$target"
host="$(rustc -vV | sed -n 's/^host: //p')"
echo "build.sh: CUDA $("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), compute capability $cap, target dir $target" >&2
# The --config flags go after the subcommand: external ones (clippy) pass on only those.
cargo "${cargo_args[0]}" \
  --config "patch.crates-io.candle-core.path=\"$patched\"" \
  --config "target.$host.rustflags=[\"-L\", \"native=$work/link\"]" \
  "${cargo_args[@]:1}"

# 4. The binary must not link any CUDA library (it loads them when asked for --device cuda).
if [ "${cargo_args[0]}" = build ]; then
  profile=debug
  for a in "${cargo_args[@]}"; do
    [ "$a" = --release ] && profile=release
  done
  bin="$target/$profile/mgr-cli"
  if [ -x "$bin" ]; then
    if ldd "$bin" | grep -E 'lib(cuda|cudart|cublas|cublasLt|curand|nvrtc|cudnn)\.so'; then
      die "$bin links a CUDA library (see above)"
    fi
    echo "build.sh: $bin ($(du -m "$bin" | cut -f1) MiB), links no CUDA library:" >&2
    ldd "$bin" | sed 's/^/    /' >&2
  fi
fi
