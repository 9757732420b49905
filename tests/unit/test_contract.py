"""The one failure contract (plugins/module_utils/sandbox_contract.py), walked class by class.

For every failure class: the failed step's result goes through the site playbook's own filters into the
report and the motd (as site.yml writes them), or the StackScript meets it itself; then the StackScript,
run as Linode runs it with a stand-in ansible-pull, must exit with the class's code, and the status
file, the motd and the exit code must all say the same class. Also: every class has a producer, and
every code a producer uses is in the table.
"""

import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from test_stackscript import base_env, first_boot

from ansible_collections.oneclick.ai_sandbox.plugins.filter.sandbox_failure import sandbox_failure, sandbox_failure_motd
from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import sandbox_contract as contract

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "stackscripts", "ai-sandbox.sh")
EARLY = {"bad_input", "bootstrap_failed", "pull_failed"}


def expected(code):
    entry = contract.FAILURES[code]
    phase = entry["phase"]
    if code == "step_failed":
        phase = contract.stage_default_phase("engine")
    return contract.PHASE_LABELS[phase], contract.PHASE_EXIT_CODES[phase]


def site_report(code, status_file, log_file):
    """What site.yml's rescue writes for a step that failed with this class."""
    result = {"failed": True, "msg": "...", "reason_code": code, "failure_params": {"port": "8000"}, "details": "d"}
    if code == "step_failed":
        result = {"failed": True, "msg": "something broke"}
    failure = sandbox_failure(result, task="A step", stage="engine", params={"rerun": "run: systemctl start x"})
    report = dict(failure, state="failed", phases=[], finished_at="2026-11-23T00:00:00Z")
    return report, sandbox_failure_motd(failure, log_file=log_file, status_file=status_file)


def early_failure(tmp_path, code):
    if code == "bad_input":
        env = base_env(tmp_path)
        env["model_id"] = "$(reboot)"
        result = subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, check=False)
        return result, json.loads((tmp_path / "state" / "first-boot.json").read_text())
    if code == "bootstrap_failed":
        (tmp_path / "empty-mirror").mkdir()
        env = base_env(tmp_path)
        env["AI_SANDBOX_COLLECTIONS_DIR"] = str(tmp_path / "empty-mirror")
        bin_dir = tmp_path / "state" / "venv" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "ansible-pull").write_text("#!/bin/bash\nexit 0\n")
        (bin_dir / "ansible-pull").chmod(0o755)
        result = subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, check=False)
        return result, json.loads((tmp_path / "state" / "first-boot.json").read_text())
    return first_boot(tmp_path, 1)  # pull_failed: ansible-pull ends before the play wrote a report


@pytest.mark.stackscript
@pytest.mark.parametrize("code", sorted(contract.FAILURES))
def test_every_class_reads_the_same_in_status_motd_and_exit_code(tmp_path, code):
    label, exit_code = expected(code)
    status_file = str(tmp_path / "state" / "first-boot.json")
    if code in EARLY:
        result, status = early_failure(tmp_path, code)
    else:
        report, motd = site_report(code, status_file, str(tmp_path / "log" / "first-boot.log"))
        # driver_needs_reboot without systemd: there is nothing to reboot with, so it fails in its phase.
        result, status = first_boot(tmp_path, 2, report, motd=motd)
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert (status["state"], status["reason_code"], status["phase"], status["exit_code"]) == (
        "failed",
        code,
        label,
        exit_code,
    )
    motd = (tmp_path / "motd").read_text()
    assert "The sandbox setup FAILED in phase: %s\n" % label in motd
    assert "Reason: %s\n" % status["reason"] in motd
    assert status["todo"] and status["todo"].split()[0] in motd
    assert "Status:   %s (root only)" % status_file in motd


def test_phases_have_unique_ids_labels_and_known_exit_codes():
    ids = [phase_id for phase_id, _label, _code in contract.PHASES]
    labels = [label for _id, label, _code in contract.PHASES]
    assert len(set(ids)) == len(ids) and len(set(labels)) == len(labels)
    assert {code for _id, _label, code in contract.PHASES} == {2, 3, 4, 10, 11, 12, 13, 14, 15, 16}
    for code, entry in contract.FAILURES.items():
        assert entry["phase"] in contract.PHASE_LABELS, code
        assert entry["reason"] and entry["todo"], code
    for _tag, parts, default in contract.STAGES:
        assert all(part in contract.PHASE_LABELS for part in parts) and default in contract.PHASE_LABELS


def test_a_missing_parameter_shows_as_its_name_and_unknown_codes_are_step_failed():
    failure = contract.render("port_in_use", {"port": 8000})
    assert failure["reason"] == "port 8000 already in use (<program>)"
    assert contract.render("no_such_code", {}, phase="docker")["reason_code"] == "step_failed"
    assert contract.render("no_such_code", {}, phase="docker")["exit_code"] == 11


def test_the_stackscript_tags_match_the_site_playbook():
    with open(os.path.join(ROOT, "playbooks", "site.yml")) as handle:
        play = yaml.safe_load(handle)[0]
    block = play["tasks"][0]["block"]
    main_roles = [task for task in block if "import_role" in str(task) and "tasks_from" not in str(task)]
    role_tags = [task["tags"][0] for task in main_roles]
    motd_tags = play["tasks"][1]["tags"]
    assert role_tags + motd_tags == contract.STAGE_TAGS
    marks = [t["ansible.builtin.set_fact"]["ai_sandbox_marks"] for t in block if "ai_sandbox_marks" in str(t)]
    named = [m.split("'phase': '")[1].split("'")[0] for m in marks]
    assert set(named) == set(contract.STAGE_TAGS[:-1]) | set(contract.PREFETCH_MARKS) | {"end"}


# --- producers ------------------------------------------------------------------------------------
def yaml_codes():
    """The classes the roles and playbooks fail with: sandbox_fail's reason, and the classes they hand to
    the shared steps (whose own reason is templated from them)."""
    codes = set()
    for path in glob.glob(os.path.join(ROOT, "roles", "**", "*.yml"), recursive=True) + glob.glob(
        os.path.join(ROOT, "playbooks", "*.yml")
    ):
        with open(path) as handle:
            text = handle.read()
        for match in re.finditer(r"^\s*(?:reason|_common_\w+_failure):\s*([a-z_]+)\s*$", text, re.MULTILINE):
            codes.add(match.group(1))
    return codes


def python_codes():
    """The classes Python producers return: hf_model_info's refusals and the StackScript's helper."""
    sys.path.insert(0, os.path.join(ROOT, "stackscripts"))
    codes = set()
    producers = ("plugins/modules/hf_model_info.py", "plugins/module_utils/hf_hub.py",
                 "stackscripts/first_boot_helper.py", "stackscripts/ai-sandbox.sh")  # fmt: skip
    for path in producers:
        with open(os.path.join(ROOT, path)) as handle:
            text = handle.read()
        codes.update(code for code in contract.FAILURES if re.search(r"[\"'=]%s[\"' ]" % code, text))
    return codes


def test_every_class_has_a_producer_and_every_produced_code_is_in_the_table():
    produced = yaml_codes() | python_codes()
    unknown = {code for code in yaml_codes() if code not in contract.FAILURES}
    assert not unknown, "codes the roles use that the contract lacks: %s" % unknown
    orphans = set(contract.FAILURES) - produced - {"step_failed"}
    assert not orphans, "classes nobody produces: %s" % orphans


def test_the_stackscript_carries_the_current_contract_helper_and_pins():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "stackscripts", "build.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_defaults_are_the_roles_and_the_stackscripts():
    def role_defaults(role):
        with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as handle:
            return yaml.safe_load(handle)

    engine, ui = role_defaults("vllm_service"), role_defaults("open_webui")
    expected = {
        "model": engine["vllm_service_model"],
        "api_port": engine["vllm_service_port"],
        "ui_port": ui["open_webui_port"],
        "project_dir": engine["vllm_service_project_dir"],
        "models_dir": engine["vllm_service_models_dir"],
        "chats_dir": ui["open_webui_data_dir"],
        "credentials_file": ui["open_webui_credentials_file"],
    }
    assert expected == contract.DEFAULTS
    assert ui["open_webui_project_dir"] == engine["vllm_service_project_dir"]
    with open(SCRIPT) as handle:
        header = handle.read()
    assert '<UDF name="model_id" label="Hugging Face model id" default="%s"' % contract.DEFAULTS["model"] in header


def test_the_first_boot_docs_list_every_class():
    with open(os.path.join(ROOT, "docs", "first-boot.md")) as handle:
        docs = handle.read()
    missing = [code for code in contract.FAILURES if "| `%s` |" % code not in docs]
    assert not missing, "docs/first-boot.md does not list %s" % missing


def test_the_linode_side_uses_the_same_ports():
    from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode

    assert linode.urls("192.0.2.10") == {"chat": "http://192.0.2.10:3000", "api": "http://192.0.2.10:8000/v1"}
    with open(os.path.join(ROOT, "plugins", "modules", "linode_gpu_instance.py")) as handle:
        source = handle.read()
    ports = [22, contract.DEFAULTS["ui_port"], contract.DEFAULTS["api_port"]]
    assert '"ports": {"type": "list", "elements": "int", "default": %s}' % ports in source
