"""STAND-IN for the Linode API v4 (test infrastructure: the real API is not reachable from here).

An HTTP server on loopback implementing the routes this collection calls, held to Linode's official
OpenAPI description (the subset vendored beside this file): every request body is validated in write
context and every response in read context; a violation is answered with an error and recorded in
``violations`` so a test fails on it.

Behaviour copied from the API: Bearer tokens (401 ``{"errors": [{"reason": "Invalid Token"}]}``),
pagination ``{data, page, pages, results}`` with ``page``/``page_size``, ``X-Filter`` (equality,
list membership for tags, ``+and``, ``+or``, ``+contains``), errors ``{"errors": [{"field", "reason"}]}``,
instances moving provisioning -> booting -> running over time.
Switches for tests: ``inject(method, path_pattern, status, count, retry_after, after, delay)``: answer
matching requests with 429 (and Retry-After), 500, ..., or ``"reset"`` (the connection closed with no
answer, a network failure); ``after=True`` carries the request out first and then fails its answer (a
write that happened although the caller never heard); ``delay`` waits that many seconds first (the
caller's timeout; with status 200 the answer is only slow). ``sell_out(region, plan)``, ``on_boot``
(called once per instance when it has booted; the instance reports running when it returns, with the
IPv4 address it returns, if any: the end-to-end tests start a container there) and ``on_delete``
(called when an instance is deleted). Labels of Linodes and firewalls follow the description's rule,
matched against the whole label.

  python3 emulator.py --port 8123 --token TOKEN [--boot-seconds 2] \
      [--boot-hook 'command {id} {label} {stackscript} {stackscript_data}'] [--delete-hook 'command {id} {label}']
"""

import argparse
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from spec import Spec, SpecError

RTX4000_REGIONS = ["us-ord", "de-fra-2", "jp-osa", "fr-par", "us-sea", "sg-sin-2"]
OTHER_REGIONS = ["us-east", "eu-west", "ap-south"]
IPV4_PATTERN = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
# Linode and firewall labels: the description's pattern ^[a-zA-Z]((?!--|__|\.\.)[a-zA-Z0-9-_.])+$ and
# its words ("begin and end with an alphanumeric character"), matched against the whole label.
LABEL_PATTERN = re.compile(r"[a-zA-Z](?:(?!--|__|\.\.)[a-zA-Z0-9_.-])*[a-zA-Z0-9]")
LABEL_REASON = (
    "Label must begin and end with a letter or number, and may only contain letters, numbers, hyphens, "
    "underscores, and periods; no two hyphens, underscores or periods in a row; 3 to %d characters"
)


def check_label(label, limit):
    if not (isinstance(label, str) and 3 <= len(label) <= limit and LABEL_PATTERN.fullmatch(label)):
        fail(400, LABEL_REASON % limit, "label")


class Reset(Exception):
    """Close the connection without an answer."""


def _type(plan_id, label, klass, vcpus, memory, disk, gpus, hourly, monthly):
    return {
        "id": plan_id,
        "label": label,
        "class": klass,
        "vcpus": vcpus,
        "memory": memory,
        "disk": disk,
        "gpus": gpus,
        "transfer": 16000 if gpus else 4000,
        "network_out": 10000 if gpus else 4000,
        "price": {"hourly": hourly, "monthly": monthly},
        "region_prices": [],
        "addons": {"backups": {"price": {"hourly": 0.03, "monthly": 20.0}, "region_prices": []}},
        "successor": None,
    }


# Illustrative test data in the API's shape (not a price list).
TYPES = [
    _type("g6-standard-2", "Linode 4GB", "standard", 2, 4096, 81920, 0, 0.036, 24.0),
    _type("g1-gpu-rtx6000-1", "Dedicated 32GB + RTX6000 GPU x1", "gpu", 8, 32768, 655360, 1, 1.5, 1000.0),
    _type("g2-gpu-rtx4000a1-s", "RTX4000 Ada x1 Small", "gpu", 4, 16384, 524288, 1, 0.52, 350.0),
    _type("g2-gpu-rtx4000a1-m", "RTX4000 Ada x1 Medium", "gpu", 8, 32768, 524288, 1, 0.66, 446.0),
    _type("g2-gpu-rtx4000a1-l", "RTX4000 Ada x1 Large", "gpu", 16, 65536, 524288, 1, 0.95, 638.0),
    _type("g2-gpu-rtx4000a2-s", "RTX4000 Ada x2 Small", "gpu", 8, 32768, 1048576, 2, 1.04, 700.0),
    _type("g2-gpu-rtx4000a4-m", "RTX4000 Ada x4 Medium", "gpu", 32, 131072, 2097152, 4, 2.86, 1920.0),
]


def _region(region_id, country, label):
    return {
        "id": region_id,
        "label": label,
        "country": country,
        "capabilities": ["Linodes", "GPU Linodes", "Cloud Firewall", "Block Storage"],
        "status": "ok",
        "resolvers": {"ipv4": "192.0.2.53", "ipv6": "2001:db8::53"},
        "placement_group_limits": {"maximum_pgs_per_customer": 5, "maximum_linodes_per_pg": 5},
        "site-type": "core",
    }


REGIONS = [
    _region("us-ord", "us", "Chicago, IL"),
    _region("de-fra-2", "de", "Frankfurt 2, DE"),
    _region("jp-osa", "jp", "Osaka, JP"),
    _region("fr-par", "fr", "Paris, FR"),
    _region("us-sea", "us", "Seattle, WA"),
    _region("sg-sin-2", "sg", "Singapore 2, SG"),
    _region("us-east", "us", "Newark, NJ"),
    _region("eu-west", "gb", "London, UK"),
    _region("ap-south", "sg", "Singapore, SG"),
]
IMAGES = ["linode/ubuntu22.04", "linode/ubuntu24.04", "linode/debian12"]

# A captured image holds at most this much data (MB): the spec's limit for an image's data ("decompressed
# it can be up to 6 GB", POST /images/upload; Linode's documentation gives the same limit for a captured
# disk). The data counted is what the disk holds (its used space), not the disk's allocated size.
IMAGE_LIMIT_MB = 6144


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


class ApiFailure(Exception):
    def __init__(self, status, errors, headers=None):
        super().__init__(errors)
        self.status = status
        self.errors = errors
        self.headers = headers or {}


def fail(status, reason, field=None):
    error = {"reason": reason}
    if field:
        error["field"] = field
    raise ApiFailure(status, [error])


def matches(item, spec):
    """Linode's X-Filter on one object."""
    for key, value in spec.items():
        if key == "+and":
            if not all(matches(item, part) for part in value):
                return False
        elif key == "+or":
            if not any(matches(item, part) for part in value):
                return False
        elif key.startswith("+"):
            continue  # +order_by, +order
        else:
            actual = item.get(key)
            if isinstance(value, dict):
                needle = value.get("+contains")
                if needle is not None and needle not in str(actual):
                    return False
            elif isinstance(actual, list):
                if value not in actual:
                    return False
            elif actual != value:
                return False
    return True


class Emulator:
    def __init__(self, token="emulator-token", boot_seconds=1.0, port=0, host="127.0.0.1"):
        self.token = token
        self.boot_seconds = boot_seconds
        self.spec = Spec()
        self.lock = threading.RLock()
        self.ids = itertools.count(1001)
        self.instances = {}
        self.stackscripts = {}
        self.firewalls = {}
        self.images = {}
        self.image_seconds = boot_seconds
        self.on_capture = None
        self.on_image_delete = None
        self.sold_out = set()
        self.faults = []
        self.requests = []
        self.violations = []
        self.on_boot = None
        self.on_delete = None
        self._booted = set()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.url = "http://%s:%d/v4" % (host, self.server.server_address[1])

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # --- switches --------------------------------------------------------------------------------
    def inject(self, method, path_pattern, status, count=1, retry_after=None, reason=None, after=False, delay=0):
        with self.lock:
            self.faults.append(
                {
                    "method": method,
                    "pattern": re.compile(path_pattern),
                    "status": status,
                    "count": count,
                    "retry_after": retry_after,
                    "reason": reason,
                    "after": after,
                    "delay": delay,
                }
            )

    def take_fault(self, method, path):
        with self.lock:
            for fault in self.faults:
                if fault["method"] == method and fault["pattern"].search(path) and fault["count"] > 0:
                    fault["count"] -= 1
                    return fault
        return None

    @staticmethod
    def apply(fault):
        if fault["delay"]:
            time.sleep(fault["delay"])
        if fault["status"] in (None, 200):  # only slow
            return
        if fault["status"] == "reset":
            raise Reset()
        headers = {"Retry-After": fault["retry_after"]} if fault["retry_after"] is not None else {}
        reason = fault["reason"] or {429: "Too many requests", 500: "Internal Server Error"}.get(
            fault["status"], "Error"
        )
        raise ApiFailure(fault["status"], [{"reason": reason}], headers)

    def sell_out(self, region, plan):
        self.sold_out.add((region, plan))

    def writes(self):
        return [r for r in self.requests if r["method"] in ("POST", "PUT", "DELETE")]

    # --- state -----------------------------------------------------------------------------------
    def add_instance(
        self, label, region="us-ord", plan="g2-gpu-rtx4000a1-s", image="linode/ubuntu22.04", tags=None, status=None
    ):
        with self.lock:
            linode_id = next(self.ids)
            created = time.time()
            plan_data = self.type(plan)
            instance = {
                "id": linode_id,
                "label": label,
                "region": region,
                "type": plan,
                "image": image,
                "group": "",
                "tags": sorted(set(tags or [])),
                "status": status or "provisioning",
                "created": now(),
                "updated": now(),
                "hypervisor": "kvm",
                "ipv4": ["192.0.2.%d" % (linode_id % 250 + 1)],
                "ipv6": "2001:db8::%x/128" % linode_id,
                "specs": {
                    "vcpus": plan_data["vcpus"],
                    "memory": plan_data["memory"],
                    "disk": plan_data["disk"],
                    "gpus": plan_data["gpus"],
                    "transfer": plan_data["transfer"],
                },
                "alerts": {"cpu": 90, "io": 10000, "network_in": 10, "network_out": 10, "transfer_quota": 80},
                # The spec allows no nulls here (the live API sends some): follow the spec.
                "backups": {
                    "enabled": False,
                    "available": False,
                    "last_successful": now(),
                    "schedule": {"day": "Scheduling", "window": "Scheduling"},
                },
                "watchdog_enabled": True,
                "has_user_data": False,
                "host_uuid": "00000000-0000-4000-8000-%012d" % linode_id,
                "capabilities": [],
                "lke_cluster_id": None,
                "placement_group": None,
                "_created": created if status is None else created - 3600,
                # The data on its main disk (MB), what a capture would hold; tests and the lab set it.
                "_used_mb": 3500,
            }
            self.instances[linode_id] = instance
            return instance

    def type(self, plan):
        for item in TYPES:
            if item["id"] == plan:
                return item
        return None

    def _advance(self, instance):
        if instance["status"] not in ("provisioning", "booting"):
            return
        age = time.time() - instance["_created"]
        if age < self.boot_seconds / 2:
            return
        instance["status"] = "booting"
        if age < self.boot_seconds:
            return
        if self.on_boot is None:
            instance["status"] = "running"
        elif instance["id"] not in self._booted:
            # The machine boots while the hook runs (the end-to-end tests start a container there):
            # the instance reports running when it returns, with the address it returned, if any.
            self._booted.add(instance["id"])
            threading.Thread(target=self._boot, args=(instance,), daemon=True).start()

    def _boot(self, instance):
        address = None
        try:
            address = self.on_boot({key: value for key, value in instance.items() if not key.startswith("_")})
        except Exception as exc:  # a broken hook must not take the API down; the test sees the log
            print("emulator: boot hook failed for %s: %s" % (instance["label"], exc), flush=True)
        with self.lock:
            if isinstance(address, str) and IPV4_PATTERN.fullmatch(address):
                instance["ipv4"] = [address]
            instance["status"] = "running"

    def public(self, instance):
        self._advance(instance)
        return {key: value for key, value in instance.items() if not key.startswith("_")}

    # --- routes ----------------------------------------------------------------------------------
    def route(self, method, path, query, body, filters):
        routes = [
            ("GET", r"/linode/types", self.list_types),
            ("GET", r"/regions", self.list_regions),
            ("GET", r"/regions/availability", self.list_availability),
            ("GET", r"/linode/instances", self.list_instances),
            ("POST", r"/linode/instances", self.create_instance),
            ("GET", r"/linode/instances/(\d+)", self.get_instance),
            ("DELETE", r"/linode/instances/(\d+)", self.delete_instance),
            ("GET", r"/linode/instances/(\d+)/disks", self.list_disks),
            ("GET", r"/linode/stackscripts", self.list_stackscripts),
            ("POST", r"/linode/stackscripts", self.create_stackscript),
            ("GET", r"/linode/stackscripts/(\d+)", self.get_stackscript),
            ("PUT", r"/linode/stackscripts/(\d+)", self.update_stackscript),
            ("GET", r"/networking/firewalls", self.list_firewalls),
            ("POST", r"/networking/firewalls", self.create_firewall),
            ("GET", r"/networking/firewalls/(\d+)", self.get_firewall),
            ("PUT", r"/networking/firewalls/(\d+)", self.update_firewall),
            ("DELETE", r"/networking/firewalls/(\d+)", self.delete_firewall),
            ("GET", r"/networking/firewalls/(\d+)/rules", self.get_rules),
            ("PUT", r"/networking/firewalls/(\d+)/rules", self.update_rules),
            ("GET", r"/networking/firewalls/(\d+)/devices", self.list_devices),
            ("POST", r"/networking/firewalls/(\d+)/devices", self.add_device),
            ("POST", r"/images", self.create_image),
            ("GET", r"/images", self.list_images),
            ("GET", r"/images/(private/\d+)", self.get_image),
            ("DELETE", r"/images/(private/\d+)", self.delete_image),
            ("GET", r"/profile", self.get_profile),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                operation = "%s %s" % (method, self.operation_path(pattern))
                if method in ("POST", "PUT"):
                    try:
                        self.spec.check_request(operation, body)
                    except SpecError as exc:
                        self.violations.append(str(exc))
                        raise ApiFailure(400, [{"reason": str(exc)}]) from None
                return operation, handler(*match.groups(), query=query, body=body, filters=filters)
        fail(404, "Not found")
        return None

    @staticmethod
    def operation_path(pattern):
        """The spec's path of a route pattern: /linode/instances/(\\d+) -> /linode/instances/{linodeId}."""
        for word, name in (
            ("instances", "{linodeId}"),
            ("stackscripts", "{stackscriptId}"),
            ("firewalls", "{firewallId}"),
        ):
            if word in pattern:
                return pattern.replace(r"(\d+)", name)
        return pattern.replace(r"(private/\d+)", "{imageId}")

    def page(self, items, query, filters):
        items = [item for item in items if matches(item, filters)]
        size = int((query.get("page_size") or ["100"])[0])
        if not 25 <= size <= 500:
            fail(400, "Must be between 25 and 500", "page_size")
        number = int((query.get("page") or ["1"])[0])
        pages = max(1, (len(items) + size - 1) // size)
        if number > pages:
            fail(400, "Page %d does not exist" % number, "page")
        return {
            "data": items[(number - 1) * size : number * size],
            "page": number,
            "pages": pages,
            "results": len(items),
        }

    def list_types(self, query, body, filters):
        return self.page(TYPES, query, filters)

    def list_regions(self, query, body, filters):
        return self.page(REGIONS, query, filters)

    def list_availability(self, query, body, filters):
        entries = []
        for region in RTX4000_REGIONS + OTHER_REGIONS:
            for plan in TYPES:
                if plan["class"] != "gpu":
                    continue
                available = (region in RTX4000_REGIONS) == plan["id"].startswith("g2-gpu-rtx4000a")
                if (region, plan["id"]) in self.sold_out:
                    available = False
                entries.append({"region": region, "plan": plan["id"], "available": available})
        return self.page(entries, query, filters)

    def list_instances(self, query, body, filters):
        with self.lock:
            return self.page(
                [self.public(i) for i in sorted(self.instances.values(), key=lambda i: i["id"])], query, filters
            )

    def get_instance(self, linode_id, query, body, filters):
        with self.lock:
            instance = self.instances.get(int(linode_id))
            if instance is None:
                fail(404, "Not found")
            return self.public(instance)

    def create_instance(self, query, body, filters):
        label = body.get("label")
        if label is not None:
            check_label(label, 64)
        if self.type(body.get("type")) is None:
            fail(400, "A valid plan type by that ID was not found", "type")
        if body.get("region") not in [r["id"] for r in REGIONS]:
            fail(400, "region is not valid", "region")
        if body.get("image") and body["image"] not in IMAGES and body["image"] not in self.images:
            fail(400, "image is not valid", "image")
        if body.get("image") in self.images and self.image_view(self.images[body["image"]])["status"] != "available":
            fail(400, "Image %s is not available yet" % body["image"], "image")
        if body.get("image") and not (body.get("root_pass") or body.get("authorized_keys")):
            fail(400, "You must provide a root_pass or authorized_keys when deploying from an Image.", "root_pass")
        available = (body["region"] in RTX4000_REGIONS) == body["type"].startswith("g2-gpu-rtx4000a")
        if not available or (body["region"], body["type"]) in self.sold_out:
            fail(400, "The requested plan is not available in this region.", "region")
        if body.get("stackscript_id") and int(body["stackscript_id"]) not in self.stackscripts:
            fail(400, "StackScript not found", "stackscript_id")
        with self.lock:
            if any(i["label"] == label for i in self.instances.values()):
                fail(400, "Label must be unique among your Linodes", "label")
            instance = self.add_instance(
                label or "linode%d" % (max(self.instances, default=1000) + 1),
                body["region"],
                body["type"],
                body.get("image"),
                body.get("tags"),
            )
            instance["_stackscript_data"] = body.get("stackscript_data") or {}
            instance["_stackscript_id"] = body.get("stackscript_id")
            # Kept for tests that prove a value reached the API exactly as given (never returned).
            instance["_root_pass"] = body.get("root_pass")
            instance["_authorized_keys"] = body.get("authorized_keys")
            if body.get("firewall_id"):
                firewall = self.firewalls.get(int(body["firewall_id"]))
                if firewall is None:
                    fail(400, "Firewall not found", "firewall_id")
                firewall["_devices"].append(instance["id"])
            return self.public(instance)

    def delete_instance(self, linode_id, query, body, filters):
        with self.lock:
            instance = self.instances.pop(int(linode_id), None)
            if instance is None:
                fail(404, "Not found")
            for firewall in self.firewalls.values():
                firewall["_devices"] = [d for d in firewall["_devices"] if d != int(linode_id)]
        if self.on_delete:
            self.on_delete({key: value for key, value in instance.items() if not key.startswith("_")})
        return {}

    def list_stackscripts(self, query, body, filters):
        with self.lock:
            return self.page([self.stackscript_view(s) for s in self.stackscripts.values()], query, filters)

    def stackscript_view(self, script):
        return {key: value for key, value in script.items() if not key.startswith("_")}

    def get_stackscript(self, script_id, query, body, filters):
        script = self.stackscripts.get(int(script_id))
        if script is None:
            fail(404, "Not found")
        return self.stackscript_view(script)

    def _udfs(self, text):
        fields = []
        for match in re.finditer(r"<UDF ([^>]*)>", text):
            attributes = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            if "name" in attributes:
                field = {
                    "name": attributes["name"],
                    "label": attributes.get("label", attributes["name"]),
                    "example": attributes.get("example", ""),
                }
                for key in ("default", "oneOf", "manyOf"):
                    if key in attributes:
                        field[key] = attributes[key]
                fields.append(field)
        return fields

    def create_stackscript(self, query, body, filters):
        for image in body["images"]:
            if image not in IMAGES:
                fail(400, "Image %s is not valid" % image, "images")
        if not body["script"].startswith("#!"):
            fail(400, "Script must begin with a shebang (example: #!/bin/bash).", "script")
        with self.lock:
            script_id = next(self.ids)
            self.stackscripts[script_id] = {
                "id": script_id,
                "label": body["label"],
                "description": body.get("description", ""),
                "images": body["images"],
                "script": body["script"],
                "rev_note": body.get("rev_note", ""),
                "is_public": body.get("is_public", False),
                "mine": True,
                "username": "sandbox-tester",
                "user_gravatar_id": "a445b305abda30ebc766bc7fda037c37",
                "deployments_active": 0,
                "deployments_total": 0,
                "created": now(),
                "updated": now(),
                "user_defined_fields": self._udfs(body["script"]),
            }
            return self.stackscript_view(self.stackscripts[script_id])

    def update_stackscript(self, script_id, query, body, filters):
        with self.lock:
            script = self.stackscripts.get(int(script_id))
            if script is None:
                fail(404, "Not found")
            for key in ("label", "description", "images", "script", "rev_note", "is_public"):
                if key in body:
                    script[key] = body[key]
            script["user_defined_fields"] = self._udfs(script["script"])
            script["updated"] = now()
            return self.stackscript_view(script)

    def firewall_view(self, firewall):
        return {key: value for key, value in firewall.items() if not key.startswith("_")}

    def list_firewalls(self, query, body, filters):
        with self.lock:
            return self.page([self.firewall_view(f) for f in self.firewalls.values()], query, filters)

    def get_firewall(self, firewall_id, query, body, filters):
        firewall = self.firewalls.get(int(firewall_id))
        if firewall is None:
            fail(404, "Not found")
        return self.firewall_view(firewall)

    def create_firewall(self, query, body, filters):
        check_label(body["label"], 32)
        with self.lock:
            if any(f["label"] == body["label"] for f in self.firewalls.values()):
                fail(400, "Label must be unique", "label")
            firewall_id = next(self.ids)
            rules = self.rules(body["rules"], 1)
            self.firewalls[firewall_id] = {
                "id": firewall_id,
                "label": body["label"],
                "status": "enabled",
                "tags": body.get("tags", []),
                "rules": rules,
                "created": now(),
                "updated": now(),
                "_devices": list((body.get("devices") or {}).get("linodes", [])),
            }
            return self.firewall_view(self.firewalls[firewall_id])

    @staticmethod
    def rules(given, version):
        rules = {
            key: given[key] for key in ("inbound_policy", "outbound_policy", "inbound", "outbound") if key in given
        }
        rules.setdefault("inbound", [])
        rules.setdefault("outbound", [])
        rules["fingerprint"] = "%08x" % (hash(json.dumps(rules, sort_keys=True)) & 0xFFFFFFFF)
        rules["version"] = version
        return rules

    def firewall(self, firewall_id):
        firewall = self.firewalls.get(int(firewall_id))
        if firewall is None:
            fail(404, "Not found")
        return firewall

    def update_firewall(self, firewall_id, query, body, filters):
        with self.lock:
            firewall = self.firewall(firewall_id)
            if "label" in body:
                check_label(body["label"], 32)
            for key in ("label", "status", "tags"):
                if key in body:
                    firewall[key] = body[key]
            firewall["updated"] = now()
            return self.firewall_view(firewall)

    def get_rules(self, firewall_id, query, body, filters):
        return self.firewall(firewall_id)["rules"]

    def update_rules(self, firewall_id, query, body, filters):
        """Replaces every rule (the description: "replaces all of a Firewall's inbound and outbound")."""
        with self.lock:
            firewall = self.firewall(firewall_id)
            for key in ("inbound_policy", "outbound_policy"):
                body.setdefault(key, firewall["rules"].get(key))
            firewall["rules"] = self.rules(body, firewall["rules"]["version"] + 1)
            firewall["updated"] = now()
            return firewall["rules"]

    def delete_firewall(self, firewall_id, query, body, filters):
        with self.lock:
            if self.firewalls.pop(int(firewall_id), None) is None:
                fail(404, "Not found")
            return {}

    def device(self, firewall_id, linode_id):
        return {
            "id": linode_id,
            "created": now(),
            "updated": now(),
            "entity": {
                "id": linode_id,
                "type": "linode",
                "label": self.instances[linode_id]["label"],
                "url": "/v4/linode/instances/%d" % linode_id,
            },
        }

    def list_devices(self, firewall_id, query, body, filters):
        firewall = self.firewalls.get(int(firewall_id))
        if firewall is None:
            fail(404, "Not found")
        return self.page(
            [self.device(firewall_id, d) for d in firewall["_devices"] if d in self.instances], query, filters
        )

    def add_device(self, firewall_id, query, body, filters):
        with self.lock:
            firewall = self.firewalls.get(int(firewall_id))
            if firewall is None:
                fail(404, "Not found")
            if body.get("type") != "linode" or int(body["id"]) not in self.instances:
                fail(400, "Linode not found", "id")
            for other in self.firewalls.values():
                if other is not firewall and int(body["id"]) in other["_devices"]:
                    fail(400, "Linode %d already has a firewall (%d)" % (int(body["id"]), other["id"]), "id")
            if int(body["id"]) not in firewall["_devices"]:
                firewall["_devices"].append(int(body["id"]))
            return self.device(firewall_id, int(body["id"]))

    # --- disks and images ------------------------------------------------------------------------
    # Each instance has two disks: its system disk (id linode*10+1, the plan's size less the swap) and a
    # 512 MB swap disk (linode*10+2).
    def disks(self, instance):
        stamp = instance["created"]
        image = instance.get("image") or "none"
        system = {
            "id": instance["id"] * 10 + 1,
            "label": ("%s Disk" % image.split("/")[-1])[:48],
            "filesystem": "ext4",
            "size": instance["specs"]["disk"] - 512,
            "status": "ready",
            "created": stamp,
            "updated": stamp,
        }
        swap = dict(system, id=instance["id"] * 10 + 2, label="512 MB Swap Image", filesystem="swap", size=512)
        return [system, swap]

    def list_disks(self, linode_id, query, body, filters):
        with self.lock:
            instance = self.instances.get(int(linode_id))
            if instance is None:
                fail(404, "Not found")
            return self.page(self.disks(instance), query, filters)

    def image_view(self, image):
        if image["status"] == "creating" and time.time() - image["_created"] >= self.image_seconds:
            image["status"] = "available"
            for region in image["regions"]:
                region["status"] = "available"
        return {key: value for key, value in image.items() if not key.startswith("_")}

    def public_image(self, image_id):
        return {
            "id": image_id,
            "label": {"linode/ubuntu22.04": "Ubuntu 22.04 LTS", "linode/ubuntu24.04": "Ubuntu 24.04 LTS"}.get(
                image_id, "Debian 12"
            ),
            "description": None,
            "created": "2022-04-21T00:00:00",
            "updated": "2022-04-21T00:00:00",
            "created_by": "linode",
            "deprecated": False,
            "is_public": True,
            "size": 2500,
            "total_size": 2500,
            "status": "available",
            "type": "manual",
            "vendor": "Ubuntu" if "ubuntu" in image_id else "Debian",
            "expiry": None,
            "eol": None,
            "capabilities": ["cloud-init"],
            "tags": [],
            "regions": [],
        }

    def create_image(self, query, body, filters):
        with self.lock:
            disk_id = int(body["disk_id"])
            instance = self.instances.get(disk_id // 10)
            disk = next((d for d in self.disks(instance) if d["id"] == disk_id), None) if instance else None
            if disk is None:
                fail(400, "Disk not found", "disk_id")
            if disk["filesystem"] == "swap":
                fail(400, "Cannot create an image from a swap disk", "disk_id")
            if instance["_used_mb"] > IMAGE_LIMIT_MB:
                fail(
                    400,
                    "Disk %d holds %d MB; an image can hold at most %d MB"
                    % (disk_id, instance["_used_mb"], IMAGE_LIMIT_MB),
                    "disk_id",
                )
            label = body.get("label") or disk["label"]
            image_id = "private/%d" % next(self.ids)
            self.images[image_id] = {
                "id": image_id,
                "label": label,
                "description": body.get("description") or None,
                "created": now(),
                "updated": now(),
                "created_by": "sandbox-tester",
                "deprecated": False,
                "is_public": False,
                "size": instance["_used_mb"],
                "total_size": instance["_used_mb"],
                "status": "creating",
                "type": "manual",
                "vendor": None,
                "expiry": None,
                "eol": None,
                "capabilities": [],
                "tags": sorted(set(body.get("tags") or [])),
                "regions": [{"region": instance["region"], "status": "creating"}],
                "_created": time.time(),
                "_linode": instance["id"],
            }
            view = self.image_view(self.images[image_id])
        if self.on_capture is not None:
            # The lab commits the machine's container as the image's base; a failed hook leaves the image
            # where a failed capture leaves it on Linode: it never becomes available (and is deleted).
            try:
                self.on_capture({"id": image_id, "linode_id": instance["id"], "label": instance["label"]})
            except Exception as exc:
                print("emulator: capture hook failed for %s: %s" % (image_id, exc), flush=True)
                with self.lock:
                    self.images.pop(image_id, None)
        return view

    def list_images(self, query, body, filters):
        with self.lock:
            private = [self.image_view(i) for i in sorted(self.images.values(), key=lambda i: i["_created"])]
            return self.page([self.public_image(i) for i in IMAGES] + private, query, filters)

    def get_image(self, image_id, query, body, filters):
        with self.lock:
            image = self.images.get(image_id)
            if image is None:
                fail(404, "Not found")
            return self.image_view(image)

    def delete_image(self, image_id, query, body, filters):
        with self.lock:
            if self.images.pop(image_id, None) is None:
                fail(404, "Not found")
        if self.on_image_delete:
            self.on_image_delete({"id": image_id})
        return {}

    def get_profile(self, query, body, filters):
        return {
            "username": "sandbox-tester",
            "email": "tester@example.com",
            "uid": 1234,
            "timezone": "UTC",
            "email_notifications": True,
            "ip_whitelist_enabled": False,
            "lish_auth_method": "keys_only",
            "authorized_keys": None,
            "two_factor_auth": False,
            "restricted": False,
            "authentication_type": "password",
            "verified_phone_number": None,
            "referrals": {
                "code": "x",
                "url": "https://www.linode.com/?r=x",
                "total": 0,
                "completed": 0,
                "pending": 0,
                "credit": 0,
            },
        }

    # --- HTTP ------------------------------------------------------------------------------------
    def _handler(self):
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm and the client's
            # delayed ACK hold every answer for some 40 ms.
            disable_nagle_algorithm = True

            def log_message(self, fmt, *args):
                pass

            def reply(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, str(value))
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self):
                url = urlsplit(self.path)
                path = url.path[3:] if url.path.startswith("/v4") else url.path
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                record = {
                    "method": self.command,
                    "path": path,
                    "query": url.query,
                    "body": raw.decode("utf-8", "replace"),
                    "user_agent": self.headers.get("User-Agent", ""),
                    "authorization": self.headers.get("Authorization", ""),
                }
                emulator.requests.append(record)
                fault = emulator.take_fault(self.command, path)
                try:
                    if self.headers.get("Authorization") != "Bearer %s" % emulator.token:
                        fail(401, "Invalid Token")
                    if fault and not fault["after"]:
                        emulator.apply(fault)
                    body = json.loads(raw) if raw else {}
                    filters = json.loads(self.headers.get("X-Filter") or "{}")
                    operation, result = emulator.route(self.command, path, parse_qs(url.query), body, filters)
                    try:
                        emulator.spec.check_response(operation, result)
                    except SpecError as exc:
                        emulator.violations.append(str(exc))
                        raise ApiFailure(500, [{"reason": "emulator broke the spec: %s" % exc}]) from None
                    if fault and fault["after"]:
                        emulator.apply(fault)
                    self.reply(200, result)
                except Reset:
                    self.close_connection = True
                except ApiFailure as failure:
                    self.reply(failure.status, {"errors": failure.errors}, failure.headers)
                except (ValueError, KeyError, TypeError) as exc:
                    self.reply(400, {"errors": [{"reason": "Invalid request: %s" % exc}]})

            do_GET = do_POST = do_PUT = do_DELETE = handle_any

        return Handler


def _run_hook(template, **fields):
    """Run a hook command line (fields filled in, no shell); return the last line it printed."""
    command = [part.format(**fields) for part in shlex.split(template)]
    result = subprocess.run(command, check=False, stdout=subprocess.PIPE, text=True)
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0:
        raise RuntimeError("%s exited with %d" % (command[0], result.returncode))
    return lines[-1] if lines else None


def _private_file(path, text):
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def main():
    parser = argparse.ArgumentParser(description="Linode API v4 emulator (a stand-in for tests)")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default="emulator-token")
    parser.add_argument("--boot-seconds", type=float, default=2.0)
    parser.add_argument(
        "--boot-hook",
        help="command run when an instance boots; {id}, {label}, {stackscript} (the script's path) and "
        "{stackscript_data} (a root-only JSON file) and {image} are filled in; the last line it prints, when an IPv4 "
        "address, becomes the instance's address",
    )
    parser.add_argument("--delete-hook", help="command run when an instance is deleted; {id} and {label} are filled in")
    parser.add_argument(
        "--capture-hook",
        help="command run when a disk is captured as an image (POST /images); {image} (private/N), {image_id} "
        "(N), {id} and {label} (the Linode's) are filled in; when it fails the image is dropped",
    )
    parser.add_argument("--image-delete-hook", help="command run when a private image is deleted; {image_id} filled in")
    args = parser.parse_args()
    emulator = Emulator(args.token, args.boot_seconds, args.port, args.host)
    if args.boot_hook:

        def boot(instance):
            stored = emulator.instances[instance["id"]]
            work = tempfile.mkdtemp(prefix="linode-emulator-%d-" % instance["id"])
            data_file = os.path.join(work, "stackscript_data.json")
            script_file = os.path.join(work, "stackscript")
            _private_file(data_file, json.dumps(stored.get("_stackscript_data", {})))
            script = emulator.stackscripts.get(int(stored.get("_stackscript_id") or 0), {}).get("script", "")
            _private_file(script_file, script)
            try:
                return _run_hook(
                    args.boot_hook,
                    id=instance["id"],
                    label=instance["label"],
                    stackscript=script_file,
                    stackscript_data=data_file,
                    image=instance.get("image") or "",
                )
            finally:
                shutil.rmtree(work, ignore_errors=True)

        emulator.on_boot = boot
    if args.delete_hook:
        emulator.on_delete = lambda instance: _run_hook(args.delete_hook, id=instance["id"], label=instance["label"])
    if args.capture_hook:
        emulator.on_capture = lambda image: _run_hook(
            args.capture_hook,
            image=image["id"],
            image_id=image["id"].split("/")[1],
            id=image["linode_id"],
            label=image["label"],
        )
    if args.image_delete_hook:
        emulator.on_image_delete = lambda image: _run_hook(args.image_delete_hook, image_id=image["id"].split("/")[1])
    print("Linode API emulator on %s" % emulator.url, flush=True)
    emulator.server.serve_forever()


if __name__ == "__main__":
    main()
