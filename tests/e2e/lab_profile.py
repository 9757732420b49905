"""The lab's profiles: `fast` (the default) and `real-scale` (tests/e2e/profiles/*.yml).

A profile is chosen with AI_SANDBOX_LAB_PROFILE (make e2e, make demo, make bench-first-boot). The
real-scale file holds every size, bandwidth and time the lab needs, each with its source; this module
reads it, refuses a number without a source, and does the scaling arithmetic in one place:

- a size of N real bytes is served as ceil(N / scale) bytes (files under `hub.scale_from_bytes` whole);
- a bandwidth of B real MB/s becomes a budget of B real bytes per second, and each served byte is charged
  as `real / served` real bytes, so a transfer takes its real time whatever the lab serves;
- the engine's start costs `start_fixed_seconds + load_seconds_per_gib * real GiB read` (the vLLM
  stand-in does that sum; engine_env() gives it the numbers).
"""

import math
import os

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
PROFILES_DIR = os.path.join(HERE, "profiles")
DEFAULT = "fast"
MB = 1000 * 1000
GIB = 1024**3


class ProfileError(ValueError):
    """A profile file that is missing, malformed, or carries a number without its source."""


def available():
    return sorted(name[: -len(".yml")] for name in os.listdir(PROFILES_DIR) if name.endswith(".yml"))


def load(name=None):
    """The profile named (or AI_SANDBOX_LAB_PROFILE's, or `fast`)."""
    name = name or os.environ.get("AI_SANDBOX_LAB_PROFILE") or DEFAULT
    path = os.path.join(PROFILES_DIR, name + ".yml")
    if not os.path.isfile(path):
        raise ProfileError("no lab profile %r; profiles: %s" % (name, ", ".join(available())))
    with open(path) as handle:
        return Profile(yaml.safe_load(handle), path)


def _sourced(node, where):
    """Every {value: ...} in the tree has a non-empty source."""
    if isinstance(node, dict):
        if "value" in node:
            source = node.get("source")
            if not isinstance(source, str) or len(source.strip()) < 10:
                raise ProfileError("%s has no source (a URL, or 'estimate: why')" % where)
            return
        for key, child in node.items():
            _sourced(child, "%s.%s" % (where, key))


class Profile:
    def __init__(self, data, path="<memory>"):
        if not isinstance(data, dict) or "name" not in data:
            raise ProfileError("%s: not a lab profile (no name)" % path)
        self.data = data
        self.path = path
        self.name = data["name"]
        self.real_scale = bool(data.get("real_scale"))
        self.model = data.get("model") or "oneclick-testbed/tiny-chat"
        if self.real_scale:
            for section in ("scale", "linode", "hub", "registry", "apt", "driver", "engine"):
                if section not in data:
                    raise ProfileError("%s: a real-scale profile needs a %r section" % (path, section))
            _sourced(data, self.name)
            if self.scale < 1:
                raise ProfileError("%s: scale must be 1 or more" % path)

    # --- reading ----------------------------------------------------------------------------------
    def value(self, *keys):
        node = self.data
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                raise ProfileError("%s: no %s" % (self.path, ".".join(keys)))
            node = node[key]
        return node["value"] if isinstance(node, dict) and "value" in node else node

    def source(self, *keys):
        node = self.data
        for key in keys:
            node = node[key]
        return node.get("source", "")

    @property
    def scale(self):
        return int(self.value("scale")) if self.real_scale else 1

    # --- scaling ------------------------------------------------------------------------------------
    def scaled(self, real_bytes, whole_below=0):
        """The bytes the lab serves for an artefact of `real_bytes`."""
        real_bytes = int(real_bytes)
        if real_bytes < whole_below:
            return real_bytes
        return max(1, math.ceil(real_bytes / self.scale))

    def rate(self, *keys):
        """A bandwidth of the profile in real bytes per second."""
        return float(self.value(*keys)) * MB

    def hub_files(self):
        """[{path, real_size, size}] of the model repository, sizes as the lab serves them."""
        threshold = int(self.value("hub", "scale_from_bytes"))
        return [
            {"path": entry["path"], "real_size": int(entry["bytes"]), "size": self.scaled(entry["bytes"], threshold)}
            for entry in self.value("hub", "files")
        ]

    def image_padding(self, image, base_bytes):
        """Layer sizes (served bytes, largest first) that bring an image of `base_bytes` compressed to its
        scaled size; empty when the base is already that large."""
        target = self.scaled(self.value("registry", "images", image, "compressed_bytes"))
        missing = target - int(base_bytes)
        if missing <= 0:
            return []
        shares = self.value("registry", "images", image, "layer_shares")
        total = float(sum(shares))
        sizes = [int(missing * share / total) for share in shares]
        sizes[0] += missing - sum(sizes)
        return [size for size in sizes if size > 0]

    def packages(self, method, kernel):
        """[{name, real_size, size}] of the stand-in packages of a driver method ('precompiled', 'dkms',
        'toolkit'), their names with the running kernel filled in."""
        return [
            {
                "name": entry["name"].format(kernel=kernel),
                "real_size": int(entry["bytes"]),
                "size": self.scaled(entry["bytes"]),
            }
            for entry in self.value("driver", method, "packages")
        ]

    def engine_env(self):
        """The vLLM stand-in's environment for this profile (vllm_service_env)."""
        if not self.real_scale:
            return {}
        return {
            "STANDIN_SIZE_SCALE": str(self.scale),
            "STANDIN_ENGINE_FIXED_SECONDS": str(self.value("engine", "start_fixed_seconds")),
            "STANDIN_LOAD_SECONDS_PER_GIB": str(self.value("engine", "load_seconds_per_gib")),
        }
