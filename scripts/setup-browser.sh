#!/usr/bin/env bash
# Installs what the browser tests need on Debian/Ubuntu: Chromium and its
# WebDriver (chromedriver), npm (to fetch axe-core), and axe-core itself
# into vendor/axe-core/ (scripts/fetch-axe.sh, pinned and checked). Safe to
# run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

PKGS=(chromium chromium-driver npm openssl)
missing=()
for p in "${PKGS[@]}"; do
  # npm may come with Node.js from elsewhere.
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-browser: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "setup-browser: Chromium and chromedriver present"
fi

scripts/fetch-axe.sh
