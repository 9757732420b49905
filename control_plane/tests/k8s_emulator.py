"""A stand-in for a Kubernetes API server, on a loopback port, for the conformance suite.

It is ``kmock``'s ``KubernetesEmulator`` (an in-memory object store behind the Kubernetes URL
scheme) with the resources the Kubernetes runtime uses registered: v1 ``pods`` and ``secrets``,
``networking.k8s.io/v1`` ``networkpolicies``, and ``metrics.k8s.io/v1beta1`` ``pods`` (empty
unless a test puts a sample there). Plus one shim: the official client asks ``GET /version/``
(trailing slash), which kmock does not route, and wants every field of a VersionInfo.

kmock keeps every request it served, and matches each new one by filtering that whole history
(``request in payload._source``): a request costs time in proportion to the requests before it
(162 ms a GET after 1000 Pods were created). A real API server does not slow down with its age,
so ``_TrimmedEmulator`` keeps only the last ``KEPT_REQUESTS`` (nothing here asserts on older ones):
a GET then stays near 12 ms however long the run (3 ms on a fresh emulator; measured on the
2-core machine of the control plane's README), still slower than a real API server's few ms.

What it does: create (409 on a duplicate name), get, list, merge-patch (the ``status``
subresource too), delete (404 when gone), watch.
What it does NOT do, and tests must not read as proven by it: no scheduling and no kubelet (a Pod
stays without status until a test patches one in, as a kubelet would: ``set_pod_status``), no
admission or validation (the schema check is ``kubernetes-validate``'s), no exec or attach
(``pods/exec`` is untested), no label or field selectors (lists return everything), no
NetworkPolicy enforcement, no RBAC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import kmock
from kubernetes import client as k8s

VERSION_INFO = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-kmock",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-04-17T00:00:00Z",
    "goVersion": "go1.22.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}

RESOURCES = {
    "v1/pods": kmock.ResourceInfo(kind="Pod", singular="pod", namespaced=True, subresources={"status", "exec"}),
    "v1/secrets": kmock.ResourceInfo(kind="Secret", singular="secret", namespaced=True),
    "networking.k8s.io/v1/networkpolicies": kmock.ResourceInfo(
        kind="NetworkPolicy", singular="networkpolicy", namespaced=True
    ),
    "metrics.k8s.io/v1beta1/pods": kmock.ResourceInfo(kind="PodMetrics", singular="pod", namespaced=True),
}


KEPT_REQUESTS = 64  # more than are ever in flight at once (16 client threads, 20 kubelet patches)


class _TrimmedEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with its request history (and each reaction's) cut to the newest requests."""

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        for history in (self._requests, *(payload._requests for payload in self._payloads)):
            if len(history) > 2 * KEPT_REQUESTS:
                del history[:-KEPT_REQUESTS]
        return await super().__call__(raw_request)


@dataclass
class Emulator:
    handler: kmock.KubernetesEmulator
    url: str
    http: aiohttp.ClientSession

    def configuration(self) -> k8s.Configuration:
        """A client configuration that talks to this emulator (plain HTTP, no credentials)."""
        return k8s.Configuration(host=self.url)

    def stored(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """An object as the emulator holds it (``None`` if it has none or it was deleted)."""
        key = (kmock.resource(plural), namespace, name)
        if key not in self.handler.objects:
            return None
        obj = self.handler.objects[key]
        if obj.deleted:
            return None
        raw: dict[str, Any] = obj.raw
        return raw

    async def set_pod_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """What a kubelet does: patch the Pod's ``status`` subresource."""
        path = f"/api/v1/namespaces/{namespace}/pods/{name}/status"
        async with self.http.patch(path, json={"status": status}) as response:
            response.raise_for_status()

    async def put_pod_metrics(self, namespace: str, name: str, cpu: str, memory: str) -> None:
        """What metrics-server would serve for the Pod."""
        body = {
            "apiVersion": "metrics.k8s.io/v1beta1",
            "kind": "PodMetrics",
            "metadata": {"name": name, "namespace": namespace},
            "timestamp": "2024-04-17T00:00:00Z",
            "window": "15s",
            "containers": [{"name": "executor", "usage": {"cpu": cpu, "memory": memory}}],
        }
        async with self.http.post(f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods", json=body) as response:
            response.raise_for_status()


def pod_status(phase: str, image: str, state: dict[str, Any]) -> dict[str, Any]:
    """A Pod status as a kubelet writes it, with its one container in ``state``."""
    container = {
        "name": "executor",
        "image": image,
        "imageID": "",
        "ready": "running" in state,
        "restartCount": 0,
        "state": state,
    }
    return {"phase": phase, "containerStatuses": [container]}


def running_status(image: str) -> dict[str, Any]:
    return pod_status("Running", image, {"running": {"startedAt": "2024-04-17T00:00:00Z"}})


@asynccontextmanager
async def kubernetes_emulator() -> AsyncIterator[Emulator]:
    """Start the emulator on 127.0.0.1 (a free port) in the running event loop."""
    async with _TrimmedEmulator() as handler, kmock.Server(handler) as server:
        for plural, info in RESOURCES.items():
            handler.resources[plural] = info
        handler["get /version/"] << VERSION_INFO
        url = str(server.url).rstrip("/")
        async with aiohttp.ClientSession(base_url=url) as http:
            yield Emulator(handler, url, http)
