#!/bin/sh
# STAND-IN for nvidia-ctk (NVIDIA Container Toolkit 1.17): version and the runtime subcommand's no-op.
case "$1" in
  --version|-v) echo "NVIDIA Container Toolkit CLI version 1.17.8 (stand-in)" ;;
  runtime) echo "nvidia-ctk stand-in: nothing to configure (the docker_gpu role writes daemon.json)" ;;
  *) echo "nvidia-ctk stand-in: '$*' is not implemented" >&2; exit 2 ;;
esac
