#!/usr/bin/env bash
# Installs what the tests need, then builds once (release) and runs every
# test of the workspace. Tesseract must see OMP_THREAD_LIMIT=1 from the start.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_THREAD_LIMIT=1
cargo test --release --workspace "$@"
