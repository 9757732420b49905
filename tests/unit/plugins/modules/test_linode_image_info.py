"""linode_image_info against the Linode API emulator: the sandbox's golden images, newest available first."""

import time

from conftest import run_linode_module


def add(api, number, label, status="available", tags=("ai-sandbox",), created="2026-11-20T10:00:00"):
    image = dict(
        api.public_image("linode/ubuntu22.04"),
        id="private/%d" % number,
        label=label,
        is_public=False,
        vendor=None,
        status=status,
        created=created,
        tags=list(tags),
        _created=time.time(),
        _linode=0,
    )
    image["description"] = "golden"
    api.images[image["id"]] = image


def test_newest_available_of_ours_with_the_prefix(linode_api):
    linode_api.image_seconds = 3600  # a creating image stays so
    add(linode_api, 5, "ai-sandbox-golden-0-0-9", created="2026-11-01T00:00:00")
    add(linode_api, 6, "ai-sandbox-golden-0-1-0", created="2026-11-20T00:00:00")
    add(linode_api, 7, "ai-sandbox-golden-0-2-0", status="creating", created="2026-11-21T00:00:00")
    add(linode_api, 8, "ai-sandbox-golden-theirs", tags=(), created="2026-11-22T00:00:00")
    add(linode_api, 9, "something-else", created="2026-11-23T00:00:00")
    result = run_linode_module("linode_image_info", linode_api, {})
    assert [i["id"] for i in result["images"]] == ["private/7", "private/6", "private/5"], result
    assert result["newest"]["id"] == "private/6" and result["changed"] is False
    assert linode_api.writes() == []


def test_none_without_golden_images(linode_api):
    result = run_linode_module("linode_image_info", linode_api, {})
    assert result["images"] == [] and result["newest"] is None


def test_the_prefix_is_checked(linode_api):
    result = run_linode_module("linode_image_info", linode_api, {"label_prefix": "bad\nprefix"})
    assert result["failed"] and "label_prefix" in result["msg"]
