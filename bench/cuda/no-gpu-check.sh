#!/usr/bin/env bash
# What a CUDA build of mgr-cli does on a machine without a (usable) GPU, in four cases:
#   1. it starts and runs on the CPU with no CUDA library anywhere;
#   2. --device cuda without a driver: one line on stderr, exit code 2;
#   3. a driver but no cuBLAS/cuRAND: one line naming them, exit code 2;
#   4. a driver and all libraries but no GPU: candle's error in one line, exit code 2.
# Cases 3 and 4 use a stand-in libcuda.so.1 compiled here whose cuInit reports "no CUDA-capable
# device" (CUDA_ERROR_NO_DEVICE); case 4 also needs the CUDA runtime libraries (LIB_DIR).
#
# Usage: bench/cuda/no-gpu-check.sh BINARY [LIB_DIR]
#   LIB_DIR  folder with libcublas.so.13, libcublasLt.so.13, libcurand.so.10 (e.g.
#            $CUDA_ROOT/lib of the pip toolkit in bench/cuda/build.sh); case 4 is skipped without
# Needs a C compiler and the data pack at ../shared (MGR_SHARED). Exit code 1 if a case fails.
set -uo pipefail
bin="$(readlink -f "${1:?usage: no-gpu-check.sh BINARY [LIB_DIR]}")"
lib_dir="${2:+$(readlink -f "$2")}"
cd "$(dirname "$0")/../.." || exit 2
clip="$(readlink -f "${MGR_SHARED:-../shared}")/audio/bensound/bensound-cute.mp3"
if [ -e /dev/nvidia0 ]; then
  echo "no-gpu-check.sh: this machine has a GPU; run bench/cuda/device-check.sh instead" >&2
  exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0

# expect NAME CODE PATTERN [ENV...] -- ARGS...: exit code CODE, and for code 2 exactly one
# line on stderr that matches PATTERN.
expect() {
  local name=$1 want=$2 pattern=$3
  shift 3
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" "$bin" "$@" >"$work/out" 2>"$work/err"
  local rc=$? lines
  lines=$(wc -l <"$work/err")
  if [ "$rc" -eq "$want" ] && { [ "$want" -ne 2 ] || [ "$lines" -eq 1 ]; } &&
    grep -qE "$pattern" "$work/err" "$work/out"; then
    echo "ok    $name: exit $rc: $(head -n 1 "$work/err" "$work/out" | grep -v '^==>' | grep . | head -n 1)"
  else
    echo "FAIL  $name: exit $rc (want $want), $lines line(s) on stderr:"
    sed 's/^/      /' "$work/err" | head -n 20
    failed=1
  fi
}

# A stand-in for the driver's library: cuInit says there is no device.
cat >"$work/cuda_stub.c" <<'EOF'
/* CUresult values from cuda.h: CUDA_SUCCESS 0, CUDA_ERROR_NO_DEVICE 100. */
int cuInit(unsigned int flags) { (void)flags; return 100; }
int cuGetErrorString(int error, const char **str) {
  *str = error == 100 ? "no CUDA-capable device is detected" : "unknown error";
  return 0;
}
int cuGetErrorName(int error, const char **str) {
  *str = error == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN";
  return 0;
}
EOF
mkdir -p "$work/driver"
cc -shared -fPIC -o "$work/driver/libcuda.so.1" "$work/cuda_stub.c" || exit 2

echo "$bin: $(ldd "$bin" | grep -cE 'lib(cuda|cudart|cublas|cublasLt|curand|nvrtc)\.so') CUDA libraries linked"
expect "1 runs on the CPU without CUDA" 0 'classical' LD_LIBRARY_PATH= -- classify "$clip"
expect "2 --device cuda, no driver" 2 '^error: device cuda is not available: cannot load libcuda' \
  LD_LIBRARY_PATH= -- classify --device cuda "$clip"
expect "3 driver, no cuBLAS/cuRAND" 2 'cannot load libcublas, libcublasLt, libcurand;' \
  LD_LIBRARY_PATH="$work/driver" -- tag --device cuda "$clip"
if [ -n "$lib_dir" ]; then
  expect "4 driver and libraries, no GPU" 2 'no CUDA-capable device' \
    LD_LIBRARY_PATH="$work/driver:$lib_dir" -- bench --device cuda "$clip"
else
  echo "skip  4 (no LIB_DIR given)"
fi
exit "$failed"
