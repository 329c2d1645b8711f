"""Make the deliberately skewed copy of the pack's GTZAN clips that docs/training.md ("Uneven
genres") measures `--balance` on: a folder of symbolic links, nothing copied.

Every genre but classical and pop (the two with the most artists) is cut to a third of its
artist groups (rounded up, at least one): the groups of Sturm's index (a named artist, or a
genre's unidentified clips together), taken in the order of their first clip. Classical and pop
keep all their clips.

    python3 bench/skewed_pack.py PACK/data OUT
    mgr-cli eval gtzan OUT/gtzan-mini OUT/gtzan-more --artists PACK/data/gtzan-splits/GTZANindex.txt ...

Standard library only.
"""

import math
import os
import sys

KEEP = {"classical", "pop"}


def main():
    data, out = sys.argv[1], sys.argv[2]
    index = {}
    for line in open(os.path.join(data, "gtzan-splits", "GTZANindex.txt"), encoding="latin-1"):
        if line.startswith("#") or ":::" not in line:
            continue
        f = [x.strip() for x in line.split(":::")]
        index[f[0].rsplit(".", 1)[0]] = f[1] or None
    clips = []  # (genre, name, path)
    for folder in ("gtzan-mini", "gtzan-more"):
        root = os.path.join(data, folder, "genres")
        for genre in sorted(os.listdir(root)):
            for f in sorted(os.listdir(os.path.join(root, genre))):
                clips.append((genre, os.path.splitext(f)[0], os.path.join(root, genre, f), folder))
    clips.sort(key=lambda c: c[1])
    groups = {}  # genre -> artist groups in order of their first clip
    for genre, name, _, _ in clips:
        artist = index.get(name)
        key = f"artist:{artist}" if artist else f"unidentified:{genre}"
        g = groups.setdefault(genre, [])
        if key not in g:
            g.append(key)
    kept = 0
    for genre, name, path, folder in clips:
        artist = index.get(name)
        key = f"artist:{artist}" if artist else f"unidentified:{genre}"
        g = groups[genre]
        if genre not in KEEP and g.index(key) >= math.ceil(len(g) / 3):
            continue
        dest = os.path.join(out, folder, "genres", genre)
        os.makedirs(dest, exist_ok=True)
        link = os.path.join(dest, os.path.basename(path))
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(path), link)
        kept += 1
    print(f"{kept} of {len(clips)} clips linked under {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
