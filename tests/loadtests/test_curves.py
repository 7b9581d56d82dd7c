import pytest

from loadtests.curves import SHAPES, build_curve, users_for
from loadtests.errors import ShapeError
from loadtests.profile import parse_profile

pytestmark = pytest.mark.unit

PROFILE = parse_profile(
    {
        "practices": 4,
        "people": {"front_desk": 2, "clinician": 2, "owner": 1},
        "actions_per_hour": {"front_desk": 100, "clinician": 100, "owner": 10},
        "monday_peak_factor": 2.5,
    }
)


def test_monday_surge_ramps_steeply_holds_dips_for_lunch_and_bumps():
    curve = build_curve("monday-surge", PROFILE)
    start, end = curve.span("peak")
    assert curve.fraction_at(0) == 0.0
    assert curve.fraction_at(start / 2) == pytest.approx(0.5)
    assert curve.fraction_at(start) == pytest.approx(1.0)
    assert curve.fraction_at((start + end) / 2) == 1.0
    lunch = curve.fraction_at(sum(curve.span("lunch")) / 2)
    afternoon = curve.fraction_at(sum(curve.span("afternoon")) / 2)
    assert lunch is not None and afternoon is not None
    assert lunch < afternoon < 1.0
    assert curve.fraction_at(curve.total + 1) is None
    assert curve.measured == "peak" and curve.measured_fraction() == 1.0
    # The ramp to the peak is steeper than any later change.
    assert curve.stages[0].duration <= 30 * 60


def test_steady_day_runs_at_the_ordinary_rate():
    curve = build_curve("steady-day", PROFILE)
    assert curve.measured_fraction() == pytest.approx(1 / 2.5)
    assert curve.peak_fraction() == pytest.approx(1 / 2.5)


def test_steady_peak_holds_the_monday_peak():
    curve = build_curve("steady-peak", PROFILE)
    assert curve.fraction_at(curve.total - 1) == 1.0
    assert curve.fraction_at(0) == 0.0


def test_soak_is_long_and_step_capacity_steps_up():
    assert build_curve("soak", PROFILE).total >= 12 * 3600
    steps = build_curve("step-capacity", PROFILE)
    fractions = [stage.end for stage in steps.stages]
    assert fractions == sorted(fractions) and fractions[0] > 0 and fractions[-1] >= 2
    assert steps.stepped and steps.measured is None


def test_users_for_never_rounds_a_working_fraction_to_zero():
    assert users_for(0, 20) == 0
    assert users_for(0.001, 20) == 1
    assert users_for(1.0, 20) == 20
    assert users_for(0.5, 21) == 11


def test_unknown_shape_is_named():
    with pytest.raises(ShapeError, match="monday-surge"):
        build_curve("tuesday", PROFILE)
    assert set(SHAPES) == {"monday-surge", "steady-day", "steady-peak", "soak", "step-capacity"}


def test_people_start_no_faster_than_the_profiles_sign_in_rate():
    """(A subprocess: Locust patches the process it is imported in.)"""
    import subprocess
    import sys

    code = """
from types import SimpleNamespace
from loadtests.curves import build_curve
from loadtests.profile import parse_profile
from loadtests.shapes import CurveShape
profile = parse_profile({"practices": 1, "people": {"front_desk": 2, "clinician": 2, "owner": 1},
                         "actions_per_hour": {"front_desk": 100, "clinician": 100, "owner": 10},
                         "monday_peak_factor": 2.5})
curve = build_curve("steady-peak", profile)
capped = CurveShape(curve=curve, total_people=48, time_scale=100.0, max_spawn_rate=2.0)
free = CurveShape(curve=curve, total_people=48, time_scale=100.0)
for shape in (capped, free):
    shape.runner = SimpleNamespace(user_count=0)
    shape.get_run_time = lambda: 10.0  # past the compressed ramp: everyone due at once
print(capped.tick(), free.tick())
capped.runner = SimpleNamespace(user_count=60)
print(capped.tick())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = done.stdout.strip().splitlines()[-2:]
    assert first == "(48, 2.0) (48, 48.0)"
    # Stopping people is never slowed down.
    assert second == "(48, 12.0)"
