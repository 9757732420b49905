#!/usr/bin/env bash
# The Linode API emulator's hooks in the lab (tests/e2e/lab.py): a new "Linode" is a Debian 12 systemd
# container on the lab's Docker network, and its StackScript runs at first boot the way Linode runs it:
# as root, with each UDF value in an upper-case environment variable (Akamai's own Marketplace scripts
# read user_name as $USER_NAME), plus the lab's mirror switches.
#
#   linode-hook.sh boot ID LABEL STACKSCRIPT_FILE STACKSCRIPT_DATA_JSON   prints the machine's address
#   linode-hook.sh delete ID LABEL
#
# Environment (set by the lab): AI_SANDBOX_LAB, AI_SANDBOX_LAB_DIR, AI_SANDBOX_LAB_MIRROR,
# AI_SANDBOX_BASE_IMAGE. A file $AI_SANDBOX_LAB_DIR/machine/preboot/LABEL.sh, when present, runs in the
# machine before the StackScript (a test puts a program on port 8000 that way).
set -euo pipefail

action=$1 label=$3
machine=ai-sandbox-linode-$label
network=ai-sandbox-e2e

log() { printf '[linode-hook] %s: %s\n' "$label" "$*" >&2; }

if [ "$action" = delete ]; then
  docker rm -f "$machine" >/dev/null 2>&1 || true
  docker volume rm -f "$machine-docker" >/dev/null 2>&1 || true
  log "deleted"
  exit 0
fi

script=$4 data=$5
docker rm -f "$machine" >/dev/null 2>&1 || true
docker volume rm -f "$machine-docker" >/dev/null 2>&1 || true

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
      "$AI_SANDBOX_BASE_IMAGE" /lib/systemd/systemd >/dev/null 2>"$AI_SANDBOX_LAB_DIR/hook-$label.err"; then
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
import json, os
with open("/root/StackScript.env.json") as handle:
    os.environ.update(json.load(handle))
os.execv("/bin/bash", ["bash", "/root/StackScript"])
PY
docker exec "$machine" chmod 0700 /root/StackScript /root/launch-stackscript.py
docker exec "$machine" chmod 0600 /root/StackScript.env.json

if [ -f "$AI_SANDBOX_LAB_DIR/machine/preboot/$label.sh" ]; then
  log "running preboot/$label.sh"
  docker exec -i "$machine" bash < "$AI_SANDBOX_LAB_DIR/machine/preboot/$label.sh"
fi

docker exec "$machine" systemd-run --unit linode-stackscript -p RemainAfterExit=yes \
  /usr/bin/python3 /root/launch-stackscript.py >/dev/null
log "StackScript started"
echo "$address"
