"""Wake button of the NAS device."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import BalupiConfigEntry
from .entity import BalupiNasEntity

# Sends a packet to the LAN: one press at a time.
PARALLEL_UPDATES = 1

WAKE = ButtonEntityDescription(key="wake", translation_key="wake")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the wake button."""
    async_add_entities([WakeButton(entry.runtime_data.coordinator, WAKE)])


class WakeButton(BalupiNasEntity, ButtonEntity):
    """Wake the NAS with Wake-on-LAN."""

    async def async_press(self) -> None:
        """Send the magic packet."""
        await self.coordinator.async_wake()
