#!/usr/bin/env bash
# Trains the handwriting network on ../shared/handwriting and writes
# extract/models/glyphs.safetensors and glyphs.json (the run's figures).
# Extra arguments go to `formflow train-glyphs` (see --help).
#
# glibc's malloc is told to keep freed memory rather than hand it back to
# the system: candle allocates every tensor afresh, and returning and
# re-faulting those pages took a third of training's time.
set -euo pipefail
cd "$(dirname "$0")/.."
export MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=268435456
cargo build --release --bin formflow
exec target/release/formflow train-glyphs "$@"
