from __future__ import annotations

from datetime import UTC
from datetime import datetime
from uuid import uuid4

from event_store.aggregates import Message
from event_store.publishing import envelope_of

DOMAIN_ID = uuid4()


def _message() -> Message:
    message = Message(customer_id=uuid4(), to="ada@example.org", from_address="hi@acme.test",
                      subject="s", html=None, text="t", reply_to=None, cc=[], bcc=[], headers={},
                      tag="welcome", metadata={}, domain="acme.test", domain_id=DOMAIN_ID,
                      track_opens=True, track_clicks=True)
    message.collect_events()
    return message


def test_deferred_then_delivered_counts_attempts_and_copies_dimensions() -> None:
    message = _message()
    message.record_deferred(451, "try later", datetime(2026, 1, 1, tzinfo=UTC))
    message.record_delivered(250, "ok", ["ada@example.org"])
    deferred, sent = message.collect_events()
    assert (deferred.attempt, sent.attempt, message.status, message.retry_at) == (1, 2, "delivered", None)
    assert sent.recipients == ["ada@example.org"]
    assert (sent.customer_id, sent.recipient, sent.domain_id, sent.tag) == (
        message.customer_id, "ada@example.org", DOMAIN_ID, "welcome")


def test_repeated_outcomes_are_no_new_facts() -> None:
    message = _message()
    message.record_delivered(250, "ok", ["ada@example.org"])
    message.record_delivered(250, "ok", ["ada@example.org"])
    message.record_failed(451, "late duplicate")
    assert message.record_recipient_bounce("ada@example.org", "hard", 550, "5.1.1", "late") is False
    assert [type(e) for e in message.collect_events()] == [Message.Delivered]


def test_a_report_can_bounce_a_delivered_message_once_and_complaints_once() -> None:
    message = _message()
    message.record_delivered(250, "ok", ["ada@example.org"])
    assert message.record_bounce("hard", 550, "5.1.1", "user unknown", "report") is True
    assert message.record_bounce("hard", 550, "5.1.1", "user unknown", "report") is False
    assert message.record_complaint("abuse") is True
    assert message.record_complaint("abuse") is False
    assert [type(e) for e in message.collect_events()] == [Message.Delivered, Message.Bounced,
                                                           Message.Complained]


def test_a_recipient_refused_for_good_is_recorded_once_and_left_out_of_later_attempts() -> None:
    message = _message()
    assert message.record_recipient_bounce("Cy@Example.org", "hard", 550, "5.1.1", "gone") is True
    assert message.record_recipient_bounce("cy@example.org", "hard", 550, "5.1.1", "gone") is False
    [bounced] = message.collect_events()
    assert (type(bounced), bounced.recipient, bounced.source, message.status) == (
        Message.RecipientBounced, "Cy@Example.org", "smtp", "queued")
    assert message.pending_recipients(["ada@example.org", "cy@example.org"]) == ["ada@example.org"]


def test_lifecycle_events_are_published_with_their_dimensions() -> None:
    message = _message()
    message.record_bounce("hard", 550, "5.1.1", "user unknown", "smtp")
    [bounced] = message.collect_events()
    envelope = envelope_of(bounced, 42)
    assert envelope is not None
    assert (envelope.event_type, envelope.email_id, envelope.position) == ("bounced", message.id, 42)
    assert envelope.payload == {"recipient": "ada@example.org", "from_address": "hi@acme.test",
                                "domain": "acme.test", "domain_id": str(DOMAIN_ID), "tag": "welcome",
                                "smtp_code": 550, "bounce_type": "hard", "status": "5.1.1",
                                "reason": "user unknown", "source": "smtp"}


def test_deferrals_stay_internal() -> None:
    message = _message()
    message.record_deferred(451, "later", datetime(2026, 1, 1, tzinfo=UTC))
    [deferred] = message.collect_events()
    assert envelope_of(deferred, 1) is None


def test_a_copy_of_a_message_shares_no_container_with_the_original() -> None:
    import copy

    message = _message()
    message.record_recipient_bounce("cy@example.org", "hard", 550, "5.1.1", "gone")
    message.collect_events()
    clone = copy.deepcopy(message)
    clone.record_delivered(250, "ok", ["ada@example.org"])
    clone.headers["X-New"] = "1"

    assert (message.status, message.version, message.headers, message.refused) == (
        "queued", 2, {}, ["cy@example.org"])
    assert (clone.status, clone.version, [type(e) for e in clone.collect_events()]) == (
        "delivered", 3, [Message.Delivered])
    assert message.collect_events() == []
