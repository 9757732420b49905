"""linode_stackscript against the Linode API emulator: publish, no change, update, check mode."""

from conftest import run_linode_module

SCRIPT = '#!/bin/bash\n# <UDF name="model_id" label="Model" default="mistralai/Mistral-7B-Instruct-v0.3">\necho hi\n'


def publish(api, **args):
    return run_linode_module("linode_stackscript", api, dict({"label": "ai-sandbox", "script": SCRIPT}, **args))


def test_publish_then_nothing_changes_then_update(linode_api):
    first = publish(linode_api, _ansible_diff=True)
    assert first["changed"]
    assert first["stackscript"]["images"] == ["linode/ubuntu22.04", "linode/ubuntu24.04"]
    assert first["stackscript"]["user_defined_fields"][0]["name"] == "model_id"
    assert publish(linode_api)["changed"] is False
    assert publish(linode_api, rev_note="a note alone")["changed"] is False
    updated = publish(linode_api, script=SCRIPT + "echo more\n")
    assert updated["changed"] and updated["stackscript"]["id"] == first["stackscript"]["id"]
    assert len(linode_api.stackscripts) == 1


def test_check_mode_writes_nothing(linode_api):
    assert publish(linode_api, _ansible_check_mode=True)["changed"]
    assert linode_api.writes() == []


def test_images_are_limited_to_supported_ubuntu(linode_api):
    result = publish(linode_api, images=["linode/debian12"])
    assert result["failed"]
    assert "images" in result["msg"] and "linode/ubuntu22.04" in result["msg"]


def test_script_needs_a_shebang(linode_api):
    assert (
        publish(linode_api, script="echo no shebang")["msg"] == "script: must start with a shebang such as #!/bin/bash"
    )
