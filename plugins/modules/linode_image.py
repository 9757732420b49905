#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: linode_image
short_description: Capture a sandbox Linode's disk as a private image, or delete such an image
version_added: 0.1.0
description:
  - With O(state=present), captures the system disk of the sandbox Linode O(linode_label) as a private
    image labelled O(label) (a golden image), tagged C(ai-sandbox), and by default waits until it is
    available. An image of yours with that label and the C(ai-sandbox) tag is kept as it is (idempotent).
  - An image holds at most 6144 MB of data (6 GB, the limit the Linode API description gives for an image's
    data). When O(used_mb) (the data on the disk, measured on the machine) is over it, the capture is
    refused before anything is sent, with a message that says by how much.
  - With O(state=absent), deletes the image labelled O(label) (or O(image_id)) when it carries the
    C(ai-sandbox) tag; an image without it was not made by this collection and is left as it is (refused).
  - Only Linodes and images with the C(ai-sandbox) tag are acted on. A capture whose answer is lost
    (5xx, a reset connection, a timeout) is not sent twice - the image is looked up by label first.
author:
  - One-Click AI Sandbox maintainers (@oneclick-ai)
extends_documentation_fragment:
  - oneclick.ai_sandbox.attributes
  - oneclick.ai_sandbox.linode_client
requirements:
  - linode_api4 >= 5.0
options:
  label:
    description:
      - The image's label, its identity for this module (3 to 64 characters, no control characters).
      - Required unless O(state=absent) names O(image_id).
    type: str
  image_id:
    description: The image to delete, V(private/N). Only with O(state=absent).
    type: str
  description:
    description: The image's description (at most 65000 characters), for example the collection and component versions.
    type: str
    default: ""
  linode_label:
    description: The sandbox Linode whose system disk is captured. Required to capture (O(state=present)).
    type: str
  used_mb:
    description:
      - The data on the disk in MB (for example C(df --output=used -m /) on the machine). When given and
        over 6144, the capture is refused before it is sent.
    type: int
  wait:
    description: Wait until a new image is available.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the image (1 to 7200).
    type: int
    default: 3600
  state:
    description: Whether the image exists.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
notes:
  - Power the Linode off before capturing so that the file system is consistent.
  - A private image is billed by its size per month (see docs/golden-image.md in the collection).
"""

EXAMPLES = r"""
- name: Capture the builder's disk as the golden image
  oneclick.ai_sandbox.linode_image:
    label: ai-sandbox-golden-0-1-0
    description: "oneclick.ai_sandbox 0.1.0; driver 550; docker 27.3"
    linode_label: ai-sandbox-builder
    used_mb: "{{ measured_used_mb }}"
  register: golden

- name: Delete an old golden image
  oneclick.ai_sandbox.linode_image:
    image_id: private/123456
    state: absent
"""

RETURN = r"""
image:
  description: The image (after the capture, or as it was before a deletion).
  returned: when an image exists or was made (in check mode, a capture returns none)
  type: dict
  contains:
    id: {description: Image ID., type: str, sample: private/123456}
    label: {description: Label., type: str, sample: ai-sandbox-golden-0-1-0}
    description: {description: Description., type: str}
    status: {description: C(creating) or C(available)., type: str, sample: available}
    size: {description: The image's size in MB., type: int, sample: 4800}
    created: {description: When it was created., type: str}
    tags: {description: Tags., type: list, elements: str}
    regions: {description: Where it is stored., type: list, elements: dict}
limit_mb:
  description: The most data (MB) an image may hold.
  returned: always
  type: int
  sample: 6144
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode as common
from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import linode_input as rules

IMAGE_LIMIT_MB = 6144
FIELDS = ("id", "label", "description", "status", "size", "created", "tags", "regions")
POLL = (1.0, 2.0, 5.0)  # seconds between status reads while waiting; then every 5 s


def view(image):
    return {key: image.get(key) for key in FIELDS} if image else None


def size_error(used_mb):
    """The refusal of a disk over the image limit, saying by how much; or None."""
    if used_mb is None or used_mb <= IMAGE_LIMIT_MB:
        return None
    return (
        "used_mb: the disk holds %d MB, %d MB over the %d MB limit of a Linode image; nothing was captured. "
        "Remove what the image need not carry (the model, container images, caches) and measure again."
        % (used_mb, used_mb - IMAGE_LIMIT_MB, IMAGE_LIMIT_MB)
    )


def argument_errors(params):
    errors = []
    if params["label"] is not None:
        errors.append(rules.text_error(params["label"], "label", 3, 64))
    if params["image_id"] is not None and not rules.PRIVATE_IMAGE.fullmatch(params["image_id"]):
        errors.append("image_id: %s is refused; expected private/N" % rules.shown(params["image_id"]))
    if params["image_id"] is not None and params["state"] != "absent":
        errors.append("image_id: only with state=absent (a capture is named by label)")
    if params["linode_label"] is not None:
        errors.append(rules.label_error(params["linode_label"], "linode_label"))
    if params["description"]:
        errors.append(rules.text_error(params["description"], "description", 1, 65000))
    if params["used_mb"] is not None:
        errors.append(rules.int_range_error(params["used_mb"], "used_mb", 0, 10**9))
    errors.append(rules.int_range_error(params["wait_timeout"], "wait_timeout", 1, 7200))
    return [e for e in errors if e]


class Images:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params

    def find(self):
        if self.params["image_id"]:
            try:
                return self.client.get("/images/%s" % self.params["image_id"])
            except common.LinodeError as exc:
                if exc.status == 404:
                    return None
                raise
        found = self.client.get_all("/images", filters={"label": self.params["label"], "is_public": False})
        found = [i for i in found if i.get("label") == self.params["label"]]
        return found[-1] if found else None

    def refuse_foreign(self, image, action):
        if not common.is_ours(image):
            self.module.fail_json(
                msg="refusing to %s image %s labelled %s (tags: %s): it has no %r tag, so it was not made by this "
                "collection; it was left as it is. Choose another label, or manage that image yourself."
                % (
                    action,
                    image["id"],
                    rules.shown(image.get("label")),
                    ", ".join(rules.shown(t) for t in image.get("tags") or []) or "none",
                    rules.SANDBOX_TAG,
                )
            )

    def system_disk(self):
        label = self.params["linode_label"]
        found = self.client.get_all("/linode/instances", filters={"label": label})
        linode = next((i for i in found if i.get("label") == label), None)
        if linode is None:
            self.module.fail_json(msg="linode_label: no Linode labelled %s; nothing was captured" % rules.shown(label))
        if not common.is_ours(linode):
            self.module.fail_json(msg=common.foreign("Linode", linode, "capture"))
        disks = [
            d for d in self.client.get_all("/linode/instances/%d/disks" % linode["id"]) if d["filesystem"] != "swap"
        ]
        if not disks:
            self.module.fail_json(msg="Linode %d has no system disk to capture" % linode["id"])
        return max(disks, key=lambda d: d["size"])

    def wait(self, image):
        if not self.params["wait"] or image.get("status") == "available":
            return image
        deadline = time.time() + self.params["wait_timeout"]
        polls = 0
        while image.get("status") != "available":
            if time.time() >= deadline:
                self.module.fail_json(
                    msg="image %s is still %s after %d s (wait_timeout); it is kept, delete it or wait longer"
                    % (image["id"], image.get("status"), self.params["wait_timeout"]),
                    image=view(image),
                )
            time.sleep(POLL[min(polls, len(POLL) - 1)])
            polls += 1
            try:
                image = self.client.get("/images/%s" % image["id"])
            except common.LinodeError as exc:
                if exc.status == 404:
                    self.module.fail_json(
                        msg="image %s disappeared while being created: the capture failed" % image["id"]
                    )
                raise
        return image

    def present(self):
        current = self.find()
        if current is not None:
            self.refuse_foreign(current, "reuse")
            return False, self.wait(current), view(current)
        error = size_error(self.params["used_mb"])
        if error:
            self.module.fail_json(msg=error, limit_mb=IMAGE_LIMIT_MB)
        disk = self.system_disk()
        if self.module.check_mode:
            return True, None, None
        body = {
            "disk_id": disk["id"],
            "label": self.params["label"],
            "tags": [rules.SANDBOX_TAG],
        }
        if self.params["description"]:
            body["description"] = self.params["description"]
        image = self.client.post("/images", body, recover=self.find)
        return True, self.wait(image), None

    def absent(self):
        current = self.find()
        if current is None:
            return False, None, None
        self.refuse_foreign(current, "delete")
        if not self.module.check_mode:
            self.client.delete("/images/%s" % current["id"])
        return True, current, view(current)


def main():
    argument_spec = common.client_argument_spec()
    argument_spec.update(
        label={"type": "str"},
        image_id={"type": "str"},
        description={"type": "str", "default": ""},
        linode_label={"type": "str"},
        used_mb={"type": "int"},
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "int", "default": 3600},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["label", "linode_label"])],
        required_one_of=[("label", "image_id")],
        mutually_exclusive=[("label", "image_id")],
        supports_check_mode=True,
    )
    errors = argument_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))
    client = common.module_client(module)
    images = Images(module, client)
    try:
        changed, image, before = images.present() if module.params["state"] == "present" else images.absent()
    except common.LinodeError as exc:
        module.fail_json(msg=exc.message, status=exc.status)
    output = {"changed": changed, "limit_mb": IMAGE_LIMIT_MB}
    if image:
        output["image"] = view(image)
    if module._diff:
        if module.params["state"] == "present":
            after = {"label": module.params["label"], "description": module.params["description"] or None}
            output["diff"] = {
                "before": {k: before.get(k) for k in ("label", "description")} if before else {},
                "after": after if changed else {k: before.get(k) for k in ("label", "description")},
            }
        else:
            output["diff"] = {"before": before or {}, "after": {}}
    module.exit_json(**output)


if __name__ == "__main__":
    main()
