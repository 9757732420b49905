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
# Test and mirror switches (environment): AI_SANDBOX_STATE_DIR, AI_SANDBOX_LOG_DIR, AI_SANDBOX_MOTD,
# AI_SANDBOX_PIP_ARGS (extra pip arguments, e.g. a local index), AI_SANDBOX_COLLECTIONS_DIR (install
# collections from the tarballs there instead of Galaxy), AI_SANDBOX_VALIDATE_ONLY=1 (validate, write
# the extra-vars file, stop).
set -euo pipefail
umask 077

state_dir=${AI_SANDBOX_STATE_DIR:-/var/lib/ai-sandbox}
log_dir=${AI_SANDBOX_LOG_DIR:-/var/log/ai-sandbox}
motd=${AI_SANDBOX_MOTD:-/etc/motd}
venv=$state_dir/venv
vars_file=$state_dir/extra-vars.json
status_file=$state_dir/first-boot.json
log=$log_dir/first-boot.log
default_repo=https://github.com/oneclick-ai/ai_sandbox.git

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

fail_input() {
  echo "ai-sandbox: $1" >&2
  write_motd failed "input" "$1" "Redeploy the Linode with a corrected value (Rebuild, or a new Linode)."
  exit 2
}

# A failure or progress message in /etc/motd: state, phase, reason, what to do.
write_motd() {
  local state=$1 phase=$2 reason=$3 todo=$4
  mkdir -p "$(dirname "$motd")"
  {
    echo "==================== One-Click AI Sandbox ===================="
    case $state in
      running) echo "The sandbox is being set up ($phase). This takes a few minutes." ;;
      failed) echo "The sandbox setup FAILED in phase: $phase"
              echo "Reason: $reason"
              echo "What to do: $todo" ;;
    esac
    echo "Follow or read the log: tail -f $log"
    echo "=============================================================="
  } > "$motd.tmp"
  chmod 0644 "$motd.tmp"
  mv "$motd.tmp" "$motd"
}

model_id=$(udf model_id "mistralai/Mistral-7B-Instruct-v0.3")
hf_token=$(udf hf_token_password "")
ui_auth=$(udf ui_auth "no")
repo_url=$(udf repo_url "$default_repo")
repo_ref=$(udf repo_ref "main")

mkdir -p "$state_dir" "$log_dir"
chmod 0700 "$state_dir"

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

# The values travel as environment variables into python3, which writes them as JSON: no quoting
# of user input by the shell, no value on a command line.
MODEL_ID_VALUE=$model_id HF_TOKEN_VALUE=$hf_token UI_AUTH_VALUE=$ui_auth python3 - "$vars_file" <<'PY'
import json, os, sys
values = {
    "vllm_service_model": os.environ["MODEL_ID_VALUE"],
    "vllm_service_hf_token": os.environ["HF_TOKEN_VALUE"],
    "open_webui_auth": os.environ["UI_AUTH_VALUE"] == "yes",
    "ai_sandbox_hosts": "localhost",
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
write_motd running "bootstrap" "" ""

phase() {
  echo "ai-sandbox: phase $1 at $(date -u +%FT%TZ)"
  printf '{"phase": "%s", "state": "running", "at": "%s"}\n' "$1" "$(date -u +%FT%TZ)" > "$status_file"
  write_motd running "$1" "" ""
}

on_error() {
  local rc=$?
  printf '{"phase": "%s", "state": "failed", "exit_code": %d, "at": "%s"}\n' \
    "${current_phase:-bootstrap}" "$rc" "$(date -u +%FT%TZ)" > "$status_file"
  write_motd failed "${current_phase:-bootstrap}" "the step exited with code $rc; the log's last lines say why" \
    "Read $log, fix the cause, then run: systemctl start ai-sandbox-first-boot"
  exit "$rc"
}
trap on_error ERR

# Resume after a reboot (the driver may need one) and make re-runs possible: a oneshot unit that
# runs this script again at boot until it has finished once.
current_phase=bootstrap
phase bootstrap
script_copy=$state_dir/first-boot.sh
if [ "$(readlink -f "$0")" != "$script_copy" ]; then
  install -m 0700 "$0" "$script_copy"
fi
env_copy=$state_dir/first-boot.env
: > "$env_copy"
chmod 0600 "$env_copy"
for name in model_id hf_token_password ui_auth repo_url repo_ref; do
  printf '%s=%q\n' "$name" "$(udf "$name" "")" >> "$env_copy"
done
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  cat > /etc/systemd/system/ai-sandbox-first-boot.service <<UNIT
[Unit]
Description=One-Click AI Sandbox first boot (resumes after a reboot)
After=network-online.target
Wants=network-online.target
ConditionPathExists=!$state_dir/first-boot.done

[Service]
Type=oneshot
EnvironmentFile=$env_copy
ExecStart=/bin/bash $script_copy
TimeoutStartSec=3600

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable ai-sandbox-first-boot.service >/dev/null 2>&1 || true
fi

python_minor=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case $python_minor in
  3.10) core_spec="ansible-core>=2.17,<2.18" ;;   # Ubuntu 22.04: the newest core its Python runs
  *) core_spec="ansible-core>=2.17" ;;
esac
if [ ! -x "$venv/bin/ansible-pull" ]; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "python${python_minor}-venv" git
  fi
  command -v git >/dev/null 2>&1 || { apt-get update -q; DEBIAN_FRONTEND=noninteractive apt-get install -y -q git; }
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # AI_SANDBOX_PIP_ARGS is a list of pip options
  "$venv/bin/pip" install -q ${AI_SANDBOX_PIP_ARGS:-} "$core_spec"
fi

current_phase=collections
phase collections
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

current_phase=ansible-pull
phase ansible-pull
# The checkout lands where Ansible finds it as the oneclick.ai_sandbox collection.
export ANSIBLE_COLLECTIONS_PATH=$state_dir/collections
"$venv/bin/ansible-pull" -U "$repo_url" -C "$repo_ref" -d "$state_dir/collections/ansible_collections/oneclick/ai_sandbox" \
  -i localhost, -e "@$vars_file" playbooks/site.yml

touch "$state_dir/first-boot.done"
printf '{"phase": "done", "state": "ready", "at": "%s"}\n' "$(date -u +%FT%TZ)" > "$status_file"
echo "ai-sandbox: first boot finished $(date -u +%FT%TZ)"
