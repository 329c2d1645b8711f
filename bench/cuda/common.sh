# Shared by bench/cuda/device-check.sh and bench/cuda/e2e-scale.sh (sourced, not run).
# Expects: $work (scratch folder), $started (date +%s at the start), $BUDGET_S, and a `say`
# function for the summary.

# find_cuda_libs: put the folders holding the CUDA runtime libraries (and cuDNN) on
# LD_LIBRARY_PATH: the Python environments' NVIDIA wheels (nvidia/cu13/lib, or one folder per
# library in older wheels), else wherever a search of / finds them. libcuda comes from the
# driver. Sets lib_dirs (array) and old_ld (LD_LIBRARY_PATH before).
find_cuda_libs() {
  lib_dirs=()
  local sp lib d f
  add_dir() {
    local x
    for x in "${lib_dirs[@]:-}"; do [ "$x" = "$1" ] && return; done
    lib_dirs+=("$1")
  }
  if command -v python3 >/dev/null 2>&1; then
    for sp in $(python3 -c 'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null); do
      for lib in libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9; do
        for d in "$sp"/nvidia/cu13/lib "$sp"/nvidia/*/lib; do
          [ -e "$d/$lib" ] && { add_dir "$d"; break; }
        done
      done
    done
  fi
  if [ ${#lib_dirs[@]} -eq 0 ]; then
    while read -r f; do
      add_dir "$(dirname "$f")"
    done < <(timeout 60 find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o \
      \( -name libcublas.so.13 -o -name libcublasLt.so.13 -o -name libcurand.so.10 \
      -o -name libcudnn.so.9 \) \
      -print 2>/dev/null)
  fi
  old_ld="${LD_LIBRARY_PATH:-}"
  if [ ${#lib_dirs[@]} -gt 0 ]; then
    LD_LIBRARY_PATH="$(
      IFS=:
      echo "${lib_dirs[*]}"
    )${old_ld:+:$old_ld}"
    export LD_LIBRARY_PATH
  fi
}

# run_step NAME LIMIT_S STDOUT_FILE CMD...: stdout to the file, stderr to $work/NAME.err and
# the log ($log, if set); sets STEP_S (wall seconds) and returns the command's exit code (124:
# timed out; 125: skipped because the run has used BUDGET_S seconds).
run_step() {
  local name=$1 limit=$2 outfile=$3
  shift 3
  STEP_S=0
  local left=$((BUDGET_S - ($(date +%s) - started)))
  if [ "$left" -le 5 ]; then
    say "$name: SKIPPED (time budget of ${BUDGET_S} s used up)"
    return 125
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local to_log="${log:-/dev/null}"
  echo "== $name (limit ${limit} s): $*" >>"$to_log"
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout -k 5 "$limit" "$@" >"$outfile" 2>"$work/$name.err"
  rc=$?
  t1=$(date +%s.%N)
  STEP_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  head -c 20000 "$work/$name.err" >>"$to_log"
  echo "-- $name: exit $rc, ${STEP_S} s" >>"$to_log"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    say "$name: TIMED OUT after ${limit} s"
  fi
  return "$rc"
}

# clip_tree DIR COPIES: COPIES folders of links to the carried GTZAN clips ($carry/gtzan).
clip_tree() {
  local i f
  for i in $(seq -w 1 "$2"); do
    mkdir -p "$1/$i"
    for f in "$carry"/gtzan/*.flac; do
      ln -s "$(readlink -f "$f")" "$1/$i/$(basename "$f")"
    done
  done
}

# same_labels A.csv B.csv: how many songs `classify --csv` labelled alike in both files.
same_labels() {
  paste -d'|' <(cut -d, -f1,3 "$1") <(cut -d, -f1,3 "$2") |
    awk -F'|' 'NR > 1 && $1 == $2 && $1 != "" { n++ } END { print n + 0 }'
}
