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
