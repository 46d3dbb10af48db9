"""Sending-domain DNS: the records a domain must publish, and checking them with dnspython.

``verify`` never raises for DNS trouble: each record gets ``valid`` and a plain ``reason``.
A domain is verified when ownership, SPF and DKIM are valid; DMARC is only recommended, so
its absence is a warning that never blocks. After the first timeout the remaining records
are not looked up (the server is down), so one check costs at most one resolver lifetime.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.nameserver
import dns.resolver
import idna

LIFETIME = 3.0
TIMEOUT_REASON = "DNS server did not answer"
DMARC_MISSING = "DMARC record missing (recommended)"
_LABEL = re.compile(r"[a-z0-9-]{1,63}")
_DMARC = re.compile(r"v\s*=\s*DMARC1\s*(;|$)")


@dataclass(frozen=True)
class ExpectedRecord:
    """One record a domain must publish (``required``) or should publish."""

    purpose: str
    type: str
    host: str
    value: str
    match: str
    required: bool = True


@dataclass(frozen=True)
class RecordResult:
    """What the lookup of one expected record found."""

    purpose: str
    type: str
    host: str
    value: str
    valid: bool
    found: tuple[str, ...]
    reason: str | None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The record as the API shows it (spec §6)."""
        return {"purpose": self.purpose, "type": self.type, "host": self.host, "value": self.value,
                "valid": self.valid, "found": list(self.found), "reason": self.reason}


@dataclass(frozen=True)
class _Answer:
    texts: tuple[str, ...] = ()
    error: str | None = None
    absent: bool = False  # NXDOMAIN or no TXT: simply not published, as opposed to DNS trouble


def expected_records(domain: str, *, ownership_token: str, dkim_selector: str,
                     dkim_public_key_b64: str, spf_include: str) -> list[ExpectedRecord]:
    """The ownership, SPF, DKIM and DMARC records that ``domain`` should publish."""
    token = f"mailerlogic-verification={ownership_token}"
    dkim = f"v=DKIM1; k=rsa; p={dkim_public_key_b64}"
    return [
        ExpectedRecord("ownership", "TXT", f"_mailerlogic.{domain}", token, token),
        ExpectedRecord("spf", "TXT", domain, f"v=spf1 include:{spf_include} ~all", spf_include.lower()),
        ExpectedRecord("dkim", "TXT", f"{dkim_selector}._domainkey.{domain}", dkim, dkim_public_key_b64),
        ExpectedRecord("dmarc", "TXT", f"_dmarc.{domain}", "v=DMARC1; p=none", "v=DMARC1", False),
    ]


def verify(records: Iterable[ExpectedRecord], resolver: dns.resolver.Resolver) -> list[RecordResult]:
    """Look every record up now and say, for each, whether it is right and if not why."""
    results: list[RecordResult] = []
    down: _Answer | None = None
    for record in records:
        answer = down or _query(resolver, record.host)
        down = answer if answer.error == TIMEOUT_REASON else None
        results.append(_judge(record, answer))
    return results


def is_verified(results: Iterable[RecordResult]) -> bool:
    """True when every required record (ownership, SPF, DKIM) is valid; DMARC never blocks."""
    return all(result.valid for result in results if result.required)


def _query(resolver: dns.resolver.Resolver, host: str) -> _Answer:
    try:
        answer = resolver.resolve(dns.name.from_text(host), "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        return _Answer(error=f"NXDOMAIN: {host} does not exist", absent=True)
    except dns.resolver.NoAnswer:
        return _Answer(error=f"no TXT record at {host}", absent=True)
    except dns.exception.Timeout:
        return _Answer(error=TIMEOUT_REASON)
    except dns.resolver.NoNameservers:
        return _Answer(error=f"DNS server failed to answer for {host}")
    except dns.exception.DNSException as exc:
        return _Answer(error=f"DNS lookup of {host} failed: {exc}")
    # A TXT record is a list of strings of at most 255 bytes each; the value is their concatenation.
    return _Answer(texts=tuple(b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer))


def _judge(record: ExpectedRecord, answer: _Answer) -> RecordResult:
    if answer.error is None:
        valid, reason = _CHECKS[record.purpose](record, answer.texts)
    else:
        valid, reason = False, DMARC_MISSING if record.purpose == "dmarc" and answer.absent else answer.error
    return RecordResult(record.purpose, record.type, record.host, record.value, valid,
                        answer.texts, reason, record.required)


def _check_ownership(record: ExpectedRecord, texts: tuple[str, ...]) -> tuple[bool, str | None]:
    if record.match in (text.strip() for text in texts):
        return True, None
    return False, "verification token does not match"


def _check_spf(record: ExpectedRecord, texts: tuple[str, ...]) -> tuple[bool, str | None]:
    spf = [text.lower().split() for text in texts]
    spf = [terms for terms in spf if terms and terms[0] == "v=spf1"]
    if not spf:
        return False, f"no SPF record at {record.host}"
    if len(spf) > 1:
        return False, "more than one SPF record"  # RFC 7208 §4.5: a permanent error for receivers
    includes = {term.removeprefix("+").rstrip(".") for term in spf[0]}
    if f"include:{record.match}" in includes:
        return True, None
    return False, f"SPF record lacks include:{record.match}"


def _check_dkim(record: ExpectedRecord, texts: tuple[str, ...]) -> tuple[bool, str | None]:
    keys = [tags for tags in map(_dkim_tags, texts) if "p" in tags and tags.get("v", "DKIM1") == "DKIM1"]
    if not keys:
        return False, f"no DKIM record at {record.host}"
    if len(keys) > 1:
        return False, "more than one DKIM record"
    if keys[0]["p"] == record.match and keys[0].get("k", "rsa") == "rsa":
        return True, None
    return False, "DKIM key does not match"


def _dkim_tags(text: str) -> dict[str, str]:
    # RFC 6376 §3.2 tag list; folding white space may appear anywhere inside a base64 value.
    pairs = (part.partition("=") for part in text.split(";") if "=" in part)
    return {name.strip(): re.sub(r"\s+", "", value) for name, _, value in pairs}


def _check_dmarc(record: ExpectedRecord, texts: tuple[str, ...]) -> tuple[bool, str | None]:
    dmarc = [text for text in texts if _DMARC.match(text)]
    if not dmarc:
        return False, DMARC_MISSING
    if len(dmarc) > 1:
        return False, "more than one DMARC record"
    return True, None


_CHECKS: dict[str, Callable[[ExpectedRecord, tuple[str, ...]], tuple[bool, str | None]]] = {
    "ownership": _check_ownership, "spf": _check_spf, "dkim": _check_dkim, "dmarc": _check_dmarc,
}


def make_resolver(nameservers: str | None, *, lifetime: float = LIFETIME) -> dns.resolver.Resolver:
    """A resolver for ``DNS_NAMESERVERS`` (``ip[:port][,ip[:port]]``); None or blank: the system's."""
    if nameservers is None or not nameservers.strip():
        resolver = dns.resolver.Resolver(configure=True)
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [_nameserver(part) for part in nameservers.split(",")]
    resolver.search = []
    resolver.use_search_by_default = False
    resolver.cache = None  # verification must see what is published now
    resolver.lifetime = lifetime
    resolver.timeout = min(1.0, lifetime)
    return resolver


def _nameserver(part: str) -> dns.nameserver.Nameserver:
    text, port = part.strip(), "53"
    if text.startswith("["):
        text, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError(f"DNS_NAMESERVERS: {part.strip()!r} is not [ipv6]:port")
        port = rest[1:]
    elif text.count(":") == 1:
        text, port = text.split(":")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"DNS_NAMESERVERS: {part.strip()!r} is not ip[:port]") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"DNS_NAMESERVERS: bad port in {part.strip()!r}")
    return dns.nameserver.Do53Nameserver(str(address), int(port))


def normalise_domain(text: str) -> str:
    """The domain as an ASCII host name (IDN to A-labels, lowercase, no trailing dot); else ValueError."""
    name = text.strip().lower().removesuffix(".")
    try:
        name = name if name.isascii() else idna.encode(name, uts46=True).decode("ascii")
        _check_name(name)
    except (idna.IDNAError, ValueError) as exc:
        raise ValueError(f"not a valid domain name: {exc}") from None
    return name


def _check_name(name: str) -> None:
    if not name:
        raise ValueError("it is empty")
    labels = name.split(".")
    for label in labels:
        _check_label(label)
    if len(name) > 253:
        raise ValueError("longer than 253 characters")
    if len(labels) < 2:
        raise ValueError("it needs at least two labels, like example.com")
    if labels[-1].isdigit():
        raise ValueError("an IP address is not a domain name")


def _check_label(label: str) -> None:
    if not 1 <= len(label) <= 63:
        raise ValueError("each label must be 1 to 63 characters")
    if not _LABEL.fullmatch(label):
        raise ValueError(f"label {label[:63]!r} may only contain letters, digits and hyphens")
    if label.startswith("-") or label.endswith("-"):
        raise ValueError(f"label {label!r} may not start or end with a hyphen")
    if label.startswith("xn--"):
        idna.decode(label)  # an A-label must decode to a valid U-label
