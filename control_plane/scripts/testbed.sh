#!/usr/bin/env bash
# The control plane's test bed: a Docker engine (the repository's testbed.sh starts it), the MariaDB
# 11 and session images (debootstrapped here: no registry is reachable), and a MariaDB server.
# Images are tagged by the hash of their recipe, so an unchanged recipe is never rebuilt.
#
#   control_plane/scripts/testbed.sh images     # engine + the three images
#   control_plane/scripts/testbed.sh db-up      # start MariaDB (sbx-cp-mariadb-test); writes its env file
#   control_plane/scripts/testbed.sh db-down    # remove it
#   control_plane/scripts/testbed.sh env        # print the non-secret variables tests need
#
# The database password is random per start and lives only in a 0600 file (SBX_CP_TESTBED_ENV_FILE,
# default in the cache folder), handed to the container with --env-file: never on a command line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cp_root=$(cd "$here/.." && pwd)
repo_root=$(cd "$cp_root/.." && pwd)
cache_dir=${SBX_CP_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sbx-control-plane}
env_file=${SBX_CP_TESTBED_ENV_FILE:-$cache_dir/testbed.env}
db_container=${SBX_CP_DB_CONTAINER:-sbx-cp-mariadb-test}
debian_mirror=${AI_SANDBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf '[control-plane testbed] %s\n' "$*" >&2; }

recipe_ref() {
  local name=$1
  printf 'sbx-cp/%s:%s' "$name" "$(sha256sum "$cp_root/images/$name.sh" | cut -c1-12)"
}

executor_ref() {
  local hash
  hash=$( (cd "$cp_root" && find images/executor sandbox_executor -type f -name '*.py' -o -type f -name Dockerfile \
      | grep -v __pycache__ | sort | xargs sha256sum; recipe_ref sandbox-base) | sha256sum | cut -c1-12)
  printf 'sbx-cp/python:%s' "$hash"
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

build_recipe() {
  local name=$1 ref
  ref=$(recipe_ref "$name")
  have_image "$ref" && return 0
  command -v debootstrap >/dev/null 2>&1 || { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null; }
  log "building $ref (debootstrap, about a minute)"
  DEBIAN_MIRROR=$debian_mirror bash "$cp_root/images/$name.sh" "$ref" >&2
}

ensure_images() {
  "$repo_root/tests/testbed/testbed.sh" docker
  # The two debootstraps wait on the network more than on the CPU: run them side by side.
  local pids=() name failed=0
  for name in mariadb sandbox-base; do
    build_recipe "$name" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" -eq 0 ] || { log "an image build failed"; exit 1; }
  local ref context
  ref=$(executor_ref)
  if ! have_image "$ref"; then
    log "building $ref"
    context=$(mktemp -d)
    cp "$cp_root/images/executor/Dockerfile" "$context/"
    mkdir -p "$context/sandbox_executor"
    cp "$cp_root"/sandbox_executor/*.py "$context/sandbox_executor/"
    # The legacy builder needs no BuildKit daemon; its deprecation notice goes to the log only.
    DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE_IMAGE=$(recipe_ref sandbox-base)" -t "$ref" "$context" \
      >"$context.log" 2>&1 || { cat "$context.log" >&2; rm -rf "$context" "$context.log"; log "building $ref failed"; exit 1; }
    rm -rf "$context" "$context.log"
  fi
}

db_up() {
  docker rm -f "$db_container" >/dev/null 2>&1 || true
  mkdir -p "$cache_dir"
  local secret_env password port
  password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
  secret_env=$(mktemp)
  chmod 0600 "$secret_env"
  printf 'MARIADB_PASSWORD=%s\nMARIADB_DATABASE=sandbox\nMARIADB_USER=app\n' "$password" >"$secret_env"
  # The host's network, bound to loopback on a free port: a published port would put every query
  # through docker-proxy (measured: a third of the submission latency under load).
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  docker run -d --name "$db_container" --env-file "$secret_env" --network host \
    --label ai.oneclick.sandbox.managed-by=sbx-cp --tmpfs /run/mysqld "$(recipe_ref mariadb)" \
    --bind-address=127.0.0.1 --port="$port" --innodb-buffer-pool-size=128M >/dev/null
  rm -f "$secret_env"
  for _ in $(seq 1 60); do
    if docker exec "$db_container" mariadb-admin --protocol=socket ping >/dev/null 2>&1 \
      && docker exec "$db_container" mariadb --protocol=socket -N -e 'SELECT 1 FROM mysql.user WHERE user="app"' 2>/dev/null | grep -q 1; then
      break
    fi
    sleep 0.5
  done
  docker exec "$db_container" mariadb-admin --protocol=socket ping >/dev/null 2>&1 \
    || { docker logs "$db_container" >&2; log "MariaDB did not start"; exit 1; }
  (umask 077 && printf 'SBX_CP_DATABASE_URL=mariadb+asyncmy://app:%s@127.0.0.1:%s/sandbox\n' "$password" "$port" >"$env_file")
  log "MariaDB $(docker exec "$db_container" mariadb --protocol=socket -N -e 'SELECT VERSION()') on 127.0.0.1:$port"
}

db_down() {
  docker rm -f "$db_container" >/dev/null 2>&1 || true
  rm -f "$env_file"
}

print_env() {
  printf 'export SBX_CP_TEST_EXECUTOR_IMAGE=%q\n' "$(executor_ref)"
  printf 'export SBX_CP_TEST_MARIADB_IMAGE=%q\n' "$(recipe_ref mariadb)"
  printf 'export SBX_CP_TESTBED_ENV_FILE=%q\n' "$env_file"
  printf 'export SBX_CP_DB_CONTAINER=%q\n' "$db_container"
}

case "${1:-}" in
  images) ensure_images ;;
  db-up) ensure_images; db_up ;;
  db-down) db_down ;;
  env) print_env ;;
  *) log "usage: $0 images | db-up | db-down | env"; exit 2 ;;
esac
