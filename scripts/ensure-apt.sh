#!/usr/bin/env bash
# Makes sure a Debian package's program is installed, for the tests and
# benchmarks that need one: `ensure-apt.sh BINARY PACKAGE PURPOSE`, e.g.
#   ensure-apt.sh /usr/bin/chromium chromium "the browser test"
#   ensure-apt.sh /usr/bin/redis-server redis-server "the Redis contestant of make bench"
# (`npx playwright install` cannot download its own browser builds here.)
#
# Idempotent: silent and instant when BINARY is already there. Otherwise it
# installs PACKAGE with apt-get (after apt-get update; needs root), and exits
# non-zero with a message saying why when it cannot.
set -euo pipefail

BINARY=${1:?usage: ensure-apt.sh BINARY PACKAGE PURPOSE}
PACKAGE=${2:?usage: ensure-apt.sh BINARY PACKAGE PURPOSE}
PURPOSE=${3:-this command}

if [[ -x "$BINARY" ]]; then
  exit 0
fi

fail() {
  echo "ensure-apt: $*" >&2
  echo "ensure-apt: $PURPOSE needs Debian's $PACKAGE at $BINARY" >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "$BINARY is missing and apt-get is not available to install it"

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    fail "$BINARY is missing and installing it needs root (run: apt-get update && apt-get install -y --no-install-recommends $PACKAGE)"
  fi
fi

echo "ensure-apt: installing Debian's $PACKAGE package" >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
  || fail "apt-get update failed"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$PACKAGE" >/dev/null \
  || fail "apt-get install $PACKAGE failed"

[[ -x "$BINARY" ]] || fail "the $PACKAGE package installed, but $BINARY is still missing"
echo "ensure-apt: $PACKAGE installed ($("$BINARY" --version 2>/dev/null | head -1 || echo "$BINARY"))" >&2
