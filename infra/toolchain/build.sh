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

build_pulumi() {
  local dir="$TOOLCHAIN/pulumi" k
  k="$(key "$dir" "$PULUMI_VERSION")"
  if fresh pulumi "$k" pulumi; then log "pulumi: up to date"; return; fi
  grep -q "github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION\$" "$dir/go.mod" \
    || { log "pulumi: $dir/go.mod does not require $PULUMI_VERSION"; exit 1; }
  log "pulumi: building the CLI $PULUMI_VERSION (several minutes on a cold cache)"
  local ld="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
  (cd "$dir" && nice go build -ldflags "$ld" -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  printf '%s' "$k" > "$STAMPS/pulumi"
}

build_pulumi_python() {
  # The Python language host, its program shim and the dynamic-provider launcher.
  local dir="$TOOLCHAIN/pulumi-language-python" k
  local scripts=(pulumi-language-python-exec pulumi-resource-pulumi-python)
  k="$(key "$dir" "$PULUMI_PYTHON_HOST_VERSION" "$(cd "$TOOLCHAIN" && cat "${scripts[@]}")")"
  if fresh pulumi-python "$k" pulumi-language-python "${scripts[@]}"; then
    log "pulumi-language-python: up to date"; return
  fi
  grep -q "github.com/pulumi/pulumi/sdk/v3 $PULUMI_PYTHON_HOST_VERSION\$" "$dir/go.mod" \
    || { log "pulumi-language-python: $dir/go.mod does not require $PULUMI_PYTHON_HOST_VERSION"; exit 1; }
  log "pulumi-language-python: building $PULUMI_PYTHON_HOST_VERSION"
  local ld="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_PYTHON_HOST_VERSION"
  (cd "$dir" && nice go build -ldflags "$ld" -o "$BIN/pulumi-language-python" \
    github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python)
  for s in "${scripts[@]}"; do install -m 0755 "$TOOLCHAIN/$s" "$BIN/$s"; done
  printf '%s' "$k" > "$STAMPS/pulumi-python"
}

# The Go toolchain's usual home, in case a non-login shell (CI) lacks it on PATH.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || { log "go not found: install Go >= 1.25 (see README)"; exit 1; }
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(toxiproxy pulumi pulumi_python)
for t in "${tools[@]}"; do "build_$t"; done
