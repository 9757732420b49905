"""What only the Kubernetes runtime has, against the emulator: the objects it sends, held to the
schema; its client-side label check; its own clean-up; its configuration from a kubeconfig file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes import client as k8s

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler import make_runtime
from sandbox_control_plane.container_scheduler.base import RuntimeError_
from sandbox_control_plane.container_scheduler.kubernetes_runtime import KubernetesRuntime, object_name
from sandbox_control_plane.domain import Network
from tests.conformance.conftest import NAMESPACE, EmulatedKubernetesHarness
from tests.k8s_emulator import kubernetes_emulator

KUBERNETES_VERSION = "1.30.0"


@pytest.fixture
async def kube() -> AsyncIterator[EmulatedKubernetesHarness]:
    async with kubernetes_emulator() as emulator:
        harness = EmulatedKubernetesHarness(emulator)
        try:
            yield harness
        finally:
            await harness.cleanup()


@pytest.mark.parametrize("network", [Network.NONE, Network.BRIDGE])
async def test_every_object_sent_is_valid_for_kubernetes(kube: EmulatedKubernetesHarness, network: Network) -> None:
    spec = kube.spec(network=network)
    await kube.runtime.create(spec)
    name = object_name(spec.session_id)
    for plural in ("v1/pods", "v1/secrets", "networking.k8s.io/v1/networkpolicies"):
        sent = kube.emulator.stored(plural, NAMESPACE, name)
        assert sent is not None, plural
        kubernetes_validate.validate(sent, KUBERNETES_VERSION, strict=True)


async def test_remove_deletes_the_pod_its_secret_and_its_policy(kube: EmulatedKubernetesHarness) -> None:
    spec = kube.spec()
    handle = await kube.runtime.create(spec)
    await kube.runtime.remove(spec.session_id, handle)
    for plural in ("v1/pods", "v1/secrets", "networking.k8s.io/v1/networkpolicies"):
        assert kube.emulator.stored(plural, NAMESPACE, handle.container_id) is None, plural


async def test_a_failed_create_undoes_only_its_own_objects(kube: EmulatedKubernetesHarness) -> None:
    spec = kube.spec()
    handle = await kube.runtime.create(spec)
    with pytest.raises(RuntimeError_, match="409"):
        await kube.runtime.create(spec)  # the same session again: every name is taken
    for plural in ("v1/pods", "v1/secrets", "networking.k8s.io/v1/networkpolicies"):
        assert kube.emulator.stored(plural, NAMESPACE, handle.container_id) is not None, plural


async def test_list_managed_checks_the_labels_itself(kube: EmulatedKubernetesHarness) -> None:
    """The emulator ignores label selectors, as a careless proxy might: the runtime checks again."""
    foreign = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "not-ours", "labels": {"app": "web"}}}
    async with kube.emulator.http.post(f"/api/v1/namespaces/{NAMESPACE}/pods", json=foreign) as response:
        response.raise_for_status()
    spec = kube.spec()
    await kube.runtime.create(spec)
    assert [item.session_id for item in await kube.runtime.list_managed()] == [spec.session_id]


async def test_stats_are_none_without_a_metrics_api(kube: EmulatedKubernetesHarness) -> None:
    handle = await kube.runtime.create(kube.spec())
    await kube.started(handle)
    assert await kube.runtime.stats(handle) is None  # no metrics-server sample: no numbers made up


async def test_an_image_not_trusted_is_not_usable(kube: EmulatedKubernetesHarness) -> None:
    runtime = KubernetesRuntime(
        kube.settings.model_copy(update={"kube_trusted_image_prefixes": ["registry.example/"]}),
        kube.emulator.configuration(),
    )
    try:
        trusted = await runtime.inspect_image("registry.example/sbx-executor:1")
        assert trusted.exists
        assert trusted.user == "1000:1000"
        assert not (await runtime.inspect_image("docker.io/library/python:3")).exists
    finally:
        await runtime.close()


async def test_a_cluster_that_does_not_answer_fails_ping() -> None:
    settings = Settings(runtime="kubernetes", executor_callback_url="http://10.0.0.7:8081", kube_request_timeout_s=2)
    runtime = KubernetesRuntime(settings, k8s.Configuration(host="http://127.0.0.1:9"))
    try:
        assert not await runtime.ping()
        with pytest.raises(RuntimeError_, match="call failed"):
            await runtime.list_managed()
    finally:
        await runtime.close()


async def test_make_runtime_reads_a_kubeconfig_file(kube: EmulatedKubernetesHarness, tmp_path: Path) -> None:
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": kube.emulator.url}}],
        "users": [{"name": "tester", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester"}}],
        "current-context": "emulator",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(kubeconfig))  # JSON is YAML
    runtime = make_runtime(kube.settings.model_copy(update={"kube_config_file": str(path)}))
    try:
        assert isinstance(runtime, KubernetesRuntime)
        assert await runtime.ping()
    finally:
        await runtime.close()


def test_a_missing_kubeconfig_is_a_runtime_error(tmp_path: Path) -> None:
    settings = Settings(
        runtime="kubernetes", executor_callback_url="http://10.0.0.7:8081", kube_config_file=str(tmp_path / "none")
    )
    with pytest.raises(RuntimeError_, match="no Kubernetes configuration"):
        KubernetesRuntime(settings)
