#!/usr/bin/env bash
# Run Keel's Python end-to-end suite (tests/python) against the real binaries:
#   1. the repo venv (.venv/, pinned openai/anthropic/pytest) via scripts/python-env.sh;
#   2. `cargo build -p keel-cli -p keel-testkit` (debug) unless KEEL_BIN is set;
#   3. the real local model (scripts/upstream/start.sh) on KEEL_TEST_UPSTREAM_PORT
#      (default 8090), reused when something already serves it there;
#   4. pytest; the local model is stopped afterwards only if this script started it.
# Exit code: pytest's. Extra arguments go to pytest, e.g.
#   scripts/test-python.sh -k records -x
#
# Env:
#   KEEL_BIN                 keel binary to test (skips the cargo build; the fake
#                            upstream is looked up next to it unless
#                            KEEL_FAKE_UPSTREAM_BIN is set)
#   KEEL_TEST_UPSTREAM_PORT  port of the local model (default 8090)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PORT="${KEEL_TEST_UPSTREAM_PORT:-8090}"
URL="http://127.0.0.1:$PORT/v1"

log() { echo "test-python: $*" >&2; }

PY="$("$ROOT/scripts/python-env.sh")"

if [ -z "${KEEL_BIN:-}" ]; then
  log "cargo build -p keel-cli -p keel-testkit"
  cargo build -q -p keel-cli -p keel-testkit
  export KEEL_BIN="$ROOT/target/debug/keel"
fi

serving() {  # 0 when $URL/models answers with a model list
  "$PY" - "$URL/models" <<'PYEOF' >/dev/null 2>&1
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 and json.load(r).get("data") else 1)
PYEOF
}

STARTED=0
stop_upstream() {
  if [ "$STARTED" = 1 ]; then
    "$ROOT/scripts/upstream/stop.sh" "$PORT" || true
  fi
}
trap stop_upstream EXIT

if serving; then
  log "reusing the local model already serving $URL"
else
  log "starting the local model on port $PORT"
  "$ROOT/scripts/upstream/start.sh" "$PORT" >/dev/null
  STARTED=1
fi
export KEEL_TEST_UPSTREAM_URL="$URL"

set +e
"$PY" -m pytest tests/python -q "$@"
RC=$?
set -e
exit "$RC"
