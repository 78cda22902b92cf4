#!/usr/bin/env bash
# Builds the Debian package target/debian/formflow_VERSION_ARCH.deb:
#   /usr/lib/formflow/formflow       the binary (/usr/bin/formflow links to it)
#   /usr/lib/formflow/libpdfium.so   PDFium, found beside the binary
#   /usr/share/formflow/forms/       the form templates (also built in)
#   /usr/share/formflow/models/      the handwriting weights (also built in)
#   /usr/share/formflow/samples/     scans to try it on
#   /lib/systemd/system/formflow-serve.service, formflow-worker@.service
#   /etc/formflow/formflow.env       the units' settings (a conffile)
# Its dependencies (Tesseract, Leptonica, the C library) are worked out by
# dpkg-shlibdeps from what the binary links. Usage:
#   scripts/package.sh             build the release binary, then package it
#   scripts/package.sh --no-build  package target/release/formflow as it is
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != --no-build ]; then
  cargo build --release -p formflow --bin formflow
fi
BIN=target/release/formflow
PDFIUM=vendor/pdfium/libpdfium.so
for f in "$BIN" "$PDFIUM"; do
  [ -f "$f" ] || { echo "package: $f is missing (run scripts/setup.sh, then build)" >&2; exit 1; }
done
command -v dpkg-shlibdeps >/dev/null || {
  echo "package: dpkg-shlibdeps is missing (apt-get install dpkg-dev)" >&2
  exit 1
}

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ARCH=$(dpkg --print-architecture)
OUT=target/debian
ROOT=$OUT/root
rm -rf "$ROOT"
mkdir -p "$ROOT/DEBIAN"

install -D -m 0755 "$BIN" "$ROOT/usr/lib/formflow/formflow"
strip --strip-debug "$ROOT/usr/lib/formflow/formflow"
install -D -m 0644 "$PDFIUM" "$ROOT/usr/lib/formflow/libpdfium.so"
install -d "$ROOT/usr/bin"
ln -s ../lib/formflow/formflow "$ROOT/usr/bin/formflow"
install -D -m 0644 -t "$ROOT/usr/share/formflow/forms" schemas/forms/*.json
install -D -m 0644 -t "$ROOT/usr/share/formflow/models" extract/models/*
for d in documents batches; do
  install -D -m 0644 -t "$ROOT/usr/share/formflow/samples/$d" samples/$d/*
done
install -D -m 0644 -t "$ROOT/lib/systemd/system" \
  deploy/debian/formflow-serve.service "deploy/debian/formflow-worker@.service"
install -D -m 0640 deploy/debian/formflow.env "$ROOT/etc/formflow/formflow.env"
install -D -m 0644 README.md "$ROOT/usr/share/doc/formflow/README.md"
install -D -m 0644 docs/ARCHITECTURE.md "$ROOT/usr/share/doc/formflow/ARCHITECTURE.md"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$ROOT/DEBIAN/"
echo /etc/formflow/formflow.env > "$ROOT/DEBIAN/conffiles"

# dpkg-shlibdeps wants a source tree's debian/control to stand in.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debian"
printf 'Source: formflow\n\nPackage: formflow\nArchitecture: any\n' > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O -e"$OLDPWD/$ROOT/usr/lib/formflow/formflow" \
  -e"$OLDPWD/$ROOT/usr/lib/formflow/libpdfium.so" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
cat > "$ROOT/DEBIAN/control" <<EOF
Package: formflow
Version: $VERSION
Architecture: $ARCH
Maintainer: formflow developers <formflow@localhost>
Section: misc
Priority: optional
Installed-Size: $SIZE
Depends: $shlibs, tesseract-ocr-eng, adduser, ca-certificates
Recommends: postgresql, rabbitmq-server
Homepage: https://github.com/formflow/formflow
Description: turns scanned paper forms into checked, structured records
 formflow reads scanned forms (PDF, TIFF, PNG, JPEG), finds each form and
 its fields, reads printed and handwritten values, checks them against the
 form's rules, and sends caseworkers only what needs a person's eye.
 .
 "formflow run" works alone on a folder of scans (SQLite, no servers);
 formflow-serve.service and formflow-worker@.service run it on PostgreSQL
 and RabbitMQ.
EOF

DEB="$OUT/formflow_${VERSION}_${ARCH}.deb"
rm -f "$OUT"/formflow_*.deb
dpkg-deb --root-owner-group -Zxz -z6 --build "$ROOT" "$DEB" >/dev/null
echo "package: $DEB ($(du -h "$DEB" | cut -f1); installed $((SIZE / 1024)) MiB)"
