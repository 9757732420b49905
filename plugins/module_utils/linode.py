# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one private Linode client of this collection's modules and inventory plugin.

The client owns the token (option or LINODE_TOKEN / LINODE_API_TOKEN), the API URL, a user agent naming
this collection, a timeout for every request, retries with bounded backoff (429, 5xx and network errors;
``Retry-After`` honoured up to RETRY_AFTER_CAP seconds), every page of a list, and Linode's
``{"errors": [{"field", "reason"}]}`` turned into a message that names the field. A write that may
have been carried out although its answer was lost (a 5xx, a reset connection, a timeout after sending)
is never simply sent again: the caller's ``recover`` looks for what it would have made (by label and
the sandbox tag) first.

The rules its inputs must follow are in linode_input.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re
import time

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils.linode_input import (
    RTX4000_PLAN,
    SANDBOX_TAG,
    api_token_error,
    api_url_error,
    int_range_error,
    shown,
)
from ansible_collections.oneclick.ai_sandbox.plugins.module_utils.sandbox_contract import DEFAULTS

try:
    from linode_api4 import ApiError, LinodeClient
    from requests.adapters import HTTPAdapter
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import ConnectTimeout, RequestException, Timeout

    HAS_LINODE_API4 = True
except ImportError:  # pragma: no cover - reported through missing_required_lib
    HAS_LINODE_API4 = False

    class ApiError(Exception):
        pass

    class RequestException(Exception):
        pass

    class RequestsConnectionError(RequestException):
        pass

    class ConnectTimeout(RequestsConnectionError):
        pass

    class Timeout(RequestException):
        pass

    HTTPAdapter = object


COLLECTION = "oneclick.ai_sandbox"
COLLECTION_VERSION = "0.1.0"
USER_AGENT = "%s/%s" % (COLLECTION, COLLECTION_VERSION)
DEFAULT_API_URL = "https://api.linode.com/v4"
TOKEN_ENV = ["LINODE_TOKEN", "LINODE_API_TOKEN"]

# Retries: exponential backoff from BACKOFF_BASE seconds, each wait at most BACKOFF_CAP; a server's
# Retry-After is honoured up to RETRY_AFTER_CAP seconds; at most MAX_RETRIES retries.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 60.0
MAX_RETRIES = 10
DEFAULT_RETRIES = 5
DEFAULT_TIMEOUT = 30
RETRY_STATUSES = (429, 500, 502, 503, 504)


def client_argument_spec():
    """Options shared by every module that talks to Linode."""
    from ansible.module_utils.basic import env_fallback

    return {
        "api_token": {"type": "str", "no_log": True, "required": True, "fallback": (env_fallback, TOKEN_ENV)},
        "api_url": {"type": "str", "default": DEFAULT_API_URL},
        "api_retries": {"type": "int", "default": DEFAULT_RETRIES},
        "api_timeout": {"type": "int", "default": DEFAULT_TIMEOUT},
    }


def client_options_error(token, api_url, retries=DEFAULT_RETRIES, timeout=DEFAULT_TIMEOUT):
    """The first refused client option, in words; or None."""
    return (
        api_token_error(token)
        or api_url_error(api_url, "api_url")
        or int_range_error(retries, "api_retries", 0, MAX_RETRIES)
        or int_range_error(timeout, "api_timeout", 1, 600)
    )


def module_client(module):
    """The client for a module built on client_argument_spec(); fails the module on a refused option
    or without linode_api4."""
    params = module.params
    error = client_options_error(params["api_token"], params["api_url"], params["api_retries"], params["api_timeout"])
    if error:
        module.fail_json(msg=error)
    if not HAS_LINODE_API4:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("linode_api4"))
    return SandboxClient(params["api_token"], params["api_url"], params["api_retries"], timeout=params["api_timeout"])


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


def backoff(attempt):
    """Seconds to wait before retry number ``attempt`` (0-based): 1, 2, 4, ... at most BACKOFF_CAP."""
    return min(BACKOFF_BASE * 2.0**attempt, BACKOFF_CAP)


def retry_after(exc, attempt):
    """The server's Retry-After (seconds, at most RETRY_AFTER_CAP), else the backoff."""
    response = getattr(exc, "response", None)
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        seconds = float(header)
    except (TypeError, ValueError):
        return backoff(attempt)
    if math.isnan(seconds):
        return backoff(attempt)
    return min(max(0.0, seconds), RETRY_AFTER_CAP)


def _causes(exc):
    """An exception and what it wraps (requests -> urllib3 -> socket errors)."""
    seen = []
    todo = [exc]
    while todo and len(seen) < 12:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend(a for a in getattr(item, "args", ()) if isinstance(a, BaseException))
        todo.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
    return seen


def _named(exc, *names):
    return any(type(c).__name__ in names for c in _causes(exc))


def network_failure(exc):
    """(words, sent_nothing) for a requests exception: whether the request surely never reached the API
    (refused, no route, name not resolved, connect timeout), so that sending it again is safe."""
    if isinstance(exc, ConnectTimeout) or _named(exc, "ConnectTimeoutError"):
        return "timed out connecting", True
    if _named(exc, "ConnectionRefusedError"):
        return "connection refused", True
    if _named(exc, "NameResolutionError", "gaierror"):
        return "name not resolved", True
    if _named(exc, "NewConnectionError"):
        return "cannot connect", True
    if isinstance(exc, Timeout):
        return "no answer in time", False
    if _named(exc, "ConnectionResetError", "RemoteDisconnected", "ProtocolError", "BrokenPipeError"):
        return "connection reset or closed before an answer", False
    return type(exc).__name__, False


class _TimeoutAdapter(HTTPAdapter):
    """Every request gets a timeout (linode_api4 sets none); no retries below ours."""

    def __init__(self, timeout):
        super().__init__(max_retries=0)
        self.timeout = timeout

    def send(self, request, **kwargs):
        if not kwargs.get("timeout"):
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


class SandboxClient:
    """linode_api4 with our timeout, retries and error messages. ``sleep`` is replaceable for tests."""

    def __init__(self, token, api_url=DEFAULT_API_URL, retries=DEFAULT_RETRIES, sleep=time.sleep, timeout=None):
        self.api = LinodeClient(token, base_url=api_url.rstrip("/"), user_agent=USER_AGENT, retry=False)
        adapter = _TimeoutAdapter(timeout or DEFAULT_TIMEOUT)
        self.api.session.mount("http://", adapter)
        self.api.session.mount("https://", adapter)
        self.api_url = api_url
        self.retries = retries
        self.sleep = sleep
        self.waited = []

    def call(self, function, *args, **kwargs):
        """Run one API call with retries.

        ``safe`` (default True): the call may be repeated (reads, PUT, DELETE). An unsafe call (a
        creation) is repeated only when it surely did nothing (429, a refused connection); after an
        ambiguous failure (5xx, reset, timeout) ``recover()`` is asked first for what the call would
        have made, and its answer returned when it found it; without ``recover`` it is not repeated.
        """
        safe = kwargs.pop("safe", True)
        recover = kwargs.pop("recover", None)
        attempt = 0
        while True:
            try:
                return function(*args, **kwargs)
            except ApiError as exc:
                message, status, errors = describe(exc)
                if status not in RETRY_STATUSES:
                    raise LinodeError(message, status, errors) from None
                did_nothing = status == 429
                delay = retry_after(exc, attempt)
            except RequestException as exc:
                words, did_nothing = network_failure(exc)
                message, status, errors = "cannot reach the Linode API at %s: %s" % (self.api_url, words), None, []
                delay = backoff(attempt)
            if not safe and not did_nothing:
                if recover is None:
                    raise LinodeError(message + " (not repeated: it may have been carried out)", status, errors)
                found = recover()
                if found is not None:
                    return found
            if attempt >= self.retries:
                suffix = " (gave up after %d retries)" % self.retries if self.retries else ""
                raise LinodeError(message + suffix, status, errors)
            self.waited.append(delay)
            self.sleep(delay)
            attempt += 1

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

    def post(self, path, data, safe=False, recover=None):
        return self.call(self.api.post, path, data=data, safe=safe, recover=recover)

    def put(self, path, data):
        return self.call(self.api.put, path, data=data)

    def delete(self, path):
        """Delete; a 404 on a repeated DELETE means the first one was carried out."""
        try:
            return self.call(self.api.delete, path)
        except LinodeError as exc:
            if exc.status == 404:
                return {}
            raise

    def create_instance(self, plan, region, recover=None, **options):
        """Create an instance; linode_api4 returns (instance, password) up to 5.43 and an Instance
        from 5.44: either way, return the instance as the API describes it. ``recover()`` finds the
        instance after an ambiguous failure (see call)."""
        result = self.call(self.api.linode.instance_create, plan, region, safe=False, recover=recover, **options)
        if isinstance(result, dict):
            return result
        instance = result[0] if isinstance(result, tuple) else result
        return self.get("/linode/instances/%d" % instance.id)


def gpu_plans(types):
    """RTX 4000 Ada plans among /linode/types, by id."""
    return {t["id"]: t for t in types if RTX4000_PLAN.fullmatch(t.get("id", "")) and t.get("gpus")}


def is_ours(resource):
    """Whether a Linode or firewall carries the sandbox tag (made by this collection)."""
    return SANDBOX_TAG in ((resource or {}).get("tags") or [])


def foreign(kind, resource, action):
    """The refusal to act on a resource that is not the sandbox's, naming it."""
    return (
        "refusing to %s %s %d labelled %s (tags: %s): it has no %r tag, so it was not made by this collection; "
        "it was left as it is. Choose another label, or manage that %s yourself."
        % (
            action,
            kind,
            resource["id"],
            shown(resource.get("label")),
            ", ".join(shown(t) for t in resource.get("tags") or []) or "none",
            SANDBOX_TAG,
            kind,
        )
    )


def urls(address):
    """The chat UI and the OpenAI API base URL of a sandbox at ``address`` (the sandbox's default ports)."""
    if not address:
        return {"chat": None, "api": None}
    host = "[%s]" % address if ":" in address else address
    return {
        "chat": "http://%s:%d" % (host, DEFAULTS["ui_port"]),
        "api": "http://%s:%d/v1" % (host, DEFAULTS["api_port"]),
    }


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
    match = re.fullmatch(r"192\.168\.([0-9]{1,3})\.[0-9]{1,3}", address)
    return match is not None and int(match.group(1)) >= 128
