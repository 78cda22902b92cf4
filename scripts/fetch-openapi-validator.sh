#!/usr/bin/env bash
# Installs openapi-spec-validator (from PyPI, pinned) into
# vendor/openapi-spec-validator/ for the test that checks the generated
# OpenAPI document against the OpenAPI 3.1 specification's own schema
# (`PYTHONPATH=vendor/openapi-spec-validator python3 -m openapi_spec_validator FILE`).
# Not committed; no virtual environment needed. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.9.0
OUT=vendor/openapi-spec-validator
if [ "$(cat "$OUT/.version" 2>/dev/null)" = "$VERSION" ]; then exit 0; fi
rm -rf "$OUT"
python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  --ignore-installed --target "$OUT" "openapi-spec-validator==$VERSION" 2>&1 \
  | grep -v "Running pip as the" || true
PYTHONPATH="$OUT" python3 -c 'import openapi_spec_validator' \
  || { echo "fetch-openapi-validator: it did not install into $OUT" >&2; exit 1; }
echo "$VERSION" > "$OUT/.version"
echo "fetch-openapi-validator: openapi-spec-validator $VERSION in $OUT"
