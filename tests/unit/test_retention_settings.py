"""What the Events API shows follows the operator's retention settings per tier."""

from __future__ import annotations

from mailerlogic.config import Settings


def test_defaults_are_the_tiers_and_the_variables_override_them(tmp_path: object) -> None:
    defaults = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path)})
    assert [defaults.retention_days_for(t) for t in ("starter", "professional", "enterprise")] == [
        90, 90, 365]
    configured = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path),
                                    "MAILERLOGIC_RETENTION_DAYS": "30",
                                    "MAILERLOGIC_ENTERPRISE_RETENTION_DAYS": "730"})
    assert [configured.retention_days_for(t) for t in ("starter", "enterprise")] == [30, 730]
