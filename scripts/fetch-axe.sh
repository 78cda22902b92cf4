#!/usr/bin/env bash
# Fetches axe-core (the accessibility checker the browser tests run in each
# page) from npm at a pinned version, checked against the registry's
# integrity hash, into vendor/axe-core/ (not committed). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.14.1
INTEGRITY="sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
OUT=vendor/axe-core

if [ -f "$OUT/axe.min.js" ] && [ "$(cat "$OUT/VERSION" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-axe: npm is needed (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "axe-core@$VERSION" >/dev/null)
tgz="$tmp/axe-core-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "fetch-axe: axe-core-$VERSION.tgz does not match its pinned integrity" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp"
mkdir -p "$OUT"
cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$OUT/"
echo "$VERSION" > "$OUT/VERSION"
echo "fetch-axe: axe-core $VERSION in $OUT"
