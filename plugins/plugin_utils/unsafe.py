# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mark API values that could be read as templates as unsafe, and leave plain values plain.

Values from an API (a tag, a label) must never be templated by Ansible. Wrapping every value makes
`ansible-inventory --list` print `{"__ansible_unsafe": ...}` for all of them on newer cores, so only
strings that contain template characters are wrapped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.utils.unsafe_proxy import AnsibleUnsafe, wrap_var

TEMPLATE_CHARACTERS = ("{", "}")


def make_unsafe(value):
    if value is None or isinstance(value, AnsibleUnsafe):
        return value
    if isinstance(value, dict):
        return {make_unsafe(key): make_unsafe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(make_unsafe(item) for item in value)
    if isinstance(value, str) and any(character in value for character in TEMPLATE_CHARACTERS):
        return wrap_var(value)
    return value
