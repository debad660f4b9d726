"""What a BaluHost announces over mDNS, and the MAC the kernel knows for an address.

Anyone on the LAN can announce ``_baluhost._tcp``: every property is bounded and
checked, and whatever does not look like a BaluHost is refused (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
import re

from yarl import URL

from .wol import is_valid_mac

# BaluHost's network_discovery.py: properties version, hostname, api (its URL).
SERVICE_TYPE = "_baluhost._tcp.local."
# Longer values are no BaluHost's: its hostname is a DNS label, its version short.
MAX_PROPERTY = 255
_VERSION = re.compile(r"\d{1,4}(\.\d{1,4}){0,3}")
# One DNS label (RFC 1123); the NAS announces "<hostname>.local.".
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# The kernel's IPv4 neighbour table: "IP  HW-type  Flags  HW-address  Mask  Device".
_ARP_COMPLETE = 0x2
_ARP_FIELDS = 4
_MAX_PORT = 65535
MAX_NEIGHBOUR_TABLE = 1 << 20


@dataclass(frozen=True, slots=True)
class Announcement:
    """A BaluHost found on the LAN: where its API answers and what it calls itself."""

    hostname: str
    version: str
    url: str
    ip: str


def _text(properties: Mapping[str, object], key: str) -> str | None:
    """Return one property if it is a short string."""
    value = properties.get(key)
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_PROPERTY:
        return None
    return value


def parse_announcement(
    service_type: str,
    properties: Mapping[str, object],
    address: IPv4Address | IPv6Address,
    port: int | None,
) -> Announcement | None:
    """Return the NAS an announcement describes; None if it is not a BaluHost.

    The API is reached at the address and port the announcement resolved to
    (the ones mDNS keeps current); the ``api`` property gives only the scheme,
    and its host must be that address, or the announcement contradicts itself.
    """
    hostname = _text(properties, "hostname")
    version = _text(properties, "version")
    api = _text(properties, "api")
    if (
        service_type != SERVICE_TYPE
        or hostname is None
        or version is None
        or api is None
        or port is None
        or not 0 < port <= _MAX_PORT
        or _LABEL.fullmatch(hostname) is None
        or _VERSION.fullmatch(version) is None
    ):
        return None
    try:
        announced = URL(api)
        announced_host = ip_address(announced.host or "")
    except ValueError:
        return None
    if announced.scheme not in ("http", "https") or announced_host != address:
        return None
    url = URL.build(scheme=announced.scheme, host=str(address), port=port)
    return Announcement(
        hostname=hostname.lower(), version=version, url=str(url), ip=str(address)
    )


def neighbour_mac(table: str, ip: str) -> str | None:
    """Return the MAC the kernel's neighbour table (/proc/net/arp) holds for ip."""
    for line in table[:MAX_NEIGHBOUR_TABLE].splitlines()[1:]:
        fields = line.split()
        if len(fields) < _ARP_FIELDS or fields[0] != ip:
            continue
        try:
            complete = int(fields[2], 16) & _ARP_COMPLETE
        except ValueError:
            return None
        mac = fields[3].lower()
        return mac if complete and is_valid_mac(mac) else None
    return None


def moved_url(url: str, ip: str) -> str:
    """Return the entry's URL at a new address; a URL by name follows DNS itself.

    A name is kept: its certificate is issued for it, and the name resolves to
    the new address without BaluPi's help.
    """
    current = URL(url)
    try:
        ip_address(current.host or "")
    except ValueError:
        return url
    return str(current.with_host(ip)).rstrip("/")
