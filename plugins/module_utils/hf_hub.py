# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hugging Face Hub facts for the preflight: repo ids, which files vLLM loads, errors in plain words.

Only the public HTTP interface of the Hub is used (``/api/models/<id>/revision/<rev>`` and
``/<id>/resolve/<rev>/<file>``), so a mirror set through ``HF_ENDPOINT`` works the same.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

DEFAULT_ENDPOINT = "https://huggingface.co"

# <owner>/<name>: letters, digits, '-', '_', '.'; no '--' or '..'; at most 96 characters a part.
_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
REPO_ID_PATTERN = re.compile(r"^(?!.*(?:--|\.\.))%s/%s$" % (_PART, _PART))
REPO_ID_FORM = "<owner>/<name>, e.g. mistralai/Mistral-7B-Instruct-v0.3"

# Small files vLLM reads besides the weights (config, tokenizer, generation and chat settings).
SUPPORT_FILE_PATTERNS = ("*.json", "*.model", "*.txt", "*.tiktoken", "*.jinja")


def repo_id_error(repo_id):
    """None for a well-formed Hugging Face repo id, else a message naming the value and the form."""
    if isinstance(repo_id, str) and REPO_ID_PATTERN.match(repo_id):
        return None
    return "vllm_service_model: %r is not a Hugging Face model id; expected %s" % (repo_id, REPO_ID_FORM)


def select_weight_files(files):
    """The weight files vLLM loads from a repo listing [{"name", "size"}]: top-level safetensors
    (the sharded set when a consolidated copy sits beside it), else PyTorch .bin files."""
    top = [f for f in files if "/" not in f["name"]]
    safetensors = [f for f in top if f["name"].endswith(".safetensors")]
    if safetensors:
        sharded = [f for f in safetensors if not f["name"].startswith("consolidated")]
        return sorted(sharded or safetensors, key=lambda f: f["name"])
    bins = [f for f in top if f["name"].endswith(".bin") and "training_args" not in f["name"]]
    if bins:
        return sorted(bins, key=lambda f: f["name"])
    return sorted((f for f in top if f["name"].endswith(".pt")), key=lambda f: f["name"])


def support_files(files):
    """Top-level config and tokenizer files (see SUPPORT_FILE_PATTERNS)."""
    import fnmatch

    return sorted(
        f["name"]
        for f in files
        if "/" not in f["name"] and any(fnmatch.fnmatch(f["name"], p) for p in SUPPORT_FILE_PATTERNS)
    )


def classify_http_error(status, error_code, has_token, repo_id, endpoint):
    """(reason, message) for a Hub refusal, in words a person can act on."""
    page = "%s/%s" % (endpoint.rstrip("/"), repo_id)
    if error_code == "GatedRepo" and not has_token:
        return (
            "gated_no_token",
            "model download refused: %s is a gated repository and no Hugging Face token was given. "
            "Accept its conditions at %s while logged in, create a read token at "
            "%s/settings/tokens and set it as vllm_service_hf_token." % (repo_id, page, endpoint.rstrip("/")),
        )
    if error_code == "GatedRepo":
        return (
            "gated_no_access",
            "model download refused: the Hugging Face token has no access to the gated repository %s. "
            "Accept its conditions at %s with the account that owns the token, then run again." % (repo_id, page),
        )
    if error_code in ("RepoNotFound", "RevisionNotFound", "EntryNotFound") or status == 404:
        what = {"RevisionNotFound": "revision", "EntryNotFound": "file"}.get(error_code, "model")
        return (
            "not_found",
            "no such %s: %s does not exist on %s (or it is private and the token cannot see it). "
            "Check the model id (%s)." % (what, repo_id, endpoint, REPO_ID_FORM),
        )
    if status == 401 and has_token:
        return (
            "token_refused",
            "the Hugging Face token was refused (HTTP 401): it is wrong, expired or revoked. "
            "Create a new read token at %s/settings/tokens." % endpoint.rstrip("/"),
        )
    if status in (401, 403):
        return (
            "access_refused",
            "the Hugging Face Hub refused access to %s (HTTP %d%s). If the model is private or "
            "gated, set vllm_service_hf_token." % (repo_id, status, ", %s" % error_code if error_code else ""),
        )
    return (
        "hub_error",
        "the Hugging Face Hub at %s answered HTTP %d for %s; try again later." % (endpoint, status, repo_id),
    )


def cache_repo_dir(cache_dir, repo_id):
    """Where huggingface_hub keeps a model: <cache>/hub/models--<owner>--<name>."""
    return os.path.join(cache_dir, "hub", "models--" + repo_id.replace("/", "--"))


def cached_files(cache_dir, repo_id, sha, names):
    """The names (of ``names``) already complete in the cache snapshot for commit ``sha``."""
    snapshot = os.path.join(cache_repo_dir(cache_dir, repo_id), "snapshots", sha or "")
    return [name for name in names if sha and os.path.exists(os.path.join(snapshot, name))]
