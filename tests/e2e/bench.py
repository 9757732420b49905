"""`make bench-first-boot`: one first boot end to end in a lab profile, measured (a benchmark, not a test).

  AI_SANDBOX_LAB_PROFILE=real-scale|fast python3 tests/e2e/bench.py     (real-scale when not set)

Provisions one sandbox through the Linode API emulator (tests/e2e/lab.py), and from the moment the
emulator powers the machine on, watches what a user would: when port 3000 first answers (the status page,
or Open WebUI), when the API first completes a chat request, and when the status file says ready. Then it
prints the time to ready per phase (from the status file's phases), the critical path through them, the
serial sum of the phases and their ratio, and writes the same as JSON under .build/bench/. The lab is
removed afterwards (KEEP=1 leaves it running).
"""

import calendar
import json
import os
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request

import lab_scale
from lab import HF_TOKEN, ROOT, Lab, say

LABEL = "bench-1"
POLL = 0.5
STATUS_POLL = 3.0
# Phases whose start is read from the status file to the second: a second's slack joins a chain.
SLACK = 1.0


def epoch(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


def spans(phases):
    """[{phase, start, end, seconds}] (epoch seconds) from the status file's phases."""
    out = []
    for entry in phases:
        start = epoch(entry["started_at"])
        out.append({"phase": entry["phase"], "start": start, "seconds": float(entry["seconds"]),
                    "end": start + float(entry["seconds"])})  # fmt: skip
    return out


def critical_path(phases):
    """The chain of phases that ends last, each one the latest to end before the next began: what the
    time to ready waits for. Returns (names, the chain's summed seconds)."""
    if not phases:
        return [], 0.0
    current = max(phases, key=lambda p: (p["end"], p["seconds"]))
    chain = [current]
    while True:
        before = [p for p in phases if p is not current and p["end"] <= current["start"] + SLACK and p not in chain]
        if not before:
            break
        current = max(before, key=lambda p: (p["end"], p["seconds"]))
        chain.append(current)
    chain.reverse()
    return [p["phase"] for p in chain], sum(p["seconds"] for p in chain)


def answers(url, data=None, timeout=3):
    """True when an HTTP server answers at url (any status); for a POST, only a 200 counts."""
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200 or data is None, response.read()
    except urllib.error.HTTPError as error:
        return data is None, error.read()
    except (OSError, ValueError):
        return False, b""


def chat(address, model):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello, sandbox!"}],
                       "max_tokens": 16}).encode()  # fmt: skip
    ok, reply = answers("http://%s:8000/v1/chat/completions" % address, body, timeout=30)
    if not ok:
        return None
    try:
        return json.loads(reply)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError):
        return None


def hub_summary(lab, address, phases):
    """What the machine asked of the Hub: bytes per file (and how many times its size), requests after the
    model download phase, and Open WebUI's requests."""
    records = lab_scale.hub_records(lab.hub_log, address)
    sizes = {f["path"]: f for f in lab.profile.hub_files()}
    files = {}
    for name, sent in sorted(lab_scale.downloads_per_file(records).items()):
        entry = sizes.get(name, {"size": sent or 1, "real_size": sent})
        files[name] = {"sent": sent, "times": sent / float(entry["size"]),
                       "real_bytes": sent * entry["real_size"] / float(entry["size"])}  # fmt: skip
    download = next((p for p in phases if p["phase"] == "model download"), None)
    late = [r for r in records if download and r["time"] > download["end"] + SLACK]
    return {
        "files": files,
        "real_bytes": sum(f["real_bytes"] for f in files.values()),
        "requests_after_download": len(late),
        "late_examples": ["%s %s" % (r["method"], r["path"]) for r in late[:5]],
        "ui_requests": len(lab_scale.hub_records(lab.hub_ui_log)),
    }


def since(result, key):
    return "%.0f s" % (result[key] - result["powered_on_at"]) if result.get(key) else "never"


def render(result):
    t0 = result["powered_on_at"]
    scaled = " (sizes and bandwidths 1/%d, times real)" % result["scale"] if result["scale"] > 1 else ""
    lines = [
        "First boot, profile %s%s; this machine: %s" % (result["profile"], scaled, result["machine"]),
        "",
        "| Phase | Starts at (s) | Seconds | Ends at (s) |",
        "| --- | --- | --- | --- |",
    ]
    for p in result["phases"]:
        lines.append("| %s | %.0f | %.1f | %.0f |" % (p["phase"], p["start"] - t0, p["seconds"], p["end"] - t0))
    lines += [
        "",
        "Times are from the machine's power-on (the emulator's boot of the instance; provision -> power-on %.0f s)."
        % (t0 - result["provisioned_at"]),
        "Critical path: %s = %.0f s" % (" -> ".join(result["critical_path"]), result["critical_path_seconds"]),
        "Serial sum of the phases: %.0f s; critical path %.0f s; serial sum / critical path = %.2f"
        % (result["serial_seconds"], result["critical_path_seconds"], result["ratio"]),
        "Status file says ready: %s" % since(result, "ready_at"),
        "Port 3000 first answered: %s" % since(result, "ui_answered_at"),
        "First API answer (a chat completion): %s" % since(result, "api_answered_at"),
    ]
    hub = result.get("hub")
    if hub:
        sent = ", ".join(
            "%s %.2f GB%s" % (name, f["real_bytes"] / 1e9, " (%.1f times)" % f["times"] if f["times"] > 1.01 else "")
            for name, f in hub["files"].items()
        )
        late = ": " + "; ".join(hub["late_examples"]) if hub["late_examples"] else ""
        lines += [
            "Hub, real bytes sent to the machine: %.1f GB (%s)" % (hub["real_bytes"] / 1e9, sent),
            "Hub requests after the model download phase: %d%s" % (hub["requests_after_download"], late),
            "Hub requests from Open WebUI: %d" % hub["ui_requests"],
        ]
    return "\n".join(lines)


def machine_description():
    try:
        with open("/etc/os-release") as handle:
            os_name = next(
                line.split("=", 1)[1].strip().strip('"') for line in handle if line.startswith("PRETTY_NAME=")
            )
    except (OSError, StopIteration):
        os_name = "unknown OS"
    return "%d cores, %s" % (os.cpu_count() or 0, os_name)


def main():
    # Stopped from outside (or from a background job, where SIGINT is ignored): still clean up.
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    profile = os.environ.get("AI_SANDBOX_LAB_PROFILE") or "real-scale"
    lab = Lab("bench", 9123, profile)
    lab.down()
    lab.up()
    result = {"profile": lab.profile.name, "scale": lab.profile.scale, "machine": machine_description(),
              "model": lab.profile.model}  # fmt: skip
    result.update(ui_answered_at=None, api_answered_at=None, ready_at=None)
    try:
        result["provisioned_at"] = time.time()
        token = ["-e", "hf_token=" + HF_TOKEN] if lab.profile.real_scale else []
        lab.provision(LABEL, lab.profile.model, *token)
        say("provisioned %s; watching port 3000, the API and the status file" % LABEL)
        status, address, answer, deadline, checked = {}, None, None, time.time() + 3600, 0.0
        while time.time() < deadline:
            now = time.time()
            if address is None and lab.boot_record(LABEL):
                address = lab.address(LABEL)
            if address:
                if result["ui_answered_at"] is None and answers("http://%s:3000/" % address)[0]:
                    result["ui_answered_at"] = now
                    say("port 3000 answers")
                if result["api_answered_at"] is None:
                    answer = chat(address, lab.profile.model)
                    if answer is not None:
                        result["api_answered_at"] = now
                        say("the API answered: %r" % answer)
                if now - checked >= STATUS_POLL:  # a docker exec: not every half second on 2 cores
                    status, checked = lab.status(LABEL) or status, now
                if status.get("state") in ("ready", "failed") and result["ready_at"] is None:
                    result["ready_at"] = time.time() if status["state"] == "ready" else None
                    say("first boot ended: %s (%s)" % (status["state"], status.get("phase")))
                    if status["state"] == "failed":
                        break
                if status.get("state") == "ready" and result["api_answered_at"] and result["ui_answered_at"]:
                    break
            time.sleep(POLL)
        result["powered_on_at"] = lab.boot_record(LABEL).get("powered_on_at", result["provisioned_at"])
        result["status"] = {k: status.get(k) for k in ("state", "phase", "reason", "exit_code")}
        if status.get("state") == "ready":
            result["ready_at"] = epoch(status["finished_at"]) if status.get("finished_at") else result["ready_at"]
        phases = spans(status.get("phases") or [])
        result["phases"] = phases
        result["critical_path"], result["critical_path_seconds"] = critical_path(phases)
        result["serial_seconds"] = sum(p["seconds"] for p in phases)
        result["ratio"] = result["serial_seconds"] / result["critical_path_seconds"] if phases else 0.0
        result["answer"] = answer
        if lab.profile.real_scale and address:
            result["hub"] = hub_summary(lab, address, phases)
        table = render(result)
        print("\n" + table + "\n", flush=True)
        out = os.path.join(ROOT, ".build", "bench")
        os.makedirs(out, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        with open(os.path.join(out, "%s-%s.json" % (lab.profile.name, stamp)), "w") as handle:
            json.dump(result, handle, indent=2)
        with open(os.path.join(out, "%s-%s.md" % (lab.profile.name, stamp)), "w") as handle:
            handle.write(table + "\n")
        logs = os.path.join(out, "%s-%s-logs" % (lab.profile.name, stamp))
        os.makedirs(logs)
        for name in ("hub-access.log", "hub-ui-access.log", "registry-access.log", "apt-access.log"):
            if os.path.exists(os.path.join(lab.dir, name)):
                shutil.copy(os.path.join(lab.dir, name), logs)
        first_boot_log = lab.read(LABEL, "/var/log/ai-sandbox/first-boot.log")
        if first_boot_log:
            with open(os.path.join(logs, "first-boot.log"), "w") as handle:
                handle.write(first_boot_log)
        if status.get("state") != "ready":
            print(lab.read(LABEL, "/etc/motd") or "", file=sys.stderr)
            return 1
        return 0
    finally:
        if os.environ.get("KEEP") == "1":
            say("KEEP=1: the lab stays up (make demo-down does not remove it: AI_SANDBOX_LAB=bench)")
        else:
            lab.playbook("destroy.yml", "-e", "label=" + LABEL, "-e", "confirm=yes", check=False)
            lab.down()
            lab.remove()


if __name__ == "__main__":
    sys.exit(main())
