from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from email import message_from_bytes
from email import policy
from pathlib import Path

import pytest

from commands import reports
from commands.reports import Report
from commands.reports import ReportRejected
from event_store.errors import DomainError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"
POSTFIX_550 = Report(
    "bounce", "6f1c2b9e-3d4a-4b8e-9f2a-1c0d5e7a8b90", "jane.doe@example.org", "hard", 550, "5.1.1",
    "550 5.1.1 <jane.doe@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
    datetime(2024, 3, 15, 14, 30, 1, tzinfo=UTC), None,
)
SENDMAIL_422 = Report(
    "bounce", "0b8e4f6a-91c2-4d3e-8a7b-5c6d7e8f9a01", "full.box@example.net", "soft", 452, "4.2.2",
    "452 4.2.2 Mailbox full", datetime(2024, 3, 15, 14, 0, 2, tzinfo=UTC), None,
)
RFC5965_ABUSE = Report(
    "complaint", None, "user@example.com", None, None, None,
    "This is an email abuse report for an email message received from IP 192.0.2.1 on Thu, 8 Mar 2005 "
    "14:00:00 EDT. For more information about this format please see http://www.mipassoc.org/arf/.",
    datetime(2005, 3, 8, 18, 0, tzinfo=UTC), "abuse",
)
PROVIDER_ABUSE = Report(
    "complaint", "3c9d1e2f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "reader.one@mailbox.example", None, None, None,
    "This is an email abuse report for an email message from mailerlogic.test received from IP "
    "198.51.100.7 on Sat, 16 Mar 2024 09:05:10 +0000. The recipient marked it as spam.",
    datetime(2024, 3, 16, 9, 5, 10, tzinfo=UTC), "abuse",
)
DELIVERY_STATUS = b"""Reporting-MTA: dns; mx.mailerlogic.test
Original-Envelope-Id: 9a7b5c3d-1e2f-4a6b-8c0d-2e4f6a8b0c1d
Arrival-Date: Fri, 15 Mar 2024 14:30:01 +0000

Final-Recipient: rfc822; gone@example.org
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.
Last-Attempt-Date: Fri, 15 Mar 2024 14:30:03 +0000

Final-Recipient: rfc822; ok@example.org
Action: delivered
Status: 2.0.0

Final-Recipient: rfc822; slow@example.org
Action: failed
Status: 4.4.7
Diagnostic-Code: X-Postfix; delivery temporarily suspended: connect to
    mx.example.org[203.0.113.9]:25: Connection timed out

Final-Recipient: rfc822; <Greylisted@Example.org>
Action: delayed
Status: 4.7.1
Diagnostic-Code: smtp; 451 4.7.1 Greylisting in action, please come back later
"""


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def as_http(raw: bytes) -> tuple[str, bytes]:
    """Split a report email into what a relay POSTs: its Content-Type header and its MIME body."""
    head, _, body = raw.partition(b"\n\n")
    return str(message_from_bytes(head + b"\n\n", policy=policy.default)["Content-Type"]), body


def rejected(content_type: str, body: bytes, kind: reports.Kind = "bounce") -> tuple[str, int, str]:
    with pytest.raises(ReportRejected) as caught:
        reports.parse(content_type, body, kind)
    return caught.value.code, caught.value.status, caught.value.message


@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("postfix_550_user_unknown.eml", "bounce", POSTFIX_550),
    ("sendmail_422_mailbox_full_delayed.eml", "bounce", SENDMAIL_422),
    ("arf_rfc5965_example.eml", "complaint", RFC5965_ABUSE),
    ("arf_abuse_mailbox_provider.eml", "complaint", PROVIDER_ABUSE),
])
def test_real_reports_parse_alike_posted_bare_wrapped_or_with_crlf(name: str, kind: reports.Kind,
                                                                    expected: Report) -> None:
    raw = fixture(name)
    assert reports.parse(*as_http(raw), kind) == [expected]
    assert reports.parse("message/rfc822", raw, kind) == [expected]
    assert reports.parse("message/rfc822", raw.replace(b"\n", b"\r\n"), kind) == [expected]


def test_a_bare_delivery_status_body_yields_one_report_per_failed_or_delayed_recipient() -> None:
    envelope_id = "9a7b5c3d-1e2f-4a6b-8c0d-2e4f6a8b0c1d"
    arrival = datetime(2024, 3, 15, 14, 30, 1, tzinfo=UTC)
    assert reports.parse("message/delivery-status", DELIVERY_STATUS, "bounce") == [
        Report("bounce", envelope_id, "gone@example.org", "hard", 550, "5.1.1",
               "550-5.1.1 The email account that you tried to reach does not exist.",
               datetime(2024, 3, 15, 14, 30, 3, tzinfo=UTC), None),
        Report("bounce", envelope_id, "slow@example.org", "soft", None, "4.4.7",
               "delivery temporarily suspended: connect to mx.example.org[203.0.113.9]:25: "
               "Connection timed out",
               arrival, None),
        Report("bounce", envelope_id, "greylisted@example.org", "soft", 451, "4.7.1",
               "451 4.7.1 Greylisting in action, please come back later", arrival, None),
    ]


def test_a_dsn_with_only_successful_recipients_yields_nothing() -> None:
    body = b"Reporting-MTA: dns; mx.test\n\nFinal-Recipient: rfc822; ok@example.org\nAction: delivered\n"
    assert reports.parse("message/delivery-status", body, "bounce") == []


def test_an_arf_report_without_original_rcpt_to_uses_the_original_to_header() -> None:
    raw = fixture("arf_abuse_mailbox_provider.eml")
    raw = raw.replace(b"Original-Rcpt-To: <Reader.One@mailbox.example>\n", b"")
    found = reports.parse("message/rfc822", raw, "complaint")
    assert [r.recipient for r in found] == ["reader.one@mailbox.example"]


def test_json_bounces_fixture() -> None:
    assert reports.parse("application/json; charset=utf-8", fixture("bounces.json"), "bounce") == [
        Report("bounce", "6f1c2b9e-3d4a-4b8e-9f2a-1c0d5e7a8b90", "jane.doe@example.org", "hard", 550, None,
               "550 5.1.1 <jane.doe@example.org>: Recipient address rejected: User unknown",
               datetime(2024, 3, 15, 14, 30, 5, tzinfo=UTC), None),
        Report("bounce", None, "full.box@example.net", "soft", 452, None, "452 4.2.2 Mailbox full",
               datetime(2024, 3, 15, 14, 0, 2, tzinfo=UTC), None),
    ]


def test_a_json_complaint_defaults_to_abuse_and_accepts_a_message_id_header_value() -> None:
    body = json.dumps({"message_id": "<3C9D1E2F-4A5B-4C6D-8E7F-9A0B1C2D3E4F@acme.test>",
                       "recipient": "Reader.One@mailbox.example", "timestamp": "2024-03-16T10:05:10+01:00"})
    assert reports.parse("application/json", body.encode(), "complaint") == [
        Report("complaint", "3c9d1e2f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "reader.one@mailbox.example", None, None,
               None, "", datetime(2024, 3, 16, 9, 5, 10, tzinfo=UTC), "abuse"),
    ]


def test_report_id_is_the_sha256_of_the_canonical_fields_and_stable_across_reposts() -> None:
    canonical = ["bounce", "6f1c2b9e-3d4a-4b8e-9f2a-1c0d5e7a8b90", "jane.doe@example.org", "hard", 550,
                 "5.1.1", POSTFIX_550.diagnostic, "2024-03-15T14:30:01+00:00", None]
    expected = hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()
    first = reports.parse("message/rfc822", fixture("postfix_550_user_unknown.eml"), "bounce")[0]
    again = reports.parse(*as_http(fixture("postfix_550_user_unknown.eml")), "bounce")[0]
    assert first.report_id == again.report_id == expected
    assert SENDMAIL_422.report_id == "ef62db61fdba819ae4ce3605b58f73851879a45123127c2a63ef8eed0da3b98e"
    later = replace(SENDMAIL_422, occurred_at=datetime(2024, 3, 15, 18, 0, 2, tzinfo=UTC))
    assert later.report_id != SENDMAIL_422.report_id


def test_a_report_on_the_wrong_webhook_is_rejected() -> None:
    assert rejected("message/rfc822", fixture("arf_rfc5965_example.eml"), "bounce") == (
        "invalid_report", 400, "a feedback report belongs on the complaint webhook")
    assert rejected("message/rfc822", fixture("postfix_550_user_unknown.eml"), "complaint") == (
        "invalid_report", 400, "a delivery-status report belongs on the bounce webhook")


BOUNCE = {"recipient": "a@example.org", "type": "hard"}
BAD_CODE = "code must be an SMTP reply code such as 550"


def bounce(**fields: object) -> bytes:
    return json.dumps({**BOUNCE, **fields}).encode()


@pytest.mark.parametrize(("content_type", "body", "message"), [
    ("application/json", b"{not json", "the body is not valid JSON"),
    ("application/json", b"\xff\xfe", "the body is not valid JSON"),
    ("application/json", b"[]", "send between 1 and 1000 reports"),
    ("application/json", json.dumps([BOUNCE] * 1001).encode(), "send between 1 and 1000 reports"),
    ("application/json", b"[1]", "each report must be a JSON object"),
    ("application/json", b'{"type": "hard"}', "'' is not a recipient address"),
    ("application/json", bounce(recipient="not-an-email"), "'not-an-email' is not a recipient address"),
    ("application/json", bounce(type="medium"), "type must be hard or soft"),
    ("application/json", bounce(code="550"), BAD_CODE),
    ("application/json", bounce(code=True), BAD_CODE),
    ("application/json", bounce(code=999), BAD_CODE),
    ("application/json", bounce(message_id="m-1"), "message_id must be the email_id (a UUID)"),
    ("application/json", bounce(diagnostic=5), "diagnostic must be a string"),
    ("application/json", bounce(timestamp="yesterday"),
     "timestamp must be ISO 8601 (2024-03-15T14:30:00Z) or Unix seconds"),
    ("multipart/report; report-type=delivery-status", b"no boundary at all",
     "a multipart/report needs a message/delivery-status or message/feedback-report part"),
    ("multipart/report; boundary=b", b"--b\nContent-Type: text/plain\n\nhi\n--b--\n",
     "a multipart/report needs a message/delivery-status or message/feedback-report part"),
    ("message/delivery-status", b"Reporting-MTA: dns; mx.test\n",
     "the delivery-status part has no per-recipient fields"),
    ("message/delivery-status", b"Reporting-MTA: dns; x\n\nAction: failed\nStatus: 5.1.1\n",
     "'' is not a recipient address"),
    ("message/rfc822", b"Subject: hi\n\nhello", "the message is text/plain, not a multipart/report"),
    ("multipart/report\r\nX-Evil: 1; boundary=b", b"", "the Content-Type header is malformed"),
])
def test_malformed_bounce_reports_are_rejected(content_type: str, body: bytes, message: str) -> None:
    assert rejected(content_type, body) == ("invalid_report", 400, message)


def test_an_arf_report_without_a_feedback_type_is_rejected() -> None:
    raw = fixture("arf_rfc5965_example.eml").replace(b"Feedback-Type: abuse\n", b"")
    assert rejected("message/rfc822", raw, "complaint") == (
        "invalid_report", 400, "the feedback report has no valid Feedback-Type")


def test_an_unsupported_content_type_is_415() -> None:
    assert rejected("text/plain", b"bounce") == (
        "unsupported_media_type", 415,
        "send application/json, multipart/report, message/delivery-status or message/rfc822")


def test_only_a_dashed_uuid_in_the_original_message_id_counts_as_ours() -> None:
    raw = fixture("postfix_550_user_unknown.eml")
    ours = b"<6f1c2b9e-3d4a-4b8e-9f2a-1c0d5e7a8b90@acme.test>"
    foreign = raw.replace(ours, b"<6f1c2b9e3d4a4b8e9f2a1c0d5e7a8b90@mx.example>")
    assert reports.parse("message/rfc822", foreign, "bounce")[0].message_id is None
    assert reports.parse("application/json", bounce(message_id=""), "bounce")[0].message_id is None


def test_a_dsn_with_too_many_recipients_is_rejected_and_errors_are_domain_errors() -> None:
    block = b"\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n"
    assert rejected("message/delivery-status", b"Reporting-MTA: dns; x\n" + block * 1001) == (
        "invalid_report", 400, "at most 1000 recipients per report")
    assert issubclass(ReportRejected, DomainError)
