"""linode_sandbox_request: where a plain http:// Hub endpoint is allowed (this machine; a lab's mirror
when insecure_repo_url asks for it by name) and where it is refused."""

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


@pytest.mark.parametrize("token", [None, "hf_" + "a" * 34], ids=["no-token", "token"])
def test_a_lab_mirror_over_http_is_allowed_when_asked_for_by_name(token):
    answer = request(hf_endpoint=MIRROR, insecure_repo_url=True, hf_token=token)
    assert not answer.get("failed"), answer
    assert answer["answers"]["hf_endpoint"] == MIRROR


@pytest.mark.parametrize(
    "answers",
    [
        {"hf_endpoint": MIRROR},
        {"hf_endpoint": MIRROR, "insecure_repo_url": False},
        {"hf_endpoint": MIRROR, "insecure_repo_url": "no", "hf_token": "hf_" + "a" * 34},
    ],
    ids=["not-asked-for", "false", "no-with-a-token"],
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
