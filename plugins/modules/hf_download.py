#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hf_download
short_description: Download a model's files from the Hugging Face Hub into the cache vLLM reads
version_added: 0.1.0
description:
  - Downloads exactly the files M(oneclick.ai_sandbox.hf_model_info) chose (one format of the model, at one commit)
    into huggingface_hub's cache layout under O(cache_dir), where vLLM finds them with C(HF_HUB_OFFLINE=1).
  - The largest files first, each in parallel HTTP range requests (O(connections) at a time) where the server
    allows them, as the Hub's CDN does; one stream otherwise.
  - A file becomes part of the cache only when every byte has arrived; its space is reserved up front, so a full
    disk fails at once, with the space needed. A re-run resumes the parts already done and downloads nothing
    when every file is there.
  - Passing errors are retried with a growing pause (C(Retry-After) honoured, capped at 60 s); refusals of the Hub
    are not, and fail with the same RV(reason_code) as M(oneclick.ai_sandbox.hf_model_info).
  - Writes the progress (bytes done, rate, estimate) to O(progress_file) every second, and on success a manifest
    that lets M(oneclick.ai_sandbox.hf_model_info) answer later runs without the Hub.
  - Standard library only. It runs on the host's Python before anything else is installed, for example
    asynchronously beside the driver and Docker installs.
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
extends_documentation_fragment:
  - oneclick.ai_sandbox.attributes
options:
  model:
    description: RV(oneclick.ai_sandbox.hf_model_info#module:model) as the preflight returned it (C(id), C(sha),
      C(revision), C(weight_files), C(support_files), C(sizes)).
    type: dict
    required: true
  token:
    description: A Hugging Face access token (gated and private models). Sent only to the Hub, not to its CDN.
    type: str
  endpoint:
    description: The Hub, or a mirror of it.
    type: str
    default: https://huggingface.co
  cache_dir:
    description: The Hugging Face cache directory on the host (C(HF_HOME)); models go to its C(hub/) folder.
    type: path
    default: /opt/models
  connections:
    description: Range requests in flight at once.
    type: int
    default: 8
  timeout:
    description: Seconds without data before a request is retried.
    type: int
    default: 60
  retries:
    description: How often a passing error is retried before the download fails.
    type: int
    default: 5
  progress_file:
    description: A JSON file that gets the progress every second (readable by all; it holds no secret).
    type: path
attributes:
  check_mode:
    support: full
    details: Reports whether files are missing; downloads nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Check the model
  oneclick.ai_sandbox.hf_model_info:
    model: mistralai/Mistral-7B-Instruct-v0.3
    token: "{{ hf_token }}"
  register: model_info

- name: Download it in the background while other work goes on
  oneclick.ai_sandbox.hf_download:
    model: "{{ model_info.model }}"
    token: "{{ hf_token }}"
    progress_file: /var/lib/ai-sandbox/model-download.json
  async: 3600
  poll: 0
  register: download_job
  no_log: true
"""

RETURN = r"""
downloaded_files:
  description: The files that were downloaded (not already complete in the cache).
  returned: success
  type: list
  elements: str
downloaded_bytes:
  description: Bytes of those files.
  returned: success
  type: int
seconds:
  description: How long it took.
  returned: success
  type: float
started_at:
  description: When it started, in seconds since the epoch.
  returned: success
  type: float
finished_at:
  description: When it ended, in seconds since the epoch.
  returned: success
  type: float
manifest:
  description: The manifest written beside the cache for later runs.
  returned: success
  type: str
reason_code:
  description: On failure, the failure class (C(download_failed), or the Hub refusal's class).
  returned: failure
  type: str
  sample: download_failed
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import hf_download, hf_hub

MANIFEST_KEYS = (
    "id",
    "revision",
    "sha",
    "gated",
    "config",
    "format",
    "engine_args",
    "weight_files",
    "support_files",
    "sizes",
    "weights_bytes",
    "download_bytes",
)


def main():
    module = AnsibleModule(
        argument_spec={
            "model": {"type": "dict", "required": True},
            "token": {"type": "str", "no_log": True},
            "endpoint": {"type": "str", "default": hf_hub.DEFAULT_ENDPOINT},
            "cache_dir": {"type": "path", "default": "/opt/models"},
            "connections": {"type": "int", "default": 8},
            "timeout": {"type": "int", "default": 60},
            "retries": {"type": "int", "default": 5},
            "progress_file": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    model = params["model"]
    for key in ("id", "sha", "weight_files", "support_files"):
        if not model.get(key):
            module.fail_json(msg="model: %s is missing; pass hf_model_info's model as it returned it" % key)
    error = hf_hub.repo_id_error(model["id"])
    if error:
        module.fail_json(msg=error, reason_code="bad_model_id")
    files = list(model["weight_files"]) + list(model["support_files"])
    sizes = model.get("sizes") or {}
    downloader = hf_download.Downloader(
        params["endpoint"],
        model["id"],
        model["sha"],
        params["cache_dir"],
        token=params["token"],
        revision=model.get("revision"),
        connections=params["connections"],
        timeout=params["timeout"],
        retries=params["retries"],
        progress_path=params["progress_file"],
    )
    missing = [name for name in files if not downloader.complete(name, sizes.get(name))]
    if module.check_mode:
        module.exit_json(changed=bool(missing), downloaded_files=missing, downloaded_bytes=0, seconds=0.0)
    started = time.time()
    try:
        moved, fetched = downloader.run(files, sizes)
    except hf_download.DownloadError as exc:
        module.fail_json(msg=exc.message, reason_code=exc.reason_code)
    described = {key: model.get(key) for key in MANIFEST_KEYS}
    manifest = hf_hub.write_manifest(params["cache_dir"], model["id"], model.get("revision") or model["sha"], described)
    finished = time.time()
    module.exit_json(
        changed=bool(fetched),
        downloaded_files=fetched,
        downloaded_bytes=moved,
        seconds=round(finished - started, 2),
        started_at=started,
        finished_at=finished,
        manifest=manifest,
    )


if __name__ == "__main__":
    main()
