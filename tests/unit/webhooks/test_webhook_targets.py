"""The webhook address classifier and the registration check (issue 11 item 6).

IPv6 forms that carry an IPv4 address are judged by that address, whatever their own range.
"""

from __future__ import annotations

import ipaddress

import pytest

from consumers.webhooks.sender import is_allowed  # the delivery guard's name since before item 6
from consumers.webhooks.targets import Resolver
from consumers.webhooks.targets import address_problem
from consumers.webhooks.targets import check_webhook_url
from consumers.webhooks.targets import embedded_ipv4


def teredo(server: str, client: str) -> str:
    """A Teredo address: 2001:0::/32, the server, flags and port, then the client XOR 0xffffffff."""
    value = (0x20010000 << 96) | (int(ipaddress.IPv4Address(server)) << 64) | (0x8000 << 48) | (0x63BF << 32)
    return str(ipaddress.IPv6Address(value | (int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF)))


TEREDO_LOOPBACK = teredo("65.54.227.120", "127.0.0.1")
TEREDO_PUBLIC = teredo("65.54.227.120", "93.184.216.34")
REFUSED = [
    ("127.0.0.1", "127.0.0.1 is loopback"),
    ("127.9.9.9", "127.9.9.9 is loopback"),
    ("10.1.2.3", "10.1.2.3 is private"),
    ("172.16.0.1", "172.16.0.1 is private"),
    ("192.168.1.1", "192.168.1.1 is private"),
    ("169.254.169.254", "169.254.169.254 is link-local"),
    ("0.0.0.0", "0.0.0.0 is unspecified"),
    ("224.0.0.251", "224.0.0.251 is multicast"),
    ("100.64.0.1", "100.64.0.1 is not globally reachable"),
    ("192.0.0.8", "192.0.0.8 is an IETF protocol assignment"),
    ("192.88.99.1", "192.88.99.1 is the deprecated 6to4 relay anycast"),
    ("::1", "::1 is loopback"),
    ("::", ":: is unspecified"),
    ("fe80::1", "fe80::1 is link-local"),
    ("fd12:3456:789a::1", "fd12:3456:789a::1 is private"),
    ("fec0::1", "fec0::1 is site-local"),
    ("ff0e::1", "ff0e::1 is multicast"),
    ("3fff::1", "3fff::1 is for documentation"),
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1 is IPv4-mapped for 127.0.0.1, which is loopback"),
    ("::ffff:10.0.0.1", "::ffff:10.0.0.1 is IPv4-mapped for 10.0.0.1, which is private"),
    ("::ffff:0:7f00:1", "::ffff:0:7f00:1 is IPv4-translated for 127.0.0.1, which is loopback"),
    ("::127.0.0.1", "::7f00:1 is IPv4-compatible for 127.0.0.1, which is loopback"),
    ("2002:7f00:1::", "2002:7f00:1:: is 6to4 for 127.0.0.1, which is loopback"),
    ("2002:a9fe:a9fe::1", "2002:a9fe:a9fe::1 is 6to4 for 169.254.169.254, which is link-local"),
    (TEREDO_LOOPBACK, f"{TEREDO_LOOPBACK} is Teredo for 127.0.0.1, which is loopback"),
    (teredo("10.0.0.1", "93.184.216.34"), f"{teredo('10.0.0.1', '93.184.216.34')} is Teredo for 10.0.0.1, "
                                          "which is private"),  # a private Teredo server
    ("64:ff9b::7f00:1", "64:ff9b::7f00:1 is NAT64 for 127.0.0.1, which is loopback"),
    ("64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe is NAT64 for 169.254.169.254, which is link-local"),
    ("64:ff9b:1::7f00:1", "64:ff9b:1::7f00:1 is NAT64 for 127.0.0.1, which is loopback"),
    ("not-an-address", "'not-an-address' is not an IP address"),
]
ALLOWED = ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34", "2002:5db8:d822::1",
           TEREDO_PUBLIC, "64:ff9b::5db8:d822", "64:ff9b:1::5db8:d822", "::93.184.216.34"]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_non_global_addresses_are_refused_with_the_reason(address: str, reason: str) -> None:
    assert address_problem(address) == reason


@pytest.mark.parametrize("address", ALLOWED)
def test_global_addresses_and_forms_carrying_a_global_ipv4_are_allowed(address: str) -> None:
    assert address_problem(address) is None


@pytest.mark.parametrize(("address", "allowed"), [
    ("2002:7f00:1::", False), ("2002:0a00:0001::", False), ("2002:c0a8:0101::", False),
    ("64:ff9b::5db8:d822", True), (TEREDO_PUBLIC, True), ("2002:5db8:d822::1", True),
    ("::ffff:127.0.0.1", False), ("127.0.0.1", False), ("93.184.216.34", True)])
def test_the_delivery_guard_judges_embedded_ipv4_addresses(address: str, allowed: bool) -> None:
    assert is_allowed(address) is allowed


def test_the_embedded_ipv4_address_of_each_form() -> None:
    def of(text: str) -> tuple[str, list[str]]:
        form, inner = embedded_ipv4(ipaddress.IPv6Address(text))
        return form, [str(v4) for v4 in inner]

    assert of("::ffff:127.0.0.1") == ("IPv4-mapped", ["127.0.0.1"])
    assert of("2002:7f00:1::") == ("6to4", ["127.0.0.1"])
    assert of(TEREDO_LOOPBACK) == ("Teredo", ["65.54.227.120", "127.0.0.1"])
    assert of("64:ff9b::7f00:1") == ("NAT64", ["127.0.0.1"])
    assert of("::1") == of("::") == of("2606:4700:4700::1111") == ("", [])


def _names(table: dict[str, list[str]]) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]
    return resolve


NAMES = _names({"localhost": ["127.0.0.1", "::1"], "hooks.shop.test": ["93.184.216.34", "2606:4700::1"],
                "mixed.shop.test": ["93.184.216.34", "10.0.0.7"], "nat64.shop.test": ["64:ff9b::7f00:1"]})


@pytest.mark.parametrize(("url", "reason"), [
    ("https://127.0.0.1/h", "target address not allowed: 127.0.0.1 is loopback"),
    ("https://[::ffff:127.0.0.1]/h",
     "target address not allowed: ::ffff:127.0.0.1 is IPv4-mapped for 127.0.0.1, which is loopback"),
    ("https://localhost:8443/h", "target address not allowed: localhost resolves to 127.0.0.1, ::1; "
                                 "127.0.0.1 is loopback; ::1 is loopback"),
    ("https://mixed.shop.test/", "target address not allowed: mixed.shop.test resolves to 93.184.216.34, "
                                 "10.0.0.7; 10.0.0.7 is private"),
    ("https://nat64.shop.test/", "target address not allowed: nat64.shop.test resolves to 64:ff9b::7f00:1; "
                                 "64:ff9b::7f00:1 is NAT64 for 127.0.0.1, which is loopback"),
    ("http://93.184.216.34/h", "webhook URLs must use https"),
    ("https://user:pw@93.184.216.34/", "the URL needs a host and no credentials"),
    ("https://93.184.216.34:99999/", "cannot resolve the URL's host: ValueError: Port out of range 0-65535"),
])
def test_registration_refuses_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_webhook_url(url, resolver=NAMES)
    assert str(refused.value) == reason


@pytest.mark.parametrize("url", ["https://93.184.216.34/h", "https://hooks.shop.test/h",
                                 "https://[2606:4700:4700::1111]:8443/h", "HTTPS://hooks.shop.test/",
                                 "https://not-yet.shop.test/h"])  # unresolved: every delivery judges again
def test_registration_allows_public_https_targets(url: str) -> None:
    check_webhook_url(url, resolver=NAMES)


def test_the_operator_setting_lifts_the_https_and_address_rules_only() -> None:
    check_webhook_url("http://127.0.0.1:9/h", allow_private=True, resolver=NAMES)
    check_webhook_url("http://localhost/h", allow_private=True, resolver=NAMES)
    with pytest.raises(ValueError, match="^the URL needs a host and no credentials$"):
        check_webhook_url("http://u:p@127.0.0.1/", allow_private=True, resolver=NAMES)


def test_the_system_resolver_is_the_default() -> None:
    with pytest.raises(ValueError, match="^target address not allowed: localhost resolves to 127.0.0.1"):
        check_webhook_url("https://localhost/h")
