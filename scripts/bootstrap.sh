#!/usr/bin/env bash
# Idempotent set-up of everything chartguard needs on a fresh machine.
# Second run: seconds (each step is skipped when its stamp matches its inputs).
#   scripts/bootstrap.sh            # all steps
#   scripts/bootstrap.sh apt python # only some steps
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/versions.env
source "$ROOT/scripts/versions.env"
STAMPS="$ROOT/.tools/stamps"
mkdir -p "$STAMPS"

log() { printf '\033[1mbootstrap:\033[0m %s\n' "$*" >&2; }

stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { printf '%s' "$2" > "$STAMPS/$1"; }

step_apt() {
  local missing=()
  for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "apt: all present"; return; fi
  if [ "$(id -u)" != 0 ]; then
    log "apt: missing ${missing[*]}; run as root or install them: apt-get install ${missing[*]}"; exit 1
  fi
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's packages must not start their own daemons: chartguard starts every server itself.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

step_python() {
  local key
  key="$(cat pyproject.toml scripts/versions.env | sha256sum | cut -c1-16)-$(python3 --version)"
  if [ -x .venv/bin/python ] && stamp_ok python "$key"; then log "python: up to date"; return; fi
  [ -x .venv/bin/python ] || { log "python: creating .venv"; python3 -m venv .venv; }
  log "python: installing chartguard[dev] into .venv"
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"
  stamp_set python "$key"
}

step_tools() {
  # Go-built tools (Toxiproxy, Pulumi); see infra/toolchain/.
  if [ -x infra/toolchain/build.sh ]; then bash infra/toolchain/build.sh; fi
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(apt python tools)
for s in "${steps[@]}"; do "step_$s"; done
log "done"
