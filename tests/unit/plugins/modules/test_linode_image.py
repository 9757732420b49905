"""linode_image against the Linode API emulator: capture, no change, check mode, diff, size limit, ownership,
a lost answer not sent twice, deletion."""

import pytest
from conftest import run_linode_module


def image(api, **args):
    return run_linode_module("linode_image", api, dict({"label": "golden-1", "linode_label": "builder"}, **args))


@pytest.fixture
def builder(linode_api):
    linode_api.image_seconds = 0.2
    return linode_api.add_instance("builder", tags=["ai-sandbox"], status="running")


def test_capture_waits_until_available_then_nothing_changes(linode_api, builder):
    first = image(linode_api, description="oneclick.ai_sandbox 0.1.0; driver 550", used_mb=4200, _ansible_diff=True)
    assert first["changed"] and first["image"]["status"] == "available", first
    assert first["image"]["tags"] == ["ai-sandbox"] and first["limit_mb"] == 6144
    assert first["diff"] == {
        "before": {},
        "after": {"label": "golden-1", "description": "oneclick.ai_sandbox 0.1.0; driver 550"},
    }
    posted = [r for r in linode_api.writes() if r["path"] == "/images"]
    assert len(posted) == 1 and '"disk_id": %d' % (builder["id"] * 10 + 1) in posted[0]["body"]
    again = image(linode_api)
    assert again["changed"] is False and again["image"]["id"] == first["image"]["id"]


def test_check_mode_writes_nothing(linode_api, builder):
    assert image(linode_api, _ansible_check_mode=True)["changed"]
    assert linode_api.writes() == [] and linode_api.images == {}


def test_a_disk_over_the_limit_is_refused_before_capture_saying_by_how_much(linode_api, builder):
    result = image(linode_api, used_mb=7000)
    assert result["failed"] and "856 MB over the 6144 MB limit" in result["msg"], result
    assert linode_api.writes() == []


def test_the_api_refusal_of_a_big_disk_names_the_field(linode_api, builder):
    linode_api.instances[builder["id"]]["_used_mb"] = 9000
    result = image(linode_api)
    assert result["failed"] and "disk_id" in result["msg"] and "6144 MB" in result["msg"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"label": "x"}, "label: 'x' is refused; expected 3 to 64"),
        ({"used_mb": -1}, "used_mb"),
        ({"wait_timeout": 0}, "wait_timeout"),
        ({"linode_label": "bad label!"}, "linode_label"),
    ],
)
def test_arguments_are_refused_naming_field_and_value(linode_api, args, words):
    result = image(linode_api, **args)
    assert result["failed"] and words in result["msg"], result["msg"]
    assert linode_api.requests == []


def test_image_id_is_private_n_and_only_for_absent(linode_api):
    result = run_linode_module("linode_image", linode_api, {"image_id": "linode/ubuntu22.04", "state": "absent"})
    assert result["failed"] and "private/N" in result["msg"]


def test_only_sandbox_linodes_and_images_are_touched(linode_api):
    linode_api.add_instance("builder", tags=["someone-else"], status="running")
    result = image(linode_api)
    assert result["failed"] and "refusing to capture Linode" in result["msg"]
    other = linode_api.add_instance("theirs", tags=["ai-sandbox"], status="running")
    linode_api.images["private/9"] = dict(
        linode_api.public_image("linode/ubuntu22.04"),
        id="private/9",
        label="golden-1",
        is_public=False,
        vendor=None,
        tags=[],
        _created=0,
        _linode=other["id"],
    )
    for args in ({}, {"state": "absent"}):
        result = image(linode_api, **args)
        assert result["failed"] and "it has no 'ai-sandbox' tag" in result["msg"], result
    assert "private/9" in linode_api.images


def test_a_lost_answer_is_not_captured_twice(linode_api, builder):
    linode_api.inject("POST", r"^/images$", 500, after=True)
    result = image(linode_api)
    assert result["changed"] and not result.get("failed"), result
    assert len(linode_api.images) == 1


def test_delete_by_label_and_by_id_check_mode_and_diff(linode_api, builder):
    made = image(linode_api)["image"]
    checked = image(linode_api, state="absent", _ansible_check_mode=True, _ansible_diff=True)
    assert checked["changed"] and checked["diff"]["before"]["id"] == made["id"] and made["id"] in linode_api.images
    gone = run_linode_module("linode_image", linode_api, {"image_id": made["id"], "state": "absent"})
    assert gone["changed"] and linode_api.images == {}
    assert image(linode_api, state="absent")["changed"] is False
