#!/usr/bin/env bash
# The control plane's test stage (`make control-plane`) and benchmark (`make bench-control-plane`).
#
#   control_plane/scripts/stage.sh          lint (ruff, mypy), unit, contract, conformance, integration
#   control_plane/scripts/stage.sh bench    the benchmark table (not a test: it asserts nothing)
#
# Expects the environment made by `make` (control_plane/.venv). Starts what it needs: the Docker
# engine (tests/testbed/testbed.sh), the images (built once, cached by recipe hash) and a MariaDB
# server that it removes again on exit, together with any session container a failed test left.
set -euo pipefail

cd "$(dirname "$0")/.."
bin=.venv/bin
export PATH="$PWD/$bin:$PATH" PYTHONDONTWRITEBYTECODE=1
stage_started=$(date +%s)

say() { printf '[control-plane] %s\n' "$*"; }
timed() {
  local label=$1 started
  shift
  started=$(date +%s)
  "$@"
  say "$label: $(($(date +%s) - started)) s"
}

cleanup() {
  scripts/testbed.sh db-down || true
  # Session containers a failed test may have left (only ours: name prefix and label).
  docker ps -aq --filter label=ai.oneclick.sandbox.managed-by=sbx-cp --filter name=sbx-cp-ses- \
    | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker volume ls -q --filter label=ai.oneclick.sandbox.managed-by=sbx-cp --filter name=sbx-cp-ws- \
    | xargs -r docker volume rm -f >/dev/null 2>&1 || true
}

start_testbed() {
  timed "test bed (engine, images, MariaDB)" scripts/testbed.sh db-up
  trap cleanup EXIT
  eval "$(scripts/testbed.sh env)"
  export SBX_CP_TEST_EXECUTOR_IMAGE SBX_CP_TESTBED_ENV_FILE
  say "database: MariaDB $(docker exec "$SBX_CP_DB_CONTAINER" mariadb --protocol=socket -N -e 'SELECT VERSION()')"
}

case "${1:-test}" in
  test)
    timed "lint" bash -c 'ruff check . && ruff format --check . && mypy'
    timed "unit" pytest -q -p no:cacheprovider tests/unit
    start_testbed
    timed "contract" pytest -q -p no:cacheprovider tests/contract
    # Both runtimes: Docker on the engine, Kubernetes on the emulator (a real cluster if KUBECONFIG is set).
    timed "conformance" pytest -q -rs -p no:cacheprovider tests/conformance
    # -s: the bubblewrap test prints what the inner layer costs.
    timed "integration" pytest -q -s -p no:cacheprovider tests/integration
    say "stage passed in $(($(date +%s) - stage_started)) s"
    ;;
  bench)
    start_testbed
    python -m bench.control_plane_bench
    # 1000 sessions live on one instance: each holds a claim connection, and the emulator a few.
    ulimit -n 20000
    python -m bench.scale_bench
    ;;
  *) say "usage: $0 [test|bench]"; exit 2 ;;
esac
