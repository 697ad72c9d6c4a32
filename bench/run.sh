#!/usr/bin/env bash
# Keel overhead benchmark, one command: builds release binaries, starts the
# fast fake upstream, keel-null-proxy (a bare hyper pass-through) and Keel in
# front of it, runs keel-bench (direct, proxy and Keel, rounds interleaved,
# same run) and keel-translate-bench (each format translation's CPU cost,
# in-process), then stops everything it started.
#
#   bench/run.sh                 full run (about 3 minutes)
#   bench/run.sh --quick         smoke run (about 45 s, noisy numbers)
#   bench/run.sh --direct-only   upstream only, no proxy, no Keel build or process
#   bench/run.sh --baseline-proxy  upstream and keel-null-proxy only, no Keel
#                                (writes bench/results/null-proxy.json)
#   bench/run.sh --soak [MIN]    after the phases, soak Keel for MIN minutes
#                                (default 10) at 400 unary + 40 streamed calls/s
#
# Environment: KEEL_BIN=/path/to/keel uses that Keel binary instead of
# building keel-cli here; CHUNK_DELAY_US, SLOW_CHUNK_DELAY_US pace the streams.
# Other arguments go to keel-bench (see `keel-bench --help`).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/target/release
CHUNK_DELAY_US=${CHUNK_DELAY_US:-1000}      # pacing of phase 4 streams
SLOW_CHUNK_DELAY_US=${SLOW_CHUNK_DELAY_US:-20000} # pacing of phase 5 streams

direct_only=false
baseline_proxy=false
soak_minutes=0
pass=()
while (($#)); do
  case $1 in
    --direct-only) direct_only=true; pass+=("$1") ;;
    --baseline-proxy) baseline_proxy=true ;;
    --soak)
      soak_minutes=10
      if [[ ${2:-} =~ ^[0-9]+([.][0-9]+)?$ ]]; then soak_minutes=$2; shift; fi ;;
    *) pass+=("$1") ;;
  esac
  shift
done
with_proxy=true
with_keel=true
if $direct_only; then with_proxy=false; with_keel=false; fi
if $baseline_proxy; then with_keel=false; fi

log() { printf '[run.sh] %s\n' "$*" >&2; }

packages=(-p keel-testkit -p keel-bench)
if $with_keel && [[ -z ${KEEL_BIN:-} ]]; then packages+=(-p keel-cli); fi
KEEL_BIN=${KEEL_BIN:-$BIN/keel}
log "building ${packages[*]} (release)"
cargo build --release --quiet "${packages[@]}"
if $with_keel && [[ ! -x $KEEL_BIN ]]; then log "no Keel binary at $KEEL_BIN"; exit 1; fi

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

if $with_proxy; then
  "$BIN/keel-null-proxy" --upstream "$UPSTREAM_URL" >"$WORK/proxy.out" 2>"$WORK/proxy.err" &
  PROXY_PID=$!
  pids+=("$PROXY_PID")
  PROXY_URL=$(first_line "$WORK/proxy.out" "$PROXY_PID") || {
    log "null proxy did not start:"; cat "$WORK/proxy.err" >&2; exit 1; }
  log "null proxy at $PROXY_URL (pid $PROXY_PID)"
  bench_args+=(--proxy "$PROXY_URL" --proxy-pid "$PROXY_PID")
  if ! $with_keel; then bench_args+=(--out bench/results/null-proxy.json); fi
fi
if $with_keel; then
  KEEL_PORT=$(free_port)
  mkdir -p "$WORK/data"
  cat >"$WORK/keel.toml" <<EOF
[[providers]]
name = "fake"
base_url = "$UPSTREAM_URL"
api_key = "env:FAKE_KEY"
models = ["bench-model", "bench-slow-stream"]
EOF
  # Extra keel.toml lines for an experiment, e.g. KEEL_BENCH_CONFIG=$'[store]\nflush_interval_ms = 10'
  if [[ -n ${KEEL_BENCH_CONFIG:-} ]]; then printf '%s\n' "$KEEL_BENCH_CONFIG" >>"$WORK/keel.toml"; fi
  log "starting keel ($KEEL_BIN) on port $KEEL_PORT"
  KEEL_MASTER_KEY=bench-key FAKE_KEY=fake-upstream-key \
    "$KEEL_BIN" serve --config "$WORK/keel.toml" --data-dir "$WORK/data" --port "$KEEL_PORT" \
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
if [[ $soak_minutes != 0 ]]; then
  bench_args+=(--soak-secs "$(awk -v m="$soak_minutes" 'BEGIN { printf "%d", m * 60 }')")
fi

status=0
"$BIN/keel-bench" "${bench_args[@]}" "${pass[@]}" || status=$?

# Records in Keel's store (SQLite) at the end, when sqlite3 is at hand.
if $with_keel && [[ -f $WORK/data/keel.db ]] && command -v sqlite3 >/dev/null; then
  records=$(sqlite3 -cmd '.timeout 5000' "$WORK/data/keel.db" 'SELECT count(*) FROM invocations' 2>&1) ||
    records="unknown ($records)"
  echo
  echo "Records in Keel's store at the end (sqlite3 keel.db): $records"
fi

# The translations alone, in-process: stable where end-to-end differences of
# a few microseconds are lost in scheduling noise.
if $with_keel; then
  echo
  echo "## Translation cost (in-process)"
  echo
  "$BIN/keel-translate-bench"
fi
exit "$status"
