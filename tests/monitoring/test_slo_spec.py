"""The SLO spec: the packaged slo.yaml, validation of bad specs, profiles, durations."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitoring.duration import format_duration, parse_duration
from monitoring.errors import SpecError
from monitoring.slo import LatencySource, RatioSource, load_spec

pytestmark = pytest.mark.unit

PACKAGED = Path(__file__).resolve().parents[2] / "monitoring" / "slo.yaml"


def test_packaged_spec_holds_the_sla(spec):
    availability = spec.objective("availability")
    latency = spec.objective("latency")
    assert availability.target == 0.999 and availability.budget == 0.001
    assert latency.target == 0.99 and latency.threshold == 0.5
    assert spec.period == 30 * 86400
    assert [format_duration(w) for w in spec.windows] == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    # the edge (router) is preferred for the overall availability SLI
    assert [s.source for s in availability.indicator.overall] == ["router", "ehr"]
    assert isinstance(availability.indicator.per_region, RatioSource)
    assert isinstance(latency.indicator.overall[0], LatencySource)


def test_burn_rate_policy_is_the_sre_workbook(spec):
    page, ticket = spec.alerts
    assert page.severity == "page" and ticket.severity == "ticket"
    assert [(c.burn_rate, c.long, c.short) for c in page.conditions] == [
        (14.4, 3600, 300), (6, 6 * 3600, 1800)]
    assert [(c.burn_rate, c.long, c.short) for c in ticket.conditions] == [(1, 3 * 86400, 6 * 3600)]


def test_compressed_profile_keeps_budget_fractions(spec):
    compressed = spec.profile("compressed")
    assert compressed.window(spec.period) == "1h"  # 30 days -> 1 hour
    assert compressed.window(3 * 86400) == "6m"
    assert compressed.window(3600) == "5s"  # 1h/720 = 5s
    assert compressed.window(300) == "5s"  # 5m/720 would be 0.4s: floored at min_window
    assert spec.profile("standard").window(3600) == "1h"


def test_read_only_refusals_count_as_bad(spec):
    # 503 read_only answers are 5xx: the bad selectors must include every 5xx status.
    per_region = spec.objective("availability").indicator.per_region
    assert isinstance(per_region, RatioSource)
    assert 'status=~"5.."' in per_region.bad.matchers


def test_error_ratio_is_zero_not_empty_without_error_series(spec):
    objective = spec.objective("availability")
    expr = objective.error_ratio(objective.indicator.overall[1], "5m")
    assert " or 0 * sum(rate(chartguard_http_requests_total" in expr


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(PACKAGED.read_text())
    mutate(data)
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["objectives"]["availability"].update(target=1.5),
         "objectives.availability.target"),
        (lambda d: d["objectives"]["latency"].pop("threshold"), "needs a threshold"),
        (lambda d: d.update(period="thirty days"), "period"),
        (lambda d: d["alerts"][0]["conditions"][0].update(short="2h"), "short window"),
        (lambda d: d.update(windows=["5m", "1h"]), "is not in windows"),
        (lambda d: d["profiles"].pop("standard"), "'standard' profile"),
        (lambda d: d["objectives"]["availability"]["indicator"]["overall"][0].update(
            total="not a selector{"), "not a metric selector"),
        (lambda d: d["objectives"]["latency"]["indicator"].update(kind="ratio"),
         "does not fit kind"),
        (lambda d: d["objectives"]["availability"].update(colour="red"), "colour"),
    ],
)
def test_bad_spec_is_refused_naming_the_problem(tmp_path, mutate, message):
    path = _write(tmp_path, mutate)
    with pytest.raises(SpecError, match="slo.yaml") as err:
        load_spec(path)
    assert message in str(err.value)


def test_unreadable_and_non_mapping_specs(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(SpecError, match="mapping"):
        load_spec(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("a: [\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(tmp_path / "bad.yaml")


def test_unknown_profile_and_objective_list_the_known_ones(spec):
    with pytest.raises(SpecError, match="compressed, standard"):
        spec.profile("fast")
    with pytest.raises(SpecError, match="availability, latency"):
        spec.objective("throughput")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("1h30m", 5400), ("3d", 259200), ("500ms", 0.5), ("1w", 604800)],
)
def test_durations_round_trip(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "5", "m5", "5 m", "-5m", "0s", "5x"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
