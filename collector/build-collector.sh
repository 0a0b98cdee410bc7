#!/usr/bin/env bash
# Build the order-status OpenTelemetry Collector with the OpenTelemetry
# Collector Builder (ocb) from collector/builder-config.yaml, then validate
# otel-collector.yaml with it.
#
# Idempotent: when .cache/otelcol/otelcol-order-status exists and the recorded
# hash (manifest + builder version + Go version) matches, the binary is reused
# and only the validation runs. Safe to call concurrently (flock).
#
# Writes only inside <repo>/.cache/otelcol (git-ignored) plus the standard Go
# build/module caches and the build log (OTELCOL_BUILD_LOG, default
# /tmp/otelcol-build.log).
#
# On success prints exactly one line on stdout: the absolute binary path.
# Progress goes to stderr; on failure the log tail goes to stderr, exit != 0.
#
# Env:
#   OTELCOL_BUILD_LOG   build log path (default /tmp/otelcol-build.log)
#   OTELCOL_FORCE_BUILD=1  rebuild even when the cached binary matches
set -euo pipefail

BUILDER_VERSION="v0.158.0" # keep in step with collector/builder-config.yaml
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MANIFEST="$ROOT/collector/builder-config.yaml"
CONFIG="$ROOT/otel-collector.yaml"
OUT="$ROOT/.cache/otelcol"
BIN="$OUT/otelcol-order-status"
BUILDER_BIN_DIR="$OUT/bin"
BUILDER="$BUILDER_BIN_DIR/builder"
STAMP="$OUT/.manifest.sha256"
LOG="${OTELCOL_BUILD_LOG:-/tmp/otelcol-build.log}"

say() { echo "build-collector: $*" >&2; }
die() {
  echo "build-collector: ERROR: $*" >&2
  if [[ -s "$LOG" ]]; then
    echo "build-collector: last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2 || true
  fi
  exit 1
}

[[ -f "$MANIFEST" ]] || die "manifest not found: $MANIFEST"
[[ -f "$CONFIG" ]] || die "collector config not found: $CONFIG"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"

mkdir -p "$OUT"
: >>"$LOG" 2>/dev/null || die "cannot write build log $LOG (set OTELCOL_BUILD_LOG)"

# Serialise concurrent invocations (e.g. two test files calling this at once).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$OUT/.lock"
  flock 9
fi

go_version="none"
if command -v go >/dev/null 2>&1; then
  go_version="$(go env GOVERSION 2>/dev/null || echo unknown)"
fi
wanted_hash="$(
  {
    cat "$MANIFEST"
    echo "builder=$BUILDER_VERSION"
    echo "go=$go_version"
  } | sha256sum | cut -d' ' -f1
)"

needs_build=1
if [[ "${OTELCOL_FORCE_BUILD:-0}" != "1" && -x "$BIN" && -f "$STAMP" ]]; then
  if [[ "$(cat "$STAMP")" == "$wanted_hash" ]]; then
    needs_build=0
    say "reusing $BIN (manifest hash matches)"
  elif [[ "$go_version" == "none" ]]; then
    # No Go toolchain to rebuild with: a binary from an older manifest is
    # still better than nothing, but say so loudly.
    die "cached binary was built from a different manifest and 'go' is not on PATH; install Go >= 1.26 or delete $OUT"
  fi
fi

if [[ "$needs_build" == "1" ]]; then
  command -v go >/dev/null 2>&1 || die "'go' is not on PATH; Go >= 1.26 is needed to build the collector"

  # Standard Go caches (never inside the repository, except .cache/).
  GOCACHE="$(go env GOCACHE)"
  GOMODCACHE="$(go env GOMODCACHE)"
  for d in "$GOCACHE" "$GOMODCACHE"; do
    case "$d" in
      "$ROOT/.cache"/*) ;;
      "$ROOT" | "$ROOT"/*) die "Go cache $d is inside the repository; unset GOCACHE/GOMODCACHE" ;;
    esac
  done
  export GOCACHE GOMODCACHE
  # The generated module lives inside this git checkout: no VCS stamping.
  export GOFLAGS="-buildvcs=false"
  export CGO_ENABLED=0

  {
    echo "=== $(date -u +%FT%TZ) build-collector: building with $go_version, builder $BUILDER_VERSION"
  } >>"$LOG"

  if [[ ! -x "$BUILDER" ]] || ! "$BUILDER" version 2>/dev/null | grep -q "${BUILDER_VERSION#v}"; then
    say "installing go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION into $BUILDER_BIN_DIR"
    mkdir -p "$BUILDER_BIN_DIR"
    GOBIN="$BUILDER_BIN_DIR" go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION" >>"$LOG" 2>&1 ||
      die "go install of the collector builder $BUILDER_VERSION failed"
  fi

  rm -f "$STAMP" "$BIN"
  say "building the collector (several minutes on a cold Go cache; log: $LOG)"
  started=$(date +%s)
  # output_path in the manifest is relative to the repository root.
  (cd "$ROOT" && "$BUILDER" --config "$MANIFEST") >>"$LOG" 2>&1 ||
    die "collector build failed (manifest $MANIFEST)"
  [[ -x "$BIN" ]] || die "builder finished but $BIN is missing"
  echo "$wanted_hash" >"$STAMP"
  say "built $BIN in $(($(date +%s) - started)) s"
fi

# Validate the real config with dummy credentials; every other value has a
# default in otel-collector.yaml.
if ! validate_out="$(
  LANGFUSE_PUBLIC_KEY="${LANGFUSE_PUBLIC_KEY:-pk-lf-validate}" \
    LANGFUSE_SECRET_KEY="${LANGFUSE_SECRET_KEY:-sk-lf-validate}" \
    "$BIN" validate --config "$CONFIG" 2>&1
)"; then
  echo "$validate_out" >&2
  die "otel-collector.yaml does not validate with $BIN"
fi

echo "$BIN"
