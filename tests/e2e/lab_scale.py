"""The real-scale profile's pieces of the lab (tests/e2e/lab.py uses them when the profile says real_scale).

What a first boot of a g2-gpu-rtx4000a1-s downloads and installs, at the profile's sizes and times
(tests/e2e/profiles/real-scale.yml), with nothing reachable beyond this machine:

- the Hub: Mistral-7B-Instruct-v0.3's real file list, scaled, generated content, gated, throttled
  (a repository directory the Hub stand-in serves);
- images: a real registry (Debian's docker-registry on loopback) holding the engine stand-in padded with
  incompressible layers to vllm/vllm-openai's scaled compressed size, and the real test-bed Open WebUI,
  behind a TLS front (tests/standins/mirrors/mirror_server.py) throttled per connection and per pull; the
  machines trust its certificate through /etc/docker/certs.d/<host:port>/ca.crt, so the roles pull with
  `docker pull` as on a real host;
- the driver: stand-in packages in three signed apt repositories (tests/standins/nvidia/apt_repos.py),
  throttled, and a stand-in GPU in each machine: an RTX 4000 Ada in a PCI device tree mounted on
  /sys/bus/pci/devices, a stand-in modprobe that binds it to `nvidia` once a driver package installed the
  module, nvidia-smi from the packages.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
STANDINS = os.path.join(ROOT, "tests", "standins")
HUB_REPOS = os.path.join(STANDINS, "hf_hub", "repos")
sys.path.insert(0, os.path.join(STANDINS, "nvidia"))
import apt_repos  # noqa: E402  (tests/standins/nvidia/apt_repos.py)

VLLM_REPOSITORY = "vllm/vllm-openai"
VLLM_TAG = "v0.33.0"
UI_REPOSITORY = "open-webui/open-webui"
UI_TAG = "v0.12.4"
MANIFEST_TYPES = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
# An RTX 4000 Ada as the kernel shows it on a g2-gpu-rtx4000a1-s (tests/unit/conftest.py has the same).
GPU_ADDRESS = "0000:00:02.0"
GPU = {"vendor": "0x10de", "device": "0x27b2", "class": "0x030000", "subsystem_vendor": "0x10de"}


def sh(command, check=True, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        output = result.stdout + result.stderr
        raise RuntimeError("%s exited with %d:\n%s" % (" ".join(command), result.returncode, output))
    return result


def say(message):
    print("[lab real-scale] %s" % message, file=sys.stderr, flush=True)


class RealScale:
    """The real-scale pieces of one lab: lab.py asks for them by name, starts the servers it lists."""

    def __init__(self, lab):
        self.lab = lab
        self.profile = lab.profile
        self.cache = os.path.join(lab.cache, "real-scale")
        self.kernel = os.uname().release
        os.makedirs(self.cache, exist_ok=True)

    # --- the Hub ----------------------------------------------------------------------------------
    def hub_root(self):
        """The stand-in Hub's repositories: the committed ones, with the profile's model at real scale."""
        root = os.path.join(self.lab.dir, "hub-repos")
        shutil.rmtree(root, ignore_errors=True)
        owner, name = self.profile.model.split("/")
        for committed_owner in os.listdir(HUB_REPOS):
            for repo in os.listdir(os.path.join(HUB_REPOS, committed_owner)):
                if (committed_owner, repo) != (owner, name):
                    os.makedirs(os.path.join(root, committed_owner), exist_ok=True)
                    os.symlink(
                        os.path.join(HUB_REPOS, committed_owner, repo), os.path.join(root, committed_owner, repo)
                    )
        target = os.path.join(root, owner, name)
        os.makedirs(target)
        committed = os.path.join(HUB_REPOS, owner, name)
        files = []
        for entry in self.profile.hub_files():
            real = os.path.join(committed, entry["path"])
            if os.path.isfile(real) and entry["path"] != "manifest.json":
                if os.path.getsize(real) != entry["real_size"]:
                    size = os.path.getsize(real)
                    raise RuntimeError("%s is %d bytes, the profile says %d" % (real, size, entry["real_size"]))
                files.append({"path": entry["path"], "file": real})
            else:
                files.append({"path": entry["path"], "virtual_size": entry["size"], "real_size": entry["real_size"]})
        with open(os.path.join(committed, "manifest.json")) as handle:
            gated = json.load(handle).get("gated", False)
        with open(os.path.join(target, "manifest.json"), "w") as handle:
            json.dump({"_source": "generated from %s" % self.profile.path, "gated": gated, "files": files}, handle)
        return root

    def hub_throttle_args(self):
        return ["--per-connection", str(self.profile.rate("hub", "per_connection_mb_s")),
                "--per-client", str(self.profile.rate("hub", "per_host_mb_s"))]  # fmt: skip

    # --- TLS for the registry front -----------------------------------------------------------------
    def certificates(self, address):
        """A lab CA and a server certificate for `address` (made once): (ca, cert, key) paths."""
        directory = os.path.join(self.cache, "tls")
        ca, ca_key = os.path.join(directory, "ca.crt"), os.path.join(directory, "ca.key")
        cert, key = os.path.join(directory, "registry-%s.crt" % address), os.path.join(directory, "registry.key")
        if os.path.exists(cert):
            return ca, cert, key
        os.makedirs(directory, exist_ok=True)
        if not os.path.exists(ca):
            sh(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-keyout", ca_key,
                "-out", ca, "-subj", "/CN=ai-sandbox lab CA (stand-in)"])  # fmt: skip
        if not os.path.exists(key):
            sh(["openssl", "genrsa", "-out", key, "2048"])
        csr = os.path.join(directory, "registry.csr")
        sh(["openssl", "req", "-new", "-key", key, "-out", csr, "-subj", "/CN=%s" % address])
        extensions = os.path.join(directory, "san.cnf")
        with open(extensions, "w") as handle:
            handle.write("subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n" % address)
        sh(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "3650",
            "-extfile", extensions, "-out", cert])  # fmt: skip
        return ca, cert, key

    # --- the registry -------------------------------------------------------------------------------
    def registry_config(self, port):
        data = os.path.join(self.cache, "registry")
        os.makedirs(data, exist_ok=True)
        path = os.path.join(self.lab.dir, "registry.yml")
        with open(path, "w") as handle:
            handle.write(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n"
                "  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%d\n" % (data, port)
            )
        return path

    def manifest_bytes(self, port, repository, tag):
        request = urllib.request.Request(
            "http://127.0.0.1:%d/v2/%s/manifests/%s" % (port, repository, tag), headers={"Accept": MANIFEST_TYPES}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            manifest = json.loads(response.read())
        return sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"]

    def _stamp(self, name, value):
        path = os.path.join(self.cache, "registry-%s.stamp" % name)
        if os.path.exists(path):
            with open(path) as handle:
                if handle.read() == value:
                    return True
        return path

    def _push(self, source, port, repository, tag):
        target = "127.0.0.1:%d/%s:%s" % (port, repository, tag)
        sh(["docker", "tag", source, target])
        sh(["docker", "push", "-q", target])
        sh(["docker", "rmi", target], check=False)

    def push_images(self, port, vllm_image, ui_image):
        """The engine stand-in padded to vllm/vllm-openai's scaled size, and the real Open WebUI, in the
        registry (once per image and profile); returns {repository: real bytes per stored byte}."""
        image_id = sh(["docker", "image", "inspect", "-f", "{{.Id}}", vllm_image]).stdout.strip()
        layers_wanted = json.dumps([image_id, self.profile.value("registry", "images", "vllm")], sort_keys=True)
        stamp = self._stamp("vllm", layers_wanted)
        if stamp is not True:
            say("pushing the engine stand-in, padded to the scaled size of %s:%s" % (VLLM_REPOSITORY, VLLM_TAG))
            self._push(vllm_image, port, "lab/vllm-standin-base", "latest")
            base = self.manifest_bytes(port, "lab/vllm-standin-base", "latest")
            padding = self.profile.image_padding("vllm", base)
            with tempfile.TemporaryDirectory(dir=self.cache) as context:
                lines = ["FROM %s" % vllm_image]
                for number, size in enumerate(padding):
                    apt_repos._padding(os.path.join(context, "layer-%d.bin" % number), size, "vllm-layer-%d" % number)
                    lines.append("COPY layer-%d.bin /opt/vllm-standin/padding/layer-%d.bin" % (number, number))
                with open(os.path.join(context, "Dockerfile"), "w") as handle:
                    handle.write("\n".join(lines) + "\n")
                padded = (
                    "ai-sandbox-lab/vllm-openai-padded:%s" % hashlib.sha256(layers_wanted.encode()).hexdigest()[:12]
                )
                sh(["docker", "build", "-q", "-t", padded, context], env=dict(os.environ, DOCKER_BUILDKIT="0"))
            self._push(padded, port, VLLM_REPOSITORY, VLLM_TAG)
            sh(["docker", "rmi", padded], check=False)
            with open(stamp, "w") as handle:
                handle.write(layers_wanted)
        ui_id = sh(["docker", "image", "inspect", "-f", "{{.Id}}", ui_image]).stdout.strip()
        stamp = self._stamp("open-webui", ui_id)
        if stamp is not True:
            say("pushing the real Open WebUI to the lab registry (once per image: a few minutes)")
            self._push(ui_image, port, UI_REPOSITORY, UI_TAG)
            with open(stamp, "w") as handle:
                handle.write(ui_id)
        charges = {}
        for image, repository, tag in (("vllm", VLLM_REPOSITORY, VLLM_TAG), ("open_webui", UI_REPOSITORY, UI_TAG)):
            stored = self.manifest_bytes(port, repository, tag)
            real = float(self.profile.value("registry", "images", image, "compressed_bytes"))
            charges[repository] = real / stored
            shown = (repository, tag, stored / 1e6, real / 1e6, real / stored)
            say("%s:%s: %.0f MB in the registry for %.0f MB real (charge %.2f)" % shown)
        return charges

    def registry_front_args(self, upstream_port, charges):
        args = ["--per-connection", str(self.profile.rate("registry", "fetch_per_connection_mb_s")),
                "--per-pull", str(self.profile.rate("registry", "unpack_mb_s"))]  # fmt: skip
        for repository, charge in charges.items():
            args += ["--charge", "%s=%f" % (repository, charge)]
        return args

    # --- apt repositories -----------------------------------------------------------------------------
    def apt_root(self, precompiled=True):
        """The stand-in repositories, built once per profile, kernel and builder (cached)."""
        bin_dir = os.path.join(STANDINS, "nvidia", "bin")
        sources = [os.path.join(STANDINS, "nvidia", "apt_repos.py")]
        sources += [os.path.join(bin_dir, name) for name in sorted(os.listdir(bin_dir))]
        digest = hashlib.sha256(json.dumps([self.profile.data, self.kernel, precompiled]).encode())
        for source in sources:
            with open(source, "rb") as handle:
                digest.update(handle.read())
        root = os.path.join(self.cache, "apt-%s" % digest.hexdigest()[:12])
        if not os.path.exists(os.path.join(root, "repos.json")):
            say("building the stand-in driver packages and their signed repositories")
            apt_repos.build(root, self.profile, self.kernel, os.path.join(self.cache, "gnupg"), precompiled=precompiled)
        return root

    def apt_server_args(self):
        scale = self.profile.scale
        return [
            "--limit", "/%s/=%f" % (apt_repos.ARCHIVE, self.profile.rate("apt", "archive_mb_s")),
            "--limit", "/nvidia-cuda/=%f" % self.profile.rate("apt", "nvidia_repo_mb_s"),
            "--limit", "/libnvidia-container/=%f" % self.profile.rate("apt", "nvidia_repo_mb_s"),
            "--charge", ".deb=%d" % scale,
        ]  # fmt: skip

    # --- the machines ---------------------------------------------------------------------------------
    def gpu_template(self):
        """The PCI device tree each machine gets (copied per machine by the boot hook)."""
        template = os.path.join(self.lab.dir, "machine", "gpu", "pci")
        shutil.rmtree(template, ignore_errors=True)
        device = os.path.join(template, GPU_ADDRESS)
        os.makedirs(device)
        for name, value in GPU.items():
            with open(os.path.join(device, name), "w") as handle:
                handle.write(value + "\n")
        return template

    def preboot(self, registry_address, apt_url, ca):
        """What a stock Ubuntu Linode has that the lab's Debian machine lacks, and what the lab stands in
        for: the archive's NVIDIA packages as an apt source, the registry's CA, the kernel's side of the GPU."""
        with open(os.path.join(STANDINS, "nvidia", "bin", "modprobe.py")) as handle:
            modprobe = handle.read()
        with open(os.path.join(STANDINS, "nvidia", "bin", "update_initramfs.sh")) as handle:
            initramfs = handle.read()
        with open(os.path.join(STANDINS, "nvidia", "bin", "proc_modules.py")) as handle:
            proc_modules = handle.read()
        with open(ca) as handle:
            ca_text = handle.read()
        with open(os.path.join(self.apt_root(), apt_repos.ARCHIVE, "lab-archive.asc")) as handle:
            key = handle.read()
        seconds = self.profile.value("driver", "initramfs_seconds")
        return "\n".join([
            "#!/bin/bash",
            "# The real-scale lab's preparation of a machine (tests/e2e/lab_scale.py).",
            "set -euo pipefail",
            "# 1. Ubuntu's archive carries the NVIDIA packages for the running kernel (stand-ins here).",
            "install -d -m 0755 /etc/apt/keyrings /etc/ai-sandbox-lab",
            "cat > /etc/apt/keyrings/ai-sandbox-lab-archive.asc <<'KEY'", key.rstrip("\n"), "KEY",
            "echo 'deb [signed-by=/etc/apt/keyrings/ai-sandbox-lab-archive.asc] %s/%s/ /' "
            "> /etc/apt/sources.list.d/ai-sandbox-lab-archive.list" % (apt_url, apt_repos.ARCHIVE),
            "printf 'Package: *\\nPin: release o=%s\\nPin-Priority: 990\\n' > /etc/apt/preferences.d/ai-sandbox-lab"
            % apt_repos.ORIGIN,
            "# 2. The registry's certificate is the lab CA's: dockerd trusts it for that registry only.",
            "install -d -m 0755 /etc/docker/certs.d/%s" % registry_address,
            "cat > /etc/docker/certs.d/%s/ca.crt <<'CA'" % registry_address, ca_text.rstrip("\n"), "CA",
            "# 3. The kernel's side of the stand-in GPU: modprobe binds it, modules.builtin exists, the",
            "#    module loads at boot once installed, update-initramfs takes its time.",
            "cat > /usr/local/sbin/modprobe <<'MODPROBE'", modprobe.rstrip("\n"), "MODPROBE",
            "chmod 0755 /usr/local/sbin/modprobe",
            'install -d "/lib/modules/$(uname -r)" && touch "/lib/modules/$(uname -r)/modules.builtin"',
            "if ! command -v update-initramfs >/dev/null; then",
            "  cat > /usr/local/sbin/update-initramfs <<'INITRAMFS'", initramfs.rstrip("\n"), "INITRAMFS",
            "  chmod 0755 /usr/local/sbin/update-initramfs",
            "fi",
            "echo %s > /etc/ai-sandbox-lab/update-initramfs-seconds" % seconds,
            "# This test bed's kernel has no module support (no /proc/modules): Python sees a stand-in one.",
            "if [ ! -e /proc/modules ]; then",
            '  site=$(python3 -c "import site; print(site.getsitepackages()[0])")',
            '  install -d "$site"',
            "  cat > \"$site/ai_sandbox_lab_proc_modules.py\" <<'PROCMODULES'",
            proc_modules.rstrip("\n"),
            "PROCMODULES",
            '  echo "import ai_sandbox_lab_proc_modules" > "$site/ai-sandbox-lab-proc-modules.pth"',
            "fi",
            "cat > /etc/systemd/system/ai-sandbox-lab-gpu.service <<'UNIT'",
            "[Unit]",
            "Description=Lab stand-in GPU: load nvidia at boot once its module is installed (as udev does)",
            "Before=docker.service ai-sandbox-first-boot.service",
            "[Service]",
            "Type=oneshot",
            "ExecStart=-/usr/local/sbin/modprobe -q nvidia",
            "[Install]",
            "WantedBy=multi-user.target",
            "UNIT",
            "systemctl daemon-reload && systemctl enable ai-sandbox-lab-gpu.service >/dev/null 2>&1",
            "",
        ])  # fmt: skip

    def site_vars(self, registry_address, apt_url, hub_ui_url):
        """The site variables a real host would have by default, pointed at the lab's stand-ins."""
        return {
            "vllm_service_image": "%s/%s:%s" % (registry_address, VLLM_REPOSITORY, VLLM_TAG),
            "vllm_service_image_archive": "",
            "vllm_service_env": self.profile.engine_env(),
            "vllm_service_ready_timeout": 2400,
            "open_webui_image": "%s/%s:%s" % (registry_address, UI_REPOSITORY, UI_TAG),
            "open_webui_image_archive": "",
            # No offline switch here: whether Open WebUI asks the Hub is the product's to decide; a second
            # Hub stand-in stands where it would ask, and logs it.
            "open_webui_env": {"HF_ENDPOINT": hub_ui_url},
            "nvidia_driver_repo_url": "%s/%s/" % (apt_url, apt_repos.NVIDIA),
            "nvidia_driver_repo_key_url": "%s/%s/3bf863cc.pub" % (apt_url, apt_repos.NVIDIA),
            "docker_gpu_nvidia_toolkit_repo_url": "%s/libnvidia-container/stable/deb/$(ARCH)" % apt_url,
            "docker_gpu_nvidia_toolkit_repo_key_url": "%s/libnvidia-container/gpgkey" % apt_url,
        }


# --- reading what happened ------------------------------------------------------------------------------
def hub_records(path, client=None):
    """The Hub stand-in's access log as dicts (method, path, status, and the JSON part), for one client."""
    records = []
    if not os.path.exists(path):
        return records
    with open(path) as handle:
        for line in handle:
            parts = line.rstrip("\n").split(" ", 4)
            if len(parts) < 5:
                continue
            record = json.loads(parts[4])
            record.update({"method": parts[1], "path": parts[2], "status": int(parts[3])})
            if client is None or record["client"] == client:
                records.append(record)
    return records


def downloads_per_file(records):
    """{file path: bytes of content sent} over the GET resolve requests that sent content (the one-byte
    probes a downloader makes to learn a file's size and ETag are left out)."""
    totals = {}
    for record in records:
        if record["method"] != "GET" or "/resolve/" not in record["path"] or record["status"] not in (200, 206):
            continue
        if record["bytes"] <= 1 and record.get("range") in ("bytes=0-0",):
            continue
        name = record["path"].split("/resolve/", 1)[1].split("/", 1)[1].split("?")[0]
        totals[name] = totals.get(name, 0) + record["bytes"]
    return totals
