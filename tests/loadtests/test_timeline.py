import pytest

from loadtests.endpoints import classify, endpoint_name
from loadtests.profile import EndpointClass
from loadtests.timeline import EndpointCounters, Timeline, percentile

pytestmark = pytest.mark.unit

READ = endpoint_name("GET", "/api/v1/patients/{id}")
WRITE = endpoint_name("PATCH", "/api/v1/patients/{id}")


def test_endpoint_classes():
    assert classify(READ) is EndpointClass.read
    assert classify(WRITE) is EndpointClass.write
    assert classify("POST /api/v1/auth/login") is EndpointClass.auth
    assert classify("GET /fhir/r4/$export") is EndpointClass.report
    assert classify("GET /api/v1/audit") is EndpointClass.report


def test_percentile_walks_the_cumulative_counts():
    times = {10: 90, 100: 9, 1000: 1}
    assert percentile(times, 0.5) == 10
    assert percentile(times, 0.95) == 100
    assert percentile(times, 0.99) == 100
    assert percentile(times, 1.0) == 1000
    assert percentile({}, 0.99) is None


def test_timeline_turns_cumulative_counters_into_windows():
    timeline = Timeline()
    cumulative = {READ: EndpointCounters(0, 0, {}), WRITE: EndpointCounters(0, 0, {})}
    for second in range(1, 11):
        # Ten reads at 20 ms and two writes a second; writes slow (600 ms) after second 5.
        reads = EndpointCounters(10 * second, 0, {20: 10 * second})
        slow = max(0, second - 5)
        writes = EndpointCounters(
            2 * second, slow, {30: 2 * min(second, 5), 600: 2 * slow}
        )
        cumulative = {READ: reads, WRITE: writes}
        timeline.record(
            float(second), users=5, target_users=5, cpu_percent=10.0 * second,
            endpoints=cumulative,
        )
    first = timeline.window(0, 5)
    assert first.requests == 60 and first.failures == 0
    assert first.seconds == 5 and first.rate == pytest.approx(12.0)
    assert first.percentile(0.99, "write") == 30
    late = timeline.window(5, 10)
    assert late.failures == 5
    assert late.percentile(0.99, "write") == 600
    assert late.percentile(0.5) == 20
    assert late.cpu_max == 100.0
    whole = timeline.window(0, 10)
    assert whole.requests == 120 and whole.error_rate == pytest.approx(5 / 120)
    data = whole.to_dict()
    assert data["classes"]["read"]["requests"] == 100
    empty = timeline.window(20, 30)
    assert empty.requests == 0 and empty.rate == 0.0
