#!/usr/bin/env bash
# Installs what the tests need (system packages, libpdfium, Chromium and
# chromedriver with axe-core for the browser tests, promtool for the alert
# rules' tests, moto for the S3 tests, openapi-spec-validator for the API
# description's test, and running PostgreSQL
# and RabbitMQ for the pipeline tests), then builds once (release) and runs
# every test of the workspace; then installs the Debian package made from
# that build and runs it (scripts/test-package.sh), and runs the chaos drill
# on 60 documents (it restarts PostgreSQL and RabbitMQ, so it runs after the
# tests; the package test, which needs neither, runs beside it). The test
# tools are fetched while the build runs, and clippy (-D warnings) checks the
# code beside the tests, which spend most of their time waiting on servers;
# the run fails if it finds anything.
#
# With arguments, only `cargo test --release --workspace ARGS` runs after
# the installs: scripts/test.sh --test integration -- pipeline
#
# Tesseract must see OMP_THREAD_LIMIT=1 from the start. The tests run four
# at a time: most of their time is spent waiting on servers and processes.
set -euo pipefail
cd "$(dirname "$0")/.."
# What only the tests need: the browser, promtool, moto, the OpenAPI
# validator, and PostgreSQL and RabbitMQ running.
test_tools() {
  scripts/setup-browser.sh
  scripts/fetch-promtool.sh
  scripts/fetch-moto.sh
  scripts/fetch-openapi-validator.sh
  scripts/services.sh
}
scripts/setup.sh
export OMP_THREAD_LIMIT=1
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
if [ "$#" -ne 0 ]; then
  test_tools
  exec cargo test --release --workspace "$@"
fi

logs=target/test-logs
mkdir -p "$logs"
# Prints a background step's log, and fails if the step did.
finish() {
  local pid=$1 log=$2 what=$3 rc=0
  wait "$pid" || rc=$?
  cat "$log"
  if [ "$rc" -ne 0 ]; then
    echo "test: $what failed (above)" >&2
    exit 1
  fi
}

test_tools >"$logs/tools.log" 2>&1 &
fetching=$!
cargo test --release --workspace --no-run
finish "$fetching" "$logs/tools.log" "installing the test tools"

# clippy needs cargo's lock on target/, which the test run holds only while
# it checks the build is fresh: clippy starts once the first test binary
# runs (or after two minutes, whatever the run is doing).
: >"$logs/tests.log"
(
  for _ in $(seq 120); do
    grep -q '^ *Running ' "$logs/tests.log" && break
    sleep 1
  done
  cargo clippy --release --workspace --all-targets -- -D warnings
) >"$logs/clippy.log" 2>&1 &
clippy=$!
cargo test --release --workspace 2>&1 | tee "$logs/tests.log"
scripts/test-package.sh --no-build >"$logs/package.log" 2>&1 &
package=$!
target/release/formflow drill --documents 60
finish "$package" "$logs/package.log" "the package test"
finish "$clippy" "$logs/clippy.log" "clippy"
