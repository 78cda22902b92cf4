#!/usr/bin/env bash
# Vendors GOV.UK Frontend (the pages' CSS and JavaScript) into
# ingest/assets/govuk-frontend/ from the npm package at a pinned version,
# checked against the registry's integrity hash. The files are committed and
# built into the binary, so nothing is fetched at run time (no CDN); run this
# again only to move to another version.
#
# Changed from the package, on purpose:
# - the @font-face rules of the GDS Transport font are removed, and the font
#   files are not copied: the font is licensed for GOV.UK's own services
#   only, so the pages use the font stack's fallback (Arial, sans-serif);
# - source map comments are removed (the maps are not shipped).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=6.6.0
INTEGRITY="sha512-xctkWrQvLnvQt7fyjQ3MGX9S0wz0x0RQuLxCeoXF+s8EjGICG81/DYQGKN5qgO+0KVT12UAaRwUsGY6fulRcRg=="
OUT=ingest/assets/govuk-frontend

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "govuk-frontend@$VERSION" >/dev/null)
tgz="$tmp/govuk-frontend-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "vendor-frontend: govuk-frontend-$VERSION.tgz does not match its pinned integrity" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp"
dist="$tmp/package/dist/govuk"
mkdir -p "$OUT"
sed -e 's/@font-face{[^}]*}//g' -e 's#/\*\# sourceMappingURL=[^*]*\*/##' "$dist/govuk-frontend.min.css" > "$OUT/govuk-frontend.min.css"
sed -e 's#//\# sourceMappingURL=.*$##' "$dist/govuk-frontend.min.js" > "$OUT/govuk-frontend.min.js"
echo "$VERSION" > "$OUT/VERSION"
echo "vendor-frontend: govuk-frontend $VERSION in $OUT"
