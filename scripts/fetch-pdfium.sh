#!/usr/bin/env bash
# Fetches the PDFium shared library that formflow-extract binds to at run time
# into vendor/pdfium/libpdfium.so (vendor/ is git-ignored).
#
# There is no Debian package for PDFium; the PyPI wheel of pypdfium2 carries a
# build (PDFium 8149) that needs only libc, libm, libpthread and libgcc_s.
# Both the wheel and the library are pinned by sha256, so a changed upload
# fails here rather than at run time. Idempotent: does nothing when the right
# library is already in place.
#
#     scripts/fetch-pdfium.sh
set -euo pipefail

readonly VERSION="5.15.2"
readonly PLATFORM="manylinux_2_17_x86_64"
readonly WHEEL_SHA256="dc31aea5b0fb9fefc9b537a65f4113980b2c40798445736a7e6565bc85161e37"
readonly LIB_SHA256="c76dc0f7839644bfa7c3e3107a6068df714e339c861bb7d4519907b821d427f9"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest_dir="$repo_root/vendor/pdfium"
dest="$dest_dir/libpdfium.so"

sha256_of() {
    sha256sum "$1" | cut -d' ' -f1
}

if [[ -f "$dest" && "$(sha256_of "$dest")" == "$LIB_SHA256" ]]; then
    echo "fetch-pdfium: $dest is already in place (pypdfium2 $VERSION); nothing to do"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform "$PLATFORM" "pypdfium2==$VERSION" -d "$tmp" >&2

shopt -s nullglob
wheels=("$tmp"/pypdfium2-"$VERSION"-*.whl)
shopt -u nullglob
if [[ ${#wheels[@]} -ne 1 ]]; then
    echo "fetch-pdfium: expected one pypdfium2 $VERSION wheel, found ${#wheels[@]}" >&2
    exit 1
fi
wheel="${wheels[0]}"

actual="$(sha256_of "$wheel")"
if [[ "$actual" != "$WHEEL_SHA256" ]]; then
    echo "fetch-pdfium: $(basename "$wheel") has sha256 $actual, expected $WHEEL_SHA256" >&2
    exit 1
fi

# unzip may be absent; python3 is not (pip needs it).
python3 - "$wheel" "$tmp/libpdfium.so" <<'EOF'
import shutil
import sys
import zipfile

wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as zf, zf.open("pypdfium2_raw/libpdfium.so") as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF

actual="$(sha256_of "$tmp/libpdfium.so")"
if [[ "$actual" != "$LIB_SHA256" ]]; then
    echo "fetch-pdfium: libpdfium.so from the wheel has sha256 $actual, expected $LIB_SHA256" >&2
    exit 1
fi

mkdir -p "$dest_dir"
# Move into place only once checked, so a half-written file never looks installed.
mv -f "$tmp/libpdfium.so" "$dest.partial"
mv -f "$dest.partial" "$dest"
echo "fetch-pdfium: installed $dest from pypdfium2 $VERSION"
