"""Side-by-side benchmark of mgr against its Python peers (run through bench/run.sh).

For each thread count (1 and all cores) it starts one peer worker (bench/peers.py), checks
first that onnxruntime and TensorFlow give the reference scores for the same network and
weights (max |difference| <= 1e-4, else it stops), then runs ROUNDS rounds that alternate
`mgr-cli bench --reps 1` (one warm-up + one timed run per stage) with one timed run of every
peer, and takes the median over rounds. The end-to-end rows time `mgr-cli classify` on a folder
of 20 GTZAN clips (2 per genre) as a whole process, against librosa + onnxruntime and
librosa + TensorFlow inside the warm worker (models already loaded), after one warm-up round.

Plugin rows: `cargo bench -p mgr-tests --bench plugin` (tests/plugin_bench.rs) plays a clip in
real time through the release mgr.clap in a headless CLAP host at 48 kHz, stereo 512-sample
blocks, and reports process() per block and the analysis worker's CPU at the default hop; no
Python peer is involved, so `--only plugin` refreshes just those rows (keeping the rest of
bench/results.json) without the venv.

Writes bench/results.json and the table between the bench markers in docs/performance.md.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
# bench/nets.py needs numpy (the venv); imported lazily so that `--only plugin` runs without it.
nets = None


def load_nets():
    global nets
    if nets is None:
        import nets as n  # noqa: E402

        nets = n
    return nets

PACK = os.path.join("..", "shared")
GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
TOL = 1e-4
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Worker:
    def __init__(self, python, threads, extra=()):
        self.p = subprocess.Popen(
            [python, os.path.join(HERE, "peers.py"), "--threads", str(threads), *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert json.loads(self.p.stdout.readline())["ready"]

    def __call__(self, cmd, **kw):
        self.p.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit(f"peer worker died during {cmd}")
        return json.loads(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def mgr_bench(mgr, clip, threads, stages=("frontend", "network")):
    stage_args = [x for st in stages for x in ("--stage", st)]
    out = subprocess.run(
        [mgr, "bench", clip, "--reps", "1", "--threads", str(threads), "--json",
         *stage_args, "--net-batch", "8"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    ).stdout
    return {s["id"]: s["ms"] / 1e3 for s in json.loads(out)["stages"]}


def mgr_classify(mgr, folder, threads, resampler):
    t0 = time.perf_counter()
    out = subprocess.run(
        [mgr, "classify", folder, "--json", "--threads", str(threads), "--resampler", resampler],
        check=True, capture_output=True, text=True, cwd=ROOT,
    ).stdout
    return time.perf_counter() - t0, json.loads(out)


def clip_folder():
    """bench/.clips20: relative symlinks to the first two clips of every genre."""
    folder = os.path.join(HERE, ".clips20")
    os.makedirs(folder, exist_ok=True)
    for g in GENRES:
        for i in range(2):
            name = f"{g}.{i:05d}.flac"
            link = os.path.join(folder, name)
            if not os.path.lexists(link):
                os.symlink(os.path.join("..", "..", PACK, "data", "gtzan-mini", "genres", g, name), link)
    return os.path.relpath(folder, ROOT)


def cpu_info():
    model, mhz, flags = platform.processor() or "?", None, set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            k = k.strip()
            if k == "model name":
                model = v.strip()
            elif k == "cpu MHz" and mhz is None:
                mhz = float(v)
            elif k == "flags" and not flags:
                flags = set(v.split())
            elif k == "cpu family":
                family = int(v)
    cores = os.cpu_count()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    isa = {16: "AVX-512", 8: "AVX2"}.get(lanes, "SSE")
    fma_units = 2
    clock = measured_mhz()
    use = clock or mhz
    per_core = fma_units * lanes * 2 * use / 1e3  # GFLOP/s
    how = "measured by bench/clock.c" if clock else "as /proc/cpuinfo reports it"
    return {
        "model": model,
        "cpu_family": family,
        "cores": cores,
        "mhz_reported": mhz,
        "mhz_measured": clock,
        "fp32_lanes": lanes,
        "fma_units_assumed": fma_units,
        "peak_gflops_per_core": per_core,
        "peak_rule": f"{fma_units} FMA pipes x {lanes} fp32 lanes ({isa}) x 2 FLOP x {use:.0f} MHz ({how}; "
        f"the VM reports {mhz:.0f} MHz)",
    }


def measured_mhz():
    """Core clock from a chain of dependent integer adds (bench/clock.c), or None without a C
    compiler."""
    exe = os.path.join(HERE, ".venv", "clock")
    try:
        subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "clock.c")], check=True)
        return max(float(subprocess.run([exe], check=True, capture_output=True, text=True).stdout)
                   for _ in range(3))
    except (OSError, subprocess.CalledProcessError):
        return None


def plugin_bench(seconds, rate):
    """Build the release bundle, play `seconds` of audio through it in real time; the bench
    writes its numbers as JSON."""
    out = os.path.join(HERE, ".plugin.json")
    if os.path.exists(out):
        os.remove(out)
    log(f"plugin: bundling mgr.clap (release) and playing {seconds:.0f} s at {rate} Hz in real time")
    subprocess.run(["cargo", "xtask", "bundle", "mgr-plugin", "--release"], check=True, cwd=ROOT)
    env = dict(os.environ, MGR_BENCH_SECONDS=str(seconds), MGR_BENCH_RATE=str(rate), MGR_BENCH_JSON=out)
    subprocess.run(["cargo", "bench", "-p", "mgr-tests", "--bench", "plugin"], check=True, cwd=ROOT, env=env)
    with open(out) as f:
        res = json.load(f)
    res["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    res["loadavg_1min_after"] = os.getloadavg()[0]
    return res


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mgr", default=os.path.join("target", "release", "mgr-cli"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", default=None, help="comma list (default: 1 and all cores)")
    ap.add_argument("--clip", default=os.path.join(PACK, "data", "gtzan-mini", "genres", "blues", "blues.00000.flac"))
    ap.add_argument("--json-out", default=os.path.join("bench", "results.json"))
    ap.add_argument("--readme", default=os.path.join("docs", "performance.md"))
    ap.add_argument("--only", choices=["plugin", "frontend"],
                    help="refresh only these rows, keep the rest of --json-out (frontend: needs only "
                    "librosa, soxr and resampy in the venv)")
    ap.add_argument("--skip-plugin", action="store_true", help="keep the plugin rows of --json-out")
    ap.add_argument("--plugin-seconds", type=float, default=120.0,
                    help="real-time playback for the plugin rows (as in docs/performance.md)")
    ap.add_argument("--plugin-rate", type=int, default=48_000)
    a = ap.parse_args()
    os.chdir(ROOT)
    old = None
    if os.path.exists(a.json_out):
        with open(a.json_out) as f:
            old = json.load(f)
    if a.only == "plugin":
        if not old or "per_threads" not in old:
            raise SystemExit(f"--only plugin needs a full run's {a.json_out} first")
        old["plugin"] = plugin_bench(a.plugin_seconds, a.plugin_rate)
        write(old, a)
        return
    if a.only == "frontend":
        if not old or "per_threads" not in old:
            raise SystemExit(f"--only frontend needs a full run's {a.json_out} first")
        refresh_frontend(old, a)
        write(old, a)
        return
    load_nets()
    cpu = cpu_info()
    threads = [int(t) for t in a.threads.split(",")] if a.threads else sorted({1, cpu["cores"]})
    folder = clip_folder()
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    assert len(files) == 20
    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "rounds": a.rounds,
        "clip": a.clip,
        "folder": folder,
        "flops_per_frame": {"fcn": nets.flops("fcn"), "crnn": nets.flops("gtzan")},
        "per_threads": {},
    }
    for t in threads:
        log(f"== {t} thread(s)")
        load_before = os.getloadavg()[0]
        w = Worker(a.python, t)
        if "versions" not in doc:
            doc["versions"] = w("versions")
            log("parity check (peers vs reference scores)")
            par = w("parity")
            doc["parity"] = {k: v for k, v in par.items() if not isinstance(v, list)}
            bad = {k: v for k, v in doc["parity"].items() if v > TOL}
            for k, v in sorted(doc["parity"].items()):
                log(f"  {k:<42} {v:.2e}")
            if bad:
                raise SystemExit(f"peers disagree with the reference: {bad}")
            # mgr itself on the same clip, reference front-end: scores vs the peers' scores
            # from the golden log-mel of that clip.
            _, res = mgr_classify(a.mgr, os.path.join(PACK, "data", "gtzan-mini", "genres", "blues",
                                                      "blues.00000.flac"), t, "reference")
            labels = nets.labels("gtzan")
            mgr_scores = [res[0]["scores"][g] for g in labels]
            for peer in ("onnxruntime", "tensorflow"):
                d = max(abs(x - y) for x, y in zip(mgr_scores, par[f"{peer}/gtzan/blues_probs"]))
                doc["parity"][f"mgr-cli classify vs {peer}/gtzan/blues"] = d
                log(f"  mgr-cli classify vs {peer} (blues.00000)   {d:.2e}")
                if d > TOL:
                    raise SystemExit(f"mgr and {peer} disagree by {d}")
        peak = w("peak")
        mgr_s, peer_s = {}, {}
        for r in range(a.rounds):
            log(f"round {r + 1}/{a.rounds}: stages")
            for k, v in mgr_bench(a.mgr, a.clip, t).items():
                mgr_s.setdefault(k, []).append(v)
            for cmd, kw in (("frontend", {"file": a.clip}), ("network", {"batches": [1, 8]})):
                for k, v in w(cmd, **kw).items():
                    peer_s.setdefault(k, []).append(v)
        labels_mgr, labels_peer = {}, {}
        for r in range(a.rounds + 1):
            log(f"round {r}/{a.rounds}: end to end" + (" (warm-up)" if r == 0 else ""))
            for rs in ("fast", "reference"):
                dt, res = mgr_classify(a.mgr, folder, t, rs)
                labels_mgr[rs] = [x["label"] for x in res]
                if r:
                    mgr_s.setdefault(f"e2e_{rs}", []).append(dt)
            e = w("e2e", files=files)
            labels_peer = {p: [lab for lab, _ in v] for p, v in e["results"].items()}
            if r:
                for k, v in e["times"].items():
                    peer_s.setdefault(k, []).append(v)
        w.close()
        doc["per_threads"][str(t)] = {
            "sgemm_gflops": peak["sgemm_gflops"],
            "loadavg_1min_before_after": [load_before, os.getloadavg()[0]],
            "peak_gflops": cpu["peak_gflops_per_core"] * t,
            "mgr": {k: med(v) for k, v in mgr_s.items()},
            "peers": {k: med(v) for k, v in peer_s.items()},
            "samples": {"mgr": mgr_s, "peers": peer_s},
            "labels": {"mgr": labels_mgr, "peers": labels_peer,
                       "files": [os.path.basename(f) for f in files]},
        }
    if a.skip_plugin:
        if old and "plugin" in old:
            doc["plugin"] = old["plugin"]
    else:
        doc["plugin"] = plugin_bench(a.plugin_seconds, a.plugin_rate)
    write(doc, a)


FRONTEND_MGR = ("frontend_fast", "frontend_reference", "logmel")


def refresh_frontend(doc, a):
    """Re-time only the front-end rows (mgr and librosa, alternating, same rounds as a full
    run); every other row keeps the numbers of the full run, and the table says so."""
    for t, d in doc["per_threads"].items():
        log(f"== front-end rows, {t} thread(s)")
        w = Worker(a.python, int(t), ["--frontend-only"])
        mgr_s, peer_s = {}, {}
        for r in range(a.rounds):
            log(f"round {r + 1}/{a.rounds}: front-end")
            for k, v in mgr_bench(a.mgr, a.clip, int(t), ("frontend",)).items():
                mgr_s.setdefault(k, []).append(v)
            for k, v in w("frontend", file=a.clip).items():
                peer_s.setdefault(k, []).append(v)
        w.close()
        for k in FRONTEND_MGR:
            d["mgr"][k] = med(mgr_s[k])
            d["samples"]["mgr"][k] = mgr_s[k]
        for k, v in peer_s.items():
            d["peers"][k] = med(v)
            d["samples"]["peers"][k] = v
    doc["frontend_refreshed"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rounds": a.rounds,
        "loadavg_1min_after": os.getloadavg()[0],
    }


def write(doc, a):
    doc["rows"] = rows(doc) + plugin_rows(doc)
    with open(a.json_out, "w") as f:
        json.dump(doc, f, indent=1)
    md = markdown(doc)
    print(md)
    update_readme(a.readme, md)
    log(f"wrote {a.json_out} and the table in {a.readme}")


# (section, label, mgr id, peer label, peer id, flops key or None, per what)
COMPARISONS = [
    ("front-end", "decode + resample + log-mel, 30 s clip", "frontend_fast", "librosa (default: soxr HQ)", "frontend_librosa", None),
    ("front-end", "decode + resample + log-mel, 30 s clip", "frontend_fast", "librosa + soxr VHQ", "frontend_librosa_soxr_vhq", None),
    ("front-end", "decode + resample + log-mel, 30 s clip", "frontend_reference", "librosa + resampy kaiser_best", "frontend_librosa_kaiser_best", None),
    ("front-end", "decode + resample + log-mel, 30 s clip", "frontend_reference", "librosa (default: soxr HQ)", "frontend_librosa", None),
    ("front-end", "log-mel alone, 29.12 s at 12 kHz", "logmel", "librosa melspectrogram + power_to_db", "logmel_librosa", None),
    ("network", "FCN forward per frame, batch 1", "fcn_b1", "onnxruntime", "onnxruntime_fcn_b1", "fcn"),
    ("network", "FCN forward per frame, batch 1", "fcn_b1", "TensorFlow/Keras", "tensorflow_fcn_b1", "fcn"),
    ("network", "FCN forward per frame, batch 8", "fcn_b8", "onnxruntime", "onnxruntime_fcn_b8", "fcn"),
    ("network", "FCN forward per frame, batch 8", "fcn_b8", "TensorFlow/Keras", "tensorflow_fcn_b8", "fcn"),
    ("network", "CRNN forward per frame, batch 1", "crnn_b1", "onnxruntime", "onnxruntime_crnn_b1", "crnn"),
    ("network", "CRNN forward per frame, batch 1", "crnn_b1", "TensorFlow/Keras", "tensorflow_crnn_b1", "crnn"),
    ("network", "CRNN forward per frame, batch 8", "crnn_b8", "onnxruntime", "onnxruntime_crnn_b8", "crnn"),
    ("network", "CRNN forward per frame, batch 8", "crnn_b8", "TensorFlow/Keras", "tensorflow_crnn_b8", "crnn"),
    ("end to end", "20 clips → genre", "e2e_fast", "librosa + onnxruntime", "e2e_librosa_onnxruntime", None),
    ("end to end", "20 clips → genre", "e2e_fast", "librosa + TensorFlow", "e2e_librosa_tensorflow", None),
    ("end to end", "20 clips → genre", "e2e_reference", "librosa + onnxruntime", "e2e_librosa_onnxruntime", None),
    ("end to end", "20 clips → genre", "e2e_reference", "librosa + TensorFlow", "e2e_librosa_tensorflow", None),
]

MGR_NAMES = {
    "frontend_fast": "mgr (Fast)",
    "frontend_reference": "mgr (Reference)",
    "logmel": "mgr",
    "e2e_fast": "mgr-cli classify --resampler fast",
    "e2e_reference": "mgr-cli classify (Reference)",
}


def rows(doc):
    out = []
    for t, d in doc["per_threads"].items():
        for section, label, mid, pname, pid, fk in COMPARISONS:
            m, p = d["mgr"][mid], d["peers"][pid]
            row = {
                "threads": int(t), "section": section, "what": label,
                "mgr": MGR_NAMES.get(mid, "mgr (candle)"), "mgr_ms": m * 1e3,
                "peer": pname, "peer_ms": p * 1e3, "ratio_peer_over_mgr": p / m,
            }
            if fk:
                f = doc["flops_per_frame"][fk]
                row.update({
                    "gflop_per_frame": f / 1e9,
                    "mgr_gflops": f / m / 1e9, "peer_gflops": f / p / 1e9,
                    "mgr_pct_peak": 100 * f / m / 1e9 / d["peak_gflops"],
                    "peer_pct_peak": 100 * f / p / 1e9 / d["peak_gflops"],
                    "mgr_pct_sgemm": 100 * f / m / 1e9 / d["sgemm_gflops"],
                })
            out.append(row)
    return out


def plugin_rows(doc):
    """process() per block against the host's own copy of the block, and the worker's CPU per
    second of playback against the real-time budget of one core."""
    p = doc.get("plugin")
    if not p:
        return []
    khz = p["rate"] / 1000
    return [
        {
            "threads": "audio thread", "section": "plugin",
            "what": f"plugin process() per {p['block']}-sample block, {khz:g} kHz stereo (CLAP host)",
            "mgr": "mgr.clap process()", "mgr_ms": p["process_ns_median"] / 1e6,
            "peer": "host's own stereo copy of the block", "peer_ms": p["copy_ns_median"] / 1e6,
            "ratio_peer_over_mgr": p["copy_ns_median"] / p["process_ns_median"],
        },
        {
            "threads": "worker", "section": "plugin",
            "what": f"plugin analysis worker CPU per 1 s of playback, default {p['hop_s']:g} s hop",
            "mgr": "mgr.clap worker", "mgr_ms": p["worker_cpu_s"] / p["wall_s"] * 1e3,
            "peer": "real-time budget of one core", "peer_ms": 1e3,
            "ratio_peer_over_mgr": p["wall_s"] / p["worker_cpu_s"],
        },
    ]


def ms(v):
    return f"{v:.1f}" if v >= 0.1 else f"{v:.4f}"


def markdown(doc):
    cpu = doc["cpu"]
    v = doc["versions"]
    lines = [
        f"Run {doc['date']} on {cpu['model']} (family {cpu['cpu_family']}), {cpu['cores']} cores, "
        f"by `bench/run.sh`; median of {doc['rounds']} alternating rounds after warm-up. Peers: "
        f"Python {v['python']}, librosa {v['librosa']}, soxr {v['soxr']}, resampy {v.get('resampy', '-')}, "
        f"onnxruntime {v['onnxruntime']}, TensorFlow {v['tensorflow']}, numpy {v['numpy']}. "
        f"Front-end and network rows: `{doc['clip']}`; end to end: 20 GTZAN clips (2 per genre).",
        "",
        "| threads | stage | mgr | mgr ms | peer | peer ms | peer/mgr | GFLOP/s mgr / peer | % of peak mgr / peer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        g = pk = ""
        if "mgr_gflops" in r:
            g = f"{r['mgr_gflops']:.1f} / {r['peer_gflops']:.1f}"
            pk = f"{r['mgr_pct_peak']:.1f} / {r['peer_pct_peak']:.1f}"
        lines.append(
            f"| {r['threads']} | {r['what']} | {r['mgr']} | {ms(r['mgr_ms'])} | {r['peer']} | "
            f"{ms(r['peer_ms'])} | **{r['ratio_peer_over_mgr']:.2f}** | {g} | {pk} |"
        )
    lines.append("")
    fl = doc["flops_per_frame"]
    peaks = ", ".join(
        f"{t} thread(s): {d['peak_gflops']:.0f} GFLOP/s theoretical, numpy sgemm {d['sgemm_gflops']:.0f}"
        for t, d in doc["per_threads"].items()
    )
    lines.append(
        f"FLOPs per 29.12 s frame (conv, GRU and dense multiply-adds × 2): FCN {fl['fcn'] / 1e9:.2f} G, "
        f"CRNN {fl['crnn'] / 1e9:.2f} G. Peak = {cpu['peak_rule']} per core; {peaks} "
        f"(2048² float32 matmul, for scale). Score parity before timing: largest |difference| "
        f"{max(doc['parity'].values()):.1e} over all peers, networks and clips (limit {TOL:g})."
    )
    agree = []
    for t, d in doc["per_threads"].items():
        lm, lp = d["labels"]["mgr"], d["labels"]["peers"]
        same = {p: sum(x == y for x, y in zip(lm["fast"], v)) for p, v in lp.items()}
        agree.append(f"{t} thread(s): " + ", ".join(f"{p} {n}/20" for p, n in same.items()))
    loads = "; ".join(
        f"{t} thread(s): {d['loadavg_1min_before_after'][0]:.1f} → {d['loadavg_1min_before_after'][1]:.1f}"
        for t, d in doc["per_threads"].items()
    )
    fr = doc.get("frontend_refreshed")
    if fr:
        lines.append("")
        lines.append(
            f"Front-end rows (decode + resample + log-mel, log-mel alone) re-timed {fr['date']} by "
            f"`bench/compare.py --only frontend` (mgr and librosa alternating, median of {fr['rounds']} "
            f"rounds; 1-minute load average after: {fr['loadavg_1min_after']:.1f}); the other rows are "
            f"from the full run of {doc['date']}."
        )
    lines.append("")
    lines.append(
        f"1-minute load average of the machine before → after each block (other jobs share it): {loads}."
    )
    lines.append("")
    lines.append(
        "Genre labels of `mgr-cli classify --resampler fast` equal to the peers' (librosa front-end): "
        + "; ".join(agree) + "."
    )
    p = doc.get("plugin")
    if p:
        lines.append("")
        lines.append(
            f"Plugin rows ({p['date']}, `bench/compare.py --only plugin` or the full run): "
            f"`cargo bench -p mgr-tests --bench plugin` plays {p['clip']} through the release "
            f"`mgr.clap` in a headless CLAP host in real time for {p['wall_s']:.0f} s at "
            f"{p['rate'] / 1000:g} kHz, stereo {p['block']}-sample blocks (the clip's own samples "
            f"at that rate; the cost does not depend on the content). process(): median "
            f"{p['process_ns_median']:.0f} ns, max {p['process_ns_max']:.0f} ns per block = "
            f"{100 * p['process_ns_median'] / (p['block_ms'] * 1e6):.3f} % of the block's "
            f"{p['block_ms']:.2f} ms. Analysis worker: {p['worker_cpu_pct']:.1f} % of one core "
            f"({p['worker_cpu_s']:.2f} s CPU, {p['windows']} windows scored, {p['dropped']} samples "
            f"dropped); 1-minute load average after: {p['loadavg_1min_after']:.1f}."
        )
    return "\n".join(lines)


def update_readme(path, md):
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} has no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(head + BEGIN + "\n" + md + "\n" + END + tail)


if __name__ == "__main__":
    main()
