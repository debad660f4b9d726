"""Sensors of the NAS device."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import NasStatus
from .data import BalupiConfigEntry
from .entity import BalupiNasEntity
from .nas_state import NasState

# Read-only coordinator entities: the coordinator serialises the updates.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NasSensorEntityDescription(SensorEntityDescription):
    """A NAS sensor and how to read it from the status."""

    value_fn: Callable[[NasStatus], str | datetime | None]


SENSORS: tuple[NasSensorEntityDescription, ...] = (
    NasSensorEntityDescription(
        key="nas_state",
        translation_key="nas_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in NasState],
        value_fn=lambda status: status.state.value,
    ),
    NasSensorEntityDescription(
        key="state_since",
        translation_key="state_since",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda status: status.since,
    ),
    NasSensorEntityDescription(
        key="nas_version",
        translation_key="nas_version",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda status: status.version,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the NAS sensors."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(NasSensor(coordinator, description) for description in SENSORS)


class NasSensor(BalupiNasEntity, SensorEntity):
    """A sensor that shows one field of the NAS status."""

    entity_description: NasSensorEntityDescription

    @property
    def native_value(self) -> str | datetime | None:
        """Return the sensor's value."""
        return self.entity_description.value_fn(self.coordinator.data)
