#!/usr/bin/env bash
# Installs what formflow needs to build and run on Debian/Ubuntu: Tesseract,
# Leptonica and SQLite (with headers), a C toolchain and pkg-config to link
# them, dpkg-dev to package, and libpdfium into vendor/pdfium/. Works as root
# or as a user with sudo. Checks that cargo is at the version the workspace
# needs, and names the command that installs it if not. Safe to run again:
# it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "setup: run this as root, or install sudo: it installs Debian packages" >&2
    exit 1
  fi
  SUDO="sudo"
fi

PKGS=(tesseract-ocr tesseract-ocr-eng libtesseract-dev libleptonica-dev libsqlite3-dev build-essential pkg-config dpkg-dev python3 python3-pip curl ca-certificates)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "setup: system packages present"
fi

# The Rust toolchain: rustup's, in the user's home, not Debian's (too old).
need=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  echo "setup: cargo is installed but not on PATH; run: . \"\$HOME/.cargo/env\"" >&2
  exit 1
fi
have=$(cargo --version 2>/dev/null | awk '{print $2}' || true)
if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
  echo "setup: formflow needs Rust $need or later (cargo ${have:-is not installed})." >&2
  if command -v rustup >/dev/null; then
    echo "setup: update it with: rustup update stable" >&2
  else
    echo "setup: install it with:" >&2
    echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y && . \"\$HOME/.cargo/env\"" >&2
  fi
  exit 1
fi

scripts/fetch-pdfium.sh
