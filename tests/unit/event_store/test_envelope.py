from __future__ import annotations

import pytest

from event_store.envelope import Envelope
from event_store.envelope import EnvelopeError
from event_store.envelope import event_id_for
from tests.helpers import envelope


def test_round_trip_keeps_every_field() -> None:
    original = envelope("opened", 42, user_agent="Mozilla", seconds_since_sent=3)
    assert Envelope.from_json(original.to_json()) == original


def test_event_id_is_stable_for_the_same_aggregate_version() -> None:
    assert event_id_for("a", 1) == event_id_for("a", 1)
    assert event_id_for("a", 1) != event_id_for("a", 2)


def test_unknown_fields_are_ignored() -> None:
    data = envelope("sent", 1).to_dict() | {"future_field": {"x": 1}}
    assert Envelope.from_dict(data).position == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"schema_version": 2}', "unsupported schema_version 2"),
        (b'{"schema_version": 1, "event_id": "nope"}', "malformed envelope"),
    ],
)
def test_undecodable_records_raise_envelope_error(raw: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        Envelope.from_json(raw)


def test_key_is_the_email_id_so_a_message_stays_in_one_partition() -> None:
    first = envelope("queued", 1)
    assert first.key == str(first.email_id).encode()
