#!/usr/bin/env bash
# Stops what scripts/quickstart.sh started: the local trmm-agent, the five services and its own
# nats-server, found by their pid files in the run dir (TRMM_RUN_DIR, default <repo>/.run). Each
# gets SIGTERM, then SIGKILL if it has not exited within TRMM_STOP_TIMEOUT seconds (default 20).
# Postgres and Redis are left alone, as are the logs, quickstart.env (the next quickstart reuses its
# secrets), the agent's enrollment (agent/) and an agent installed with TRMM_AGENT_SYSTEMD=1,
# which is a system service.
set -euo pipefail

LOG_TAG="stop"
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUN_DIR=${TRMM_RUN_DIR:-$TRMM_ROOT/.run}
if [ ! -d "$RUN_DIR" ]; then
  info "nothing to stop: $RUN_DIR does not exist"
  exit 0
fi
exec {RUN_LOCK}>"$RUN_DIR/.lock"
flock -w 30 "$RUN_LOCK" || die "another quickstart.sh or stop.sh is working on $RUN_DIR"

stop_suite "$RUN_DIR" || die "some processes did not stop (pid files left in $RUN_DIR)"
info "stopped everything quickstart started from $RUN_DIR"
if [ -s "$RUN_DIR/agent/systemd-config" ]; then
  info "trmm-agent.service keeps running (it was installed as a system service); remove it with:" \
    "trmm-agent uninstall --config $(<"$RUN_DIR/agent/systemd-config")"
fi
