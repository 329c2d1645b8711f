"""Bad input raises the right exception classes with one-line messages; a Rust panic is an
mgr.InternalError and the interpreter lives on."""

import numpy as np
import pytest

import mgr
from conftest import BENSOUND


def one_line(e):
    text = str(e.value)
    assert text and "\n" not in text
    return text


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        mgr.load(tmp_path / "nothing.mp3")
    assert "nothing.mp3" in one_line(e)
    with pytest.raises(IsADirectoryError):
        mgr.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        mgr.Model(str(tmp_path / "model.safetensors"))
    with pytest.raises(FileNotFoundError):
        mgr.classify([str(BENSOUND), str(tmp_path / "gone")])


def test_not_audio_is_a_decode_error(tmp_path):
    bad = tmp_path / "song.mp3"
    bad.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(mgr.DecodeError) as e:
        mgr.load(bad)
    assert isinstance(e.value, ValueError) and isinstance(e.value, mgr.Error)
    assert "song.mp3" in one_line(e)


def test_bad_signals():
    with pytest.raises(mgr.DecodeError) as e:
        mgr.logmel(np.array([0.0, np.nan, 0.5], np.float32))
    one_line(e)
    with pytest.raises(mgr.DecodeError):
        mgr.resample(np.zeros(1000, np.float32), orig_sr=4000)
    with pytest.raises(ValueError) as e:
        mgr.logmel(np.zeros(1000, np.float32), sr=22050)
    assert "12000" in one_line(e)
    with pytest.raises(ValueError):
        mgr.load(BENSOUND / "bensound-cute.mp3", resampler="best")
    with pytest.raises(TypeError):
        mgr.logmel(np.zeros((2, 1000), np.float32))


def test_bad_models_and_inputs(tmp_path):
    junk = tmp_path / "model.safetensors"
    junk.write_bytes(b"{}" * 64)
    with pytest.raises(mgr.ModelError) as e:
        mgr.Model(str(junk))
    assert isinstance(e.value, ValueError)
    one_line(e)
    model = mgr.Model("gtzan")
    with pytest.raises(ValueError) as e:
        model.predict(np.zeros((2, 96, 100), np.float32))
    assert "(n, 96, 1366)" in one_line(e)
    with pytest.raises(ValueError):
        model.predict(np.full((96, 1366), np.inf, np.float32))
    with pytest.raises(ValueError):
        model.embed(np.zeros((96, 1366), np.float32), layer="gru7")
    with pytest.raises(mgr.DeviceError) as e:
        mgr.Model("gtzan", device="cuda")
    assert isinstance(e.value, RuntimeError)
    with pytest.raises(ValueError):
        mgr.Model("gtzan", device="tpu")
    with pytest.raises(ValueError):
        mgr.classify(str(BENSOUND), threads=0)


def test_training_options_are_checked(tmp_path):
    with pytest.raises(TypeError) as e:
        mgr.finetune(str(tmp_path), str(tmp_path / "m.safetensors"), epoch=3)
    assert "epoch" in one_line(e)
    with pytest.raises(ValueError):
        mgr.evaluate(str(tmp_path), split="kfold:x")
    with pytest.raises(TypeError):
        mgr.evaluate(str(tmp_path), progress=42)


def test_a_panic_is_an_internal_error():
    with pytest.raises(mgr.InternalError) as e:
        mgr._mgr._panic("on purpose")
    assert "on purpose" in one_line(e) and isinstance(e.value, RuntimeError)
    # The interpreter and the extension live on.
    assert mgr.logmel(np.zeros(12000, np.float32)).shape == (96, 47)
