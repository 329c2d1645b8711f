#!/usr/bin/env bash
# Where the end-to-end time of `classify --device cuda` goes on a GPU machine, and how it
# scales with the size of the library: the fixed cost (start-up, CUDA and cuDNN set-up, model
# load) from a one-file run, then libraries of 1,000 files (both resamplers) and 5,000 files
# (Fast) made of the carried GTZAN clips linked again and again, on the CPU (all cores) and on
# CUDA, and the library benchmark (500 files) with its stage reference. Run after bench/cuda/device-check.sh, with the same
# carry folder:
#     OUT=/some/dir bench/cuda/e2e-scale.sh [CARRY_DIR]
# Writes $OUT/scale.txt (and prints it).
set -u
carry="${1:-target/cuda-carry}"
OUT="${OUT:-$PWD/device-out}"
mkdir -p "$OUT"
bin="$carry/mgr-cli"
threads=$(nproc)
out="$OUT/scale.txt"
: >"$out"
for sp in $(python3 -c 'import site; print("\n".join(site.getsitepackages()))' 2>/dev/null); do
  for d in "$sp"/nvidia/cu13/lib "$sp"/nvidia/cudnn/lib; do
    [ -d "$d" ] && LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  done
done
export LD_LIBRARY_PATH
work=$(mktemp -d)
tree() { # tree DIR COPIES
  for i in $(seq -w 1 "$2"); do
    mkdir -p "$1/$i"
    for f in "$carry"/gtzan/*.flac; do ln -s "$(readlink -f "$f")" "$1/$i/$(basename "$f")"; done
  done
}
timed() { # timed LABEL CMD... : one line with the wall time and exit code
  local t0 t1 rc label="$1"
  shift
  t0=$(date +%s.%N)
  timeout -k 5 240 "$@" >"$work/last.out" 2>"$work/last.err"
  rc=$?
  t1=$(date +%s.%N)
  printf '%-58s exit %s  %6.2f s\n' "$label" "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" >>"$out"
}
one=$(find "$carry/gtzan" -name '*.flac' | sort | head -n 1)
echo "GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null); $threads cores" >>"$out"
timed "1 file, cpu" "$bin" classify --resampler fast --threads "$threads" "$one"
timed "1 file, cuda" "$bin" classify --resampler fast --device cuda --threads "$threads" "$one"
tree "$work/t1000" 50
tree "$work/t5000" 250
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
[ -n "${SKIP_BENCH:-}" ] || timeout -k 5 200 "$bin" bench --stage library --files 500 --device cuda --batch 256 \
  --threads "$threads" "$carry/gtzan" >>"$out" 2>>"$work/bench.err" || echo "library bench: exit $?" >>"$out"
tail -n 5 "$work/bench.err" >>"$out"
cat "$out"
rm -rf "$work"
