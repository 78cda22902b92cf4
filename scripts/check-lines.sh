#!/usr/bin/env bash
# Prints each line of a tracked Rust file longer than 100 columns, as
# path:line: N columns, and fails if there is one. rustfmt keeps code
# within 100 columns but cannot wrap long strings or comments, nor code
# in some macros: those are wrapped by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
# Columns are characters, not bytes: grep and bash count characters in a
# UTF-8 locale (Debian's default awk, mawk, would count bytes).
export LC_ALL=C.UTF-8
long=$(
    git ls-files -z -- '*.rs' |
        while IFS= read -r -d '' f; do
            # A tracked file deleted in the working tree has no lines.
            if [ -f "$f" ]; then printf '%s\0' "$f"; fi
        done |
        xargs -0 -r grep -nHE '^.{101,}' |
        while IFS= read -r hit; do
            path=${hit%%:*}
            rest=${hit#*:}
            line=${rest%%:*}
            text=${rest#*:}
            printf '%s:%s: %s columns\n' "$path" "$line" "${#text}"
        done || true
)
if [ -n "$long" ]; then
    printf '%s\n' "$long"
    exit 1
fi
