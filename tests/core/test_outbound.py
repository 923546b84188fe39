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
