"""The Kubernetes runtime's pure parts: the manifests (against the schema too), the phase mapping."""

from __future__ import annotations

import base64
from typing import Any

import kubernetes_validate
import pytest
from pydantic import ValidationError

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler import kubernetes_runtime as kr
from sandbox_control_plane.container_scheduler.base import ContainerReason, ContainerSpec, RuntimeError_, workspace_path
from sandbox_control_plane.domain import Network, Resources

# A fixed version: the schema the manifests are held to does not move when the package does.
KUBERNETES_VERSION = "1.30.0"
SETTINGS = Settings(runtime="kubernetes", executor_callback_url="http://10.0.0.7:8081", kube_namespace="sbx")
SPEC = ContainerSpec(
    session_id="ses_01jabcdefghjkmnpqrstvwxyz0",
    tenant_id="tenant-a",
    image="registry.example/sbx-executor:1",
    resources=Resources(1500, 512, 2048),
    network=Network.NONE,
    pids_limit=100,
    env={"A": "1"},
    secret_files={"token": b"the-session-token"},
)
BRIDGED = ContainerSpec(**{**SPEC.__dict__, "network": Network.BRIDGE})


def validate(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("spec", [SPEC, BRIDGED], ids=["no-network", "bridge"])
@pytest.mark.parametrize("make", [kr.pod_manifest, kr.secret_manifest, kr.network_policy_manifest])
def test_every_manifest_is_valid_for_kubernetes(make: Any, spec: ContainerSpec) -> None:
    validate(make(spec, SETTINGS))


def test_the_schema_check_does_refuse_a_bad_manifest() -> None:
    pod = kr.pod_manifest(SPEC, SETTINGS)
    pod["spec"]["containers"][0]["securityContext"]["runAsUsr"] = 1000  # a typo must not pass
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(pod)


def test_the_pod_carries_every_guard() -> None:
    pod = kr.pod_manifest(SPEC, SETTINGS)
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert pod["metadata"]["name"] == "sbx-cp-ses-01jabcdefghjkmnpqrstvwxyz0"
    assert pod["metadata"]["namespace"] == "sbx"
    assert pod["metadata"]["labels"] == {
        "ai.oneclick.sandbox.managed-by": "sbx-cp",
        "ai.oneclick.sandbox.session": SPEC.session_id,
        "ai.oneclick.sandbox.tenant": "tenant-a",
    }
    assert (spec["restartPolicy"], spec["automountServiceAccountToken"]) == ("Never", False)
    pod_security = spec["securityContext"]
    assert (pod_security["runAsUser"], pod_security["runAsGroup"], pod_security["fsGroup"]) == (1000, 1000, 1000)
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert (security["allowPrivilegeEscalation"], security["privileged"]) == (False, False)
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert (security["runAsUser"], security["runAsGroup"], security["runAsNonRoot"]) == (1000, 1000, True)
    size = {"cpu": "1500m", "memory": "512Mi", "ephemeral-storage": "2048Mi"}
    assert container["resources"] == {"requests": size, "limits": size}
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["workspace"]["emptyDir"] == {"sizeLimit": "2048Mi"}
    assert volumes["tmp"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"}
    assert volumes["session"]["secret"] == {"secretName": pod["metadata"]["name"], "defaultMode": 0o400}
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert set(mounts) == {"/workspace", "/tmp", "/run/sbx/session"}
    assert mounts["/run/sbx/session"]["readOnly"] is True
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["A"] == "1"
    assert env["SBX_SESSION_ID"] == SPEC.session_id
    assert env["SBX_CALLBACK_URL"] == "http://10.0.0.7:8081"
    assert env["SBX_FILE_SIZE_LIMIT_BYTES"] == str(2048 * 1024 * 1024)
    assert "the-session-token" not in repr(pod)  # the token is in the Secret only


def test_the_secret_holds_the_executor_files() -> None:
    secret = kr.secret_manifest(SPEC, SETTINGS)
    assert secret["metadata"]["name"] == kr.object_name(SPEC.session_id)
    assert base64.b64decode(secret["data"]["token"]) == b"the-session-token"
    assert secret["immutable"] is True


def test_without_network_only_the_internal_api_is_reachable() -> None:
    policy = kr.network_policy_manifest(SPEC, SETTINGS)["spec"]
    assert policy["podSelector"]["matchLabels"]["ai.oneclick.sandbox.session"] == SPEC.session_id
    assert (policy["policyTypes"], policy["ingress"]) == (["Ingress", "Egress"], [])
    assert policy["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.0.0.7/32"}}], "ports": [{"protocol": "TCP", "port": 8081}]}
    ]
    assert kr.network_policy_manifest(BRIDGED, SETTINGS)["spec"]["egress"] == [{}]
    assert kr.network_policy_manifest(BRIDGED, SETTINGS)["spec"]["ingress"] == []


def test_a_named_callback_host_needs_a_cidr_and_gets_dns() -> None:
    with pytest.raises(ValidationError, match="kube_callback_cidr"):
        Settings(runtime="kubernetes", executor_callback_url="http://cp.sbx.svc:8081")
    settings = Settings(
        runtime="kubernetes", executor_callback_url="http://cp.sbx.svc:8081", kube_callback_cidr="10.96.0.0/12"
    )
    egress = kr.network_policy_manifest(SPEC, settings)["spec"]["egress"]
    assert egress[0]["to"] == [{"ipBlock": {"cidr": "10.96.0.0/12"}}]
    assert {port["port"] for port in egress[1]["ports"]} == {53}
    validate(kr.network_policy_manifest(SPEC, settings))


def test_kubernetes_needs_a_callback_url() -> None:
    with pytest.raises(ValidationError, match="executor_callback_url"):
        Settings(runtime="kubernetes")
    with pytest.raises(ValidationError):
        Settings(runtime="kubernetes", executor_callback_url="http://10.0.0.7:8081", kube_callback_cidr="nonsense")
    with pytest.raises(ValidationError):
        Settings(kube_namespace="Not_A_Namespace")


def test_a_tenant_that_is_no_label_value_is_labelled_by_a_stand_in() -> None:
    odd = ContainerSpec(**{**SPEC.__dict__, "tenant_id": "tenant with spaces"})
    pod = kr.pod_manifest(odd, SETTINGS)
    assert pod["metadata"]["labels"]["ai.oneclick.sandbox.tenant"].startswith("h-")
    assert pod["metadata"]["annotations"]["ai.oneclick.sandbox/tenant"] == "tenant with spaces"
    validate(pod)


def waiting(reason: str) -> dict[str, Any]:
    return {"phase": "Pending", "containerStatuses": [{"name": "executor", "state": {"waiting": {"reason": reason}}}]}


def terminated(phase: str, reason: str, code: int) -> dict[str, Any]:
    state = {"terminated": {"reason": reason, "exitCode": code}}
    return {"phase": phase, "containerStatuses": [{"name": "executor", "state": state}]}


@pytest.mark.parametrize(
    ("status", "running", "exit_code", "oom", "reason"),
    [
        ({}, False, None, False, ContainerReason.STARTING),  # just created: no kubelet has seen it
        ({"phase": "Pending"}, False, None, False, ContainerReason.STARTING),
        (waiting("ContainerCreating"), False, None, False, ContainerReason.STARTING),
        (waiting("ImagePullBackOff"), False, None, False, ContainerReason.IMAGE_PULL_FAILED),
        (waiting("ErrImagePull"), False, None, False, ContainerReason.IMAGE_PULL_FAILED),
        (waiting("InvalidImageName"), False, None, False, ContainerReason.IMAGE_PULL_FAILED),
        (waiting("CreateContainerConfigError"), False, None, False, ContainerReason.CREATE_FAILED),
        (
            {"phase": "Running", "containerStatuses": [{"name": "executor", "state": {"running": {}}}]},
            True,
            None,
            False,
            None,
        ),
        (terminated("Succeeded", "Completed", 0), False, 0, False, ContainerReason.EXITED),
        (terminated("Failed", "Error", 3), False, 3, False, ContainerReason.EXITED),
        (terminated("Failed", "OOMKilled", 137), False, 137, True, ContainerReason.OOM_KILLED),
        ({"phase": "Failed", "reason": "Evicted"}, False, None, False, ContainerReason.EVICTED),
        ({"phase": "Unknown"}, False, None, False, ContainerReason.UNKNOWN),
    ],
    ids=[
        "new",
        "pending",
        "creating",
        "image-pull-backoff",
        "err-image-pull",
        "invalid-image-name",
        "create-config-error",
        "running",
        "succeeded",
        "failed",
        "oom-killed",
        "evicted",
        "unknown",
    ],
)
def test_pod_phases_map_onto_the_runtime_status(
    status: dict[str, Any], running: bool, exit_code: int | None, oom: bool, reason: ContainerReason | None
) -> None:
    found = kr.status_from_pod({"metadata": {"name": "p"}, "status": status})
    assert (found.exists, found.running, found.exit_code, found.oom_killed, found.reason) == (
        True,
        running,
        exit_code,
        oom,
        reason,
    )


def test_a_gone_or_deleting_pod_is_not_running() -> None:
    assert kr.status_from_pod(None).exists is False
    deleting = {
        "metadata": {"name": "p", "deletionTimestamp": "2024-01-01T00:00:00Z"},
        "status": {"phase": "Running", "containerStatuses": [{"name": "executor", "state": {"running": {}}}]},
    }
    assert kr.status_from_pod(deleting).running is False


def test_pod_metrics_become_a_sample() -> None:
    metrics = {"containers": [{"name": "executor", "usage": {"cpu": "250m", "memory": "64Mi"}}]}
    stats = kr.stats_from_metrics(metrics, 512 * 1024 * 1024)
    assert (stats.cpu_percent, stats.memory_bytes, stats.memory_limit_bytes) == (25.0, 64 * 1024 * 1024, 512 << 20)
    assert kr.stats_from_metrics({"containers": [{"usage": {"cpu": "1500000000n"}}]}, 0).cpu_percent == 150.0


@pytest.mark.parametrize(
    ("path", "inside"),
    [("a/b", "/workspace/a/b"), ("/x", "/workspace/x"), ("", "/workspace"), ("a/../b", "/workspace/b")],
)
def test_archive_paths_stay_in_the_workspace(path: str, inside: str) -> None:
    assert workspace_path(path) == inside


@pytest.mark.parametrize("path", ["..", "../etc", "a/../../etc"])
def test_archive_paths_may_not_leave_the_workspace(path: str) -> None:
    with pytest.raises(RuntimeError_):
        workspace_path(path)
