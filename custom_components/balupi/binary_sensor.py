"""Binary sensors of the NAS device."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import BalupiConfigEntry
from .entity import BalupiNasEntity
from .nas_state import NasState

PARALLEL_UPDATES = 0

NAS_ONLINE = BinarySensorEntityDescription(
    key="nas_online",
    translation_key="nas_online",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the NAS connectivity sensor."""
    async_add_entities(
        [NasOnlineBinarySensor(entry.runtime_data.coordinator, NAS_ONLINE)]
    )


class NasOnlineBinarySensor(BalupiNasEntity, BinarySensorEntity):
    """On while the NAS is online."""

    @property
    def is_on(self) -> bool:
        """Return whether the NAS is online."""
        return self.coordinator.data.state is NasState.ONLINE
