"""On/off switch of each Tapo plug."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BalupiConfigEntry
from .entity import BalupiPlugEntity

# Commands go to the plugs one at a time.
PARALLEL_UPDATES = 1

RELAY = SwitchEntityDescription(key="relay", translation_key="relay", name=None)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one switch per plug."""
    for subentry_id, plug in entry.runtime_data.plugs.items():
        async_add_entities([PlugSwitch(plug, RELAY)], config_subentry_id=subentry_id)


class PlugSwitch(BalupiPlugEntity, SwitchEntity):
    """The plug's relay."""

    @property
    def is_on(self) -> bool:
        """Return whether the relay is on."""
        return self.coordinator.data.is_on

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch on; the state is read back right after."""
        await self.coordinator.async_turn(on=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch off; the state is read back right after."""
        await self.coordinator.async_turn(on=False)
