"""Wake, sleep and suspend buttons of the NAS device, and the inbox flush."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BalupiConfigEntry
from .entity import BalupiInboxEntity, BalupiNasEntity

# Sends a packet to the LAN: one press at a time.
PARALLEL_UPDATES = 1

WAKE = ButtonEntityDescription(key="wake", translation_key="wake")
SOFT_SLEEP = ButtonEntityDescription(key="soft_sleep", translation_key="soft_sleep")
SUSPEND = ButtonEntityDescription(key="suspend", translation_key="suspend")
FLUSH_INBOX = ButtonEntityDescription(key="flush_inbox", translation_key="flush_inbox")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the wake button, sleep buttons with an API key, flush with an inbox."""
    nas = entry.runtime_data.nas
    async_add_entities([WakeButton(nas, WAKE)])
    if nas.client is not None:
        async_add_entities(
            [SoftSleepButton(nas, SOFT_SLEEP), SuspendButton(nas, SUSPEND)]
        )
    if (inbox := entry.runtime_data.inbox) is not None:
        async_add_entities([FlushInboxButton(inbox, FLUSH_INBOX)])


class WakeButton(BalupiNasEntity, ButtonEntity):
    """Wake the NAS: from soft sleep by a request, else by Wake-on-LAN."""

    async def async_press(self) -> None:
        """Wake it the way its state needs."""
        await self.coordinator.async_wake()


class SoftSleepButton(BalupiNasEntity, ButtonEntity):
    """Put the NAS into soft sleep (reachable, disks spun down)."""

    async def async_press(self) -> None:
        """Ask the NAS; its sleep state is read back at once."""
        await self.coordinator.async_soft_sleep()


class SuspendButton(BalupiNasEntity, ButtonEntity):
    """Suspend the NAS to RAM (Wake-on-LAN wakes it)."""

    async def async_press(self) -> None:
        """Ask the NAS; its silence afterwards counts as this suspend."""
        await self.coordinator.async_suspend()


class FlushInboxButton(BalupiInboxEntity, ButtonEntity):
    """Move the inbox to the NAS now."""

    async def async_press(self) -> None:
        """Start a flush in the background; the flush sensors show its outcome."""
        self.coordinator.async_check_nas_online()
        self.coordinator.async_start_flush()
