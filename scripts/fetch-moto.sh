#!/usr/bin/env bash
# Installs moto (an S3-compatible server in Python, from PyPI, pinned) into
# vendor/moto/ for the tests that keep originals on a real S3 server on
# loopback (`PYTHONPATH=vendor/moto python3 -m moto.server -p PORT`). Not
# committed; no virtual environment needed. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=5.1.22
OUT=vendor/moto
if [ "$(cat "$OUT/.version" 2>/dev/null)" = "$VERSION" ]; then exit 0; fi
rm -rf "$OUT"
python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  --ignore-installed --target "$OUT" "moto[s3]==$VERSION" 'flask<4' 'flask-cors<7' 2>&1 | grep -v "Running pip as the" || true
PYTHONPATH="$OUT" python3 -c 'import moto.server' \
  || { echo "fetch-moto: moto did not install into $OUT" >&2; exit 1; }
echo "$VERSION" > "$OUT/.version"
echo "fetch-moto: moto $VERSION in $OUT"
