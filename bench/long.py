#!/usr/bin/env python3
"""Memory and time of `mgr-cli classify` on long recordings (docs/long.md, the README's
figures): a 2 h 06 min and a 10 h MP3 (the data pack's four bensound songs, their tags
stripped, repeated 60 and 285 times) and 24 hours of digital silence (8 kHz mono 16-bit WAV,
written sparse). Each file is classified once per build and resampler, under
`/usr/bin/time -f "%e %M"` (wall seconds, peak RSS). Standard library only.

    bench/long.py --mgr target/release/mgr-cli [--before OLD-BUILD/mgr-cli] [--only 2h,silence]

The files go to --dir (default: a temp folder; 1.2 GB for the MP3s, the WAV takes no space
where the file system writes sparse files).
"""
import argparse
import glob
import os
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACK = os.path.join(HERE, "..", "..", "shared")


def strip_tags(b):
    """An MP3's frames without its ID3v2 header and ID3v1 trailer."""
    if b[:3] == b"ID3":
        size = (b[6] << 21) | (b[7] << 14) | (b[8] << 7) | b[9]
        b = b[10 + size:]
    if b[-128:-125] == b"TAG":
        b = b[:-128]
    return b


def mix(path, reps):
    songs = sorted(glob.glob(os.path.join(PACK, "audio", "bensound", "*.mp3")))
    if len(songs) != 4:
        raise SystemExit(f"expected the 4 bensound songs in {PACK}/audio/bensound")
    once = b"".join(strip_tags(open(s, "rb").read()) for s in songs)
    with open(path, "wb") as f:
        for _ in range(reps):
            f.write(once)


def silence(path, seconds=24 * 3600, rate=8000):
    data = 2 * rate * seconds
    header = (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
              + b"data" + struct.pack("<I", data))
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(44 + data)  # zeros: sparse where the file system allows


FILES = {
    "2h": ("mix-2h06.mp3", lambda p: mix(p, 60), [[]]),
    "10h": ("mix-10h.mp3", lambda p: mix(p, 285), [[]]),
    "silence": ("silence-24h.wav", silence, [["--resampler", "fast"], []]),
}


def timed(cmd):
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    wall, kb = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kb) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mgr", default=os.path.join("target", "release", "mgr-cli"))
    ap.add_argument("--before", help="a build to compare with (e.g. the whole-file path)")
    ap.add_argument("--only", default="2h,10h,silence")
    ap.add_argument("--dir")
    a = ap.parse_args()
    folder = a.dir or tempfile.mkdtemp(prefix="mgr-long-")
    os.makedirs(folder, exist_ok=True)
    builds = [("now", a.mgr)] + ([("before", a.before)] if a.before else [])
    print("| file | build | options | wall | peak RSS |\n|---|---|---|---:|---:|")
    for key in a.only.split(","):
        name, make, options = FILES[key]
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            make(path)
        for label, mgr in builds:
            for opts in options:
                wall, mb = timed([mgr, "classify", path, *opts])
                print(f"| {name} | {label} | {' '.join(opts) or 'default'} | {wall:.1f} s | {mb:.0f} MB |",
                      flush=True)


if __name__ == "__main__":
    main()
