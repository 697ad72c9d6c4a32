#!/usr/bin/env bash
# Start a real local model behind Keel: llama.cpp's OpenAI-compatible server
# with SmolLM2-135M-Instruct, in the background, on 127.0.0.1 only.
#   scripts/upstream/start.sh [PORT]      (default 8090)
# Runs install.sh first (a no-op once installed), waits until GET /v1/models
# answers (timeout KEEL_UPSTREAM_START_TIMEOUT, default 120 s), then prints
#   KEEL_TEST_UPSTREAM_URL=http://127.0.0.1:PORT/v1
#   KEEL_UPSTREAM_PID_FILE=<path>
# on stdout (everything else goes to stderr), so that
#   eval "$(scripts/upstream/start.sh 8090)"
# sets both in the calling shell. Point a Keel provider at that URL with
# `discover = true` (see README.md). Stop it with stop.sh [PORT].
# If a server started by this script already answers on PORT, it is reused.
#
# Env (see README.md): KEEL_UPSTREAM_HOME, KEEL_UPSTREAM_BACKEND,
# KEEL_UPSTREAM_THREADS (1), KEEL_UPSTREAM_CTX (8192), KEEL_UPSTREAM_PARALLEL (2),
# KEEL_UPSTREAM_EMBEDDINGS (0), KEEL_UPSTREAM_ALIAS (smollm2-135m-instruct),
# KEEL_UPSTREAM_START_TIMEOUT (120).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${1:-8090}"
case "$PORT" in ''|*[!0-9]*) echo "usage: start.sh [PORT]" >&2; exit 2 ;; esac
UP_HOME="${KEEL_UPSTREAM_HOME:-$HOME/.cache/keel-upstream}"
BACKEND="${KEEL_UPSTREAM_BACKEND:-xllamacpp}"
TIMEOUT="${KEEL_UPSTREAM_START_TIMEOUT:-120}"
THREADS="${KEEL_UPSTREAM_THREADS:-1}"
CTX="${KEEL_UPSTREAM_CTX:-8192}"
PARALLEL="${KEEL_UPSTREAM_PARALLEL:-2}"
EMBEDDINGS="${KEEL_UPSTREAM_EMBEDDINGS:-0}"
ALIAS="${KEEL_UPSTREAM_ALIAS:-smollm2-135m-instruct}"

RUN="$UP_HOME/run"
PID_FILE="$RUN/upstream-$PORT.pid"
LOG="$RUN/upstream-$PORT.log"
URL="http://127.0.0.1:$PORT/v1"
MODEL="$UP_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf"

report() {  # eval-safe: set -a; eval "$(start.sh PORT)"; set +a
  printf 'KEEL_TEST_UPSTREAM_URL=%q\n' "$URL"
  printf 'KEEL_UPSTREAM_PID_FILE=%q\n' "$PID_FILE"
}

# 0 when GET /v1/models answers 200 with a model list
probe() {
  python3 - "$URL/models" <<'EOF' >/dev/null 2>&1
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 and json.load(r).get("data") else 1)
EOF
}

port_open() {  # 0 when anything accepts TCP connections on the port
  python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$PORT" 2>/dev/null
}

ours_alive() {  # pid file names a live process that serves this port
  [ -f "$PID_FILE" ] || return 1
  local pid; pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--port $PORT "
}

mkdir -p "$RUN"
if ours_alive && probe; then
  echo "keel-upstream: already running (pid $(cat "$PID_FILE"))" >&2
  report; exit 0
fi
if ours_alive; then
  echo "keel-upstream: pid $(cat "$PID_FILE") does not answer; restarting it" >&2
  "$HERE/stop.sh" "$PORT" >&2
fi
rm -f "$PID_FILE"
if port_open; then
  echo "keel-upstream: port $PORT is already taken by another process; pass another PORT" >&2
  exit 1
fi

KEEL_UPSTREAM_HOME="$UP_HOME" KEEL_UPSTREAM_BACKEND="$BACKEND" "$HERE/install.sh" >&2

if [ "$BACKEND" = llama-cpp-python ]; then
  CMD=("$UP_HOME/venv-llama-cpp-python/bin/python" -m llama_cpp.server
       --model "$MODEL" --host 127.0.0.1 --port "$PORT" --model_alias "$ALIAS"
       --n_threads "$THREADS" --n_threads_batch "$THREADS" --n_ctx "$CTX")
  [ "$EMBEDDINGS" = 1 ] && CMD+=(--embedding true)
else
  CMD=("$UP_HOME/venv/bin/python" "$HERE/serve.py"
       --model "$MODEL" --host 127.0.0.1 --port "$PORT" --alias "$ALIAS"
       --threads "$THREADS" --ctx "$CTX" --parallel "$PARALLEL")
  [ "$EMBEDDINGS" = 1 ] && CMD+=(--embeddings)
fi

# Detach fully: no inherited stdin/stdout/stderr (a caller reading our output
# would otherwise wait for the server to exit), immune to the caller's SIGHUP.
nohup "${CMD[@]}" </dev/null >"$LOG" 2>&1 &
PID=$!
echo "$PID" >"$PID_FILE"

deadline=$((SECONDS + TIMEOUT))
until probe; do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "keel-upstream: server exited during startup; last log lines ($LOG):" >&2
    tail -n 20 "$LOG" >&2 || true
    rm -f "$PID_FILE"; exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "keel-upstream: no answer on $URL/models after ${TIMEOUT}s; stopping pid $PID (log: $LOG)" >&2
    "$HERE/stop.sh" "$PORT" >&2 || true
    exit 1
  fi
  sleep 0.2
done

echo "keel-upstream: $BACKEND serving $MODEL as '$ALIAS' (pid $PID, log $LOG)" >&2
report
