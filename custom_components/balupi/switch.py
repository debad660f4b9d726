"""On/off switch of each Tapo plug, and the NAS's keep-awake switch."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .const import KEEP_AWAKE_SWITCH
from .coordinator import BalupiConfigEntry
from .entity import BalupiNasEntity, BalupiPlugEntity

# Commands go to the plugs one at a time.
PARALLEL_UPDATES = 1

RELAY = SwitchEntityDescription(key="relay", translation_key="relay", name=None)
KEEP_AWAKE = SwitchEntityDescription(key="keep_awake", translation_key="keep_awake")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one switch per plug, and keep-awake with an API key."""
    if entry.runtime_data.nas.client is not None:
        async_add_entities([KeepAwakeSwitch(entry.runtime_data.nas, KEEP_AWAKE)])
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


class KeepAwakeSwitch(BalupiNasEntity, RestoreEntity, SwitchEntity):
    """Keep the NAS from suspending by itself (presence heartbeats).

    Soft sleep stays allowed: the NAS decides that by its own activity.
    """

    async def async_added_to_hass(self) -> None:
        """Resume keeping the NAS awake if the switch was on before a restart."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) and last.state == STATE_ON:
            await self.coordinator.async_keep_awake(KEEP_AWAKE_SWITCH, on=True)

    @property
    def is_on(self) -> bool:
        """Return whether BaluPi keeps the NAS awake."""
        return self.coordinator.keeping_awake

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Start the presence heartbeats."""
        await self.coordinator.async_keep_awake(KEEP_AWAKE_SWITCH, on=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop them; the NAS may suspend again once the last one expires."""
        await self.coordinator.async_keep_awake(KEEP_AWAKE_SWITCH, on=False)
