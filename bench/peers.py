"""Python peers for `bench/compare.py`: a long-lived worker that answers one JSON command per
line on stdin with one JSON line on stdout. The thread count is fixed at start-up
(`--threads N`) because numpy, onnxruntime and TensorFlow read it once.

Every call times ONE run of each peer (the first call of each kind also runs a warm-up), so the
driver can alternate mgr and peer runs and take medians itself.
"""

import argparse
import os
import sys

_ap = argparse.ArgumentParser()
_ap.add_argument("--threads", type=int, required=True)
_ap.add_argument("--frontend-only", action="store_true", help="librosa rows only (no TensorFlow)")
_args = _ap.parse_args()
THREADS = _args.threads
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = str(THREADS)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nets  # noqa: E402

SR = 12000
CLIP = 349440
TRIM = 20 * SR

_warm = set()


def timed(key, f):
    """Seconds of one run of f (after a warm-up run the first time `key` is seen)."""
    if key not in _warm:
        f()
        _warm.add(key)
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


# ------------------------------------------------------------ front-end (librosa)


def frame_ranges(n):
    """The paper's framing, as in mgr: drop 20 s at each end of long songs, non-overlapping
    29.12 s frames; a shorter song gives one centred frame (zero-padded if short)."""
    if n > CLIP + 2 * TRIM:
        usable = n - 2 * TRIM
        return [(TRIM + i * CLIP, TRIM + (i + 1) * CLIP) for i in range(usable // CLIP)]
    if n > CLIP:
        s = (n - CLIP) // 2
        return [(s, s + CLIP)]
    return [(0, n)]


def logmel(clip):
    """96-band log-mel of a 12 kHz clip, the reference front-end's recipe in librosa terms:
    power mel spectrogram (Slaney filters, n_fft 512, hop 256), squared once more, in dB with
    a floor of 1e-10 and an 80 dB range."""
    import librosa

    if len(clip) < CLIP:
        clip = np.pad(clip, (0, CLIP - len(clip)))
    s = librosa.feature.melspectrogram(
        y=clip, sr=SR, n_fft=512, hop_length=256, n_mels=96, power=2.0
    )
    return librosa.power_to_db(s**2, ref=1.0, amin=1e-10, top_db=80.0).astype(np.float32)


FRONTENDS = {
    # librosa's default resampler (soxr "HQ" since librosa 0.10)
    "librosa": lambda path: _librosa_load(path, None),
    # explicit soxr at its highest quality
    "librosa_soxr_vhq": lambda path: _librosa_load(path, "soxr_vhq"),
    # resampy kaiser_best: the default of librosa < 0.10, the filter mgr's Reference ports
    "librosa_kaiser_best": lambda path: _librosa_load(path, "kaiser_best"),
}


def _librosa_load(path, res_type):
    import librosa

    kw = {} if res_type is None else {"res_type": res_type}
    y, _ = librosa.load(path, sr=SR, mono=True, **kw)
    return y


def frontend(path, peer):
    y = FRONTENDS[peer](path)
    return [logmel(y[a:b]) for a, b in frame_ranges(len(y))]


def cmd_frontend(c):
    path = c["file"]
    out = {}
    for peer in FRONTENDS:
        out[f"frontend_{peer}"] = timed(f"fe_{peer}", lambda: frontend(path, peer))
    y = FRONTENDS["librosa"](path)
    a, b = frame_ranges(len(y))[0]
    clip = np.ascontiguousarray(y[a:b])
    out["logmel_librosa"] = timed("logmel", lambda: logmel(clip))
    return out


# ------------------------------------------------------------ networks


_ort, _tf = {}, {}


def ort_session(name):
    if name not in _ort:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = THREADS
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        model = nets.onnx_model(name)
        _ort[name] = ort.InferenceSession(
            model.SerializeToString(), so, providers=["CPUExecutionProvider"]
        )
    sess = _ort[name]
    return lambda x: sess.run(["probs"], {"logmel": x})[0]


def tf_forward(name):
    if name not in _tf:
        import tensorflow as tf

        model = nets.keras_model(name)
        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True, autograph=False)
        _tf[name] = fn
    fn = _tf[name]
    # NCHW [B,1,96,T] -> NHWC [B,96,T,1]; the transpose is part of the timed call (it is free for C=1)
    return lambda x: fn(x.reshape(x.shape[0], 96, 1366, 1)).numpy()


def _init_tf():
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(1)


PEERS = {"onnxruntime": ort_session, "tensorflow": tf_forward}


def golden(rel):
    return np.load(os.path.join(nets.ROOT, "..", "shared", "reference", "golden", rel))


def cmd_parity(c):
    """Largest |peer - reference| over the score vectors for the same log-mel input."""
    out = {}
    cute = golden("cute/logmel.npy")[None, None]
    blues = golden("gtzan-blues.00000/logmel.npy")[None, None]
    with open(os.path.join(nets.ROOT, "..", "shared", "reference", "golden", "gtzan-blues.00000", "golden.json")) as f:
        gb = json.load(f)
    for peer, make in PEERS.items():
        for name, gold in (("fcn", "fcn"), ("crnn", "crnn"), ("gtzan", "gtzan")):
            f = make(name)
            ref = golden(f"cute/{gold}_probs.npy")
            got = f(np.ascontiguousarray(cute, dtype=np.float32))[0]
            out[f"{peer}/{name}/cute_golden"] = float(np.max(np.abs(got - ref)))
            ref_b = np.array(gb[nets.FILES[name].replace(".safetensors", "")]["probs"])
            got_b = f(np.ascontiguousarray(blues, dtype=np.float32))[0]
            out[f"{peer}/{name}/blues_golden"] = float(np.max(np.abs(got_b - ref_b)))
            if name == "gtzan":
                out[f"{peer}/gtzan/blues_probs"] = [float(v) for v in got_b]
            # batch 8 of different inputs must equal batch 1 row by row
            x8 = np.concatenate([cute, blues] * 4).astype(np.float32)
            got8 = f(x8)
            out[f"{peer}/{name}/batch8_vs_batch1"] = float(
                max(np.max(np.abs(got8[0] - got)), np.max(np.abs(got8[1] - got_b)))
            )
    return out


def cmd_network(c):
    x1 = golden("cute/logmel.npy")[None, None].astype(np.float32)
    out = {}
    for peer, make in PEERS.items():
        for name in ("fcn", "gtzan"):
            f = make(name)
            for b in c["batches"]:
                x = np.ascontiguousarray(np.repeat(x1, b, axis=0))
                key = f"{peer}_{'fcn' if name == 'fcn' else 'crnn'}_b{b}"
                out[key] = timed(key, lambda: f(x)) / b
    return out


# ------------------------------------------------------------ end to end


def classify(paths, peer):
    f = PEERS[peer]("gtzan")
    labels = nets.labels("gtzan")
    result = []
    for p in paths:
        mels = frontend(p, "librosa")
        probs = f(np.stack(mels)[:, None].astype(np.float32))
        mean = probs.mean(axis=0)
        result.append((labels[int(np.argmax(mean))], [float(v) for v in mean]))
    return result


def cmd_e2e(c):
    out, labels = {}, {}
    for peer in PEERS:
        res = []
        out[f"e2e_librosa_{peer}"] = timed(f"e2e_{peer}", lambda: res.append(classify(c["files"], peer)))
        labels[peer] = res[-1]
    return {"times": out, "results": labels}


# ------------------------------------------------------------ machine


def cmd_peak(c):
    """Achieved sgemm GFLOP/s of numpy's BLAS on 2048² float32 matrices (median of 5)."""
    n = 2048
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t0)
    return {"sgemm_gflops": 2 * n**3 / sorted(ts)[2] / 1e9}


def cmd_versions(c):
    import librosa
    import onnx
    import onnxruntime
    import soxr
    import tensorflow as tf

    v = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "librosa": librosa.__version__,
        "soxr": soxr.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "tensorflow": tf.__version__,
    }
    try:
        import resampy

        v["resampy"] = resampy.__version__
    except ImportError:
        pass
    return v


def main():
    if not _args.frontend_only:
        _init_tf()
    cmds = {
        "parity": cmd_parity,
        "frontend": cmd_frontend,
        "network": cmd_network,
        "e2e": cmd_e2e,
        "peak": cmd_peak,
        "versions": cmd_versions,
    }
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        c = json.loads(line)
        print(json.dumps(cmds[c["cmd"]](c)), flush=True)


if __name__ == "__main__":
    main()
