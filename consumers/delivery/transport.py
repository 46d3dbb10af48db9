"""Transports: hand rendered bytes to the next hop and classify the answer (spec §3, step 3).

Every transport returns an :class:`Outcome` and never raises for a delivery problem:

* ``sent``: the relay accepted the message with a 2xx for at least one recipient
  (recipients refused while others were accepted are listed in ``Outcome.refused``);
* ``bounced``: a 5xx for the sender, for every recipient or for the content (hard);
* ``deferred``: a 4xx, a timeout, a refused or dropped connection, a TLS failure, or a
  relay that refused our greeting or credentials (an operator problem, never the
  recipient's): retry with backoff.

``code`` is the SMTP reply code, or 0 when there was no reply at all.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from dataclasses import dataclass
from dataclasses import field
from mailbox import Maildir
from pathlib import Path
from typing import Literal
from typing import Protocol
from urllib.parse import unquote
from urllib.parse import urlsplit

Status = Literal["sent", "bounced", "deferred"]
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
_RELAY_SETUP_ERRORS = (smtplib.SMTPConnectError, smtplib.SMTPHeloError, smtplib.SMTPAuthenticationError)


@dataclass(frozen=True)
class Outcome:
    """What the next hop said about one message."""

    status: Status
    code: int
    detail: str
    refused: tuple[tuple[str, int, str], ...] = ()  # (recipient, code, reply) when partly sent


class Transport(Protocol):
    """Hands one rendered message to the next hop."""

    def deliver(self, envelope_from: str, recipients: list[str], message: bytes) -> Outcome:
        """Send ``message`` to ``recipients`` and classify the answer; never raises for SMTP/IO."""


def classify(code: int) -> Status:
    """2xx -> sent, 5xx -> bounced, anything else (4xx, no reply) -> deferred."""
    if 200 <= code < 300:
        return "sent"
    return "bounced" if 500 <= code < 600 else "deferred"


@dataclass(frozen=True)
class SmtpTransport:
    """An SMTP relay; STARTTLS when offered (except on loopback), or implicit TLS (smtps)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    implicit_tls: bool = False
    timeout_s: float = 30.0
    local_hostname: str | None = None  # EHLO name; None = the host's FQDN
    plain_on_loopback: bool = True  # a relay on this host needs no TLS (and rarely has a cert)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 30.0, local_hostname: str | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> SmtpTransport:
        """Parse ``smtp://[user:pass@]host[:port]`` or ``smtps://...`` (``SMTP_RELAY_URL``)."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an smtp:// or smtps:// URL with a host: {url!r}")
        return cls(
            host=parts.hostname, port=parts.port or DEFAULT_PORTS[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            implicit_tls=parts.scheme == "smtps", timeout_s=timeout_s,
            local_hostname=local_hostname, ssl_context=ssl_context,
        )

    def deliver(self, envelope_from: str, recipients: list[str], message: bytes) -> Outcome:
        """One SMTP transaction (module docstring); ValueError for no or non-ASCII addresses."""
        check_addresses(envelope_from, recipients)
        try:
            smtp = self.connect()
            try:
                return transaction(smtp, envelope_from, recipients, message)
            finally:
                quit_quietly(smtp)
        except Exception as error:  # noqa: BLE001 - outcome_of re-raises what is no SMTP/IO problem
            return outcome_of(error)

    def connect(self) -> smtplib.SMTP:
        """A new session, greeted, on TLS when due and authenticated; raises SMTP/IO errors."""
        smtp: smtplib.SMTP
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, self.local_hostname,
                                    timeout=self.timeout_s, context=self._tls_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, self.local_hostname, timeout=self.timeout_s)
        try:
            smtp.ehlo_or_helo_if_needed()
            if not self.implicit_tls and smtp.has_extn("starttls") and not self._plain():
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if self.username is not None:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _tls_context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()  # verifies the relay's name

    def _plain(self) -> bool:
        return self.plain_on_loopback and _is_loopback(self.host)


def check_addresses(envelope_from: str, recipients: list[str]) -> None:
    """ValueError unless there is a recipient and every address is ASCII (no SMTPUTF8 here)."""
    if not recipients or not all(a.isascii() for a in [envelope_from, *recipients]):
        raise ValueError(f"need ASCII addresses (no SMTPUTF8 here): {[envelope_from, *recipients]}")


def outcome_of(error: Exception) -> Outcome:
    """The outcome of a session or transaction that raised ``error``; re-raises anything else."""
    if isinstance(error, _RELAY_SETUP_ERRORS):
        return Outcome("deferred", max(error.smtp_code, 0), f"relay refused us: {_text(error)}")
    if isinstance(error, smtplib.SMTPResponseException):
        return Outcome(classify(error.smtp_code), error.smtp_code, _text(error))
    if isinstance(error, (smtplib.SMTPException, OSError)):  # OSError covers timeouts and TLS
        return Outcome("deferred", 0, f"{type(error).__name__}: {error}")
    raise error


def transaction(smtp: smtplib.SMTP, envelope_from: str, recipients: list[str],
                message: bytes) -> Outcome:
    """MAIL, RCPT for each recipient, DATA on an open session; refused recipients listed."""
    options = [f"SIZE={len(message)}"] if smtp.has_extn("size") else []
    code, reply = smtp.mail(envelope_from, options)
    if code != 250:
        return Outcome(classify(code), code, f"MAIL FROM: {code} {_decode(reply)}")
    refused: list[tuple[str, int, str]] = []
    for rcpt in recipients:
        code, reply = smtp.rcpt(rcpt)
        if code not in (250, 251):
            refused.append((rcpt, code, _decode(reply)))
    if len(refused) == len(recipients):
        return _all_refused(refused)
    code, reply = smtp.data(message)
    if code != 250:
        return Outcome(classify(code), code, f"DATA: {code} {_decode(reply)}")
    return Outcome("sent", code, f"{code} {_decode(reply)}", refused=tuple(refused))


def quit_quietly(smtp: smtplib.SMTP) -> None:
    """QUIT, or just close: the outcome is decided before, and a failing QUIT changes nothing."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _all_refused(refused: list[tuple[str, int, str]]) -> Outcome:
    # Any 4xx among them: a retry may still reach someone, so the message is deferred.
    codes = [code for _, code, _ in refused]
    temporary = [code for code in codes if classify(code) == "deferred"]
    code = temporary[0] if temporary else codes[0]
    detail = "; ".join(f"{rcpt}: {code} {reply}" for rcpt, code, reply in refused)
    return Outcome(classify(code), code, f"RCPT TO: {detail}", refused=tuple(refused))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _text(error: smtplib.SMTPResponseException) -> str:
    return f"{error.smtp_code} {_decode(error.smtp_error)}"


def _decode(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


@dataclass(frozen=True)
class MaildirTransport:
    """The embedded default: every message lands in a local Maildir a developer can read."""

    path: Path

    def _ensure(self) -> None:
        # Several delivery threads may store the first message at once: create the Maildir's
        # folders race-free instead of relying on mailbox's check-then-create.
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def deliver(self, envelope_from: str, recipients: list[str], message: bytes) -> Outcome:
        """Store the message with its envelope as ``Return-Path``/``X-Envelope-To``; always 250."""
        envelope = f"Return-Path: <{envelope_from}>\nX-Envelope-To: {', '.join(recipients)}\n"
        try:
            self._ensure()
            key = Maildir(self.path, create=False).add(
                envelope.encode("utf-8") + message.replace(b"\r\n", b"\n"))
        except OSError as error:
            return Outcome("deferred", 0, f"maildir {self.path}: {error}")
        return Outcome("sent", 250, f"250 stored in maildir as {key}")
