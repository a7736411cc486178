#!/bin/sh
# Run by the trmm-init Job (k8s/init/job.yaml) in the trmm-rs image: creates the Secret $SECRET_NAME
# (default trmm-nats) with this deployment's NATS keys and passwords, once. When the Secret exists
# it is left alone, so re-running the Job never changes the keys.
#
# `trmm-nats-api nats-config` writes nats-server.env (public keys, bcrypt hashes: nats-server's
# environment) and services.env (passwords, seeds: trmm-nats-api's environment) as KEY='value'
# lines; every line becomes one key of the Secret. The files live in an emptyDir only while this
# runs. No kubectl: the Secret is created through the API server with the pod's service account
# (k8s/init/rbac.yaml: get on this Secret, create on Secrets).
#
# Settings (environment): SECRET_NAME [trmm-nats], NAMESPACE [the pod's], WORK_DIR [/tmp/nats-config],
# SA_DIR [/var/run/secrets/kubernetes.io/serviceaccount], K8S_API [https://kubernetes.default.svc].
set -eu

SECRET_NAME=${SECRET_NAME:-trmm-nats}
SA_DIR=${SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
# The API server by its in-cluster DNS name (also right on IPv6 clusters, unlike $KUBERNETES_SERVICE_HOST).
K8S_API=${K8S_API:-https://kubernetes.default.svc}
NAMESPACE=${NAMESPACE:-$(cat "$SA_DIR/namespace")}
WORK_DIR=${WORK_DIR:-/tmp/nats-config}
SECRETS_URL=$K8S_API/api/v1/namespaces/$NAMESPACE/secrets

umask 077
mkdir -p "$WORK_DIR"
trap 'rm -rf "$WORK_DIR/out" "$WORK_DIR/secret.json" "$WORK_DIR/answer.json"' EXIT

# api METHOD URL [BODY_FILE]: prints the HTTP status; the answer is in $WORK_DIR/answer.json.
# The token is read on every call: projected service account tokens are rotated.
api() {
  method=$1 url=$2 body=${3:-}
  if [ -n "$body" ]; then set -- --data-binary "@$body"; else set --; fi
  curl -sS -m 30 --cacert "$SA_DIR/ca.crt" \
    -H "Authorization: Bearer $(cat "$SA_DIR/token")" \
    -H 'Content-Type: application/json' -H 'Accept: application/json' \
    -X "$method" -o "$WORK_DIR/answer.json" -w '%{http_code}' "$@" "$url"
}

status=$(api GET "$SECRETS_URL/$SECRET_NAME")
case $status in
  200)
    echo "Secret $NAMESPACE/$SECRET_NAME exists: keeping the NATS keys"
    exit 0
    ;;
  404) ;;
  *)
    echo "reading Secret $NAMESPACE/$SECRET_NAME failed (HTTP $status):" >&2
    cat "$WORK_DIR/answer.json" >&2
    exit 1
    ;;
esac

trmm-nats-api nats-config --out-dir "$WORK_DIR/out"

# KEY='value' -> "KEY":"value". The values are nkeys, user names, alphanumeric passwords and
# bcrypt hashes, so they need no JSON escaping; anything else is refused rather than mangled.
q="'"
pairs=$(sed -n "s/^\([A-Z][A-Z0-9_]*\)=${q}\([A-Za-z0-9\$./_-]*\)${q}\$/\"\1\":\"\2\"/p" \
  "$WORK_DIR/out/nats-server.env" "$WORK_DIR/out/services.env")
expected=$(cat "$WORK_DIR/out/nats-server.env" "$WORK_DIR/out/services.env" | grep -cv -e '^#' -e '^$' || true)
found=$(printf '%s\n' "$pairs" | grep -c . || true)
if [ "$expected" -eq 0 ] || [ "$found" -ne "$expected" ]; then
  echo "unexpected nats-config output: $found of $expected lines are KEY='value' with a plain value" >&2
  exit 1
fi

{
  printf '{"apiVersion":"v1","kind":"Secret","type":"Opaque",'
  printf '"metadata":{"name":"%s","labels":{"app.kubernetes.io/part-of":"trmm-rs","app.kubernetes.io/managed-by":"trmm-init"},' "$SECRET_NAME"
  printf '"annotations":{"trmm-rs/generated-by":"trmm-nats-api nats-config"}},'
  printf '"stringData":{%s}}\n' "$(printf '%s\n' "$pairs" | paste -sd, -)"
} >"$WORK_DIR/secret.json"

status=$(api POST "$SECRETS_URL" "$WORK_DIR/secret.json")
case $status in
  201) echo "created Secret $NAMESPACE/$SECRET_NAME ($found keys)" ;;
  409) echo "Secret $NAMESPACE/$SECRET_NAME was created meanwhile (another run): keeping it" ;;
  *)
    echo "creating Secret $NAMESPACE/$SECRET_NAME failed (HTTP $status):" >&2
    cat "$WORK_DIR/answer.json" >&2
    exit 1
    ;;
esac
