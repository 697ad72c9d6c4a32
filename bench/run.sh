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
#   bench/run.sh --governance    after the phases, what keys with limits cost:
#                                a second Keel with its counters in Redis, a
#                                governed key on each, keel-bench --governance
#                                (writes bench/results/governance.json)
#   bench/run.sh --governance-only  that comparison alone (no proxy, no phases)
#
# Environment: KEEL_BIN=/path/to/keel uses that Keel binary instead of
# building keel-cli here; CHUNK_DELAY_US, SLOW_CHUNK_DELAY_US pace the streams;
# KEEL_BENCH_REDIS_URL (redis://HOST:PORT, default redis://127.0.0.1:6379) is
# the Redis for --governance; when nothing answers there, a redis-server of
# our own is started on a free port.
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
governance=false
governance_only=false
pass=()
while (($#)); do
  case $1 in
    --direct-only) direct_only=true; pass+=("$1") ;;
    --baseline-proxy) baseline_proxy=true ;;
    --governance) governance=true ;;
    --governance-only) governance=true; governance_only=true ;;
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
if $governance && ! $with_keel; then
  printf '[run.sh] --governance needs Keel (not with --direct-only or --baseline-proxy)\n' >&2; exit 2
fi
# The comparison has no proxy side.
if $governance_only; then with_proxy=false; fi

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
redis_cleanup=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Counters left in a shared Redis under this run's prefix.
  if ((${#redis_cleanup[@]})); then "${redis_cleanup[@]}" || true; fi
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

# Whether Redis answers PING on $1:$2, and its pid from INFO server (plain
# bash, no redis-cli needed): prints the pid, or nothing if it is not ours to
# see (another pid namespace); fails when Redis does not answer.
redis_pid() {
  local host=$1 port=$2 line pid=
  exec 4<>"/dev/tcp/$host/$port" 2>/dev/null || return 1
  printf 'PING\r\n' >&4
  read -r -t 2 line <&4 || { exec 4<&- 4>&-; return 1; }
  [[ $line == +PONG* ]] || { exec 4<&- 4>&-; return 1; }
  printf 'INFO server\r\n' >&4
  while read -r -t 2 line <&4; do
    case $line in process_id:*) pid=${line#process_id:}; pid=${pid%$'\r'}; break ;; esac
  done
  exec 4<&- 4>&-
  if [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == redis* ]]; then echo "$pid"; fi
}

# Starts `keel serve` with config $1, data dir $2, port $3, logs $WORK/$4.{out,err};
# sets started_pid once it is ready.
start_keel() {
  local config=$1 data=$2 port=$3 name=$4 pid ready=false
  mkdir -p "$data"
  log "starting $name ($KEEL_BIN) on port $port"
  KEEL_MASTER_KEY=bench-key FAKE_KEY=fake-upstream-key \
    "$KEEL_BIN" serve --config "$config" --data-dir "$data" --port "$port" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if [[ $(http_status "$port" /health/ready 2>/dev/null) == 200 ]]; then ready=true; break; fi
    sleep 0.1
  done
  if ! $ready; then
    log "$name did not become ready; its stderr:"; tail -n 40 "$WORK/$name.err" >&2; exit 1
  fi
  log "$name ready (pid $pid)"
  started_pid=$pid
}

# A key with an RPM, a TPM and a monthly USD budget on the Keel at port $1,
# limits far above what the run sends: every call does the checks, none is
# refused. Prints the secret.
governed_key() {
  local json key
  json=$(KEEL_URL="http://127.0.0.1:$1" KEEL_API_KEY=bench-key "$KEEL_BIN" keys create \
    --name bench-gov --rpm 100000000 --tpm 100000000000 \
    --budget-usd 1000000 --budget-period monthly --json) || return 1
  key=$(sed -n 's/^ *"key": *"\(sk-keel-[^"]*\)".*/\1/p' <<<"$json")
  [[ -n $key ]] || { log "no key in: $json"; return 1; }
  echo "$key"
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
  cat >"$WORK/keel.toml" <<EOF
[[providers]]
name = "fake"
base_url = "$UPSTREAM_URL"
api_key = "env:FAKE_KEY"
models = ["bench-model", "bench-slow-stream"]
EOF
  # Extra keel.toml lines for an experiment, e.g. KEEL_BENCH_CONFIG=$'[store]\nflush_interval_ms = 10'
  if [[ -n ${KEEL_BENCH_CONFIG:-} ]]; then printf '%s\n' "$KEEL_BENCH_CONFIG" >>"$WORK/keel.toml"; fi
  if $governance; then
    # bench-model has no price in Keel's catalog, so a USD budget would
    # reserve $0 and skip the arithmetic real models pay for.
    printf '\n[prices."bench-model"]\ninput = 0.15\noutput = 0.6\n' >>"$WORK/keel.toml"
  fi
  start_keel "$WORK/keel.toml" "$WORK/data" "$KEEL_PORT" keel
  KEEL_PID=$started_pid
  bench_args+=(--keel "http://127.0.0.1:$KEEL_PORT/v1" --keel-key bench-key --keel-pid "$KEEL_PID")
fi
if [[ $soak_minutes != 0 ]]; then
  bench_args+=(--soak-secs "$(awk -v m="$soak_minutes" 'BEGIN { printf "%d", m * 60 }')")
fi

status=0
if ! $governance_only; then
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
fi

# What keys with limits cost: a governed key on the Keel above (counters in
# memory) and on a second Keel with the same config plus counters in Redis.
if $governance; then
  REDIS_URL=${KEEL_BENCH_REDIS_URL:-redis://127.0.0.1:6379}
  if [[ ! $REDIS_URL =~ ^redis://([^:/@]+):([0-9]+)/?$ ]]; then
    log "KEEL_BENCH_REDIS_URL must be redis://HOST:PORT (no password, no database): $REDIS_URL"; exit 1
  fi
  REDIS_HOST=${BASH_REMATCH[1]}
  REDIS_PORT=${BASH_REMATCH[2]}
  if REDIS_PID=$(redis_pid "$REDIS_HOST" "$REDIS_PORT"); then
    log "redis at $REDIS_URL (pid ${REDIS_PID:-unknown})"
    # Shared with others: a prefix of this run's own, removed at the end.
    REDIS_PREFIX="keel-bench-$$-$(date +%s)"
    if command -v redis-cli >/dev/null; then
      redis_cleanup=(bash -c 'redis-cli -h "$1" -p "$2" --scan --pattern "$3:*" |
        xargs -r redis-cli -h "$1" -p "$2" DEL >/dev/null' _ "$REDIS_HOST" "$REDIS_PORT" "$REDIS_PREFIX")
    else
      log "no redis-cli to remove the keys under $REDIS_PREFIX: from that Redis afterwards"
    fi
  elif command -v redis-server >/dev/null; then
    REDIS_HOST=127.0.0.1
    REDIS_PORT=$(free_port)
    REDIS_PREFIX=keel-bench
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
      >"$WORK/redis.out" 2>&1 &
    pids+=("$!")
    for _ in $(seq 50); do
      REDIS_PID=$(redis_pid "$REDIS_HOST" "$REDIS_PORT") && break
      sleep 0.1
    done
    [[ -n ${REDIS_PID:-} ]] || { log "redis-server did not start:"; cat "$WORK/redis.out" >&2; exit 1; }
    log "nothing at $REDIS_URL; started redis-server on port $REDIS_PORT (pid $REDIS_PID)"
  else
    log "no Redis at $REDIS_URL and no redis-server to start"; exit 1
  fi
  REDIS_KEEL_PORT=$(free_port)
  { cat "$WORK/keel.toml"
    printf '\n[counters]\nredis_url = "redis://%s:%s"\nkey_prefix = "%s"\n' \
      "$REDIS_HOST" "$REDIS_PORT" "$REDIS_PREFIX"
  } >"$WORK/keel-redis.toml"
  start_keel "$WORK/keel-redis.toml" "$WORK/data-redis" "$REDIS_KEEL_PORT" keel-redis
  REDIS_KEEL_PID=$started_pid
  GOVERNED_KEY=$(governed_key "$KEEL_PORT") || { log "could not create a governed key"; exit 1; }
  REDIS_GOVERNED_KEY=$(governed_key "$REDIS_KEEL_PORT") ||
    { log "could not create a governed key on keel-redis"; exit 1; }
  gov_args=(--governance --governed-key "$GOVERNED_KEY"
    --keel-redis "http://127.0.0.1:$REDIS_KEEL_PORT/v1" --keel-redis-key "$REDIS_GOVERNED_KEY"
    --keel-redis-pid "$REDIS_KEEL_PID" --redis "$REDIS_HOST:$REDIS_PORT")
  if [[ -n ${REDIS_PID:-} ]]; then gov_args+=(--redis-pid "$REDIS_PID"); fi
  echo
  "$BIN/keel-bench" "${bench_args[@]}" "${pass[@]}" "${gov_args[@]}" \
    --out bench/results/governance.json || status=$?
fi
exit "$status"
