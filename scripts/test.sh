#!/usr/bin/env bash
# Installs what the tests need (system packages, libpdfium, Chromium and
# chromedriver with axe-core for the browser tests, promtool for the alert
# rules' tests, moto for the S3 tests, openapi-spec-validator for the API
# description's test, and running PostgreSQL
# and RabbitMQ for the pipeline tests), then builds once (release) and runs
# every test of the workspace; then installs the Debian package made from
# that build and runs it (scripts/test-package.sh), and runs the chaos drill
# on 60 documents (it restarts PostgreSQL and RabbitMQ, so it runs after the
# tests, alone).
# Tesseract must see OMP_THREAD_LIMIT=1 from the start.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup-browser.sh
scripts/fetch-promtool.sh
scripts/fetch-moto.sh
scripts/fetch-openapi-validator.sh
scripts/services.sh
export OMP_THREAD_LIMIT=1
cargo test --release --workspace "$@"
if [ "$#" -eq 0 ]; then
  scripts/test-package.sh --no-build
  target/release/formflow drill --documents 60
fi
