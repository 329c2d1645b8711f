"""Bounce a track through mgr.vst3 in a headless Ardour 7 and read mgr's saved state back.

Usage: python3 ardour_bounce.py path/to/mgr.vst3 [seconds] [runs]

Each run makes a fresh HOME (Ardour's configuration and plugin cache) with the bundle in
~/.vst3, runs ardour_bounce.lua in `ardour7-lua` (Ardour's dummy backend, 48 kHz), then
decodes the VST3 component state that Ardour saved in the session file: nice-plug's JSON
state, whose `analysis` field holds mgr's result. Prints one JSON line per run with the
samples the plugin analysed and dropped, and exits non-zero when any run dropped samples,
did not notice the render, or analysed other than the bounce plus the engine's realtime
pre- and post-roll (see `missing_ok`).
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

RATE = 48000
HERE = os.path.dirname(os.path.abspath(__file__))
# The plugin analyses at 12 kHz: one analysed sample is RATE / 12000 input samples.
PER_HEARD = RATE // 12000
# What the plugin may not have analysed yet when Ardour saves its state, in 48 kHz samples:
# the streaming resampler's held-back tail and the last engine cycles before the worker's next
# publish. Measured on this machine kind (Debian ardour 7.3, debug bundle, 11 runs of 60 s;
# pre-roll 84-91k samples, post-roll 217-226k): 272 to 3,480 samples short of bounce +
# pre-roll + post-roll, i.e. under 3.4 engine cycles of 1024. The limit is 10x the worst,
# 0.73 s. A bounce that loses 6 s is 290k short (the former check, heard >= given/4, passed
# it).
MAX_MISSING = 34_800
# More than given: the engine counters are read just after the plugin is inserted and just
# before the state is saved, so a cycle or two on either side can be heard but not counted
# (not seen in the 11 runs above).
MAX_EXTRA = 4 * 1024


def plugin_state(session_file: str) -> dict:
    """mgr's `analysis` field from the session's saved VST3 component state."""
    root = ET.parse(session_file).getroot()
    for proc in root.iter("Processor"):
        if proc.get("name") != "mgr":
            continue
        for node in proc.iter():
            text = (node.text or "").strip()
            if len(text) < 16:
                continue
            try:
                blob = base64.b64decode(text, validate=True)
            except ValueError:
                continue
            start = blob.find(b"{")
            if start < 0:
                continue
            try:
                state, _ = json.JSONDecoder().raw_decode(blob[start:].decode("utf-8", "replace"))
            except ValueError:
                continue
            if "fields" in state:
                return json.loads(state["fields"]["analysis"])
    raise SystemExit(f"{session_file}: no mgr state found")


def run_once(vst3: str, seconds: float) -> dict:
    home = tempfile.mkdtemp(prefix="mgr-ardour-")
    try:
        os.makedirs(os.path.join(home, ".vst3"))
        # The bundle's name must match its library's (mgr.vst3/.../mgr.so).
        shutil.copytree(vst3, os.path.join(home, ".vst3", "mgr.vst3"))
        env = dict(os.environ)
        env.update(
            HOME=home,
            XDG_CONFIG_HOME=os.path.join(home, ".config"),
            XDG_CACHE_HOME=os.path.join(home, ".cache"),
            MGR_SESSION_DIR=os.path.join(home, "session"),
            MGR_SESSION_NAME="mgr-bounce",
            MGR_SECONDS=str(seconds),
            # Ardour scans plugins with its own helper binary, which needs Ardour's libraries.
            LD_LIBRARY_PATH="/usr/lib/ardour7",
        )
        # Ardour loads VST3 plugins from its cache; its scanner writes the cache entry.
        scan = subprocess.run(
            ["/usr/lib/ardour7/ardour-vst3-scanner", os.path.join(home, ".vst3", "mgr.vst3")],
            env=env, capture_output=True, text=True, timeout=120,
        )
        if "Found Plugin: mgr" not in scan.stdout + scan.stderr:
            print(scan.stdout + scan.stderr, file=sys.stderr)
            raise SystemExit("ardour-vst3-scanner did not find mgr")
        t = time.monotonic()
        out = subprocess.run(
            ["ardour7-lua", os.path.join(HERE, "ardour_bounce.lua")],
            env=env, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
        )
        wall = time.monotonic() - t
        log = out.stdout + out.stderr
        if out.returncode != 0 or "MGR saved" not in log:
            print(log, file=sys.stderr)
            raise SystemExit(f"ardour7-lua failed (exit {out.returncode})")
        bounce = re.search(r"MGR bounced .*", log)
        engine = re.search(r"MGR engine pre_roll=(\d+) during=(\d+) post_roll=(\d+)", log)
        if engine is None:
            print(log, file=sys.stderr)
            raise SystemExit("ardour_bounce.lua printed no engine counters")
        pre, during, post = (int(v) for v in engine.groups())
        state = plugin_state(os.path.join(home, "session", "mgr-bounce.ardour"))
        given = int(seconds * RATE)
        heard = state.get("heard_samples") or 0
        return {
            "seconds": seconds,
            "bounce": bounce.group(0) if bounce else None,
            "ardour_wall_s": round(wall, 1),
            "given_samples": given,
            # Realtime engine cycles before and after the bounce (the plugin hears them too)
            # and during it (it does not: the bounce holds the process lock).
            "pre_roll_samples": pre,
            "during_bounce_samples": during,
            "post_roll_samples": post,
            # Input samples not analysed: positive = missing, negative = more than fed.
            "missing_samples": given + pre + post - heard * PER_HEARD,
            "dropped_samples": state.get("dropped_samples"),
            "heard_samples_12k": state.get("heard_samples"),
            "heard_s": state.get("heard_s"),
            "song_label": state.get("song_label"),
            "stream": state.get("stream"),
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)


def missing_ok(r: dict) -> bool:
    """Every sample of the bounce was analysed: what the plugin heard (at 12 kHz) is the
    bounce plus the engine's realtime pre- and post-roll, short by at most MAX_MISSING."""
    return -MAX_EXTRA <= r["missing_samples"] <= MAX_MISSING


def main() -> int:
    vst3 = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    bad = 0
    for _ in range(runs):
        r = run_once(vst3, seconds)
        print(json.dumps(r), flush=True)
        # The bounce runs faster than real time in realtime mode, and the plugin must notice.
        fast = (r.get("stream") or {}).get("faster_than_realtime") is True
        problems = [
            what
            for what, failed in [
                ("samples dropped", r["dropped_samples"] != 0),
                (f"{r['missing_samples']} samples not analysed", not missing_ok(r)),
                ("render not noticed", not fast),
            ]
            if failed
        ]
        if problems:
            print("ardour bounce: " + ", ".join(problems), file=sys.stderr)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
