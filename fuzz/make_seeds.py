#!/usr/bin/env python3
"""Writes the fuzz seed corpus: short synthetic files (a tone over noise, 0.1-0.3 s) in
every format and variant the decoders read, made with libsndfile (`pip install soundfile
numpy`). Synthetic so that the corpus carries no recording; small so that the fuzzer's
mutations reach the headers often. Ogg serial numbers are random: a rerun writes other
bytes with the same structure.

    python3 fuzz/make_seeds.py    # from the repository root; rewrites fuzz/corpus/*/seed-*
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
    for target in os.listdir(corpus) if os.path.isdir(corpus) else []:
        for f in os.listdir(os.path.join(corpus, target)):
            if f.startswith("seed-"):
                os.remove(os.path.join(corpus, target, f))
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
    for target in sorted(os.listdir(corpus)):
        files = sorted(os.listdir(os.path.join(corpus, target)))
        size = sum(os.path.getsize(os.path.join(corpus, target, f)) for f in files)
        print(f"{target}: {len(files)} files, {size} bytes")


if __name__ == "__main__":
    main()
