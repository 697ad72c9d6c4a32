#!/usr/bin/env bash
# Create (or refresh) the repo's Python venv at .venv/ with the pinned
# packages of tests/python/requirements.txt. Idempotent and quick when already
# done: a stamp file records the hash of the requirements (and the python
# version); nothing is installed unless that changes.
#
# stdout: only the venv's python path (so `PY="$(scripts/python-env.sh)"` works);
# progress goes to stderr.
#
# Env:
#   KEEL_PYTHON   python (>= 3.10) used to create the venv (default python3)
#   KEEL_VENV     venv directory (default <repo>/.venv)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/tests/python/requirements.txt"
VENV="${KEEL_VENV:-$ROOT/.venv}"
PY="${KEEL_PYTHON:-python3}"
VPY="$VENV/bin/python"
STAMP="$VENV/.keel-requirements.sha256"

log() { echo "python-env: $*" >&2; }

want_stamp() {
  # requirements content + the venv's python version: a new interpreter or a
  # changed pin both trigger a reinstall.
  { cat "$REQ"; "$VPY" -c 'import sys; print(sys.version)' 2>/dev/null || echo none; } |
    sha256sum | cut -d' ' -f1
}

up_to_date() {
  [ -x "$VPY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(want_stamp)" ]
}

# Fast path, no lock.
if up_to_date; then
  echo "$VPY"
  exit 0
fi

mkdir -p "$(dirname "$VENV")"
# One installer at a time: lock the requirements file itself (no lock file to clean up).
if command -v flock >/dev/null 2>&1; then
  exec 9<"$REQ"
  flock 9
  if up_to_date; then echo "$VPY"; exit 0; fi
fi

if ! "$VPY" -c 'import sys' >/dev/null 2>&1; then
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || {
    log "$PY is older than 3.10 (or missing); set KEEL_PYTHON"; exit 1; }
  rm -rf "$VENV"
  log "creating $VENV with $("$PY" -c 'import sys; print(sys.executable)')"
  "$PY" -m venv "$VENV" >&2
fi

log "installing $(grep -cv '^\s*\(#\|$\)' "$REQ") pinned packages from ${REQ#"$ROOT"/}"
"$VPY" -m pip install --disable-pip-version-check --no-input -q -r "$REQ" >&2
"$VPY" -m pip check >&2 || { log "pip check failed"; exit 1; }
want_stamp >"$STAMP"
log "ready: $VPY"
echo "$VPY"
