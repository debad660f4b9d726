"""Snapshot coordinator: holds what the NAS sent as it went offline."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from ..const import DOMAIN, ISSUE_UNKNOWN_SNAPSHOT
from ..issues import async_set_issue, quoted
from ..snapshot import SUPPORTED_VERSION, Snapshot
from .store import STORE_SNAPSHOT, entry_store

_LOGGER = logging.getLogger(__name__)

# A snapshot format version is a small number; a longer one is cut.
VERSION_SHOWN = 20


class SnapshotCoordinator(DataUpdateCoordinator[Snapshot | None]):
    """Hold the last snapshot the NAS sent; pushed by the handshake, never polled."""

    config_entry: ConfigEntry

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Create an empty holder; call async_load before use."""
        super().__init__(hass, _LOGGER, config_entry=entry, name=f"{DOMAIN} snapshot")
        self._store = entry_store(hass, entry.entry_id, STORE_SNAPSHOT)
        self.data = None

    async def async_load(self) -> None:
        """Restore the snapshot received before the last restart."""
        stored = await self._store.async_load()
        if not stored:
            return
        try:
            snapshot = Snapshot(
                base64.b64decode(stored["raw"], validate=True),
                stored["snapshot"],
                datetime.fromisoformat(stored["received_at"]),
            )
        except KeyError, TypeError, ValueError, binascii.Error:
            _LOGGER.warning("Stored NAS snapshot is unreadable and was ignored")
            return
        self.data = snapshot
        self._update_version_issue()

    async def async_receive(self, raw: bytes, data: dict[str, Any]) -> Snapshot:
        """Persist a new snapshot (atomically), then publish it."""
        snapshot = Snapshot(raw, data, dt_util.utcnow())
        await self._store.async_save(
            {
                "raw": base64.b64encode(raw).decode(),
                "snapshot": data,
                "received_at": snapshot.received_at.isoformat(),
            }
        )
        self.async_set_updated_data(snapshot)
        self._update_version_issue()
        return snapshot

    def _update_version_issue(self) -> None:
        """Raise a repair issue while the snapshot's format is unknown."""
        placeholders = None
        if (snapshot := self.data) is not None and not snapshot.supported:
            placeholders = {
                "version": quoted(str(snapshot.version)[:VERSION_SHOWN]),
                "supported": str(SUPPORTED_VERSION),
            }
        async_set_issue(
            self.hass, self.config_entry, ISSUE_UNKNOWN_SNAPSHOT, placeholders
        )
