"""The Python API (`import mgr`) against its Python peers and against mgr-cli, in one process.

Rows (each timed once per round; rounds alternate mgr and the peers; the median is reported):

* log-mel of a 29.12 s clip at 12 kHz: `mgr.logmel` against librosa's melspectrogram +
  power_to_db with the reference parameters;
* a 30 s file to a 12 kHz signal: `mgr.load` against `librosa.load(sr=12000)`;
* network forward per frame, batch 8: `mgr.Model(...).predict` against onnxruntime and
  TensorFlow running the same weights (bench/nets.py), each if it is installed;
* 20 clips → genre (2 GTZAN clips per genre): `mgr.classify` against librosa + onnxruntime /
  TensorFlow, and against `mgr-cli classify --json` as a whole process (the binding's
  overhead; both load the model, decode, resample and score the same files).

Before timing, the scores must agree: mgr.logmel with librosa within 1e-3 dB, the peers'
networks with Model.predict within 1e-4, mgr.classify's objects with the CLI's JSON exactly.

    pip install ./python librosa [onnx onnxruntime tensorflow-cpu]
    cargo build --release -p mgr-cli
    python bench/python_api.py --cli target/release/mgr-cli --build "release wheel, release CLI"

Writes bench/python_results.json and the table between the python-bench markers in
docs/performance.md.
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

import numpy as np

import mgr

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
PACK = os.path.join(ROOT, "..", "shared")
GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
BEGIN, END = "<!-- python-bench:begin -->", "<!-- python-bench:end -->"


def clips():
    base = os.path.join(PACK, "data", "gtzan-mini", "genres")
    return [os.path.join(base, g, f"{g}.{i:05d}.flac") for g in GENRES for i in range(2)]


def librosa_logmel(y):
    import librosa

    s = librosa.feature.melspectrogram(y=y, sr=12000, n_fft=512, hop_length=256, n_mels=96, pad_mode="reflect")
    return librosa.power_to_db(s**2, ref=1.0, amin=1e-10, top_db=80.0).astype(np.float32)


def librosa_frames(path):
    """The clip's network inputs through librosa: mgr's framing (one 29.12 s frame, centred,
    for a GTZAN clip), librosa's load (soxr HQ) and log-mel."""
    import librosa

    y, _ = librosa.load(path, sr=12000, mono=True)
    n = mgr.CLIP_SAMPLES
    start = max(0, (len(y) - n) // 2)
    clip = np.pad(y[start : start + n], (0, max(0, n - len(y))))
    return librosa_logmel(clip)[None]


def peer_networks():
    """name → (make(model) → forward(x[n, 96, 1366]) → probs) for the installed peers."""
    import nets

    out = {}
    try:
        import onnxruntime as ort

        def make_ort(name):
            sess = ort.InferenceSession(nets.onnx_model(name).SerializeToString(), providers=["CPUExecutionProvider"])
            return lambda x: sess.run(["probs"], {"logmel": x[:, None]})[0]

        out["onnxruntime"] = make_ort
    except ImportError:
        pass
    try:
        import tensorflow as tf

        def make_tf(name):
            model = nets.keras_model(name)
            fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True, autograph=False)
            return lambda x: fn(x.reshape(x.shape[0], 96, 1366, 1)).numpy()

        out["tensorflow"] = make_tf
    except ImportError:
        pass
    return out


def cli_classify(cli, files):
    out = subprocess.run([cli, "classify", "--json", *files], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def check_parity(cli, files, clip, peers, mels):
    worst_db = float(np.abs(mgr.logmel(clip).astype(np.float64) - librosa_logmel(clip)).max())
    assert worst_db <= 1e-3, f"mgr.logmel vs librosa: {worst_db} dB"
    by_path = lambda rs: {r["path"]: r for r in rs}  # noqa: E731
    assert by_path(mgr.classify(files)) == by_path(cli_classify(cli, files)), "mgr.classify differs from the CLI"
    worst_net = 0.0
    for make in peers.values():
        for name in ("gtzan", "fcn"):
            worst_net = max(worst_net, float(np.abs(make(name)(mels) - mgr.Model(name).predict(mels)).max()))
    assert worst_net <= 1e-4, f"peer networks vs Model.predict: {worst_net}"
    return {"logmel_db": worst_db, "networks": worst_net}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cli", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mgr-cli"))
    ap.add_argument("--build", default="release", help="how mgr and mgr-cli were built, for the table's text")
    ap.add_argument("--json-out", default=os.path.join(HERE, "python_results.json"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "performance.md"))
    ap.add_argument("--note", default="", help="a sentence on the run's conditions, printed under the table")
    ap.add_argument("--render-only", action="store_true", help="rewrite the table from --json-out, timing nothing")
    a = ap.parse_args()
    if a.render_only:
        with open(a.json_out) as f:
            doc = json.load(f)
        doc["note"] = a.note or doc.get("note", "")
        with open(a.json_out, "w") as f:
            json.dump(doc, f, indent=1)
        write_doc(a.doc, render(doc))
        return

    files = clips()
    song = files[0]
    y = mgr.load(song)
    start = (len(y) - mgr.CLIP_SAMPLES) // 2
    clip = np.ascontiguousarray(y[start : start + mgr.CLIP_SAMPLES])
    mels = np.repeat(mgr.frames(y), 8, axis=0)
    peers = peer_networks()
    parity = check_parity(a.cli, files, clip, peers, mels)
    models = {name: mgr.Model(name) for name in ("gtzan", "fcn")}
    nets_peer = {(p, name): make(name) for p, make in peers.items() for name in ("gtzan", "fcn")}

    jobs = {
        "logmel/mgr": lambda: mgr.logmel(clip),
        "logmel/librosa": lambda: librosa_logmel(clip),
        "load/mgr (Reference)": lambda: mgr.load(song),
        "load/mgr (Fast)": lambda: mgr.load(song, resampler="fast"),
        "load/librosa (soxr HQ)": lambda: __import__("librosa").load(song, sr=12000),
        "e2e/mgr.classify (Reference)": lambda: list(mgr.classify(files)),
        "e2e/mgr.classify (Fast)": lambda: list(mgr.classify(files, resampler="fast")),
        "e2e/mgr-cli classify (Reference)": lambda: cli_classify(a.cli, files),
        "e2e/mgr-cli classify (Fast)": lambda: subprocess.run([a.cli, "classify", "--json", "--resampler", "fast", *files], check=True, capture_output=True),
    }
    for name, m in models.items():
        jobs[f"net/{name}/mgr"] = lambda m=m: m.predict(mels)
    for (p, name), f in nets_peer.items():
        jobs[f"net/{name}/{p}"] = lambda f=f: f(mels)
    for p, make in peers.items():
        fwd = nets_peer[(p, "gtzan")]
        labels = models["gtzan"].labels

        def e2e(fwd=fwd, labels=labels):
            return [labels[int(np.argmax(fwd(librosa_frames(f)).mean(axis=0)))] for f in files]

        jobs[f"e2e/librosa + {p}"] = e2e

    for f in jobs.values():  # warm-up
        f()
    times = {k: [] for k in jobs}
    load = [os.getloadavg()[0]]
    for _ in range(a.rounds):
        for k, f in jobs.items():
            times[k].append(timed(f))
        load.append(os.getloadavg()[0])
    median = {k: statistics.median(v) for k, v in times.items()}
    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": platform.processor() or cpu_model(),
        "cores": os.cpu_count(),
        "rounds": a.rounds,
        "build": a.build,
        "note": a.note,
        "versions": versions(peers),
        "parity": parity,
        "peers": sorted(peers),
        "load_average": load,
        "seconds": times,
        "median_seconds": median,
    }
    with open(a.json_out, "w") as f:
        json.dump(doc, f, indent=1)
    table = render(doc)
    print(table)
    write_doc(a.doc, table)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def versions(peers):
    import librosa

    v = {"python": platform.python_version(), "mgr": mgr.__version__, "numpy": np.__version__, "librosa": librosa.__version__}
    for p in peers:
        v[p] = __import__(p).__version__
    return v


# (stage, mgr's job, how the table names it, the peer's job, its name, frames per call)
ROWS = [
    ("log-mel, 29.12 s at 12 kHz", "logmel/mgr", "mgr.logmel", "logmel/librosa", "librosa", 1),
    ("30 s FLAC → 12 kHz signal", "load/mgr (Fast)", "mgr.load (Fast)", "load/librosa (soxr HQ)", "librosa.load (soxr HQ)", 1),
    ("30 s FLAC → 12 kHz signal", "load/mgr (Reference)", "mgr.load (Reference)", "load/librosa (soxr HQ)", "librosa.load (soxr HQ)", 1),
    ("CRNN (GTZAN) forward per frame, batch 8", "net/gtzan/mgr", "Model.predict", "net/gtzan/onnxruntime", "onnxruntime", 8),
    ("CRNN (GTZAN) forward per frame, batch 8", "net/gtzan/mgr", "Model.predict", "net/gtzan/tensorflow", "TensorFlow", 8),
    ("FCN forward per frame, batch 8", "net/fcn/mgr", "Model.predict", "net/fcn/onnxruntime", "onnxruntime", 8),
    ("FCN forward per frame, batch 8", "net/fcn/mgr", "Model.predict", "net/fcn/tensorflow", "TensorFlow", 8),
    ("20 clips → genre", "e2e/mgr.classify (Reference)", "mgr.classify (Reference)", "e2e/librosa + onnxruntime", "librosa + onnxruntime", 1),
    ("20 clips → genre", "e2e/mgr.classify (Reference)", "mgr.classify (Reference)", "e2e/librosa + tensorflow", "librosa + TensorFlow", 1),
    ("20 clips → genre, binding vs CLI", "e2e/mgr.classify (Reference)", "mgr.classify (Reference)", "e2e/mgr-cli classify (Reference)", "mgr-cli classify (Reference)", 1),
    ("20 clips → genre, binding vs CLI", "e2e/mgr.classify (Fast)", "mgr.classify (Fast)", "e2e/mgr-cli classify (Fast)", "mgr-cli classify (Fast)", 1),
]


def render(doc):
    med = doc["median_seconds"]
    v = doc["versions"]
    lines = [
        f"Run {doc['date']} on {doc['cpu']}, {doc['cores']} cores, all of them, by `python bench/python_api.py`; "
        f"median of {doc['rounds']} alternating rounds after a warm-up; {doc['build']}. "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + ". Parity before timing: log-mel within "
        f"{doc['parity']['logmel_db']:.1e} dB of librosa, peer networks within {doc['parity']['networks']:.1e} "
        "of `Model.predict`, `mgr.classify` equal to the CLI's JSON. 1-minute load average during the run: "
        f"{min(doc['load_average']):.1f}–{max(doc['load_average']):.1f}.",
        "",
        "| stage | mgr (Python) | ms | peer | ms | peer/mgr |",
        "|---|---|---|---|---|---|",
    ]
    for stage, ours, ours_name, theirs, theirs_name, per in ROWS:
        if ours not in med or theirs not in med:
            continue
        a, b = med[ours] * 1e3 / per, med[theirs] * 1e3 / per
        lines.append(f"| {stage} | {ours_name} | {a:.1f} | {theirs_name} | {b:.1f} | **{b / a:.2f}** |")
    if doc.get("note"):
        lines += ["", doc["note"]]
    missing = [p for p in ("onnxruntime", "tensorflow") if p not in doc["peers"]]
    if missing:
        lines += ["", f"Not installed for this run, so without rows: {', '.join(missing)}."]
    return "\n".join(lines)


def write_doc(path, table):
    with open(path) as f:
        text = f.read()
    if BEGIN not in text:
        raise SystemExit(f"{path} has no {BEGIN} marker")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main()
