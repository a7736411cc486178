#!/usr/bin/env bash
# Smoke test of scripts/quickstart.sh and scripts/stop.sh, run by scripts/test.sh:
#   quickstart -> checks -> quickstart again while running -> checks -> stop -> quickstart
#   -> checks -> stop,
# where the checks are: quickstart.env complete and 0600, every /readyz 200, NATS healthy,
# POST /v2/checkcreds/ with the admin credentials answering {"totp": true}, (first run only)
# POST /v2/login/ with the current TOTP code of the generated secret returning a token, and the
# local trmm-agent quickstart enrolled: running, the same one agent on every run, online in
# GET /agents/ and answering GET /agents/<id>/ping/; stop.sh must stop it too. It runs in isolation
# (its own run dir, database, role, ports and Redis database) with TRMM_BUILD_PROFILE=debug, so
# it reuses the test build, and it drops its database and role at the end.
set -euo pipefail

LOG_TAG="smoke"
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Quickstart settings a developer may have exported must not leak into the isolated run.
unset TRMM_ADMIN_PASSWORD TRMM_ADMIN_TOTP_SECRET TRMM_PUBLIC_URL TRMM_AGENT_NATS_URL \
  TRMM_LISTEN_HOST TRMM_ADMIN_USER TRMM_ADMIN_EMAIL

isolated_run smoke
export TRMM_BUILD_PROFILE=${TRMM_BUILD_PROFILE:-debug}
export TRMM_REDIS_DB=${TRMM_SMOKE_REDIS_DB:-13}
export TRMM_READY_TIMEOUT=${TRMM_READY_TIMEOUT:-120}

CHECKS=0
SUCCESS=0
pass() {
  CHECKS=$((CHECKS + 1))
  info "ok: $*"
}
fail() {
  printf '[%s] FAILED: %s\n' "$LOG_TAG" "$*" >&2
  exit 1
}

cleanup() {
  # Finish the clean-up even when our output is gone (a closed pipe) or a step fails.
  trap '' PIPE
  set +e
  local name
  isolated_run_teardown
  if [ "$SUCCESS" = 1 ]; then
    rm -rf "$WORK"
    return
  fi
  for name in "$TRMM_RUN_DIR"/*.log; do
    [ -f "$name" ] || continue
    printf '\n[%s] --- last lines of %s ---\n' "$LOG_TAG" "$name" >&2
    tail -n 40 "$name" >&2
  done
  warn "kept $WORK for inspection"
}
trap cleanup EXIT

# run_quickstart N [VAR=value...]: runs quickstart.sh, its output kept in $WORK/quickstart-N.out.
run_quickstart() {
  local out="$WORK/quickstart-$1.out"
  info "run $1: ${*:2} scripts/quickstart.sh (output in $out)"
  if ! env "${@:2}" "$TRMM_ROOT/scripts/quickstart.sh" </dev/null >"$out" 2>&1; then
    tail -n 60 "$out" >&2
    fail "quickstart.sh run $1 exited non-zero"
  fi
  pass "quickstart.sh run $1"
}

run_stop() {
  local out="$WORK/stop-$1.out"
  "$TRMM_ROOT/scripts/stop.sh" </dev/null >"$out" 2>&1 || {
    cat "$out" >&2
    fail "stop.sh run $1 exited non-zero"
  }
  pass "stop.sh run $1"
}

# Loads quickstart.env into ENV_* variables in this shell.
load_env() {
  local file=$TRMM_RUN_DIR/quickstart.env key var
  [ -f "$file" ] || fail "$file is missing"
  [ "$(stat -c %a "$file")" = 600 ] || fail "$file has mode $(stat -c %a "$file"), want 600"
  for key in API_URL NATS_URL NATS_MONITOR_URL WEBSOCKET_URL NATS_API_URL WORKER_URL BEAT_URL \
    ADMIN_USER ADMIN_PASSWORD ADMIN_TOTP_SECRET DB_PASSWORD DATABASE_URL REDIS_URL AGENT_ID AGENT_CONFIG; do
    printf -v "ENV_$key" '%s' "$(env_file_get "$file" "$key")"
    var="ENV_$key"
    [ -n "${!var}" ] || fail "$file has no $key"
  done
  pass "quickstart.env is 0600 and complete"
}

# Every process in the run dir alive, every service ready, NATS healthy, admin login works.
check_suite() {
  local name pid url body
  for name in nats-server "${TRMM_SERVICES[@]}"; do
    pid=$(pidfile_pid "$TRMM_RUN_DIR/$name.pid" "$name") || fail "$name is not running (pid file $TRMM_RUN_DIR/$name.pid)"
  done
  for url in "$ENV_API_URL" "${ENV_WEBSOCKET_URL/#ws:/http:}" "$ENV_NATS_API_URL" "$ENV_WORKER_URL" "$ENV_BEAT_URL"; do
    http_ok "$url/readyz" || fail "$url/readyz is not 200: $(curl -sS -m 2 "$url/readyz" 2>&1 || true)"
    http_ok "$url/healthz" || fail "$url/healthz is not 200"
    http_ok "$url/metrics" || fail "$url/metrics is not 200"
  done
  pass "/readyz, /healthz and /metrics answer 200 on all five services"
  http_ok "$ENV_NATS_MONITOR_URL/healthz" || fail "nats-server monitoring $ENV_NATS_MONITOR_URL/healthz is not 200"
  body=$(curl -fsS -m 2 "$ENV_NATS_MONITOR_URL/varz") || fail "cannot read $ENV_NATS_MONITOR_URL/varz"
  python3 -c 'import json,sys
v = json.load(sys.stdin)["version"].split(".")
sys.exit(0 if (int(v[0]), int(v[1])) >= (2, 10) else 1)' <<<"$body" || fail "nats-server is older than 2.10"
  pass "nats-server ${ENV_NATS_URL} is healthy and 2.10+"
  check_nats_auth
  check_login
}

# nats_connect_reply CONNECT_JSON: the server's answer to CONNECT + PING on ENV_NATS_URL.
nats_connect_reply() {
  local hostport=${ENV_NATS_URL#nats://} reply
  # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
  reply=$(timeout 15 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    IFS= read -r info <&3 || exit 1
    printf "CONNECT %s\r\nPING\r\n" "$3" >&3
    IFS= read -r reply <&3 || exit 1
    printf "%s\n" "$reply"' _ "${hostport%:*}" "${hostport##*:}" "$1") || return 1
  printf '%s\n' "${reply%$'\r'}"
}

# The auth config is in force: anonymous clients are refused, the services' credentials work.
check_nats_auth() {
  local reply connect
  reply=$(nats_connect_reply '{"verbose":false,"pedantic":false}') || fail "no answer from nats-server"
  [[ $reply == -ERR*Authorization* ]] || fail "nats-server accepted an anonymous client: $reply"
  connect=$(python3 -c 'import json,sys; print(json.dumps({"verbose": False, "pedantic": False,
    "user": sys.argv[1], "pass": sys.argv[2]}))' \
    "$(env_file_get "$TRMM_RUN_DIR/nats/services.env" TRMM_NATS_USER)" \
    "$(env_file_get "$TRMM_RUN_DIR/nats/services.env" TRMM_NATS_PASSWORD)")
  reply=$(nats_connect_reply "$connect") || fail "no answer from nats-server"
  [ "$reply" = PONG ] || fail "nats-server refused the services' credentials from nats/services.env: $reply"
  pass "nats-server refuses anonymous clients and accepts the services' credentials"
}

check_login() {
  local request response status body
  request=$(python3 -c 'import json,sys; print(json.dumps({"username": sys.argv[1], "password": sys.argv[2]}))' \
    "$ENV_ADMIN_USER" "$ENV_ADMIN_PASSWORD")
  response=$(curl -sS -m 10 -o "$WORK/checkcreds.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -X POST --data-binary @- "$ENV_API_URL/v2/checkcreds/" <<<"$request") || fail "POST /v2/checkcreds/ failed"
  body=$(cat "$WORK/checkcreds.json")
  [ "$response" = 200 ] || fail "POST /v2/checkcreds/ answered $response: $body"
  status=$(python3 -c 'import json,sys; print(json.load(sys.stdin).get("totp"))' <<<"$body" 2>/dev/null || true)
  [ "$status" = True ] || fail "POST /v2/checkcreds/ answered $body, want {\"totp\": true}"
  pass "admin credentials accepted by POST /v2/checkcreds/ (totp: true)"
}

# Full login once: a second login in the same 30 s step could reuse the code, which an API may
# rightly refuse as a replay.
check_totp_login() {
  local request response body
  # Second factor: the current RFC 6238 code (SHA-1, 6 digits, 30 s) of the generated secret.
  request=$(python3 - "$ENV_ADMIN_USER" "$ENV_ADMIN_PASSWORD" "$ENV_ADMIN_TOTP_SECRET" <<'PY'
import base64, hashlib, hmac, json, struct, sys, time
user, password, secret = sys.argv[1:4]
digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
offset = digest[-1] & 15
code = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000
print(json.dumps({"username": user, "password": password, "twofactor": "%06d" % code}))
PY
  )
  response=$(curl -sS -m 10 -o "$WORK/login.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -X POST --data-binary @- "$ENV_API_URL/v2/login/" <<<"$request") || fail "POST /v2/login/ failed"
  body=$(cat "$WORK/login.json")
  [ "$response" = 200 ] || fail "POST /v2/login/ with the TOTP code answered $response: $body"
  TOKEN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$body" 2>/dev/null) ||
    fail "POST /v2/login/ answered no token: $body"
  pass "admin login with password and TOTP code returns a token (POST /v2/login/)"
}

# The agent quickstart enrolled runs, is the only agent, is online and answers a ping through
# trmm-api -> gRPC -> trmm-nats-api -> NATS -> trmm-agent. Uses the token of check_totp_login
# (sessions live in Postgres, so it outlasts the restarts).
check_agent() {
  local rows summary ping
  pidfile_pid "$TRMM_RUN_DIR/trmm-agent.pid" trmm-agent >/dev/null ||
    fail "trmm-agent is not running (pid file $TRMM_RUN_DIR/trmm-agent.pid)"
  [ -f "$ENV_AGENT_CONFIG" ] || fail "the agent config $ENV_AGENT_CONFIG is missing"
  rows=$(api_request GET "$ENV_API_URL/agents/" "$TOKEN") || fail "GET /agents/ failed"
  summary=$(python3 -c '
import json, sys
rows = json.load(sys.stdin)
mine = [a for a in rows if a.get("agent_id") == sys.argv[1]]
if len(rows) != 1 or len(mine) != 1:
    sys.exit("want exactly this agent, got %s" % [a.get("agent_id") for a in rows])
if mine[0].get("status") != "online":
    sys.exit("status %s, last_seen %s" % (mine[0].get("status"), mine[0].get("last_seen")))
print("%s in %s/%s" % (mine[0].get("hostname"), mine[0].get("client_name"), mine[0].get("site_name")))' \
    "$ENV_AGENT_ID" <<<"$rows" 2>&1) || fail "GET /agents/ does not list agent $ENV_AGENT_ID online: $summary"
  pass "GET /agents/ lists the one local agent online ($summary)"
  ping=$(api_request GET "$ENV_API_URL/agents/$ENV_AGENT_ID/ping/" "$TOKEN") || fail "GET /agents/<id>/ping/ failed"
  python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("status") == "online" else 1)' <<<"$ping" ||
    fail "GET /agents/$ENV_AGENT_ID/ping/ answered $ping, want status online"
  pass "the agent answers GET /agents/<id>/ping/ with status online"
}

# Pids of the current run, to check that a re-run replaces them and stop.sh ends them.
current_pids() {
  local name
  for name in nats-server "${TRMM_SERVICES[@]}" trmm-agent; do
    pidfile_pid "$TRMM_RUN_DIR/$name.pid" "$name" || true
  done
}

check_stopped() { # check_stopped PID...
  local pid name var
  for pid in "$@"; do
    pid_gone "$pid" || fail "pid $pid still runs after stop.sh"
  done
  for name in nats-server "${TRMM_SERVICES[@]}" trmm-agent; do
    [ ! -e "$TRMM_RUN_DIR/$name.pid" ] || fail "stop.sh left $TRMM_RUN_DIR/$name.pid"
  done
  for var in TRMM_API_PORT TRMM_WEBSOCKET_PORT TRMM_NATS_API_PORT TRMM_WORKER_PORT TRMM_BEAT_PORT TRMM_NATS_PORT \
    TRMM_NATS_MONITOR_PORT TRMM_GATEWAY_PORT; do
    ! port_in_use "${!var}" || fail "port ${!var} ($var) is still in use after stop.sh"
  done
  pass "stop.sh ended every process (the agent too) and freed every port"
}

info "isolated run: dir $TRMM_RUN_DIR, database $TRMM_DB_NAME, API port $TRMM_API_PORT, NATS port $TRMM_NATS_PORT, profile $TRMM_BUILD_PROFILE"
SECONDS=0

run_quickstart 1
load_env
check_suite
check_totp_login
check_agent
first_secrets="$ENV_ADMIN_PASSWORD $ENV_ADMIN_TOTP_SECRET $ENV_DB_PASSWORD"
first_agent=$ENV_AGENT_ID
mapfile -t pids1 < <(current_pids)
((${#pids1[@]} == ${#TRMM_SERVICES[@]} + 2)) || fail "want ${#TRMM_SERVICES[@]} services, nats-server and trmm-agent running, got pids: ${pids1[*]}"

# Runs 2 and 3 start the binaries run 1 built: one consistent build under test, and no wait for
# the shared target dir's lock.
run_quickstart 2 TRMM_SKIP_BUILD=1
load_env
[ "$ENV_ADMIN_PASSWORD $ENV_ADMIN_TOTP_SECRET $ENV_DB_PASSWORD" = "$first_secrets" ] ||
  fail "a re-run changed the secrets in quickstart.env"
for pid in "${pids1[@]}"; do
  pid_gone "$pid" || fail "re-running quickstart left the previous process $pid running (a duplicate)"
done
[ "$ENV_AGENT_ID" = "$first_agent" ] || fail "a re-run enrolled another agent ($ENV_AGENT_ID, first $first_agent)"
pass "re-run while running kept the secrets and the agent and replaced every process"
check_suite
check_agent
mapfile -t pids2 < <(current_pids)

run_stop 1
check_stopped "${pids2[@]}"

run_quickstart 3 TRMM_SKIP_BUILD=1
load_env
[ "$ENV_ADMIN_PASSWORD $ENV_ADMIN_TOTP_SECRET $ENV_DB_PASSWORD" = "$first_secrets" ] ||
  fail "quickstart after stop changed the secrets in quickstart.env"
[ "$ENV_AGENT_ID" = "$first_agent" ] || fail "quickstart after stop enrolled another agent ($ENV_AGENT_ID, first $first_agent)"
check_suite
check_agent
mapfile -t pids3 < <(current_pids)
run_stop 2
check_stopped "${pids3[@]}"

SUCCESS=1
info "quickstart smoke test passed: $CHECKS checks in ${SECONDS}s"
