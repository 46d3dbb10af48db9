"""The series' ``timezone``: any name that is not an IANA zone is a 400, never a 500 (found by the fuzzer)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest

from read_api.params import BadParam
from read_api.params import series_query
from read_api.series import _check

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
NOT_ZONES = ["America", "x" * 300, "Europe/Berlin ", "../etc/passwd", "a\x00b", "Mars/Olympus"]


@pytest.mark.parametrize("name", NOT_ZONES)
def test_a_name_that_is_not_a_zone_is_a_bad_parameter(name: str) -> None:
    with pytest.raises(BadParam) as raised:
        series_query({"timezone": name}, NOW)
    assert raised.value.details == {"timezone": ["must be an IANA time zone name such as Europe/Berlin"]}
    with pytest.raises(ValueError, match="timezone must be an IANA time zone name"):
        _check("sends", "all", "day", name)


def test_a_zone_is_kept() -> None:
    assert series_query({"timezone": "Europe/Berlin"}, NOW).timezone == "Europe/Berlin"
