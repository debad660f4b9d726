"""Runtime data of a BaluPi config entry and the coordinators it holds.

Each coordinator has its module here; they import only the pure modules and
each other's classes, never this one, so the entry's data can name them all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN
from ..handshake import ReplayGuard
from .device import (
    DeviceCoordinator,
    EventsCoordinator,
    JobsCoordinator,
    SoftwareCoordinator,
)
from .dns import DnsCoordinator
from .inbox import InboxCoordinator
from .insights import InsightsCoordinator
from .nas import NasCoordinator
from .snapshot import SnapshotCoordinator

if TYPE_CHECKING:
    # python-kasa is loaded only for an entry with plugs.
    from .plugs import PlugCoordinator


@dataclass(slots=True)
class BalupiData:
    """Objects that live as long as the config entry is loaded."""

    nas: NasCoordinator
    snapshots: SnapshotCoordinator
    insights: InsightsCoordinator
    dns: DnsCoordinator | None = None
    inbox: InboxCoordinator | None = None
    # The awake NAS's live figures; only with an API key.
    device: DeviceCoordinator | None = None
    software: SoftwareCoordinator | None = None
    jobs: JobsCoordinator | None = None
    events: EventsCoordinator | None = None
    # Plug coordinators by subentry id.
    plugs: dict[str, PlugCoordinator] = field(default_factory=dict)
    # Two handshake calls at once are handled one after the other.
    handshake_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # What setup read from the entry: a change of it reloads the entry.
    loaded_with: tuple[object, ...] = ()


type BalupiConfigEntry = ConfigEntry[BalupiData]

# Accepted handshake signatures, for as long as Home Assistant runs: a reload
# (every options change) must not let a captured call be replayed.
DATA_REPLAY_GUARD: HassKey[ReplayGuard] = HassKey(f"{DOMAIN}_replay_guard")
