"""deploy/: the Kubernetes overlays (rendered, schema-validated with kubernetes-validate, and
checked for what each deployment mode needs) and the Compose files (interpolated by
podman-compose). Bringing the stacks up is in tests/container/test_compose.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from lite.settings import SETTINGS, load_settings
from tests.kustomize import render
from tests.servers import ROOT

K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "compose"
OVERLAYS = ["local-pvc", "s3"]
KNOWN_SETTINGS = {s.name for s in SETTINGS}
SECRET_ENV = {"ADMIN_API_TOKEN": "a" * 16, "INTERNAL_API_SECRET": "b" * 16}
K8S_VERSION = "1.30.0"


def _rendered(overlay: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in render(K8S / "overlays" / overlay)}


def _image_uid() -> int:
    match = re.search(r"useradd [^\n]*--uid (\d+)", (ROOT / "Dockerfile.lite").read_text())
    assert match, "Dockerfile.lite no longer creates its user with --uid"
    return int(match.group(1))


def _pod(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    return dict(docs[("Deployment", "vexa-lite")]["spec"]["template"])


def _container(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    containers = _pod(docs)["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_manifest_is_valid(overlay: str) -> None:
    for doc in render(K8S / "overlays" / overlay):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_our_rendering_matches_kubectl_kustomize(overlay: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: tests/kustomize.py alone renders the overlays")
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    theirs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(done.stdout) if d}

    assert theirs == _rendered(overlay)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_holds_only_known_settings_and_loads(overlay: str) -> None:
    data = _rendered(overlay)[("ConfigMap", "vexa-lite-config")]["data"]

    assert set(data) <= KNOWN_SETTINGS
    # The Secret adds the credentials; for s3 those are the AWS keys.
    secret = {**SECRET_ENV, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    if overlay != "s3":
        secret = SECRET_ENV
    assert load_settings({**data, **secret}).storage_backend == data["STORAGE_BACKEND"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_as_the_image_user_with_probes(overlay: str) -> None:
    docs = _rendered(overlay)
    pod, container = _pod(docs)["spec"], _container(docs)
    uid = _image_uid()

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    assert pod["securityContext"]["fsGroup"] == uid
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # Removed from the Service before SIGTERM, and killed only after the app's drain.
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert _pod(docs)["spec"]["terminationGracePeriodSeconds"] > 5 + 8
    assert {"configMapRef": {"name": "vexa-lite-config"}} in container["envFrom"]
    assert {"secretRef": {"name": "vexa-lite-secrets"}} in container["envFrom"]
    port = int(docs[("ConfigMap", "vexa-lite-config")]["data"]["PORT"])
    assert container["ports"] == [{"name": "http", "containerPort": port}]


def test_local_pvc_is_one_replica_recreated_with_the_claim_at_the_storage_dir() -> None:
    docs = _rendered("local-pvc")
    deployment = docs[("Deployment", "vexa-lite")]
    data = docs[("ConfigMap", "vexa-lite-config")]["data"]
    volumes = {v["name"]: v for v in _pod(docs)["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in _container(docs)["volumeMounts"]}

    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = volumes[mounts[data["LOCAL_STORAGE_DIR"]]]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", claim) in docs
    assert data["STORAGE_BACKEND"] == "local" and data["LITE_REQUIRE_VOLUME"] == "true"


def test_s3_is_stateless_with_replicas_disruption_budget_and_autoscaler() -> None:
    docs = _rendered("s3")
    deployment = docs[("Deployment", "vexa-lite")]
    labels = _pod(docs)["metadata"]["labels"]
    pdb = docs[("PodDisruptionBudget", "vexa-lite")]["spec"]
    hpa = docs[("HorizontalPodAutoscaler", "vexa-lite")]["spec"]
    resources = _container(docs)["resources"]

    assert deployment["spec"]["replicas"] == 3
    assert "volumes" not in _pod(docs)["spec"]
    assert not any(kind == "PersistentVolumeClaim" for kind, _ in docs)
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["maxUnavailable"] == 1
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "vexa-lite",
    }
    assert hpa["minReplicas"] == deployment["spec"]["replicas"] <= hpa["maxReplicas"]
    assert {"cpu", "memory"} <= set(resources["requests"])  # the autoscaler needs a CPU request
    assert "AWS_SECRET_ACCESS_KEY" not in docs[("ConfigMap", "vexa-lite-config")]["data"]


# --- Compose ----------------------------------------------------------------------------------


def _compose_config(name: str, **env: str) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "podman-compose"
    return subprocess.run(
        [str(binary), "-f", str(COMPOSE / name), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=COMPOSE,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def _services(name: str, **env: str) -> dict[str, Any]:
    done = _compose_config(name, **SECRET_ENV, **env)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(yaml.safe_load(done.stdout)["services"])


def _app_env(services: dict[str, Any]) -> dict[str, str]:
    environment = services["vexa-lite"]["environment"]
    assert set(environment) <= KNOWN_SETTINGS
    return {k: str(v) for k, v in environment.items()}


def test_local_stack_uses_the_named_volume_or_a_host_path() -> None:
    default = _services("local.yml")
    bound = _services("local.yml", LOCAL_STORAGE_VOLUME_SOURCE="./data/recordings")
    env = _app_env(default)

    assert default["vexa-lite"]["volumes"] == [f"recordings-data:{env['LOCAL_STORAGE_DIR']}"]
    assert bound["vexa-lite"]["volumes"] == [f"./data/recordings:{env['LOCAL_STORAGE_DIR']}"]
    assert load_settings(env).storage_backend == "local"
    assert env["LOCAL_STORAGE_FSYNC"] == "true" and env["LITE_REQUIRE_VOLUME"] == "true"


def test_minio_stack_creates_the_bucket_and_signs_for_the_host() -> None:
    services = _services("minio.yml")
    env = _app_env(services)
    substituted = _services("minio.yml", OBJECT_STORE_IMAGE="localhost/seaweedfs-s3:test")

    assert services["minio"]["image"].startswith("minio/minio")
    assert substituted["minio"]["image"] == "localhost/seaweedfs-s3:test"
    assert load_settings(env).storage_backend == "minio"
    assert env["MINIO_ENDPOINT"] == "minio:9000"
    assert env["MINIO_PUBLIC_ENDPOINT"] == "http://localhost:9000"
    bucket_env = services["create-bucket"]["environment"]
    assert bucket_env["MINIO_BUCKET"] == env["MINIO_BUCKET"]
    assert services["vexa-lite"]["depends_on"]["create-bucket"]["condition"] == (
        "service_completed_successfully"
    )


@pytest.mark.parametrize("name", ["local.yml", "minio.yml"])
def test_compose_refuses_to_start_without_the_secrets(name: str) -> None:
    done = _compose_config(name)

    assert done.returncode != 0
    assert "ADMIN_API_TOKEN" in done.stderr
