from __future__ import annotations

import dns.nameserver
import pytest

from commands.domain_dns import make_resolver
from commands.domain_dns import normalise_domain

LONGEST = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters, the most a name may have


@pytest.mark.parametrize(("text", "expected"), [
    ("mail.example.com", "mail.example.com"),
    ("  Mail.Example.COM. ", "mail.example.com"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("BÜCHER.Example", "xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("straße.de", "xn--strae-oqa.de"),  # IDNA 2008: ß is kept, not mapped to ss
    ("münchen.bücher.example", "xn--mnchen-3ya.xn--bcher-kva.example"),
    ("a-b.c0.example", "a-b.c0.example"),
    ("a" * 63 + ".example", "a" * 63 + ".example"),
    (LONGEST, LONGEST),
])
def test_valid_names_are_normalised_to_ascii_lowercase(text: str, expected: str) -> None:
    assert normalise_domain(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "it is empty"),
    ("  .", "it is empty"),
    ("localhost", "at least two labels"),
    ("bücher", "at least two labels"),
    ("mail..example.com", "1 to 63 characters"),
    ("a" * 64 + ".example", "1 to 63 characters"),
    (LONGEST + "b", "longer than 253 characters"),
    ("-mail.example.com", "may not start or end with a hyphen"),
    ("mail-.example.com", "may not start or end with a hyphen"),
    ("mail_1.example.com", "may only contain letters, digits and hyphens"),
    ("mail example.com", "may only contain letters, digits and hyphens"),
    ("*.example.com", "may only contain letters, digits and hyphens"),
    ("http://example.com", "may only contain letters, digits and hyphens"),
    ("example.com/path", "may only contain letters, digits and hyphens"),
    ("192.0.2.1", "an IP address is not a domain name"),
    ("xn--zz.example", "not a valid domain name"),
    ("bü_cher.example", "not a valid domain name"),
    ("bücher-.example", "not a valid domain name"),
])
def test_invalid_names_raise_a_clear_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^not a valid domain name") as info:
        normalise_domain(text)
    assert message in str(info.value)


def _servers(value: str) -> list[tuple[str, int]]:
    resolver = make_resolver(value)
    return [(ns.address, ns.port) for ns in resolver.nameservers
            if isinstance(ns, dns.nameserver.Do53Nameserver)]


def test_nameservers_accept_ipv4_and_bracketed_ipv6_with_ports() -> None:
    assert _servers("127.0.0.1:5353, [::1]:5300,192.0.2.53,::1") == [
        ("127.0.0.1", 5353), ("::1", 5300), ("192.0.2.53", 53), ("::1", 53)]


@pytest.mark.parametrize("value", [
    "dns.example.com:53", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x",
    "[::1]", "[::1:53", "127.0.0.1,", "999.0.0.1",
])
def test_bad_nameservers_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="DNS_NAMESERVERS"):
        make_resolver(value)


def test_resolver_is_bounded_uncached_and_uses_no_search_domains() -> None:
    resolver = make_resolver("127.0.0.1:53", lifetime=2.0)
    assert (resolver.lifetime, resolver.timeout, resolver.cache) == (2.0, 1.0, None)
    assert resolver.search == [] and resolver.use_search_by_default is False


def test_no_nameservers_means_the_system_resolver() -> None:
    resolver = make_resolver(None)
    assert resolver.nameservers  # read from /etc/resolv.conf
    assert resolver.search == [] and resolver.lifetime == 3.0
