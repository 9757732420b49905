# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: linode
short_description: AI sandboxes on Linode as an inventory
version_added: 0.1.0
description:
  - Lists the Linodes tagged as AI sandboxes (by default C(ai-sandbox)), reading every page of the
    API, optionally narrowed to regions and plans.
  - Each host is named by its label, reached at its public IPv4 address (or its private IPv4 or IPv6
    address, see O(address)), and carries its region, plan, GPU count, status and the sandbox's chat
    UI and API URLs as variables.
  - Groups every host into C(ai_sandbox), and into C(region_<region>), C(plan_<plan>) and
    C(status_<status>); O(keyed_groups), O(groups) and O(compose) add more.
  - The configuration file's name must end in C(linode.yml) or C(linode.yaml).
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
requirements:
  - linode_api4 >= 5.0
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin; must be C(oneclick.ai_sandbox.linode).
    type: str
    required: true
    choices: [oneclick.ai_sandbox.linode]
  api_token:
    description: A Linode personal access token (read access to Linodes is enough). Never shown.
    type: str
    required: true
    env:
      - name: LINODE_TOKEN
      - name: LINODE_API_TOKEN
  api_url:
    description: The Linode API's base URL; C(https://), or C(http://) only to this machine (an emulator).
    type: str
    default: https://api.linode.com/v4
    env:
      - name: LINODE_API_URL
  tags:
    description: Only Linodes carrying every one of these tags.
    type: list
    elements: str
    default: [ai-sandbox]
  regions:
    description: Only Linodes in these regions (all when empty).
    type: list
    elements: str
    default: []
  plans:
    description: Only Linodes of these plans (all when empty).
    type: list
    elements: str
    default: []
  address:
    description: Which address becomes C(ansible_host).
    type: str
    choices: [public_ipv4, private_ipv4, ipv6]
    default: public_ipv4
"""

EXAMPLES = r"""
# inventory/linode.yml
plugin: oneclick.ai_sandbox.linode
regions: [us-ord, de-fra-2]
keyed_groups:
  - key: linode_gpus | string
    prefix: gpus
compose:
  ansible_user: "'root'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ai-sandbox-inventory
"""

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode as common
from ansible_collections.oneclick.ai_sandbox.plugins.plugin_utils.unsafe import make_unsafe


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "oneclick.ai_sandbox.linode"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("linode.yml", "linode.yaml"))

    def _fetch(self):
        if not common.HAS_LINODE_API4:
            raise AnsibleError("the oneclick.ai_sandbox.linode inventory needs the linode_api4 Python package")
        token = self.get_option("api_token")
        if not token:
            raise AnsibleError("api_token is not set (nor LINODE_TOKEN / LINODE_API_TOKEN in the environment)")
        error = common.client_options_error(token, self.get_option("api_url"))
        if error:
            raise AnsibleError(error)
        client = common.SandboxClient(token, self.get_option("api_url"))
        tags = self.get_option("tags")
        filters = {"tags": tags[0]} if tags else None
        try:
            instances = client.get_all("/linode/instances", filters=filters)
        except common.LinodeError as exc:
            raise AnsibleError(exc.message) from None
        return [common.instance_view(i) for i in instances]

    def _wanted(self, instance):
        tags = set(self.get_option("tags"))
        regions = self.get_option("regions")
        plans = self.get_option("plans")
        return (
            tags <= set(instance["tags"])
            and (not regions or instance["region"] in regions)
            and (not plans or instance["plan"] in plans)
        )

    def _add(self, instance):
        host = make_unsafe(instance["label"])
        self.inventory.add_host(host, group="ai_sandbox")
        address = {
            "public_ipv4": instance["ipv4"],
            "private_ipv4": instance["ipv4_private"],
            "ipv6": instance["ipv6"],
        }[self.get_option("address")]
        variables = {
            "ansible_host": address,
            "linode_id": instance["id"],
            "linode_region": instance["region"],
            "linode_plan": instance["plan"],
            "linode_image": instance["image"],
            "linode_gpus": instance["gpus"],
            "linode_status": instance["status"],
            "linode_tags": instance["tags"],
            "linode_ipv4": instance["ipv4"],
            "linode_ipv6": instance["ipv6"],
            "ai_sandbox_chat_url": instance["urls"]["chat"],
            "ai_sandbox_api_url": instance["urls"]["api"],
        }
        for name, value in variables.items():
            if value is not None:
                self.inventory.set_variable(host, name, make_unsafe(value))
        for prefix, key in (("region", "region"), ("plan", "plan"), ("status", "status")):
            group = self._sanitize_group_name("%s_%s" % (prefix, instance[key]))
            self.inventory.add_group(group)
            self.inventory.add_child(group, host)
        strict = self.get_option("strict")
        hostvars = self.inventory.get_host(host).get_vars()
        self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        instances = None
        if use_cache:
            try:
                instances = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if instances is None:
            instances = self._fetch()
        if update_cache:
            self._cache[cache_key] = instances
        self.inventory.add_group("ai_sandbox")
        for instance in instances:
            if self._wanted(instance):
                self._add(instance)
