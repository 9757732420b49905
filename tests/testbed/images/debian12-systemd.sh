#!/usr/bin/env bash
# Recipe: a Debian 12 (bookworm) root file system with systemd as PID 1, imported as a Docker image.
# It stands in for a fresh cloud instance. testbed.sh tags the image by the hash of this file, so
# any edit here builds a new image.
#
#   debian12-systemd.sh IMAGE_REF
set -euo pipefail

ref=$1
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase \
  --include=python3,python3-apt,systemd,systemd-sysv,dbus,sudo,ca-certificates,iproute2,kmod,procps \
  bookworm "$rootfs" "$mirror" >/dev/null

# A container has no consoles or hardware to wait for: mask the units that would hang or fail.
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
  systemd-remount-fs.service sys-kernel-debug.mount sys-kernel-tracing.mount; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar -C "$rootfs" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' - "$ref" >/dev/null
echo "built $ref"
