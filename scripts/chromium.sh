#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests (tests/web).
#
#   scripts/chromium.sh     install it with apt-get if missing; print its version
#
# Never downloads a browser from anywhere but the Debian archive (no `playwright install`).
# Needs root or passwordless sudo when Chromium is missing. Exit 3: Chromium is absent and
# cannot be installed here (the browser tests then skip with this script's message).
set -euo pipefail

CHROMIUM=/usr/bin/chromium

log() { echo "chromium.sh: $*" >&2; }

if [[ -x "$CHROMIUM" ]]; then
  "$CHROMIUM" --version 2>/dev/null || true
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    log "Chromium is not installed and apt-get needs root; install the 'chromium' package"
    exit 3
  fi
fi
command -v apt-get >/dev/null 2>&1 || { log "no apt-get here; install Chromium by hand"; exit 3; }

log "installing Chromium from Debian (apt-get)"
# A held lock (another apt-get running) is waited for, not treated as a failure.
apt_get() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_get update -qq >&2 || { log "apt-get update failed"; exit 3; }
apt_get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2 \
  || { log "apt-get install chromium failed"; exit 3; }
[[ -x "$CHROMIUM" ]] || { log "no $CHROMIUM after install"; exit 3; }
"$CHROMIUM" --version 2>/dev/null || true
