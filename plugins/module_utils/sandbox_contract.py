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
