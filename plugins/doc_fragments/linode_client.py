# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The options of the collection's one Linode client (plugins/module_utils/linode.py).
    DOCUMENTATION = r"""
options:
  api_token:
    description:
      - A Linode personal access token. Never logged.
      - Taken from the E(LINODE_TOKEN) or E(LINODE_API_TOKEN) environment variable when not set.
    type: str
    required: true
  api_url:
    description: The Linode API's base URL, for proxies and test emulators.
    type: str
    default: https://api.linode.com/v4
  api_retries:
    description:
      - How often to retry a call that Linode answered with 429 (honouring C(Retry-After)), or with a
        5xx status when the call is safe to repeat.
    type: int
    default: 5
"""
