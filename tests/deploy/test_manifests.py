"""deploy/: Kubernetes manifests valid against the API schemas (offline), compose and Dockerfile sane."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))


def _documents():
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                yield path.name, document


@pytest.mark.parametrize(
    ("name", "document"),
    list(_documents()),
    ids=lambda value: value if isinstance(value, str) else value["kind"],
)
def test_manifest_is_valid_for_kubernetes(name, document):
    kubernetes_validate.validate(document, "1.30.0", strict=True)


def test_the_manifests_have_every_part_an_operator_needs():
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in _documents()}
    for needed in [
        ("Deployment", "decoupled-web"),
        ("Deployment", "decoupled-worker"),
        ("Service", "decoupled-web"),
        ("Ingress", "decoupled"),
        ("HorizontalPodAutoscaler", "decoupled-web"),
        ("Job", "decoupled-migrate"),
        ("ConfigMap", "decoupled-config"),
        ("Secret", "decoupled-secrets"),
    ]:
        assert needed in kinds
    web = next(
        doc
        for _, doc in _documents()
        if doc["metadata"]["name"] == "decoupled-web" and doc["kind"] == "Deployment"
    )
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_compose_runs_web_worker_redis_postgres_with_health_checks():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    for name in ("web", "worker", "redis", "postgres"):
        assert name in services
    for name in ("web", "redis", "postgres"):
        assert "healthcheck" in services[name]
    assert set(compose["volumes"]) >= {"redis-data", "postgres-data"}


def test_dockerfile_is_multi_stage_and_runs_as_non_root():
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    assert sum(line.startswith("FROM ") for line in lines) >= 2
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
