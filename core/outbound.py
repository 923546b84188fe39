"""Outbound address checks that stop fulfilment hooks from reaching internal services.

Only globally reachable addresses may be called. Python's ``is_global`` follows the IANA
special-purpose registries, but its tables differ between Python releases, so the ranges
that are not globally reachable are also listed here; and an IPv6 address that embeds an
IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) is judged by the IPv4
address it leads to as well.
"""

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
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ranges the IANA special-purpose address registries mark as not globally reachable,
# plus multicast and the deprecated transition prefixes.
NOT_GLOBAL: tuple[Network, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # this network
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local (cloud metadata services)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments (192.0.0.8 and friends)
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast address
        "::/96",  # unspecified, loopback and IPv4-compatible (deprecated)
        "::ffff:0:0/96",  # IPv4-mapped
        "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) among them
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)

NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

MAX_RESPONSE_BYTES = 1024 * 1024


class OutboundRefused(Denied):
    """The destination is not allowed; the message says why."""


@dataclass(frozen=True)
class OutboundPolicy:
    allowed_networks: tuple[Network, ...] = ()
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
        for embedded in embedded_ipv4(address):
            if not is_public(embedded):
                raise OutboundRefused(
                    f"{host} resolves to {address}, which leads to {embedded}, a private or "
                    "internal address; allow it with SERVICEBAY_FULFILMENT_ALLOWED_NETWORKS"
                )
        if not is_public(address):
            raise OutboundRefused(
                f"{host} resolves to {address}, a private or internal address; "
                "allow it with SERVICEBAY_FULFILMENT_ALLOWED_NETWORKS"
            )


def is_public(address: IPAddress) -> bool:
    """Whether the address is globally reachable and a single host (not multicast)."""
    if not address.is_global or address.is_multicast:
        return False
    if address.is_reserved and address not in NAT64:
        return False
    return not any(address in network for network in NOT_GLOBAL)


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for, by each transition scheme."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found
