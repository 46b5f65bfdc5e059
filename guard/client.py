"""Who is the client: the one answer, for the pages and the API (Django), the stream hand-off
(the gunicorn worker), gRPC and the admin's login throttle (django-axes).

The client is the peer address of the connection, unless that peer is a trusted proxy
(`TRUSTED_PROXIES`: addresses or networks, none by default): then `X-Forwarded-For` is read
from its right end, skipping the trusted proxies that appended to it, and the first address
that is not one is the client. An entry a client wrote itself (the left part) is never taken
while a proxy's entry stands to its right, so a client cannot choose its address by sending
the header. Without a trusted proxy the header is ignored. Pure, but for reading the setting.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"  # a peer without an IP address (a Unix socket): one bucket for them all


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """`TRUSTED_PROXIES`'s entries as networks (an address is a network of one); ValueError
    names a bad entry."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


@lru_cache(maxsize=4)
def _trusted(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return networks(entries)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = (text or "").strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def is_trusted_proxy(peer: str | None) -> bool:
    """Whether the peer address is one of `TRUSTED_PROXIES`."""
    address = _address(peer)
    return address is not None and any(address in net for net in _trusted(tuple(settings.TRUSTED_PROXIES)))


def client_address(peer: str | None, forwarded_for: str | None, trusted: Iterable[str] | None = None) -> str:
    """The client's address for a connection from `peer` carrying `forwarded_for` (the
    X-Forwarded-For header's value, or None); `trusted` defaults to `TRUSTED_PROXIES`."""
    proxies = _trusted(tuple(settings.TRUSTED_PROXIES if trusted is None else trusted))
    address = _address(peer)
    if address is None:
        return UNKNOWN
    if not forwarded_for or not any(address in net for net in proxies):
        return str(address)
    for entry in reversed(forwarded_for.split(",")):
        hop = _address(entry)
        if hop is None:  # garbage where an address should be: the last proxy's peer is all we know
            return str(address)
        address = hop
        if not any(hop in net for net in proxies):
            return str(hop)
    return str(address)  # every hop a proxy of ours: the leftmost


def request_client(request) -> str:
    """The client of a Django request (WSGI's REMOTE_ADDR, X-Forwarded-For)."""
    meta = request.META
    return client_address(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR"))


def axes_client_ip(request, *args) -> str:
    """django-axes' AXES_CLIENT_IP_CALLABLE: the login throttle counts by the same address."""
    return request_client(request)


def grpc_client(peer: str, metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The client of a gRPC call: its peer (`ipv4:1.2.3.4:5678`, `ipv6:[::1]:5678`) and its
    `x-forwarded-for` metadata."""
    kind, _, rest = peer.partition(":")
    host = rest if kind in ("ipv4", "ipv6") else ""
    if kind == "ipv6" and not host.startswith("["):
        host = host.rsplit(":", 1)[0]
    forwarded = None
    for key, value in metadata or ():
        if key.lower() == "x-forwarded-for":
            forwarded = value.decode() if isinstance(value, bytes) else value
    return client_address(host, forwarded)
