"""The SSRF guard: internal addresses are refused unless configuration allows them."""

from __future__ import annotations

import pytest

from servicebay.core.outbound import OutboundPolicy, OutboundRefused


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://224.0.0.1/hook",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "http://localhost/hook",
    ],
)
def test_internal_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(OutboundRefused, match="private or internal address"):
        OutboundPolicy().resolve(url)


def test_allowed_networks_and_hosts_open_exactly_what_they_name() -> None:
    policy = OutboundPolicy.from_lists(["10.20.0.0/16"], ["localhost"])
    assert str(policy.resolve("http://10.20.5.6/hook")) == "10.20.5.6"
    assert policy.resolve("http://localhost:9000/hook").is_loopback
    with pytest.raises(OutboundRefused):
        policy.resolve("http://10.21.0.1/hook")
    with pytest.raises(OutboundRefused):
        policy.resolve("http://127.0.0.1/hook")


def test_only_http_and_https_urls_are_called() -> None:
    for url in ("file:///etc/passwd", "gopher://example.com/", "ftp://example.com/x"):
        with pytest.raises(OutboundRefused, match="only http and https"):
            OutboundPolicy().resolve(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://100.64.0.1/hook",  # shared address space (carrier-grade NAT)
        "http://100.127.255.254/hook",
        "http://192.0.0.8/hook",  # IETF protocol assignment
        "http://192.0.0.170/hook",
        "http://198.18.0.1/hook",  # benchmarking
        "http://192.0.2.10/hook",  # documentation
        "http://240.0.0.1/hook",  # reserved
        "http://255.255.255.255/hook",  # broadcast
        "http://[fc00::1]/hook",  # unique local
        "http://[fec0::1]/hook",  # site-local
        "http://[2001:db8::1]/hook",  # documentation
        "http://[ff0e::1]/hook",  # global-scope multicast
        "http://[100::1]/hook",  # discard-only
    ],
)
def test_every_address_that_is_not_globally_reachable_is_refused(url: str) -> None:
    with pytest.raises(OutboundRefused, match="private or internal address"):
        OutboundPolicy().resolve(url)


@pytest.mark.parametrize(
    ("url", "leads_to"),
    [
        ("http://[::ffff:127.0.0.1]/hook", "127.0.0.1"),  # IPv4-mapped
        ("http://[::ffff:10.0.0.1]/hook", "10.0.0.1"),
        ("http://[::7f00:1]/hook", "127.0.0.1"),  # IPv4-compatible
        ("http://[2002:7f00:1::]/hook", "127.0.0.1"),  # 6to4
        ("http://[2002:a9fe:a9fe::1]/hook", "169.254.169.254"),
        ("http://[64:ff9b::7f00:1]/hook", "127.0.0.1"),  # NAT64
        ("http://[64:ff9b::a9fe:a9fe]/hook", "169.254.169.254"),
        ("http://[64:ff9b::6440:1]/hook", "100.64.0.1"),
        # Teredo: server 65.54.227.120, client 192.168.0.1 (stored inverted)
        ("http://[2001:0:4136:e378:8000:63bf:3f57:fffe]/hook", "192.168.0.1"),
    ],
)
def test_ipv6_addresses_that_embed_an_internal_ipv4_address_are_refused(
    url: str, leads_to: str
) -> None:
    with pytest.raises(OutboundRefused, match=f"leads to {leads_to}, a private or internal"):
        OutboundPolicy().resolve(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hook",
        "http://[2606:4700:4700::1111]/hook",
        "http://[64:ff9b::5db8:d70e]/hook",  # NAT64 of a public IPv4 address
    ],
)
def test_globally_reachable_addresses_are_allowed(url: str) -> None:
    assert OutboundPolicy().resolve(url).is_global
