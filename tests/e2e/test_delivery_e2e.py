"""Delivery end to end over HTTP: send, the relay (or the Maildir) receives signed, tracked mail,
its links count, and the statistics are exact."""

from __future__ import annotations

import email
import http.client
import mailbox
import re
import signal
from email.message import EmailMessage
from email.policy import default
from html import unescape
from pathlib import Path
from typing import Any

import dkim
import pytest

from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for
from tests.support.smtp_server import start_smtp_server

pytestmark = pytest.mark.e2e

SALE = "https://acme.test/sale?a=1&b=2"
HTML = f'<html><body><p>Spring is here: <a href="{SALE.replace("&", "&amp;")}">the sale</a></p></body></html>'
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0"
# Takes effect once Settings carries MAILERLOGIC_RETRY_SCHEDULE; the waits allow the default (60 s).
RETRY_SCHEDULE = "first=1,factor=2,max=2,budget=30"


def _send_tracked(stack: Stack, key: str, to: str) -> str:
    return stack.send(key, to, html=HTML, text=f"The sale: {SALE}", track_opens=True, track_clicks=True)


def _dnsfunc(stack: Stack, key: str) -> Any:
    """A dkimpy DNS lookup answering with the DKIM record the API tells the customer to publish."""
    _, body = stack.request("GET", "/api/customer/domains", key=key)
    records = {r["host"]: r["value"] for d in body["domains"] for r in d["dns_records"]
               if r["purpose"] == "dkim"}
    assert len(records) == 1

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name.decode().rstrip("."), "").encode()

    return lookup


def _parse(data: bytes) -> EmailMessage:
    mail = email.message_from_bytes(data, policy=default)
    assert isinstance(mail, EmailMessage)
    return mail


def _check_mail(stack: Stack, key: str, data: bytes, message_id: str) -> EmailMessage:
    """Headers of the contract and a DKIM signature that verifies with the customer's key."""
    mail = _parse(data)
    assert mail["Message-ID"] == f"<{message_id}@acme.test>"
    assert re.fullmatch(rf"<{re.escape(stack.base)}/track/u/[\w.-]+>", mail["List-Unsubscribe"])
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert dkim.verify(data, dnsfunc=_dnsfunc(stack, key)) is True
    return mail


def _follow_links(stack: Stack, mail: EmailMessage) -> None:
    """Fetch the pixel and follow the click link exactly as they are in the delivered HTML."""
    html = mail.get_body(("html",)).get_content()
    [click] = [unescape(u) for u in re.findall(r'href="([^"]+)"', html)]
    [pixel] = [unescape(u) for u in re.findall(r'<img src="([^"]+)"', html)]
    assert click.startswith(f"{stack.base}/track/c/") and pixel.startswith(f"{stack.base}/track/o/")
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    try:
        for url, expected in ((click, 302), (pixel, 200)):
            conn.request("GET", url.removeprefix(stack.base), headers={"User-Agent": BROWSER})
            response = conn.getresponse()
            response.read()
            assert response.status == expected, url
            if expected == 302:
                assert response.getheader("Location") == SALE
    finally:
        conn.close()


def _settle(stack: Stack, key: str, expected: dict[str, int]) -> None:
    wait_for(lambda: {k: stack.stats(key)[k] for k in expected} == expected, f"totals {expected}",
             seconds=60, every=0.5)


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.clickhouse
@pytest.mark.smtp
def test_real_services_deliver_defer_and_bounce_through_the_relay(real_stack: Stack) -> None:
    smtp = start_smtp_server()
    try:
        smtp.fail_next(1)  # the first message to reach DATA is deferred, then sent on its retry
        real_stack.start("delivery", "consume", "delivery",
                         env={"SMTP_RELAY_URL": smtp.url, "MAILERLOGIC_RETRY_SCHEDULE": RETRY_SCHEDULE})
        key = real_stack.create_customer("Acme", "acme.test")
        ann = _send_tracked(real_stack, key, "ann@example.org")
        real_stack.send(key, "bo@example.org")
        real_stack.send(key, "reject-cy@example.org")

        wait_for(lambda: len(smtp.received) == 2, "ann's and bo's mail at the relay", seconds=150)
        by_rcpt = {r.rcpt_tos: r for r in smtp.received}
        assert sorted(by_rcpt) == [("ann@example.org",), ("bo@example.org",)]
        assert smtp.handler.transactions == 3  # one 451 at DATA, then two accepted
        mail = _check_mail(real_stack, key, by_rcpt[("ann@example.org",)].data, ann)
        assert by_rcpt[("ann@example.org",)].mail_from == "noreply@acme.test"
        _follow_links(real_stack, mail)

        _settle(real_stack, key, {"sent": 3, "delivered": 2, "bounced": 1, "failed": 0, "opens": 1,
                                "clicks": 1})
        assert len(smtp.received) == 2  # nothing was handed over twice
        delivery = real_stack.procs.pop("delivery")
        delivery.send_signal(signal.SIGTERM)
        assert delivery.wait(timeout=20) == 0  # SIGTERM: finish, commit, exit cleanly
    finally:
        smtp.stop()


@pytest.mark.chdb
def test_embedded_default_writes_signed_tracked_mail_to_the_maildir(embedded_stack: Stack) -> None:
    key = embedded_stack.create_customer("Acme", "acme.test")
    ann = _send_tracked(embedded_stack, key, "ann@example.org")
    bo = embedded_stack.send(key, "bo@example.org")
    maildir = Path(embedded_stack.env["MAILERLOGIC_DATA_DIR"]) / "maildir"

    def stored() -> dict[str, bytes] | None:
        if not maildir.exists():
            return None
        box = mailbox.Maildir(maildir, create=False)
        found = {_parse(box.get_bytes(k))["Message-ID"]: box.get_bytes(k) for k in box.keys()}
        return found if len(found) == 2 else None

    found = wait_for(stored, "two messages in the Maildir", seconds=60)
    assert sorted(found) == sorted([f"<{ann}@acme.test>", f"<{bo}@acme.test>"])
    ann_data = found[f"<{ann}@acme.test>"]
    assert ann_data.startswith(b"Return-Path: <noreply@acme.test>\nX-Envelope-To: ann@example.org\n")
    _follow_links(embedded_stack, _check_mail(embedded_stack, key, ann_data, ann))

    _settle(embedded_stack, key, {"sent": 2, "delivered": 2, "bounced": 0, "failed": 0, "opens": 1,
                                    "clicks": 1})


@pytest.mark.chdb
@pytest.mark.smtp
def test_run_all_with_two_delivery_processes_delivers_each_message_once(tmp_path: Path) -> None:
    stack = Stack({"MAILERLOGIC_DATA_DIR": str(tmp_path / "data")}, tmp_path)
    stack.env = {k: v for k, v in stack.env.items()
                 if k not in ("EVENT_STORE_URL", "CLICKHOUSE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    smtp = start_smtp_server()
    try:
        stack.start("all", "run-all", env={"SMTP_RELAY_URL": smtp.url, "MAILERLOGIC_DELIVERY_PROCESSES": "2",
                                           "MAILERLOGIC_DELIVERY_SESSIONS": "2"})
        stack.wait_healthy()
        key = stack.create_customer("Acme", "acme.test")
        ids = [stack.send(key, f"r{n}@example.org") for n in range(24)]

        wait_for(lambda: len(smtp.received) == 24, "24 messages at the relay", seconds=90)
        _settle(stack, key, {"sent": 24, "delivered": 24, "bounced": 0, "failed": 0})
        got = sorted(_parse(r.data)["Message-ID"] for r in smtp.received)
        assert got == sorted(f"<{i}@acme.test>" for i in ids)
        log = (tmp_path / "all.log").read_text(errors="replace")
        shards = {m.group(1) for m in re.finditer(r"consuming the log as (delivery-\dof2)", log)}
        assert shards == {"delivery-1of2", "delivery-2of2"}
        pids = [int(p) for p in re.findall(r"delivery shard \d/2: started, pid (\d+)", log)]
        assert len(pids) == 2
        process = stack.procs.pop("all")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)  # its status is chdb's at exit (see the issue notes), not ours
        assert [Path(f"/proc/{pid}").exists() for pid in pids] == [False, False]  # shards stopped too
        stopped = (tmp_path / "all.log").read_text(errors="replace")
        assert stopped.count("signal 15: stopping") == 3  # run-all and both shards got SIGTERM
        assert len(smtp.received) == 24
    finally:
        stack.stop_all()
        smtp.stop()
