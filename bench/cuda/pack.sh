#!/usr/bin/env bash
# Put together what bench/cuda/device-check.sh needs on a GPU machine that has no Rust
# toolchain and no data pack: the CUDA build of mgr-cli (stripped), the four bensound clips and
# 20 GTZAN clips (two per genre). The 1,000-file tree of the end-to-end run is made there from these.
#
# Usage: bench/cuda/pack.sh [BINARY] [DEST]
#   BINARY  the CUDA mgr-cli (default: $CARGO_TARGET_DIR/release/mgr-cli, else
#           target/release/mgr-cli), as made by bench/cuda/build.sh
#   DEST    folder to fill (default: target/cuda-carry; inside target/ so git ignores it)
# With STACK_MODEL=FILE (a model from `mgr-cli finetune`, the default stacked recipe) that file
# is carried too, and the device check compares it on CUDA and the CPU.
# The data pack is read from ../shared beside the checkout (override with MGR_SHARED).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${1:-${CARGO_TARGET_DIR:-target}/release/mgr-cli}"
dest="${2:-target/cuda-carry}"
pack="${MGR_SHARED:-../shared}"
[ -x "$bin" ] || { echo "pack.sh: no binary at $bin (run bench/cuda/build.sh)" >&2; exit 2; }
[ -d "$pack/data/gtzan-mini/genres" ] || { echo "pack.sh: no data pack at $pack" >&2; exit 2; }

rm -rf "$dest"
mkdir -p "$dest/bensound" "$dest/gtzan"
cp "$bin" "$dest/mgr-cli"
cp "$pack"/audio/bensound/*.mp3 "$dest/bensound/"
# Two clips per genre; for the four genres gtzan-more has, its 16 kHz copies (smaller, and
# they take the resampler through another rate), so that everything fits in 64 MiB.
for genre in country disco hiphop metal reggae rock; do
  for id in 00000 00001; do
    cp "$pack/data/gtzan-mini/genres/$genre/$genre.$id.flac" "$dest/gtzan/"
  done
done
for genre in blues classical jazz pop; do
  find "$pack/data/gtzan-more/genres/$genre" -name '*.flac' | sort | head -n 2 |
    xargs -I{} cp {} "$dest/gtzan/"
done
strip "$dest/mgr-cli" 2>/dev/null || true
if [ -n "${STACK_MODEL:-}" ]; then
  cp "$STACK_MODEL" "$dest/stack.safetensors"
fi
size_kib=$(du -sk "$dest" | cut -f1)
echo "pack.sh: $dest: $(find "$dest" -type f | wc -l) files, $((size_kib / 1024)) MiB" \
  "(binary $(($(stat -c %s "$dest/mgr-cli") / 1048576)) MiB)"
if [ "$size_kib" -gt $((64 * 1024)) ]; then
  echo "pack.sh: more than 64 MiB" >&2
  exit 1
fi
