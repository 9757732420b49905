#!/usr/bin/env bash
# Recipe: the base of session images, a minimal Debian 12 (bookworm) with Python 3 and bubblewrap,
# debootstrapped and imported as a Docker image (no registry is reachable here). It has a `sandbox`
# user 1000:1000 and an empty /workspace it owns; images/executor/Dockerfile adds our executor on top.
# The control plane's test bed tags the image by the hash of this file.
#
#   sandbox-base.sh IMAGE_REF
set -euo pipefail

ref=$1
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase --include=python3,bubblewrap,ca-certificates bookworm "$rootfs" "$mirror" >/dev/null

echo 'sandbox:x:1000:1000:sandbox:/workspace:/bin/sh' >>"$rootfs/etc/passwd"
echo 'sandbox:x:1000:' >>"$rootfs/etc/group"
echo 'sandbox:!:19000::::::' >>"$rootfs/etc/shadow"
install -d -o 1000 -g 1000 -m 0755 "$rootfs/workspace"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

tar -C "$rootfs" -c . | docker import -c 'USER 1000:1000' -c 'WORKDIR /workspace' \
  -c 'LABEL ai.oneclick.sandbox.component=sandbox-base' - "$ref" >/dev/null
echo "built $ref"
