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


def test_deferred_then_sent_counts_attempts_and_copies_dimensions() -> None:
    message = _message()
    message.record_deferred(451, "try later", datetime(2026, 1, 1, tzinfo=UTC))
    message.record_sent(250, "ok")
    deferred, sent = message.collect_events()
    assert (deferred.attempt, sent.attempt, message.status, message.retry_at) == (1, 2, "sent", None)
    assert (sent.customer_id, sent.recipient, sent.domain_id, sent.tag) == (
        message.customer_id, "ada@example.org", DOMAIN_ID, "welcome")


def test_repeated_outcomes_are_no_new_facts() -> None:
    message = _message()
    message.record_sent(250, "ok")
    message.record_sent(250, "ok")
    message.record_failed(451, "late duplicate")
    assert [type(e) for e in message.collect_events()] == [Message.Sent]


def test_a_report_can_bounce_a_sent_message_once_and_complaints_once() -> None:
    message = _message()
    message.record_sent(250, "ok")
    assert message.record_bounce("hard", 550, "5.1.1", "user unknown", "report") is True
    assert message.record_bounce("hard", 550, "5.1.1", "user unknown", "report") is False
    assert message.record_complaint("abuse") is True
    assert message.record_complaint("abuse") is False
    assert [type(e) for e in message.collect_events()] == [Message.Sent, Message.Bounced,
                                                           Message.Complained]


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
