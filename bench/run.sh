#!/usr/bin/env bash
# Side-by-side benchmark of mgr against its Python peers; refreshes bench/results.json and the
# "Benchmarks against peers" table in docs/performance.md.
# Run from anywhere:  bench/run.sh [--rounds N]
# Needs python3 (3.11 tested) with venv, a Rust toolchain, network access to PyPI on the first
# run, and the data pack at ../shared. Extra arguments go to bench/compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=bench/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! cmp -s bench/requirements.txt "$venv/.installed" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -r bench/requirements.txt
    cp bench/requirements.txt "$venv/.installed"
fi
# musicnn (2019) pins numpy < 1.17, which has no build for current Python: tried, not used.

cargo build --release -p mgr-cli
exec "$venv/bin/python" bench/compare.py "$@"
