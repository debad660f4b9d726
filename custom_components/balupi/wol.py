"""Wake-on-LAN sent from the event loop.

wakeonlan builds the packet; the send uses an asyncio datagram endpoint instead of
wakeonlan's blocking socket, so waking the NAS never needs an executor thread.
"""

from __future__ import annotations

import asyncio
import re

import wakeonlan

_MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


def is_valid_mac(mac: str) -> bool:
    """Return whether a MAC is in the normalised aa:bb:cc:dd:ee:ff form."""
    return _MAC_RE.fullmatch(mac) is not None


async def async_send_magic_packet(mac: str, address: str, port: int) -> None:
    """Send one magic packet (6 x FF + 16 x MAC) by UDP; raises OSError on failure."""
    packet = wakeonlan.create_magic_packet(mac)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=(address, port), allow_broadcast=True
    )
    try:
        transport.sendto(packet)
    finally:
        transport.close()
