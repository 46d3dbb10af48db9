from __future__ import annotations

import time
from uuid import uuid4

import dns.message
import dns.query
import pytest

from commands.domain_dns import DMARC_MISSING
from commands.domain_dns import TIMEOUT_REASON
from commands.domain_dns import ExpectedRecord
from commands.domain_dns import RecordResult
from commands.domain_dns import expected_records
from commands.domain_dns import is_verified
from commands.domain_dns import make_resolver
from commands.domain_dns import verify
from security import dkim_keys
from security.dkim_keys import KeyPair
from tests.support.dns_server import DnsServer
from tests.support.dns_server import closed_port

pytestmark = pytest.mark.dns

SPF_INCLUDE = "spf.mailerlogic.test"
SELECTOR = "ml202611"
TOKEN = "6f1c0e9a2b"


@pytest.fixture
def domain() -> str:
    return f"m{uuid4().hex[:10]}.example.com"


@pytest.fixture
def records(domain: str, dkim_key: KeyPair) -> list[ExpectedRecord]:
    return expected_records(domain, ownership_token=TOKEN, dkim_selector=SELECTOR,
                            dkim_public_key_b64=dkim_key.public_key_b64, spf_include=SPF_INCLUDE)


@pytest.fixture
def published(dns_server: DnsServer, domain: str, dkim_key: KeyPair) -> DnsServer:
    """The domain publishes every record right, beside unrelated records as real zones do."""
    dns_server.zone.update({
        domain: [("A", "192.0.2.10"), ("MX", f"10 mx.{domain}."),
                 ("TXT", "google-site-verification=abc123"),
                 ("TXT", f"v=spf1 ip4:192.0.2.0/24 include:{SPF_INCLUDE} ~all")],
        f"_mailerlogic.{domain}": [("TXT", f"mailerlogic-verification={TOKEN}")],
        f"{SELECTOR}._domainkey.{domain}": [("TXT", f"v=DKIM1; k=rsa; p={dkim_key.public_key_b64}")],
        f"_dmarc.{domain}": [("TXT", f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{domain}")],
    })
    return dns_server


def check(server: DnsServer, records: list[ExpectedRecord]) -> dict[str, RecordResult]:
    return {result.purpose: result for result in verify(records, make_resolver(server.nameservers))}


def reasons(results: dict[str, RecordResult]) -> dict[str, str | None]:
    return {purpose: result.reason for purpose, result in results.items()}


def test_all_records_published_is_verified(published: DnsServer, domain: str, dkim_key: KeyPair,
                                          records: list[ExpectedRecord]) -> None:
    results = check(published, records)
    assert is_verified(results.values())
    assert reasons(results) == {"ownership": None, "spf": None, "dkim": None, "dmarc": None}
    assert results["dkim"].to_dict() == {
        "purpose": "dkim", "type": "TXT", "host": f"{SELECTOR}._domainkey.{domain}",
        "value": f"v=DKIM1; k=rsa; p={dkim_key.public_key_b64}", "valid": True,
        "found": [f"v=DKIM1; k=rsa; p={dkim_key.public_key_b64}"], "reason": None}
    assert results["ownership"].to_dict()["value"] == f"mailerlogic-verification={TOKEN}"
    assert results["spf"].value == f"v=spf1 include:{SPF_INCLUDE} ~all"


def test_nothing_published_is_nxdomain_for_each_record(dns_server: DnsServer, domain: str,
                                                       records: list[ExpectedRecord]) -> None:
    results = check(dns_server, records)
    assert not is_verified(results.values())
    assert reasons(results) == {
        "ownership": f"NXDOMAIN: _mailerlogic.{domain} does not exist",
        "spf": f"NXDOMAIN: {domain} does not exist",
        "dkim": f"NXDOMAIN: {SELECTOR}._domainkey.{domain} does not exist",
        "dmarc": DMARC_MISSING,
    }
    assert [result.found for result in results.values()] == [(), (), (), ()]


def test_a_name_without_txt_records_says_so(published: DnsServer, domain: str,
                                            records: list[ExpectedRecord]) -> None:
    published.zone[f"_mailerlogic.{domain}"] = [("A", "192.0.2.10")]
    published.zone[domain] = [("A", "192.0.2.10")]
    results = check(published, records)
    assert results["ownership"].reason == f"no TXT record at _mailerlogic.{domain}"
    assert results["spf"].reason == f"no TXT record at {domain}"
    assert not is_verified(results.values())


def test_a_wrong_ownership_token_is_refused(published: DnsServer, domain: str,
                                            records: list[ExpectedRecord]) -> None:
    published.zone[f"_mailerlogic.{domain}"] = [("TXT", "mailerlogic-verification=someone-else")]
    results = check(published, records)
    assert (results["ownership"].valid, results["ownership"].reason) == (
        False, "verification token does not match")
    assert results["ownership"].found == ("mailerlogic-verification=someone-else",)


def test_spf_without_our_include(published: DnsServer, domain: str, records: list[ExpectedRecord]) -> None:
    published.zone[domain] = [("TXT", "v=spf1 include:_spf.google.com -all")]
    results = check(published, records)
    assert results["spf"].reason == f"SPF record lacks include:{SPF_INCLUDE}"
    assert results["spf"].found == ("v=spf1 include:_spf.google.com -all",)
    assert not is_verified(results.values())


def test_two_spf_records_are_an_error(published: DnsServer, domain: str,
                                      records: list[ExpectedRecord]) -> None:
    published.zone[domain].append(("TXT", "v=spf1 include:_spf.google.com ~all"))
    results = check(published, records)
    assert results["spf"].reason == "more than one SPF record"
    assert not is_verified(results.values())


def test_txt_records_but_no_spf(published: DnsServer, domain: str, records: list[ExpectedRecord]) -> None:
    published.zone[domain] = [("TXT", "google-site-verification=abc123")]
    assert check(published, records)["spf"].reason == f"no SPF record at {domain}"


def test_a_different_dkim_key_does_not_match(published: DnsServer, domain: str,
                                             records: list[ExpectedRecord]) -> None:
    other = dkim_keys.generate().public_key_b64
    published.zone[f"{SELECTOR}._domainkey.{domain}"] = [("TXT", f"v=DKIM1; k=rsa; p={other}")]
    results = check(published, records)
    assert (results["dkim"].valid, results["dkim"].reason) == (False, "DKIM key does not match")
    assert not is_verified(results.values())


def test_a_dkim_key_split_across_strings_still_matches(published: DnsServer, domain: str,
                                                       dkim_key: KeyPair,
                                                       records: list[ExpectedRecord]) -> None:
    host = f"{SELECTOR}._domainkey.{domain}"
    key = dkim_key.public_key_b64
    # As a DNS host's form often publishes it: folded with white space inside the key.
    published.zone[host] = [("TXT", f"v=DKIM1;  k=rsa;\tp={key[:200]} {key[200:]}")]
    query = dns.message.make_query(host, "TXT")
    answer = dns.query.tcp(query, "127.0.0.1", port=published.port, timeout=2)
    assert len(answer.answer[0][0].strings) > 1  # the server split it as real DNS does
    results = check(published, records)
    assert (results["dkim"].valid, results["dkim"].reason) == (True, None)


def test_a_big_apex_answer_comes_over_tcp(published: DnsServer, domain: str,
                                          records: list[ExpectedRecord]) -> None:
    published.zone[domain] += [("TXT", f"site-verification-{n}={'x' * 120}") for n in range(6)]
    assert check(published, records)["spf"].valid
    assert (domain, "TXT", "udp") in published.queries and (domain, "TXT", "tcp") in published.queries


def test_missing_dmarc_is_a_warning_only(published: DnsServer, domain: str,
                                         records: list[ExpectedRecord]) -> None:
    del published.zone[f"_dmarc.{domain}"]
    results = check(published, records)
    assert (results["dmarc"].valid, results["dmarc"].reason) == (False, DMARC_MISSING)
    assert is_verified(results.values())


def test_a_dmarc_name_without_a_dmarc_record_is_missing(published: DnsServer, domain: str,
                                                        records: list[ExpectedRecord]) -> None:
    published.zone[f"_dmarc.{domain}"] = [("TXT", "hello")]
    assert check(published, records)["dmarc"].reason == DMARC_MISSING


def test_two_dmarc_records_are_reported_but_do_not_block(published: DnsServer, domain: str,
                                                         records: list[ExpectedRecord]) -> None:
    published.zone[f"_dmarc.{domain}"].append(("TXT", "v=DMARC1; p=none"))
    results = check(published, records)
    assert results["dmarc"].reason == "more than one DMARC record"
    assert is_verified(results.values())


def test_verify_sees_a_record_as_soon_as_it_is_published(published: DnsServer, domain: str,
                                                         dkim_key: KeyPair,
                                                         records: list[ExpectedRecord]) -> None:
    host = f"{SELECTOR}._domainkey.{domain}"
    published.zone[host] = []
    resolver = make_resolver(published.nameservers)
    assert not is_verified(verify(records, resolver))
    published.zone[host] = [("TXT", f"v=DKIM1; k=rsa; p={dkim_key.public_key_b64}")]
    assert is_verified(verify(records, resolver))


def test_a_server_that_never_answers_times_out_within_the_lifetime(records: list[ExpectedRecord]) -> None:
    resolver = make_resolver(f"127.0.0.1:{closed_port()}", lifetime=1.0)
    started = time.monotonic()
    results = verify(records, resolver)
    elapsed = time.monotonic() - started
    assert [result.reason for result in results] == [TIMEOUT_REASON] * 4
    assert not is_verified(results)
    assert elapsed < 1.0 + 1.0  # one lifetime (plus one last try), not one per record
