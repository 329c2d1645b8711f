"""mgr.evaluate and mgr.finetune on a small GTZAN-style folder: the CLI's report, a model file
that loads back with its provenance, progress reported to a callable."""

import json
import os
import subprocess

import pytest

import mgr
from conftest import GTZAN_MINI

GENRES = ["classical", "metal", "reggae"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for g in GENRES:
        (root / g).mkdir()
        for i in range(5):
            name = f"{g}.{i:05d}.flac"
            os.symlink(GTZAN_MINI / "genres" / g / name, root / g / name)
    return root


def without_times(value):
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if "second" not in k and k != "timing"}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def test_evaluate_is_the_clis_report(cli, data, tmp_path):
    out = tmp_path / "eval.json"
    subprocess.run([str(cli), "eval", "gtzan", str(data), "--split", "all", "--json", str(out)], check=True, capture_output=True)
    want = json.loads(out.read_text())
    stages = []
    got = mgr.evaluate(str(data), split="all", progress=lambda stage, done, total: stages.append((stage, done, total)))
    assert without_times(got) == without_times(want)
    assert stages and all(0 <= done <= total for _, done, total in stages)


def test_finetune_writes_a_model_that_loads_back(data, tmp_path):
    out = tmp_path / "three.safetensors"
    notes = []

    class Progress:
        def note(self, line):
            notes.append(line)

    report = mgr.finetune(str(data), str(out), strategy="features-softmax", progress=Progress())
    assert out.exists() and report["genres"] == GENRES and report["train_songs"] + report["valid_songs"] == 15
    model = mgr.Model(str(out))
    assert model.labels == GENRES
    assert model.provenance is not None and model.provenance["strategy"] == "features-softmax"
    (song,) = list(mgr.classify(str(data / "metal" / "metal.00000.flac"), model=model))
    assert list(song["scores"]) == GENRES


def test_an_interrupt_in_progress_stops_evaluate(data):
    # Ctrl-C arrives as a KeyboardInterrupt at the next progress report (the callback raising
    # it here): the exception comes through unchanged, not as an mgr.InternalError.
    calls = []

    def interrupt(stage, done, total):
        calls.append(done)
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mgr.evaluate(str(data), split="all", progress=interrupt)
    assert calls[-1] == 1
    # The interpreter and the package live on.
    assert mgr.Model("gtzan").labels[0] == "blues"
