#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium, for the headless
# browser test (js-tests/browser.test.mjs drives it through playwright-core;
# `npx playwright install` cannot download its own browser builds here).
#
# Idempotent: silent and instant when Chromium is already installed. Otherwise
# it installs the Debian package with apt-get (needs root), and exits non-zero
# with a message saying why when it cannot.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi

fail() {
  echo "ensure-chromium: $*" >&2
  echo "ensure-chromium: the browser test (js-tests/browser.test.mjs) needs Debian's chromium at $CHROMIUM" >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "$CHROMIUM is missing and apt-get is not available to install it"

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    fail "$CHROMIUM is missing and installing it needs root (run: apt-get update && apt-get install -y --no-install-recommends chromium)"
  fi
fi

echo "ensure-chromium: installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
  || fail "apt-get update failed"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold chromium >/dev/null \
  || fail "apt-get install chromium failed"

[[ -x "$CHROMIUM" ]] || fail "the chromium package installed, but $CHROMIUM is still missing"
echo "ensure-chromium: $("$CHROMIUM" --version 2>/dev/null || echo chromium) installed" >&2
