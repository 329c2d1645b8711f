"""mgr.classify against `mgr-cli classify --json` on the pack's songs; the GIL released while
it works; Ctrl-C (KeyboardInterrupt), close() and break stop it cleanly."""

import json
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import mgr
from conftest import BENSOUND, GTZAN_MINI


def cli_json(cli, *args):
    out = subprocess.run([str(cli), "classify", "--json", *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def by_path(records):
    return {r["path"]: r for r in records}


@pytest.mark.parametrize("extra", [[], ["--per-frame"]])
def test_classify_matches_the_cli_json(cli, extra):
    # The four bensound songs (MP3, 44.1 kHz) and two GTZAN genres (FLAC and .au, 22,050 Hz),
    # plus a file that is not audio: the CLI's objects, key for key, value for value.
    roots = [BENSOUND, GTZAN_MINI / "genres" / "jazz", GTZAN_MINI / "au-sample"]
    want = by_path(cli_json(cli, *extra, *roots))
    got = list(mgr.classify([str(r) for r in roots], per_frame=bool(extra), threads=2))
    assert len(got) == len(want) >= 8
    assert by_path(got) == want


def test_classify_accepts_a_model_object_and_a_single_file(cli):
    song = BENSOUND / "bensound-cute.mp3"
    (want,) = cli_json(cli, song)
    (got,) = list(mgr.classify(str(song), model=mgr.Model("gtzan"), batch=1))
    assert got == want
    assert got["label"] == "classical" and got["frames"] == 1


def test_classify_reports_an_undecodable_file_and_goes_on(tmp_path):
    (tmp_path / "a.mp3").write_bytes(b"not audio at all" * 100)
    os.symlink(BENSOUND / "bensound-cute.mp3", tmp_path / "b.mp3")
    got = by_path(mgr.classify(str(tmp_path)))
    bad = got[str(tmp_path / "a.mp3")]
    assert set(bad) == {"path", "error"} and "a.mp3" in bad["error"]
    assert got[str(tmp_path / "b.mp3")]["label"] == "classical"


def test_other_python_threads_run_while_classify_works():
    # A pure-Python counter thread can only count while no one holds the GIL. Every
    # __next__ that waited a while for a song must have let it count a lot.
    count = [0]
    stop = threading.Event()

    def counter():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        waits = []
        it = mgr.classify(str(BENSOUND), threads=1)
        while True:
            c0, t0 = count[0], time.perf_counter()
            try:
                next(it)
            except StopIteration:
                break
            waits.append((time.perf_counter() - t0, count[0] - c0))
    finally:
        stop.set()
        t.join()
    assert len(waits) == 4
    long_waits = [(s, n) for s, n in waits if s > 0.2]
    assert long_waits, f"no song took long enough to tell: {waits}"
    for s, n in long_waits:
        assert n > 10_000, f"the counter thread counted {n} in {s:.2f} s inside classify"


def test_other_python_threads_run_during_predict():
    count = [0]
    stop = threading.Event()

    def counter():
        while not stop.is_set():
            count[0] += 1

    mels = np.zeros((8, 96, 1366), np.float32)
    model = mgr.Model("gtzan")
    t = threading.Thread(target=counter)
    t.start()
    try:
        c0, t0 = count[0], time.perf_counter()
        model.predict(mels)
        seconds, counted = time.perf_counter() - t0, count[0] - c0
    finally:
        stop.set()
        t.join()
    assert counted > 10_000 or seconds < 0.05, f"counted {counted} in {seconds:.2f} s of predict"


def many_songs():
    return str(GTZAN_MINI / "genres")


def test_keyboard_interrupt_stops_classify_cleanly():
    # Ctrl-C as the terminal sends it: SIGINT to the process while the loop waits for songs.
    # Python's handler is installed for the test: a runner started as a background job of a
    # non-interactive shell inherits SIGINT ignored, and Python then leaves it ignored.
    # A failed check cancels the timer, so that its SIGINT cannot land in a later test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    try:
        interrupt_classify(timer)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)


def interrupt_classify(timer):
    songs = []
    it = mgr.classify(many_songs(), threads=1)
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        for song in it:
            songs.append(song)
    stopped = time.perf_counter() - t0
    timer.join()
    # Interrupted well before the ~100 songs were done, and promptly (the run thread was
    # joined before the exception came through: no song is produced any more).
    assert len(songs) < 50
    assert stopped < 1.0 + 5.0, f"took {stopped:.1f} s to stop"
    assert list(it) == []
    # The interpreter and the package live on.
    (again,) = list(mgr.classify(str(BENSOUND / "bensound-cute.mp3")))
    assert again["label"] == "classical"


def test_close_and_break_stop_the_run():
    it = mgr.classify(many_songs(), threads=1)
    first = next(it)
    assert "label" in first or "error" in first
    t0 = time.perf_counter()
    it.close()
    assert time.perf_counter() - t0 < 5.0
    assert list(it) == []
    with mgr.classify(many_songs(), threads=1) as it:
        for _ in it:
            break
    assert list(it) == []


def test_classify_is_load_frames_predict():
    # The tagger through classify: the mean of predict over the song's frames, 4 decimals.
    path = BENSOUND / "bensound-thejazzpiano.mp3"
    (song,) = list(mgr.classify(str(path), model="crnn"))
    model = mgr.Model("crnn")
    mean = model.predict(mgr.frames(mgr.load(path))).mean(axis=0)
    assert list(song["scores"]) == model.labels
    np.testing.assert_allclose(list(song["scores"].values()), mean, atol=5e-5 + 1e-6)
    assert song["label"] == model.labels[int(np.argmax(mean))] == "jazz"
