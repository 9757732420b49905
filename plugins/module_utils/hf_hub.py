# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hugging Face Hub facts for the preflight: repo ids, which files vLLM loads, errors in plain words.

Only the public HTTP interface of the Hub is used (``/api/models/<id>/revision/<rev>`` and
``/<id>/resolve/<rev>/<file>``), so a mirror set through ``HF_ENDPOINT`` works the same.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

DEFAULT_ENDPOINT = "https://huggingface.co"

# <owner>/<name>: letters, digits, '-', '_', '.'; no '--' or '..'; at most 96 characters a part.
_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
REPO_ID_PATTERN = re.compile(r"(?!.*(?:--|\.\.))%s/%s" % (_PART, _PART), re.DOTALL)
REPO_ID_FORM = "<owner>/<name>, e.g. mistralai/Mistral-7B-Instruct-v0.3"

# Small files vLLM reads besides the weights in Hugging Face format (config, tokenizer, generation and
# chat settings).
SUPPORT_FILE_PATTERNS = ("*.json", "*.model", "*.txt", "*.tiktoken", "*.jinja")
# Files of the Mistral format that the Hugging Face format never reads.
MISTRAL_ONLY = ("params.json", "tekken.json")

FORMATS = ("auto", "mistral", "hf")
# The vLLM 0.33 flags that make the engine read exactly one format (so it reads only what we fetched).
ENGINE_ARGS = {
    "mistral": ["--load-format", "mistral", "--config-format", "mistral", "--tokenizer-mode", "mistral"],
    "hf": ["--load-format", "safetensors", "--config-format", "hf"],
}


def repo_id_error(repo_id):
    """None for a well-formed Hugging Face repo id, else a message naming the value and the form."""
    # A full match: "owner/name\n" is not an id ("$" would accept the newline).
    if isinstance(repo_id, str) and REPO_ID_PATTERN.fullmatch(repo_id):
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


def has_mistral_format(files):
    """vLLM's own test (load format auto): consolidated*.safetensors and params.json at the top level."""
    names = {f["name"] for f in files if "/" not in f["name"]}
    return "params.json" in names and any(n.startswith("consolidated") and n.endswith(".safetensors") for n in names)


def mistral_tokenizer_file(files):
    """The tokenizer mistral_common reads: tekken.json, else the newest tokenizer.model.v<N>, else
    tokenizer.model."""
    names = {f["name"] for f in files if "/" not in f["name"]}
    if "tekken.json" in names:
        return "tekken.json"
    versions = sorted(
        (int(m.group(1)), name) for name in names for m in [re.match(r"^tokenizer\.model\.v(\d+)$", name)] if m
    )
    if versions:
        return versions[-1][1]
    return "tokenizer.model" if "tokenizer.model" in names else None


class FormatError(ValueError):
    """A format was asked for that the repository does not have."""


def choose_format(files, wanted="auto"):
    """(format, weight files, support files) of what vLLM loads from a repo listing [{"name", "size"}].

    A repository with both (Mistral's own models) is served in the Mistral format, as vLLM 0.33 does with
    ``--load-format auto``; one format is then fetched and the engine is told which (``ENGINE_ARGS``), so it
    never downloads the other at start.
    """
    if wanted not in FORMATS:
        raise FormatError("vllm_service_model_format: %r is not one of %s" % (wanted, ", ".join(FORMATS)))
    mistral = has_mistral_format(files)
    if wanted == "mistral" and not mistral:
        raise FormatError(
            "vllm_service_model_format: 'mistral' needs consolidated*.safetensors and params.json, which this "
            "repository does not have; use 'auto' or 'hf'"
        )
    if mistral and wanted in ("auto", "mistral"):
        top = [f for f in files if "/" not in f["name"]]
        weights = sorted(
            f["name"] for f in top if f["name"].startswith("consolidated") and f["name"].endswith(".safetensors")
        )
        tokenizer = mistral_tokenizer_file(files)
        support = sorted(["params.json"] + ([tokenizer] if tokenizer else []))
        return "mistral", weights, support
    weights = [f["name"] for f in select_weight_files(files)]
    support = [name for name in support_files(files) if name not in MISTRAL_ONLY]
    return "hf", weights, support


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


# --- what a finished download leaves: a manifest beside the cache -------------------------------------
def manifest_path(cache_dir, repo_id, revision):
    """Where a finished download describes itself: <cache>/ai-sandbox/<owner>--<name>/<revision>.json."""
    safe_revision = re.sub(r"[^A-Za-z0-9._-]", "_", revision)
    return os.path.join(cache_dir, "ai-sandbox", repo_id.replace("/", "--"), safe_revision + ".json")


def read_manifest(cache_dir, repo_id, revision):
    """The model description a finished download left for this revision, when every file it names is
    still complete in the cache; else None (then the Hub must be asked)."""
    try:
        with open(manifest_path(cache_dir, repo_id, revision)) as handle:
            model = json.load(handle)
    except (OSError, ValueError):
        return None
    wanted = list(model.get("weight_files", [])) + list(model.get("support_files", []))
    sizes = model.get("sizes") or {}
    snapshot = os.path.join(cache_repo_dir(cache_dir, repo_id), "snapshots", model.get("sha") or "")
    for name in wanted:
        path = os.path.join(snapshot, name)
        if not os.path.exists(path) or (name in sizes and os.path.getsize(path) != sizes[name]):
            return None
    return model


def write_manifest(cache_dir, repo_id, revision, model):
    path = manifest_path(cache_dir, repo_id, revision)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as handle:
        json.dump(model, handle, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)
    return path
