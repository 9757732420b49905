"""stackscripts/first_boot_helper.py, called directly (the StackScript runs a copy of it)."""

import json
import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "stackscripts"))
sys.path.insert(0, os.path.join(ROOT, "plugins", "module_utils"))

import first_boot_helper as helper  # noqa: E402


def env(tmp_path, **values):
    base = {
        "AI_SANDBOX_STATE_DIR": str(tmp_path / "state"),
        "AI_SANDBOX_LOG_DIR": str(tmp_path / "log"),
        "AI_SANDBOX_MOTD": str(tmp_path / "motd"),
    }
    base.update(values)
    return base


def status(tmp_path):
    return json.loads((tmp_path / "state" / "first-boot.json").read_text())


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("model_id", "mistralai/Mistral-7B-Instruct-v0.3", True),
        ("model_id", "a/b", True),
        ("model_id", "mistralai/Mistral-7B-Instruct-v0.3\n", False),
        ("model_id", "a--b/c", False),
        ("model_id", "a/b..c", False),
        ("model_id", "-a/b", False),
        ("model_id", "a/" + "b" * 97, False),
        ("hf_token_password", "", True),
        ("hf_token_password", "hf_" + "x" * 30, True),
        ("hf_token_password", "short", False),
        ("hf_token_password", "hf_abcdefgh\n", False),
        ("ui_auth", "no", True),
        ("ui_auth", "No", False),
        ("repo_url", "https://example.com/x.git", True),
        ("repo_url", "https://example.com/x.git\n", False),
        ("repo_url", "https://exa mple.com/x.git", False),
        ("repo_ref", "v1.0/rc", True),
        ("repo_ref", "main\n", False),
        ("repo_ref", "a..b", False),
    ],
)
def test_validate_is_a_full_match(field, value, ok):
    values = helper.udf_values({})
    values[field] = value
    problem = helper.validate(values)
    assert (problem is None) == ok, problem
    if not ok:
        assert problem[0] == field and problem[1].startswith(field) and "\n" not in problem[1]


def test_the_lower_case_name_wins_and_defaults_fill_the_rest():
    values = helper.udf_values({"model_id": "a/b", "MODEL_ID": "c/d", "UI_AUTH": "yes"})
    assert values == dict(helper.UDFS, model_id="a/b", ui_auth="yes")


def test_a_long_hostile_value_is_shown_escaped_and_shortened():
    shown = helper.shown("$(reboot)\n" + "x" * 200)
    assert "\n" not in shown and shown.endswith("...") and len(shown) < 100


def test_get_never_gives_the_token(tmp_path, capsys):
    assert helper.main(["validate"], env(tmp_path, hf_token_password="hf_abcdefgh123")) == 0
    assert helper.main(["get", "repo_ref"], env(tmp_path)) == 0
    assert capsys.readouterr().out == "main\n"
    assert helper.main(["get", "hf_token_password"], env(tmp_path)) == 2
    assert "hf_abcdefgh123" not in capsys.readouterr().out


def test_mark_writes_the_phase_label_to_status_and_motd(tmp_path):
    assert helper.main(["mark", "ansible_pull"], env(tmp_path)) == 0
    assert (status(tmp_path)["state"], status(tmp_path)["phase"]) == ("running", "ansible-pull")
    assert "being set up (phase: ansible-pull)" in (tmp_path / "motd").read_text()
    assert helper.main(["mark", "no-such-phase"], env(tmp_path)) == 2


def test_fail_renders_the_class_and_prints_its_exit_code(tmp_path, capsys):
    assert helper.main(["fail", "bootstrap_failed", "step=bootstrap", "code=100"], env(tmp_path)) == 0
    assert capsys.readouterr().out == "3\n"
    assert status(tmp_path)["reason"] == "the bootstrap step exited with code 100 (the log's last lines say why)"
    assert "then run: systemctl start ai-sandbox-first-boot." in (tmp_path / "motd").read_text()


def test_finish_takes_the_exit_code_from_this_runs_report(tmp_path, capsys):
    (tmp_path / "state").mkdir()
    report = {"state": "failed", "phase": "UI ready", "exit_code": 15, "reason_code": "ui_not_ready", "reason": "r"}
    (tmp_path / "state" / "site-report.json").write_text(json.dumps(report))
    since = os.path.getmtime(tmp_path / "state" / "site-report.json") - 1
    assert helper.main(["finish", "2", str(since)], env(tmp_path)) == 0
    assert capsys.readouterr().out == "failed 15\n"
    assert status(tmp_path)["reason_code"] == "ui_not_ready"
    # A report older than this run is an earlier run's: ansible-pull never started the play.
    assert helper.main(["finish", "2", str(since + 100)], env(tmp_path)) == 0
    assert capsys.readouterr().out == "failed 4\n"


def test_finish_reboots_only_when_allowed(tmp_path, capsys):
    (tmp_path / "state").mkdir()
    report = {"state": "failed", "phase": "driver", "exit_code": 10, "reason_code": "driver_needs_reboot"}
    (tmp_path / "state" / "site-report.json").write_text(json.dumps(report))
    since = os.path.getmtime(tmp_path / "state" / "site-report.json") - 1
    helper.main(["finish", "2", str(since)], env(tmp_path, AI_SANDBOX_REBOOT_ALLOWED="1"))
    assert capsys.readouterr().out == "reboot\n"
    helper.main(["finish", "2", str(since)], env(tmp_path))
    assert capsys.readouterr().out == "failed 10\n"


def test_core_spec_follows_the_python(capsys, monkeypatch):
    assert helper.main(["core-spec"], {}) == 0
    minor = "%d.%d" % sys.version_info[:2]
    assert capsys.readouterr().out == "ansible-core==%s\n" % helper.CORE_PINS[minor]


def test_the_python_3_10_core_pin_is_the_compat_stages():
    with open(os.path.join(ROOT, "tests", "requirements", "compat.txt")) as handle:
        pins = dict(line.split("==") for line in handle.read().split() if "==" in line)
    assert helper.CORE_PINS["3.10"] == pins["ansible-core"]


def test_collections_from_a_mirror_or_a_requirements_file(tmp_path, capsys):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for fqcn, version in helper.COLLECTION_PINS.items():
        (mirror / ("%s-%s.tar.gz" % (fqcn.replace(".", "-"), version))).write_text("")
    assert helper.main(["collections", str(mirror)], env(tmp_path)) == 0
    assert len(capsys.readouterr().out.split()) == len(helper.COLLECTION_PINS) == 3
    (tmp_path / "state").mkdir()
    assert helper.main(["collections"], env(tmp_path)) == 0
    requirements = capsys.readouterr().out.strip()
    with open(requirements) as handle:
        assert 'version: "==3.13.3"' in handle.read()


# --- the status page ---------------------------------------------------------------------------------
def serve(tmp_path, **extra):
    """The status page as the StackScript starts it, on a free loopback port and without any redirect."""
    import socket
    import subprocess
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = dict(env(tmp_path), AI_SANDBOX_STATUS_DIRECT="1", AI_SANDBOX_STATUS_PORT=str(port),
                       AI_SANDBOX_STATUS_RUNTIME=str(tmp_path / "run" / "status-page.json"), **extra)  # fmt: skip
    environment["PATH"] = os.environ["PATH"]
    process = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "stackscripts", "first_boot_helper.py"), "status-serve"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "status-serve.err", "w"),  # noqa: SIM115
    )
    url = "http://127.0.0.1:%d" % port
    for _attempt in range(100):
        try:
            urllib.request.urlopen(url + "/status.json", timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return process, url


def get(url):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_status_page_shows_phases_download_and_estimate_then_stops_cleanly(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "first-boot.json").write_text(json.dumps({
        "state": "running", "phase": "driver",
        "phases": [{"phase": "bootstrap", "started_at": "2026-11-23T00:00:00Z", "seconds": 12.0}]}))  # fmt: skip
    (state / "model-download.json").write_text(json.dumps({
        "state": "running", "done_bytes": 7_250_000_000, "total_bytes": 14_500_000_000,
        "bytes_per_second": 100_000_000, "eta_seconds": 72}))  # fmt: skip
    process, url = serve(tmp_path)
    try:
        status, page = get(url + "/")
        assert status == 200 and "Setting up: <b>driver</b>" in page and "7.2 of 14.5 GB" in page
        assert 'http-equiv="refresh"' in page and "bootstrap" in page
        status, body = get(url + "/status.json")
        view = json.loads(body)
        assert (view["state"], view["phase"], view["download"]["done_bytes"]) == ("running", "driver", 7_250_000_000)
        assert view["estimate_seconds"] == 72 + 45 + 4 * 14.5 + 30
        status, body = get(url + "/health")  # never mistaken for Open WebUI's health
        assert status == 503
        runtime = json.loads((tmp_path / "run" / "status-page.json").read_text())
        assert runtime["mode"] == "direct"
    finally:
        process.terminate()
        assert process.wait(10) == 0
    assert not (tmp_path / "run" / "status-page.json").exists()


def test_the_motd_follows_the_progress_and_a_failure_shows_the_failure(tmp_path):
    paths = helper.Paths(env(tmp_path))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "first-boot.json").write_text(json.dumps({"state": "running", "phase": "docker"}))
    (tmp_path / "state" / "model-download.json").write_text(json.dumps({
        "state": "running", "done_bytes": 1e9, "total_bytes": 4e9, "bytes_per_second": 5e7,
        "eta_seconds": 60}))  # fmt: skip
    helper.update_motd(paths, helper.progress_view(paths))
    motd = (tmp_path / "motd").read_text()
    assert "being set up (phase: docker)" in motd and "Model download: 1.0 of 4.0 GB (25%), 50 MB/s" in motd
    assert "Estimate: ready in about" in motd
    report = {"state": "failed", "phase": "model download", "reason": "model download failed", "todo": "Retry.",
              "details": "d", "exit_code": 12}  # fmt: skip
    (tmp_path / "state" / "site-report.json").write_text(json.dumps(report))
    view = helper.progress_view(paths, since=0.5)
    assert (view["state"], view["phase"], view["estimate_seconds"]) == ("failed", "model download", None)
    helper.update_motd(paths, view, since=0.5)
    assert "FAILED in phase: model download" in (tmp_path / "motd").read_text()
    # An older run's failure does not count: a resumed first boot is running again.
    assert helper.progress_view(paths, since=time_now() + 60)["state"] == "running"


def time_now():
    import time

    return time.time()
