"""Retention settings: tier defaults, environment overrides, the longest one in force."""

from __future__ import annotations

from pathlib import Path

import pytest

from event_store.aggregates.customer import TIERS
from mailerlogic.config import VARIABLES
from mailerlogic.config import Settings
from mailerlogic.retention import longest_retention_days


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                              "MAILERLOGIC_WEBHOOK_SECRET": "w", **env})


def test_defaults_are_the_tiers(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert (settings.retention_days, settings.enterprise_retention_days) == (
        TIERS["starter"]["retention_days"], TIERS["enterprise"]["retention_days"]) == (90, 365)
    assert TIERS["professional"]["retention_days"] == 90
    assert longest_retention_days(settings) == 365
    assert {"MAILERLOGIC_RETENTION_DAYS", "MAILERLOGIC_ENTERPRISE_RETENTION_DAYS"} <= set(VARIABLES)


def test_environment_overrides_and_the_longest_wins(tmp_path: Path) -> None:
    settings = _settings(tmp_path, MAILERLOGIC_RETENTION_DAYS="400",
                         MAILERLOGIC_ENTERPRISE_RETENTION_DAYS=" 730 ")
    assert (settings.retention_days, settings.enterprise_retention_days) == (400, 730)
    assert longest_retention_days(settings) == 730
    shorter = _settings(tmp_path, MAILERLOGIC_RETENTION_DAYS="30", MAILERLOGIC_ENTERPRISE_RETENTION_DAYS="7")
    assert longest_retention_days(shorter) == 30


@pytest.mark.parametrize("value", ["0", "-5", "ninety", "9.5", "36501", "９０"])
def test_bad_values_are_refused_with_the_name(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="MAILERLOGIC_ENTERPRISE_RETENTION_DAYS"):
        _settings(tmp_path, MAILERLOGIC_ENTERPRISE_RETENTION_DAYS=value)
