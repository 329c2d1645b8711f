"""mgr.logmel, mgr.frames and Model.predict/embed against the golden vectors of the pack
(reference/golden: the float64 NumPy reference of the published networks), within 1e-4."""

import numpy as np
import pytest

import mgr
from conftest import GOLDEN

TOL = 1e-4


def golden(clip, name):
    return np.load(GOLDEN / clip / f"{name}.npy")


def close(ours, want, tol=TOL):
    ours, want = np.asarray(ours, np.float64), np.asarray(want, np.float64)
    assert ours.shape == want.shape
    worst = np.abs(ours - want).max()
    assert worst <= tol, f"worst |diff| {worst:.3g} > {tol}"


@pytest.mark.parametrize("clip", ["cute", "gtzan-blues.00000"])
def test_logmel_of_the_reference_clip(clip):
    y = golden(clip, "clip_12k")
    mel = mgr.logmel(y)
    assert mel.dtype == np.float32 and mel.shape == (96, 1366)
    # The golden input is float32 from float64 maths: ours is within 1e-4 dB of it.
    close(mel, golden(clip, "logmel"))
    # float64 in is converted, not refused; a list works as well.
    close(mgr.logmel(y.astype(np.float64)), mel, 0)


def test_frames_of_a_clip_is_its_logmel():
    y = golden("cute", "clip_12k")
    f = mgr.frames(y)
    assert f.shape == (1, 96, 1366) and f.dtype == np.float32
    np.testing.assert_array_equal(f[0], mgr.logmel(y))


def test_load_of_the_gtzan_clip_gives_the_golden_logmel():
    # blues.00000.flac: 22,050 Hz, no decoder delay; the reference resampler, centre crop.
    from conftest import GTZAN_MINI

    y = mgr.load(GTZAN_MINI / "genres" / "blues" / "blues.00000.flac")
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == 360161
    close(y[5360 : 5360 + 349440], golden("gtzan-blues.00000", "clip_12k"))
    close(mgr.frames(y)[0], golden("gtzan-blues.00000", "logmel"))


# (model, golden prefix, the layer `embed` calls its features)
MODELS = [("fcn", "fcn", "fcn_features"), ("crnn", "crnn", "crnn_gru2"), ("gtzan", "gtzan", "gtzan_gru2")]


@pytest.mark.parametrize("name,prefix,features", MODELS)
def test_predict_and_embed_on_the_golden_input(name, prefix, features):
    model = mgr.Model(name)
    mel = golden("cute", "logmel")
    probs = model.predict(mel[None])
    assert probs.dtype == np.float32 and probs.shape == (1, len(model.labels))
    close(probs[0], golden("cute", f"{prefix}_probs"))
    close(model.embed(mel, layer="features")[0], golden("cute", features))
    close(model.embed(mel, layer="logits")[0], golden("cute", f"{prefix}_logits"))
    # A batch gives each frame's own scores, whatever the batch size.
    batch = np.stack([mel, golden("gtzan-blues.00000", "logmel"), mel])
    close(model.predict(batch, batch=2), np.stack([probs[0], model.predict(batch[1])[0], probs[0]]), 1e-6)


def test_stack_embedding_is_pooled_features_logits():
    model = mgr.Model("gtzan")
    mel = golden("cute", "logmel")
    stack = model.embed(mel, layer="stack")
    pooled = model.embed(mel, layer="pooled")
    assert stack.shape == (1, 490) and pooled.shape == (1, 448)
    np.testing.assert_array_equal(stack[0, :448], pooled[0])
    close(stack[0, 448:480], golden("cute", "gtzan_gru2"))
    close(stack[0, 480:], golden("cute", "gtzan_logits"))


def test_models_and_their_labels():
    assert mgr.BUILTIN_MODELS == ["gtzan", "crnn", "fcn"]
    gtzan = mgr.Model()
    assert gtzan.labels == ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
    assert gtzan.provenance is None and gtzan.architecture == "crnn"
    assert len(mgr.Model("fcn").labels) == 50 and mgr.Model("fcn").architecture == "fcn"
    assert "MIT" in mgr.WEIGHT_LICENSES["gtzan"]
