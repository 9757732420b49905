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
      - A Linode personal access token (1 to 512 printable characters, no spaces). Never logged or shown.
      - Taken from the E(LINODE_TOKEN) or E(LINODE_API_TOKEN) environment variable when not set.
    type: str
    required: true
  api_url:
    description:
      - The Linode API's base URL, for proxies and test emulators.
      - C(https://), or C(http://) only to this machine (an emulator on C(127.0.0.1)); no user, password,
        query or fragment. The token never crosses a network in clear.
    type: str
    default: https://api.linode.com/v4
  api_retries:
    description:
      - How often (0 to 10) to retry a call that failed for a passing reason - Linode answered 429
        (honouring C(Retry-After), at most 60 seconds), a 5xx status, or the network failed (connection
        refused or reset, a timeout). Between tries the wait grows 1, 2, 4, ... seconds, at most 30.
      - A write that may have been carried out although its answer was lost (a 5xx, a reset, a timeout
        after sending) is not sent again blindly - what it would have made is looked up first (by
        label and the C(ai-sandbox) tag), so nothing is made twice.
    type: int
    default: 5
  api_timeout:
    description: Seconds (1 to 600) to wait for each answer of the API.
    type: int
    default: 30
"""
