#!/usr/bin/env bash
# The Linode API emulator's hooks in the lab (tests/e2e/lab.py): a new "Linode" is a Debian 12 systemd
# container on the lab's Docker network, and its StackScript runs at first boot the way Linode runs it:
# as root, with each UDF value in an upper-case environment variable (Akamai's own Marketplace scripts
# read user_name as $USER_NAME), plus the lab's mirror switches.
#
#   linode-hook.sh boot ID LABEL STACKSCRIPT_FILE STACKSCRIPT_DATA_JSON [IMAGE]   prints the machine's address
#   linode-hook.sh delete ID LABEL
#   linode-hook.sh capture ID LABEL IMAGE_NUMBER     the machine's container committed as ai-sandbox-golden:N
#   linode-hook.sh image-delete IMAGE_NUMBER         that committed image removed
# A machine created from private/N boots from ai-sandbox-golden:N instead of $AI_SANDBOX_BASE_IMAGE (what
# a capture takes is the container's file system; its Docker data lives in a volume and is not taken).
#
# Environment (set by the lab): AI_SANDBOX_LAB, AI_SANDBOX_LAB_DIR, AI_SANDBOX_LAB_MIRROR,
# AI_SANDBOX_BASE_IMAGE, AI_SANDBOX_LAB_OS_BOOT_SECONDS (power-on to StackScript, the profile's).
# $AI_SANDBOX_LAB_DIR/machine/preboot/all.sh and then preboot/LABEL.sh, when present, run in the machine
# before the StackScript (the real-scale profile prepares machines that way; a test puts a program on
# port 8000). With $AI_SANDBOX_LAB_DIR/machine/gpu/pci (real-scale), the machine gets a copy of that PCI
# device tree on /sys/bus/pci/devices: the stand-in GPU. The hook notes when it powered the machine on
# and when the StackScript started in $AI_SANDBOX_LAB_DIR/boot-LABEL.json.
set -euo pipefail

action=$1 label=${3:-}
machine=ai-sandbox-linode-$label
network=ai-sandbox-e2e

log() { printf '[linode-hook] %s: %s\n' "$label" "$*" >&2; }

if [ "$action" = image-delete ]; then
  docker image rm "ai-sandbox-golden:$2" >/dev/null 2>&1 || true
  printf '[linode-hook] image private/%s: deleted\n' "$2" >&2
  exit 0
fi

if [ "$action" = capture ]; then
  docker commit --pause=false -c 'CMD ["/lib/systemd/systemd"]' "$machine" "ai-sandbox-golden:$4" >/dev/null
  log "captured as ai-sandbox-golden:$4 (private/$4)"
  exit 0
fi

if [ "$action" = delete ]; then
  docker rm -f "$machine" >/dev/null 2>&1 || true
  docker volume rm -f "$machine-docker" >/dev/null 2>&1 || true
  rm -rf "${AI_SANDBOX_LAB_DIR:?}/machines/$label"
  log "deleted"
  exit 0
fi

script=$4 data=$5 image=${6:-}
base=$AI_SANDBOX_BASE_IMAGE
if [[ $image =~ ^private/([0-9]+)$ ]]; then
  base=ai-sandbox-golden:${BASH_REMATCH[1]}
  log "booting from the captured image $image ($base)"
fi
docker rm -f "$machine" >/dev/null 2>&1 || true
docker volume rm -f "$machine-docker" >/dev/null 2>&1 || true
rm -rf "${AI_SANDBOX_LAB_DIR:?}/machines/$label"
gpu=()
if [ -d "$AI_SANDBOX_LAB_DIR/machine/gpu/pci" ]; then
  mkdir -p "$AI_SANDBOX_LAB_DIR/machines/$label"
  cp -a "$AI_SANDBOX_LAB_DIR/machine/gpu/pci" "$AI_SANDBOX_LAB_DIR/machines/$label/pci"
  # A rebooted Linode comes back (systemd in a container exits on reboot and poweroff; Linode's
  # shutdown watchdog boots a Linode that went down by itself): the driver's reboot path needs that.
  gpu=(-v "$AI_SANDBOX_LAB_DIR/machines/$label/pci:/sys/bus/pci/devices" --restart on-failure)
fi
powered_on=$(date +%s.%N)

# A fixed address per label (from its hash), so that it survives the machine's reboots.
start=$(( $(printf '%s' "$label" | cksum | cut -d' ' -f1) % 200 + 20 ))
for offset in $(seq 0 199); do
  address=172.30.99.$(( (start - 20 + offset) % 200 + 20 ))
  # The capabilities that work on engine 20.10 here (as in extensions/molecule/config.yml).
  if docker run -d --name "$machine" --hostname "$label" --network "$network" --ip "$address" \
      --label "ai-sandbox-lab=$AI_SANDBOX_LAB" \
      --cap-add ALL --cap-drop SYS_RESOURCE \
      --security-opt seccomp=unconfined --security-opt apparmor=unconfined --cgroupns host \
      -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v "$machine-docker:/var/lib/docker" \
      --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
      -v "$AI_SANDBOX_LAB_MIRROR:/srv/ai-sandbox-mirror:ro" -v "$AI_SANDBOX_LAB_DIR/machine:/srv/ai-sandbox-lab:ro" \
      "${gpu[@]}" "$base" /lib/systemd/systemd >/dev/null 2>"$AI_SANDBOX_LAB_DIR/hook-$label.err"; then
    break
  fi
  docker rm -f "$machine" >/dev/null 2>&1 || true
  grep -q 'Address already in use' "$AI_SANDBOX_LAB_DIR/hook-$label.err" || { cat "$AI_SANDBOX_LAB_DIR/hook-$label.err" >&2; exit 1; }
done

for _ in $(seq 1 60); do
  state=$(docker exec "$machine" systemctl is-system-running 2>/dev/null || true)
  case $state in running|degraded) break ;; esac
  sleep 1
done
log "booted at $address ($state)"

# The StackScript and its environment: the UDF values in upper case, then the lab's switches; a
# launcher turns them into the environment, so no value passes through a shell or a command line.
docker cp "$script" "$machine:/root/StackScript"
python3 - "$data" "$AI_SANDBOX_LAB_DIR/machine/switches.json" > "$AI_SANDBOX_LAB_DIR/env-$label.json" <<'PY'
import json, sys
with open(sys.argv[1]) as handle:
    values = {name.upper(): str(value) for name, value in json.load(handle).items()}
with open(sys.argv[2]) as handle:
    values.update(json.load(handle))
json.dump(values, sys.stdout)
PY
chmod 0600 "$AI_SANDBOX_LAB_DIR/env-$label.json"
docker cp "$AI_SANDBOX_LAB_DIR/env-$label.json" "$machine:/root/StackScript.env.json"
rm -f "$AI_SANDBOX_LAB_DIR/env-$label.json"
docker exec -i "$machine" sh -c 'cat > /root/launch-stackscript.py' <<'PY'
import json, os, sys, time
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)  # the rest of the OS's boot (the lab profile's)
with open("/root/StackScript.env.json") as handle:
    os.environ.update(json.load(handle))
os.execv("/bin/bash", ["bash", "/root/StackScript"])
PY
docker exec "$machine" chmod 0700 /root/StackScript /root/launch-stackscript.py
docker exec "$machine" chmod 0600 /root/StackScript.env.json

for preboot in all "$label"; do
  if [ -f "$AI_SANDBOX_LAB_DIR/machine/preboot/$preboot.sh" ]; then
    log "running preboot/$preboot.sh"
    docker exec -i "$machine" bash < "$AI_SANDBOX_LAB_DIR/machine/preboot/$preboot.sh"
  fi
done

# The StackScript starts when the OS has booted: what the container took so far counts towards that.
os_boot_left=$(python3 -c 'import sys, time; print(max(float(sys.argv[1]) - (time.time() - float(sys.argv[2])), 0))' \
  "${AI_SANDBOX_LAB_OS_BOOT_SECONDS:-0}" "$powered_on")
docker exec "$machine" systemd-run --unit linode-stackscript -p RemainAfterExit=yes \
  /usr/bin/python3 /root/launch-stackscript.py "$os_boot_left" >/dev/null
python3 -c 'import json, sys, time; json.dump({"powered_on_at": float(sys.argv[1]),
  "stackscript_starts_at": time.time() + float(sys.argv[2])}, open(sys.argv[3], "w"))' \
  "$powered_on" "$os_boot_left" "$AI_SANDBOX_LAB_DIR/boot-$label.json"
log "StackScript started (after $os_boot_left s more of the OS's boot)"
echo "$address"
