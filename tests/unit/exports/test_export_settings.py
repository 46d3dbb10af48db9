"""Export settings and the CLI's filter arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailerlogic.config import VARIABLES
from mailerlogic.config import Settings
from mailerlogic.config import api_client
from mailerlogic.export_cli import ExportError
from mailerlogic.export_cli import parse_filters


def test_the_ttl_is_24_hours_unless_set_to_a_whole_number_of_hours(tmp_path: Path) -> None:
    base = {"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k"}
    assert Settings.from_env(base).export_ttl_hours == 24
    assert Settings.from_env({**base, "MAILERLOGIC_EXPORT_TTL_HOURS": "2"}).export_ttl_hours == 2
    for bad in ("0", "1.5", "-3", "8785", "soon"):
        with pytest.raises(ValueError, match="MAILERLOGIC_EXPORT_TTL_HOURS"):
            Settings.from_env({**base, "MAILERLOGIC_EXPORT_TTL_HOURS": bad})
    assert {"MAILERLOGIC_EXPORT_TTL_HOURS", "MAILERLOGIC_API_URL", "MAILERLOGIC_API_KEY"} <= set(VARIABLES)


def test_the_cli_finds_the_api_from_port_unless_told() -> None:
    assert api_client({}) == ("http://127.0.0.1:8080", None)
    assert api_client({"PORT": "9000", "MAILERLOGIC_API_KEY": "ml_live_x"}) == (
        "http://127.0.0.1:9000", "ml_live_x")
    assert api_client({"MAILERLOGIC_API_URL": "https://mail.example.com/", "PORT": "9000"})[0] == (
        "https://mail.example.com")


def test_filters_are_key_value_and_only_type_repeats() -> None:
    assert parse_filters(["type=opened", "tag=a=b", "type=clicked", "recipient="]) == {
        "type": "opened,clicked", "tag": "a=b", "recipient": ""}
    for bad in (["tag"], ["=x"], ["tag=a", "tag=b"]):
        with pytest.raises(ExportError):
            parse_filters(bad)
