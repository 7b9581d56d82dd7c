#!/usr/bin/env bash
# Builds chartguard's Go tools into the git-ignored .tools/bin from pinned wrapper
# modules under infra/toolchain/. Idempotent: each tool is skipped when its stamp
# (versions + wrapper go.mod/go.sum + Go version) matches and its binaries exist.
#   infra/toolchain/build.sh              # every tool
#   infra/toolchain/build.sh toxiproxy    # only some
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/versions.env
source "$ROOT/scripts/versions.env"
TOOLCHAIN="$ROOT/infra/toolchain"
BIN="$ROOT/.tools/bin"
STAMPS="$ROOT/.tools/stamps"
mkdir -p "$BIN" "$STAMPS"
# -mod=mod lets go fill go.sum for indirect modules; the committed go.sum pins them.
export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=local

log() { printf '\033[1mtoolchain:\033[0m %s\n' "$*" >&2; }

# key <wrapper dir> <extra...>: a short hash of everything that decides the build.
key() {
  local dir="$1"; shift
  { cat "$dir/go.mod" "$dir/go.sum" "$dir"/*.go 2>/dev/null; go version; echo "$@"; } \
    | sha256sum | cut -c1-16
}
fresh() { # fresh <name> <key> <binary...>
  local name="$1" k="$2"; shift 2
  [ -f "$STAMPS/$name" ] && [ "$(cat "$STAMPS/$name")" = "$k" ] || return 1
  for b in "$@"; do [ -x "$BIN/$b" ] || return 1; done
}

build_toxiproxy() {
  local dir="$TOOLCHAIN/toxiproxy" k
  k="$(key "$dir" "$TOXIPROXY_VERSION")"
  if fresh toxiproxy "$k" toxiproxy-server toxiproxy-cli; then log "toxiproxy: up to date"; return; fi
  grep -q "github.com/Shopify/toxiproxy/v2 $TOXIPROXY_VERSION\$" "$dir/go.mod" \
    || { log "toxiproxy: $dir/go.mod does not require $TOXIPROXY_VERSION"; exit 1; }
  log "toxiproxy: building $TOXIPROXY_VERSION"
  local ld="-s -w -X github.com/Shopify/toxiproxy/v2.Version=$TOXIPROXY_VERSION"
  (cd "$dir" \
    && nice go build -ldflags "$ld" -o "$BIN/toxiproxy-server" github.com/Shopify/toxiproxy/v2/cmd/server \
    && nice go build -ldflags "$ld" -o "$BIN/toxiproxy-cli" github.com/Shopify/toxiproxy/v2/cmd/cli)
  printf '%s' "$k" > "$STAMPS/toxiproxy"
}

command -v go >/dev/null || { log "go not found: install Go >= 1.23 (see README)"; exit 1; }
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(toxiproxy)
for t in "${tools[@]}"; do "build_$t"; done
