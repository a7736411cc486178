#!/usr/bin/env bash
# Starts the whole trmm-rs suite on this machine: Postgres and Redis (reused when running,
# installed and started when not), its own nats-server 2.10+, then trmm-api, trmm-websocket,
# trmm-nats-api, trmm-worker and trmm-beat in the background. Then it enrolls this machine: a
# trmm-agent in the first client/site ("Default Client"/"Default Site" when there is no client),
# run in the background like the services, and waits until the API lists it online. Prints the
# URLs, the admin credentials and the agent and writes them to $RUN_DIR/quickstart.env. Safe to
# run again: it keeps the secrets and the agent's enrollment, restarts what it started before and
# never starts duplicates. scripts/stop.sh stops it.
#
# Settings (environment variables; defaults in brackets):
#   TRMM_RUN_DIR [<repo>/.run]          pid files, logs and quickstart.env
#   TRMM_BUILD_PROFILE [release]        cargo profile (debug reuses the test build)
#   TRMM_SKIP_BUILD [0]                 1: use the binaries already in the target dir
#   TRMM_LISTEN_HOST [127.0.0.1]        address every service and nats-server listen on
#   TRMM_API_PORT [8000] TRMM_WEBSOCKET_PORT [8001] TRMM_NATS_API_PORT [8002]
#   TRMM_WORKER_PORT [8003] TRMM_BEAT_PORT [8004]
#   TRMM_NATS_PORT [first free from 4222] TRMM_NATS_MONITOR_PORT [first free from 8222]
#   TRMM_GATEWAY_PORT [first free from 50051]  trmm-nats-api's gRPC AgentGateway, on 127.0.0.1
#   TRMM_PG_HOST [127.0.0.1] TRMM_PG_PORT [5432] TRMM_PG_SUPERUSER [postgres]
#   TRMM_DB_NAME [trmm] TRMM_DB_USER [same as TRMM_DB_NAME]
#   TRMM_REDIS_HOST [127.0.0.1] TRMM_REDIS_PORT [6379] TRMM_REDIS_DB [0]
#   TRMM_ADMIN_USER [admin] TRMM_ADMIN_EMAIL [admin@example.com]
#   TRMM_ADMIN_PASSWORD, TRMM_ADMIN_TOTP_SECRET [kept from quickstart.env, else generated]
#   TRMM_SECRET_KEY [kept from quickstart.env, else generated]  encrypts the SMTP password and Twilio token
#   TRMM_PUBLIC_URL [http://<host>:<api port>]  TRMM_LOG, TRMM_LOG_FORMAT [the binaries' defaults]
#   TRMM_READY_TIMEOUT [120]            seconds to wait for every /readyz, and for the agent
#   TRMM_NATS_SERVER                    a nats-server 2.10+ to use instead of finding one
#   TRMM_AGENT [1]                      0: do not enroll and start the local trmm-agent
#   TRMM_AGENT_SYSTEMD [0]              1 (root, systemd): install the agent for real instead: binary
#                                       in /usr/local/bin, config /etc/trmm-agent/agent.json and an
#                                       enabled trmm-agent.service that stop.sh leaves running
#   TRMM_CHECKIN_HELLO [30,60]          (trmm-api) seconds between an agent's heartbeats, MIN,MAX
set -euo pipefail

LOG_TAG="quickstart"
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUN_DIR=${TRMM_RUN_DIR:-$TRMM_ROOT/.run}
ENV_FILE=$RUN_DIR/quickstart.env
NATS_CONF=$TRMM_ROOT/config/nats/nats-server.conf
DB_NAME=${TRMM_DB_NAME:-trmm}
DB_USER=${TRMM_DB_USER:-$DB_NAME}
REDIS_DB=${TRMM_REDIS_DB:-0}
LISTEN_HOST=${TRMM_LISTEN_HOST:-127.0.0.1}
ADMIN_USER=${TRMM_ADMIN_USER:-admin}
ADMIN_EMAIL=${TRMM_ADMIN_EMAIL:-admin@example.com}
READY_TIMEOUT=${TRMM_READY_TIMEOUT:-120}
AGENT_ENABLED=${TRMM_AGENT:-1}
case $LISTEN_HOST in 0.0.0.0 | '*') CONNECT_HOST=127.0.0.1 ;; *) CONNECT_HOST=$LISTEN_HOST ;; esac

[[ $DB_NAME =~ ^[a-z_][a-z0-9_]*$ && $DB_USER =~ ^[a-z_][a-z0-9_]*$ ]] ||
  die "TRMM_DB_NAME/TRMM_DB_USER must be lower-case identifiers ([a-z_][a-z0-9_]*)"
[ -f "$NATS_CONF" ] || die "missing $NATS_CONF"

# Owner-only when we create it: the logs and quickstart.env are nobody else's business.
(umask 077 && mkdir -p "$RUN_DIR")
exec {RUN_LOCK}>"$RUN_DIR/.lock"
flock -n "$RUN_LOCK" || die "another quickstart.sh or stop.sh is working on $RUN_DIR"

# --- 1. dependencies -------------------------------------------------------------------------
info "checking dependencies"
ensure_command curl curl ca-certificates
ensure_command python3 python3
ensure_postgres
ensure_redis
ensure_nats_server_bin
info "nats-server: $NATS_SERVER_BIN ($("$NATS_SERVER_BIN" --version))"
[ "${TRMM_SKIP_BUILD:-0}" = 1 ] || ensure_rust

# --- 2. secrets: kept from the previous run's env file so that re-running changes nothing ----
secret() { # secret OVERRIDE KEY GENERATOR...
  local value=$1 key=$2
  shift 2
  [ -n "$value" ] || value=$(env_file_get "$ENV_FILE" "$key")
  [ -n "$value" ] || value=$("$@")
  printf '%s\n' "$value"
}
ADMIN_PASSWORD=$(secret "${TRMM_ADMIN_PASSWORD:-}" ADMIN_PASSWORD random_alnum 24)
ADMIN_TOTP_SECRET=$(secret "${TRMM_ADMIN_TOTP_SECRET:-}" ADMIN_TOTP_SECRET random_totp_secret)
DB_PASSWORD=$(secret "" DB_PASSWORD random_alnum 32)
SECRET_KEY=$(secret "${TRMM_SECRET_KEY:-}" SECRET_KEY random_hex 32)
[[ $SECRET_KEY =~ ^[0-9a-fA-F]{64}$ ]] || die "SECRET_KEY in $ENV_FILE must be 64 hex characters; delete the line to generate one"
[[ $ADMIN_TOTP_SECRET =~ ^[A-Z2-7]{16,}$ ]] || die "the TOTP secret must be base32 (A-Z, 2-7), 16+ characters"
[[ $DB_PASSWORD =~ ^[A-Za-z0-9]+$ ]] || die "DB_PASSWORD in $ENV_FILE must be alphanumeric; delete the line to generate one"

# --- 3. database role and database (idempotent) ------------------------------------------------
info "ensuring Postgres role '$DB_USER' and database '$DB_NAME'"
pg_ensure_role "$DB_USER" "$DB_PASSWORD"
pg_ensure_database "$DB_NAME" "$DB_USER"
DATABASE_URL="postgres://$DB_USER:$DB_PASSWORD@$PG_HOST:$PG_PORT/$DB_NAME"
REDIS_URL="redis://$REDIS_HOST:$REDIS_PORT/$REDIS_DB"

# --- 4. build ----------------------------------------------------------------------------------
build_profile_args
if [ "${TRMM_SKIP_BUILD:-0}" = 1 ]; then
  info "TRMM_SKIP_BUILD=1: using the binaries in $BIN_DIR"
else
  info "building the suite: cargo build ${BUILD_ARGS[*]} --bins (target dir $CARGO_TARGET_DIR)"
  (cd "$TRMM_ROOT" && cargo build "${BUILD_ARGS[@]}" --bins) || die "cargo build failed"
fi
AGENT_BINARY=()
[ "$AGENT_ENABLED" = 0 ] || AGENT_BINARY=(trmm-agent)
for svc in "${TRMM_SERVICES[@]}" "${AGENT_BINARY[@]}"; do
  [ -x "$BIN_DIR/$svc" ] || die "$BIN_DIR/$svc is missing (build with TRMM_BUILD_PROFILE=${TRMM_BUILD_PROFILE:-release})"
done

# This machine's agent: enrolled once, then its config is what every re-run starts again. How it
# runs (in the background like the services, or as a systemd service) is fixed at enrollment.
AGENT_DIR=$RUN_DIR/agent
AGENT_SYSTEMD_MARK=$AGENT_DIR/systemd-config # holds the config path of a systemd-installed agent
if [ -s "$AGENT_SYSTEMD_MARK" ]; then
  AGENT_MODE=systemd
  AGENT_CONFIG=$(<"$AGENT_SYSTEMD_MARK")
elif [ -f "$AGENT_DIR/agent.json" ]; then
  AGENT_MODE=background
  AGENT_CONFIG=$AGENT_DIR/agent.json
  [ "${TRMM_AGENT_SYSTEMD:-0}" != 1 ] || [ "$AGENT_ENABLED" = 0 ] ||
    warn "TRMM_AGENT_SYSTEMD=1 ignored: $AGENT_CONFIG is the agent an earlier run enrolled, and it keeps" \
      "running in the background (delete the agent in the dashboard and remove $AGENT_DIR to enroll it" \
      "again as a systemd service)"
elif [ "${TRMM_AGENT_SYSTEMD:-0}" = 1 ]; then
  AGENT_MODE=systemd
  AGENT_CONFIG=/etc/trmm-agent/agent.json
else
  AGENT_MODE=background
  AGENT_CONFIG=$AGENT_DIR/agent.json
fi
if [ "$AGENT_ENABLED" != 0 ] && [ "$AGENT_MODE" = systemd ]; then
  if ! is_root || ! systemd_running; then
    die "TRMM_AGENT_SYSTEMD=1 needs root and a running systemd; without it the agent runs in the background"
  fi
fi
# agent_config_id FILE: the agent_id in an agent config.
agent_config_id() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["agent_id"])' "$1"; }
AGENT_ID=""
if [ "$AGENT_ENABLED" != 0 ] && [ -f "$AGENT_CONFIG" ]; then
  AGENT_ID=$(agent_config_id "$AGENT_CONFIG") || die "cannot read agent_id from $AGENT_CONFIG"
fi

# --- 5. stop what a previous run started, then choose ports ------------------------------------
stop_suite "$RUN_DIR" || die "could not stop the previous run's processes (pid files in $RUN_DIR)"

# From here on a failure stops whatever this run started, so no half-started suite is left.
STARTED=0
on_exit() {
  local rc=$?
  trap '' PIPE
  set +e
  if [ "$rc" != 0 ] && [ "$STARTED" = 1 ]; then
    warn "quickstart failed: stopping what it started (logs stay in $RUN_DIR)"
    stop_suite "$RUN_DIR" || true
  fi
}
trap on_exit EXIT

declare -A PORT
for svc in "${TRMM_SERVICES[@]}"; do
  var=${TRMM_PORT_VAR[$svc]}
  PORT[$svc]=${!var:-${TRMM_PORT_DEFAULT[$svc]}}
  if port_in_use "${PORT[$svc]}"; then
    die "port ${PORT[$svc]} for $svc is taken by another program; free it or choose another with $var=<port>"
  fi
done
# pick_port VAR START: $VAR when set (it must be free), else the first free port from START.
pick_port() {
  local var=$1
  if [ -n "${!var:-}" ]; then
    ! port_in_use "${!var}" || die "$var=${!var} is taken by another program"
    printf '%s\n' "${!var}"
  else
    free_port_from "$2"
  fi
}
NATS_PORT=$(pick_port TRMM_NATS_PORT 4222)
NATS_MONITOR_PORT=$(pick_port TRMM_NATS_MONITOR_PORT 8222)
GATEWAY_PORT=$(pick_port TRMM_GATEWAY_PORT 50051)
[ "$NATS_PORT" = 4222 ] || info "port 4222 is taken: nats-server will listen on $NATS_PORT"

API_URL="http://$CONNECT_HOST:${PORT[trmm-api]}"
NATS_URL="nats://$CONNECT_HOST:$NATS_PORT"
# The config file keeps monitoring on loopback whatever TRMM_LISTEN_HOST says.
NATS_MONITOR_URL="http://127.0.0.1:$NATS_MONITOR_PORT"
PUBLIC_URL=${TRMM_PUBLIC_URL:-$API_URL}
# trmm-nats-api's gRPC AgentGateway has no auth of its own: loopback only, trmm-api is local.
GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"

# --- 6. env file (0600), written before anything starts so a failed run still keeps the secrets -
write_env_file() {
  local tmp
  tmp=$(mktemp "$RUN_DIR/.quickstart.env.XXXXXX")
  {
    echo "# Written by scripts/quickstart.sh; re-runs keep the secrets. Load with: set -a; . $ENV_FILE; set +a"
    printf '%s=%q\n' \
      API_URL "$API_URL" \
      PUBLIC_URL "$PUBLIC_URL" \
      WEBSOCKET_URL "ws://$CONNECT_HOST:${PORT[trmm-websocket]}" \
      NATS_API_URL "http://$CONNECT_HOST:${PORT[trmm-nats-api]}" \
      WORKER_URL "http://$CONNECT_HOST:${PORT[trmm-worker]}" \
      BEAT_URL "http://$CONNECT_HOST:${PORT[trmm-beat]}" \
      NATS_URL "$NATS_URL" \
      NATS_MONITOR_URL "$NATS_MONITOR_URL" \
      NATS_SERVER "$NATS_SERVER_BIN" \
      GATEWAY_URL "$GATEWAY_URL" \
      NATS_CONFIG_DIR "$RUN_DIR/nats" \
      ADMIN_USER "$ADMIN_USER" \
      ADMIN_EMAIL "$ADMIN_EMAIL" \
      ADMIN_PASSWORD "$ADMIN_PASSWORD" \
      ADMIN_TOTP_SECRET "$ADMIN_TOTP_SECRET" \
      DB_NAME "$DB_NAME" \
      DB_USER "$DB_USER" \
      DB_PASSWORD "$DB_PASSWORD" \
      SECRET_KEY "$SECRET_KEY" \
      DATABASE_URL "$DATABASE_URL" \
      REDIS_URL "$REDIS_URL" \
      RUN_DIR "$RUN_DIR" \
      BIN_DIR "$BIN_DIR" \
      AGENT_ID "$AGENT_ID" \
      AGENT_CONFIG "${AGENT_ID:+$AGENT_CONFIG}"
  } >"$tmp"
  chmod 600 "$tmp"
  mv -f "$tmp" "$ENV_FILE"
}
write_env_file

# --- 7. start ----------------------------------------------------------------------------------
# start_bg NAME ENV_FILE CMD...: runs CMD detached (own session, stdin closed) with its log and pid
# in RUN_DIR; ENV_FILE (may be empty) is loaded into CMD's environment only.
start_bg() {
  local name=$1 env_file=$2 log="$RUN_DIR/$1.log"
  shift 2
  [ -f "$log" ] && mv -f "$log" "$log.1"
  STARTED=1
  # The subshell execs (so $! is CMD's pid); the run-dir lock fd is closed for it, since a service
  # must not hold the lock for its lifetime.
  (
    if [ -n "$env_file" ]; then
      set -a
      # shellcheck disable=SC1090
      . "$env_file"
      set +a
    fi
    exec setsid "$@"
  ) >"$log" 2>&1 </dev/null {RUN_LOCK}>&- &
  echo "$!" >"$RUN_DIR/$name.pid"
}

# wait_ready NAME URL: polls URL until 200, failing early (with the log) if NAME exits.
wait_ready() {
  local name=$1 url=$2 pid body
  read -r pid <"$RUN_DIR/$name.pid"
  until http_ok "$url"; do
    if pid_gone "$pid"; then
      warn "$name exited before it was ready; last lines of $RUN_DIR/$name.log:"
      tail -n 30 "$RUN_DIR/$name.log" >&2 || true
      exit 1
    fi
    if (($(now_ms) >= DEADLINE)); then
      body=$(curl -sS -m 2 "$url" 2>&1 || true)
      warn "$name is not ready after ${READY_TIMEOUT}s; $url says: $body"
      tail -n 30 "$RUN_DIR/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  info "$name is ready ($url)"
}

# NATS auth: keys and passwords generated once per run dir and kept, so re-runs change nothing.
# nats-server.env (public keys, bcrypt hashes) is what the config file reads from nats-server's
# environment; services.env (passwords, seeds) goes to the services.
NATS_CONFIG_DIR=$RUN_DIR/nats
"$BIN_DIR/trmm-nats-api" nats-config --out-dir "$NATS_CONFIG_DIR" </dev/null ||
  die "trmm-nats-api nats-config --out-dir $NATS_CONFIG_DIR failed"

DEADLINE=$(($(now_ms) + READY_TIMEOUT * 1000))
info "starting nats-server on $LISTEN_HOST:$NATS_PORT (monitoring $NATS_MONITOR_PORT, config $NATS_CONF)"
start_bg nats-server "$NATS_CONFIG_DIR/nats-server.env" "$NATS_SERVER_BIN" -c "$NATS_CONF" \
  -a "$LISTEN_HOST" -p "$NATS_PORT" -m "$NATS_MONITOR_PORT"
wait_ready nats-server "$NATS_MONITOR_URL/healthz"

export TRMM_DATABASE_URL=$DATABASE_URL TRMM_REDIS_URL=$REDIS_URL TRMM_NATS_URL=$NATS_URL
export TRMM_AGENT_NATS_URL=${TRMM_AGENT_NATS_URL:-$NATS_URL} TRMM_PUBLIC_URL=$PUBLIC_URL
export TRMM_GATEWAY_LISTEN=127.0.0.1:$GATEWAY_PORT TRMM_GATEWAY_URL=$GATEWAY_URL
export TRMM_SECRET_KEY=$SECRET_KEY

info "applying database migrations"
"$BIN_DIR/trmm-api" migrate </dev/null || die "trmm-api migrate failed"
info "creating/updating the superuser '$ADMIN_USER'"
# The password and TOTP secret go in through the environment (the variables behind --password and
# --totp-secret), which keeps them out of the process list.
TRMM_SUPERUSER_PASSWORD=$ADMIN_PASSWORD TRMM_SUPERUSER_TOTP_SECRET=$ADMIN_TOTP_SECRET \
  "$BIN_DIR/trmm-api" createsuperuser --username "$ADMIN_USER" --email "$ADMIN_EMAIL" --update-existing \
  </dev/null || die "trmm-api createsuperuser failed"

for svc in "${TRMM_SERVICES[@]}"; do
  export "${TRMM_LISTEN_VAR[$svc]}=$LISTEN_HOST:${PORT[$svc]}"
done
for svc in "${TRMM_SERVICES[@]}"; do
  info "starting $svc on $LISTEN_HOST:${PORT[$svc]}"
  start_bg "$svc" "$NATS_CONFIG_DIR/services.env" "$BIN_DIR/$svc"
done
for svc in "${TRMM_SERVICES[@]}"; do
  wait_ready "$svc" "http://$CONNECT_HOST:${PORT[$svc]}/readyz"
done

# --- 8. this machine's agent ------------------------------------------------------------------
# The dashboard calls below log in as the admin with the current TOTP code.
API_TOKEN=""
api() { api_request "$1" "$API_URL$2" "$API_TOKEN" "${@:3}"; }

# first_site: prints "CLIENT_ID SITE_ID CLIENT_NAME/SITE_NAME" of the oldest client's oldest site,
# creating "Default Client" with "Default Site" when there is no client yet.
first_site() {
  local clients pick='import json, sys
for c in sorted(json.load(sys.stdin), key=lambda c: c["id"]):
    for s in sorted(c.get("sites") or [], key=lambda s: s["id"]):
        print(c["id"], s["id"], c["name"] + "/" + s["name"])
        sys.exit(0)
sys.exit(1)'
  clients=$(api GET /clients/) || return 1
  if ! python3 -c "$pick" <<<"$clients" >/dev/null; then
    info "no client with a site yet: creating \"Default Client\" with the site \"Default Site\"" >&2
    api POST /clients/ '{"client": {"name": "Default Client"}, "site": {"name": "Default Site"}}' >/dev/null ||
      return 1
    clients=$(api GET /clients/) || return 1
  fi
  python3 -c "$pick" <<<"$clients"
}

# Go's name for this machine's architecture, as the installer endpoint wants it.
goarch() {
  case $(uname -m) in
  x86_64 | amd64) echo amd64 ;;
  aarch64 | arm64) echo arm64 ;;
  arm*) echo arm ;;
  i?86) echo 386 ;;
  *) die "no Tactical RMM agent architecture for $(uname -m)" ;;
  esac
}

# enroll_agent AGENT_BIN [INSTALL_ARGS...]: generates an installer for the first site (as the
# dashboard's "manual" install does) and runs `AGENT_BIN install` with its token.
enroll_agent() {
  local agent_bin=$1 client site where request installer auth
  shift
  read -r client site where < <(first_site) || die "could not find or create a client and site through the API"
  info "enrolling this machine ($(hostname)) into $where (client $client, site $site)"
  request=$(printf '{"installMethod": "manual", "client": %s, "site": %s, "expires": 1, %s, "goarch": "%s", "api": "%s"}' \
    "$client" "$site" '"agenttype": "workstation", "plat": "linux"' "$(goarch)" "$API_URL")
  installer=$(api POST /agents/installer/ "$request") || die "POST /agents/installer/ failed"
  auth=$(python3 -c 'import json, re, sys; print(re.search(r"--auth (\S+)", json.load(sys.stdin)["cmd"]).group(1))' \
    <<<"$installer") || die "no --auth token in the installer answer: $installer"
  mkdir -p "$AGENT_DIR"
  # The installer token goes in through the environment (--auth's variable), out of the process list.
  if ! TRMM_AGENT_AUTH=$auth "$agent_bin" install --api "$API_URL" --client-id "$client" --site-id "$site" \
    --agent-type workstation --nats-url "$NATS_URL" --config "$AGENT_CONFIG" --no-public-ip "$@" \
    </dev/null >"$AGENT_DIR/install.log" 2>&1; then
    tail -n 20 "$AGENT_DIR/install.log" >&2
    die "trmm-agent install failed (log: $AGENT_DIR/install.log)"
  fi
}

# agent_known ID: true when the API has the agent, false when it answers 404 (deleted, or the
# database was re-created); any other answer stops quickstart.
agent_known() {
  local code
  code=$(curl -sS -m 30 -o /dev/null -w '%{http_code}' -H @<(printf 'Authorization: Token %s\n' "$API_TOKEN") \
    "$API_URL/agents/$1/") || code=000
  case $code in
  200) return 0 ;;
  404) return 1 ;;
  *) die "GET $API_URL/agents/$1/ answered $code" ;;
  esac
}

# agent_checked_in ID SINCE: true once GET /agents/ lists the agent online with a heartbeat at or
# after SINCE (epoch ms), i.e. from the process just started; sets AGENT_SUMMARY.
agent_checked_in() {
  local rows
  rows=$(api GET /agents/ 2>/dev/null) || return 1
  AGENT_SUMMARY=$(python3 -c '
import datetime, json, sys
agent_id, since = sys.argv[1], int(sys.argv[2]) / 1000
for a in json.load(sys.stdin):
    if a.get("agent_id") != agent_id:
        continue
    seen = a.get("last_seen")
    seen_at = datetime.datetime.fromisoformat(seen.replace("Z", "+00:00")).timestamp() if seen else 0
    if a.get("status") != "online" or seen_at < since:
        sys.exit(1)
    print("%s (%s) in %s/%s: online, version %s, last seen %s"
          % (a.get("hostname"), agent_id, a.get("client_name"), a.get("site_name"), a.get("version"), seen))
    sys.exit(0)
sys.exit(1)' "$1" "$2" <<<"$rows")
}

# For the systemd service: a copy outside the build dir, so that cargo clean or a rebuild cannot
# break it, renamed into place so that the running agent's binary is never overwritten.
install_agent_binary() {
  as_root install -m 0755 "$BIN_DIR/trmm-agent" /usr/local/bin/trmm-agent.new ||
    die "could not copy $BIN_DIR/trmm-agent to /usr/local/bin"
  as_root mv -f /usr/local/bin/trmm-agent.new /usr/local/bin/trmm-agent ||
    die "could not install /usr/local/bin/trmm-agent"
}

start_agent() {
  local since
  since=$(now_ms)
  if [ "$AGENT_MODE" = systemd ]; then
    info "restarting trmm-agent.service"
    as_root systemctl restart trmm-agent.service || die "systemctl restart trmm-agent.service failed"
  else
    info "starting trmm-agent (config $AGENT_CONFIG)"
    # The agent needs none of the services' secrets (and runs the dashboard's commands).
    start_bg trmm-agent "" env -u TRMM_DATABASE_URL -u TRMM_REDIS_URL "$BIN_DIR/trmm-agent" svc --config "$AGENT_CONFIG"
  fi
  local deadline=$(($(now_ms) + READY_TIMEOUT * 1000)) pid=""
  [ "$AGENT_MODE" = systemd ] || read -r pid <"$RUN_DIR/trmm-agent.pid"
  until agent_checked_in "$AGENT_ID" "$since"; do
    if [ -n "$pid" ] && pid_gone "$pid"; then
      warn "trmm-agent exited; last lines of $RUN_DIR/trmm-agent.log:"
      tail -n 30 "$RUN_DIR/trmm-agent.log" >&2 || true
      exit 1
    fi
    if (($(now_ms) >= deadline)); then
      warn "the agent $AGENT_ID is not online in GET /agents/ after ${READY_TIMEOUT}s"
      [ -z "$pid" ] || tail -n 30 "$RUN_DIR/trmm-agent.log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  info "agent online: $AGENT_SUMMARY"
}

AGENT_SUMMARY=""
if [ "$AGENT_ENABLED" = 0 ]; then
  info "TRMM_AGENT=0: not starting a local trmm-agent"
else
  API_TOKEN=$(api_login "$API_URL" "$ADMIN_USER" "$ADMIN_PASSWORD" "$ADMIN_TOTP_SECRET") ||
    die "could not log in to $API_URL as $ADMIN_USER to enroll the local agent"
  if [ -n "$AGENT_ID" ] && ! agent_known "$AGENT_ID"; then
    [ "$AGENT_MODE" = background ] ||
      die "the API does not know the agent in $AGENT_CONFIG ($AGENT_ID): remove it with 'trmm-agent uninstall' and re-run"
    stale="$AGENT_CONFIG.stale-$(date +%Y%m%d%H%M%S)"
    warn "the API does not know the agent $AGENT_ID (deleted, or a new database): enrolling again; old config kept as $stale"
    mv -f "$AGENT_CONFIG" "$stale"
    AGENT_ID=""
  fi
  if [ -z "$AGENT_ID" ]; then
    if [ "$AGENT_MODE" = systemd ]; then
      install_agent_binary
      enroll_agent /usr/local/bin/trmm-agent
    else
      # --no-service: the unit file only goes to the run dir, nothing system-wide changes.
      enroll_agent "$BIN_DIR/trmm-agent" --systemd-dir "$AGENT_DIR/systemd" --no-service
    fi
    AGENT_ID=$(agent_config_id "$AGENT_CONFIG") || die "cannot read agent_id from $AGENT_CONFIG"
    info "enrolled agent $AGENT_ID (config $AGENT_CONFIG)"
    write_env_file
  else
    info "reusing the agent enrolled by an earlier run: $AGENT_ID (config $AGENT_CONFIG)"
    [ "$AGENT_MODE" = background ] || install_agent_binary
  fi
  if [ "$AGENT_MODE" = systemd ]; then
    mkdir -p "$AGENT_DIR"
    printf '%s\n' "$AGENT_CONFIG" >"$AGENT_SYSTEMD_MARK"
  fi
  start_agent
fi

# --- 9. summary --------------------------------------------------------------------------------
rel_run_dir=${RUN_DIR#"$PWD"/}
if [ "$AGENT_ENABLED" = 0 ]; then
  agent_lines="not started (TRMM_AGENT=0)"
elif [ "$AGENT_MODE" = systemd ]; then
  agent_lines="$AGENT_SUMMARY
                   trmm-agent.service (stop.sh leaves it running), config $AGENT_CONFIG"
else
  agent_lines="$AGENT_SUMMARY
                   config $AGENT_CONFIG, log $rel_run_dir/trmm-agent.log"
fi
cat <<EOF

trmm-rs is running. Pids and logs: $rel_run_dir/   Stop it with: scripts/stop.sh

  service          URL
  trmm-api         $API_URL   (dashboard + agent REST API)
  trmm-websocket   ws://$CONNECT_HOST:${PORT[trmm-websocket]}
  trmm-nats-api    http://$CONNECT_HOST:${PORT[trmm-nats-api]}/readyz
  trmm-worker      http://$CONNECT_HOST:${PORT[trmm-worker]}/readyz
  trmm-beat        http://$CONNECT_HOST:${PORT[trmm-beat]}/readyz
  nats-server      $NATS_URL   (monitoring $NATS_MONITOR_URL)
                   service credentials: $NATS_CONFIG_DIR/services.env
  AgentGateway     $GATEWAY_URL   (gRPC from trmm-api to trmm-nats-api, loopback only)
  Postgres         postgres://$DB_USER:***@$PG_HOST:$PG_PORT/$DB_NAME
  Redis            $REDIS_URL
  Every service also serves /healthz, /readyz and /metrics on its port.

  Agent            $agent_lines

  Admin user       $ADMIN_USER
  Admin password   $ADMIN_PASSWORD
  TOTP secret      $ADMIN_TOTP_SECRET
                   otpauth://totp/trmm-rs:$ADMIN_USER?secret=$ADMIN_TOTP_SECRET&issuer=trmm-rs

All of this (and DATABASE_URL) is in $ENV_FILE (mode 0600).
EOF
