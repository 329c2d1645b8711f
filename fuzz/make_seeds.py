#!/usr/bin/env python3
"""Writes the fuzz seed corpus: short synthetic files (a tone over noise, 0.1-0.3 s) in
every format and variant the decoders read, made with libsndfile (`pip install soundfile
numpy`). Synthetic so that the corpus carries no recording; small so that the fuzzer's
mutations reach the headers often. Ogg serial numbers are random: a rerun writes other
bytes with the same structure.

    python3 fuzz/make_seeds.py    # from the repository root; rewrites the audio targets' seeds
"""
import os
import shutil

import numpy as np
import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))


def signal(rate, seconds, channels):
    t = np.arange(int(rate * seconds)) / rate
    rng = np.random.default_rng(1)
    cols = [0.4 * np.sin(2 * np.pi * 220 * (c + 1) * t) + 0.05 * rng.standard_normal(t.size)
            for c in range(channels)]
    return np.stack(cols, axis=1)


def write(target, name, rate, seconds, channels, fmt, subtype, title=None):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with sf.SoundFile(path, "w", rate, channels, subtype, format=fmt) as f:
        if title:
            f.title = title  # a LIST/INFO chunk in WAV, a comment in FLAC and Ogg
        f.write(signal(rate, seconds, channels))
    return path


def main():
    corpus = os.path.join(HERE, "corpus")
    # Only the audio targets' seeds are made here (the model and plugin_state seeds are not).
    for target in ["au", "flac", "flac_vs_symphonia", "symphonia", "wav"]:
        folder = os.path.join(corpus, target)
        for f in os.listdir(folder) if os.path.isdir(folder) else []:
            if f.startswith("seed-"):
                os.remove(os.path.join(folder, f))
    flac = [
        write("flac", "seed-mono16.flac", 22050, 0.3, 1, "FLAC", "PCM_16"),
        write("flac", "seed-stereo24.flac", 44100, 0.1, 2, "FLAC", "PCM_24", title="mgr"),
        write("flac", "seed-mono8.flac", 8000, 0.3, 1, "FLAC", "PCM_S8"),
    ]
    os.makedirs(os.path.join(corpus, "flac_vs_symphonia"), exist_ok=True)
    for f in flac:
        shutil.copy(f, os.path.join(corpus, "flac_vs_symphonia", os.path.basename(f)))
    wav = [
        write("wav", "seed-pcm16.wav", 22050, 0.1, 1, "WAV", "PCM_16", title="mgr"),
        write("wav", "seed-u8.wav", 8000, 0.1, 1, "WAV", "PCM_U8"),
        write("wav", "seed-float.wav", 16000, 0.1, 2, "WAV", "FLOAT"),
        write("wav", "seed-ext24.wav", 44100, 0.05, 2, "WAVEX", "PCM_24"),
        write("wav", "seed-ulaw.wav", 8000, 0.1, 1, "WAV", "ULAW"),
    ]
    write("au", "seed-pcm16.au", 22050, 0.1, 1, "AU", "PCM_16")
    write("au", "seed-ulaw.au", 8000, 0.1, 2, "AU", "ULAW")
    write("au", "seed-float.au", 11025, 0.1, 1, "AU", "FLOAT")
    write("symphonia", "seed-mono.mp3", 22050, 0.3, 1, "MP3", "MPEG_LAYER_III")
    write("symphonia", "seed-stereo.ogg", 22050, 0.3, 2, "OGG", "VORBIS", title="mgr")
    for f in wav[:1] + wav[3:4] + flac[1:2]:
        shutil.copy(f, os.path.join(corpus, "symphonia", os.path.basename(f)))
    stream_seeds()
    for target in sorted(os.listdir(corpus)):
        files = sorted(os.listdir(os.path.join(corpus, target)))
        size = sum(os.path.getsize(os.path.join(corpus, target, f)) for f in files)
        print(f"{target}: {len(files)} files, {size} bytes")


# The `stream` target's first byte picks the format hint (byte % 6: none, flac, wav, au, mp3,
# ogg) and the timeline (byte // 6 % 3: none, 29.12 s, 5 s windows).
STREAM_PICK = {"flac": 1, "wav": 2, "au": 3, "mp3": 4, "ogg": 5}


def stream_seeds():
    """The `stream` target's seeds: the other targets' seeds behind a first byte, a chained Ogg
    whose rate and channels change part-way (22.05 kHz stereo, then 44.1 kHz mono), and a
    WAV whose header announces 10 hours over its 0.1 s."""
    corpus = os.path.join(HERE, "corpus")
    out = os.path.join(corpus, "stream")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.startswith("seed-"):
            os.remove(os.path.join(out, f))

    def put(name, pick, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([pick]) + data)

    def read(target, name):
        with open(os.path.join(corpus, target, name), "rb") as f:
            return f.read()

    for k, (target, name) in enumerate([("flac", "seed-mono16.flac"), ("wav", "seed-pcm16.wav"),
                                        ("au", "seed-ulaw.au"), ("symphonia", "seed-mono.mp3"),
                                        ("symphonia", "seed-stereo.ogg")]):
        ext = name.rsplit(".", 1)[1]
        put(name, STREAM_PICK[ext] + 6 * (k % 3), read(target, name))
    tone = os.path.join(out, "tone.ogg")
    with sf.SoundFile(tone, "w", 44100, 1, "VORBIS", format="OGG") as f:
        f.write(signal(44100, 0.2, 1))
    with open(tone, "rb") as f:
        second = f.read()
    os.remove(tone)
    put("seed-chained-rate-change.ogg", STREAM_PICK["ogg"] + 6,
        read("symphonia", "seed-stereo.ogg") + second)
    wav = bytearray(read("wav", "seed-pcm16.wav"))
    at = wav.find(b"data")
    wav[at + 4:at + 8] = (10 * 3600 * 22050 * 2).to_bytes(4, "little")
    put("seed-claims-10h.wav", STREAM_PICK["wav"] + 12, bytes(wav))


if __name__ == "__main__":
    main()
