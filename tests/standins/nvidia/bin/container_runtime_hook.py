#!/usr/bin/python3
"""STAND-IN for nvidia-container-runtime-hook (NVIDIA Container Toolkit; no GPU here).

dockerd registers its `nvidia` device driver only when this program is on its PATH; a container that
reserves NVIDIA GPUs (compose: deploy.resources.reservations.devices, driver nvidia) then gets it as an
OCI prestart hook: `nvidia-container-runtime-hook prestart`, the container's state on stdin. The real
hook mounts the driver's libraries and /dev/nvidia*; this one records the request in
/var/log/nvidia-container-runtime-hook.log (container id, NVIDIA_VISIBLE_DEVICES) and lets it start.
"""

import json
import os
import sys
import time

LOG = os.environ.get("STANDIN_HOOK_LOG", "/var/log/nvidia-container-runtime-hook.log")


def main(argv):
    if argv[:1] != ["prestart"]:
        sys.stderr.write("nvidia-container-runtime-hook stand-in: only 'prestart' is implemented\n")
        return 2
    state = json.load(sys.stdin)
    visible = ""
    try:
        with open(os.path.join(state.get("bundle", ""), "config.json")) as handle:
            env = json.load(handle).get("process", {}).get("env", [])
        visible = next((e.split("=", 1)[1] for e in env if e.startswith("NVIDIA_VISIBLE_DEVICES=")), "")
    except (OSError, ValueError):
        pass
    with open(LOG, "a") as handle:
        handle.write("%s prestart %s NVIDIA_VISIBLE_DEVICES=%s\n" % (time.strftime("%FT%TZ", time.gmtime()),
                                                                     state.get("id", "?"), visible))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
