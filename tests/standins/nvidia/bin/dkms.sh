#!/bin/sh
# STAND-IN for dkms: `dkms status` lists the stand-in module once the stand-in build has run.
case "$1" in
  status)
    for module in /lib/modules/*/updates/dkms/nvidia.ko; do
      [ -e "$module" ] && echo "nvidia/580.95.05, $(basename "$(dirname "$(dirname "$(dirname "$module")")")"), x86_64: installed"
    done ;;
  *) echo "dkms stand-in: '$*' is not implemented" >&2; exit 2 ;;
esac
