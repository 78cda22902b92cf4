#!/usr/bin/env bash
# Installs what the tests need (system packages, libpdfium, Chromium and
# chromedriver with axe-core for the browser tests, and running PostgreSQL
# and RabbitMQ for the pipeline tests), then builds once (release) and runs
# every test of the workspace. Tesseract must see OMP_THREAD_LIMIT=1 from
# the start.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup-browser.sh
scripts/services.sh
export OMP_THREAD_LIMIT=1
cargo test --release --workspace "$@"
