"""Outbound address checks that stop fulfilment hooks from reaching internal services."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from servicebay.core.errors import Denied

if TYPE_CHECKING:
    from servicebay.core.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_RESPONSE_BYTES = 1024 * 1024


class OutboundRefused(Denied):
    """The destination is not allowed; the message says why."""


@dataclass(frozen=True)
class OutboundPolicy:
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    max_response_bytes: int = MAX_RESPONSE_BYTES  # read no more of an answer than this

    @classmethod
    def from_lists(
        cls, networks: list[str], hosts: list[str], *, max_response_bytes: int = MAX_RESPONSE_BYTES
    ) -> OutboundPolicy:
        return cls(
            allowed_networks=tuple(ipaddress.ip_network(n, strict=False) for n in networks),
            allowed_hosts=tuple(h.lower() for h in hosts),
            max_response_bytes=max_response_bytes,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        """The policy every outbound fulfilment call follows, dry runs included."""
        return cls.from_lists(
            settings.fulfilment_allowed_networks,
            settings.fulfilment_allowed_hosts,
            max_response_bytes=settings.fulfilment_max_response_bytes,
        )

    def resolve(self, url: str) -> IPAddress:
        """Resolve the URL's host now and return an address it may be sent to."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundRefused(f"only http and https URLs are allowed, not {url!r}")
        host = parts.hostname.lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise OutboundRefused(f"cannot resolve {host}: {error.strerror}") from error
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        for address in addresses:
            self._check(host, address)
        return addresses[0]

    def _check(self, host: str, address: IPAddress) -> None:
        if host in self.allowed_hosts:
            return
        if any(address in network for network in self.allowed_networks):
            return
        if (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        ):
            raise OutboundRefused(
                f"{host} resolves to {address}, a private or internal address; "
                "allow it with SERVICEBAY_FULFILMENT_ALLOWED_NETWORKS"
            )
