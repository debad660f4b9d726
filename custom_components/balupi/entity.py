"""Base entity for everything that belongs to the NAS device."""

from __future__ import annotations

from homeassistant.const import CONF_MAC, CONF_URL
from homeassistant.helpers.device_registry import CONNECTION_NETWORK_MAC, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import NasCoordinator


class BalupiNasEntity(CoordinatorEntity[NasCoordinator]):
    """An entity of the NAS device, named by its translation key."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: NasCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the NAS device."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        mac: str = entry.data[CONF_MAC]
        self._attr_unique_id = f"{mac}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, mac)},
            connections={(CONNECTION_NETWORK_MAC, mac)},
            name=entry.title,
            manufacturer="BaluHost",
            model="NAS",
            configuration_url=entry.data[CONF_URL],
        )
