# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules a sandbox's inputs must follow, for the Linode modules and the provision playbook.

Each ``*_error`` function matches the whole value (``re.fullmatch``: a trailing newline is never
accepted) and returns a message that names the field, shows the value (escaped and cut when long;
never a secret, never a URL's credentials) and says what is allowed; or None. Nothing here needs
linode_api4, so an answer is checked without loading the API client.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import hf_hub

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

# --- the rules -----------------------------------------------------------------------------------
SHOWN_MAX = 60
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
UDF_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
HF_TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9_-]{4,250}")
HF_TOKEN_FORM = "hf_ followed by letters, digits, '_' and '-' (a Hugging Face access token)"
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
