"""Where an entry keeps what must survive a restart: one file per concern."""

from __future__ import annotations

from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from ..const import DOMAIN, STORAGE_VERSION

# The concerns that keep a file; the NAS lifecycle's has no suffix, as it had
# before the others existed.
STORE_LIFECYCLE: Final = ""
STORE_SNAPSHOT: Final = "snapshot"
STORE_INBOX: Final = "inbox"
STORE_INSIGHTS: Final = "insights"
STORE_DNS: Final = "dns"
STORE_DEVICE: Final = "device"
# Removed with the entry; the DNS store goes with its Pi-hole (async_remove_dns).
ENTRY_STORES: Final = (
    STORE_LIFECYCLE,
    STORE_SNAPSHOT,
    STORE_INBOX,
    STORE_INSIGHTS,
    STORE_DEVICE,
)


def store_key(entry_id: str, key: str) -> str:
    """Return the storage key of one of an entry's files."""
    return f"{DOMAIN}.{entry_id}" + (f".{key}" if key else "")


def entry_store(hass: HomeAssistant, entry_id: str, key: str) -> Store[dict[str, Any]]:
    """Return one of an entry's stores, written atomically."""
    return Store(hass, STORAGE_VERSION, store_key(entry_id, key), atomic_writes=True)
