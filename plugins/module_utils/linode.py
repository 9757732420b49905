# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one private Linode client of this collection's modules and inventory plugin.

It owns the token (option or LINODE_TOKEN / LINODE_API_TOKEN), the API URL, a user agent naming this
collection, retries (429 for every call, honouring Retry-After; 5xx for calls that are safe to
repeat), every page of a list, and Linode's ``{"errors": [{"field", "reason"}]}`` turned into a
message that names the field.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

try:
    from linode_api4 import ApiError, LinodeClient
    from requests.exceptions import RequestException

    HAS_LINODE_API4 = True
except ImportError:  # pragma: no cover - reported through missing_required_lib
    HAS_LINODE_API4 = False

    class ApiError(Exception):
        pass

    class RequestException(Exception):
        pass


COLLECTION = "oneclick.ai_sandbox"
COLLECTION_VERSION = "0.1.0"
USER_AGENT = "%s/%s" % (COLLECTION, COLLECTION_VERSION)
DEFAULT_API_URL = "https://api.linode.com/v4"
TOKEN_ENV = ["LINODE_TOKEN", "LINODE_API_TOKEN"]

# The regions that offer RTX 4000 Ada plans, and the plans' id pattern.
RTX4000_REGIONS = ["us-ord", "de-fra-2", "jp-osa", "fr-par", "us-sea", "sg-sin-2"]
RTX4000_PLAN = re.compile(r"^g2-gpu-rtx4000a\d+-[a-z0-9]+$")
SUPPORTED_IMAGES = ["linode/ubuntu22.04", "linode/ubuntu24.04"]
LABEL_PATTERN = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]|-(?=[a-zA-Z0-9])){1,62}[a-zA-Z0-9]$")
LABEL_RULE = "3 to 64 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"

RETRY_ALWAYS = (429,)
RETRY_SAFE = (500, 502, 503, 504)


def client_argument_spec():
    """Options shared by every module that talks to Linode."""
    from ansible.module_utils.basic import env_fallback

    return {
        "api_token": {"type": "str", "no_log": True, "required": True, "fallback": (env_fallback, TOKEN_ENV)},
        "api_url": {"type": "str", "default": DEFAULT_API_URL},
        "api_retries": {"type": "int", "default": 5},
    }


def module_client(module):
    """The client for a module built on client_argument_spec(); fails the module without linode_api4."""
    if not HAS_LINODE_API4:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("linode_api4"))
    params = module.params
    return SandboxClient(params["api_token"], params["api_url"], params["api_retries"])


class LinodeError(Exception):
    """A Linode API failure, in words: the status and each error's field and reason."""

    def __init__(self, message, status=None, errors=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors or []


def describe(exc):
    """'Linode API 400: label: Label must be unique; region: region is not valid'."""
    errors = []
    body = getattr(exc, "json", None) or {}
    for error in body.get("errors") or []:
        if error.get("field"):
            errors.append("%s: %s" % (error["field"], error.get("reason", "")))
        else:
            errors.append(error.get("reason", ""))
    status = getattr(exc, "status", None)
    text = "; ".join(e for e in errors if e) or str(exc)
    hint = " (check api_token or the LINODE_TOKEN environment variable)" if status == 401 else ""
    return "Linode API %s: %s%s" % (status, text, hint), status, body.get("errors") or []


def retry_after(exc, attempt):
    response = getattr(exc, "response", None)
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(header))
    except (TypeError, ValueError):
        return min(2.0**attempt, 30.0)


class SandboxClient:
    """linode_api4 with our retries and error messages. ``sleep`` is replaceable for tests."""

    def __init__(self, token, api_url=DEFAULT_API_URL, retries=5, sleep=time.sleep):
        self.api = LinodeClient(token, base_url=api_url.rstrip("/"), user_agent=USER_AGENT, retry=False)
        self.api_url = api_url
        self.retries = retries
        self.sleep = sleep

    def call(self, function, *args, **kwargs):
        """Run one API call; ``safe=False`` (creations) retries only on 429."""
        safe = kwargs.pop("safe", True)
        for attempt in range(self.retries + 1):
            try:
                return function(*args, **kwargs)
            except ApiError as exc:
                status = getattr(exc, "status", None)
                retryable = status in RETRY_ALWAYS or (safe and status in RETRY_SAFE)
                if retryable and attempt < self.retries:
                    self.sleep(retry_after(exc, attempt))
                    continue
                message, status, errors = describe(exc)
                if retryable:
                    message += " (gave up after %d retries)" % self.retries
                raise LinodeError(message, status, errors) from None
            except RequestException as exc:
                raise LinodeError(
                    "cannot reach the Linode API at %s: %s" % (self.api_url, type(exc).__name__)
                ) from None
        raise LinodeError("unreachable")  # pragma: no cover

    def get(self, path, filters=None):
        return self.call(self.api.get, path, filters=filters)

    def get_all(self, path, filters=None):
        """Every item of a paginated list."""
        items = []
        page = 1
        while True:
            separator = "&" if "?" in path else "?"
            result = self.call(self.api.get, "%s%spage=%d" % (path, separator, page), filters=filters)
            items.extend(result.get("data", []))
            if result.get("page", page) >= result.get("pages", 1):
                return items
            page += 1

    def post(self, path, data, safe=False):
        return self.call(self.api.post, path, data=data, safe=safe)

    def put(self, path, data):
        return self.call(self.api.put, path, data=data)

    def delete(self, path):
        return self.call(self.api.delete, path)

    def create_instance(self, plan, region, **options):
        """Create an instance; linode_api4 returns (instance, password) up to 5.43 and an Instance
        from 5.44: either way, return the instance as the API describes it."""
        result = self.call(self.api.linode.instance_create, plan, region, safe=False, **options)
        instance = result[0] if isinstance(result, tuple) else result
        return self.get("/linode/instances/%d" % instance.id)


def gpu_plans(types):
    """RTX 4000 Ada plans among /linode/types, by id."""
    return {t["id"]: t for t in types if RTX4000_PLAN.match(t.get("id", "")) and t.get("gpus")}


def urls(address):
    """The chat UI and the OpenAI API base URL of a sandbox at ``address``."""
    if not address:
        return {"chat": None, "api": None}
    host = "[%s]" % address if ":" in address else address
    return {"chat": "http://%s:3000" % host, "api": "http://%s:8000/v1" % host}


def instance_view(instance):
    """What modules and the inventory return of an instance."""
    ipv4 = instance.get("ipv4") or []
    public = [a for a in ipv4 if not _private(a)]
    private = [a for a in ipv4 if _private(a)]
    ipv6 = (instance.get("ipv6") or "").split("/")[0] or None
    return {
        "id": instance["id"],
        "label": instance["label"],
        "status": instance.get("status"),
        "region": instance.get("region"),
        "plan": instance.get("type"),
        "image": instance.get("image"),
        "tags": instance.get("tags", []),
        "gpus": (instance.get("specs") or {}).get("gpus", 0),
        "ipv4": public[0] if public else None,
        "ipv4_private": private[0] if private else None,
        "ipv6": ipv6,
        "urls": urls(public[0] if public else None),
    }


# Linode gives private IPv4 addresses from 192.168.128.0/17 only; any other address of an instance is
# reachable from outside the data center (public).
def _private(address):
    match = re.match(r"^192\.168\.(\d{1,3})\.\d{1,3}$", address)
    return match is not None and int(match.group(1)) >= 128
