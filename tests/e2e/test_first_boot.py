"""First boot end to end: provision.yml -> the StackScript in a new "Linode" -> ansible-pull -> site.yml,
then the inventory, validate.yml and destroy.yml, against the Linode API emulator (tests/e2e/lab.py says
what is real and what stands in). Four machines boot side by side: one that must become ready (and is
powered off in the middle of its first boot), and three that must fail with the right words: a
malformed model id, a gated model without a token, port 8000 taken by another program.

Run with `make e2e` (part of `make test`); about 15 minutes on 2 cores, most of it loading the real
Open WebUI image into the machine's Docker.

With AI_SANDBOX_LAB_PROFILE=real-scale (not part of `make test`) the ready machine serves
Mistral-7B-Instruct-v0.3 at the profile's sizes and times, with a stand-in GPU, its images pulled from a
registry, and more assertions: the driver loaded from the stand-in packages, the engine reserved the GPU
through the NVIDIA hook, every Hub file was downloaded at most once, nothing asked the Hub after the
download phase (across the engine's start and a reboot), and Open WebUI's first start asked it nothing.
"""

import calendar
import hashlib
import json
import os
import threading
import time
import urllib.error
import urllib.request

import lab_profile
import lab_scale
import pytest
from lab import HF_TOKEN, Lab, run, say

READY = "e2e-ready"
BAD_MODEL = "e2e-bad-model"
GATED = "e2e-gated"
PORT_TAKEN = "e2e-port-taken"
PROFILE = lab_profile.load()
MODEL = PROFILE.model  # the ready machine's: tiny-chat, or Mistral-7B-Instruct-v0.3 at real scale
SMALL_MODEL = "oneclick-testbed/tiny-chat"
real_scale_only = pytest.mark.skipif(not PROFILE.real_scale, reason="real-scale profile only")


@pytest.fixture(scope="module")
def lab():
    lab = Lab("e2e", 18123)
    lab.down()
    lab.up()
    yield lab
    lab.down()
    lab.remove()


def power_cycle(lab, label):
    """Pull the plug: systemd powers off, the container stops, then starts again (a reboot). A machine
    with a restart policy (real-scale) comes back by itself: its start time changes."""
    machine = lab.machine(label)
    started = run(["docker", "inspect", "-f", "{{.State.StartedAt}}", machine]).stdout.strip()
    run(["docker", "exec", machine, "systemctl", "poweroff"], check=False)
    for _second in range(60):
        state = run(["docker", "inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", machine]).stdout.split()
        if state[0] == "false" or state[1] != started:
            break
        time.sleep(1)
    if run(["docker", "inspect", "-f", "{{.State.Running}}", machine]).stdout.strip() == "false":
        run(["docker", "start", machine])


class PortWatcher:
    """Asks a machine's port 3000 once a second, from its provisioning on, as a visitor's browser would."""

    def __init__(self, lab, label):
        self.lab, self.label, self.seen, self.stop = lab, label, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(1.0):
            address = run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                           self.lab.machine(self.label)], check=False).stdout.strip()  # fmt: skip
            if not address:
                continue
            try:
                with urllib.request.urlopen("http://%s:3000/" % address, timeout=3) as response:
                    body = response.read().decode("utf-8", "replace")
                self.seen.append((time.time(), "status page" if "One-Click AI Sandbox" in body else "other", body))
            except urllib.error.HTTPError as exc:
                self.seen.append((time.time(), "http %d" % exc.code, ""))
            except (urllib.error.URLError, OSError) as exc:
                self.seen.append((time.time(), "refused" if "refused" in str(exc) else "no answer", str(exc)))

    def finish(self):
        self.stop.set()
        self.thread.join(10)
        return self.seen


@pytest.fixture(scope="module")
def booted(lab):
    """Provision the four machines; power-cycle the ready one during its ansible-pull; wait for all."""
    with open(os.path.join(lab.dir, "machine", "preboot", PORT_TAKEN + ".sh"), "w") as handle:
        handle.write("systemd-run --unit port-squatter python3 -m http.server 8000\n")
    provisioned = {
        # provision.yml refuses both before anything is created: these machines get the values raw, so that
        # the StackScript's and the first boot's own refusals are proven too.
        BAD_MODEL: lab.create_raw(BAD_MODEL, model_id="$(reboot)"),
        GATED: lab.create_raw(GATED, model_id="oneclick-testbed/gated-chat"),
        PORT_TAKEN: lab.provision(PORT_TAKEN, SMALL_MODEL, "-e", "hf_token=" + HF_TOKEN),
        READY: lab.provision(READY, MODEL, "-e", "hf_token=" + HF_TOKEN),
    }
    watcher = PortWatcher(lab, GATED)
    power_cycled = threading.Event()

    def on_phase(label, status):
        if label == READY and status.get("phase") == "ansible-pull" and not power_cycled.is_set():
            power_cycled.set()

            def later():
                time.sleep(25)
                say("%s: powering off in the middle of the first boot, then on again" % label)
                power_cycle(lab, label)

            threading.Thread(target=later, daemon=True).start()

    started = time.time()
    statuses = lab.wait_first_boot(list(provisioned), timeout=2400, on_phase=on_phase)
    say("all first boots ended after %.0f s" % (time.time() - started))
    time.sleep(5)
    return {
        "provisioned": provisioned,
        "statuses": statuses,
        "power_cycled": power_cycled.is_set(),
        "port_3000": watcher.finish(),
    }


def machine_address(lab, label):
    return lab.address(label)


def plain(value):
    """A value of `ansible-inventory --list` without its unsafe marker (the inventory_legacy profile)."""
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


def unit_exit_code(lab, label, unit):
    shown = lab.exec(label, "systemctl", "show", unit, "-p", "ExecMainStatus", "--value").stdout.strip()
    return int(shown or -1)


def test_provision_refuses_what_the_first_boot_would_refuse_and_creates_nothing(lab, booted):
    before = {instance["label"] for instance in lab_instances(lab)}
    bad = lab.provision("e2e-never", "$(reboot)", check=False)
    gated = lab.provision("e2e-never", "oneclick-testbed/gated-chat", check=False)
    assert bad.returncode != 0 and "model" in bad.stdout + bad.stderr, bad.stdout[-2000:]
    assert gated.returncode != 0 and "hf_token is required" in gated.stdout, gated.stdout[-2000:]
    assert {instance["label"] for instance in lab_instances(lab)} == before


def lab_instances(lab):
    import urllib.request

    request = urllib.request.Request(
        lab.api_url + "/linode/instances", headers={"Authorization": "Bearer lab-linode-token"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


def test_provision_says_where_the_sandbox_is(lab, booted):
    output = booted["provisioned"][READY].stdout
    assert "Sandbox e2e-ready (g2-gpu-rtx4000a1-s, 1 GPU) in us-ord" in output
    assert "WARNING: no firewall" in output


def test_ready_after_a_power_cut_in_the_middle(lab, booted):
    status = booted["statuses"][READY]
    assert booted["power_cycled"]
    assert (status["state"], status["phase"], status["exit_code"]) == ("ready", "done", 0), status
    # After the power cut, the resume unit finished the work at boot.
    assert unit_exit_code(lab, READY, "ai-sandbox-first-boot.service") == 0
    phases = [p["phase"] for p in status["phases"]]
    assert phases[:2] == ["bootstrap", "ansible-pull"] and "resume" in phases
    for phase in ("driver", "docker", "image pull (engine)", "model download", "engine start", "first token",
                  "image pull (UI)", "UI ready"):  # fmt: skip
        assert phase in phases, phases
    assert all(p["started_at"].endswith("Z") and p["seconds"] >= 0 for p in status["phases"])
    motd = lab.read(READY, "/etc/motd")
    address = machine_address(lab, READY)
    assert "Chat in your browser:  http://%s:3000" % address in motd
    assert "OpenAI API base URL:   http://%s:8000/v1" % address in motd
    assert "Time to ready: " in motd and "model download" in motd and "SECURITY WARNING" in motd
    rows = ["  %-20s %7.1f s" % (p["phase"], p["seconds"]) for p in status["phases"]]
    say("time to ready in the lab:\n" + "\n".join(rows))


def test_provisioning_again_changes_nothing_and_waits_for_the_api(lab, booted):
    again = lab.provision(READY, MODEL, "-e", "hf_token=" + HF_TOKEN, "-e", "wait_for_api=true")
    assert "Wait until the API answers (wait_for_api)" in again.stdout
    assert "changed=0" in again.stdout and "failed=0" in again.stdout, again.stdout[-2000:]


def test_inventory_lists_the_sandbox_with_its_address(lab, booted):
    inventory = lab.inventory()
    assert READY in inventory["ai_sandbox"]["hosts"]
    assert plain(inventory["_meta"]["hostvars"][READY]["ansible_host"]) == machine_address(lab, READY)
    assert plain(inventory["_meta"]["hostvars"][READY]["ai_sandbox_chat_url"]) == "http://%s:3000" % machine_address(
        lab, READY
    )


def test_validate_playbook_passes_from_the_control_node(lab, booted):
    result = lab.playbook(
        "validate.yml",
        "-e",
        "ai_sandbox_hosts=" + READY,
        "-e",
        "validate_wait_seconds=60",
        inventory=lab.inventory_file(),
    )
    assert "Stand-in reply to: Say hello in five words." in result.stdout
    assert "offers %s" % MODEL.split("/")[-1] in result.stdout or "offers %s" % MODEL in result.stdout, result.stdout[
        -3000:
    ]
    assert "failed=0" in result.stdout


def test_running_the_stackscript_again_changes_nothing(lab, booted):
    files = ["/etc/motd", "/var/lib/ai-sandbox/first-boot.json", "/var/lib/ai-sandbox/site-report.json",
             "/opt/ai-sandbox/docker-compose.yml", "/opt/ai-sandbox/vllm.env"]  # fmt: skip

    def digest():
        return {path: hashlib.sha256(lab.read(READY, path).encode()).hexdigest() for path in files}

    before = digest()
    again = lab.exec(
        READY, "bash", "-c", "set -a; . /var/lib/ai-sandbox/first-boot.env; bash /var/lib/ai-sandbox/first-boot.sh"
    )
    assert "nothing to do" in again.stdout
    assert digest() == before


@pytest.mark.parametrize(
    ("label", "phase", "code", "words"),
    [
        (BAD_MODEL, "input", 2, "model_id is not a Hugging Face model id"),
        (GATED, "model download", 12, "model download refused: gated repository and no Hugging Face token"),
        (PORT_TAKEN, "engine start", 14, "port 8000 already in use (python3)"),
    ],
)
def test_a_failed_first_boot_says_why(lab, booted, label, phase, code, words):
    status = booted["statuses"][label]
    assert (status["state"], status["phase"], status["exit_code"]) == ("failed", phase, code), status
    assert status["reason"].startswith(words), status
    motd = lab.read(label, "/etc/motd")
    assert "FAILED in phase: %s" % phase in motd
    assert "Reason: " + status["reason"] in motd
    assert "/var/log/ai-sandbox/first-boot.log" in motd
    assert status["todo"] and status["todo"].split()[0] in motd
    # The StackScript's exit code is the status file's.
    assert unit_exit_code(lab, label, "linode-stackscript.service") == code


@pytest.mark.parametrize("label", [READY, PORT_TAKEN])
def test_the_token_stays_in_root_only_files(lab, booted, label):
    """The Hugging Face token given to provision.yml reaches the machine, and no log."""
    for path in ("/var/lib/ai-sandbox/extra-vars.json", "/var/lib/ai-sandbox/first-boot.env"):
        assert HF_TOKEN in lab.read(label, path)
        assert lab.exec(label, "stat", "-c", "%a %U", path).stdout.strip() == "600 root"
    if label == READY:
        assert "HF_TOKEN=" + HF_TOKEN in lab.read(label, "/opt/ai-sandbox/vllm.env")
    for text in (
        lab.read(label, "/var/log/ai-sandbox/first-boot.log"),
        lab.exec(label, "journalctl", "--no-pager", "-o", "cat").stdout,
        lab.read(label, "/var/lib/ai-sandbox/first-boot.json"),
        lab.read(label, "/etc/motd"),
    ):
        assert text and HF_TOKEN not in text


# --- real scale ---------------------------------------------------------------------------------------
def phase(status, label):
    return next((p for p in status["phases"] if p["phase"] == label), None)


def epoch(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


@real_scale_only
def test_the_driver_came_from_the_stand_in_packages(lab, booted):
    smi = lab.exec(READY, "nvidia-smi", check=False)
    assert smi.returncode == 0 and "NVIDIA RTX 4000 Ada Generation" in smi.stdout and "CUDA Version: 13.0" in smi.stdout
    installed = lab.exec(READY, "dpkg-query", "-W", "-f", "${Package} ${Status}\n").stdout
    kernel = lab.exec(READY, "uname", "-r").stdout.strip()
    # The role holds the driver's packages against unattended upgrades: "hold ok installed".
    precompiled = "linux-modules-nvidia-580-server-open-%s hold ok installed" % kernel in installed
    dkms = "nvidia-kernel-open-dkms hold ok installed" in installed
    assert precompiled or dkms, installed
    say("driver installed by the %s method" % ("precompiled" if precompiled else "DKMS"))
    facts = json.loads(lab.read(READY, "/var/lib/ai-sandbox/sandbox.json"))
    assert str(facts["gpus"]) == "1", facts


@real_scale_only
def test_the_images_came_through_the_registry_and_the_engine_reserved_the_gpu(lab, booted):
    address = machine_address(lab, READY)
    with open(os.path.join(lab.dir, "registry-access.log")) as handle:
        records = [json.loads(line) for line in handle]
    pulled = {r["path"].split("/blobs/")[0][4:] for r in records if r["client"] == address and "/blobs/" in r["path"]}
    assert pulled >= {lab_scale.VLLM_REPOSITORY, lab_scale.UI_REPOSITORY}, pulled
    images = lab.exec(READY, "docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "%s/%s:%s" % (lab.registry_address, lab_scale.VLLM_REPOSITORY, lab_scale.VLLM_TAG) in images, images
    hook = lab.read(READY, "/var/log/nvidia-container-runtime-hook.log") or ""
    assert "prestart" in hook and "NVIDIA_VISIBLE_DEVICES=all" in hook, hook


@real_scale_only
def test_every_hub_file_was_downloaded_at_most_once(lab, booted):
    records = lab_scale.hub_records(lab.hub_log, machine_address(lab, READY))
    sizes = {f["path"]: f["size"] for f in lab.profile.hub_files()}
    downloaded = lab_scale.downloads_per_file(records)
    assert downloaded, "the Hub stand-in sent no file to %s" % READY
    twice = {name: sent for name, sent in downloaded.items() if sent > sizes[name]}
    say("Hub files sent to %s: %s" % (READY, ", ".join("%s %d B" % item for item in sorted(downloaded.items()))))
    assert not twice, "sent more than once (bytes sent, file sizes %s): %s" % (
        {name: sizes[name] for name in twice},
        twice,
    )


@real_scale_only
def test_open_webuis_first_start_asked_the_hub_nothing(lab, booted):
    records = lab_scale.hub_records(lab.hub_ui_log)
    assert records == [], ["%s %s %d" % (r["method"], r["path"], r["status"]) for r in records[:10]]


@real_scale_only
def test_nothing_asks_the_hub_after_the_download_across_engine_start_and_a_reboot(lab, booted):
    status = booted["statuses"][READY]
    download = phase(status, "model download")
    assert download, status["phases"]
    # The status file's times are whole seconds: a second's slack.
    done = epoch(download["started_at"]) + download["seconds"] + 1.0
    address = machine_address(lab, READY)

    def late():
        return [
            "%s %s %d (%+.1f s)" % (r["method"], r["path"], r["status"], r["time"] - done)
            for r in lab_scale.hub_records(lab.hub_log, address)
            if r["time"] > done
        ]

    assert late() == [], "after the download phase ended, through the engine's start"
    say("%s: rebooting to watch the engine come back" % READY)
    power_cycle(lab, READY)
    deadline = time.time() + 900
    while time.time() < deadline:
        if lab.exec(READY, "python3", "-c", "import urllib.request; urllib.request.urlopen("
                    "'http://127.0.0.1:8000/v1/models', timeout=5)", check=False).returncode == 0:  # fmt: skip
            break
        time.sleep(5)
    else:
        raise AssertionError("the engine did not answer within 900 s of the reboot")
    assert late() == [], "after the download phase ended, through a reboot"


def test_port_3000_answers_from_the_first_minute_and_never_refuses_after(lab, booted):
    """The status page answers soon after the machine starts, and keeps answering, here through a failed
    first boot (the gated model), where it then shows the failure."""
    seen = booted["port_3000"]
    started = run(["docker", "inspect", "-f", "{{.State.StartedAt}}", lab.machine(GATED)]).stdout.strip()
    boot = time.mktime(time.strptime(started[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    answers = [when for when, outcome, _body in seen if outcome == "status page"]
    assert answers, seen[-5:]
    say("port 3000 of %s answered %.0f s after the machine started" % (GATED, answers[0] - boot))
    assert answers[0] - boot <= 90
    after = [(when, outcome) for when, outcome, _body in seen if when >= answers[0]]
    assert all(outcome == "status page" for _when, outcome in after), after
    last = [body for _when, outcome, body in seen if outcome == "status page"][-1]
    assert "The setup failed in phase <b>model download</b>" in last


def test_the_status_page_says_where_the_setup_is_in_json(lab, booted):
    address = machine_address(lab, GATED)
    with urllib.request.urlopen("http://%s:3000/status.json" % address, timeout=5) as response:
        view = json.loads(response.read())
    assert (view["state"], view["phase"]) == ("failed", "model download")
    assert view["reason"].startswith("model download refused: gated repository")


def test_once_ready_port_3000_is_open_webui(lab, booted):
    address = machine_address(lab, READY)
    with urllib.request.urlopen("http://%s:3000/health" % address, timeout=5) as response:
        assert json.loads(response.read()) == {"status": True}
    assert (
        lab.exec(READY, "systemctl", "is-active", "ai-sandbox-status.service", check=False).stdout.strip() != "active"
    )
    assert "Chat in your browser" in lab.read(READY, "/etc/motd")


def test_destroy_removes_each_instance_and_its_machine(lab, booted):
    for label in (READY, BAD_MODEL, GATED, PORT_TAKEN):
        result = lab.playbook("destroy.yml", "-e", "label=" + label, "-e", "confirm=yes")
        assert "Deleted %s" % label in result.stdout
        assert run(["docker", "inspect", lab.machine(label)], check=False).returncode != 0
    assert lab.inventory().get("ai_sandbox", {}).get("hosts", []) == []
