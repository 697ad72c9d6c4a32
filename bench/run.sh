#!/usr/bin/env bash
# Keel overhead benchmark, one command: builds release binaries, starts the
# fast fake upstream and Keel in front of it, runs keel-bench (direct vs
# through Keel, same run) and keel-translate-bench (each format
# translation's CPU cost, in-process), then stops everything it started.
#
#   bench/run.sh                 full run (about 2.5 minutes)
#   bench/run.sh --quick         smoke run (about 30 s, noisy numbers)
#   bench/run.sh --direct-only   upstream only, no Keel build or process
#   bench/run.sh --baseline-proxy  keel-null-proxy (a bare hyper pass-through)
#                                in Keel's place: the floor any proxy pays here
#
# Other arguments go to keel-bench (see `keel-bench --help`).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/target/release
CHUNK_DELAY_US=${CHUNK_DELAY_US:-1000}      # pacing of phase 4 streams
SLOW_CHUNK_DELAY_US=${SLOW_CHUNK_DELAY_US:-20000} # pacing of phase 5 streams

direct_only=false
baseline_proxy=false
pass=()
for arg in "$@"; do
  case $arg in
    --direct-only) direct_only=true; pass+=("$arg") ;;
    --baseline-proxy) baseline_proxy=true ;;
    *) pass+=("$arg") ;;
  esac
done

log() { printf '[run.sh] %s\n' "$*" >&2; }

packages=(-p keel-testkit -p keel-bench)
$direct_only || $baseline_proxy || packages+=(-p keel-cli)
log "building ${packages[*]} (release)"
cargo build --release --quiet "${packages[@]}"

# 512 client connections plus 512 upstream connections through one process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# The first line a process prints, waiting up to 10 s for it.
first_line() {
  local file=$1 pid=$2
  for _ in $(seq 100); do
    if [[ -s $file ]]; then head -n1 "$file"; return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# A free local port (nothing answers on it).
free_port() {
  local port
  for port in $(seq 18100 18999); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"; return 0
    fi
  done
  return 1
}

# The status code of GET $2 on 127.0.0.1:$1 (plain bash, no curl needed).
http_status() {
  local port=$1 path=$2 status
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
  read -r -t 2 _ status _ <&3 || status=0
  exec 3<&- 3>&-
  echo "${status:-0}"
}

log "starting fake upstream (chunk delay ${CHUNK_DELAY_US} µs, slow ${SLOW_CHUNK_DELAY_US} µs)"
"$BIN/keel-fake-upstream" --fast --threads 1 \
  --chunk-delay-us "$CHUNK_DELAY_US" --slow-chunk-delay-us "$SLOW_CHUNK_DELAY_US" \
  >"$WORK/upstream.out" 2>"$WORK/upstream.err" &
UPSTREAM_PID=$!
pids+=("$UPSTREAM_PID")
UPSTREAM_URL=$(first_line "$WORK/upstream.out" "$UPSTREAM_PID") || {
  log "fake upstream did not start:"; cat "$WORK/upstream.err" >&2; exit 1; }
log "upstream at $UPSTREAM_URL (pid $UPSTREAM_PID)"

bench_args=(--direct "$UPSTREAM_URL" --upstream-pid "$UPSTREAM_PID")

if $baseline_proxy && ! $direct_only; then
  "$BIN/keel-null-proxy" --upstream "$UPSTREAM_URL" >"$WORK/proxy.out" 2>"$WORK/proxy.err" &
  PROXY_PID=$!
  pids+=("$PROXY_PID")
  PROXY_URL=$(first_line "$WORK/proxy.out" "$PROXY_PID") || {
    log "null proxy did not start:"; cat "$WORK/proxy.err" >&2; exit 1; }
  log "null proxy at $PROXY_URL (pid $PROXY_PID), measured in Keel's place"
  bench_args+=(--keel "$PROXY_URL" --keel-pid "$PROXY_PID" --out bench/results/null-proxy.json)
elif ! $direct_only; then
  KEEL_PORT=$(free_port)
  mkdir -p "$WORK/data"
  cat >"$WORK/keel.toml" <<EOF
[[providers]]
name = "fake"
base_url = "$UPSTREAM_URL"
api_key = "env:FAKE_KEY"
models = ["bench-model", "bench-slow-stream"]
EOF
  log "starting keel on port $KEEL_PORT"
  KEEL_MASTER_KEY=bench-key FAKE_KEY=fake-upstream-key \
    "$BIN/keel" serve --config "$WORK/keel.toml" --data-dir "$WORK/data" --port "$KEEL_PORT" \
    >"$WORK/keel.out" 2>"$WORK/keel.err" &
  KEEL_PID=$!
  pids+=("$KEEL_PID")
  ready=false
  for _ in $(seq 300); do
    if ! kill -0 "$KEEL_PID" 2>/dev/null; then break; fi
    if [[ $(http_status "$KEEL_PORT" /health/ready 2>/dev/null) == 200 ]]; then ready=true; break; fi
    sleep 0.1
  done
  if ! $ready; then
    log "keel did not become ready; its stderr:"; tail -n 40 "$WORK/keel.err" >&2; exit 1
  fi
  log "keel ready (pid $KEEL_PID)"
  bench_args+=(--keel "http://127.0.0.1:$KEEL_PORT/v1" --keel-key bench-key --keel-pid "$KEEL_PID")
fi

status=0
"$BIN/keel-bench" "${bench_args[@]}" "${pass[@]}" || status=$?

# The translations alone, in-process: stable where end-to-end differences of
# a few microseconds are lost in scheduling noise.
if ! $direct_only && ! $baseline_proxy; then
  echo
  echo "## Translation cost (in-process)"
  echo
  "$BIN/keel-translate-bench"
fi
exit "$status"
