#!/usr/bin/env bash
# One-Click AI Sandbox: first boot of an RTX 4000 Ada Linode (a Linode StackScript).
# Installs the NVIDIA driver, Docker, vLLM (OpenAI API on port 8000) and Open WebUI (port 3000) by
# running the oneclick.ai_sandbox collection's playbooks/site.yml with ansible-pull, logging to
# /var/log/ai-sandbox/first-boot.log and the console, and telling the result in /etc/motd.
#
# <UDF name="model_id" label="Hugging Face model id" default="mistralai/Mistral-7B-Instruct-v0.3" example="mistralai/Mistral-7B-Instruct-v0.3">
# <UDF name="hf_token_password" label="Hugging Face token (gated models such as Mistral need one)" default="" example="hf_...">
# <UDF name="ui_auth" label="Open WebUI login" oneOf="no,yes" default="no" example="no">
# <UDF name="repo_url" label="Advanced: collection repository" default="https://github.com/oneclick-ai/ai_sandbox.git" example="https://github.com/oneclick-ai/ai_sandbox.git">
# <UDF name="repo_ref" label="Advanced: branch, tag or commit" default="main" example="main">
#
# Linode passes each UDF as an environment variable; both MODEL_ID and model_id are accepted.
# Values are validated here and reach Ansible only through a root-only JSON file, never through a
# command line or string interpolation.
#
# Exit codes (also in the status file /var/lib/ai-sandbox/first-boot.json, whose phase and reason
# are the ones /etc/motd shows): 0 ready (or rebooting to load the driver; it resumes by itself),
# 2 input, 3 bootstrap, 4 ansible-pull, 10 driver, 11 docker, 12 model download, 13 image pull,
# 14 engine start, 15 UI ready, 16 another step of the setup.
# Re-running it on a finished host changes nothing; to change the model later, edit
# /var/lib/ai-sandbox/extra-vars.json and run ansible-pull again (the log's first lines show how).
#
# Mirror and test switches (environment): AI_SANDBOX_STATE_DIR, AI_SANDBOX_LOG_DIR, AI_SANDBOX_MOTD,
# AI_SANDBOX_PIP_ARGS (extra pip arguments, e.g. a local index), AI_SANDBOX_COLLECTIONS_DIR (install
# collections from the tarballs there instead of Galaxy), AI_SANDBOX_EXTRA_VARS (a YAML/JSON file of
# site variables read before the UDF values: local image archives, mirrors), AI_SANDBOX_VALIDATE_ONLY=1
# (validate, write the extra-vars file, stop), AI_SANDBOX_SYSTEMD_DIR and AI_SANDBOX_UNIT_DIR (where
# systemd runs and keeps units; for tests).
set -euo pipefail
umask 077

state_dir=${AI_SANDBOX_STATE_DIR:-/var/lib/ai-sandbox}
log_dir=${AI_SANDBOX_LOG_DIR:-/var/log/ai-sandbox}
motd=${AI_SANDBOX_MOTD:-/etc/motd}
venv=$state_dir/venv
vars_file=$state_dir/extra-vars.json
marks_file=$state_dir/boot-marks.json
status_file=$state_dir/first-boot.json
report_file=$state_dir/site-report.json
done_file=$state_dir/first-boot.done
log=$log_dir/first-boot.log
default_repo=https://github.com/oneclick-ai/ai_sandbox.git
rerun_hint="run: systemctl start ai-sandbox-first-boot"
# Where systemd runs and keeps units (switches for the tests; a Linode has the defaults).
systemd_dir=${AI_SANDBOX_SYSTEMD_DIR:-/run/systemd/system}
unit_dir=${AI_SANDBOX_UNIT_DIR:-/etc/systemd/system}

if [ -e "$done_file" ]; then
  echo "ai-sandbox: this sandbox finished its first boot on $(date -u -r "$done_file" +%FT%TZ); nothing to do."
  echo "ai-sandbox: its state: $status_file; to change it, edit $vars_file and run ansible-pull again."
  exit 0
fi

# --- inputs ---------------------------------------------------------------------------------------
# The value of a UDF from its lower- or upper-case environment variable, else the default.
udf() {
  local name=$1 default=$2 upper
  upper=$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')
  if [ -n "${!name+x}" ]; then
    printf '%s' "${!name}"
  elif [ -n "${!upper+x}" ]; then
    printf '%s' "${!upper}"
  else
    printf '%s' "$default"
  fi
}

# /etc/motd while the setup runs, or when it failed before the site playbook could say why:
# state, phase, reason, what to do.
write_motd() {
  local state=$1 phase=$2 reason=$3 todo=$4
  mkdir -p "$(dirname "$motd")"
  {
    echo "==================== One-Click AI Sandbox ===================="
    case $state in
      running) echo "The sandbox is being set up (phase: $phase). This takes a few minutes." ;;
      rebooting) echo "The sandbox is rebooting to load the NVIDIA driver; the setup resumes by itself after boot." ;;
      failed) echo "The sandbox setup FAILED in phase: $phase"
              echo "Reason: $reason"
              echo "What to do: $todo" ;;
    esac
    echo "Full log: $log   (tail -f $log)"
    echo "Status:   $status_file (root only)"
    echo "=============================================================="
  } > "$motd.tmp"
  chmod 0644 "$motd.tmp"
  mv "$motd.tmp" "$motd"
}

# The status file, as JSON written by python3 from environment values (no shell quoting of text):
# state, phase, exit code, reason, what to do, and the site playbook's report (phases, failure) when
# it wrote one during this run.
write_status() {
  STATE=$1 PHASE=$2 EXIT_CODE=$3 REASON=${4:-} TODO=${5:-} REPORT=$report_file SINCE=${pull_started_at:-0} \
    MARKS=$marks_file python3 - "$status_file" <<'PY'
import json, os, sys, time
status = {}
report = os.environ["REPORT"]
if os.path.exists(report) and os.path.getmtime(report) >= float(os.environ["SINCE"] or 0) > 0:
    with open(report) as handle:
        status.update(json.load(handle))
elif os.path.exists(os.environ["MARKS"]):
    with open(os.environ["MARKS"]) as handle:
        marks = json.load(handle)["ai_sandbox_boot_marks"] + [{"phase": "end", "at": time.time()}]
    status["phases"] = [
        {"phase": m["phase"], "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m["at"])),
         "seconds": round(n["at"] - m["at"], 1)}
        for m, n in zip(marks, marks[1:])
    ]
status.update({"state": os.environ["STATE"], "phase": os.environ["PHASE"], "exit_code": int(os.environ["EXIT_CODE"]),
               "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
if os.environ["REASON"]:
    status.update({"reason": os.environ["REASON"], "todo": os.environ["TODO"]})
descriptor = os.open(sys.argv[1] + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(descriptor, "w") as handle:
    json.dump(status, handle, indent=2)
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
PY
}

fail_input() {
  echo "ai-sandbox: $1" >&2
  write_motd failed "input" "$1" "Redeploy the Linode with a corrected value (Rebuild, or a new Linode)."
  write_status failed input 2 "$1" "Redeploy the Linode with a corrected value (Rebuild, or a new Linode)."
  exit 2
}

model_id=$(udf model_id "mistralai/Mistral-7B-Instruct-v0.3")
hf_token=$(udf hf_token_password "")
ui_auth=$(udf ui_auth "no")
repo_url=$(udf repo_url "$default_repo")
repo_ref=$(udf repo_ref "main")
site_vars=${AI_SANDBOX_EXTRA_VARS:-}

mkdir -p "$state_dir" "$log_dir"

model_pattern='^[A-Za-z0-9]([A-Za-z0-9._-]{0,94}[A-Za-z0-9])?/[A-Za-z0-9]([A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$'
if ! [[ $model_id =~ $model_pattern ]] || [[ $model_id == *--* || $model_id == *..* ]]; then
  fail_input "model_id is not a Hugging Face model id (<owner>/<name>, e.g. mistralai/Mistral-7B-Instruct-v0.3): $(printf '%q' "$model_id")"
fi
[[ -z $hf_token || $hf_token =~ ^[A-Za-z0-9_-]{8,200}$ ]] \
  || fail_input "hf_token_password is not a Hugging Face token (letters, digits, '_' and '-', such as hf_...)"
[[ $ui_auth =~ ^(yes|no)$ ]] || fail_input "ui_auth must be yes or no, not $(printf '%q' "$ui_auth")"
[[ $repo_url =~ ^(https://|http://|file:///)[A-Za-z0-9._~:/@%+=-]+$ ]] \
  || fail_input "repo_url must be an https://, http:// or file:/// URL, not $(printf '%q' "$repo_url")"
[[ $repo_ref =~ ^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$ && $repo_ref != *..* ]] \
  || fail_input "repo_ref must be a branch, tag or commit name, not $(printf '%q' "$repo_ref")"
[[ -z $site_vars || ( $site_vars == /* && -f $site_vars ) ]] \
  || fail_input "AI_SANDBOX_EXTRA_VARS must be the absolute path of an existing file, not $(printf '%q' "$site_vars")"

# The values travel as environment variables into python3, which writes them as JSON: no quoting
# of user input by the shell, no value on a command line.
MODEL_ID_VALUE=$model_id HF_TOKEN_VALUE=$hf_token UI_AUTH_VALUE=$ui_auth LOG_VALUE=$log RERUN_VALUE=$rerun_hint \
  ENV_FILE_VALUE=$state_dir/first-boot.env python3 - "$vars_file" <<'PY'
import json, os, sys
values = {
    "vllm_service_model": os.environ["MODEL_ID_VALUE"],
    "vllm_service_hf_token": os.environ["HF_TOKEN_VALUE"],
    "open_webui_auth": os.environ["UI_AUTH_VALUE"] == "yes",
    "ai_sandbox_hosts": "localhost",
    "ai_sandbox_log_file": os.environ["LOG_VALUE"],
    "ai_sandbox_rerun_hint": os.environ["RERUN_VALUE"],
    "ai_sandbox_token_hint": "put it in %s as hf_token_password=hf_..." % os.environ["ENV_FILE_VALUE"],
}
descriptor = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(descriptor, "w") as handle:
    json.dump(values, handle, indent=2)
PY
unset hf_token

if [ "${AI_SANDBOX_VALIDATE_ONLY:-0}" = 1 ]; then
  echo "ai-sandbox: inputs valid; extra vars in $vars_file"
  exit 0
fi

# --- run ------------------------------------------------------------------------------------------
exec > >(tee -a "$log" >/dev/console 2>/dev/null || tee -a "$log") 2>&1
echo "ai-sandbox: first boot started $(date -u +%FT%TZ): model $model_id, collection $repo_url@$repo_ref"

# Each phase's start, for the time to ready (the site playbook adds its own and reports them all).
mark() {
  current_phase=$1
  echo "ai-sandbox: phase $1 at $(date -u +%FT%TZ)"
  PHASE_NAME=$1 python3 - "$marks_file" <<'PY'
import json, os, sys, time
path = sys.argv[1]
marks = []
if os.path.exists(path):
    with open(path) as handle:
        marks = json.load(handle)["ai_sandbox_boot_marks"]
marks.append({"phase": os.environ["PHASE_NAME"], "at": time.time()})
with open(path, "w") as handle:
    json.dump({"ai_sandbox_boot_marks": marks}, handle)
PY
  write_status running "$1" 0
  write_motd running "$1" "" ""
}

# A failure of this script's own steps (the site playbook explains its own failures itself).
# shellcheck disable=SC2317 # invoked by the ERR trap
on_error() {
  local rc=$? code=3
  [ "${current_phase:-bootstrap}" = ansible-pull ] && code=4
  write_status failed "${current_phase:-bootstrap}" "$code" \
    "the $current_phase step exited with code $rc (the log's last lines say why)" \
    "Read $log, fix the cause, then $rerun_hint"
  write_motd failed "${current_phase:-bootstrap}" "the $current_phase step exited with code $rc (the log's last lines say why)" \
    "Read $log, fix the cause, then $rerun_hint"
  exit "$code"
}
set -o errtrace   # the trap also covers failures inside functions
trap on_error ERR

current_phase=bootstrap
if [ -e "$marks_file" ]; then
  # A reboot (the driver's, or a power cut) or a failure stopped the first boot: go on from there, and
  # keep the earlier phases in the time to ready. Packages half-installed at the cut are finished.
  mark resume
  command -v dpkg >/dev/null 2>&1 && dpkg --configure -a
else
  mark bootstrap
fi

# Resume after a reboot (the driver may need one) and make re-runs possible: a oneshot unit that
# runs this script again at boot until it has finished once.
script_copy=$state_dir/first-boot.sh
if [ "$(readlink -f "$0")" != "$(readlink -f "$script_copy")" ]; then
  install -m 0700 "$0" "$script_copy"
fi
env_copy=$state_dir/first-boot.env
UDF_NAMES="model_id hf_token_password ui_auth repo_url repo_ref" python3 - "$env_copy" <<'PY'
import os, sys
# systemd's EnvironmentFile syntax: NAME="value" (the values are validated: no quotes, no backslashes).
names = os.environ["UDF_NAMES"].split()
lines = []
for name in names:
    value = os.environ.get(name, os.environ.get(name.upper()))
    if value is not None:
        lines.append('%s="%s"' % (name, value))
for name in ("AI_SANDBOX_STATE_DIR", "AI_SANDBOX_LOG_DIR", "AI_SANDBOX_MOTD", "AI_SANDBOX_PIP_ARGS",
             "AI_SANDBOX_COLLECTIONS_DIR", "AI_SANDBOX_EXTRA_VARS", "AI_SANDBOX_SYSTEMD_DIR", "AI_SANDBOX_UNIT_DIR"):
    if os.environ.get(name):
        lines.append('%s="%s"' % (name, os.environ[name].replace("\\", "\\\\").replace('"', '\\"')))
descriptor = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(descriptor, "w") as handle:
    handle.write("\n".join(lines) + "\n")
PY
has_systemd() { command -v systemctl >/dev/null 2>&1 && [ -d "$systemd_dir" ]; }
if has_systemd; then
  unit=$unit_dir/ai-sandbox-first-boot.service
  cat > "$unit.tmp" <<UNIT
[Unit]
Description=One-Click AI Sandbox first boot (resumes after a reboot)
After=network-online.target
Wants=network-online.target
ConditionPathExists=!$done_file

[Service]
Type=oneshot
EnvironmentFile=$env_copy
ExecStart=/bin/bash $script_copy
TimeoutStartSec=3600

[Install]
WantedBy=multi-user.target
UNIT
  chmod 0644 "$unit.tmp"
  if cmp -s "$unit.tmp" "$unit"; then rm -f "$unit.tmp"; else mv "$unit.tmp" "$unit"; systemctl daemon-reload; fi
  systemctl enable ai-sandbox-first-boot.service >/dev/null 2>&1 || true
fi

python_minor=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case $python_minor in
  3.10) core_spec="ansible-core>=2.17,<2.18" ;;   # Ubuntu 22.04: the newest core its Python runs
  *) core_spec="ansible-core>=2.17" ;;
esac
if [ ! -x "$venv/bin/ansible-pull" ]; then
  if ! python3 -c 'import ensurepip' >/dev/null 2>&1 || ! command -v git >/dev/null 2>&1; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "python${python_minor}-venv" git
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # AI_SANDBOX_PIP_ARGS is a list of pip options
  "$venv/bin/pip" install -q ${AI_SANDBOX_PIP_ARGS:-} "$core_spec"
fi

requirements=$state_dir/requirements.yml
cat > "$requirements" <<'REQ'
collections:
  - name: community.docker
  - name: community.general
REQ
if [ -n "${AI_SANDBOX_COLLECTIONS_DIR:-}" ]; then
  "$venv/bin/ansible-galaxy" collection install -p "$state_dir/collections" "$AI_SANDBOX_COLLECTIONS_DIR"/*.tar.gz
else
  "$venv/bin/ansible-galaxy" collection install -p "$state_dir/collections" -r "$requirements"
fi

mark ansible-pull
pull_started_at=$(date +%s)
# The checkout lands where Ansible finds it as the oneclick.ai_sandbox collection.
export ANSIBLE_COLLECTIONS_PATH=$state_dir/collections
pull_args=(--full -U "$repo_url" -C "$repo_ref" -d "$state_dir/collections/ansible_collections/oneclick/ai_sandbox" -i "localhost,")
[ -n "$site_vars" ] && pull_args+=(-e "@$site_vars")
pull_args+=(-e "@$vars_file" -e "@$marks_file" playbooks/site.yml)
echo "ai-sandbox: to run the setup again later: ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_COLLECTIONS_PATH $venv/bin/ansible-pull ${pull_args[*]}"
trap - ERR
set +e
"$venv/bin/ansible-pull" "${pull_args[@]}"
rc=$?
set -e

# The site playbook's own report says how it ended; without one from this run it never started.
report_field() {
  REPORT=$report_file FIELD=$1 SINCE=$pull_started_at python3 -c '
import json, os
path = os.environ["REPORT"]
if os.path.exists(path) and os.path.getmtime(path) >= float(os.environ["SINCE"]):
    with open(path) as handle:
        print(json.load(handle).get(os.environ["FIELD"], ""))'
}
if [ "$rc" -eq 0 ]; then
  touch "$done_file"
  systemctl disable ai-sandbox-first-boot.service >/dev/null 2>&1 || true
  write_status ready "done" 0
  echo "ai-sandbox: first boot finished $(date -u +%FT%TZ); the motd has the URLs and the time each phase took"
  exit 0
fi

phase=$(report_field phase)
reason_code=$(report_field reason_code)
if [ -z "$phase" ]; then
  reason="ansible-pull exited with code $rc before the setup started (fetching $repo_url@$repo_ref, or reading playbooks/site.yml)"
  write_status failed ansible-pull 4 "$reason" "Read $log, check the repository URL and ref, then $rerun_hint"
  write_motd failed ansible-pull "$reason" "Read $log, check the repository URL and ref, then $rerun_hint"
  exit 4
fi
if [ "$reason_code" = driver_needs_reboot ] && [ ! -e "$state_dir/rebooted-for-driver" ] \
   && has_systemd; then
  touch "$state_dir/rebooted-for-driver"
  write_status rebooting driver 0
  write_motd rebooting driver "" ""
  echo "ai-sandbox: rebooting to load the NVIDIA driver; ai-sandbox-first-boot.service resumes after boot"
  systemctl reboot
  exit 0
fi
case $phase in
  driver) code=10 ;;
  docker) code=11 ;;
  "model download") code=12 ;;
  "image pull"*) code=13 ;;
  "engine start") code=14 ;;
  "UI ready") code=15 ;;
  *) code=16 ;;
esac
# The site playbook wrote /etc/motd (phase, reason, what to do, this log); the status file takes the
# same reason and what to do from its report.
write_status failed "$phase" "$code"
echo "ai-sandbox: first boot FAILED in phase $phase: $(report_field reason) (exit code $code)"
exit "$code"
