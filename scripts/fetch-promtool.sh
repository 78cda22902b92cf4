#!/usr/bin/env bash
# Puts promtool (Prometheus's checker of rules and configurations) into
# vendor/promtool/, taken out of Debian's prometheus package without
# installing it (no server, no service), for the test of
# deploy/prometheus/formflow-rules.yml. Not committed. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=vendor/promtool
if [ -x "$OUT/promtool" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
if ! (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null); then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
  (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null)
fi
dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
mkdir -p "$OUT"
install -m 0755 "$tmp/x/usr/bin/promtool" "$OUT/promtool"
echo "fetch-promtool: $("$OUT/promtool" --version 2>&1 | head -1)"
