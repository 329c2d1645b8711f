"""The FCN and CRNN networks rebuilt for the peers (onnxruntime, TensorFlow/Keras) from the same
safetensors weights that mgr embeds, plus their FLOP counts.

Layouts are documented in ../shared/weights/README.md (relative to the repository root):
conv kernels are [out, in, 3, 3] cross-correlation kernels; BatchNorm uses
gamma * (x - mean) / sqrt(var + eps) + beta with eps 1e-5; the GRU is the Keras-1 cell
(gate blocks z, r, h; hard sigmoid 0.2 x + 0.5; reset gate applied before the recurrent
matrix; no recurrent bias).
"""

import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = os.path.join(ROOT, "weights")
N_MELS, N_FRAMES = 96, 1366
EPS = 1e-5
FCN_CHANNELS = [32, 128, 128, 192, 256]
FCN_POOLS = [(2, 4), (2, 4), (2, 4), (3, 5), (4, 4)]
CRNN_CHANNELS = [64, 128, 128, 128]
CRNN_POOLS = [(2, 2), (3, 3), (4, 4), (4, 4)]
CRNN_PAD = 37
GRU_UNITS = 32

FILES = {
    "fcn": "choi_fcn_msd.safetensors",
    "crnn": "choi_crnn_msd.safetensors",
    "gtzan": "jimenez_crnn_gtzan.safetensors",
}


def load(name):
    """(tensors as float32 numpy arrays, metadata dict) of a built-in model."""
    path = os.path.join(WEIGHTS, FILES[name])
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for key, info in header.items():
        assert info["dtype"] == "F32", key
        a, b = info["data_offsets"]
        tensors[key] = np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"]).copy()
    return tensors, meta


def labels(name):
    return json.loads(load(name)[1]["labels"])


def arch(name):
    return "fcn" if name == "fcn" else "crnn"


def flops(name):
    """FLOPs per 29.12 s frame: conv multiply-adds (x2), GRU and dense matrix products;
    element-wise layers are not counted (same rule as mgr-cli bench)."""
    w, _ = load(name)
    n_out = w["output.weight"].shape[0]
    if arch(name) == "fcn":
        chans, pools, (h, t) = FCN_CHANNELS, FCN_POOLS, (N_MELS, N_FRAMES)
    else:
        chans, pools, (h, t) = CRNN_CHANNELS, CRNN_POOLS, (N_MELS, N_FRAMES + 2 * CRNN_PAD)
    c, total = 1, 0
    for k, (co, (ph, pw)) in enumerate(zip(chans, pools), start=1):
        assert w[f"conv{k}.weight"].shape == (co, c, 3, 3)
        total += 2 * c * 9 * co * h * t
        c, h, t = co, h // ph, t // pw
    if arch(name) == "fcn":
        return total + 2 * c * h * t * n_out
    u = GRU_UNITS
    gru = 2 * 3 * u * (c * h + u) + 2 * 3 * u * (u + u)
    return total + t * gru + 2 * u * n_out


def _bn(w, k):
    g, b = w[f"{k}.gamma"], w[f"{k}.beta"]
    m, v = w[f"{k}.running_mean"], w[f"{k}.running_var"]
    return g, b, m, v


# ---------------------------------------------------------------- ONNX


def onnx_model(name):
    """ONNX graph (opset 17) of the network, input "logmel" [batch, 1, 96, 1366], output
    "probs" [batch, n_out]. Built node by node with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w, _ = load(name)
    nodes, inits = [], []

    def const(key, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), key))
        return key

    def node(op, inputs, out, **attrs):
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    x = "logmel"
    is_fcn = arch(name) == "fcn"
    if not is_fcn:
        pads = const("pad_amounts", np.zeros(0))  # replaced below by an int64 initializer
        inits.pop()
        inits.append(
            numpy_helper.from_array(
                np.array([0, 0, 0, CRNN_PAD, 0, 0, 0, CRNN_PAD], dtype=np.int64), "pad_amounts"
            )
        )
        x = node("Pad", [x, pads], "padded", mode="constant")
    # bn0: one statistic per time frame, shared by the 96 bands: y = x * s + o.
    g, b, m, v = _bn(w, "bn0")
    s = g / np.sqrt(v + EPS)
    o = b - m * s
    x = node("Mul", [x, const("bn0_scale", s.reshape(1, 1, 1, -1))], "bn0_mul")
    x = node("Add", [x, const("bn0_shift", o.reshape(1, 1, 1, -1))], "bn0")
    chans, pools = (FCN_CHANNELS, FCN_POOLS) if is_fcn else (CRNN_CHANNELS, CRNN_POOLS)
    for k, (_, pool) in enumerate(zip(chans, pools), start=1):
        x = node(
            "Conv",
            [x, const(f"conv{k}.weight", w[f"conv{k}.weight"]), const(f"conv{k}.bias", w[f"conv{k}.bias"])],
            f"conv{k}",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
        )
        g, b, m, v = _bn(w, f"bn{k}")
        x = node(
            "BatchNormalization",
            [x, const(f"bn{k}.gamma", g), const(f"bn{k}.beta", b), const(f"bn{k}.mean", m), const(f"bn{k}.var", v)],
            f"bn{k}",
            epsilon=EPS,
        )
        x = node("Elu", [x], f"elu{k}", alpha=1.0)
        x = node("MaxPool", [x], f"pool{k}", kernel_shape=list(pool), strides=list(pool))
    if is_fcn:
        x = node("Flatten", [x], "features", axis=1)
    else:
        # [batch, 128, 1, 15] -> [15, batch, 128] (ONNX RNN layout 0: seq, batch, features)
        axes2 = "axes_2"
        inits.append(numpy_helper.from_array(np.array([2], dtype=np.int64), axes2))
        x = node("Squeeze", [x, axes2], "seq_bct")
        x = node("Transpose", [x], "seq", perm=[2, 0, 1])
        axes1 = "axes_1"
        inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), axes1))
        axes0 = "axes_0"
        inits.append(numpy_helper.from_array(np.array([0], dtype=np.int64), axes0))
        for k in (1, 2):
            wi, wh, bi = w[f"gru{k}.w_ih"], w[f"gru{k}.w_hh"], w[f"gru{k}.b_ih"]
            bias = np.concatenate([bi, np.zeros_like(bi)])  # Wb (z, r, h) then Rb (none)
            outs = [f"gru{k}_y", f"gru{k}_h"]
            nodes.append(
                helper.make_node(
                    "GRU",
                    [x, const(f"gru{k}.W", wi[None]), const(f"gru{k}.R", wh[None]), const(f"gru{k}.B", bias[None])],
                    outs,
                    hidden_size=GRU_UNITS,
                    activations=["HardSigmoid", "Tanh"],
                    activation_alpha=[0.2],
                    activation_beta=[0.5],
                    linear_before_reset=0,
                )
            )
            if k == 1:
                x = node("Squeeze", [outs[0], axes1], "gru1_seq")  # [15, 1, B, 32] -> [15, B, 32]
            else:
                x = node("Squeeze", [outs[1], axes0], "features")  # [1, B, 32] -> [B, 32]
    x = node(
        "Gemm",
        [x, const("output.weight", w["output.weight"]), const("output.bias", w["output.bias"])],
        "logits",
        transB=1,
    )
    node("Sigmoid", [x], "probs")
    n_out = w["output.weight"].shape[0]
    graph = helper.make_graph(
        nodes,
        f"mgr_{name}",
        [helper.make_tensor_value_info("logmel", TensorProto.FLOAT, ["batch", 1, N_MELS, N_FRAMES])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", n_out])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------- Keras


def keras_model(name):
    """tf.keras model of the network (channels-last, as TensorFlow's CPU kernels want), input
    [batch, 96, 1366, 1], output probabilities."""
    import tensorflow as tf

    keras = tf.keras
    L = keras.layers
    w, _ = load(name)
    is_fcn = arch(name) == "fcn"

    def hard_sigmoid(a):  # Keras 1; Keras 3's built-in hard_sigmoid has slope 1/6
        return tf.clip_by_value(0.2 * a + 0.5, 0.0, 1.0)

    def bn(layer_axis, key):
        g, b, m, v = _bn(w, key)
        layer = L.BatchNormalization(axis=layer_axis, epsilon=EPS)
        return layer, [g, b, m, v]

    inp = keras.Input((N_MELS, N_FRAMES, 1))
    x = inp
    setters = []
    if not is_fcn:
        x = L.ZeroPadding2D(((0, 0), (CRNN_PAD, CRNN_PAD)))(x)
    layer, vals = bn(2, "bn0")  # per time frame
    x = layer(x)
    setters.append((layer, vals))
    chans, pools = (FCN_CHANNELS, FCN_POOLS) if is_fcn else (CRNN_CHANNELS, CRNN_POOLS)
    for k, (co, pool) in enumerate(zip(chans, pools), start=1):
        conv = L.Conv2D(co, 3, padding="same")
        x = conv(x)
        setters.append((conv, [w[f"conv{k}.weight"].transpose(2, 3, 1, 0), w[f"conv{k}.bias"]]))
        layer, vals = bn(-1, f"bn{k}")
        x = layer(x)
        setters.append((layer, vals))
        x = L.ELU(alpha=1.0)(x)
        x = L.MaxPooling2D(pool, strides=pool)(x)
    if is_fcn:
        x = L.Flatten()(x)
    else:
        x = L.Reshape((15, CRNN_CHANNELS[-1]))(x)  # [B, 1, 15, 128] -> steps x features
        for k, seq in ((1, True), (2, False)):
            gru = L.GRU(
                GRU_UNITS,
                activation="tanh",
                recurrent_activation=hard_sigmoid,
                reset_after=False,
                return_sequences=seq,
            )
            x = gru(x)
            # Keras kernel [in, 3u] with column blocks z, r, h — the same order as ours.
            setters.append((gru, [w[f"gru{k}.w_ih"].T, w[f"gru{k}.w_hh"].T, w[f"gru{k}.b_ih"]]))
    dense = L.Dense(w["output.weight"].shape[0], activation="sigmoid")
    x = dense(x)
    setters.append((dense, [w["output.weight"].T, w["output.bias"]]))
    model = keras.Model(inp, x)
    for layer, vals in setters:
        layer.set_weights([np.ascontiguousarray(v, dtype=np.float32) for v in vals])
    return model
