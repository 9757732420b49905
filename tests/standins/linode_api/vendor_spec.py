"""Vendor the operations of Linode's official OpenAPI description that this collection calls.

  python3 vendor_spec.py ../../../../shared/reference/linode-api-v4-openapi-4.189.0.yaml > linode-api-subset.json

The subset keeps each operation's request schema and its 200 response schema (the spec inlines its
schemas), plus the error schema; the emulator and the tests validate against it.
"""

import json
import sys

import yaml

OPERATIONS = {
    "/linode/types": ["get"],
    "/regions": ["get"],
    "/regions/availability": ["get"],
    "/linode/instances": ["get", "post"],
    "/linode/instances/{linodeId}": ["get", "delete"],
    "/linode/instances/{linodeId}/disks": ["get"],
    "/linode/stackscripts": ["get", "post"],
    "/linode/stackscripts/{stackscriptId}": ["get", "put"],
    "/networking/firewalls": ["get", "post"],
    "/networking/firewalls/{firewallId}": ["get", "put", "delete"],
    "/networking/firewalls/{firewallId}/devices": ["get", "post"],
    "/networking/firewalls/{firewallId}/rules": ["get", "put"],
    "/images": ["get", "post"],
    "/images/{imageId}": ["get", "delete"],
    "/profile": ["get"],
}


def response_schema(operation):
    for status in ("200", 200):
        response = operation.get("responses", {}).get(status)
        if response:
            return response.get("content", {}).get("application/json", {}).get("schema")
    return None


def main(path):
    with open(path) as handle:
        spec = yaml.safe_load(handle)
    subset = {
        "_source": "Linode API v4 OpenAPI description %s (%s), operations this collection calls"
        % (spec["info"]["version"], path.rsplit("/", 1)[-1]),
        "version": spec["info"]["version"],
        "operations": {},
    }
    for route, methods in OPERATIONS.items():
        item = spec["paths"]["/{apiVersion}" + route]
        for method in methods:
            operation = item[method]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            subset["operations"]["%s %s" % (method.upper(), route)] = {
                "request": body,
                "response": response_schema(operation),
            }
    json.dump(subset, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
