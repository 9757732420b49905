"""Validate Linode API bodies against the vendored subset of Linode's official OpenAPI description.

The description combines schemas with ``allOf`` (a pagination envelope with ``additionalProperties:
false`` plus the ``data`` of each list), which plain JSON Schema would read as "no property is
allowed": branches are merged first, as OpenAPI tools do. Requests are checked in write context
(read-only properties must not be sent), responses in read context (write-only ones must not come).

OpenAPI 3.0 gives ``readOnly`` a meaning for properties only ("Relevant only for Schema properties
definitions"), so a ``readOnly`` on a request body's root is ignored: the description marks the body of
POST /networking/firewalls/{firewallId}/devices so (its schema is the read-only ``entity`` of a device),
and that call is how the description says a firewall is attached to an existing Linode.
"""

import copy
import json
import os

from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator

SUBSET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "linode-api-subset.json")


class SpecError(AssertionError):
    """A body that breaks the official description."""


def merge_all_of(schema):
    """A copy of schema with every allOf folded into one object schema."""
    if isinstance(schema, list):
        return [merge_all_of(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: merge_all_of(value) for key, value in schema.items()}
    if "allOf" not in schema:
        return schema
    merged = {key: value for key, value in schema.items() if key != "allOf"}
    properties = dict(merged.get("properties", {}))
    required = list(merged.get("required", []))
    closed = merged.get("additionalProperties") is False
    for part in schema["allOf"]:
        properties.update(part.get("properties", {}))
        required += [name for name in part.get("required", []) if name not in required]
        closed = closed or part.get("additionalProperties") is False
        for key, value in part.items():
            if key not in ("properties", "required", "additionalProperties"):
                merged.setdefault(key, value)
    merged["properties"] = properties
    if required:
        merged["required"] = required
    if closed:
        merged["additionalProperties"] = False
    merged.setdefault("type", "object")
    return merged


class Spec:
    def __init__(self, path=SUBSET):
        with open(path) as handle:
            data = json.load(handle)
        self.version = data["version"]
        self.operations = {}
        for key, value in data["operations"].items():
            request = merge_all_of(copy.deepcopy(value["request"])) if value["request"] else None
            if request:
                request.pop("readOnly", None)
            self.operations[key] = {
                "request": request,
                "response": merge_all_of(copy.deepcopy(value["response"])) if value["response"] else None,
            }

    def _check(self, operation, kind, body, validator):
        schema = self.operations[operation][kind]
        if schema is None:
            return
        errors = sorted(validator(schema).iter_errors(body), key=lambda e: list(e.path))
        if errors:
            raise SpecError(
                "%s %s breaks Linode API %s: %s"
                % (
                    operation,
                    kind,
                    self.version,
                    "; ".join("%s: %s" % ("/".join(map(str, e.path)) or "(body)", e.message) for e in errors[:5]),
                )
            )

    def check_request(self, operation, body):
        self._check(operation, "request", body, OAS30WriteValidator)

    def check_response(self, operation, body):
        self._check(operation, "response", body, OAS30ReadValidator)
