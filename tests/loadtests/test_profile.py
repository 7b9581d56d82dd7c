import pytest
import yaml

from loadtests.errors import ProfileError
from loadtests.profile import DEFAULT_PROFILE, Role, load_profile, parse_profile

pytestmark = pytest.mark.unit

BASE = {
    "practices": 10,
    "people": {"front_desk": 2, "clinician": 3, "owner": 1},
    "actions_per_hour": {"front_desk": 120, "clinician": 60, "owner": 12},
    "monday_peak_factor": 2.0,
}


def test_default_profile_is_valid_and_its_peak_rate_is_derived():
    profile = load_profile(DEFAULT_PROFILE)
    assert profile.name == "default"
    # 60 x (3x90 + 4x60 + 1x6) x 2.5 / 3600, as the YAML's comment says.
    assert profile.peak_rate() == pytest.approx(21.5)
    assert profile.total_people() == 480
    assert profile.ordinary_rate() == pytest.approx(21.5 / 2.5)


def test_peak_rate_is_everybody_at_the_monday_pace():
    profile = parse_profile(BASE)
    per_practice = (2 * 120 + 3 * 60 + 1 * 12) * 2.0 / 3600
    assert profile.peak_rate() == pytest.approx(10 * per_practice)
    assert profile.user_rate(Role.front_desk) == pytest.approx(120 * 2.0 / 3600)
    assert profile.people_of(Role.clinician) == 30


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"practices": 0}, "practices"),
        ({"monday_peak_factor": 0.5}, "monday_peak_factor"),
        ({"people": {"front_desk": -1, "clinician": 1, "owner": 1}}, "people.front_desk"),
        ({"people": {"front_desk": 1, "clinician": 1}}, "people.owner"),
        ({"actions_per_hour": {"front_desk": "lots", "clinician": 1, "owner": 1}},
         "actions_per_hour.front_desk"),
        ({"practises": 3}, "practises"),
        ({"thresholds": {"max_error_rate": 2}}, "thresholds.max_error_rate"),
        ({"thresholds": {"latency_ms": {"reads": {"p99_ms": 1}}}}, "thresholds.latency_ms.reads"),
        ({"sign_ins_per_second": 0}, "sign_ins_per_second"),
    ],
)
def test_bad_field_is_named(change, field):
    with pytest.raises(ProfileError) as info:
        parse_profile({**BASE, **change})
    assert info.value.field.startswith(field), info.value
    assert field in str(info.value)


def test_a_profile_where_nobody_works_is_rejected():
    with pytest.raises(ProfileError, match="no role"):
        parse_profile({**BASE, "actions_per_hour": {"front_desk": 0, "clinician": 0, "owner": 0}})


def test_not_a_mapping_and_bad_yaml(tmp_path):
    with pytest.raises(ProfileError, match="mapping"):
        parse_profile([1, 2])
    bad = tmp_path / "bad.yaml"
    bad.write_text("practices: [1,\n")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "missing.yaml")


def test_name_defaults_to_file_stem_and_slugs_wrap(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**BASE, "first_practice": 5}))
    profile = load_profile(path)
    assert profile.name == "tiny"
    assert profile.practice_slug(0) == "practice-0005"
    assert profile.practice_slug(12) == "practice-0007"


def test_seeded_people_bound_logins():
    seeded = {"front_desk": 1, "clinician": 2, "owner": 1}
    profile = parse_profile({**BASE, "seeded_people": seeded})
    assert profile.seeded_of(Role.clinician) == 2
    with pytest.raises(ProfileError, match="seeded_people"):
        parse_profile({**BASE, "seeded_people": {"front_desk": 0, "clinician": 2, "owner": 1}})


def test_task_mix_overrides_defaults_and_names_bad_tasks():
    from loadtests.profile import DEFAULT_TASK_MIX

    profile = parse_profile({**BASE, "task_mix": {"owner": {"export": 0}}})
    assert profile.task_mix_of(Role.owner) == {**DEFAULT_TASK_MIX["owner"], "export": 0}
    assert profile.task_mix_of(Role.clinician) == DEFAULT_TASK_MIX["clinician"]
    with pytest.raises(ProfileError) as info:
        parse_profile({**BASE, "task_mix": {"owner": {"exprt": 1}}})
    assert info.value.field == "task_mix.owner.exprt" and "audit_view" in str(info.value)
    with pytest.raises(ProfileError) as info:
        parse_profile({**BASE, "task_mix": {"owner": {"audit_view": 0, "export": 0,
                                                      "practice_day": 0}}})
    assert info.value.field == "task_mix.owner"
    with pytest.raises(ProfileError) as info:
        parse_profile({**BASE, "task_mix": {"nurse": {"x": 1}}})
    assert info.value.field.startswith("task_mix.nurse")
