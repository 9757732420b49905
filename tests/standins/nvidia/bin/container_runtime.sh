#!/bin/sh
# STAND-IN for nvidia-container-runtime (NVIDIA Container Toolkit): the real one adds its prestart hook
# and hands the container to runc; with no GPU here it hands it straight to runc.
exec runc "$@"
