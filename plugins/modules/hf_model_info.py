#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hf_model_info
short_description: Check a Hugging Face model before anything is downloaded
version_added: 0.1.0
description:
  - Asks the Hugging Face Hub (or the mirror in O(endpoint)) for a model's metadata and C(config.json),
    with the token when one is given, and checks that the disk holding O(cache_dir) has room for the
    files that are not cached yet.
  - Fails fast, before gigabytes move, with a distinct and actionable message for each cause, and a
    machine-readable RV(reason_code), a failure class of the collection's contract
    (C(plugins/module_utils/sandbox_contract.py)) - C(bad_model_id), C(gated_no_token), C(gated_no_access),
    C(token_refused), C(access_refused), C(not_found), C(hub_unreachable), C(hub_error),
    C(bad_config), C(disk_too_small).
  - Returns what the sizing of vLLM needs - the model's C(config.json) and the size of the weight
    files vLLM loads - and which of the repository's formats to fetch and serve, RV(model.format). A
    repository with both (Mistral's own models) is served in the Mistral format, as vLLM does by default, and
    only that format's files are listed, so the engine never fetches the other one at start.
  - When an earlier download of the same revision finished and its files are all still in O(cache_dir)
    (M(oneclick.ai_sandbox.hf_download) leaves a manifest), answers from the cache without asking the Hub;
    a reboot, a resumed first boot or a re-run needs neither the Hub nor a valid token.
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
extends_documentation_fragment:
  - oneclick.ai_sandbox.attributes
options:
  model:
    description: The model's repo id, C(<owner>/<name>).
    type: str
    required: true
  revision:
    description: Branch, tag or commit of the model.
    type: str
    default: main
  token:
    description:
      - A Hugging Face access token; needed for gated and private models.
      - Sent only in the C(Authorization) header.
    type: str
  endpoint:
    description: The Hub, or a mirror of it (what C(HF_ENDPOINT) names for huggingface_hub).
    type: str
    default: https://huggingface.co
  cache_dir:
    description:
      - The Hugging Face cache directory on the host (C(HF_HOME)); models live in its C(hub/) folder.
      - Used to find files already downloaded and the free space of its disk.
    type: path
    default: /opt/models
  disk_margin_gb:
    description: Free space to keep on top of the download, in GB.
    type: float
    default: 2.0
  format:
    description:
      - Which format of the repository to fetch. V(mistral) (C(consolidated*.safetensors), C(params.json), the
        Mistral tokenizer) or V(hf) (sharded safetensors, C(config.json), the Hugging Face tokenizer); V(auto)
        takes the Mistral format when the repository has it, as vLLM does.
    type: str
    default: auto
    choices: [auto, mistral, hf]
  use_cache:
    description:
      - Answer from a finished download of this revision in O(cache_dir) without asking the Hub.
    type: bool
    default: true
  check_hub:
    description:
      - Ask the Hub and check the disk. When V(false), only the form of O(model) is checked and
        RV(model) carries just the id (for hosts that must not talk to the Hub at deploy time).
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each answer of the Hub.
    type: int
    default: 30
  check_disk:
    description:
      - Check that the disk of O(cache_dir) has room for the download. V(false) where the model goes to
        another machine (the provision playbook checks the model and the token from the controller).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Check the model and the token before downloading
  oneclick.ai_sandbox.hf_model_info:
    model: mistralai/Mistral-7B-Instruct-v0.3
    token: "{{ hf_token }}"
  no_log: false
  register: model_info

- name: Show the weight size
  ansible.builtin.debug:
    msg: "{{ (model_info.model.weights_bytes / 1e9) | round(1) }} GB of weights"
"""

RETURN = r"""
model:
  description: What the Hub says of the model, and what is cached already.
  returned: success
  type: dict
  contains:
    id:
      description: The repo id.
      type: str
      sample: mistralai/Mistral-7B-Instruct-v0.3
    sha:
      description: The commit the revision points at.
      type: str
    gated:
      description: Whether the repository is gated (C(false), C(auto) or C(manual) on the Hub).
      type: raw
    config:
      description: The model's C(config.json).
      type: dict
    format:
      description: The format fetched and served, C(mistral) or C(hf).
      type: str
      sample: mistral
    engine_args:
      description: The vLLM flags that make the engine read that format and nothing else.
      type: list
      elements: str
      sample: [--load-format, mistral, --config-format, mistral, --tokenizer-mode, mistral]
    sizes:
      description: The size of each file to fetch, by name.
      type: dict
    from_cache:
      description: Whether the answer came from a finished download in the cache, without the Hub.
      type: bool
    weight_files:
      description: The weight files vLLM loads.
      type: list
      elements: str
    support_files:
      description: The config, tokenizer and template files vLLM reads.
      type: list
      elements: str
    weights_bytes:
      description: Size of the weight files.
      type: int
      sample: 14496080928
    download_bytes:
      description: Size of weight and support files together.
      type: int
    missing_bytes:
      description: Size of the files not in the cache yet.
      type: int
    cached:
      description: Whether every file is in the cache already (a re-run downloads nothing).
      type: bool
    free_bytes:
      description: Free space on the disk of O(cache_dir).
      type: int
reason_code:
  description: On failure, which check failed (see the description).
  returned: failure
  type: str
  sample: gated_no_token
reason:
  description: The same as RV(reason_code), under its earlier name.
  returned: failure
  type: str
  sample: gated_no_token
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible.module_utils.urls import fetch_url

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import hf_hub


class Refusal(Exception):
    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
        self.message = message


def hub_get(module, url):
    """GET a Hub URL; return the parsed body, or raise Refusal in plain words."""
    params = module.params
    headers = {"Accept": "application/json", "User-Agent": "oneclick.ai_sandbox hf_model_info"}
    if params["token"]:
        headers["Authorization"] = "Bearer %s" % params["token"]
    response, info = fetch_url(module, url, headers=headers, method="GET", timeout=params["timeout"])
    status = info.get("status", -1)
    if status == -1 or status is None:
        raise Refusal(
            "hub_unreachable",
            "cannot reach the Hugging Face Hub at %s (%s). Check the host's network and DNS, or set "
            "vllm_service_hf_endpoint to a mirror it can reach." % (params["endpoint"], info.get("msg", "no answer")),
        )
    if status != 200:
        reason, message = hf_hub.classify_http_error(
            status, info.get("x-error-code"), bool(params["token"]), params["model"], params["endpoint"]
        )
        raise Refusal(reason, message)
    body = response.read()
    try:
        return json.loads(body)
    except ValueError:
        raise Refusal("hub_error", "the Hub's answer for %s is not JSON" % url) from None


def free_bytes(path):
    """Free space of the disk that holds path (or its nearest existing parent)."""
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    stat = os.statvfs(path or "/")
    return stat.f_bavail * stat.f_frsize


def inspect(module):
    params = module.params
    error = hf_hub.repo_id_error(params["model"])
    if error:
        raise Refusal("bad_model_id", error)
    endpoint = params["endpoint"].rstrip("/")
    repo = params["model"]
    if not params["check_hub"]:
        return {
            "id": repo,
            "revision": params["revision"],
            "sha": None,
            "config": None,
            "format": None,
            "engine_args": [],
            "weight_files": [],
            "support_files": [],
            "sizes": {},
            "weights_bytes": 0,
            "download_bytes": 0,
            "missing_bytes": 0,
            "cached": False,
            "from_cache": False,
            "free_bytes": free_bytes(params["cache_dir"]),
        }
    if params["use_cache"]:
        cached = hf_hub.read_manifest(params["cache_dir"], repo, params["revision"])
        if cached and (params["format"] == "auto" or cached.get("format") == params["format"]):
            cached.update({"cached": True, "from_cache": True, "missing_bytes": 0})
            cached["free_bytes"] = free_bytes(params["cache_dir"])
            return cached
    info = hub_get(
        module,
        "%s/api/models/%s/revision/%s?blobs=true" % (endpoint, repo, quote(params["revision"], safe="")),
    )
    sha = info.get("sha") or params["revision"]
    # Metadata of a gated repo is public; its files are not. config.json tells whether we may download.
    config = hub_get(module, "%s/%s/resolve/%s/config.json" % (endpoint, repo, sha))
    if not isinstance(config, dict):
        raise Refusal("bad_config", "config.json of %s is not a JSON object" % repo)

    files = [{"name": s["rfilename"], "size": int(s.get("size") or 0)} for s in info.get("siblings", [])]
    sizes = {f["name"]: f["size"] for f in files}
    try:
        model_format, weights, support = hf_hub.choose_format(files, params["format"])
    except hf_hub.FormatError as exc:
        raise Refusal("bad_config", str(exc)) from None
    wanted = weights + support
    cached = set(hf_hub.cached_files(params["cache_dir"], repo, sha, wanted))
    missing_bytes = sum(sizes[name] for name in wanted if name not in cached)
    free = free_bytes(params["cache_dir"])
    margin = int(params["disk_margin_gb"] * 1e9)
    if params["check_disk"] and missing_bytes and free < missing_bytes + margin:
        raise Refusal(
            "disk_too_small",
            "disk too small for the model: %s needs %.1f GB more in %s (plus %.0f GB to spare), and the disk "
            "has %.1f GB free. Choose a plan with a larger disk, resize the disk, or pick a smaller model."
            % (repo, missing_bytes / 1e9, params["cache_dir"], margin / 1e9, free / 1e9),
        )
    return {
        "id": repo,
        "revision": params["revision"],
        "sha": sha,
        "gated": info.get("gated", False),
        "config": config,
        "format": model_format,
        "engine_args": list(hf_hub.ENGINE_ARGS[model_format]),
        "weight_files": weights,
        "support_files": support,
        "sizes": {name: sizes[name] for name in wanted},
        "weights_bytes": sum(sizes[name] for name in weights),
        "download_bytes": sum(sizes[name] for name in wanted),
        "missing_bytes": missing_bytes,
        "cached": not missing_bytes and len(cached) == len(wanted),
        "from_cache": False,
        "free_bytes": free,
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "model": {"type": "str", "required": True},
            "revision": {"type": "str", "default": "main"},
            "token": {"type": "str", "no_log": True},
            "endpoint": {"type": "str", "default": hf_hub.DEFAULT_ENDPOINT},
            "cache_dir": {"type": "path", "default": "/opt/models"},
            "disk_margin_gb": {"type": "float", "default": 2.0},
            "check_hub": {"type": "bool", "default": True},
            "format": {"type": "str", "default": "auto", "choices": list(hf_hub.FORMATS)},
            "use_cache": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 30},
            "check_disk": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    try:
        model = inspect(module)
    except Refusal as refusal:
        module.fail_json(msg=refusal.message, reason_code=refusal.reason, reason=refusal.reason)
    module.exit_json(changed=False, model=model)


if __name__ == "__main__":
    main()
