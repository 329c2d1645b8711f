"""Independent numpy/scipy implementation of the default `stack` recipe on the artist-grouped
5-fold of gtzan-mini + gtzan-more: what `tests/data/stack-*-reference.csv` hold and the test
`default_recipe_beats_the_published_crnn_on_unheard_artists` (tests/train_eval.rs) checks
every one of mgr's 269 predictions against.

It shares no code with mgr: it reads the frozen published CRNN's activations from an mgr
activation cache (the `MGRACT02` files, format in shared/src/train/activations.rs), the folds
from the first reference CSV (written by the research for issue 12), the artists from Sturm's
index, and fits each fold's regression with scipy's L-BFGS-B to a far tighter tolerance than
the decisions need.

Regenerate (the cache is filled by any run of the recipe, e.g. the test itself or the
`eval --train stack` command of docs/results.md):

    mgr-cli eval gtzan PACK/data/gtzan-mini PACK/data/gtzan-more --split kfold:5 \
        --train stack --cache CACHE
    python tests/data/stack_reference.py CACHE PACK/data/gtzan-splits/GTZANindex.txt \
        > tests/data/stack-sqrt-kfold5-reference.csv

`--balance none` (the unweighted loss) reproduces `stack-kfold5-reference.csv`;
`--artists none` gives the recipe trained without artist information (every song's artist
unknown, counted as one artist per genre), `--artists clips` the rule before issue 20 (every
clip an artist of its own). Needs numpy and scipy.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
from scipy.optimize import minimize

HERE = os.path.dirname(os.path.abspath(__file__))
BASE_LABELS = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
               "reggae", "rock"]
L2, KAPPA = 0.1, 1.0


def read_cache(folder):
    """clip name -> list of frames (pooled, features, logits, probs) of the published CRNN."""
    clips = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".bin"):
            continue
        b = open(os.path.join(folder, name), "rb").read()
        if b[:8] != b"MGRACT02":
            continue
        pos = 8
        (klen,) = struct.unpack_from("<I", b, pos)
        key = b[pos + 4:pos + 4 + klen].decode()
        pos += 4 + klen
        fields = key.split("|")
        # v3|model|path|size|mtime|resampler|augmentation
        if not fields[1].startswith("gtzan#") or fields[-1] != "None":
            continue
        (n,) = struct.unpack_from("<I", b, pos)
        pos += 4
        frames = []
        for _ in range(n):
            vecs = []
            for _ in range(6):  # seq, features, pooled, logits, probs, mfcc
                (m,) = struct.unpack_from("<I", b, pos)
                vecs.append(np.frombuffer(b, "<f4", m, pos + 4).astype(np.float64))
                pos += 4 + 4 * m
            frames.append(vecs)
        clip = os.path.splitext(os.path.basename(fields[2]))[0]
        clips[clip] = frames
    return clips


def read_index(path):
    artists = {}
    for line in open(path, encoding="latin-1"):
        line = line.rstrip("\r\n")
        if line.startswith("#") or not line.strip():
            continue
        f = line.split(":::")
        stem = f[0].strip().rsplit(".", 1)[0]
        artists[stem] = f[1].strip() if len(f) > 1 and f[1].strip() else None
    return artists


def fit_lr(x, y, w, k):
    """argmin Σ w_i (-log softmax(W z_i + b)[y_i]) / Σ w_i + L2/2 ‖W‖², z standardised."""
    mean, std = x.mean(0), x.std(0)
    std[std <= 1e-8] = 1.0
    z = (x - mean) / std
    n, d = z.shape
    onehot = np.eye(k)[y]
    w = w / w.sum()

    def f(theta):
        W, b = theta[:k * d].reshape(k, d), theta[k * d:]
        s = z @ W.T + b
        s -= s.max(1, keepdims=True)
        lse = np.log(np.exp(s).sum(1))
        p = np.exp(s - lse[:, None])
        loss = (w * (lse - (s * onehot).sum(1))).sum() + 0.5 * L2 * (W ** 2).sum()
        g = (p - onehot) * w[:, None]
        return loss, np.concatenate([(g.T @ z + L2 * W).ravel(), g.sum(0)])

    r = minimize(f, np.zeros(k * d + k), jac=True, method="L-BFGS-B",
                 options={"maxiter": 50000, "maxcor": 30, "gtol": 1e-12, "ftol": 0.0})
    W, b = r.x[:k * d].reshape(k, d), r.x[k * d:]
    return W / std, b - (W / std) @ mean, np.abs(r.jac).max()


def thin(train, index):
    """Every genre cut to its largest artist group (the index's; unidentified clips of a genre
    are one group): the situation of a genre one artist backs, with other artists to test."""
    groups = {}
    for c, g, f in train:
        key = index.get(c) or f"unidentified:{g}"
        groups.setdefault(g, {}).setdefault(key, []).append((c, g, f))
    return [x for g in sorted(groups) for x in max(groups[g].values(), key=len)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cache")
    ap.add_argument("index")
    ap.add_argument("--balance", choices=["none", "weights", "sqrt"], default="sqrt")
    ap.add_argument("--artists", choices=["index", "none", "clips"], default="index")
    ap.add_argument("--folds", default=os.path.join(HERE, "stack-kfold5-reference.csv"))
    ap.add_argument("--thin", action="store_true",
                    help="train each fold on the largest artist group of every genre only")
    a = ap.parse_args()
    acts = read_cache(a.cache)
    index = read_index(a.index)
    rows = [l.strip().split(",") for l in open(a.folds)][1:]
    clips = [(r[0], r[1], int(r[2])) for r in rows]
    missing = [c for c, _, _ in clips if c not in acts]
    if missing:
        sys.exit(f"{len(missing)} clips not in the cache, e.g. {missing[0]}")
    labels = sorted({g for _, g, _ in clips})
    prior = [BASE_LABELS.index(l) if l in BASE_LABELS else None for l in labels]
    out = ["clip,genre,fold,published,recipe"]
    worst = 0.0
    for k in sorted({f for _, _, f in clips}):
        train = [c for c in clips if c[2] != k]
        if a.thin:
            train = thin(train, index)
        x, y, w = [], [], []
        songs = {}
        for c, g, _ in train:
            songs[g] = songs.get(g, 0) + 1
        for c, g, _ in train:
            for fr in acts[c]:
                x.append(np.concatenate([fr[2], fr[1], fr[3]]))
                y.append(labels.index(g))
                power = {"none": 0.0, "weights": 1.0, "sqrt": 0.5}[a.balance]
                w.append(1.0 if a.balance == "none" else songs[g] ** -power / len(acts[c]))
        trained = sorted(set(y))
        slot = {c: i for i, c in enumerate(trained)}
        W, b, grad = fit_lr(np.array(x), np.array([slot[t] for t in y]), np.array(w),
                            len(trained))
        worst = max(worst, grad)
        beta = []
        for ci, l in enumerate(labels):
            if prior[ci] is None:
                beta.append(1.0)
                continue
            known, unknown = set(), False
            for c, g, _ in train:
                if g != l:
                    continue
                artist = {"index": index.get(c), "none": None, "clips": c}[a.artists]
                if artist is None:
                    unknown = True
                else:
                    known.add(artist)
            m = len(known) + unknown
            beta.append(m / (m + KAPPA))
        for c, g, f in clips:
            if f != k:
                continue
            fused, base = [], []
            for fr in acts[c]:
                s = np.concatenate([fr[2], fr[1], fr[3]]) @ W.T + b
                q = np.zeros(len(labels))
                e = np.exp(s - s.max())
                q[trained] = e / e.sum()
                p = fr[4] / fr[4].sum()
                r = np.array([q[ci] ** beta[ci] * (p[prior[ci]] if prior[ci] is not None
                                                   else 0.0) ** (1 - beta[ci])
                              for ci in range(len(labels))])
                fused.append(r / r.sum())
                base.append([fr[4][j] for j in prior])
            out.append(f"{c},{g},{f},{labels[int(np.argmax(np.mean(base, 0)))]},"
                       f"{labels[int(np.argmax(np.mean(fused, 0)))]}")
    print("\n".join(out[:1] + sorted(out[1:])))
    print(f"largest gradient entry at the fitted optima: {worst:.1e}", file=sys.stderr)


if __name__ == "__main__":
    main()
