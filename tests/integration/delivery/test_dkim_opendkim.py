"""OpenDKIM's own verifier (``opendkim-testmsg`` of Debian's opendkim-tools) accepts what we sign.

``opendkim-testmsg`` has no option for a name server or a test key: libopendkim asks glibc's
resolver, which reads ``/etc/resolv.conf`` and always uses port 53. So each run happens in a
private mount namespace (``unshare --mount``) whose ``/etc/resolv.conf`` names our loopback DNS
server, bound on port 53 of a 127/8 address of its own; nothing outside the namespace changes.
That needs root (CAP_SYS_ADMIN and a low port), as the services scripts run here.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from dnslib.server import TCPServer
from dnslib.server import UDPServer

from consumers.delivery.render import OutboundMessage
from consumers.delivery.render import render
from consumers.delivery.signing import DkimSigner
from tests.support import dns_server
from tests.support.delivery import DkimKey
from tests.support.delivery import PlainTracking

pytestmark = pytest.mark.dns

DOMAIN, SELECTOR = "acme.test", "ml2026"
EX_SOFTWARE = 70  # opendkim-testmsg's exit status when dkim_eom() fails
BAD_SIGNATURE = b"opendkim-testmsg: dkim_eom(): Bad signature\n"
MISSING = ("{} is missing: install Debian's opendkim-tools (`scripts/services.sh start` does, "
           "or `apt-get install -y opendkim-tools`)")


@dataclass(frozen=True)
class OpenDkim:
    """``opendkim-testmsg`` in verify mode, resolving through ``dns`` only."""

    command: list[str]
    dns: dns_server.DnsServer

    def verify(self, data: bytes) -> tuple[int, bytes, bytes]:
        """(exit status, stdout, stderr) of verifying ``data``: ``(0, b"", b"")`` is a pass."""
        done = subprocess.run(self.command, input=data, capture_output=True, timeout=60, check=False)
        return done.returncode, done.stdout, done.stderr


def _tool(name: str) -> str:
    path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if path is None:
        pytest.fail(MISSING.format(name), pytrace=False)
    return path


def _port_53_server(zone: dns_server.Zone) -> dns_server.DnsServer:
    """The shared test DNS server, but on port 53 of a random 127/8 address (resolv.conf has no port)."""
    def bind_53(host: str) -> list[Any]:
        # The shared server's own handler: it truncates big UDP answers, so TXT goes over TCP.
        udp = UDPServer((host, 53), dns_server._Handler)
        try:
            return [udp, TCPServer((host, 53), dns_server._Handler)]
        except OSError:
            udp.server_close()
            raise

    for _ in range(5):
        host = f"127.53.{random.randrange(1, 255)}.{random.randrange(1, 255)}"
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(dns_server, "_bind_pair", bind_53)
            try:
                return dns_server.DnsServer(zone, host=host).start()
            except PermissionError:
                pytest.fail("binding DNS port 53 on loopback needs root (or CAP_NET_BIND_SERVICE)",
                            pytrace=False)
            except OSError:  # that address is taken: try another
                continue
    pytest.fail("no free 127.53.x.y address for a DNS server on port 53", pytrace=False)


@pytest.fixture(scope="module")
def opendkim(dkim_key: DkimKey, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenDkim]:
    """The verifier, with ``dkim_key`` published at ml2026._domainkey.acme.test."""
    testmsg, unshare = _tool("opendkim-testmsg"), _tool("unshare")
    dns = _port_53_server({f"{SELECTOR}._domainkey.{DOMAIN}": [("TXT", dkim_key.txt_record.decode())]})
    resolv = Path(tmp_path_factory.mktemp("opendkim")) / "resolv.conf"
    resolv.write_text(f"nameserver {dns.host}\noptions timeout:2 attempts:2\n")
    command = [unshare, "--mount", "--propagation", "private", "sh", "-c",
               'mount --bind "$1" /etc/resolv.conf && exec "$2"', "sh", str(resolv), testmsg]
    probe = subprocess.run([unshare, "--mount", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        dns.stop()
        pytest.fail(f"unshare --mount failed (needs root): {probe.stderr.decode().strip()}", pytrace=False)
    yield OpenDkim(command, dns)
    dns.stop()


def outbound(**fields: Any) -> OutboundMessage:
    """A message from acme.test as the API would queue it."""
    base: dict[str, Any] = dict(
        message_id=UUID("7d0c2a51-3f4e-4b6a-8c9d-0e1f2a3b4c5d"), from_address="Acme News <news@acme.test>",
        to=("ann@example.test",), subject="Hello", domain=DOMAIN,
        queued_at=datetime(2026, 3, 15, 14, 30, 5, tzinfo=UTC), unsubscribe_mailto="unsubscribe@acme.test",
    )
    return OutboundMessage(**{**base, **fields})


MESSAGES = {
    "text": outbound(text="Hi Ann,\n\nthe spring sale starts today.\n\n-- \nAcme\n"),
    "html and text, tracked": outbound(
        html='<html><body><p>Hi <a href="https://acme.test/sale?a=1&b=2">sale</a></p></body></html>',
        text="Hi, see https://acme.test/sale?a=1&b=2", track_opens=True, track_clicks=True),
    "UTF-8 subject, folded headers": outbound(
        subject="Héllo wörld: ünïcode süßigkeiten — a subject long enough to fold over several lines",
        to=tuple(f"Reader Number {n} <reader{n}@example.test>" for n in range(6)),
        headers={"X-Campaign": "spring-2026 " * 12}, text="Grüße aus Köln\n"),
}
RAW_EDGES = (b"From: Ann <ann@acme.test> \t\r\nTo:  bob@example.test\r\nSubject: Hello\r\n\t  folded  \r\n"
             b"Date: Sun, 15 Mar 2026 14:30:05 +0000\r\n\r\n  a \t run\t\r\n\r\nend of text  ")


@pytest.mark.parametrize("name", MESSAGES)
def test_opendkim_verifies_what_we_render_and_sign(opendkim: OpenDkim, dkim_key: DkimKey, name: str) -> None:
    data = render(MESSAGES[name], PlainTracking(), dkim=DkimSigner(DOMAIN, SELECTOR, dkim_key.private_pem))

    assert opendkim.verify(data) == (0, b"", b"")
    assert {(name, kind) for name, kind, _ in opendkim.dns.queries} == {
        (f"{SELECTOR}._domainkey.{DOMAIN}", "TXT")}


def test_opendkim_agrees_on_relaxed_canonicalization_edges(opendkim: OpenDkim, dkim_key: DkimKey) -> None:
    # Trailing and repeated WSP in headers and body, and an unterminated last line ending in WSP,
    # which SMTP's DATA ends with CRLF (alone, OpenDKIM would hash it without WSP or CRLF).
    data = DkimSigner(DOMAIN, SELECTOR, dkim_key.private_pem).sign(RAW_EDGES)

    assert opendkim.verify(data + b"\r\n") == (0, b"", b"")


@pytest.mark.parametrize(("old", "new"), [
    (b"the spring sale starts today.", b"the spring sale starts tomorrow."),
    (b"\r\nSubject: Hello\r\n", b"\r\nSubject: Hellp\r\n"),
], ids=["body", "subject"])
def test_opendkim_rejects_a_tampered_message(opendkim: OpenDkim, dkim_key: DkimKey, old: bytes,
                                             new: bytes) -> None:
    data = render(MESSAGES["text"], PlainTracking(), dkim=DkimSigner(DOMAIN, SELECTOR, dkim_key.private_pem))
    assert old in data

    assert opendkim.verify(data.replace(old, new, 1)) == (EX_SOFTWARE, b"", BAD_SIGNATURE)
