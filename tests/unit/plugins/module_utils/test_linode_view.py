"""instance_view: which of an instance's addresses is public (Linode's private range is 192.168.128.0/17)."""

import pytest

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils.linode import instance_view


@pytest.mark.parametrize(
    ("addresses", "public", "private"),
    [
        (["192.0.2.10", "192.168.140.7"], "192.0.2.10", "192.168.140.7"),
        (["192.168.140.7", "203.0.113.9"], "203.0.113.9", "192.168.140.7"),
        (["172.30.99.20"], "172.30.99.20", None),
        (["192.168.1.20"], "192.168.1.20", None),
        ([], None, None),
    ],
)
def test_public_and_private_addresses(addresses, public, private):
    view = instance_view({"id": 1, "label": "a", "ipv4": addresses, "specs": {"gpus": 1}})
    assert (view["ipv4"], view["ipv4_private"]) == (public, private)
    assert view["urls"]["chat"] == ("http://%s:3000" % public if public else None)
