"""The classification of the relay's answers: per message and per recipient (no I/O)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest

from consumers.delivery.outcomes import bounce_type
from consumers.delivery.outcomes import enhanced_status
from consumers.delivery.outcomes import judge
from consumers.delivery.outcomes import refusal
from consumers.delivery.ports import DeliveryResult
from consumers.delivery.ports import RecipientOutcome
from consumers.delivery.transport import Outcome

RETRY_AT = datetime(2026, 3, 15, 14, 40, tzinfo=UTC)
TO, CC, BCC = "ann@example.org", "cy@example.org", "bo@example.org"
ALL = [TO, CC, BCC]
UNKNOWN = "5.1.1 No such user"
BUSY = "4.2.0 Mailbox busy, try again later"


def cc_bounced_hard() -> RecipientOutcome:
    return RecipientOutcome(CC, "bounced", 550, UNKNOWN, "5.1.1", "hard")


@pytest.mark.parametrize(("outcome", "recipients", "retry_at", "expected"), [
    pytest.param(
        Outcome("sent", 250, "250 2.0.0 Ok: queued as Q1"), [TO], None,
        DeliveryResult("delivered", 250, "250 2.0.0 Ok: queued as Q1", recipients=(TO,)),
        id="250-delivered"),
    pytest.param(
        Outcome("bounced", 550, "DATA: 550 5.1.1 No such user"), [TO], None,
        DeliveryResult("bounced", 550, "DATA: 550 5.1.1 No such user", status="5.1.1",
                       bounce_type="hard", recipient=TO),
        id="550-5.1.1-hard"),
    pytest.param(
        Outcome("bounced", 552, "DATA: 552 5.2.2 mailbox full"), [TO], None,
        DeliveryResult("bounced", 552, "DATA: 552 5.2.2 mailbox full", status="5.2.2",
                       bounce_type="soft", recipient=TO),
        id="552-5.2.2-soft"),
    pytest.param(
        Outcome("bounced", 550, "DATA: 550 5.7.1 blocked"), [TO], None,
        DeliveryResult("bounced", 550, "DATA: 550 5.7.1 blocked", status="5.7.1",
                       bounce_type="soft", recipient=TO),
        id="550-5.7.1-soft"),
    pytest.param(
        Outcome("bounced", 554, "DATA: 554 Transaction failed"), [TO], None,
        DeliveryResult("bounced", 554, "DATA: 554 Transaction failed", status=None,
                       bounce_type="hard", recipient=TO),
        id="554-no-enhanced-code-hard"),
    pytest.param(
        Outcome("deferred", 451, "DATA: 451 4.2.0 try later"), [TO], RETRY_AT,
        DeliveryResult("deferred", 451, "DATA: 451 4.2.0 try later", retry_at=RETRY_AT),
        id="451-deferred"),
    pytest.param(
        Outcome("deferred", 451, "DATA: 451 4.2.0 try later"), [TO], None,
        DeliveryResult("failed", 451, "retry budget spent: DATA: 451 4.2.0 try later"),
        id="451-budget-spent-failed"),
    pytest.param(
        Outcome("deferred", 0, "ConnectionRefusedError: [Errno 111] Connection refused"), [TO],
        RETRY_AT,
        DeliveryResult("deferred", 0, "ConnectionRefusedError: [Errno 111] Connection refused",
                       retry_at=RETRY_AT),
        id="no-answer-deferred"),
])
def test_one_answer_gives_its_result(outcome: Outcome, recipients: list[str],
                                     retry_at: datetime | None, expected: DeliveryResult) -> None:
    assert judge(outcome, recipients, retry_at) == expected


def test_a_cc_refused_for_good_bounces_hard_while_the_others_are_delivered() -> None:
    outcome = Outcome("sent", 250, "250 2.0.0 Ok", refused=((CC, 550, UNKNOWN),))

    assert judge(outcome, ALL, None) == DeliveryResult(
        "delivered", 250, "250 2.0.0 Ok", recipients=(TO, BCC), refused=(cc_bounced_hard(),))


def test_a_cc_refused_for_now_fails_soft_at_once_while_the_others_are_delivered() -> None:
    outcome = Outcome("sent", 250, "250 2.0.0 Ok", refused=((CC, 451, BUSY),))

    assert judge(outcome, ALL, None) == DeliveryResult(
        "delivered", 250, "250 2.0.0 Ok", recipients=(TO, BCC),
        refused=(RecipientOutcome(CC, "failed", 451, BUSY, "4.2.0", "soft"),))


def test_every_recipient_refused_for_good_bounces_on_the_first_with_the_rest_refused() -> None:
    detail = f"RCPT TO: {TO}: 550 {UNKNOWN}; {CC}: 550 {UNKNOWN}; {BCC}: 552 5.2.2 Mailbox full"
    outcome = Outcome("bounced", 550, detail, refused=(
        (TO, 550, UNKNOWN), (CC, 550, UNKNOWN), (BCC, 552, "5.2.2 Mailbox full")))

    assert judge(outcome, ALL, None) == DeliveryResult(
        "bounced", 550, detail, status="5.1.1", bounce_type="hard", recipient=TO,
        refused=(cc_bounced_hard(),
                 RecipientOutcome(BCC, "bounced", 552, "5.2.2 Mailbox full", "5.2.2", "soft")))


def test_every_recipient_refused_with_one_for_now_is_deferred_with_the_bounce_refused() -> None:
    detail = f"RCPT TO: {CC}: 550 {UNKNOWN}; {TO}: 451 {BUSY}"
    outcome = Outcome("deferred", 451, detail, refused=((CC, 550, UNKNOWN), (TO, 451, BUSY)))

    assert judge(outcome, [TO, CC], RETRY_AT) == DeliveryResult(
        "deferred", 451, detail, retry_at=RETRY_AT, refused=(cc_bounced_hard(),))


def test_every_recipient_refused_with_the_budget_spent_fails_with_the_bounce_refused() -> None:
    detail = f"RCPT TO: {CC}: 550 {UNKNOWN}; {TO}: 451 {BUSY}"
    outcome = Outcome("deferred", 451, detail, refused=((CC, 550, UNKNOWN), (TO, 451, BUSY)))

    assert judge(outcome, [TO, CC], None) == DeliveryResult(
        "failed", 451, f"retry budget spent: {detail}", refused=(cc_bounced_hard(),))


def test_a_message_refused_at_data_is_about_its_only_recipient() -> None:
    outcome = Outcome("bounced", 550, "DATA: 550 5.1.1 No such user")

    assert judge(outcome, [TO], None).recipient == TO


def test_a_message_refused_at_mail_from_with_two_recipients_is_about_nobody() -> None:
    outcome = Outcome("bounced", 550, "MAIL FROM: 550 5.1.8 Bad sender domain")

    assert judge(outcome, [TO, CC], None) == DeliveryResult(
        "bounced", 550, "MAIL FROM: 550 5.1.8 Bad sender domain", status="5.1.8",
        bounce_type="hard", recipient=None)


@pytest.mark.parametrize(("reply", "expected"), [
    ("RCPT TO: x: 550 5.1.1 No such user", "5.1.1"),
    ("550 5.7.1 blocked, see 5.1.1", "5.7.1"),
    ("451 4.2.0 Mailbox busy", "4.2.0"),
    ("250 2.0.0 Ok: queued as Q1", "2.0.0"),
    ("550 5.1.10 Recipient address rejected", "5.1.10"),
    ("554 Transaction failed", None),
    ("RCPT TO: ann5.1.1@example.org: 554 no such user", None),
    ("", None),
])
def test_enhanced_status_is_the_first_code_in_the_reply(reply: str, expected: str | None) -> None:
    assert enhanced_status(reply) == expected


@pytest.mark.parametrize(("status", "expected"), [
    ("5.1.1", "hard"), ("5.1.10", "hard"), ("5.2.1", "hard"), ("5.4.4", "hard"),
    ("5.0.0", "hard"), (None, "hard"),
    ("5.2.2", "soft"), ("5.2.3", "soft"), ("5.2.4", "soft"), ("5.3.4", "soft"),
    ("5.5.0", "soft"), ("5.6.1", "soft"), ("5.7.1", "soft"), ("5.7.26", "soft"),
])
def test_bounce_type_follows_rfc_3463(status: str | None, expected: str) -> None:
    assert bounce_type(status) == expected


@pytest.mark.parametrize(("code", "reply", "expected"), [
    (550, UNKNOWN, RecipientOutcome(CC, "bounced", 550, UNKNOWN, "5.1.1", "hard")),
    (552, "5.2.2 Mailbox full",
     RecipientOutcome(CC, "bounced", 552, "5.2.2 Mailbox full", "5.2.2", "soft")),
    (553, "mailbox name not allowed",
     RecipientOutcome(CC, "bounced", 553, "mailbox name not allowed", None, "hard")),
    (450, "4.2.1 Try later", RecipientOutcome(CC, "failed", 450, "4.2.1 Try later", "4.2.1", "soft")),
])
def test_one_recipients_refusal(code: int, reply: str, expected: RecipientOutcome) -> None:
    assert refusal(CC, code, reply) == expected
