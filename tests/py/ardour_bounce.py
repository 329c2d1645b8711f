"""Bounce a track through mgr.vst3 in a headless Ardour 7 and read mgr's saved state back.

Usage: python3 ardour_bounce.py path/to/mgr.vst3 [seconds] [runs]

Each run makes a fresh HOME (Ardour's configuration and plugin cache) with the bundle in
~/.vst3, runs ardour_bounce.lua in `ardour7-lua` (Ardour's dummy backend, 48 kHz), then
decodes the VST3 component state that Ardour saved in the session file: nice-plug's JSON
state, whose `analysis` field holds mgr's result. Prints one JSON line per run with the
samples the plugin analysed and dropped, and exits non-zero when any run dropped samples or
analysed fewer than it was given.
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
        state = plugin_state(os.path.join(home, "session", "mgr-bounce.ardour"))
        given = int(seconds * RATE)
        return {
            "seconds": seconds,
            "bounce": bounce.group(0) if bounce else None,
            "ardour_wall_s": round(wall, 1),
            "given_samples": given,
            "dropped_samples": state.get("dropped_samples"),
            "heard_samples_12k": state.get("heard_samples"),
            "heard_s": state.get("heard_s"),
            "song_label": state.get("song_label"),
            "stream": state.get("stream"),
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    vst3 = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    bad = 0
    for _ in range(runs):
        r = run_once(vst3, seconds)
        print(json.dumps(r), flush=True)
        # The realtime engine also fed the plugin while the session ran: the bounce's samples
        # are the minimum the plugin must have heard (at 12 kHz: a quarter of 48 kHz). The
        # bounce runs faster than real time in realtime mode, and the plugin must notice.
        fast = (r.get("stream") or {}).get("faster_than_realtime") is True
        if (
            r["dropped_samples"] != 0
            or (r["heard_samples_12k"] or 0) < r["given_samples"] // 4
            or not fast
        ):
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
