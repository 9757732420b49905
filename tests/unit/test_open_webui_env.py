"""The open_webui role sets only environment variables Open WebUI 0.12.4 reads.

The list is tests/reference/open-webui-0.12.4-env-vars.txt, copied from shared/reference/ (extracted
from the open-webui 0.12.4 package's source).
"""

import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return handle.read()


def test_every_variable_the_role_writes_is_read_by_open_webui():
    known = {
        line.strip()
        for line in read("tests", "reference", "open-webui-0.12.4-env-vars.txt").splitlines()
        if line.strip() and not line.startswith("#")
    }
    written = set(re.findall(r"'([A-Z][A-Z0-9_]+)':", read("roles", "open_webui", "vars", "main.yml")))
    written |= set(
        re.findall(r"(?:^\s*|\")([A-Z][A-Z0-9_]+)=", read("roles", "open_webui", "tasks", "install.yml"), re.M)
    )
    # Our own credentials file (for the administrator and validate.yml, never read by Open WebUI).
    ours = {"OPEN_WEBUI_ADMIN_EMAIL", "OPEN_WEBUI_ADMIN_PASSWORD"}
    assert {"WEBUI_AUTH", "WEBUI_SECRET_KEY", "OPENAI_API_BASE_URL", "OPENAI_API_KEY", "DEFAULT_MODELS"} <= written
    assert {"WEBUI_ADMIN_EMAIL", "WEBUI_ADMIN_PASSWORD", "WEBUI_ADMIN_NAME"} <= written
    assert written - ours - known == set()


def test_the_list_rejects_what_open_webui_does_not_read():
    known = read("tests", "reference", "open-webui-0.12.4-env-vars.txt").splitlines()
    assert "OLLAMA_DISABLED" not in known and "WEBUI_AUTH" in known
