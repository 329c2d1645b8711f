"""mgr.logmel against librosa with the reference parameters, within 1e-3 dB: the clip the
networks take and whole signals of other lengths."""

import numpy as np
import pytest

import mgr
from conftest import BENSOUND, GOLDEN

librosa = pytest.importorskip("librosa")


def librosa_logmel(y):
    # The reference front-end in librosa's terms. pad_mode="reflect": librosa 0.4, which made
    # the published inputs, reflected; librosa >= 0.10 pads with zeros by default.
    s = librosa.feature.melspectrogram(
        y=y, sr=12000, n_fft=512, hop_length=256, n_mels=96, power=2.0, pad_mode="reflect"
    )
    return librosa.power_to_db(s**2, ref=1.0, amin=1e-10, top_db=80.0)


@pytest.mark.parametrize("length", [349_440, 12_000 * 10 + 77, 30_000, 2_000])
def test_logmel_is_librosas(length):
    y = mgr.load(BENSOUND / "bensound-dubstep.mp3")
    start = (len(y) - length) // 2
    y = y[start : start + length]
    ours = mgr.logmel(y)
    want = librosa_logmel(y)
    assert ours.shape == want.shape == (96, 1 + length // 256)
    worst = np.abs(ours.astype(np.float64) - want).max()
    assert worst <= 1e-3, f"worst |diff| {worst:.3g} dB"


def test_golden_clip_is_librosas():
    y = np.load(GOLDEN / "cute" / "clip_12k.npy")
    assert np.abs(mgr.logmel(y) - librosa_logmel(y)).max() <= 1e-3
