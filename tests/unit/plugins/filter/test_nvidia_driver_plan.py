"""The nvidia_driver_plan filter turns host facts into a plan, and refusals into filter errors."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oneclick.ai_sandbox.plugins.filter.nvidia_driver_plan import FilterModule

FACTS = {
    "distribution": "Ubuntu",
    "distribution_major_version": "22",
    "architecture": "x86_64",
    "kernel": "5.15.0-122-generic",
}


def plan(facts, **kwargs):
    return FilterModule().filters()["nvidia_driver_plan"](facts, **kwargs)


def test_plan_from_facts():
    result = plan(FACTS, branch=580)
    assert result["branch"] == 580
    assert "linux-headers-5.15.0-122-generic" in result["packages"]


def test_empty_mirror_values_mean_nvidia_default():
    assert plan(FACTS, branch=580, repo_url="", key_url="")["repo_url"].startswith(
        "https://developer.download.nvidia.com/"
    )


def test_refusal_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="nvidia_driver_branch: 535 is too old"):
        plan(FACTS, branch=535)
