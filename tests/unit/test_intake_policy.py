"""Intake's clinic policy file: loaded, validated with a clear error, versioned."""

from pathlib import Path

import pytest

from carepath.contracts.common import Instrument
from carepath.contracts.intake import ReferralReason
from carepath.intake.clinic_policy import PolicyFileError, load_policy


def test_the_shipped_policy_loads_with_its_version() -> None:
    policy = load_policy()
    assert policy.version == "2026.1"
    assert policy.pcl5_provisional_threshold == 33
    assert policy.baseline_for(ReferralReason.PTSD) == {
        Instrument.PHQ9,
        Instrument.CSSRS,
        Instrument.PCL5,
    }
    assert policy.baseline_for(ReferralReason.DEPRESSION) == {Instrument.PHQ9, Instrument.CSSRS}


def test_a_bad_threshold_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        'version = "x"\npcl5_provisional_threshold = 99\n[extra_baseline_assessments]\n'
    )
    with pytest.raises(PolicyFileError) as raised:
        load_policy(path)
    assert str(path) in str(raised.value)
    assert "pcl5_provisional_threshold" in str(raised.value) and "80" in str(raised.value)


def test_an_unknown_instrument_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        'version = "x"\npcl5_provisional_threshold = 33\n[extra_baseline_assessments]\nptsd = ["BDI"]\n'
    )
    with pytest.raises(PolicyFileError, match=r"extra_baseline_assessments\.ptsd\.0"):
        load_policy(path)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="No such file"):
        load_policy(tmp_path / "absent.toml")
