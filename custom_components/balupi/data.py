"""Runtime data of a BaluPi config entry."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .handshake import ReplayGuard

if TYPE_CHECKING:
    from .coordinator import NasCoordinator, SnapshotCoordinator
    from .dns import DnsCoordinator
    from .inbox import InboxCoordinator
    from .insight_coordinator import InsightsCoordinator
    from .plugs import PlugCoordinator


class DnsTarget(StrEnum):
    """Where the NAS's DNS name should point."""

    NAS = "nas"
    PI = "pi"


@dataclass(slots=True)
class BalupiData:
    """Objects that live as long as the config entry is loaded."""

    coordinator: NasCoordinator
    snapshots: SnapshotCoordinator
    insights: InsightsCoordinator
    dns: DnsCoordinator | None = None
    inbox: InboxCoordinator | None = None
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
