#!/usr/bin/env bash
# One prepared run on a GPU machine: proves that the CUDA build gives the CPU's answers and
# measures what the GPU buys. Run from the repository root with the folder made by
# bench/cuda/pack.sh (the CUDA mgr-cli + 4 bensound clips + 20 GTZAN clips):
#
#     OUT=/some/dir bench/cuda/device-check.sh [CARRY_DIR]      (default: target/cuda-carry)
#
# Writes into $OUT (default: ./device-out), at most 8 files:
#   summary.txt   what is printed at the end
#   env.txt       nvidia-smi, ldd, library folders, versions
#   log.txt       every command, its stderr, exit code and wall time
#   parity.json   (a) all three models on CUDA against the CPU, batch 1, 4, 8, 64 and 256
#   outputs.txt   (b) classify/tag --device cuda vs cpu on the bensound clips, 20 GTZAN labels;
#                 with stack.safetensors in the carry (pack.sh STACK_MODEL), that model too
#   bench.json    (c) `mgr-cli bench --stage network --json` outputs by run: cpu-64 (CPU,
#                 --net-batch 64), cuda-8, cuda-64, cuda-256 (each also has batch 1)
#   e2e.txt       (c) classify over 1,000 files: CPU (all cores) vs CUDA, labels compared
#   gpu-mem.csv   GPU memory in use every 200 ms during the parity and bench steps
# Every step has a time limit, a failing step does not stop the others, and steps are skipped
# once the whole run has used BUDGET_S seconds (default 270). Also: PARITY_BATCHES (default
# 1,4,8,64,256), E2E_BATCH (--batch of the CUDA end-to-end run, default 256), E2E_COPIES
# (copies of the 20 clips, default 50).
set -u

carry="${1:-target/cuda-carry}"
OUT="${OUT:-$PWD/device-out}"
BUDGET_S="${BUDGET_S:-270}"
E2E_BATCH="${E2E_BATCH:-256}"
E2E_COPIES="${E2E_COPIES:-50}"
mkdir -p "$OUT"
bin="$carry/mgr-cli"
summary="$OUT/summary.txt"
log="$OUT/log.txt"
: >"$summary"
: >"$log"
work="$(mktemp -d)"
started=$(date +%s)
threads=$(nproc)

say() { echo "$*" >>"$summary"; }
# shellcheck source=bench/cuda/common.sh
. "$(dirname "$0")/common.sh"

have_python=0
command -v python3 >/dev/null 2>&1 && have_python=1

# --- environment -----------------------------------------------------------------------
say "mgr CUDA device check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [ ! -x "$bin" ]; then
  say "no executable $bin: run bench/cuda/pack.sh and carry $carry"
  cat "$summary"
  exit 2
fi
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null)
say "GPU: ${gpu:-nvidia-smi failed}; CPU: $threads cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"

find_cuda_libs
say "CUDA libraries: ${lib_dirs[*]:-not found, left to the default library paths}"
{
  nvidia-smi
  echo
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  for d in "${lib_dirs[@]:-}"; do [ -n "$d" ] && ls -l "$d"; done
  echo
  ldd "$bin"
  echo
  "$bin" --version
  ls -l "$bin"
} >"$OUT/env.txt" 2>&1

# GPU memory in use, sampled while the parity and bench steps run.
mem_watch() {
  nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 200 \
    >>"$OUT/gpu-mem.csv" 2>/dev/null &
  MEM_PID=$!
}
mem_stop() { kill "$MEM_PID" 2>/dev/null; wait "$MEM_PID" 2>/dev/null; }
: >"$OUT/gpu-mem.csv"

# --- 0. a driver but no cuBLAS: one line, exit 2 ---------------------------------------
run_step no-cublas 30 "$work/no-cublas.out" env LD_LIBRARY_PATH="$old_ld" \
  "$bin" tag --device cuda "$carry/bensound/bensound-cute.mp3"
rc=$?
if [ "$rc" -eq 2 ] && [ "$(wc -l <"$work/no-cublas.err")" -eq 1 ]; then
  say "0 without the CUDA runtime libraries on LD_LIBRARY_PATH: exit 2, one line: $(cat "$work/no-cublas.err")"
elif [ "$rc" -eq 0 ]; then
  say "0 without LD_LIBRARY_PATH the loader still finds cuBLAS (system install): case not testable here"
else
  say "0 FAIL: without cuBLAS: exit $rc, $(wc -l <"$work/no-cublas.err") line(s) on stderr (log.txt)"
fi

# --- (a) parity: every model, batch 1/4/8/64/256, CUDA vs the CPU's fused kernels -------------
mem_watch
run_step parity 120 "$OUT/parity.json" "$bin" parity --device cuda --batches "${PARITY_BATCHES:-1,4,8,64,256}" \
  --threads "$threads" --json "$carry/gtzan"
rc=$?
mem_stop
say "(a) parity on CUDA, $STEP_S s, exit $rc (0 = every model at every batch within 1e-4):"
if [ "$have_python" = 1 ] && [ -s "$OUT/parity.json" ]; then
  python3 - "$OUT/parity.json" >>"$summary" 2>>"$log" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
for r in doc["rows"]:
    print(f'    {r["model"]:<6} batch {r["batch"]:>4}: worst |cuda - cpu| = {r["worst_abs_diff"]:.2e}, '
          f'same top label {r["same_top_label"]}/{r["frames"]}  {"ok" if r["pass"] else "FAIL"}')
EOF
else
  tail -n 5 "$work/parity.err" | sed 's/^/    /' >>"$summary"
fi

# --- (b) the commands users run: CUDA vs CPU ------------------------------------------------
outputs="$OUT/outputs.txt"
: >"$outputs"
for dev in cpu cuda; do
  run_step "classify-bensound-$dev" 60 "$work/classify-bensound-$dev.json" "$bin" classify --json \
    --device "$dev" --threads "$threads" "$carry/bensound"
  echo "classify bensound --device $dev: exit $?, $STEP_S s" >>"$outputs"
  for m in crnn fcn; do
    run_step "tag-$m-$dev" 60 "$work/tag-$m-$dev.json" "$bin" tag --model "$m" --top 50 --json \
      --device "$dev" --threads "$threads" "$carry/bensound"
    echo "tag --model $m bensound --device $dev: exit $?, $STEP_S s" >>"$outputs"
  done
  run_step "classify-gtzan-$dev" 60 "$work/classify-gtzan-$dev.json" "$bin" classify --json \
    --device "$dev" --threads "$threads" "$carry/gtzan"
  echo "classify 20 GTZAN clips --device $dev: exit $?, $STEP_S s" >>"$outputs"
  if [ -f "$carry/stack.safetensors" ]; then
    run_step "classify-stack-$dev" 60 "$work/classify-stack-$dev.json" "$bin" classify --json \
      --model "$carry/stack.safetensors" --device "$dev" --threads "$threads" "$carry/gtzan" \
      "$carry/bensound"
    echo "classify --model stack.safetensors, 24 clips --device $dev: exit $?, $STEP_S s" >>"$outputs"
  fi
done
if [ "$have_python" = 1 ]; then
  python3 - "$work" >>"$outputs" 2>>"$log" <<'EOF'
import json, os, sys
w = sys.argv[1]
def load(name):
    try:
        return json.load(open(os.path.join(w, name)))
    except Exception:
        return None
def scores(item):
    if "scores" in item:
        return item["label"], item["scores"]
    tags = {t: s for t, s in item.get("tags", [])}
    return max(tags, key=tags.get) if tags else None, tags
verdicts = []
for what, limit in [("classify-bensound", 1e-4), ("tag-crnn", 1e-4), ("tag-fcn", 1e-4),
                    ("classify-gtzan", None), ("classify-stack", 1e-4)]:
    cpu, cuda = load(f"{what}-cpu.json"), load(f"{what}-cuda.json")
    if what == "classify-stack" and cpu is None and cuda is None:
        continue
    if cpu is None or cuda is None:
        verdicts.append(f"{what}: MISSING (a run failed, see log.txt)"); continue
    cuda_by = {os.path.basename(i["path"]): i for i in cuda}
    worst, same, n, errors = 0.0, 0, 0, 0
    for i in cpu:
        j = cuda_by.get(os.path.basename(i["path"]))
        if j is None or "error" in i or "error" in j:
            errors += 1; continue
        (li, si), (lj, sj) = scores(i), scores(j)
        n += 1
        same += li == lj
        for k, v in si.items():
            worst = max(worst, abs(v - sj.get(k, float("inf"))))
    ok = errors == 0 and same == n and (limit is None or worst <= limit)
    verdicts.append(f"{what}: {n} files, same label {same}/{n}, worst |cuda - cpu| of the printed "
                    f"(4-decimal) scores {worst:.4f}, errors {errors}  {'ok' if ok else 'FAIL'}")
print("\n".join(verdicts))
EOF
else
  for what in classify-bensound tag-crnn tag-fcn classify-gtzan; do
    if cmp -s "$work/$what-cpu.json" "$work/$what-cuda.json"; then
      echo "$what: identical output" >>"$outputs"
    else
      echo "$what: outputs differ (no python3 to compare numbers)" >>"$outputs"
    fi
  done
fi
say "(b) classify/tag --device cuda vs cpu:"
grep -E 'ok$|FAIL$|MISSING|identical|differ' "$outputs" | sed 's/^/    /' >>"$summary"

# --- (c1) forward speed per frame -----------------------------------------------------------
clip="$(find "$carry/gtzan" -name '*.flac' | sort | head -n 1)"
mem_watch
run_step bench-cpu-64 90 "$work/bench-cpu-64.json" "$bin" bench --stage network --net-batch 64 \
  --threads "$threads" --json "$clip"
for nb in 8 64 256; do
  run_step "bench-cuda-$nb" 90 "$work/bench-cuda-$nb.json" "$bin" bench --device cuda \
    --stage network --net-batch "$nb" --reps 5 --json "$clip"
done
# What TF32 tensor cores would buy (not what mgr runs: it asks for strict float32).
run_step bench-cuda-256-tf32 90 "$work/bench-cuda-256-tf32.json" env NVIDIA_TF32_OVERRIDE=1 \
  "$bin" bench --device cuda --stage network --net-batch 256 --reps 5 --json "$clip" &&
  grep -h '"id"\|"ms"' "$work/bench-cuda-256-tf32.json" | paste - - | sed 's/^/    tf32 /' >>"$log"
mem_stop
{
  echo "{"
  sep=""
  for f in cpu-64 cuda-8 cuda-64 cuda-256; do
    [ -s "$work/bench-$f.json" ] || continue
    printf '%s"%s": ' "$sep" "$f"
    cat "$work/bench-$f.json"
    sep=","
  done
  echo "}"
} >"$OUT/bench.json"
say "(c) forward pass per frame (ms; CPU: $threads threads):"
if [ "$have_python" = 1 ]; then
  python3 - "$OUT/bench.json" "$OUT/gpu-mem.csv" >>"$summary" 2>>"$log" <<'EOF'
import json, sys
docs = json.load(open(sys.argv[1]))
cpu = {s["id"]: s["ms"] for s in docs.get("cpu-64", {}).get("stages", [])}
cuda = {}
for key, d in docs.items():
    if key.startswith("cuda"):
        for s in d["stages"]:
            cuda[s["id"]] = min(s["ms"], cuda.get(s["id"], float("inf")))
for net in ["fcn", "crnn"]:
    base = cpu.get(f"{net}_b64")
    parts = [f"cpu b64 {base:.2f}" if base else "cpu b64 ?"]
    for b in [1, 8, 64, 256]:
        v = cuda.get(f"{net}_b{b}")
        if v:
            parts.append(f"cuda b{b} {v:.3f}" + (f" ({base / v:.1f}x)" if base else ""))
    print(f"    {net.upper():<5} " + ", ".join(parts))
try:
    peak = max(int(l.split(",")[1]) for l in open(sys.argv[2]) if l.count(",") == 1)
    print(f"    peak GPU memory in use during parity and bench: {peak} MiB")
except Exception:
    pass
EOF
else
  grep -h '"id"\|"ms"' "$OUT/bench.json" | paste - - | sed 's/^/    /' >>"$summary"
fi

# --- (c2) end to end over 1,000 files (the 20 clips, E2E_COPIES = 50 times) ------------------
tree="$work/tree"
clip_tree "$tree" "$E2E_COPIES"
n_files=$(find "$tree" -name '*.flac' | wc -l)
e2e="$OUT/e2e.txt"

# e2e_pair RESAMPLER: classify the tree on the CPU (all cores) and on CUDA, labels compared.
e2e_pair() {
  local res=$1 cpu_rc cpu_s cuda_rc cuda_s same speedup
  run_step "e2e-cpu-$res" 150 "$work/e2e-cpu-$res.csv" "$bin" classify --csv \
    --resampler "$res" --threads "$threads" "$tree"
  cpu_rc=$?
  cpu_s=$STEP_S
  run_step "e2e-cuda-$res" 150 "$work/e2e-cuda-$res.csv" "$bin" classify --csv \
    --resampler "$res" --device cuda --batch "$E2E_BATCH" --threads "$threads" "$tree"
  cuda_rc=$?
  cuda_s=$STEP_S
  same=$(same_labels "$work/e2e-cpu-$res.csv" "$work/e2e-cuda-$res.csv")
  echo "--resampler $res: cpu ($threads threads) exit $cpu_rc, $cpu_s s; cuda (--batch $E2E_BATCH)" \
    "exit $cuda_rc, $cuda_s s; $n_files files, same label $same/$n_files" >>"$e2e"
  if [ "$cpu_rc" -eq 0 ] && [ "$cuda_rc" -eq 0 ]; then
    speedup=$(awk -v a="$cpu_s" -v b="$cuda_s" 'BEGIN { printf "%.2f", a / b }')
    say "(c) classify $n_files files end to end, --resampler $res: CPU $cpu_s s," \
      "CUDA (--batch $E2E_BATCH) $cuda_s s, CPU/CUDA = ${speedup}x; same label $same/$n_files"
  else
    say "(c) classify $n_files files end to end, --resampler $res: FAIL (exit codes: CPU" \
      "$cpu_rc, CUDA $cuda_rc; log.txt)"
  fi
}
# The default Reference resampler, then Fast: the front-end 20x lighter, so the network's
# share shows.
e2e_pair reference
e2e_pair fast

say "total $(($(date +%s) - started)) s; details in $OUT"
cat "$summary"
rm -rf "$work"
