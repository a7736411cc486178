#!/usr/bin/env bash
# Benchmark of a trmm-rs suite on this machine; writes the figures to docs/benchmarks.md.
#
# It starts its own suite with scripts/quickstart.sh (release build, its own run dir, database,
# role, ports and Redis database, everything on 127.0.0.1, as the smoke test does), seeds
# 50,000 agents with trmm-loadgen and measures:
#   1. heartbeat ingestion: `trmm-loadgen flood` at increasing rates over 10,000 then 50,000
#      agents, TRMM_BENCH_FLOOD_SECS each; hellos received/written/dropped from trmm-nats-api's
#      /metrics, last_seen of every flooded agent checked in Postgres, CPU and memory of
#      trmm-nats-api, Postgres, nats-server and the load generator sampled from /proc every second;
#   2. GET /agents/ (full list and one page of 50) with 10,001 agents online (and again with
#      50,001), while 10,000 agents keep heartbeating at a realistic rate;
#   3. ping round trip (GET /agents/<id>/ping/: trmm-api -> gRPC -> trmm-nats-api -> NATS ->
#      agent) to 100 simulated agents with real authenticated NATS connections, and to the real
#      trmm-agent quickstart enrolled; then as many real agent connections as TRMM_BENCH_REAL_AGENTS;
#   3c. while those connections are up: a bulk command (POST /agents/actions/bulk/) to their site,
#      from the request until trmm-worker has every agent's outcome in bulk_runs.summary;
#   4. the idle footprint of that trmm-agent over TRMM_BENCH_IDLE_SECS;
#   5. check results from the 10,000 agents of site A with eight checks each, at the real cadence
#      and at ten times it (PATCH /api/v3/checkrunner/), then GET /agents/ with their check summaries.
# Every load is bounded in count and time. At the end it stops everything it started, drops its
# database and role and flushes its Redis database (the logs stay in a temp dir if it failed).
#
# Settings (environment variables; defaults in brackets):
#   TRMM_BENCH_OUT [docs/benchmarks.md]     where the report goes
#   TRMM_BENCH_FLOOD_SECS [30]              length of each flood step
#   TRMM_BENCH_RATES_10K [5000 10000 20000 40000]   hellos/s tried over 10,000 agents, in order
#   TRMM_BENCH_RATES_50K [10000 20000 40000 80000]  hellos/s tried over 50,000 agents, in order
#   TRMM_BENCH_REAL_AGENTS [10000]          real NATS connections tried in step 3
#   TRMM_BENCH_IDLE_SECS [60]               idle agent sampling window
#   TRMM_BENCH_CHECK_SECS [60]              length of each check-result step
#   TRMM_BENCH_REDIS_DB [12]                Redis database of the bench suite
#   TRMM_SKIP_BUILD=1                       reuse the release binaries already built
set -euo pipefail

LOG_TAG="bench"
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Quickstart settings a developer may have exported must not leak into the isolated run.
unset TRMM_ADMIN_PASSWORD TRMM_ADMIN_TOTP_SECRET TRMM_PUBLIC_URL TRMM_AGENT_NATS_URL \
  TRMM_ADMIN_USER TRMM_ADMIN_EMAIL TRMM_AGENT_SYSTEMD TRMM_AGENT TRMM_CHECKIN_HELLO

OUT=${TRMM_BENCH_OUT:-$TRMM_ROOT/docs/benchmarks.md}
FLOOD_SECS=${TRMM_BENCH_FLOOD_SECS:-30}
read -r -a RATES_10K <<<"${TRMM_BENCH_RATES_10K:-5000 10000 20000 40000}"
read -r -a RATES_50K <<<"${TRMM_BENCH_RATES_50K:-10000 20000 40000 80000}"
REAL_AGENTS=${TRMM_BENCH_REAL_AGENTS:-10000}
IDLE_SECS=${TRMM_BENCH_IDLE_SECS:-60}
CHECK_SECS=${TRMM_BENCH_CHECK_SECS:-60}
for n in "$FLOOD_SECS" "$REAL_AGENTS" "$IDLE_SECS" "${RATES_10K[@]}" "${RATES_50K[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "the TRMM_BENCH_* numbers must be positive integers (got '$n')"
done
((FLOOD_SECS <= 600 && REAL_AGENTS <= 50000 && IDLE_SECS <= 600)) ||
  die "bounded runs only: TRMM_BENCH_FLOOD_SECS and TRMM_BENCH_IDLE_SECS <= 600, TRMM_BENCH_REAL_AGENTS <= 50000"
SEED_A=10000 # the "10,000 agents" of every step: site Bench A
SEED_B=40000 # the rest of the 50,000: site Bench B

ensure_command python3 python3
ensure_command psql postgresql-client
pg_is_local ||
  die "the benchmark samples Postgres' processes from /proc: it needs Postgres on this machine (TRMM_PG_HOST is $PG_HOST)"

isolated_run bench
export TRMM_BUILD_PROFILE=release
export TRMM_REDIS_DB=${TRMM_BENCH_REDIS_DB:-12}
export TRMM_LISTEN_HOST=127.0.0.1
export TRMM_LOG=${TRMM_LOG:-info}

# 10,000 simulated agents need as many sockets in the load generator and in nats-server (which
# quickstart starts from this shell, so it inherits the limit).
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

BG_PIDS=() # background jobs of this script (load generators, samplers), ended at exit
SUCCESS=0
cleanup() {
  trap '' PIPE
  set +e
  local pid
  for pid in "${BG_PIDS[@]}"; do
    pid_alive "$pid" && kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${BG_PIDS[@]}"; do
    wait "$pid" 2>/dev/null
  done
  isolated_run_teardown
  if [ "$SUCCESS" = 1 ]; then
    rm -rf "$WORK"
  else
    warn "benchmark failed: kept $WORK for inspection (logs in $TRMM_RUN_DIR)"
  fi
}
trap cleanup EXIT

# --- helpers -----------------------------------------------------------------------------------

SAMPLER=$TRMM_ROOT/scripts/bench-sampler.py

# sampler_start NAME: starts the sampler over the suite's processes (plus SAMPLE_EXTRA NAME=SPEC
# entries); its summary goes to $WORK/NAME.cpu.json.
SAMPLE_EXTRA=()
sampler_start() {
  python3 "$SAMPLER" "$WORK/$1.cpu.json" 1 "nats-api=pid:$NATS_API_PID" \
    "postgres=pgdb:$POSTMASTER_PID:$TRMM_DB_NAME" \
    "nats-server=pid:$NATS_SERVER_PID" "machine=system:" "${SAMPLE_EXTRA[@]}" &
  SAMPLER_PID=$!
  BG_PIDS+=("$SAMPLER_PID")
  wait_for 30 "the sampler to start" test -e "$WORK/$1.cpu.json.ready" || die "the sampler did not start"
}
sampler_stop() {
  kill -TERM "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" || warn "the sampler exited with an error"
}

# usage STEP GROUP: "avg / max CPU %, avg / max MiB" of GROUP in STEP's sampler summary.
usage() {
  python3 -c '
import json, sys
g = json.load(open(sys.argv[1])).get(sys.argv[2])
print("not measured" if g is None else "%.0f / %.0f %%, %.0f / %.0f MiB %s" % (
    g["cpu_avg"], g["cpu_max"], g["mem_avg"], g["mem_max"], g["mem_kind"]))' "$WORK/$1.cpu.json" "$2" 2>/dev/null ||
    echo "not measured"
}

# others STEP: the busiest processes outside the measured groups during STEP (avg CPU %).
others() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("others", "not measured"))' \
    "$WORK/$1.cpu.json" 2>/dev/null || echo "not measured"
}

# sql QUERY: runs QUERY in the bench database as its owner; prints unaligned rows. The Postgres
# server is shared (other suites and test runs): a connection refused for a moment, e.g. "too
# many clients already", is retried for up to 60 s.
sql() {
  local out deadline=$(($(now_ms) + 60000))
  until out=$(PGPASSWORD=$DB_PASSWORD psql -X -w -q -At -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" \
    -U "$TRMM_DB_USER" -d "$TRMM_DB_NAME" -c "$1" 2>"$WORK/sql.err"); do
    if ! grep -q 'connection to server' "$WORK/sql.err" || (($(now_ms) >= deadline)); then
      cat "$WORK/sql.err" >&2
      return 1
    fi
    sleep 1
  done
  printf '%s\n' "$out"
}

# nats_api_metrics: "RECEIVED WRITTEN DROPPED BATCHES COALESCED PENDING AUTH_ALLOWED AUTH_DENIED
# BATCH_FAILURES" from trmm-nats-api's /metrics (hellos; drops of every reason; auth callout
# decisions; heartbeat batches that failed and were retried).
nats_api_metrics() {
  curl -fsS -m 5 "$NATS_API_URL/metrics" | awk '
    $1 == "trmm_telemetry_received_total{kind=\"hello\"}" { r = $2 }
    $1 == "trmm_telemetry_written_total{kind=\"hello\"}" { w = $2 }
    $1 ~ /^trmm_telemetry_dropped_total[{]/ { d += $2 }
    $1 == "trmm_heartbeat_batches_total" { b = $2 }
    $1 == "trmm_heartbeats_coalesced_total" { c = $2 }
    $1 == "trmm_heartbeats_pending" { p = $2 }
    $1 == "trmm_nats_auth_allowed_total" { aa = $2 }
    $1 == "trmm_nats_auth_denied_total" { ad = $2 }
    $1 == "trmm_heartbeat_batch_failures_total" { bf = $2 }
    END { printf "%d %d %d %d %d %d %d %d %d\n", r, w, d, b, c, p, aa, ad, bf }'
}

# varz KEY: a top-level number from nats-server's /varz (pretty-printed JSON, one key a line).
varz() {
  curl -fsS -m 5 "$NATS_MONITOR_URL/varz" | sed -n "s/^  \"$1\": \([0-9]*\).*/\1/p"
}

# ingest_drained RECEIVED_TARGET: trmm-nats-api received that many hellos and wrote them all out.
ingest_drained() {
  local r p
  read -r r _ _ _ _ p _ <<<"$(nats_api_metrics)" || return 1
  ((r >= $1 && p == 0))
}

# The load generator, logging warnings and errors only (10,000 agents log a lot at info). Started
# in the background it is run without this function, so that $! is its own pid.
LOADGEN_LOG=${TRMM_BENCH_LOADGEN_LOG:-warn}
loadgen() { TRMM_LOG=$LOADGEN_LOG "$BIN_DIR/trmm-loadgen" "$@"; }

# --- 0. the suite ------------------------------------------------------------------------------
info "isolated run: dir $TRMM_RUN_DIR, database $TRMM_DB_NAME, API port $TRMM_API_PORT, NATS port $TRMM_NATS_PORT"
BENCH_STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
SECONDS=0
info "starting the suite with scripts/quickstart.sh (release build; output in $WORK/quickstart.out)"
"$TRMM_ROOT/scripts/quickstart.sh" </dev/null >"$WORK/quickstart.out" 2>&1 || {
  tail -n 40 "$WORK/quickstart.out" >&2
  die "quickstart.sh failed"
}
ENV_FILE=$TRMM_RUN_DIR/quickstart.env
for key in API_URL NATS_URL NATS_API_URL NATS_MONITOR_URL ADMIN_USER ADMIN_PASSWORD ADMIN_TOTP_SECRET \
  DB_PASSWORD BIN_DIR AGENT_ID; do
  printf -v "$key" '%s' "$(env_file_get "$ENV_FILE" "$key")"
  [ -n "${!key}" ] || die "$ENV_FILE has no $key"
done
[ -x "$BIN_DIR/trmm-loadgen" ] || die "$BIN_DIR/trmm-loadgen is missing"
NATS_USER=$(env_file_get "$TRMM_RUN_DIR/nats/services.env" TRMM_NATS_USER)
NATS_PASSWORD=$(env_file_get "$TRMM_RUN_DIR/nats/services.env" TRMM_NATS_PASSWORD)
if [ -z "$NATS_USER" ] || [ -z "$NATS_PASSWORD" ]; then
  die "no service credentials in $TRMM_RUN_DIR/nats/services.env"
fi
NATS_API_PID=$(pidfile_pid "$TRMM_RUN_DIR/trmm-nats-api.pid" trmm-nats-api) || die "trmm-nats-api is not running"
NATS_SERVER_PID=$(pidfile_pid "$TRMM_RUN_DIR/nats-server.pid" nats-server) || die "nats-server is not running"
AGENT_PROC=$(pidfile_pid "$TRMM_RUN_DIR/trmm-agent.pid" trmm-agent) || die "the quickstart trmm-agent is not running"
PG_DATA=$(pg_admin_psql -c 'SHOW data_directory') || die "cannot ask Postgres for its data directory"
if is_root; then
  POSTMASTER_PID=$(head -n 1 "$PG_DATA/postmaster.pid")
else
  POSTMASTER_PID=$(run_as_postgres head -n 1 "$PG_DATA/postmaster.pid")
fi
if ! [[ $POSTMASTER_PID =~ ^[0-9]+$ ]] || ! pid_alive "$POSTMASTER_PID"; then
  die "cannot find the postmaster's pid in $PG_DATA/postmaster.pid"
fi
PG_VERSION=$(pg_admin_psql -c 'SHOW server_version')
PG_MAX_CONNECTIONS=$(pg_admin_psql -c 'SHOW max_connections')
NATS_VERSION=$(curl -fsS -m 5 "$NATS_MONITOR_URL/varz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')

TOKEN=$(api_login "$API_URL" "$ADMIN_USER" "$ADMIN_PASSWORD" "$ADMIN_TOTP_SECRET") || die "could not log in as $ADMIN_USER"
export TRMM_LOADGEN_TOKEN=$TOKEN

# --- seed --------------------------------------------------------------------------------------
info "creating client trmm-bench with sites Bench A and Bench B"
api_request POST "$API_URL/clients/" "$TOKEN" '{"client": {"name": "trmm-bench"}, "site": {"name": "Bench A"}}' >/dev/null ||
  die "POST /clients/ failed"
CLIENT_ID=$(sql "SELECT id FROM clients WHERE name = 'trmm-bench'")
api_request POST "$API_URL/clients/sites/" "$TOKEN" "{\"site\": {\"client\": $CLIENT_ID, \"name\": \"Bench B\"}}" >/dev/null ||
  die "POST /clients/sites/ failed"
SITE_A=$(sql "SELECT id FROM sites WHERE client_id = $CLIENT_ID AND name = 'Bench A'")
SITE_B=$(sql "SELECT id FROM sites WHERE client_id = $CLIENT_ID AND name = 'Bench B'")
CREDS=$TRMM_RUN_DIR/bench-agents.jsonl # the first SEED_A lines are site A's agents
(umask 077 && : >"$CREDS")

seed() { # seed SITE COUNT PREFIX
  local t0 file=$WORK/seed-$3.jsonl
  t0=$(now_ms)
  TRMM_DATABASE_URL="postgres://$TRMM_DB_USER:$DB_PASSWORD@$PG_HOST:$PG_PORT/$TRMM_DB_NAME" \
    loadgen seed --site "$1" --count "$2" --prefix "$3" --out "$file" >"$WORK/seed-$3.out" 2>&1 ||
    { cat "$WORK/seed-$3.out" >&2; die "trmm-loadgen seed failed"; }
  cat "$file" >>"$CREDS"
  rm -f "$file"
  info "seeded $2 agents into site $1 in $((($(now_ms) - t0) / 1000))s"
}

# --- 1. heartbeat ingestion ------------------------------------------------------------------
FLOOD_ROWS=()
declare -A BEST_RATE=() BEST_TARGET=()

# flood_step AGENTS RATE SITE_LIST: floods AGENTS agents at RATE hellos/s for FLOOD_SECS, waits
# for ingestion to drain, and appends a table row.
flood_step() {
  local agents=$1 rate=$2 sites=$3 step="flood-$1-$2"
  local r0 w0 d0 b0 c0 f0 r1 w1 d1 b1 c1 f1 slow0 slow1 start end lg out sent achieved t_end drain fresh total late ok
  read -r r0 w0 d0 b0 c0 _ _ _ f0 <<<"$(nats_api_metrics)"
  slow0=$(varz slow_consumers)
  start=$(sql "SELECT now()")
  info "flood: $agents agents at $rate hellos/s for ${FLOOD_SECS}s"
  TRMM_LOG=$LOADGEN_LOG TRMM_NATS_USER=$NATS_USER TRMM_NATS_PASSWORD=$NATS_PASSWORD "$BIN_DIR/trmm-loadgen" flood \
    --nats-url "$NATS_URL" --creds "$CREDS" --limit "$agents" --rate "$rate" --duration "$FLOOD_SECS" \
    --connections 4 >"$WORK/$step.out" 2>&1 &
  lg=$!
  BG_PIDS+=("$lg")
  SAMPLE_EXTRA=("loadgen=pid:$lg")
  sampler_start "$step"
  wait_for $((FLOOD_SECS + 60)) "trmm-loadgen flood to finish" pid_gone "$lg" || kill -TERM "$lg" 2>/dev/null || true
  wait "$lg" || { cat "$WORK/$step.out" >&2; die "trmm-loadgen flood failed"; }
  t_end=$(now_ms)
  out=$(cat "$WORK/$step.out")
  [[ $out =~ flood:\ ([0-9]+)\ heartbeats.*\(([0-9]+)/s\) ]] || die "unexpected flood output: $out"
  sent=${BASH_REMATCH[1]}
  achieved=${BASH_REMATCH[2]}
  wait_for 60 "trmm-nats-api to ingest the flood" ingest_drained $((r0 + sent)) || true
  drain=$(((($(now_ms) - t_end) + 500) / 1000))
  sampler_stop
  SAMPLE_EXTRA=()
  end=$(sql "SELECT now()")
  read -r r1 w1 d1 b1 c1 _ _ _ f1 <<<"$(nats_api_metrics)"
  slow1=$(varz slow_consumers)
  IFS='|' read -r fresh total late < <(sql "
    SELECT count(*) FILTER (WHERE last_seen >= '$start' AND last_seen <= '$end'), count(*),
           count(*) FILTER (WHERE last_seen > '$end')
    FROM agents WHERE site_id IN ($sites)")
  ok=no
  # The quickstart agent's own hellos (one per 30-60 s) arrive too: received may exceed sent.
  # A short flood may not reach every agent (round-robin): then only the first SENT are due.
  if ((r1 - r0 >= sent && d1 == d0 && fresh == (sent < total ? sent : total) && late == 0 && drain <= 5)); then
    ok=yes
    if ((achieved > ${BEST_RATE[$agents]:-0})); then
      BEST_RATE[$agents]=$achieved
      BEST_TARGET[$agents]=$rate
    fi
  fi
  info "  sent $sent ($achieved/s), received $((r1 - r0)), rows written $((w1 - w0)) in $((b1 - b0)) batches ($((c1 - c0)) coalesced, $((f1 - f0)) batch failures), dropped $((d1 - d0)), last_seen fresh $fresh/$total, drained ${drain}s after the flood: ok=$ok"
  FLOOD_ROWS+=("| $agents | $rate | $achieved | $((r1 - r0)) / $sent | $((d1 - d0)) | $((slow1 - slow0)) | $((w1 - w0)) in $((b1 - b0)) ($((f1 - f0)) failed) | $fresh / $total | ${drain} s | $ok | $(usage "$step" nats-api) | $(usage "$step" postgres) | $(usage "$step" nats-server) | $(usage "$step" loadgen) | $(usage "$step" machine) | $(others "$step") |")
}

seed "$SITE_A" "$SEED_A" bencha
for rate in "${RATES_10K[@]}"; do
  flood_step "$SEED_A" "$rate" "$SITE_A"
done

# --- 2. GET /agents/ with 10,000 agents online ---------------------------------------------------
HTTP_ROWS=()

# keep_online AGENTS: a background flood at the rate AGENTS real agents heartbeat (one hello per
# 30-60 s, 45 s on average), so that they stay online while the API is measured.
keep_online() {
  local rate=$((($1 + 44) / 45))
  TRMM_LOG=$LOADGEN_LOG TRMM_NATS_USER=$NATS_USER TRMM_NATS_PASSWORD=$NATS_PASSWORD "$BIN_DIR/trmm-loadgen" flood \
    --nats-url "$NATS_URL" --creds "$CREDS" --limit "$1" --rate "$rate" --duration 900 --connections 1 \
    >"$WORK/keep-online-$1.out" 2>&1 &
  KEEP_ONLINE_PID=$!
  BG_PIDS+=("$KEEP_ONLINE_PID")
  info "keeping $1 agents online: background heartbeats at $rate/s"
}
stop_keep_online() {
  kill -TERM "$KEEP_ONLINE_PID" 2>/dev/null || true
  wait "$KEEP_ONLINE_PID" 2>/dev/null || true
}

# online_agents: agents the API would show online now (its own rule: last_seen within offline_time).
online_agents() {
  sql "SELECT count(*) FILTER (WHERE last_seen >= now() - make_interval(mins => offline_time)) || '/' || count(*)
       FROM agents"
}

# latency FILE: sets N, P50, P99 and PMAX from the summary line trmm-loadgen http wrote to FILE.
latency() {
  local line
  line=$(grep -E '^GET .*: n=' "$1" | tail -n 1)
  [[ $line =~ n=([0-9]+)\ p50=([0-9.]+)ms\ p99=([0-9.]+)ms\ max=([0-9.]+)ms ]] ||
    die "unexpected trmm-loadgen http output in $1: $(tail -n 3 "$1")"
  N=${BASH_REMATCH[1]} P50=${BASH_REMATCH[2]} P99=${BASH_REMATCH[3]} PMAX=${BASH_REMATCH[4]}
}

# http_step LABEL PATH REQUESTS CONCURRENCY: latency of GET PATH; appends a table row.
http_step() {
  local label=$1 path=$2 requests=$3 concurrency=$4 step bytes
  step="http-$(tr -c 'A-Za-z0-9' '_' <<<"$label-$requests-$concurrency")"
  bytes=$(curl -fsS -m 120 -o /dev/null -w '%{size_download}' -H @<(printf 'Authorization: Token %s\n' "$TOKEN") \
    "$API_URL$path") || die "GET $path failed"
  SAMPLE_EXTRA=("api=pid:$(pidfile_pid "$TRMM_RUN_DIR/trmm-api.pid" trmm-api)")
  sampler_start "$step"
  loadgen http --api "$API_URL" --path "$path" --requests "$requests" --concurrency "$concurrency" \
    >"$WORK/$step.out" 2>&1 || { cat "$WORK/$step.out" >&2; die "trmm-loadgen http $path failed"; }
  sampler_stop
  SAMPLE_EXTRA=()
  latency "$WORK/$step.out"
  info "  $label, $requests x $concurrency: p50 $P50 ms, p99 $P99 ms, max $PMAX ms"
  HTTP_ROWS+=("| $label | \`GET $path\` | $((bytes / 1024)) KiB | $N × $concurrency | $P50 ms | $P99 ms | $PMAX ms | $(usage "$step" api) | $(usage "$step" postgres) | $(usage "$step" machine) | $(others "$step") |")
}

keep_online "$SEED_A"
ONLINE_10K=$(online_agents)
info "GET /agents/ with $ONLINE_10K agents online"
http_step "full list, $ONLINE_10K online" "/agents/" 50 1
SUM_FULL_10K="p50 $P50 ms, p99 $P99 ms (full list, $N requests one at a time)"
http_step "full list, $ONLINE_10K online" "/agents/" 100 4
http_step "page of 50, $ONLINE_10K online" "/agents/?page=1&page_size=50" 500 1
SUM_PAGE_10K="p50 $P50 ms, p99 $P99 ms (one page of 50)"
http_step "page of 50, $ONLINE_10K online" "/agents/?page=1&page_size=50" 1000 4
ONLINE_10K_AFTER=$(online_agents)

# --- 3a. ping round trip -----------------------------------------------------------------------
PING_ROWS=()
ping_step() { # ping_step LABEL AGENT_ID REQUESTS CONCURRENCY
  local step
  step="ping-$(tr -c 'A-Za-z0-9' '_' <<<"$1-$3-$4")"
  loadgen http --api "$API_URL" --path "/agents/$2/ping/" --requests "$3" --concurrency "$4" \
    >"$WORK/$step.out" 2>&1 || { cat "$WORK/$step.out" >&2; die "trmm-loadgen http ping failed"; }
  latency "$WORK/$step.out"
  info "  ping $1, $3 x $4: p50 $P50 ms, p99 $P99 ms, max $PMAX ms"
  PING_ROWS+=("| $1 | $N × $4 | $P50 ms | $P99 ms | $PMAX ms |")
}

# nats_clients_at_least N: nats-server counts N client connections.
nats_clients_at_least() { (($(varz connections) >= $1)); }

PING_AGENTS=100
base_conns=$(varz connections)
info "ping: $PING_AGENTS simulated agents with their own NATS connections"
TRMM_LOG=$LOADGEN_LOG "$BIN_DIR/trmm-loadgen" agents --nats-url "$NATS_URL" --creds "$CREDS" --limit "$PING_AGENTS" \
  --duration 120 --hello-interval 30 >"$WORK/agents-ping.out" 2>&1 &
PING_LOADGEN=$!
BG_PIDS+=("$PING_LOADGEN")
wait_for 60 "$PING_AGENTS simulated agents to connect" nats_clients_at_least $((base_conns + PING_AGENTS)) ||
  die "the simulated agents did not connect: $(cat "$WORK/agents-ping.out")"
SIM_AGENT=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["agent_id"])' "$CREDS")
ping_step "simulated agent (trmm-loadgen)" "$SIM_AGENT" 1000 1
SUM_PING_SIM="p50 $P50 ms, p99 $P99 ms"
ping_step "simulated agent (trmm-loadgen)" "$SIM_AGENT" 2000 8
ping_step "real trmm-agent (quickstart)" "$AGENT_ID" 500 1
SUM_PING_REAL="p50 $P50 ms, p99 $P99 ms"
kill -TERM "$PING_LOADGEN" 2>/dev/null || true
wait "$PING_LOADGEN" 2>/dev/null || true
stop_keep_online

# --- 1b. 50,000 agents ---------------------------------------------------------------------------
seed "$SITE_B" "$SEED_B" benchb
for rate in "${RATES_50K[@]}"; do
  flood_step $((SEED_A + SEED_B)) "$rate" "$SITE_A,$SITE_B"
done
keep_online $((SEED_A + SEED_B))
ONLINE_50K=$(online_agents)
info "GET /agents/ with $ONLINE_50K agents online"
http_step "full list, $ONLINE_50K online" "/agents/" 20 1
http_step "page of 50, $ONLINE_50K online" "/agents/?page=1&page_size=50" 200 1
stop_keep_online

# --- 3b. real agent connections ---------------------------------------------------------------
info "real agents: $REAL_AGENTS simulated agents with their own authenticated NATS connections"
REAL_SECS=180
base_conns=$(varz connections)
read -r _ _ _ _ _ _ auth0 denied0 _ <<<"$(nats_api_metrics)"
ramp_start=$(now_ms)
TRMM_LOG=$LOADGEN_LOG "$BIN_DIR/trmm-loadgen" agents --nats-url "$NATS_URL" --creds "$CREDS" --limit "$REAL_AGENTS" \
  --duration "$REAL_SECS" --hello-interval 30 --connect-concurrency 100 >"$WORK/agents-real.out" 2>&1 &
REAL_LOADGEN=$!
BG_PIDS+=("$REAL_LOADGEN")
SAMPLE_EXTRA=("loadgen=pid:$REAL_LOADGEN")
sampler_start real-ramp
# Connected, or given up: the load generator exits early only when it failed.
real_settled() { nats_clients_at_least $((base_conns + REAL_AGENTS)) || pid_gone "$REAL_LOADGEN"; }
wait_for $((REAL_SECS - 40)) "$REAL_AGENTS agent connections" real_settled || true
ramp_secs=$(((($(now_ms) - ramp_start) + 500) / 1000))
sampler_stop
REAL_CONNECTED=$(($(varz connections) - base_conns))
info "  $REAL_CONNECTED connections after ${ramp_secs}s; sampling 30 s of steady state"
sampler_start real-steady
sleep 30 # the measurement window
sampler_stop
SAMPLE_EXTRA=()
REAL_CONNECTED_END=$(($(varz connections) - base_conns))
NATS_SERVER_MEM=$(($(varz mem) / 1048576))

# --- 3c. bulk command over the connected agents --------------------------------------------------
info "bulk command to site Bench A ($REAL_CONNECTED_END of its agents connected)"
WORKER_PID=$(pidfile_pid "$TRMM_RUN_DIR/trmm-worker.pid" trmm-worker) || die "trmm-worker is not running"
SAMPLE_EXTRA=("worker=pid:$WORKER_PID" "loadgen=pid:$REAL_LOADGEN")
sampler_start bulk
bulk_start=$(now_ms)
BULK_REPLY=$(api_request POST "$API_URL/agents/actions/bulk/" "$TOKEN" \
  "{\"mode\": \"command\", \"target\": \"site\", \"client\": $CLIENT_ID, \"site\": $SITE_A, \"monType\": \"all\",
    \"osType\": \"all\", \"cmd\": \"uptime\", \"shell\": \"/bin/bash\", \"timeout\": 30}") ||
  die "POST /agents/actions/bulk/ failed"
bulk_accepted_ms=$(($(now_ms) - bulk_start))
bulk_done() { [ -n "$(sql 'SELECT 1 FROM bulk_runs WHERE summary IS NOT NULL')" ]; }
wait_for 120 "the bulk run to finish" bulk_done || die "the bulk run did not finish within 120 s"
BULK_SECS=$(awk -v ms=$(($(now_ms) - bulk_start)) 'BEGIN { printf "%.1f", ms / 1000 }')
sampler_stop
SAMPLE_EXTRA=()
BULK_SUMMARY=$(sql 'SELECT summary FROM bulk_runs WHERE summary IS NOT NULL')
info "  $BULK_REPLY: accounted for in ${BULK_SECS}s: $BULK_SUMMARY"
wait_for $((REAL_SECS + 60)) "the real-agents load generator to finish" pid_gone "$REAL_LOADGEN" ||
  kill -TERM "$REAL_LOADGEN" 2>/dev/null || true
wait "$REAL_LOADGEN" 2>/dev/null || true
REAL_SUMMARY=$(grep -E '^agents:|trmm-loadgen:' "$WORK/agents-real.out" | tail -n 2 | tr '\n' ' ')
REAL_ERRORS=$(grep -cE ' (WARN|ERROR) ' "$WORK/agents-real.out" || true)
read -r _ _ _ _ _ _ auth1 denied1 _ <<<"$(nats_api_metrics)"
auth_allowed=$((auth1 - auth0))
auth_denied=$((denied1 - denied0))
info "  $REAL_SUMMARY(auth callout: $auth_allowed allowed, $auth_denied denied)"

# --- 4. idle trmm-agent ------------------------------------------------------------------------
info "idle footprint of the quickstart trmm-agent (pid $AGENT_PROC) over ${IDLE_SECS}s"
pid_alive "$AGENT_PROC" || die "the quickstart trmm-agent is gone"
# cpu_ticks PID: utime + stime of PID, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
agent_cpu0=$(cpu_ticks "$AGENT_PROC")
SAMPLE_EXTRA=("agent=pid:$AGENT_PROC")
sampler_start idle
sleep "$IDLE_SECS" # the measurement window
sampler_stop
SAMPLE_EXTRA=()
agent_cpu1=$(cpu_ticks "$AGENT_PROC")
TICK_MS=$((1000 / $(getconf CLK_TCK)))
AGENT_CPU_MS=$(((agent_cpu1 - agent_cpu0) * TICK_MS))
# /proc counts CPU time in whole ticks: zero ticks means less than one.
AGENT_CPU="$AGENT_CPU_MS ms"
((AGENT_CPU_MS > 0)) || AGENT_CPU="less than $TICK_MS ms (below /proc's resolution of one tick)"
AGENT_HWM=$(awk '/VmHWM/ {print int($2 / 1024 + 0.5)}' "/proc/$AGENT_PROC/status")
AGENT_THREADS=$(awk '/Threads/ {print $2}' "/proc/$AGENT_PROC/status")
AGENT_UPTIME=$(awk -v tck="$(getconf CLK_TCK)" 'NR == 1 { up = $1 } NR == 2 { print int(up - $22 / tck) }' \
  /proc/uptime "/proc/$AGENT_PROC/stat")
info "  agent: $(usage idle agent), $AGENT_CPU CPU in ${IDLE_SECS}s, peak RSS ${AGENT_HWM} MiB, $AGENT_THREADS threads"

# --- 5. check results ---------------------------------------------------------------------------
# Site A's agents get eight checks each (two disks, cpu, memory, ping, service, event log, script);
# their results go to PATCH /api/v3/checkrunner/ with each agent's own token, at the real cadence
# (every check every 120 s: agents x 8 / 120 results/s) and at ten times that.
CHECK_AGENTS=$SEED_A
CHECK_DB_URL="postgres://$TRMM_DB_USER:$DB_PASSWORD@$PG_HOST:$PG_PORT/$TRMM_DB_NAME"
info "giving $CHECK_AGENTS agents eight checks each"
CHECK_TARGETS=$WORK/check-targets.jsonl
TRMM_DATABASE_URL=$CHECK_DB_URL loadgen checks --api "$API_URL" --creds "$CREDS" --limit "$CHECK_AGENTS" --setup \
  --targets "$CHECK_TARGETS" \
  >"$WORK/checks-setup.out" 2>&1 || { cat "$WORK/checks-setup.out" >&2; die "trmm-loadgen checks --setup failed"; }
CHECK_SETUP=$(grep -E '^checks ready' "$WORK/checks-setup.out" | tail -n 1)
info "  $CHECK_SETUP"
CHECK_ROWS=()
# check_step LABEL RATE: results at RATE/s for CHECK_SECS; appends a table row.
check_step() {
  local label=$1 rate=$2 step line re
  step="checks-$rate"
  SAMPLE_EXTRA=("api=pid:$(pidfile_pid "$TRMM_RUN_DIR/trmm-api.pid" trmm-api)")
  sampler_start "$step"
  loadgen checks --api "$API_URL" --creds "$CREDS" --limit "$CHECK_AGENTS" --targets "$CHECK_TARGETS" \
    --rate "$rate" --duration "$CHECK_SECS" --concurrency 64 >"$WORK/$step.out" 2>&1 ||
    { cat "$WORK/$step.out" >&2; die "trmm-loadgen checks --rate $rate failed"; }
  sampler_stop
  SAMPLE_EXTRA=()
  line=$(grep -E '^PATCH /api/v3/checkrunner/: ' "$WORK/$step.out" | tail -n 1)
  re='sent=([0-9]+) ok=([0-9]+) failed=([0-9]+) behind=([0-9]+) rate=([0-9]+)/s n=[0-9]+ p50=([0-9.]+)ms p99=([0-9.]+)ms max=([0-9.]+)ms'
  [[ $line =~ $re ]] || die "unexpected trmm-loadgen checks output: $line"
  info "  $label: ${BASH_REMATCH[5]} results/s written, p99 ${BASH_REMATCH[7]} ms"
  CHECK_ROWS+=("| $label | $rate | ${BASH_REMATCH[5]} | ${BASH_REMATCH[2]} / ${BASH_REMATCH[1]} | ${BASH_REMATCH[3]} | ${BASH_REMATCH[4]} | ${BASH_REMATCH[6]} ms | ${BASH_REMATCH[7]} ms | ${BASH_REMATCH[8]} ms | $(usage "$step" api) | $(usage "$step" postgres) | $(usage "$step" machine) |")
}
REAL_RATE=$(((CHECK_AGENTS * 8 + 119) / 120))
check_step "real cadence" "$REAL_RATE"
check_step "10x the real cadence" $((REAL_RATE * 10))
CHECK_HISTORY=$(sql "SELECT count(*) FROM check_history")
TABLE_AGENTS=$(sql "SELECT count(*) FROM agents")
info "GET /agents/ with $TABLE_AGENTS agents in the table, $CHECK_AGENTS of them with 8 checks each"
http_step "full list, $TABLE_AGENTS agents, $CHECK_AGENTS with checks" "/agents/" 50 1
SUM_CHECKS_FULL="p50 $P50 ms, p99 $P99 ms"
http_step "page of 50, $TABLE_AGENTS agents, $CHECK_AGENTS with checks" "/agents/?page=1&page_size=50" 500 1
SUM_CHECKS_PAGE="p50 $P50 ms, p99 $P99 ms"

# --- report -----------------------------------------------------------------------------------
# best AGENTS TRIED_RATES...: the highest rate that passed, and whether it was the last one tried.
best() {
  local agents=$1
  shift
  if [ -z "${BEST_RATE[$agents]:-}" ]; then
    echo "none of the rates tried ($*/s) passed"
  elif [ "${BEST_TARGET[$agents]}" = "${*: -1}" ]; then
    echo "at least ${BEST_RATE[$agents]} hellos/s (the highest rate tried, so not the limit)"
  else
    echo "${BEST_RATE[$agents]} hellos/s"
  fi
}
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM_TOTAL=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
COMMIT=$(git -C "$TRMM_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=""
if git -C "$TRMM_ROOT" status --porcelain 2>/dev/null | grep -qv '^??'; then DIRTY=" (with uncommitted changes)"; fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$(dirname "$OUT")"
{
  cat <<EOF
# Benchmarks

Written by \`scripts/bench.sh\` on $BENCH_STARTED; every figure below was measured in that run.
Re-run it to refresh this file (see [How to reproduce](#how-to-reproduce)).

## Machine

| | |
|---|---|
| CPU | $CPU_MODEL, $(nproc) cores available |
| memory | $MEM_TOTAL |
| OS | $(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r) |
| commit | $COMMIT$DIRTY |
| build | \`cargo build --release --bins\`, binaries of $(date -u -r "$BIN_DIR/trmm-nats-api" '+%Y-%m-%d %H:%M UTC') |
| Postgres | $PG_VERSION, the machine's shared server (default settings, max_connections $PG_MAX_CONNECTIONS) |
| nats-server | $NATS_VERSION, \`config/nats/nats-server.conf\` (auth callout on) |
| open files limit | $(ulimit -n) |

Everything ran on this one machine over 127.0.0.1: the suite, Postgres, nats-server and the load
generator share the same $(nproc) cores, so the load generator's own CPU is part of every figure.
CPU is in % of one core (200 % = both cores of a 2-core machine), as avg / max of 1 s samples
from \`/proc\`; memory is RSS for one process and PSS (shared pages counted once) for Postgres,
avg / max. "Postgres" is the cluster without the client backends of other databases; the
Postgres server is shared, so anything else using it at the time is in the figures too. The
*whole machine* columns show everything that ran, this benchmark included, and *other busy
processes* the busiest of the rest (the load generator's HTTP client and the benchmark's own
tools among them, and anything else running on the machine); the load average was
$LOAD_START before the run and $LOAD_END at its end.

## Summary

| what | result |
|---|---|
| sustained heartbeat ingestion, 10,000 agents | $(best "$SEED_A" "${RATES_10K[@]}"), every hello received, none dropped, every agent's last_seen fresh |
| sustained heartbeat ingestion, 50,000 agents | $(best $((SEED_A + SEED_B)) "${RATES_50K[@]}"), likewise |
| GET /agents/, 10,001 agents online | $SUM_FULL_10K; $SUM_PAGE_10K |
| ping round trip, api → gRPC → NATS → agent | simulated agent: $SUM_PING_SIM; real trmm-agent: $SUM_PING_REAL (one request at a time) |
| real agent connections | $REAL_CONNECTED of $REAL_AGENTS connected |
| bulk command to the site of those agents | every agent accounted for in $BULK_SECS s: \`$BULK_SUMMARY\` |
| idle trmm-agent | $(usage idle agent) over ${IDLE_SECS} s; $AGENT_CPU of CPU time in all |
| check results, $CHECK_AGENTS agents × 8 checks | see section 5; GET /agents/ with $TABLE_AGENTS agents in the table, $CHECK_AGENTS of them with check summaries: full list $SUM_CHECKS_FULL, page of 50 $SUM_CHECKS_PAGE |

For scale: 50,000 real agents sending one hello every 30–60 s (the default of
\`TRMM_CHECKIN_HELLO\`) produce about 1,100 hellos/s; 10,000 about 220/s.

## 1. Heartbeat ingestion

\`trmm-loadgen flood\` publishes \`agent-hello\` messages on the agents' subjects over 4 NATS
connections with the services' credentials (\`TRMM_NATS_USER\`), round-robin over the agents, for
$FLOOD_SECS s per row. *received* is \`trmm_telemetry_received_total{kind="hello"}\` of
trmm-nats-api against what the load generator sent (the quickstart agent's own heartbeats, one
every 30–60 s, are counted too); *dropped* is
\`trmm_telemetry_dropped_total\`; *slow consumers* is nats-server's count of clients it cut off
for falling behind; *rows written* is \`trmm_telemetry_written_total{kind="hello"}\` (after
coalescing: one row per agent per flush) and \`trmm_heartbeat_batches_total\` (*failed*:
\`trmm_heartbeat_batch_failures_total\`, batches retried after a Postgres error). *fresh* counts
the flooded agents whose \`last_seen\` in Postgres lies between the start of the flood and the
end of the drain. *drain* is how long after the last publish everything was received and
written. A row is *ok* when every hello was received, none dropped, every agent fresh and the
drain took at most 5 s.

| agents | target /s | sent /s | received / sent | dropped | slow consumers | rows written in batches | fresh / agents | drain | ok | trmm-nats-api CPU, mem | Postgres CPU, mem | nats-server CPU, mem | load generator CPU, mem | whole machine CPU, mem | other busy processes |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
EOF
  printf '%s\n' "${FLOOD_ROWS[@]}"
  cat <<EOF

## 2. GET /agents/

Measured with \`trmm-loadgen http\` (requests × concurrency in flight), while a background
\`trmm-loadgen flood\` kept the agents heartbeating at the real agents' average rate (one hello per
45 s each). Agents online (the API's rule: \`last_seen\` within the agent's \`offline_time\`)
before → after: $ONLINE_10K → $ONLINE_10K_AFTER with 10,001 agents in the table, $ONLINE_50K
with 50,001. The full list is Tactical RMM's unpaged array with every column; \`page\`/
\`page_size\` is this implementation's paged extension.

| case | request | response size | requests | p50 | p99 | max | trmm-api CPU, mem | Postgres CPU, mem | whole machine CPU, mem | other busy processes |
|---|---|---|---|---|---|---|---|---|---|---|
EOF
  printf '%s\n' "${HTTP_ROWS[@]}"
  cat <<EOF

## 3. Ping round trip and real agent connections

\`GET /agents/<id>/ping/\`: trmm-api → gRPC AgentGateway → trmm-nats-api → NATS request → the
agent's answer → back. The simulated agent is one of $PING_AGENTS \`trmm-loadgen agents\`, each with
its own NATS connection authenticated by the auth callout with its agent token; the real one is
the \`trmm-agent svc\` quickstart enrolled.

| agent | requests | p50 | p99 | max |
|---|---|---|---|---|
EOF
  printf '%s\n' "${PING_ROWS[@]}"
  cat <<EOF

Real connections: \`trmm-loadgen agents --limit $REAL_AGENTS --connect-concurrency 100
--hello-interval 30\`, one NATS connection per agent, each authenticated through trmm-nats-api's
auth callout (a Postgres lookup of the token digest), each answering pings and heartbeating every
15–45 s.

| | |
|---|---|
| connections reached | $REAL_CONNECTED of $REAL_AGENTS after ${ramp_secs} s; $REAL_CONNECTED_END after 30 s more |
| auth callout decisions | $auth_allowed allowed, $auth_denied denied |
| load generator's summary | \`${REAL_SUMMARY% }\` ($REAL_ERRORS warning/error log lines) |
| during the ramp-up | trmm-nats-api $(usage real-ramp nats-api); Postgres $(usage real-ramp postgres); nats-server $(usage real-ramp nats-server); load generator $(usage real-ramp loadgen); whole machine $(usage real-ramp machine); other busy processes: $(others real-ramp) |
| steady state (30 s) | trmm-nats-api $(usage real-steady nats-api); Postgres $(usage real-steady postgres); nats-server $(usage real-steady nats-server) (its own /varz: $NATS_SERVER_MEM MiB); load generator $(usage real-steady loadgen); whole machine $(usage real-steady machine); other busy processes: $(others real-steady) |

### Bulk command

While those connections were up, \`POST /agents/actions/bulk/\` ran \`uptime\` on site Bench A
(its $SEED_A agents; the connected ones answer commands): trmm-api records a history row per agent
and queues the run on Redis; trmm-worker sends it through AgentGateway \`PublishMany\` in batches
(default \`TRMM_BULK_CONCURRENCY\`: the gateway pings a batch, sends the command to the agents that
answered and reports each reply) and stores every outcome.

| | |
|---|---|
| API answer | $BULK_REPLY in $bulk_accepted_ms ms |
| from the request to the last outcome stored | $BULK_SECS s |
| outcome counts (\`bulk_runs.summary\`) | \`$BULK_SUMMARY\` |
| during the run | trmm-worker $(usage bulk worker); trmm-nats-api $(usage bulk nats-api); Postgres $(usage bulk postgres); nats-server $(usage bulk nats-server); load generator $(usage bulk loadgen); whole machine $(usage bulk machine); other busy processes: $(others bulk) |

## 4. Idle trmm-agent

The \`trmm-agent svc\` that quickstart enrolled, $AGENT_UPTIME s after it started, sampled for
$IDLE_SECS s with nothing asking it anything (heartbeat every 30–60 s, other telemetry on its
longer intervals):

| | |
|---|---|
| CPU, memory (avg / max) | $(usage idle agent) |
| CPU time in the window | $AGENT_CPU |
| peak RSS since start (VmHWM) | $AGENT_HWM MiB |
| threads | $AGENT_THREADS |

## 5. Check results

\`trmm-loadgen checks\`: $CHECK_SETUP. Each result is a \`PATCH /api/v3/checkrunner/\` with the
agent's own token and the Go agent's body for the check's type (mostly passing values), sent at a
fixed rate for $CHECK_SECS s with at most 64 in flight; a result due while all 64 are busy is
counted as *behind* and not sent. Each result is evaluated (cpu/memory over their last 15
samples), stored with a history point, updates the agent's check summary and goes through the
alert engine, in one transaction. $CHECK_HISTORY history points were written in all. The real
cadence is every check once per 120 s (the default check interval).

| case | target /s | written /s | ok / sent | failed | behind | p50 | p99 | max | trmm-api CPU, mem | Postgres CPU, mem | whole machine CPU, mem |
|---|---|---|---|---|---|---|---|---|---|---|---|
EOF
  printf '%s\n' "${CHECK_ROWS[@]}"
  cat <<EOF

\`GET /agents/\` with those summaries is in section 2 (the last two rows, *with checks*): the same table as the
$TABLE_AGENTS-agent rows above them, now with $CHECK_AGENTS agents' summaries filled in. Every row of section 2
carries the \`checks\` object, read from the maintained summary table, never counted at read time.

## Not measured

- An otherwise idle machine: whatever else ran at the same time (see *whole machine* and
  *other busy processes*) competed for the same cores during this run.
- The ceiling of heartbeat ingestion when the highest rate tried passed (see the summary):
  \`TRMM_BENCH_RATES_10K\`/\`TRMM_BENCH_RATES_50K\` try higher rates.
- A real fleet: the agents are simulated by one load-generator process on the same machine,
  which competes with the suite for the same cores; remote networks, TLS and agents' other
  telemetry (agentinfo, disks, services, software, WMI) are not part of the load.
- Heartbeats from real agent connections at 50,000: \`flood\` publishes 50,000 agents' hellos over
  a few connections; the real-connection test stops at $REAL_AGENTS.
- The dashboard websockets; trmm-beat and trmm-worker's periodic jobs (agent outages every 150 s
  over every agent, alert resolution, maintenance) run through the whole benchmark and are in the
  figures, but are not measured on their own; of trmm-worker's queued jobs only the bulk command.

## How to reproduce

\`\`\`sh
scripts/bench.sh          # about $((SECONDS / 60 + 1)) minutes here; rewrites docs/benchmarks.md
\`\`\`

It needs what \`scripts/quickstart.sh\` needs (it installs the same dependencies), runs its own
isolated suite (own run dir, database, role, ports and Redis database, loopback only) and removes
it afterwards. \`TRMM_BENCH_FLOOD_SECS\`, \`TRMM_BENCH_RATES_10K\`, \`TRMM_BENCH_RATES_50K\`,
\`TRMM_BENCH_REAL_AGENTS\` and \`TRMM_BENCH_IDLE_SECS\` change the steps (see the head of the
script); \`TRMM_SKIP_BUILD=1\` reuses the release binaries already built.
EOF
} >"$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"
SUCCESS=1
info "benchmark finished in ${SECONDS}s: $OUT"
