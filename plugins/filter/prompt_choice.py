# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The prompt_choice filter; its documentation is in prompt_choice.yml beside this file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def prompt_choice(answer, choices, default=None):
    """The choice a numbered prompt's answer means: '' -> default (when it is one of the choices, else the
    first choice), '2' -> choices[1], anything else -> the answer as typed."""
    text = "" if answer is None else str(answer).strip()
    choices = list(choices or [])
    if not text:
        if default in choices:
            return default
        return choices[0] if choices else ""
    if text.isdigit() and 1 <= int(text) <= len(choices):
        return choices[int(text) - 1]
    return text


class FilterModule(object):
    def filters(self):
        return {"prompt_choice": prompt_choice}
