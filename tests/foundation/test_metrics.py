from __future__ import annotations

import uuid

import pytest

from config.tasks import ping


@pytest.mark.django_db
def test_metrics_expose_request_latency_by_route(client):
    client.get("/accounts/login/")
    body = client.get("/metrics").content.decode()
    assert (
        'decoupled_http_request_duration_seconds_bucket{le="0.005",method="GET",route="accounts/login/",status="200"}'
        in body
        or (
            'route="accounts/login/"' in body
            and "decoupled_http_request_duration_seconds_bucket" in body
        )
    )
    assert "decoupled_sse_open_streams" in body


@pytest.mark.django_db(transaction=True)
def test_metrics_count_celery_task_outcomes_from_the_worker(client, celery_worker, redis_client):
    ping.delay(uuid.uuid4().hex).get(timeout=20)
    body = client.get("/metrics").content.decode()
    assert 'decoupled_celery_tasks_total{outcome="success",task="config.ping"} 1.0' in body


@pytest.mark.django_db
def test_metrics_token_is_enforced_when_set(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert ok.status_code == 200


@pytest.mark.django_db
def test_healthz_answers_probes_that_use_an_unlisted_host(client):
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code in (200, 503)
    assert "database" in response.json()
    assert client.get("/accounts/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400


@pytest.mark.django_db
def test_metrics_without_token_are_only_for_internal_addresses(client):
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="93.184.216.34").status_code == 404
