"""Wake button of the NAS device."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BalupiConfigEntry
from .entity import BalupiInboxEntity, BalupiNasEntity

# Sends a packet to the LAN: one press at a time.
PARALLEL_UPDATES = 1

WAKE = ButtonEntityDescription(key="wake", translation_key="wake")
FLUSH_INBOX = ButtonEntityDescription(key="flush_inbox", translation_key="flush_inbox")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the wake button, and the flush button with an inbox."""
    async_add_entities([WakeButton(entry.runtime_data.nas, WAKE)])
    if (inbox := entry.runtime_data.inbox) is not None:
        async_add_entities([FlushInboxButton(inbox, FLUSH_INBOX)])


class WakeButton(BalupiNasEntity, ButtonEntity):
    """Wake the NAS with Wake-on-LAN."""

    async def async_press(self) -> None:
        """Send the magic packet."""
        await self.coordinator.async_wake()


class FlushInboxButton(BalupiInboxEntity, ButtonEntity):
    """Move the inbox to the NAS now."""

    async def async_press(self) -> None:
        """Start a flush in the background; the flush sensors show its outcome."""
        self.coordinator.async_check_nas_online()
        self.coordinator.async_start_flush()
