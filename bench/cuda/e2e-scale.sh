#!/usr/bin/env bash
# Where the end-to-end time of `classify --device cuda` goes on a GPU machine, and how it
# scales with the size of the library: the fixed cost (start-up, CUDA and cuDNN set-up, model
# load) from a one-file run, then libraries of 1,000 files (both resamplers) and 5,000 files
# (Fast) made of the carried GTZAN clips linked again and again, on the CPU (all cores) and on
# CUDA, and the library benchmark (500 files) with its stage reference. Run after
# bench/cuda/device-check.sh, with the same carry folder:
#     OUT=/some/dir bench/cuda/e2e-scale.sh [CARRY_DIR]
# Writes $OUT/scale.txt (and prints it). SKIP_BENCH=1 leaves out the library benchmark;
# BUDGET_S (default 280) bounds the whole run.
set -u
carry="${1:-target/cuda-carry}"
OUT="${OUT:-$PWD/device-out}"
BUDGET_S="${BUDGET_S:-280}"
mkdir -p "$OUT"
bin="$carry/mgr-cli"
threads=$(nproc)
out="$OUT/scale.txt"
: >"$out"
work=$(mktemp -d)
started=$(date +%s)
say() { echo "$*" >>"$out"; }
# shellcheck source=bench/cuda/common.sh
. "$(dirname "$0")/common.sh"
find_cuda_libs

timed() { # timed NAME CMD...: one line with the wall time and exit code
  local name=$1
  shift
  run_step "$name" 240 /dev/null "$@"
  printf '%-58s exit %s  %6.2f s\n' "$name" "$?" "$STEP_S" >>"$out"
}
one=$(find "$carry/gtzan" -name '*.flac' | sort | head -n 1)
say "GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null); $threads cores"
timed "1 file, cpu" "$bin" classify --resampler fast --threads "$threads" "$one"
timed "1 file, cuda" "$bin" classify --resampler fast --device cuda --threads "$threads" "$one"
clip_tree "$work/t1000" 50
clip_tree "$work/t5000" 250
for n in 1000 5000; do
  resamplers="fast reference"
  [ "$n" = 5000 ] && resamplers="fast"
  for res in $resamplers; do
    timed "$n files, --resampler $res, cpu" "$bin" classify --csv --resampler "$res" \
      --threads "$threads" "$work/t$n"
    timed "$n files, --resampler $res, cuda --batch 256" "$bin" classify --csv \
      --resampler "$res" --device cuda --batch 256 --threads "$threads" "$work/t$n"
  done
done
if [ -z "${SKIP_BENCH:-}" ]; then
  run_step library-bench 200 "$work/bench.out" "$bin" bench --stage library --files 500 \
    --device cuda --batch 256 --threads "$threads" "$carry/gtzan"
  rc=$?
  cat "$work/bench.out" >>"$out"
  [ "$rc" -eq 0 ] || { say "library bench: exit $rc"; tail -n 5 "$work/library-bench.err" >>"$out"; }
fi
cat "$out"
rm -rf "$work"
