"""Where webhooks may go: the SSRF guard used at registration and before every delivery attempt.

Address rule (:func:`address_problem`): only a globally reachable unicast address. Refused:
unspecified, loopback, private, link-local, multicast, reserved, shared (100.64/10), site-local
and whatever else is not global (the IANA special-purpose registries, plus :data:`_NOT_GLOBAL`
for ranges this Python's :mod:`ipaddress` misses). IPv6 forms that carry an IPv4 address are
judged by that address: IPv4-mapped ``::ffff:0:0/96``, IPv4-translated ``::ffff:0:0:0/96``,
IPv4-compatible ``::/96`` (but ``::`` and ``::1``), NAT64 ``64:ff9b::/96`` and the local-use
``64:ff9b:1::/48`` (the IPv4 address in the low 32 bits, as a /96 NAT64 prefix puts it), 6to4
``2002::/16`` (bits 16-48) and Teredo ``2001::/32`` (its server and its client, both must pass).

URL rule (:func:`resolve_target`, before each delivery): http(s) without credentials; the host
resolved once; if ANY address fails the rule the target is refused. The sender connects only
to those checked addresses (no DNS rebinding). :func:`check_webhook_url` is the registration
check: also https only, and a host that does not resolve (yet) is accepted, because every
delivery attempt is judged again. ``allow_private`` (the operator's
``MAILERLOGIC_WEBHOOKS_ALLOW_PRIVATE``; tests deliver to loopback with it) lifts the address
rule and the https rule, nothing else.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

NOT_ALLOWED = "target address not allowed"
DEFAULT_PORTS = {"http": 80, "https": 443}
Resolver = Callable[[str, int], list[str]]
IP = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Not global, though ``is_global`` says so on some Python versions.
_NOT_GLOBAL = {ipaddress.ip_network(net): why for net, why in [
    ("192.0.0.0/24", "an IETF protocol assignment"), ("192.88.99.0/24", "the deprecated 6to4 relay anycast"),
    ("fec0::/10", "site-local"), ("3fff::/20", "for documentation")]}
_CATEGORIES = [("is_unspecified", "unspecified"), ("is_loopback", "loopback"),
               ("is_link_local", "link-local"), ("is_multicast", "multicast"), ("is_private", "private"),
               ("is_reserved", "reserved")]
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class TargetError(ValueError):
    """A URL the sender will not or cannot connect to; the message becomes the error."""


class AddressNotAllowed(TargetError):
    """The host has an address webhooks may not go to; ``detail`` says which and why."""

    def __init__(self, detail: str) -> None:
        super().__init__(NOT_ALLOWED)
        self.detail = detail


class HostUnresolved(TargetError):
    """The host has no address right now (unknown name, resolver failure)."""


@dataclass(frozen=True)
class Target:
    """A checked destination: connect to ``addresses``, present ``host`` as the server name."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address of ``host`` from the system resolver (no lookup for an IP literal)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address stands for, and the form's name; ``("", [])`` for none."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", [ip.ipv4_mapped]
    if ip in _TRANSLATED:
        return "IPv4-translated", [low32]
    if ip in _COMPATIBLE and int(ip) > 1:  # :: and ::1 are themselves
        return "IPv4-compatible", [low32]
    if any(ip in prefix for prefix in _NAT64):
        return "NAT64", [low32]
    if ip.sixtofour is not None:
        return "6to4", [ip.sixtofour]
    if ip.teredo is not None:
        return "Teredo", list(ip.teredo)  # server, client
    return "", []


def _category(ip: IP) -> str | None:
    found = next((name for attribute, name in _CATEGORIES if getattr(ip, attribute)), None)
    if found is None and isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        found = "site-local"
    found = found or next((why for net, why in _NOT_GLOBAL.items() if ip in net), None)
    return found or (None if ip.is_global else "not globally reachable")


def address_problem(address: str) -> str | None:
    """Why webhooks may not go to ``address`` (a sentence), or None when they may."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        form, inner = embedded_ipv4(ip)
        for v4 in inner:
            if (why := _category(v4)) is not None:
                return f"{_show(ip)} is {form} for {v4}, which is {why}"
        if form:
            return None  # judged by the IPv4 address it carries, not by its own range
    why = _category(ip)
    return None if why is None else f"{_show(ip)} is {why}"


def _show(ip: IP) -> str:
    """The address as text, IPv4-mapped ones dotted on every Python version."""
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return f"::ffff:{mapped}" if mapped is not None else str(ip)


def is_allowed(address: str) -> bool:
    """True for a public unicast address that webhooks may be sent to."""
    return address_problem(address) is None


def resolve_target(url: str, *, allow_private: bool = False,
                   resolver: Resolver = system_resolver) -> Target:
    """Parse, resolve once and check ``url``; raises TargetError (module docstring)."""
    try:
        parts = urlsplit(url)
    except ValueError as error:  # e.g. an unclosed [IPv6] bracket
        raise TargetError(f"the URL is malformed: {_text(error)}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise TargetError(f"only http and https URLs are allowed, not {parts.scheme or 'none'!r}")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise TargetError("the URL needs a host and no credentials")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except (UnicodeError, ValueError) as error:
        raise TargetError(f"cannot resolve the URL's host: {_text(error)}") from None
    try:
        addresses = _literal(host) or tuple(resolver(host, port))
    except (OSError, UnicodeError, ValueError) as error:
        raise HostUnresolved(f"cannot resolve the URL's host: {_text(error)}") from None
    if not addresses:
        raise HostUnresolved(f"{host} has no address")
    problems = [] if allow_private else [p for a in addresses if (p := address_problem(a)) is not None]
    if problems:
        named = "" if _literal(host) else f"{host} resolves to {', '.join(addresses)}; "
        raise AddressNotAllowed(f"{NOT_ALLOWED}: {named}{'; '.join(problems)}")
    path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return Target(parts.scheme, host, port, path, addresses)


def check_webhook_url(url: str, *, allow_private: bool = False, resolver: Resolver = system_resolver) -> None:
    """Raise TargetError with the reason unless a webhook may be registered to ``url`` (module docstring)."""
    if not allow_private and not url.lower().startswith("https://"):
        raise TargetError("webhook URLs must use https")
    try:
        resolve_target(url, allow_private=allow_private, resolver=resolver)
    except HostUnresolved:
        return  # nothing to judge yet: each delivery attempt resolves and judges again
    except AddressNotAllowed as refused:
        raise TargetError(refused.detail) from None


def _literal(host: str) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host)),)  # an IP literal needs no resolver
    except ValueError:
        return ()


def _text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
