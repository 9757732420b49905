"""The whole path on one machine: a Linode API emulator whose "Linodes" are Debian 12 systemd containers.

Used by the end-to-end test (tests/e2e/test_first_boot.py) and by `make demo`. What is real: the
provision, validate and destroy playbooks, the inventory plugin, the StackScript, ansible-pull from a
git server, the site playbook with its four roles in a systemd machine, Docker, Compose and Open WebUI.
What stands in (nothing else is reachable here): the Linode API (tests/standins/linode_api, held to
the official spec), the machine itself (a container on the Docker network below instead of a GPU
Linode), the Hugging Face Hub (tests/standins/hf_hub) and vLLM's engine image (tests/standins/vllm).
Without a registry, the images and the Python wheels and collections come from a local mirror
(AI_SANDBOX_PIP_ARGS, AI_SANDBOX_COLLECTIONS_DIR, AI_SANDBOX_EXTRA_VARS: the StackScript's mirror
switches), mounted read-only into each machine.

Profiles (AI_SANDBOX_LAB_PROFILE, tests/e2e/profiles/): `fast` (the default) is the above with a tiny
model and images loaded from archives. `real-scale` serves Mistral-7B-Instruct-v0.3's real file list,
pulls the images from a registry, gives each machine a stand-in GPU and driver packages, and throttles
every transfer to the profile's bandwidths (tests/e2e/lab_scale.py says how).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTBED = os.path.join(ROOT, "tests", "testbed", "testbed.sh")
HOOK = os.path.join(ROOT, "tests", "e2e", "linode-hook.sh")
NETWORK = "ai-sandbox-e2e"
SUBNET = "172.30.99.0/24"
GATEWAY = "172.30.99.1"
TOKEN = "lab-linode-token"
HF_TOKEN = "hf_testbed_granted"
MIRROR_IN_MACHINE = "/srv/ai-sandbox-mirror"
LAB_IN_MACHINE = "/srv/ai-sandbox-lab"
sys.path.insert(0, os.path.join(ROOT, "stackscripts"))
sys.path.insert(0, os.path.join(ROOT, "plugins", "module_utils"))
import first_boot_helper  # noqa: E402  (the StackScript's pins: what its first boot installs)
import lab_profile  # noqa: E402

# The machines run Debian 12's Python 3.11: the ansible-core the first boot pins for it.
CORE_SPEC = "ansible-core==%s" % first_boot_helper.CORE_PINS["3.11"]


def read_text(path):
    with open(path) as handle:
        return handle.read()


def say(message):
    print("[lab %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


def run(command, check=True, capture=True, env=None, timeout=None):
    result = subprocess.run(command, check=False, text=True, capture_output=capture, env=env, timeout=timeout, cwd=ROOT)
    if check and result.returncode != 0:
        output = (result.stdout or "") + (result.stderr or "")
        raise RuntimeError("%s exited with %d:\n%s" % (" ".join(command), result.returncode, output))
    return result


def pack_collection(source, target):
    """A collection tarball from an installed collection: the `ansible` package leaves out some files
    its FILES.json lists (CI configuration), so FILES.json lists what is there and MANIFEST.json its
    new checksum, as ansible-galaxy checks both when it installs."""
    import hashlib
    import io

    with open(os.path.join(source, "FILES.json")) as handle:
        files = json.load(handle)
    files["files"] = [
        entry
        for entry in files["files"]
        if entry["name"] == "." or os.path.lexists(os.path.join(source, entry["name"]))
    ]
    files_blob = json.dumps(files, indent=4).encode()
    with open(os.path.join(source, "MANIFEST.json")) as handle:
        manifest = json.load(handle)
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files_blob).hexdigest()
    manifest_blob = json.dumps(manifest, indent=4).encode()
    with tarfile.open(target, "w:gz") as archive:
        for name, blob in (("MANIFEST.json", manifest_blob), ("FILES.json", files_blob)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(blob), 0o644
            archive.addfile(info, io.BytesIO(blob))
        for entry in files["files"]:
            if entry["name"] != ".":
                archive.add(os.path.join(source, entry["name"]), arcname=entry["name"], recursive=False)


def testbed_env():
    values = {}
    for line in run([TESTBED, "env"]).stdout.splitlines():
        name, _sep, value = line.replace("export ", "", 1).partition("=")
        values[name] = value.strip("'")
    return values


class Lab:
    """One lab: its ports, its directory under .build/, and the servers it runs."""

    def __init__(self, name, port_base, profile=None):
        self.name = name
        self.profile = lab_profile.load(profile)
        self.dir = os.path.join(ROOT, ".build", "lab-" + name)
        self.api_port, self.git_port, self.hub_port = port_base, port_base + 1, port_base + 2
        # Real-scale only: a second Hub where Open WebUI would ask, the registry's TLS front and its
        # loopback registry, the apt repositories.
        self.hub_ui_port, self.registry_port, self.registry_local_port = port_base + 3, port_base + 4, port_base + 5
        self.apt_port = port_base + 6
        self.registry_address = "%s:%d" % (GATEWAY, self.registry_port)
        self.hub_log = os.path.join(self.dir, "hub-access.log")
        self.hub_ui_log = os.path.join(self.dir, "hub-ui-access.log")
        self.real_scale = None
        self.api_url = "http://127.0.0.1:%d/v4" % self.api_port
        self.repo_url = "http://%s:%d/ai_sandbox.git" % (GATEWAY, self.git_port)
        self.repo_ref = "lab-" + name
        self.cache = os.environ.get("AI_SANDBOX_TESTBED_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ai-sandbox-testbed"
        )
        self.mirror = os.path.join(self.cache, "lab-mirror")
        self.home = os.path.join(self.dir, "home")
        self.images = testbed_env()

    # --- the pieces ------------------------------------------------------------------------------
    def network(self):
        if run(["docker", "network", "inspect", NETWORK], check=False).returncode != 0:
            run(["docker", "network", "create", "--subnet", SUBNET, "--gateway", GATEWAY, NETWORK])

    def prepare_mirror(self):
        """Wheels, collections, image archives and the Compose plugin the machines install from."""
        wheels = os.path.join(self.mirror, "wheels")
        core_wheel = "ansible_core-%s-" % first_boot_helper.CORE_PINS["3.11"]
        if not os.path.isdir(wheels) or not any(name.startswith(core_wheel) for name in os.listdir(wheels)):
            say("downloading %s wheels for the machines' Python 3.11" % CORE_SPEC)
            os.makedirs(wheels, exist_ok=True)
            platforms = []
            for tag in ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "linux_x86_64"):
                platforms += ["--platform", tag]
            run(
                [sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:", "--python-version", "3.11.2",
                 "--implementation", "cp", *platforms, CORE_SPEC, "-d", wheels]
            )  # fmt: skip
        self.prepare_collections(os.path.join(self.mirror, "collections"))
        images = os.path.join(self.mirror, "images")
        os.makedirs(images, exist_ok=True)
        for name, ref in (("vllm-standin", self.images["AI_SANDBOX_VLLM_IMAGE"]),
                          ("open-webui", self.images["AI_SANDBOX_WEBUI_IMAGE"])):  # fmt: skip
            archive, stamp = os.path.join(images, name + ".tar"), os.path.join(images, name + ".ref")
            if os.path.exists(stamp) and read_text(stamp) == ref and os.path.exists(archive):
                continue
            say("saving %s to the mirror (once per image; the UI's takes a minute or two)" % ref)
            run(["docker", "save", "-o", archive + ".tmp", ref])
            os.replace(archive + ".tmp", archive)
            with open(stamp, "w") as handle:
                handle.write(ref)
        shutil.copy2(self.images["AI_SANDBOX_COMPOSE_PLUGIN"], os.path.join(self.mirror, "docker-compose"))

    def prepare_collections(self, collections):
        """The collections at exactly the first boot's pins (requirements.yml), packed from the `ansible`
        package that carries them (the compat stage's, tests/requirements/compat.txt), so that the lab
        proves the versions a real first boot installs."""
        import zipfile

        os.makedirs(collections, exist_ok=True)
        wanted = {
            "%s-%s.tar.gz" % (fqcn.replace(".", "-"), version): (fqcn, version)
            for fqcn, version in first_boot_helper.COLLECTION_PINS.items()
        }
        if all(os.path.exists(os.path.join(collections, name)) for name in wanted):
            return
        with open(os.path.join(ROOT, "tests", "requirements", "compat.txt")) as handle:
            package = next(line.strip() for line in handle if line.startswith("ansible=="))
        downloads = os.path.join(self.cache, "ansible-package")
        os.makedirs(downloads, exist_ok=True)
        stem = package.replace("==", "-") + "-"
        if not any(name.startswith(stem) for name in os.listdir(downloads)):
            say("downloading %s (it carries the pinned collections)" % package)
            run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:", package,
                 "-d", downloads])  # fmt: skip
        wheel = next(os.path.join(downloads, name) for name in os.listdir(downloads) if name.startswith(stem))
        unpacked = os.path.join(self.cache, "ansible-package", "unpacked")
        for name, (fqcn, version) in wanted.items():
            namespace, collection = fqcn.split(".")
            prefix = "ansible_collections/%s/%s/" % (namespace, collection)
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(unpacked, [m for m in archive.namelist() if m.startswith(prefix)])
            source = os.path.join(unpacked, prefix)
            with open(os.path.join(source, "MANIFEST.json")) as handle:
                found = json.load(handle)["collection_info"]["version"]
            if found != version:
                raise RuntimeError("%s carries %s %s, but requirements.yml pins %s" % (package, fqcn, found, version))
            say("packing %s %s from %s" % (fqcn, version, package))
            for stale in [f for f in os.listdir(collections) if f.startswith("%s-%s-" % (namespace, collection))]:
                os.remove(os.path.join(collections, stale))
            target = os.path.join(collections, name)
            pack_collection(source, target + ".tmp")
            os.replace(target + ".tmp", target)

    def prepare_real_scale(self):
        """The real-scale profile's registry, images, apt repositories, stand-in GPU and preboot script."""
        from lab_scale import RealScale

        run([TESTBED, "registry"], capture=False)
        scale = self.real_scale = RealScale(self)
        os.makedirs(os.path.join(self.dir, "machine", "preboot"), exist_ok=True)
        self._server("registry", ["docker-registry", "serve", scale.registry_config(self.registry_local_port)])
        self._wait_port("127.0.0.1", self.registry_local_port, "the lab registry")
        charges = scale.push_images(self.registry_local_port, self.images["AI_SANDBOX_VLLM_IMAGE"],
                                    self.images["AI_SANDBOX_WEBUI_IMAGE"])  # fmt: skip
        ca, cert, key = scale.certificates(GATEWAY)
        front = os.path.join(ROOT, "tests", "standins", "mirrors", "mirror_server.py")
        self._server("registry-front", [sys.executable, front, "registry", "--upstream",
                                        "http://127.0.0.1:%d" % self.registry_local_port, "--host", GATEWAY,
                                        "--port", str(self.registry_port), "--cert", cert, "--key", key,
                                        "--log", os.path.join(self.dir, "registry-access.log"),
                                        *scale.registry_front_args(self.registry_local_port, charges)])  # fmt: skip
        precompiled = os.environ.get("AI_SANDBOX_LAB_DRIVER_METHOD", "auto") != "dkms"
        self._server("apt-mirror", [sys.executable, front, "static", "--root", scale.apt_root(precompiled),
                                    "--host", GATEWAY, "--port", str(self.apt_port),
                                    "--log", os.path.join(self.dir, "apt-access.log"),
                                    *scale.apt_server_args()])  # fmt: skip
        scale.gpu_template()
        with open(os.path.join(self.dir, "machine", "preboot", "all.sh"), "w") as handle:
            handle.write(scale.preboot(self.registry_address, self.apt_url(), ca))
        self._wait_port(GATEWAY, self.registry_port, "the registry's TLS front")
        self._wait_port(GATEWAY, self.apt_port, "the apt mirror")

    def apt_url(self):
        return "http://%s:%d" % (GATEWAY, self.apt_port)

    def write_site_vars(self):
        """The site variables a mirror needs (AI_SANDBOX_EXTRA_VARS): local images, the stand-in Hub."""
        machine_dir = os.path.join(self.dir, "machine")
        os.makedirs(os.path.join(machine_dir, "preboot"), exist_ok=True)
        site_vars = {
            "docker_gpu_source": "distribution",
            "docker_gpu_compose_plugin_src": MIRROR_IN_MACHINE + "/docker-compose",
            "vllm_service_image": self.images["AI_SANDBOX_VLLM_IMAGE"],
            "vllm_service_image_archive": MIRROR_IN_MACHINE + "/images/vllm-standin.tar",
            "vllm_service_hf_endpoint": "http://%s:%d" % (GATEWAY, self.hub_port),
            "vllm_service_ready_timeout": 300,
            "open_webui_image": self.images["AI_SANDBOX_WEBUI_IMAGE"],
            "open_webui_image_archive": MIRROR_IN_MACHINE + "/images/open-webui.tar",
            # No route to Hugging Face: Open WebUI must not try to fetch its embedder.
            "open_webui_env": {"OFFLINE_MODE": "True", "HF_HUB_OFFLINE": "1"},
        }
        if self.real_scale:
            site_vars.update(
                self.real_scale.site_vars(self.registry_address, self.apt_url(), "http://%s:%d" % (GATEWAY,
                                                                                                   self.hub_ui_port))
            )  # fmt: skip
        with open(os.path.join(machine_dir, "site-vars.json"), "w") as handle:
            json.dump(site_vars, handle, indent=2)
        # What the boot hook gives every machine's StackScript besides the UDFs.
        with open(os.path.join(machine_dir, "switches.json"), "w") as handle:
            json.dump(
                {
                    "AI_SANDBOX_PIP_ARGS": "--no-index --find-links %s/wheels" % MIRROR_IN_MACHINE,
                    "AI_SANDBOX_COLLECTIONS_DIR": MIRROR_IN_MACHINE + "/collections",
                    "AI_SANDBOX_EXTRA_VARS": LAB_IN_MACHINE + "/site-vars.json",
                },
                handle,
            )

    def publish_checkout(self):
        """This checkout (with uncommitted changes to tracked files) as branch lab-<name> of a git server."""
        bare = os.path.join(self.dir, "git", "ai_sandbox.git")
        if not os.path.isdir(bare):
            run(["git", "init", "-q", "--bare", bare])
        snapshot = run(["git", "stash", "create"]).stdout.strip() or run(["git", "rev-parse", "HEAD"]).stdout.strip()
        run(["git", "push", "-q", "--force", bare, "%s:refs/heads/%s" % (snapshot, self.repo_ref)])
        run(["git", "--git-dir", bare, "update-server-info"])
        say("serving %s at %s (branch %s)" % (snapshot[:12], self.repo_url, self.repo_ref))

    def _server(self, name, command):
        with open(os.path.join(self.dir, name + ".log"), "a") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True, env=self.env()
            )
        with open(os.path.join(self.dir, name + ".pid"), "w") as handle:
            handle.write(str(process.pid))
        return process

    def _wait_port(self, host, port, what):
        import socket

        for _attempt in range(100):
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("%s did not listen on %s:%d; see %s" % (what, host, port, self.dir))

    def start_servers(self):
        python = sys.executable
        self._server("git-server", [python, "-m", "http.server", "--bind", GATEWAY, "--directory",
                                    os.path.join(self.dir, "git"), str(self.git_port)])  # fmt: skip
        hub = os.path.join(ROOT, "tests", "standins", "hf_hub")
        repos, throttle = os.path.join(hub, "repos"), []
        if self.real_scale:
            repos, throttle = self.real_scale.hub_root(), self.real_scale.hub_throttle_args()
        self._server("hf-hub", [python, os.path.join(hub, "hf_hub_standin.py"), "--root", repos,
                                "--host", GATEWAY, "--port", str(self.hub_port), "--log", self.hub_log,
                                "--tokens", os.path.join(hub, "tokens.json"), *throttle])  # fmt: skip
        if self.real_scale:
            self._server("hf-hub-ui", [python, os.path.join(hub, "hf_hub_standin.py"), "--root", repos,
                                       "--host", GATEWAY, "--port", str(self.hub_ui_port), "--log", self.hub_ui_log,
                                       "--tokens", os.path.join(hub, "tokens.json")])  # fmt: skip
        boot_seconds = self.profile.value("linode", "boot_seconds") if self.real_scale else 2
        self._server("linode-api", [python, os.path.join(ROOT, "tests", "standins", "linode_api", "emulator.py"),
                                    "--port", str(self.api_port), "--token", TOKEN, "--boot-seconds", str(boot_seconds),
                                    "--boot-hook", HOOK + " boot {id} {label} {stackscript} {stackscript_data} {image}",
                                    "--delete-hook", HOOK + " delete {id} {label}",
                                    "--capture-hook", HOOK + " capture {id} {label} {image_id}",
                                    "--image-delete-hook", HOOK + " image-delete {image_id}"])  # fmt: skip
        self._wait_port(GATEWAY, self.git_port, "the git server")
        self._wait_port(GATEWAY, self.hub_port, "the stand-in Hub")
        if self.real_scale:
            self._wait_port(GATEWAY, self.hub_ui_port, "the stand-in Hub for Open WebUI")
        self._wait_port("127.0.0.1", self.api_port, "the Linode API emulator")

    def up(self):
        """Everything the path needs, started (the servers run detached until down())."""
        self.down(machines=False)
        os.makedirs(self.home, exist_ok=True)
        run([TESTBED, "all"], capture=False)
        self.network()
        self.prepare_mirror()
        # What an earlier lab of another profile left in the machines' directory.
        shutil.rmtree(os.path.join(self.dir, "machine", "gpu"), ignore_errors=True)
        if os.path.exists(os.path.join(self.dir, "machine", "preboot", "all.sh")):
            os.remove(os.path.join(self.dir, "machine", "preboot", "all.sh"))
        if self.profile.real_scale:
            self.prepare_real_scale()
        self.write_site_vars()
        self.publish_checkout()
        self.start_servers()
        say("profile %s: %s" % (self.profile.name, self.profile.data.get("description", "")))
        say("Linode API emulator on %s; machines on Docker network %s" % (self.api_url, NETWORK))

    def down(self, machines=True):
        for name in ("linode-api", "hf-hub", "hf-hub-ui", "git-server", "registry-front", "apt-mirror", "registry"):
            pid_file = os.path.join(self.dir, name + ".pid")
            if os.path.exists(pid_file):
                try:
                    os.killpg(int(read_text(pid_file)), signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass
                os.remove(pid_file)
        if machines:
            for container in self.machines():
                run([HOOK, "delete", "0", container[len("ai-sandbox-linode-") :]], check=False)

    def servers_running(self):
        pid_file = os.path.join(self.dir, "linode-api.pid")
        try:
            os.kill(int(read_text(pid_file)), 0)
            return True
        except (OSError, ValueError):
            return False

    def remove(self):
        """The lab's directory, and the Docker network when no machine is left on it."""
        shutil.rmtree(self.dir, ignore_errors=True)
        attached = run(["docker", "network", "inspect", "-f", "{{len .Containers}}", NETWORK], check=False)
        if attached.returncode == 0 and attached.stdout.strip() == "0":
            run(["docker", "network", "rm", NETWORK], check=False)

    def machines(self):
        """The containers this lab made ("Linodes"); none when no Docker engine answers."""
        listed = run(
            ["docker", "ps", "-a", "--filter", "label=ai-sandbox-lab=" + self.name, "--format", "{{.Names}}"],
            check=False,
        )
        if listed.returncode != 0:
            return []
        return [name for name in listed.stdout.split() if name]

    # --- driving it --------------------------------------------------------------------------------
    def env(self):
        env = dict(os.environ)
        env.update(
            {
                "HOME": self.home,
                "LINODE_TOKEN": TOKEN,
                "LINODE_API_URL": self.api_url,
                # provision.yml asks the Hub about the model from here: the stand-in, never huggingface.co.
                "HF_ENDPOINT": "http://%s:%d" % (GATEWAY, self.hub_port),
                "AI_SANDBOX_LAB": self.name,
                "AI_SANDBOX_LAB_DIR": self.dir,
                "AI_SANDBOX_LAB_MIRROR": self.mirror,
                "AI_SANDBOX_BASE_IMAGE": self.images["AI_SANDBOX_BASE_IMAGE"],
                "AI_SANDBOX_LAB_OS_BOOT_SECONDS": str(
                    self.profile.value("linode", "os_boot_seconds") if self.profile.real_scale else 0
                ),
                "ANSIBLE_FORCE_COLOR": "false",
                "ANSIBLE_NOCOLOR": "true",
            }
        )
        return env

    def playbook(self, playbook, *args, check=True, inventory=None):
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook")]
        if inventory:
            command += ["-i", inventory]
        command += [os.path.join(ROOT, "playbooks", playbook), *args]
        result = subprocess.run(command, text=True, capture_output=True, env=self.env(), cwd=ROOT, check=False)
        if check and result.returncode != 0:
            raise AssertionError("%s failed:\n%s\n%s" % (playbook, result.stdout[-6000:], result.stderr[-3000:]))
        return result

    def provision(self, label, model, *extra, check=True):
        return self.playbook(
            "provision.yml", "-e", "label=" + label, "-e", "region=us-ord", "-e", "plan=g2-gpu-rtx4000a1-s",
            "-e", "model=" + model, "-e", "allowed_cidrs=", "-e", "repo_url=" + self.repo_url,
            "-e", "insecure_repo_url=true", "-e", "repo_ref=" + self.repo_ref, *extra, check=check,
        )  # fmt: skip

    def create_raw(self, label, **udfs):
        """A sandbox with exactly these UDF values, past provision.yml's checks (tests/e2e/files/raw_sandbox.yml),
        for the StackScript's own refusals on a machine."""
        values = {"repo_url": self.repo_url, "repo_ref": self.repo_ref}
        values.update(udfs)
        extra = os.path.join(self.dir, "raw-%s.json" % label)
        with open(extra, "w") as handle:
            json.dump({"raw_label": label, "raw_udfs": values}, handle)
        return self.playbook(os.path.join("..", "tests", "e2e", "files", "raw_sandbox.yml"), "-e", "@" + extra)

    def inventory_file(self):
        path = os.path.join(self.dir, "linode.yml")
        with open(os.path.join(ROOT, "inventory", "linode.yml")) as source, open(path, "w") as target:
            target.write(source.read().replace("cache: true", "cache: false"))
        return path

    def inventory(self):
        """What the inventory plugin lists (ansible-inventory --list of inventory/linode.yml), parsed."""
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", self.inventory_file()]
        return json.loads(run([*command, "--list"], env=self.env()).stdout)

    def machine(self, label):
        return "ai-sandbox-linode-" + label

    def address(self, label):
        template = '{{(index .NetworkSettings.Networks "%s").IPAddress}}' % NETWORK
        return run(["docker", "inspect", "-f", template, self.machine(label)]).stdout.strip()

    def boot_record(self, label):
        """When the hook powered the machine on and started its StackScript (epoch seconds)."""
        path = os.path.join(self.dir, "boot-%s.json" % label)
        return json.loads(read_text(path)) if os.path.exists(path) else {}

    def exec(self, label, *command, check=True):
        return run(["docker", "exec", self.machine(label), *command], check=check)

    def read(self, label, path):
        result = self.exec(label, "cat", path, check=False)
        return result.stdout if result.returncode == 0 else None

    def status(self, label):
        text = self.read(label, "/var/lib/ai-sandbox/first-boot.json")
        try:
            return json.loads(text) if text else None
        except ValueError:  # written at this moment
            return None

    def wait_first_boot(self, labels, timeout=1800, on_phase=None):
        """Wait until each machine's first boot has ended (ready or failed), saying each phase change."""
        seen, ended, deadline = {}, {}, time.time() + timeout
        while time.time() < deadline and len(ended) < len(labels):
            for label in labels:
                if label in ended:
                    continue
                status = self.status(label) or {}
                phase = (status.get("state"), status.get("phase"))
                if phase != seen.get(label) and status:
                    seen[label] = phase
                    say("%s: %s (%s)" % (label, status.get("phase"), status.get("state")))
                    if on_phase:
                        on_phase(label, status)
                if status.get("state") in ("ready", "failed"):
                    ended[label] = status
            time.sleep(3)
        missing = [label for label in labels if label not in ended]
        if missing:
            raise AssertionError("first boot did not end within %d s for %s: %s" % (timeout, missing, seen))
        return ended
