"""BaluPi: the Raspberry Pi that looks after a sleeping NAS."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN
from .coordinator import (
    NasCoordinator,
    SnapshotCoordinator,
    lifecycle_store,
    snapshot_store,
)
from .data import BalupiConfigEntry, BalupiData
from .services import async_setup_services
from .views import async_register_views

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.SENSOR]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register actions and views once; both look up their entry per call."""
    async_setup_services(hass)
    async_register_views(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: BalupiConfigEntry) -> bool:
    """Start watching the NAS.

    The first heartbeat never fails setup: a sleeping NAS is the normal case.
    """
    coordinator = NasCoordinator(hass, entry)
    snapshots = SnapshotCoordinator(hass, entry)
    await snapshots.async_load()
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = BalupiData(coordinator, snapshots)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: BalupiConfigEntry) -> bool:
    """Stop watching the NAS; the coordinator shuts itself down with the entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: BalupiConfigEntry) -> None:
    """Delete what was persisted for a removed entry."""
    await lifecycle_store(hass, entry.entry_id).async_remove()
    await snapshot_store(hass, entry.entry_id).async_remove()
