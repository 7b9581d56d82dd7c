"""Pure pieces of the status service: signatures, alert mapping, probe verdicts, settings."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from monitoring.status import ConfigError, SignatureError, StatusSettings, sign, verify
from monitoring.status.alerts import parse_payload
from monitoring.status.errors import InvalidInput
from monitoring.status.events import EventBus
from monitoring.status.models import ComponentState, MaintenanceCreate
from monitoring.status.probes import Prober, judge
from monitoring.status.regions import ProbeTarget, parse_region_option, targets_from_deployment
from monitoring.status.service import StatusService
from monitoring.status.store import StatusStore
from monitoring.status.webhooks import check_subscriber_url
from tests.monitoring.status.payloads import alert, webhook_body

pytestmark = pytest.mark.unit

SECRET = "s3cret-s3cret-s3cret"
BODY = b'{"type":"incident.opened","incident":{"id":1}}'


def test_signature_round_trip_and_tampering() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify(SECRET, BODY, header, now=1_700_000_010) == 1_700_000_000
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY.replace(b"1", b"2"), header, now=1_700_000_010)
    with pytest.raises(SignatureError, match="does not match"):
        verify("another-secret-value", BODY, header, now=1_700_000_010)
    forged = header.replace("t=1700000000", "t=1700000005")
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY, forged, now=1_700_000_010)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(SECRET, BODY, header, now=1_700_001_000)
    for bad in (None, "", "garbage", "v1=abc"):
        with pytest.raises(SignatureError):
            verify(SECRET, BODY, bad, now=1_700_000_010)


def test_alert_mapping_defaults() -> None:
    body = webhook_body(
        {**alert(), "labels": {"alertname": "ChartguardReplicationLagHigh", "region": "west",
                               "severity": "warning"}},
        {**alert(fingerprint="x"), "labels": {"alertname": "SloAvailabilityBurnFast",
                                              "severity": "critical"}},
    )
    lag, burn = parse_payload(body)
    assert (lag.ref.key, lag.state) == ("west/replication", ComponentState.degraded_performance)
    assert (burn.ref.key, burn.state) == ("global/edge", ComponentState.major_outage)
    assert burn.firing and burn.source == "alert:x"


def test_alert_payload_version_checked() -> None:
    with pytest.raises(InvalidInput, match="version"):
        parse_payload({**webhook_body(alert()), "version": "3"})


def test_probe_verdicts() -> None:
    app = ProbeTarget("east", "app", "http://127.0.1.1:8000/readyz")
    ok = judge(app, httpx.Response(200, json={"role": "standby",
                                              "replication_lag_seconds": 0.4}),
               None, lag_threshold=10)
    assert ok.healthy and ok.states["replication"][0] is ComponentState.operational
    lagging = judge(app, httpx.Response(200, json={"replication_lag_seconds": 42.0}), None,
                    lag_threshold=10)
    assert lagging.states["replication"][0] is ComponentState.degraded_performance
    not_ready = judge(app, httpx.Response(503, json={}), None, lag_threshold=10)
    assert not_ready.states["database"][0] is ComponentState.major_outage
    edge = ProbeTarget("east", "edge", "http://127.0.1.1:18000/readyz")
    assert judge(edge, httpx.Response(503), None, lag_threshold=10).healthy
    dark = judge(edge, None, "ConnectTimeout", lag_threshold=10)
    assert dark.states["edge"][0] is ComponentState.major_outage
    gone = judge(app, None, "ConnectError", lag_threshold=10)
    assert gone.states["app"] == (ComponentState.major_outage,
                                  "EHR /readyz unreachable (ConnectError)")


def test_probe_hysteresis_needs_consecutive_failures() -> None:
    target = ProbeTarget("east", "app", "http://127.0.0.1:9/readyz")
    prober = Prober(targets=lambda: [target], on_verdict=lambda v: None,
                    client=httpx.AsyncClient(), interval=1, fall=2, rise=2, lag_threshold=10)
    healthy = judge(target, httpx.Response(200, json={}), None, lag_threshold=10)
    down = judge(target, None, "ConnectError", lag_threshold=10)
    assert prober.observe(healthy) is healthy  # first good answer commits at once
    assert prober.observe(down) is None
    assert prober.observe(healthy) is None  # a blip resets the count
    assert prober.observe(down) is None
    assert prober.observe(down) is down
    assert prober.observe(healthy) is None
    assert prober.observe(healthy) is healthy


def test_region_options_and_deployment_file(tmp_path) -> None:
    assert parse_region_option("east=http://127.0.1.1:8000/") == ("east", "http://127.0.1.1:8000")
    for bad in ("east", "East=http://x", "east=ftp://x"):
        with pytest.raises(ConfigError):
            parse_region_option(bad)
    path = tmp_path / "deployment.json"
    path.write_text('{"regions": [{"name": "east", "role": "primary", '
                    '"ehr_url": "http://127.0.1.1:18000"}, {"name": "west", '
                    '"ehr_url": "http://127.0.2.1:18000"}], '
                    '"links": [{"name": "edge-east", "listen": "127.0.1.1:18000", '
                    '"upstream": "127.0.1.1:8000"}]}')
    targets = targets_from_deployment(path)
    assert [(t.region, t.component, t.url) for t in targets] == [
        ("east", "app", "http://127.0.1.1:8000/readyz"),
        ("east", "edge", "http://127.0.1.1:18000/readyz"),
        ("west", "app", "http://127.0.2.1:18000/readyz")]
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="deployment"):
        targets_from_deployment(path)
    assert targets_from_deployment(tmp_path / "absent.json") == []


def test_settings_refuse_placeholder_token_outside_local() -> None:
    assert StatusSettings().environment == "local"  # placeholder is fine locally
    with pytest.raises(ConfigError, match="CHARTGUARD_STATUS_TOKEN"):
        StatusSettings(environment="production")
    with pytest.raises(ConfigError):
        StatusSettings(host="0.0.0.0")
    StatusSettings(environment="production", token="x" * 32)  # type: ignore[arg-type]


def test_subscriber_urls_must_be_loopback() -> None:
    assert check_subscriber_url("http://127.0.0.1:9999/hook", allow_remote=False)
    for bad in ("http://example.com/hook", "file:///etc/passwd", "127.0.0.1:80"):
        with pytest.raises(InvalidInput):
            check_subscriber_url(bad, allow_remote=False)


def test_a_maintenance_window_opening_on_its_own_is_published(tmp_path) -> None:
    store = StatusStore(tmp_path / "s.db")
    bus = EventBus()
    seen: list[tuple[str, str]] = []
    bus.add_listener(lambda e: seen.append((e.type, e.data.get("component", {}).get("state", ""))))
    service = StatusService(store=store, bus=bus)
    try:
        now = datetime.now(UTC)
        service.schedule_maintenance(MaintenanceCreate(
            message="Moving the database", starts_at=now + timedelta(seconds=0.5),
            ends_at=now + timedelta(hours=1), components=["east/database"]))  # type: ignore[list-item]
        before = service.tick(None)
        assert before["east/database"].state is ComponentState.operational
        seen.clear()
        time.sleep(0.6)
        after = service.tick(before)
        assert after["east/database"].state is ComponentState.under_maintenance
        assert ("component.updated", "under_maintenance") in seen
    finally:
        store.close()


def test_serve_says_when_there_is_nothing_to_probe(tmp_path):
    """`statuspage serve` on a machine without `chartguard up` names the missing file and
    the two ways out, instead of an empty page that looks operational."""
    from monitoring.status_cli import regions_note

    lonely = StatusSettings(state_dir=tmp_path)
    note = regions_note(lonely)
    assert note is not None
    assert str(tmp_path / "local" / "deployment.json") in note
    assert "chartguard up" in note and "--region NAME=URL" in note
    assert regions_note(StatusSettings(state_dir=tmp_path,
                                       regions={"east": "http://127.0.1.1:8000"})) is None
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "deployment.json").write_text("{}")
    assert regions_note(lonely) is None


def test_serve_with_a_bad_option_is_one_sentence_naming_it(tmp_path):
    from click.testing import CliRunner

    from monitoring.status_cli import statuspage

    result = CliRunner().invoke(statuspage, ["serve", "--port", "99999",
                                             "--db", str(tmp_path / "s.db")])  # fmt: skip
    assert result.exit_code == 2
    assert "bad setting: --port / CHARTGUARD_STATUS_PORT: Input should be less than or equal " \
        "to 65535" in " ".join(result.output.split())
    assert "pydantic" not in result.output and not (tmp_path / "s.db").exists()


def test_client_against_no_status_service_says_what_to_check():
    import socket

    from monitoring.status import StatusClient, StatusError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(StatusError) as refused:
        StatusClient(url, token="t" * 24).complete_maintenance(1)
    message = str(refused.value)
    assert f"status service unreachable at {url}" in message
    assert "(connection refused or failed)" in message
    assert "chartguard statuspage serve" in message and "CHARTGUARD_STATUS_URL" in message
