#!/usr/bin/env bash
# Tests the Debian package as an operator would meet it: installs
# target/debian/formflow_*.deb with apt-get (which fetches its dependencies),
# runs /usr/bin/formflow on the packaged samples as the formflow user,
# checks the systemd units with systemd-analyze verify, and removes it
# again (purge). Needs root (or sudo); changes this machine's packages.
# Usage: scripts/test-package.sh [--no-build]  (--no-build: package the
# binary already in target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
fail() { echo "test-package: FAILED: $*" >&2; exit 1; }

scripts/package.sh "$@"
deb=$(ls target/debian/formflow_*.deb)
if dpkg-query -W -f='${Status}' formflow 2>/dev/null | grep -q "install ok installed"; then
  $SUDO apt-get purge -y -qq formflow >/dev/null
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "./$deb" >/dev/null
trap '$SUDO apt-get purge -y -qq formflow >/dev/null 2>&1 || true' EXIT

[ "$(readlink -f /usr/bin/formflow)" = /usr/lib/formflow/formflow ] || fail "/usr/bin/formflow is not the packaged binary"
getent passwd formflow >/dev/null || fail "no formflow user"
[ "$(stat -c %U /var/lib/formflow)" = formflow ] || fail "/var/lib/formflow is not the formflow user's"
[ "$(stat -c %a:%G /etc/formflow/formflow.env)" = 640:formflow ] || fail "formflow.env is not 0640 root:formflow"

# The embedded pipeline from /usr/bin on the packaged samples, as the
# service's user, in a folder of its own: nothing from the checkout.
work=$(mktemp -d)
chmod 0777 "$work"
as_formflow() { if [ "$(id -u)" = 0 ]; then runuser -u formflow -- "$@"; else sudo -u formflow "$@"; fi; }
out=$(cd "$work" && as_formflow env -i PATH=/usr/bin:/bin HOME="$work" \
  /usr/bin/formflow run /usr/share/formflow/samples 2>&1) || fail "formflow run exited $?: $out"
echo "$out" | tail -n 12
scans=$(find /usr/share/formflow/samples -type f ! -name '*.json' | wc -l)
read_ok=$(echo "$out" | grep -cE '^\s*\S+\.(pdf|tif|jpg|png)\s+(extracted|needs_review)\b' || true)
[ "$read_ok" -eq "$scans" ] || fail "$read_ok of $scans samples were read"
[ -f "$work/formflow-data/formflow.db" ] || fail "no database in formflow-data/"
rm -rf "$work"

# The units: their syntax, the binary they start, the user they name.
# systemd-analyze verify warns of unknown keys, missing binaries, bad
# values; it must say nothing at all.
if ! said=$($SUDO systemd-analyze verify /lib/systemd/system/formflow-serve.service \
  /lib/systemd/system/formflow-worker@.service 2>&1) || [ -n "$said" ]; then
  fail "systemd-analyze verify complained: $said"
fi
echo "test-package: $deb installs, runs its samples and its units verify"
