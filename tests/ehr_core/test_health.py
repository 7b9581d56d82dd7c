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


def test_pool_gauge_returns_to_zero_after_requests(sqlite_client):
    for _ in range(3):
        sqlite_client.get("/readyz")
    sqlite_client.post("/api/v1/auth/login", json={"email": "a@b.test", "password": "x"})
    text = sqlite_client.get("/metrics").text
    assert 'chartguard_db_pool_in_use{region="test-east"} 0.0' in text
    assert 'chartguard_read_only{region="test-east"} 0.0' in text
    assert 'chartguard_http_requests_in_flight{region="test-east"} 1.0' in text  # this one
