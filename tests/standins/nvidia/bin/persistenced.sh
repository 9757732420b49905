#!/bin/sh
# STAND-IN for nvidia-persistenced: the real daemon keeps the GPU initialised; this one only stays up.
exec sleep infinity
