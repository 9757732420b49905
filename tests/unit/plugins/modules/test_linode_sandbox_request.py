"""linode_sandbox_request: where a plain http:// Hub endpoint is allowed (a lab's mirror, with
insecure_repo_url and no token) and where it is refused (a token would travel in clear)."""

import contextlib
import io
import json

import pytest
from ansible.module_utils import basic

from ansible_collections.oneclick.ai_sandbox.plugins.modules import linode_sandbox_request

MIRROR = "http://172.30.99.1:8125"


def request(**answers):
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": {"answers": answers}}).encode()
    if hasattr(basic, "_ANSIBLE_PROFILE"):
        basic._ANSIBLE_PROFILE = "legacy"
    output = io.StringIO()
    with contextlib.redirect_stdout(output), pytest.raises(SystemExit):
        linode_sandbox_request.main()
    return json.loads(output.getvalue())


def test_a_lab_mirror_over_http_is_allowed_without_a_token():
    answer = request(hf_endpoint=MIRROR, insecure_repo_url=True)
    assert not answer.get("failed"), answer
    assert answer["answers"]["hf_endpoint"] == MIRROR


@pytest.mark.parametrize(
    "answers",
    [
        {"hf_endpoint": MIRROR},
        {"hf_endpoint": MIRROR, "insecure_repo_url": False},
        {"hf_endpoint": MIRROR, "insecure_repo_url": True, "hf_token": "hf_" + "a" * 34},
    ],
    ids=["not-allowed", "allowed-false", "token-would-travel-in-clear"],
)
def test_plain_http_to_another_machine_is_refused(answers):
    answer = request(**answers)
    assert answer["failed"]
    assert [r["field"] for r in answer["refusals"]] == ["hf_endpoint"]
    assert "hf_endpoint: 'http://172.30.99.1:8125' is not a URL" in answer["msg"]
    assert "hf_" + "a" * 34 not in json.dumps(answer)


def test_http_to_this_machine_is_allowed_even_with_a_token():
    answer = request(hf_endpoint="http://127.0.0.1:8125", hf_token="hf_" + "a" * 34)
    assert not answer.get("failed"), answer
