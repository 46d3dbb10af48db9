"""What the next hop's answer means for a message and each of its recipients (spec §3, step 3).

Pure: a transport :class:`~consumers.delivery.transport.Outcome` and the attempt number in,
a :class:`~consumers.delivery.ports.DeliveryResult` out. The rules, per recipient:

============================  ===========================================================
answer                        outcome
============================  ===========================================================
``2xx``                       ``delivered`` (the last hop we can see accepted it)
``5xx``, hard class           ``bounced``, ``bounce_type`` hard: the recipient is suppressed
``5xx``, soft class           ``bounced``, ``bounce_type`` soft: not suppressed, not retried
``4xx`` or no answer          retried on the policy (``deferred``), then ``failed`` (soft);
                              refused for now while others were accepted: ``failed`` at once
                              (a retry would send the message to the others again)
============================  ===========================================================

The class of a ``5xx`` comes from its RFC 3463 enhanced status code: soft are ``5.2.2``
(mailbox full), ``5.2.3`` (message too big for the mailbox), ``5.2.4`` (list expansion), and
the mail-system, content and policy subjects ``5.3.*``, ``5.5.*``, ``5.6.*``, ``5.7.*`` (the
message or our sending was refused, not the address); every other ``5.x.x``, and a ``5xx``
without an enhanced code, is hard. A whole message refused at ``MAIL FROM`` or ``DATA`` is
about its one recipient when it has one; with several, the server did not say whose fault it
was, so nobody is suppressed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from consumers.delivery.ports import DeliveryResult
from consumers.delivery.ports import RecipientOutcome

if TYPE_CHECKING:
    from consumers.delivery.transport import Outcome

_ENHANCED_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
SOFT_STATUSES = frozenset({"5.2.2", "5.2.3", "5.2.4"})
SOFT_SUBJECTS = frozenset({"3", "5", "6", "7"})


def enhanced_status(reply: str) -> str | None:
    """The first RFC 3463 ``class.subject.detail`` code in a reply text, if any."""
    found = _ENHANCED_STATUS.search(reply)
    return found.group(1) if found else None


def bounce_type(status: str | None) -> str:
    """``hard`` or ``soft`` for a ``5xx`` with this enhanced status (module docstring)."""
    if status is None or not status.startswith("5."):
        return "hard"
    if status in SOFT_STATUSES or status.split(".")[1] in SOFT_SUBJECTS:
        return "soft"
    return "hard"


def refusal(recipient: str, code: int, reply: str) -> RecipientOutcome:
    """One recipient's refusal: ``bounced`` (with its class) for a ``5xx``, else ``failed``."""
    status = enhanced_status(reply)
    if 500 <= code < 600:
        return RecipientOutcome(recipient, "bounced", code, reply, status, bounce_type(status))
    return RecipientOutcome(recipient, "failed", code, reply, status, "soft")


def judge(outcome: Outcome, recipients: list[str], retry_at: datetime | None) -> DeliveryResult:
    """The result of one attempt to ``recipients``; ``retry_at`` None: the policy gave up."""
    refused = tuple(refusal(rcpt, code, reply) for rcpt, code, reply in outcome.refused)
    if outcome.status == "sent":
        gone = {r.recipient for r in refused}
        return DeliveryResult("delivered", outcome.code, outcome.detail, refused=refused,
                              recipients=tuple(r for r in recipients if r not in gone))
    if outcome.status == "bounced":
        return _bounced(outcome, recipients, refused)
    bounced = tuple(r for r in refused if r.kind == "bounced")  # the 4xx ones are retried
    if retry_at is None:
        return DeliveryResult("failed", outcome.code, f"retry budget spent: {outcome.detail}",
                              refused=bounced)
    return DeliveryResult("deferred", outcome.code, outcome.detail, retry_at=retry_at,
                          refused=bounced)


def _bounced(outcome: Outcome, recipients: list[str], refused: tuple[RecipientOutcome, ...]
             ) -> DeliveryResult:
    if refused:  # every recipient refused with 5xx at RCPT: the first is the message's bounce
        first, rest = refused[0], refused[1:]
        return DeliveryResult("bounced", first.code, outcome.detail, status=first.status,
                              bounce_type=first.bounce_type, recipient=first.recipient, refused=rest)
    status = enhanced_status(outcome.detail)
    only = recipients[0] if len(recipients) == 1 else None
    return DeliveryResult("bounced", outcome.code, outcome.detail, status=status,
                          bounce_type=bounce_type(status), recipient=only)
