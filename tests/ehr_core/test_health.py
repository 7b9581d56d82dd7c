import pytest

pytestmark = pytest.mark.unit


def test_healthz_names_the_region(sqlite_client):
    r = sqlite_client.get("/healthz")
    assert r.status_code == 200
    assert r.headers["x-chartguard-region"] == "test-east"


def test_readyz_reports_sqlite_as_primary(sqlite_client):
    r = sqlite_client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["role"] == "primary"
    assert body["region"] == "test-east"


def test_unknown_route_uses_the_error_shape(sqlite_client):
    r = sqlite_client.get("/no/such/route")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "detail": "Not Found", "fields": []}


def test_metrics_expose_request_counts_by_route_template(sqlite_client):
    sqlite_client.get("/healthz")
    text = sqlite_client.get("/metrics").text
    assert 'chartguard_http_requests_total{method="GET",region="test-east",route="/healthz"' in text
    assert 'le="0.25"' in text
