#!/usr/bin/env bash
# Stop the local model server that start.sh started on PORT (default 8090), and
# only that process: the one named in its PID file, checked against its
# command line.
#   scripts/upstream/stop.sh [PORT]
#   scripts/upstream/stop.sh --all     (every server start.sh left running)
set -uo pipefail

UP_HOME="${KEEL_UPSTREAM_HOME:-$HOME/.cache/keel-upstream}"
RUN="$UP_HOME/run"

stop_port() {
  local port="$1" pid_file="$RUN/upstream-$1.pid" pid
  if [ ! -f "$pid_file" ]; then
    echo "keel-upstream: no PID file for port $port; nothing to stop" >&2
    return 0
  fi
  pid="$(cat "$pid_file" 2>/dev/null)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
     tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--port $port "; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "keel-upstream: pid $pid ignored SIGTERM; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
    echo "keel-upstream: stopped pid $pid (port $port)" >&2
  else
    echo "keel-upstream: pid '${pid}' from $pid_file is not running (or is not ours); removing stale PID file" >&2
  fi
  rm -f "$pid_file"
}

if [ "${1:-}" = --all ]; then
  shopt -s nullglob
  for f in "$RUN"/upstream-*.pid; do
    p="${f##*/upstream-}"; stop_port "${p%.pid}"
  done
else
  PORT="${1:-8090}"
  case "$PORT" in ''|*[!0-9]*) echo "usage: stop.sh [PORT|--all]" >&2; exit 2 ;; esac
  stop_port "$PORT"
fi
