#!/usr/bin/env bash
# A library run as docs/library.md shows it ("A library run, killed and resumed"):
#   1. a tree of the pack's GTZAN clips copied COPIES times (100 clips x COPIES files);
#   2. classify --jsonl on it, killed (SIGKILL) after KILL_AFTER seconds, then --resume,
#      each under /usr/bin/time -v (wall time, peak RSS);
#   3. the result checked: every song exactly once, same scores as an uninterrupted run of
#      a sample;
#   4. the --write-tags workflow on four files (MP3, Ogg, FLAC, WAV) with ffprobe tag
#      listings before and after.
# Usage: bench/library.sh [COPIES] [KILL_AFTER]   (needs a release build of mgr-cli, jq,
# ffprobe from Debian's ffmpeg, and GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
COPIES=${1:-20}
KILL_AFTER=${2:-60}
MGR=${MGR:-target/release/mgr-cli}
PACK=${MGR_SHARED:-../shared}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mgr-library.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "== tree: $COPIES copies of the $(ls "$PACK"/data/gtzan-mini/genres/*/*.flac | wc -l) GTZAN clips"
for k in $(seq -w 1 "$COPIES"); do
    mkdir -p "$WORK/music/copy$k"
    cp -r "$PACK"/data/gtzan-mini/genres/* "$WORK/music/copy$k/"
done
chmod -R u+w "$WORK/music"
N=$(find "$WORK/music" -name '*.flac' | wc -l)
echo "$N files, $(du -sh "$WORK/music" | cut -f1)"

timed() { /usr/bin/time -f "wall %e s, peak RSS %M KiB" "$@"; }

echo "== classify --jsonl, killed after $KILL_AFTER s"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" \
    "$MGR" classify "$WORK/music" --jsonl "$WORK/genres.jsonl" &
TIME_PID=$!
sleep "$KILL_AFTER"
# SIGKILL to mgr-cli, the child of this time process (by parent id).
pkill -KILL -P "$TIME_PID" || true
wait "$TIME_PID" || true
LINES=$(wc -l < "$WORK/genres.jsonl")
echo "killed: $LINES complete lines, last byte: $(tail -c1 "$WORK/genres.jsonl" | od -An -c)"

echo "== classify --jsonl --resume"
timed "$MGR" classify "$WORK/music" --jsonl "$WORK/genres.jsonl" --resume
TOTAL=$(wc -l < "$WORK/genres.jsonl")
UNIQUE=$(jq -r 'select(.label) | .path' "$WORK/genres.jsonl" | sort -u | wc -l)
echo "lines: $TOTAL, songs with a result: $UNIQUE of $N"

echo "== the same scores as an uninterrupted run (first copy)"
"$MGR" classify "$WORK/music/copy$(seq -w 1 "$COPIES" | head -1)" --json > "$WORK/ref.json"
jq -r '.[] | "\(.path) \(.label) \(.scores | tojson)"' "$WORK/ref.json" | sort > "$WORK/ref.txt"
jq -r 'select(.label) | "\(.path) \(.label) \(.scores | tojson)"' "$WORK/genres.jsonl" \
    | grep "/copy$(seq -w 1 "$COPIES" | head -1)/" | sort > "$WORK/got.txt"
if cmp -s "$WORK/ref.txt" "$WORK/got.txt"; then
    echo "identical ($(wc -l < "$WORK/ref.txt") songs)"
else
    echo "DIFFERENT"; diff "$WORK/ref.txt" "$WORK/got.txt" | head; exit 1
fi

echo "== --write-tags on MP3, Ogg, FLAC, WAV"
mkdir -p "$WORK/tags"
cp "$PACK"/data/gtzan-mini/formats/rock.00001.{mp3,ogg,wav} "$WORK/tags/"
cp "$PACK"/data/gtzan-mini/genres/jazz/jazz.00001.flac "$WORK/tags/"
chmod u+w "$WORK"/tags/*
listing() {
    for f in "$WORK"/tags/*; do
        echo "$(basename "$f"):"
        ffprobe -v error -show_entries format_tags:stream_tags -of default=noprint_wrappers=1 "$f" \
            | sed 's/^/    /'
    done
}
echo "-- before"; listing
echo "-- mgr-cli classify --write-tags (dry run)"
"$MGR" classify "$WORK/tags" --write-tags
echo "-- mgr-cli classify --write-tags --apply --tag-scores"
"$MGR" classify "$WORK/tags" --write-tags --apply --tag-scores
echo "-- after"; listing
