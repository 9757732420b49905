#!/usr/bin/env bash
# One-Click AI Sandbox: first boot of an RTX 4000 Ada Linode (a Linode StackScript).
# Installs the NVIDIA driver, Docker, vLLM (OpenAI API on port 8000) and Open WebUI (port 3000) by
# running the oneclick.ai_sandbox collection's playbooks/site.yml with ansible-pull, logging to
# /var/log/ai-sandbox/first-boot.log and the console, and telling the result in /etc/motd.
#
# <UDF name="model_id" label="Hugging Face model id" default="mistralai/Mistral-7B-Instruct-v0.3" example="mistralai/Mistral-7B-Instruct-v0.3">
# <UDF name="hf_token_password" label="Hugging Face token (gated models such as Mistral need one)" default="" example="hf_...">
# <UDF name="ui_auth" label="Open WebUI login" oneOf="no,yes" default="no" example="no">
# <UDF name="api_key_password" label="API key for port 8000 (empty: none; generate: make one, kept in /opt/ai-sandbox/vllm.env)" default="" example="generate">
# <UDF name="repo_url" label="Advanced: collection repository" default="https://github.com/oneclick-ai/ai_sandbox.git" example="https://github.com/oneclick-ai/ai_sandbox.git">
# <UDF name="repo_ref" label="Advanced: branch, tag or commit" default="main" example="main">
#
# Linode passes each UDF as an environment variable; both MODEL_ID and model_id are accepted.
# Values are validated by the helper below and reach Ansible only through root-only JSON files, never
# through a command line or string interpolation.
#
# Exit codes (also in the status file /var/lib/ai-sandbox/first-boot.json, whose phase and reason are
# the ones /etc/motd shows): 0 ready (or rebooting to load the driver; it resumes by itself), 2 input,
# 3 bootstrap, 4 ansible-pull, 10 driver, 11 docker, 12 model download, 13 image pull, 14 engine start,
# 15 UI ready, 16 another step. They come from one table, the collection's
# plugins/module_utils/sandbox_contract.py; after ansible-pull, from the site playbook's report.
# Re-running it on a finished host changes nothing; to change the model later, edit
# /var/lib/ai-sandbox/extra-vars.json and run ansible-pull again (the log's first lines show how).
#
# Mirror and test switches (environment): AI_SANDBOX_STATE_DIR, AI_SANDBOX_LOG_DIR, AI_SANDBOX_MOTD,
# AI_SANDBOX_PIP_ARGS (extra pip arguments, e.g. a local index), AI_SANDBOX_COLLECTIONS_DIR (install
# the pinned collections from the tarballs there instead of Galaxy), AI_SANDBOX_EXTRA_VARS (a YAML/JSON
# file of site variables read before the UDF values: local image archives, mirrors),
# AI_SANDBOX_VALIDATE_ONLY=1 (validate, write the extra-vars file, stop), AI_SANDBOX_SYSTEMD_DIR and
# AI_SANDBOX_UNIT_DIR (where systemd runs and keeps units), AI_SANDBOX_CONSOLE (where the log is
# echoed besides the log file; /dev/console). The last three are for tests.
#
# The helper and the contract at the end of this file are copies made by `make stackscript` from
# stackscripts/first_boot_helper.py and plugins/module_utils/sandbox_contract.py: edit those.
set -euo pipefail
umask 077

main() {
  state_dir=${AI_SANDBOX_STATE_DIR:-/var/lib/ai-sandbox}
  log_dir=${AI_SANDBOX_LOG_DIR:-/var/log/ai-sandbox}
  venv=$state_dir/venv
  vars_file=$state_dir/extra-vars.json
  marks_file=$state_dir/boot-marks.json
  done_file=$state_dir/first-boot.done
  helper_dir=$state_dir/lib
  log=$log_dir/first-boot.log
  console=${AI_SANDBOX_CONSOLE:-/dev/console}
  # Where systemd runs and keeps units (switches for the tests; a Linode has the defaults).
  systemd_dir=${AI_SANDBOX_SYSTEMD_DIR:-/run/systemd/system}
  unit_dir=${AI_SANDBOX_UNIT_DIR:-/etc/systemd/system}

  if [ -e "$done_file" ]; then
    echo "ai-sandbox: this sandbox finished its first boot on $(date -u -r "$done_file" +%FT%TZ); nothing to do."
    echo "ai-sandbox: its state: $state_dir/first-boot.json; to change it, edit $vars_file and run ansible-pull again."
    exit 0
  fi

  mkdir -p "$state_dir" "$log_dir"
  write_helper
  helper() { python3 "$helper_dir/first_boot_helper.py" "$@"; }
  has_systemd() { command -v systemctl >/dev/null 2>&1 && [ -d "$systemd_dir" ]; }

  # --- inputs ---------------------------------------------------------------------------------------
  # On a bad value the helper writes the motd and the status file, and says which field and why.
  helper validate || exit $?
  if [ "${AI_SANDBOX_VALIDATE_ONLY:-0}" = 1 ]; then
    echo "ai-sandbox: inputs valid; extra vars in $vars_file"
    exit 0
  fi
  start_status_page
  model_id=$(helper get model_id)
  repo_url=$(helper get repo_url)
  repo_ref=$(helper get repo_ref)
  site_vars=${AI_SANDBOX_EXTRA_VARS:-}

  # --- run ------------------------------------------------------------------------------------------
  exec > >(tee -a "$log" >"$console" 2>/dev/null || tee -a "$log") 2>&1
  echo "ai-sandbox: first boot started $(date -u +%FT%TZ): model $model_id, collection $repo_url@$repo_ref"

  # Each phase's start, for the time to ready (the site playbook adds its own and reports them all).
  mark() {
    current_phase=$1
    helper mark "$1"
  }

  # A failure of this script's own steps (the site playbook explains its own failures itself).
  # shellcheck disable=SC2317 # invoked by the ERR trap
  on_error() {
    local rc=$? class=bootstrap_failed code
    [ "${current_phase:-bootstrap}" = ansible_pull ] && class=pull_failed
    code=$(helper fail "$class" "step=${current_phase:-bootstrap}" "code=$rc" "repo=$repo_url@$repo_ref")
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
  helper env-file
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

  core_spec=$(helper core-spec)
  python_minor=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ ! -x "$venv/bin/ansible-pull" ]; then
    if ! python3 -c 'import ensurepip' >/dev/null 2>&1 || ! command -v git >/dev/null 2>&1; then
      # apt-daily and unattended-upgrades hold apt's lock for minutes after a first boot: wait, bounded.
      echo "ai-sandbox: installing python${python_minor}-venv and git (waiting up to 10 min for apt's lock if another job holds it)"
      apt-get -o DPkg::Lock::Timeout=600 update -q
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q "python${python_minor}-venv" git
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086 # AI_SANDBOX_PIP_ARGS is a list of pip options
    "$venv/bin/pip" install -q ${AI_SANDBOX_PIP_ARGS:-} "$core_spec"
  fi

  # The collections the roles use, at the versions of the collection's requirements.yml.
  if [ -n "${AI_SANDBOX_COLLECTIONS_DIR:-}" ]; then
    mapfile -t tarballs < <(helper collections "$AI_SANDBOX_COLLECTIONS_DIR")
    "$venv/bin/ansible-galaxy" collection install -p "$state_dir/collections" "${tarballs[@]}"
  else
    "$venv/bin/ansible-galaxy" collection install -p "$state_dir/collections" -r "$(helper collections)"
  fi

  mark ansible_pull
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

  # The site playbook's report says how it ended (its phase and exit code, from the contract); without
  # one from this run, ansible-pull never started the play.
  reboot_allowed=0
  if has_systemd && [ ! -e "$state_dir/rebooted-for-driver" ]; then reboot_allowed=1; fi
  outcome=$(AI_SANDBOX_REBOOT_ALLOWED=$reboot_allowed helper finish "$rc" "$pull_started_at")
  case $outcome in
    ready)
      touch "$done_file"
      if has_systemd; then systemctl disable ai-sandbox-first-boot.service >/dev/null 2>&1 || true; fi
      echo "ai-sandbox: first boot finished $(date -u +%FT%TZ); the motd has the URLs and the time each phase took"
      exit 0 ;;
    reboot)
      touch "$state_dir/rebooted-for-driver"
      helper rebooting
      echo "ai-sandbox: rebooting to load the NVIDIA driver; ai-sandbox-first-boot.service resumes after boot"
      systemctl reboot
      exit 0 ;;
    *)
      code=${outcome#failed }
      echo "ai-sandbox: first boot FAILED (exit code $code); /etc/motd and $state_dir/first-boot.json say why"
      exit "$code" ;;
  esac
}

# The status page on port 3000 and the progress in /etc/motd, from the first seconds until Open WebUI
# takes over (the site playbook stops it then). AI_SANDBOX_STATUS_PAGE=0 leaves it off (tests).
start_status_page() {
  [ "${AI_SANDBOX_STATUS_PAGE:-1}" = 1 ] || return 0
  local server=("$(command -v python3)" "$helper_dir/first_boot_helper.py")
  if has_systemd; then
    systemctl is-active --quiet ai-sandbox-status.service && return 0
    systemctl reset-failed ai-sandbox-status.service >/dev/null 2>&1 || true
    local setenv=() name
    for name in AI_SANDBOX_STATE_DIR AI_SANDBOX_LOG_DIR AI_SANDBOX_MOTD AI_SANDBOX_STATUS_DIRECT; do
      [ -n "${!name:-}" ] && setenv+=(--setenv "$name=${!name}")
    done
    systemd-run --quiet --unit ai-sandbox-status --description "One-Click AI Sandbox status page (port 3000, until Open WebUI is ready)" \
      --property "ExecStopPost=${server[*]} status-cleanup" "${setenv[@]}" "${server[@]}" status-serve \
      || echo "ai-sandbox: the status page did not start (the setup goes on without it)"
  else
    nohup "${server[@]}" status-serve >>"$log" 2>&1 < /dev/null &
  fi
}

# >>> generated by stackscripts/build.py (make stackscript): do not edit by hand
# The failure contract and the helper, written beside each other (they are copies of
# plugins/module_utils/sandbox_contract.py and stackscripts/first_boot_helper.py).
write_helper() {
  mkdir -p "$helper_dir"
  cat > "$helper_dir/sandbox_contract.py" <<'AI_SANDBOX_CONTRACT_EOF'
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sandbox's one failure contract: its phases, its failure classes and the failure motd.

Every layer reads this table and nothing else: the roles fail with a reason code through the
``oneclick.ai_sandbox.sandbox_fail`` action (or a module returning ``reason_code``), the site playbook
turns the failed task's code into a report (the ``sandbox_failure`` filter), the StackScript takes its
exit code from that report and renders its own early failures from a copy of this file embedded in
it (``stackscripts/build.py`` writes the copy; a unit test proves it is current), and the tests walk
the table. Nobody parses another layer's English to recover a code.

A failure class has a phase (where it happened; the phase gives the exit code), a reason (one line,
shown in /etc/motd and the status file) and what to do. Both texts are ``str.format`` templates over
named parameters; a parameter nobody supplied renders as ``<name>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import string

# --- what a sandbox is by default ----------------------------------------------------------------
# The roles' defaults (vllm_service, open_webui) are these values; a unit test keeps them equal. Code
# that has no role to ask (the inventory, validate.yml, the StackScript) reads them from here.
DEFAULTS = {
    "model": "mistralai/Mistral-7B-Instruct-v0.3",
    "api_port": 8000,
    "ui_port": 3000,
    "project_dir": "/opt/ai-sandbox",
    "models_dir": "/opt/models",
    "chats_dir": "/opt/open-webui",
    "credentials_file": "/root/.ai-sandbox-credentials",
}

# --- phases ----------------------------------------------------------------------------------------
# In the order a first boot goes through them: (id, label shown to people, exit code on failure).
# The label is what the status file's "phase" and /etc/motd say.
PHASES = [
    ("input", "input", 2),
    ("bootstrap", "bootstrap", 3),
    ("resume", "resume", 3),
    ("ansible_pull", "ansible-pull", 4),
    ("docker", "docker", 11),
    ("driver", "driver", 10),
    ("model_check", "model check", 12),
    ("image_pull_engine", "image pull (engine)", 13),
    ("model_download", "model download", 12),
    ("engine_start", "engine start", 14),
    ("first_token", "first token", 14),
    ("image_pull_ui", "image pull (UI)", 13),
    ("ui_ready", "UI ready", 15),
    ("motd", "motd", 16),
    ("other", "another step", 16),
]
PHASE_LABELS = {phase_id: label for phase_id, label, _code in PHASES}
PHASE_EXIT_CODES = {phase_id: code for phase_id, _label, code in PHASES}
PHASE_BY_LABEL = {label: phase_id for phase_id, label, _code in PHASES}

# The site playbook's stages: its tags, one per role plus the motd. A stage is timed as a whole by
# the playbook and split into its phases by the role's own timings (in this order); a failure that
# names no class of its own is reported in the stage's own phase.
STAGES = [
    # (tag, phases the role times, the phase of an unclassified failure)
    ("docker", [], "docker"),
    ("driver", [], "driver"),
    ("engine", ["model_check", "image_pull_engine", "model_download", "engine_start", "first_token"], "engine_start"),
    ("ui", ["image_pull_ui", "ui_ready"], "ui_ready"),
    ("motd", [], "motd"),
]
STAGE_TAGS = [tag for tag, _parts, _default in STAGES]
# Marks of the site playbook that begin background transfers, not a stage: their time is in the roles'
# own spans (model download, image pulls), so they are not phases themselves. A failure that names no
# class there belongs to the transfer they start.
PREFETCH_MARKS = {"prefetch": "model_download", "prefetch_images": "image_pull_engine"}

# Exit codes that are not failures of a phase.
EXIT_READY = 0  # ready, or rebooting to load the driver (the first boot resumes by itself)

# --- failure classes -------------------------------------------------------------------------------
# {rerun}: how to run the setup again (the StackScript passes "run: systemctl start ...", a laptop run
# "run the site playbook again"); {token_hint}: where to put a Hugging Face token; {model}, {models_dir},
# {port}, {program}, {setting}, {seconds}, {service}, {project_dir}, {image}, {field}, {message},
# {step}, {code}, {log}: given by the step that failed or by the playbook.
FAILURES = {
    # The StackScript's own steps, before Ansible runs.
    "bad_input": {
        "phase": "input",
        "reason": "{message}",
        "todo": "Redeploy the Linode with a corrected value (Rebuild, or a new Linode).",
    },
    "bad_value": {
        "phase": "input",
        "reason": "{field} cannot be used: {why}",
        "todo": "Set {field} to {allowed}, then {rerun}.",
    },
    "bootstrap_failed": {
        "phase": "bootstrap",
        "reason": "the {step} step exited with code {code} (the log's last lines say why)",
        "todo": "Read {log}, fix the cause, then {rerun}.",
    },
    "pull_failed": {
        "phase": "ansible_pull",
        "reason": "ansible-pull exited with code {code} before the setup started (fetching {repo}, or reading "
        "playbooks/site.yml)",
        "todo": "Read {log}, check the repository URL and ref, then {rerun}.",
    },
    # The driver.
    "driver_needs_reboot": {
        "phase": "driver",
        "reason": "NVIDIA driver did not load (it needs a reboot)",
        "todo": "Reboot the host (reboot); then {rerun}.",
    },
    "driver_not_loaded": {
        "phase": "driver",
        "reason": "NVIDIA driver did not load",
        "todo": "Check that the plan has a GPU (lspci | grep -i nvidia) and why the driver refused it "
        "(dmesg | grep -i nvidia; nvidia-smi), reboot, then {rerun}.",
    },
    "no_gpu": {
        "phase": "driver",
        "reason": "no NVIDIA GPU on this host's PCI bus",
        "todo": "Check the plan (an RTX 4000 Ada Linode is g2-gpu-rtx4000a*), or set nvidia_driver_require_gpu to "
        "false to run without a GPU.",
    },
    # The model, asked of the Hub before anything moves (hf_model_info's codes) and downloaded.
    "bad_model_id": {
        "phase": "model_download",
        "reason": "the model id is not a Hugging Face model id",
        "todo": "Use an id of the form <owner>/<name>, as in the model page's URL, and deploy again.",
    },
    "gated_no_token": {
        "phase": "model_download",
        "reason": "model download refused: gated repository and no Hugging Face token",
        "todo": "Accept the model's conditions at https://huggingface.co/{model}, create a read token at "
        "https://huggingface.co/settings/tokens, {token_hint}, then {rerun}.",
    },
    "gated_no_access": {
        "phase": "model_download",
        "reason": "model download refused: the token's account has not been granted this gated model",
        "todo": "Accept the model's conditions at https://huggingface.co/{model} with the account that owns the "
        "token (approval can take a while), then {rerun}.",
    },
    "access_refused": {
        "phase": "model_download",
        "reason": "model download refused: the token may not read this model",
        "todo": "Use a token with read access to the model ({token_hint}), then {rerun}.",
    },
    "token_refused": {
        "phase": "model_download",
        "reason": "model download refused: Hugging Face rejected the token",
        "todo": "Create a new read token at https://huggingface.co/settings/tokens, {token_hint}, then {rerun}.",
    },
    "not_found": {
        "phase": "model_download",
        "reason": "model not found on Hugging Face",
        "todo": "Check the model id ({model}): it is <owner>/<name> as in the model page's URL; deploy again "
        "with the right one.",
    },
    "bad_config": {
        "phase": "model_download",
        "reason": "the model has no config vLLM can use (it is not a model vLLM serves)",
        "todo": "Choose a model vLLM supports (https://docs.vllm.ai/en/latest/models/supported_models.html) "
        "and deploy again.",
    },
    "disk_too_small": {
        "phase": "model_download",
        "reason": "disk too small for the model",
        "todo": "Free space under {models_dir} (df -h), or choose a smaller model or a plan with a larger disk, "
        "then {rerun}.",
    },
    "hub_unreachable": {
        "phase": "model_download",
        "reason": "Hugging Face Hub unreachable",
        "todo": "Check this host's network (curl -sI https://huggingface.co), then {rerun}.",
    },
    "hub_error": {
        "phase": "model_download",
        "reason": "Hugging Face Hub answered with an error",
        "todo": "Check https://status.huggingface.co, then {rerun}.",
    },
    "download_failed": {
        "phase": "model_download",
        "reason": "model download failed",
        "todo": "Check the network and the disk (df -h), then {rerun}; files already downloaded are kept.",
    },
    "download_timeout": {
        "phase": "model_download",
        "reason": "model download did not finish within {seconds} s",
        "todo": "Check the network's speed and the disk (df -h); raise vllm_service_ready_timeout for a slow link, "
        "then {rerun}; files already downloaded are kept.",
    },
    # The images.
    "engine_image_unavailable": {
        "phase": "image_pull_engine",
        "reason": "the engine image {image} could not be pulled or loaded",
        "todo": "Check the network (docker pull {image}) or the image archive, then {rerun}.",
    },
    "ui_image_unavailable": {
        "phase": "image_pull_ui",
        "reason": "the UI image {image} could not be pulled or loaded",
        "todo": "Check the network (docker pull {image}) or the image archive, then {rerun}.",
    },
    # The services.
    "port_in_use": {
        "phase": "engine_start",
        "reason": "port {port} already in use ({program})",
        "todo": "Stop the program that holds the port (ss -ltnp 'sport = :{port}' names it), or set {setting} to "
        "a free port, then {rerun}.",
    },
    "ui_port_in_use": {
        "phase": "ui_ready",
        "reason": "port {port} already in use ({program})",
        "todo": "Stop the program that holds the port (ss -ltnp 'sport = :{port}' names it), or set {setting} to "
        "a free port, then {rerun}.",
    },
    "engine_not_ready": {
        "phase": "engine_start",
        "reason": "vLLM did not answer with the model within {seconds} s",
        "todo": "Read the engine's log (docker compose --project-directory {project_dir} logs {service}): a model "
        "too large for the GPU's memory needs a smaller model or a shorter context (vllm_service_max_model_len); "
        "then {rerun}.",
    },
    "ui_login_switch": {
        "phase": "ui_ready",
        "reason": "Open WebUI cannot turn login {wanted} on data made with login {previous}",
        "todo": "Keep open_webui_auth as it was (and restrict the UI's port with a firewall), or move the data "
        "directory aside to start over (its chats stay there, not migrated), then {rerun}.",
    },
    "ui_no_engine": {
        "phase": "ui_ready",
        "reason": "the UI has no OpenAI API to talk to",
        "todo": "Run the vllm_service role on this host first, or set open_webui_openai_api_base_url, then {rerun}.",
    },
    "ui_not_ready": {
        "phase": "ui_ready",
        "reason": "Open WebUI did not become ready within {seconds} s",
        "todo": "Read the UI's log (docker compose --project-directory {project_dir} logs {service}), then {rerun}.",
    },
    # Anything the table does not name: the phase is the stage's.
    "step_failed": {
        "phase": "other",
        "reason": "a step failed: {step}",
        "todo": "Read the details and the log, fix the cause, then {rerun}.",
    },
}

# What a role run outside the first boot says when it has no better hint.
DEFAULT_PARAMS = {
    "rerun": "run the site playbook again",
    "token_hint": "set it as vllm_service_hf_token",
}


class _Lenient(string.Formatter):
    """str.format that leaves a missing parameter visible as <name> instead of failing."""

    def get_value(self, key, args, kwargs):
        if isinstance(key, str):
            value = kwargs.get(key)
            return "<%s>" % key if value is None or value == "" else value
        return super().get_value(key, args, kwargs)


_FORMATTER = _Lenient()


def one_line(text):
    return " ".join(str(text).split())


def render(code, params=None, details="", phase=None):
    """The failure class ``code`` rendered for people: phase (its label), exit code, reason, what to do.

    An unknown code is rendered as step_failed. ``phase`` (an id) overrides the class's phase for
    step_failed only: an unclassified failure happened wherever the play was.
    """
    if code not in FAILURES:
        code = "step_failed"
    entry = FAILURES[code]
    values = dict(DEFAULT_PARAMS)
    values.update({k: v for k, v in (params or {}).items() if v is not None and v != ""})
    phase_id = entry["phase"]
    if code == "step_failed" and phase in PHASE_LABELS:
        phase_id = phase
    return {
        "reason_code": code,
        "phase": PHASE_LABELS[phase_id],
        "phase_id": phase_id,
        "exit_code": PHASE_EXIT_CODES[phase_id],
        "reason": one_line(_FORMATTER.format(entry["reason"], **values)),
        "todo": one_line(_FORMATTER.format(entry["todo"], **values)),
        "details": one_line(details)[:600],
    }


def exit_code_for_phase(label):
    """The exit code of a failure in the phase with this label (16 for a label the table lacks)."""
    return PHASE_EXIT_CODES.get(PHASE_BY_LABEL.get(label, "other"), PHASE_EXIT_CODES["other"])


def stage_default_phase(tag):
    if tag in PREFETCH_MARKS:
        return PREFETCH_MARKS[tag]
    for stage_tag, _parts, default in STAGES:
        if stage_tag == tag:
            return default
    return "other"


def _wrap(text, width, indent):
    words, lines, line = one_line(text).split(" "), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = "%s %s" % (line, word) if line else word
    lines.append(line)
    return ("\n" + " " * indent).join(lines)


BANNER = "==================== One-Click AI Sandbox ===================="
RULE = "=" * len(BANNER)


def failure_motd(failure, log_file="", status_file=""):
    """The /etc/motd of a failed setup: the one text for every layer that can fail (the site playbook
    and the StackScript's early steps)."""
    lines = [
        BANNER,
        "The sandbox setup FAILED in phase: %s" % failure["phase"],
        "Reason: %s" % failure["reason"],
        "What to do: %s" % _wrap(failure.get("todo", ""), 88, 12),
    ]
    if failure.get("details"):
        lines.append("Details: %s" % _wrap(failure["details"], 88, 9))
    if log_file:
        lines.append("Full log: %s   (tail -n 60 %s)" % (log_file, log_file))
    else:
        lines.append("Full log: the output of the ansible-playbook run that set this host up")
    if status_file:
        lines.append("Status:   %s (root only)" % status_file)
    lines.append(RULE)
    return "\n".join(lines) + "\n"


def progress_motd(state, phase_label, log_file, status_file, progress=None):
    """The /etc/motd while the first boot runs (or reboots to load the driver)."""
    lines = [BANNER]
    if state == "rebooting":
        lines.append("The sandbox is rebooting to load the NVIDIA driver; the setup resumes by itself after boot.")
    else:
        lines.append("The sandbox is being set up (phase: %s). This takes a few minutes." % phase_label)
    for row in progress or []:
        lines.append("  " + row)
    lines.append("Full log: %s   (tail -f %s)" % (log_file, log_file))
    lines.append("Status:   %s (root only)" % status_file)
    lines.append(RULE)
    return "\n".join(lines) + "\n"
AI_SANDBOX_CONTRACT_EOF
  cat > "$helper_dir/first_boot_helper.py" <<'AI_SANDBOX_HELPER_EOF'
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The first-boot StackScript's helper: everything ai-sandbox.sh does that is more than running a command.

The StackScript (stackscripts/ai-sandbox.sh) carries a copy of this file and of the failure contract
(plugins/module_utils/sandbox_contract.py), written next to each other into the state directory at every
start; `make stackscript` (stackscripts/build.py) refreshes those copies and a unit test proves they are
current. Runs on the first-boot host's own python3 (Ubuntu 22.04: 3.10), standard library only.

    first_boot_helper.py validate           check the UDFs, write the site playbook's extra vars and the inputs
    first_boot_helper.py get NAME           print one validated input (repo_url, repo_ref, model_id)
    first_boot_helper.py env-file           write the environment the resume unit runs the script with
    first_boot_helper.py mark PHASE         note that a phase begins (status file, motd)
    first_boot_helper.py fail CODE [k=v]..  a failure of the script's own steps: status, motd; prints the exit code
    first_boot_helper.py rebooting          status and motd while rebooting to load the driver
    first_boot_helper.py finish RC SINCE    after ansible-pull: prints "ready", "reboot" or "failed <exit code>"
    first_boot_helper.py core-spec          the ansible-core requirement for this Python
    first_boot_helper.py collections [DIR]  the pinned collections: tarballs in DIR, else a requirements file
    first_boot_helper.py status-serve       the status page on port 3000 and the progress in /etc/motd, until stopped

Paths and switches come from the environment, as in ai-sandbox.sh (AI_SANDBOX_STATE_DIR, AI_SANDBOX_LOG_DIR,
AI_SANDBOX_MOTD, AI_SANDBOX_EXTRA_VARS, ...). Values are written as JSON by this program: no user value is
ever quoted by the shell or put on a command line.
"""

import html
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The contract sits beside this file in the state directory, and in plugins/module_utils in the repository.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "plugins", "module_utils"))
sys.path.insert(0, HERE)

import sandbox_contract  # noqa: E402 (found through the paths above)

DEFAULT_MODEL = sandbox_contract.DEFAULTS["model"]
DEFAULT_REPO = "https://github.com/oneclick-ai/ai_sandbox.git"
RERUN_HINT = "run: systemctl start ai-sandbox-first-boot"

# The UDFs of the StackScript header: name -> default.
UDFS = {
    "model_id": DEFAULT_MODEL,
    "hf_token_password": "",
    "ui_auth": "no",
    "api_key_password": "",
    "repo_url": DEFAULT_REPO,
    "repo_ref": "main",
}
# Switches the resume unit must keep (mirrors and tests).
SWITCHES = (
    "AI_SANDBOX_STATE_DIR",
    "AI_SANDBOX_LOG_DIR",
    "AI_SANDBOX_MOTD",
    "AI_SANDBOX_PIP_ARGS",
    "AI_SANDBOX_COLLECTIONS_DIR",
    "AI_SANDBOX_EXTRA_VARS",
    "AI_SANDBOX_SYSTEMD_DIR",
    "AI_SANDBOX_UNIT_DIR",
    "AI_SANDBOX_CONSOLE",
)

# ansible-core for the first boot, by the host's Python: Ubuntu 22.04's 3.10 runs 2.17 at most (the
# compat stage's pin, tests/requirements/compat.txt); 3.11 to 3.13 run 2.19.
CORE_PINS = {"3.10": "2.17.14", "3.11": "2.19.14", "3.12": "2.19.14", "3.13": "2.19.14"}

# The collections the roles use, pinned exactly (requirements.yml; stackscripts/build.py copies them).
COLLECTION_PINS = {
    "community.docker": "3.13.3",
    "community.general": "9.5.2",
    "community.library_inventory_filtering_v1": "1.0.2",
}

# --- validation (full matches only: a trailing newline is not a valid value) ---------------------------
NAME_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
MODEL_RE = re.compile(r"%s/%s" % (NAME_PART, NAME_PART))
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{8,200}")
API_KEY_RE = re.compile(r"[A-Za-z0-9._~+/=-]{16,200}")
REPO_URL_RE = re.compile(r"(?:https://|http://|file:///)[A-Za-z0-9._~:/@%+=-]+")
REPO_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")


def shown(value, limit=80):
    """A value as it may appear in a message: quoted, control characters escaped, shortened."""
    text = json.dumps(value[:limit])
    return text + ("..." if len(value) > limit else "")


def validate(values, extra_vars_path=""):
    """The first problem with the UDF values, as (field, message), or None."""
    model = values["model_id"]
    if not MODEL_RE.fullmatch(model) or "--" in model or ".." in model:
        return "model_id", "model_id is not a Hugging Face model id (<owner>/<name>, e.g. %s): %s" % (
            DEFAULT_MODEL,
            shown(model),
        )
    token = values["hf_token_password"]
    if token and not TOKEN_RE.fullmatch(token):
        return "hf_token_password", (
            "hf_token_password is not a Hugging Face token (letters, digits, '_' and '-', such as hf_...)"
        )
    key = values["api_key_password"]
    if key and key != "generate" and not API_KEY_RE.fullmatch(key):
        return "api_key_password", (
            "api_key_password must be empty (no key), 'generate', or 16 to 200 letters, digits and ._~+/=- "
            "(the value is not shown)"
        )
    if values["ui_auth"] not in ("yes", "no"):
        return "ui_auth", "ui_auth must be yes or no, not %s" % shown(values["ui_auth"])
    if not REPO_URL_RE.fullmatch(values["repo_url"]):
        return "repo_url", "repo_url must be an https://, http:// or file:/// URL, not %s" % shown(values["repo_url"])
    ref = values["repo_ref"]
    if not REPO_REF_RE.fullmatch(ref) or ".." in ref:
        return "repo_ref", "repo_ref must be a branch, tag or commit name, not %s" % shown(ref)
    if extra_vars_path and not (os.path.isabs(extra_vars_path) and os.path.isfile(extra_vars_path)):
        return "AI_SANDBOX_EXTRA_VARS", (
            "AI_SANDBOX_EXTRA_VARS must be the absolute path of an existing file, not %s" % shown(extra_vars_path)
        )
    return None


# --- files ----------------------------------------------------------------------------------------
class Paths:
    def __init__(self, env):
        self.state = env.get("AI_SANDBOX_STATE_DIR") or "/var/lib/ai-sandbox"
        self.log_dir = env.get("AI_SANDBOX_LOG_DIR") or "/var/log/ai-sandbox"
        self.motd = env.get("AI_SANDBOX_MOTD") or "/etc/motd"
        self.log = os.path.join(self.log_dir, "first-boot.log")
        self.vars = os.path.join(self.state, "extra-vars.json")
        self.inputs = os.path.join(self.state, "inputs.json")
        self.marks = os.path.join(self.state, "boot-marks.json")
        self.status = os.path.join(self.state, "first-boot.json")
        self.report = os.path.join(self.state, "site-report.json")
        self.env_file = os.path.join(self.state, "first-boot.env")
        self.download = os.path.join(self.state, "model-download.json")
        self.status_page = env.get("AI_SANDBOX_STATUS_RUNTIME") or "/run/ai-sandbox/status-page.json"


def write_private(path, text):
    """Write a root-only file atomically."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    descriptor = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(path + ".tmp", 0o600)
    os.replace(path + ".tmp", path)


def write_public(path, text):
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path + ".tmp", "w") as handle:
        handle.write(text)
    os.chmod(path + ".tmp", 0o644)
    os.replace(path + ".tmp", path)


def read_json(path, default=None):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default


def iso(timestamp):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def marks_as_phases(paths):
    marks = (read_json(paths.marks, {}) or {}).get("ai_sandbox_boot_marks", [])
    marks = [*marks, {"phase": "end", "at": time.time()}]
    return [
        {
            "phase": sandbox_contract.PHASE_LABELS.get(mark["phase"], mark["phase"]),
            "started_at": iso(mark["at"]),
            "seconds": round(after["at"] - mark["at"], 1),
        }
        for mark, after in itertools.pairwise(marks)
    ]


def report_since(paths, since):
    """The site playbook's report when this run wrote it (after ``since``), else None."""
    try:
        if since <= 0 or os.path.getmtime(paths.report) < since:
            return None
    except OSError:
        return None
    return read_json(paths.report)


def write_status(paths, state, phase, exit_code, failure=None, since=0.0):
    status = {}
    report = report_since(paths, since)
    if report:
        status.update(report)
    elif os.path.exists(paths.marks):
        status["phases"] = marks_as_phases(paths)
    status.update({"state": state, "phase": phase, "exit_code": exit_code, "at": iso(time.time())})
    for key in ("reason_code", "reason", "todo", "details"):
        if failure and failure.get(key):
            status[key] = failure[key]
    write_private(paths.status, json.dumps(status, indent=2) + "\n")
    return status


# --- commands -------------------------------------------------------------------------------------
def udf_values(env):
    """Each UDF from its lower- or upper-case environment variable, else its default."""
    values = {}
    for name, default in UDFS.items():
        if name in env:
            values[name] = env[name]
        elif name.upper() in env:
            values[name] = env[name.upper()]
        else:
            values[name] = default
    return values


def fail(paths, code, params):
    """Status and motd for a failure of the script's own steps; returns its exit code."""
    values = {"rerun": RERUN_HINT, "log": paths.log}
    values.update(params)
    failure = sandbox_contract.render(code, values)
    write_public(paths.motd, sandbox_contract.failure_motd(failure, log_file=paths.log, status_file=paths.status))
    write_status(paths, "failed", failure["phase"], failure["exit_code"], failure)
    return failure["exit_code"]


def api_key(paths, wanted):
    """The API key: none, the one given, or a generated one, kept across runs of the script (a resume
    after a reboot reads the same 'generate' and must not change the key)."""
    if wanted != "generate":
        return wanted
    earlier = (read_json(paths.vars, {}) or {}).get("vllm_service_api_key", "")
    if earlier and API_KEY_RE.fullmatch(earlier):
        return earlier
    import secrets

    return secrets.token_urlsafe(32)


def command_validate(paths, env):
    values = udf_values(env)
    os.makedirs(paths.state, exist_ok=True)
    problem = validate(values, env.get("AI_SANDBOX_EXTRA_VARS", ""))
    if problem:
        _field, message = problem
        sys.stderr.write("ai-sandbox: %s\n" % message)
        return fail(paths, "bad_input", {"message": message})
    extra_vars = {
        "vllm_service_model": values["model_id"],
        "vllm_service_hf_token": values["hf_token_password"],
        "vllm_service_api_key": api_key(paths, values["api_key_password"]),
        "open_webui_auth": values["ui_auth"] == "yes",
        "ai_sandbox_hosts": "localhost",
        "ai_sandbox_log_file": paths.log,
        "ai_sandbox_status_file": paths.status,
        "ai_sandbox_rerun_hint": RERUN_HINT,
        "ai_sandbox_token_hint": "put it in %s as hf_token_password=hf_..." % paths.env_file,
    }
    write_private(paths.vars, json.dumps(extra_vars, indent=2) + "\n")
    write_private(paths.inputs, json.dumps(values, indent=2) + "\n")
    return 0


def command_get(paths, name):
    values = read_json(paths.inputs, {}) or {}
    if name not in values or name == "hf_token_password":
        sys.stderr.write("ai-sandbox: no input named %s\n" % shown(name))
        return 2
    sys.stdout.write(values[name] + "\n")
    return 0


def command_env_file(paths, env):
    """systemd's EnvironmentFile syntax, NAME="value": the validated UDFs and the switches."""
    values = read_json(paths.inputs, {}) or {}
    lines = ['%s="%s"' % (name, values[name]) for name in UDFS if name in values]
    for name in SWITCHES:
        if env.get(name):
            escaped = env[name].replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
            lines.append('%s="%s"' % (name, escaped))
    write_private(paths.env_file, "\n".join(lines) + "\n")
    return 0


def command_mark(paths, phase):
    if phase not in sandbox_contract.PHASE_LABELS:
        sys.stderr.write("ai-sandbox: unknown phase %s\n" % shown(phase))
        return 2
    data = read_json(paths.marks, {}) or {}
    marks = data.get("ai_sandbox_boot_marks", [])
    marks.append({"phase": phase, "at": time.time()})
    write_private(paths.marks, json.dumps({"ai_sandbox_boot_marks": marks}) + "\n")
    label = sandbox_contract.PHASE_LABELS[phase]
    write_status(paths, "running", label, 0)
    write_public(paths.motd, sandbox_contract.progress_motd("running", label, paths.log, paths.status))
    sys.stdout.write("ai-sandbox: phase %s at %s\n" % (label, iso(time.time())))
    return 0


def command_rebooting(paths):
    write_status(paths, "rebooting", sandbox_contract.PHASE_LABELS["driver"], sandbox_contract.EXIT_READY)
    write_public(paths.motd, sandbox_contract.progress_motd("rebooting", "driver", paths.log, paths.status))
    return 0


def command_finish(paths, rc, since, env):
    """How ansible-pull ended, from the site playbook's report of this run (never from its output)."""
    report = report_since(paths, since)
    if rc == 0:
        write_status(paths, "ready", "done", sandbox_contract.EXIT_READY, since=since)
        sys.stdout.write("ready\n")
        return 0
    if not report or report.get("state") != "failed":
        inputs = read_json(paths.inputs, {}) or {}
        code = fail(
            paths,
            "pull_failed",
            {"code": rc, "repo": "%s@%s" % (inputs.get("repo_url", "?"), inputs.get("repo_ref", "?"))},
        )
        sys.stdout.write("failed %d\n" % code)
        return 0
    if report.get("reason_code") == "driver_needs_reboot" and env.get("AI_SANDBOX_REBOOT_ALLOWED") == "1":
        sys.stdout.write("reboot\n")
        return 0
    exit_code = int(report.get("exit_code") or sandbox_contract.exit_code_for_phase(report.get("phase", "")))
    write_status(paths, "failed", report.get("phase", "?"), exit_code, report, since=since)
    sys.stdout.write("failed %d\n" % exit_code)
    return 0


def command_core_spec():
    minor = "%d.%d" % sys.version_info[:2]
    pin = CORE_PINS.get(minor)
    if not pin:
        sys.stderr.write(
            "ai-sandbox: Python %s is not one the first boot supports (%s)\n" % (minor, ", ".join(sorted(CORE_PINS)))
        )
        return 3
    sys.stdout.write("ansible-core==%s\n" % pin)
    return 0


def command_collections(paths, directory):
    """With a mirror directory: the pinned tarballs in it (missing ones are an error). Without: a
    requirements file with the pins, for ansible-galaxy -r."""
    if directory:
        found, missing = [], []
        for fqcn, version in sorted(COLLECTION_PINS.items()):
            path = os.path.join(directory, "%s-%s.tar.gz" % (fqcn.replace(".", "-"), version))
            (found if os.path.isfile(path) else missing).append(path)
        if missing:
            sys.stderr.write("ai-sandbox: the collections mirror lacks %s\n" % ", ".join(missing))
            return 3
        sys.stdout.write("\n".join(found) + "\n")
        return 0
    lines = ["collections:"]
    for fqcn, version in sorted(COLLECTION_PINS.items()):
        lines += ["  - name: %s" % fqcn, '    version: "==%s"' % version]
    path = os.path.join(paths.state, "requirements.yml")
    write_private(path, "\n".join(lines) + "\n")
    sys.stdout.write(path + "\n")
    return 0


# --- the status page: port 3000 answers from the first minute ------------------------------------------
# Until Open WebUI is ready, visitors of http://<address>:3000 get this page (the phases, the download's
# progress, an estimate) and /etc/motd the same progress. Where iptables is there, the page listens on an
# inner port and a rule redirects outside traffic for port 3000 to it: Open WebUI can then start on port
# 3000 underneath and take over, when the site playbook stops this server, without a moment of
# "connection refused". Without iptables it listens on port 3000 itself and the playbook stops it just
# before Open WebUI starts.
PUBLIC_PORT = 3000
INNER_PORT = 3099
RULE = ["-p", "tcp", "--dport", str(PUBLIC_PORT), "-m", "comment", "--comment", "ai-sandbox-status", "-j",
        "REDIRECT", "--to-ports", str(INNER_PORT)]  # fmt: skip
# Rough lengths of what follows the download, for the estimate (seconds; the engine's per GB of weights).
ENGINE_START_FIXED, ENGINE_START_PER_GB, UI_READY = 45, 4, 30


def iptables(*args):
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True, check=False)


def redirect_first():
    """Make the redirect the first rule of nat PREROUTING (Docker adds its own rules as it starts)."""
    listing = iptables("-t", "nat", "-S", "PREROUTING").stdout.splitlines()
    rules = [line for line in listing if line.startswith("-A PREROUTING")]
    if rules and "ai-sandbox-status" in rules[0]:
        return True
    while iptables("-t", "nat", "-D", "PREROUTING", *RULE).returncode == 0:
        pass
    return iptables("-t", "nat", "-I", "PREROUTING", "1", *RULE).returncode == 0


def redirect_remove():
    if shutil.which("iptables"):
        while iptables("-t", "nat", "-D", "PREROUTING", *RULE).returncode == 0:
            pass


def progress_view(paths, since=0.0):
    """What the page and the motd show: state, phases, download progress and an estimate. A failure report
    counts when this run wrote it (after ``since``): a resumed first boot is running again."""
    status = read_json(paths.status, {}) or {}
    report = report_since(paths, since) or {}
    download = read_json(paths.download, {}) or {}
    failed = status.get("state") == "failed" or report.get("state") == "failed"
    view = {
        "state": "failed" if failed else status.get("state", "running"),
        "phase": report.get("phase") or status.get("phase", "bootstrap")
        if failed
        else status.get("phase", "bootstrap"),
        "reason": (report if report.get("state") == "failed" else status).get("reason", ""),
        "phases": status.get("phases", []),
        "download": None,
        "estimate_seconds": None,
    }
    if download.get("total_bytes"):
        view["download"] = {
            "state": download.get("state"),
            "done_bytes": download.get("done_bytes", 0),
            "total_bytes": download["total_bytes"],
            "bytes_per_second": download.get("bytes_per_second", 0),
            "eta_seconds": download.get("eta_seconds"),
        }
        if not failed:
            weights_gb = download["total_bytes"] / 1e9
            after = ENGINE_START_FIXED + ENGINE_START_PER_GB * weights_gb + UI_READY
            eta = download.get("eta_seconds") if download.get("state") == "running" else 0
            view["estimate_seconds"] = int((eta or 0) + after)
    return view


def progress_rows(view):
    rows = []
    download = view.get("download")
    if download:
        done, total = download["done_bytes"], download["total_bytes"]
        rate = download.get("bytes_per_second") or 0
        rows.append(
            "Model download: %.1f of %.1f GB (%d%%)%s"
            % (done / 1e9, total / 1e9, int(100 * done / total) if total else 0,
               ", %.0f MB/s" % (rate / 1e6) if rate and download.get("state") == "running" else "")
        )  # fmt: skip
    if view.get("estimate_seconds") is not None and view["state"] == "running":
        rows.append("Estimate: ready in about %d min" % max(1, round(view["estimate_seconds"] / 60.0)))
    for phase in view.get("phases", [])[-4:]:
        rows.append("Done: %-20s %6.1f s" % (phase["phase"], phase["seconds"]))
    return rows


def status_html(view):
    rows = "".join(
        "<tr><td>%s</td><td>%.1f s</td></tr>" % (html.escape(p["phase"]), p["seconds"]) for p in view["phases"]
    )
    download = view.get("download")
    progress = ""
    if download:
        percent = int(100 * download["done_bytes"] / download["total_bytes"]) if download["total_bytes"] else 0
        progress = '<p>Model download: %.1f of %.1f GB</p><progress max="100" value="%d">%d%%</progress>' % (
            download["done_bytes"] / 1e9, download["total_bytes"] / 1e9, percent, percent)  # fmt: skip
    if view["state"] == "failed":
        headline = "The setup failed in phase <b>%s</b>: %s. Log in over SSH: /etc/motd says what to do." % (
            html.escape(view["phase"]), html.escape(view["reason"] or "see /etc/motd"))  # fmt: skip
    else:
        headline = "Setting up: <b>%s</b>." % html.escape(view["phase"])
        if view.get("estimate_seconds") is not None:
            headline += " Ready in about %d min (an estimate)." % max(1, round(view["estimate_seconds"] / 60.0))
        headline += " This page turns into the chat when it is ready."
    return (
        '<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">'
        "<title>One-Click AI Sandbox: setting up</title><style>body{font-family:sans-serif;max-width:40em;"
        "margin:3em auto}td{padding:0 1em}</style></head><body><h1>One-Click AI Sandbox</h1><p>%s</p>%s"
        "<table>%s</table></body></html>" % (headline, progress, rows)
    )


class StatusHandler(BaseHTTPRequestHandler):
    paths = None
    since = 0.0
    server_version = "ai-sandbox-status"

    def log_message(self, *args):
        pass

    def do_GET(self):
        view = progress_view(self.paths, self.since)
        if self.path.startswith("/status.json"):
            body, kind = json.dumps(view).encode(), "application/json"
        elif self.path.startswith("/health"):  # not ready: Open WebUI's own /health answers once it is
            body, kind = json.dumps({"status": False, "setup": view["state"]}).encode(), "application/json"
            self.send_response(503)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        else:
            body, kind = status_html(view).encode(), "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def update_motd(paths, view, since=0.0):
    """The progress in /etc/motd while the setup runs; a failure's own motd once it failed."""
    if view["state"] == "running":
        label = view["phase"]
        write_public(
            paths.motd, sandbox_contract.progress_motd("running", label, paths.log, paths.status, progress_rows(view))
        )
    elif view["state"] == "failed":
        report = report_since(paths, since) or {}
        status = read_json(paths.status, {}) or {}
        failure = report if report.get("state") == "failed" else status
        if failure.get("reason"):
            write_public(
                paths.motd, sandbox_contract.failure_motd(failure, log_file=paths.log, status_file=paths.status)
            )


def command_status_serve(paths, env):
    """Serve until SIGTERM. AI_SANDBOX_STATUS_DIRECT=1 skips the redirect; AI_SANDBOX_STATUS_PORT moves the
    port (tests)."""
    direct = env.get("AI_SANDBOX_STATUS_DIRECT") == "1" or not shutil.which("iptables")
    if not direct and not redirect_first():
        direct = True
    port = int(env.get("AI_SANDBOX_STATUS_PORT") or PUBLIC_PORT) if direct else INNER_PORT
    started = time.time()
    StatusHandler.paths = paths
    StatusHandler.since = started
    server = ThreadingHTTPServer(("0.0.0.0", port), StatusHandler)
    server.daemon_threads = True
    write_public(
        paths.status_page, json.dumps({"mode": "direct" if direct else "redirect", "port": port, "pid": os.getpid()})
    )
    stop = threading.Event()

    def on_signal(_signum, _frame):
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sys.stdout.write("ai-sandbox: status page on port %d (%s)\n" % (PUBLIC_PORT, "direct" if direct else "redirected"))
    sys.stdout.flush()
    try:
        while not stop.wait(5.0):
            view = progress_view(paths, started)
            update_motd(paths, view, started)
            if not direct and view["state"] == "running":
                redirect_first()
    finally:
        if not direct:
            redirect_remove()
        server.server_close()
        try:
            os.remove(paths.status_page)
        except OSError:
            pass
    return 0


def command_status_cleanup(paths):
    """After the server stopped (its unit's ExecStopPost): no redirect left behind."""
    redirect_remove()
    try:
        os.remove(paths.status_page)
    except OSError:
        pass
    return 0


def main(argv, env=None):
    env = dict(os.environ if env is None else env)
    paths = Paths(env)
    if not argv:
        sys.stderr.write(__doc__)
        return 2
    command, args = argv[0], argv[1:]
    if command == "validate":
        return command_validate(paths, env)
    if command == "get" and len(args) == 1:
        return command_get(paths, args[0])
    if command == "env-file":
        return command_env_file(paths, env)
    if command == "mark" and len(args) == 1:
        return command_mark(paths, args[0])
    if command == "fail" and args:
        params = dict(arg.split("=", 1) for arg in args[1:] if "=" in arg)
        sys.stdout.write("%d\n" % fail(paths, args[0], params))
        return 0
    if command == "rebooting":
        return command_rebooting(paths)
    if command == "finish" and len(args) == 2:
        return command_finish(paths, int(args[0]), float(args[1]), env)
    if command == "core-spec":
        return command_core_spec()
    if command == "collections":
        return command_collections(paths, args[0] if args else "")
    if command == "status-serve":
        return command_status_serve(paths, env)
    if command == "status-cleanup":
        return command_status_cleanup(paths)
    sys.stderr.write("ai-sandbox: unknown helper command %s\n" % shown(" ".join(argv)))
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
AI_SANDBOX_HELPER_EOF
}
# <<< generated

main "$@"
