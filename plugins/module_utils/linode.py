# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one private Linode client of this collection's modules and inventory plugin, and the rules its
inputs must follow.

The client owns the token (option or LINODE_TOKEN / LINODE_API_TOKEN), the API URL, a user agent naming
this collection, a timeout for every request, retries with bounded backoff (429, 5xx and network errors;
``Retry-After`` honoured up to RETRY_AFTER_CAP seconds), every page of a list, and Linode's
``{"errors": [{"field", "reason"}]}`` turned into a message that names the field. A write that may
have been carried out although its answer was lost (a 5xx, a reset connection, a timeout after sending)
is never simply sent again: the caller's ``recover`` looks for what it would have made (by label and
the sandbox tag) first.

The input rules (``*_error`` functions) match whole values (``re.fullmatch``: a trailing newline is
never accepted) and return a message that names the field, shows the value (never a secret) and says
what is allowed; or None.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import time

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import hf_hub

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

# What marks a Linode (and its Cloud Firewall) as made by this collection: modules act only on
# resources that carry this tag and the expected label.
SANDBOX_TAG = "ai-sandbox"

# The regions that offer RTX 4000 Ada plans, and the plans' id pattern.
RTX4000_REGIONS = ["us-ord", "de-fra-2", "jp-osa", "fr-par", "us-sea", "sg-sin-2"]
RTX4000_PLAN = re.compile(r"g2-gpu-rtx4000a[0-9]{1,2}-[a-z0-9]{1,8}")
RTX4000_PLAN_FORM = "g2-gpu-rtx4000a<gpus>-<size>, such as g2-gpu-rtx4000a1-s"
SUPPORTED_IMAGES = ["linode/ubuntu22.04", "linode/ubuntu24.04"]
PRIVATE_IMAGE = re.compile(r"private/[0-9]{1,12}")

# Linode labels (instances and firewalls), as the API describes them (OpenAPI 4.189.0, POST
# /linode/instances and /networking/firewalls): the pattern ^[a-zA-Z]((?!--|__|\.\.)[a-zA-Z0-9-_.])+$,
# the description's "begin and end with an alphanumeric character", 3 to 64 characters (32 for a
# firewall).
LABEL_PATTERN = re.compile(r"[a-zA-Z](?:(?!--|__|\.\.)[a-zA-Z0-9_.-])*[a-zA-Z0-9]")
LABEL_RULE = (
    "%d to %d letters, digits, '-', '_' or '.', starting with a letter, ending with a letter or digit, "
    "with no '--', '__' or '..'"
)
LABEL_MAX = 64
FIREWALL_LABEL_MAX = 32
FIREWALL_SUFFIX = "-firewall"

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
    if seconds != seconds:  # NaN
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
    match = re.fullmatch(r"192\.168\.([0-9]{1,3})\.[0-9]{1,3}", address)
    return match is not None and int(match.group(1)) >= 128


# --- input rules ---------------------------------------------------------------------------------
SHOWN_MAX = 60
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
UDF_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
HF_TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9_]{4,250}")
HF_TOKEN_FORM = "hf_ followed by letters, digits and '_' (a Hugging Face access token)"
API_TOKEN_PATTERN = re.compile(r"[\x21-\x7e]{1,512}")
SSH_KEY_PATTERN = re.compile(
    r"(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]{16,16384}={0,3}(?: [\x20-\x7e]{0,256})?"
)
CIDR_CHARACTERS = re.compile(r"[0-9A-Fa-f.:/]{2,49}")
# A host name or an IP address (IPv6 in brackets), an optional port, an optional path of plain
# characters: no user information, query, fragment, spaces or anything a shell or git would read.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = r"(?:%s(?:\.%s)*|\[[0-9A-Fa-f:.]{2,45}\])" % (_NAME, _NAME)
URL_PATTERN = re.compile(
    r"(?P<scheme>[a-z]+)://(?P<host>%s)(?::(?P<port>[0-9]{1,5}))?(?P<path>/[A-Za-z0-9._~/+-]*)?" % _HOST
)
URL_MAX = 2048
# A git branch, tag or commit: what `git check-ref-format --branch` accepts, narrowed to plain
# characters, never starting with '-' (an option to git).
REF_PATTERN = re.compile(r"(?![-/])(?!.*(?:\.\.|//|@\{|\.lock(?:/|\Z)|/\.|\.\Z|/\Z))[A-Za-z0-9._/+-]{1,255}")
REF_FORM = "a branch, tag or commit: letters, digits, '.', '_', '-', '+' and '/', not starting with '-' or '/', no '..'"
BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def shown(value, secret=False):
    """A value as a message shows it: quoted, escapes for control and non-ASCII characters (look-alikes
    stand out), long ones cut; a secret never (only its length)."""
    if secret:
        return "(hidden, %d characters)" % len(value) if isinstance(value, str) else "(hidden)"
    if not isinstance(value, str):
        return ascii(value)
    if len(value) > SHOWN_MAX:
        return "%s... (%d characters)" % (ascii(value[:SHOWN_MAX]), len(value))
    return ascii(value)


def _text(value):
    return value if isinstance(value, str) else None


def label_error(value, field="label", limit=LABEL_MAX):
    text = _text(value)
    if text is not None and 3 <= len(text) <= limit and LABEL_PATTERN.fullmatch(text):
        return None
    return "%s: %s is not a Linode label; it must be %s" % (field, shown(value), LABEL_RULE % (3, limit))


def firewall_label_error(label, field="label"):
    """A sandbox's firewall is labelled <label>-firewall, and Linode allows 32 characters for it."""
    limit = FIREWALL_LABEL_MAX - len(FIREWALL_SUFFIX)
    if isinstance(label, str) and len(label) > limit:
        return (
            "%s: %s has %d characters; with a firewall it may have at most %d (the firewall is labelled "
            "<label>%s and Linode allows %d characters for that)"
            % (field, shown(label), len(label), limit, FIREWALL_SUFFIX, FIREWALL_LABEL_MAX)
        )
    return None


def region_error(value, field="region"):
    if isinstance(value, str) and value in RTX4000_REGIONS:
        return None
    return "%s: %s is not a region with RTX 4000 Ada plans; choose one of %s" % (
        field,
        shown(value),
        ", ".join(RTX4000_REGIONS),
    )


def plan_error(value, field="plan"):
    if isinstance(value, str) and RTX4000_PLAN.fullmatch(value):
        return None
    return "%s: %s is not an RTX 4000 Ada plan; expected %s" % (field, shown(value), RTX4000_PLAN_FORM)


def image_error(value, field="image"):
    if isinstance(value, str) and (value in SUPPORTED_IMAGES or PRIVATE_IMAGE.fullmatch(value)):
        return None
    return "%s: %s is not an image the sandbox supports; use %s or a private image (private/<id>)" % (
        field,
        shown(value),
        " or ".join(SUPPORTED_IMAGES),
    )


def cidr_value(value, field="allowed_cidrs"):
    """(network as the API wants it, IP/prefix; None) or (None, message)."""
    text = _text(value)
    refusal = "%s: %s is not an IPv4 or IPv6 network (such as 203.0.113.0/24 or 2001:db8::/48)" % (field, shown(value))
    if text is None or not CIDR_CHARACTERS.fullmatch(text):
        return None, refusal
    try:
        return str(ipaddress.ip_network(text, strict=False)), None
    except ValueError:
        return None, refusal


def cidr_list(value, field="allowed_cidrs"):
    """A comma-separated string or a list of networks -> (normalized list, [messages])."""
    if value is None:
        return [], []
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        return [], ["%s: %s is not a list of networks" % (field, shown(value))]
    networks, errors = [], []
    for item in items:
        if isinstance(item, str):
            item = item.strip(" ")
            if item == "":
                continue
        network, error = cidr_value(item, field)
        if error:
            errors.append(error)
        elif network not in networks:
            networks.append(network)
    return networks, errors


def _loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_parts(value):
    """The parts of a URL this collection accepts (see URL_PATTERN), or None."""
    text = _text(value)
    if text is None or len(text) > URL_MAX:
        return None
    match = URL_PATTERN.fullmatch(text)
    if not match:
        return None
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    path = match.group("path") or ""
    if any(segment in (".", "..") for segment in path.split("/")):
        return None
    return match.groupdict()


def credentials_in(value):
    """The user information of a URL-like text (what goes before '@' in its authority), or None."""
    text = _text(value)
    if not text or "://" not in text:
        return None
    authority = re.split(r"[/?#]", text.split("://", 1)[1], maxsplit=1)[0]
    if "@" not in authority:
        return None
    return authority.rsplit("@", 1)[0] or None


def without_credentials(value):
    """A URL-like text with its user information replaced by '***' (for messages)."""
    userinfo = credentials_in(value)
    if userinfo is None:
        return value
    return value.replace(userinfo + "@", "***@", 1)


def api_url_error(value, field="api_url"):
    """https://, or http:// to this machine (an emulator): a token never crosses a network in clear."""
    parts = url_parts(value)
    if parts and (parts["scheme"] == "https" or (parts["scheme"] == "http" and _loopback(parts["host"]))):
        return None
    return (
        "%s: %s is not a URL this collection sends a token to; use https://host[:port][/path] (plain http:// "
        "only to this machine, such as an emulator on 127.0.0.1), without user, password, query or fragment"
        % (field, shown(without_credentials(value)))
    )


def repo_url_error(value, field="repo_url", allow_http=False):
    """The repository the first boot runs as root: https:// (http:// only when allowed), no
    credentials (they would land in logs and the motd), nothing but a plain host and path."""
    if credentials_in(value) is not None:
        return (
            "%s: %s carries credentials (user or token before '@'); they would be written to the sandbox's "
            "logs and motd. Use a public repository or a mirror that needs none."
            % (field, shown(without_credentials(value)))
        )
    parts = url_parts(value)
    if parts and (parts["scheme"] == "https" or (allow_http and parts["scheme"] == "http")):
        return None
    return "%s: %s is not an https:// repository URL; use https://host[:port]/path (no query or fragment)%s" % (
        field,
        shown(value),
        "" if allow_http else "; plain http:// needs insecure_repo_url=true (a lab's local mirror)",
    )


def repo_ref_error(value, field="repo_ref"):
    if isinstance(value, str) and REF_PATTERN.fullmatch(value):
        return None
    return "%s: %s is not a git ref; expected %s" % (field, shown(value), REF_FORM)


def model_id_error(value, field="model"):
    """A Hugging Face model id, the rule of module_utils/hf_hub.py matched against the whole value."""
    if isinstance(value, str) and hf_hub.REPO_ID_PATTERN.fullmatch(value):
        return None
    return "%s: %s is not a Hugging Face model id; expected %s" % (field, shown(value), hf_hub.REPO_ID_FORM)


def hf_token_error(value, field="hf_token"):
    if value in (None, "") or (isinstance(value, str) and HF_TOKEN_PATTERN.fullmatch(value)):
        return None
    return "%s: the value given %s is not a Hugging Face token; expected %s" % (
        field,
        shown(value, secret=True),
        HF_TOKEN_FORM,
    )


def api_token_error(value, field="api_token"):
    if isinstance(value, str) and API_TOKEN_PATTERN.fullmatch(value):
        return None
    return "%s: the token given %s is not a Linode token; expected 1 to 512 printable ASCII characters, no spaces" % (
        field,
        shown(value, secret=True),
    )


def password_error(value, field="root_pass"):
    """Linode's root_pass: 7 to 128 characters; no control characters (never shown)."""
    if isinstance(value, str) and 7 <= len(value) <= 128 and not CONTROL.search(value):
        return None
    return "%s: the password given %s is refused; Linode needs 7 to 128 characters, with no control characters" % (
        field,
        shown(value, secret=True),
    )


def text_error(value, field, low, high, secret=False):
    """Free text stored as given: ``low`` to ``high`` characters, no control characters."""
    if isinstance(value, str) and low <= len(value) <= high and not CONTROL.search(value):
        return None
    return "%s: %s is refused; expected %d to %d characters with no control characters (such as a newline)" % (
        field,
        shown(value, secret=secret),
        low,
        high,
    )


def ssh_key_error(value, field="authorized_keys"):
    if isinstance(value, str) and SSH_KEY_PATTERN.fullmatch(value):
        return None
    return "%s: %s is not one SSH public key line (type, base64 key, optional comment)" % (field, shown(value))


def udf_name_error(value, field):
    if isinstance(value, str) and UDF_NAME.fullmatch(value):
        return None
    return "%s: %s is not a StackScript field name; expected letters, digits and '_', not starting with a digit" % (
        field,
        shown(value),
    )


def int_range_error(value, field, low, high):
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return None
    return "%s: %s is out of range; expected a whole number from %d to %d" % (field, shown(value), low, high)


def bool_value(value, field):
    """(True/False, None) for a boolean or one of true/false/yes/no/on/off/1/0; else (None, message)."""
    if isinstance(value, bool):
        return value, None
    if isinstance(value, str) and value.lower() in BOOL_WORDS:
        return BOOL_WORDS[value.lower()], None
    return None, "%s: %s is not a boolean; expected true or false (yes/no, on/off, 1/0)" % (field, shown(value))
