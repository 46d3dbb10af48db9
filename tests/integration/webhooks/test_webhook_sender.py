"""The webhook sender against a real HTTP(S) receiver on loopback, and its SSRF guard.

Only 127.0.0.1 is ever connected to. The guard's refusals are checked through the interpreter's
``socket.connect`` audit events: a refused target must not open any connection at all.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from uuid import UUID

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from consumers.webhooks.payload import headers
from consumers.webhooks.sender import Attempt
from consumers.webhooks.sender import Resolver
from consumers.webhooks.sender import Sender
from consumers.webhooks.sender import Target
from consumers.webhooks.sender import TargetError
from consumers.webhooks.sender import resolve_target

SECRET = b"whsec_integration"
EVENT_ID = UUID("6f1c0d2e-0000-4000-8000-0000000000aa")
BODY = b'{"data":{"recipient":"ann@example.net"},"id":"6f1c0d2e","type":"email.delivered"}'
TIMESTAMP = 1773585005
HOOK_HOST = "hooks.customer.test"  # resolvable only through the tests' own resolver
ANSWERS = {"/ok": (200, b"thanks"), "/fail": (500, b"boom"), "/redirect": (302, b""),
           "/big": (200, b"x" * 10_000), "/empty": (204, b"")}


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Receiver:
    """What the loopback receiver recorded."""

    port: int
    requests: list[Received] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)  # SNI of each TLS handshake
    release: threading.Event = field(default_factory=threading.Event)  # ends /slow


class _Server(ThreadingHTTPServer):
    receiver: Receiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        receiver = self.server.receiver
        receiver.requests.append(Received(self.command, self.path, list(self.headers.items()), raw))
        if self.path == "/slow":
            receiver.release.wait(5)
        status, answer = ANSWERS.get(self.path.split("?")[0], (200, b"late"))
        try:
            self.send_response(status)
            if status == 302:
                self.send_header("Location", "/ok")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:
            pass  # the client gave up (the timeout test)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = receiver = Receiver(port=server.server_address[1])
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: receiver.server_names.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield receiver
    receiver.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A plain HTTP receiver on a free loopback port."""
    yield from _serve()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate (and key) for HOOK_HOST."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOOK_HOST)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOOK_HOST)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp_path_factory.mktemp("tls") / "hooks.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


@pytest.fixture
def tls_receiver(certificate: Path) -> Iterator[Receiver]:
    """An HTTPS receiver on loopback presenting the certificate of HOOK_HOST."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate)
    yield from _serve(context)


_WATCHING: list[list[object]] = []
_HOOKED: list[bool] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "socket.connect" and _WATCHING:
        _WATCHING[-1].append(args[1])


@pytest.fixture
def connections() -> Iterator[list[object]]:
    """The address of every socket.connect made during the test (audit hooks cannot be removed)."""
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED.append(True)
    seen: list[object] = []
    _WATCHING.append(seen)
    yield seen
    _WATCHING.remove(seen)


def static(table: dict[str, list[str]], calls: list[str] | None = None) -> Resolver:
    """A resolver answering from ``table`` (the names of the tests do not exist in DNS)."""

    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def post(sender: Sender, url: str) -> Attempt:
    return sender.post(url, BODY, headers(SECRET, EVENT_ID, TIMESTAMP, BODY))


LOOPBACK_OK = Sender(allow_private=True, read_timeout_s=2)


def test_a_2xx_is_ok_and_the_receiver_gets_the_exact_signed_request(receiver: Receiver) -> None:
    attempt = post(LOOPBACK_OK, f"http://127.0.0.1:{receiver.port}/ok?customer=7")

    assert (attempt.status_code, attempt.ok, attempt.error, attempt.response) == (200, True, "", "thanks")
    assert 0 <= attempt.duration_ms < 2000
    [request] = receiver.requests
    assert (request.method, request.path, request.body) == ("POST", "/ok?customer=7", BODY)
    assert len(request.headers) == len(dict(request.headers))  # no header twice
    assert dict(request.headers) == {
        "Host": f"127.0.0.1:{receiver.port}", "Accept-Encoding": "identity", "Connection": "close",
        "Content-Length": str(len(BODY)), "Content-Type": "application/json",
        "User-Agent": "MailerLogic-Webhooks/1", "X-MailerLogic-Event-Id": str(EVENT_ID),
        "X-MailerLogic-Timestamp": str(TIMESTAMP),
        "X-MailerLogic-Signature": "v1=" + hmac.new(SECRET, f"{TIMESTAMP}.".encode() + BODY,
                                                    hashlib.sha256).hexdigest(),
    }


def test_the_receiver_verifies_the_signature_from_the_headers_it_got(receiver: Receiver) -> None:
    post(LOOPBACK_OK, f"http://127.0.0.1:{receiver.port}/empty")

    [request] = receiver.requests
    got = dict(request.headers)
    expected = hmac.new(SECRET, got["X-MailerLogic-Timestamp"].encode() + b"." + request.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got["X-MailerLogic-Signature"], f"v1={expected}")


def test_a_500_is_not_ok_and_keeps_the_code(receiver: Receiver) -> None:
    attempt = post(LOOPBACK_OK, f"http://127.0.0.1:{receiver.port}/fail")

    assert (attempt.status_code, attempt.ok, attempt.error) == (500, False, "HTTP 500")
    assert attempt.response == "boom"


def test_a_redirect_is_a_failure_and_is_not_followed(receiver: Receiver) -> None:
    attempt = post(LOOPBACK_OK, f"http://127.0.0.1:{receiver.port}/redirect")

    assert (attempt.status_code, attempt.ok) == (302, False)
    assert attempt.error == "HTTP 302: redirects are not followed"
    assert [r.path for r in receiver.requests] == ["/redirect"]


def test_a_slow_receiver_times_out_with_no_status(receiver: Receiver) -> None:
    sender = Sender(allow_private=True, read_timeout_s=0.3)

    attempt = post(sender, f"http://127.0.0.1:{receiver.port}/slow")

    assert (attempt.status_code, attempt.ok) == (0, False)
    assert attempt.error == "no response: TimeoutError: timed out"
    assert 300 <= attempt.duration_ms < 3000
    assert [r.path for r in receiver.requests] == ["/slow"]


def test_only_the_first_bytes_of_a_long_answer_are_read(receiver: Receiver) -> None:
    attempt = post(LOOPBACK_OK, f"http://127.0.0.1:{receiver.port}/big")

    assert (attempt.status_code, attempt.ok, attempt.response) == (200, True, "x" * 4096)


def test_a_closed_port_is_a_failure_with_no_status() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    attempt = post(LOOPBACK_OK, f"http://127.0.0.1:{port}/ok")

    assert (attempt.status_code, attempt.ok) == (0, False)
    assert attempt.error.startswith("cannot connect: ConnectionRefusedError")


def test_loopback_is_refused_unless_the_operator_allows_private_targets(
        receiver: Receiver, connections: list[object]) -> None:
    refused = post(Sender(), f"http://127.0.0.1:{receiver.port}/ok")

    assert (refused.status_code, refused.ok, refused.error) == (0, False, "target address not allowed")
    assert connections == [] and receiver.requests == []
    assert post(Sender(allow_private=True), f"http://127.0.0.1:{receiver.port}/ok").ok
    assert connections == [("127.0.0.1", receiver.port)]


def test_the_checked_address_is_used_with_the_urls_host_in_the_host_header(receiver: Receiver) -> None:
    calls: list[str] = []
    sender = Sender(allow_private=True, resolver=static({HOOK_HOST: ["127.0.0.1"]}, calls))

    attempt = post(sender, f"http://{HOOK_HOST}:{receiver.port}/ok")

    assert attempt.ok
    assert calls == [HOOK_HOST]  # resolved once, by the guard; never again by the connection
    assert dict(receiver.requests[0].headers)["Host"] == f"{HOOK_HOST}:{receiver.port}"


def test_https_presents_the_urls_host_in_sni_and_checks_its_certificate(
        tls_receiver: Receiver, certificate: Path) -> None:
    client = ssl.create_default_context(cafile=str(certificate))
    resolver = static({HOOK_HOST: ["127.0.0.1"], "other.customer.test": ["127.0.0.1"]})
    sender = Sender(allow_private=True, resolver=resolver, ssl_context=client)

    attempt = post(sender, f"https://{HOOK_HOST}:{tls_receiver.port}/ok")
    wrong_name = post(sender, f"https://other.customer.test:{tls_receiver.port}/ok")

    assert (attempt.status_code, attempt.ok, attempt.response) == (200, True, "thanks")
    assert tls_receiver.server_names == [HOOK_HOST, "other.customer.test"]
    assert dict(tls_receiver.requests[0].headers)["Host"] == f"{HOOK_HOST}:{tls_receiver.port}"
    assert (wrong_name.status_code, wrong_name.ok) == (0, False)
    assert wrong_name.error.startswith("cannot connect: SSLCertVerificationError")
    assert len(tls_receiver.requests) == 1


PRIVATE_URLS = [
    "http://10.1.2.3/", "http://172.16.0.1/hook", "http://172.31.255.254/", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:8080/", "http://127.9.9.9/",
    "http://0.0.0.0/", "http://224.0.0.251/", "http://100.64.0.1/", "http://240.0.0.1/",
    "http://255.255.255.255/", "http://[::1]/", "http://[::]/", "http://[fc00::1]/",
    "https://[fd12:3456:789a::1]:8443/", "http://[fe80::1]/", "http://[ff02::1]/",
    "http://[::ffff:10.0.0.1]/", "http://[::ffff:127.0.0.1]/", "http://localhost/",
    "http://intranet.customer.test/", "http://mixed.customer.test/", "http://mixed-v6.customer.test/",
]
NAMES = static({
    "localhost": ["127.0.0.1", "::1"],
    "intranet.customer.test": ["10.20.30.40"],
    "mixed.customer.test": ["93.184.216.34", "192.168.0.10"],  # ANY private address refuses
    "mixed-v6.customer.test": ["2606:4700:4700::1111", "fd00::5"],
})


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_targets_are_refused_before_any_connection(url: str, connections: list[object]) -> None:
    with pytest.raises(TargetError, match="^target address not allowed$"):
        resolve_target(url, resolver=NAMES)
    attempt = post(Sender(resolver=NAMES), url)

    assert (attempt.status_code, attempt.ok, attempt.error) == (0, False, "target address not allowed")
    assert connections == []


def _no_lookup(host: str, port: int) -> list[str]:
    raise AssertionError(f"an IP literal was looked up: {host}")


@pytest.mark.parametrize("url", ["http://10.1.2.3/", "http://[::1]/", "http://[fc00::1]/",
                                 "http://169.254.169.254/"])
def test_ip_literals_are_judged_without_any_lookup(url: str, connections: list[object]) -> None:
    with pytest.raises(TargetError, match="^target address not allowed$"):
        resolve_target(url, resolver=_no_lookup)
    assert connections == []


@pytest.mark.parametrize("url", ["http://localhost/", "http://2130706433/", "http://0x7f.1/",
                                 "http://127.1/", "http://017700000001/"])
def test_the_system_resolver_answer_is_what_is_judged(url: str, connections: list[object]) -> None:
    with pytest.raises(TargetError, match="^target address not allowed$"):
        resolve_target(url)  # these names resolve locally (hosts file, numeric forms) to loopback
    assert connections == []


def test_public_targets_pass_the_guard() -> None:
    assert resolve_target("https://93.184.216.34:8443/hook?a=b") == Target(
        "https", "93.184.216.34", 8443, "/hook?a=b", ("93.184.216.34",))
    assert resolve_target("http://hooks.shop.test", resolver=static(
        {"hooks.shop.test": ["2606:4700:4700::1111", "1.1.1.1"]})) == Target(
        "http", "hooks.shop.test", 80, "/", ("2606:4700:4700::1111", "1.1.1.1"))


def test_the_operator_setting_lifts_the_address_check_only() -> None:
    assert resolve_target("http://10.1.2.3:9000/x", allow_private=True).addresses == ("10.1.2.3",)
    with pytest.raises(TargetError, match="only http and https"):
        resolve_target("ftp://10.1.2.3/", allow_private=True)


@pytest.mark.parametrize(("url", "error"), [
    ("ftp://93.184.216.34/", "only http and https URLs are allowed, not 'ftp'"),
    ("file:///etc/passwd", "only http and https URLs are allowed, not 'file'"),
    ("//93.184.216.34/", "only http and https URLs are allowed, not 'none'"),
    ("http:///no-host", "the URL needs a host and no credentials"),
    ("https://user:secret@93.184.216.34/", "the URL needs a host and no credentials"),
    ("http://93.184.216.34:99999/", "cannot resolve the URL's host: ValueError: Port out of range 0-65535"),
    ("http://unknown.customer.test/", "cannot resolve the URL's host: gaierror: [Errno -2] Name or service "
                                      "not known"),
])
def test_unusable_urls_are_refused_with_a_reason(url: str, error: str, connections: list[object]) -> None:
    attempt = post(Sender(resolver=NAMES), url)

    assert (attempt.status_code, attempt.ok, attempt.error) == (0, False, error)
    assert connections == []
