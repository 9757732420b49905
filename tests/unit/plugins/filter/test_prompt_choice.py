"""prompt_choice: what a numbered prompt's answer means."""

import pytest

from ansible_collections.oneclick.ai_sandbox.plugins.filter.prompt_choice import prompt_choice

CHOICES = ["us-ord", "de-fra-2", "jp-osa"]


@pytest.mark.parametrize(
    ("answer", "default", "chosen"),
    [
        ("", None, "us-ord"),
        ("  ", "jp-osa", "jp-osa"),
        ("", "sold-out", "us-ord"),
        (None, None, "us-ord"),
        ("2", None, "de-fra-2"),
        (" 3 ", None, "jp-osa"),
        (2, None, "de-fra-2"),
        ("4", None, "4"),
        ("0", None, "0"),
        ("fr-par", None, "fr-par"),
    ],
)
def test_answers(answer, default, chosen):
    assert prompt_choice(answer, CHOICES, default) == chosen


def test_no_choices():
    assert prompt_choice("", []) == ""
