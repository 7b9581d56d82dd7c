"""No gap in rollback: a SIGTERM or SIGINT at any point of a run still leaves Toxiproxy
clean, the record rolled back and the journal saying so.

The runner's ``on_boundary`` hook names every point between two steps of a run; the test
delivers the signal to its own process from the hook, so it lands exactly there (no sleeps).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from chaos.adapter import ToxiproxyAdapter
from chaos.journal import RunResult, RunStatus
from chaos.runner import Runner
from chaos.scenario import Scenario, parse_scenario
from tests.chaos.test_runner_live import assert_clean, scenario_data

pytestmark = pytest.mark.integration

SIGNALS = [signal.SIGTERM, signal.SIGINT]


def _scenario(links: dict[str, str]) -> Scenario:
    data = scenario_data(url=f"http://{links['edge-east']}/ok", duration=0.8)
    data["rollbacks"] = [{"action": "remove_toxic", "links": "edge-*", "toxic": "slow"}]
    return parse_scenario(data, name="gap")


def _run(
    scenario: Scenario, toxiproxy: ToxiproxyAdapter, out: Path, hook
) -> tuple[RunResult, list[str]]:
    seen: list[str] = []

    def on_boundary(name: str) -> None:
        seen.append(name)
        hook(name)

    out.mkdir(parents=True, exist_ok=True)
    runner = Runner(
        scenario,
        adapter=toxiproxy,
        record_path=out / "record.json",
        journal_path=out / "journal.json",
        on_boundary=on_boundary,
    )
    with runner:
        result = runner.run()
    return result, seen


def _assert_rolled_back(toxiproxy: ToxiproxyAdapter, out: Path, result: RunResult) -> None:
    assert_clean(toxiproxy)
    assert result.rollback is not None and result.rollback.ok, result.rollback
    record = json.loads((out / "record.json").read_text())
    assert record["state"] == "rolled_back"
    assert not any(f["active"] for f in record["faults"])
    journal = json.loads((out / "journal.json").read_text())
    assert journal["rollback"]["ok"] is True
    assert journal["status"] == str(result.status) != "running"


@pytest.fixture
def boundaries(toxiproxy, links, tmp_path) -> list[str]:
    """Every boundary of an undisturbed run, in order."""
    result, seen = _run(_scenario(links), toxiproxy, tmp_path / "reference", lambda _: None)
    assert result.status is RunStatus.COMPLETED, result.error
    _assert_rolled_back(toxiproxy, tmp_path / "reference", result)
    return seen


def test_the_hook_names_every_step_of_a_run(boundaries):
    assert boundaries[:2] == ["recorded", "checked:before"]
    applied = sorted(b for b in boundaries if b.startswith("applied:"))
    assert applied == [f"applied:{i}" for i in range(4)]  # in time order, each once
    assert {"method-ended", "rollback:begin", "rollback:end", "checked:after", "finishing"} <= set(
        boundaries
    )
    assert "undone:slow@edge-east" in boundaries and "undone:disabled@db-west" in boundaries


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_at_every_boundary_still_rolls_back(toxiproxy, links, tmp_path, boundaries,
                                                      signum):
    scenario = _scenario(links)
    targets = list(dict.fromkeys(boundaries))  # each distinct point once, first occurrence
    for i, target in enumerate(targets):
        fired = []

        def hook(name: str, target: str = target, fired: list[str] = fired) -> None:
            if name == target and not fired:
                fired.append(name)
                os.kill(os.getpid(), signum)

        out = tmp_path / f"{i:02d}-{target.replace(':', '_').replace('@', '_')}"
        result, _ = _run(scenario, toxiproxy, out, hook)
        assert fired, f"{target}: never reached"
        _assert_rolled_back(toxiproxy, out, result)
        # The signal is never lost: it ends the run, except once the run is finishing.
        expected = RunStatus.COMPLETED if target == "finishing" else RunStatus.INTERRUPTED
        assert result.status is expected, (target, result.status, result.error)


def test_a_signal_at_each_boundary_of_one_run_cannot_cut_its_rollback(
    toxiproxy, links, tmp_path, boundaries
):
    """A signal at every point from the first fault on (an operator pressing ^C repeatedly):
    the first one ends the run, none of the later ones interrupts the rollback."""
    armed = []

    def hook(name: str) -> None:
        if name.startswith("applied:") or armed:
            armed.append(name)
            os.kill(os.getpid(), signal.SIGINT)

    result, seen = _run(_scenario(links), toxiproxy, tmp_path / "repeated", hook)
    assert len(armed) >= 4 and any(n.startswith("undone:") for n in armed), armed
    assert result.status is RunStatus.INTERRUPTED
    _assert_rolled_back(toxiproxy, tmp_path / "repeated", result)
