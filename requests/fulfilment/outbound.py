"""Outbound address checks live in the kernel (``servicebay.core.outbound``)."""

from servicebay.core.outbound import IPAddress, OutboundPolicy, OutboundRefused

__all__ = ["IPAddress", "OutboundPolicy", "OutboundRefused"]
