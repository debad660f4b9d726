"""Base entities for everything that belongs to the NAS device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_MAC, CONF_URL
from homeassistant.helpers.device_registry import (
    CONNECTION_NETWORK_MAC,
    DeviceEntryType,
    DeviceInfo,
)
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator.device import (
    DeviceCoordinator,
    EventsCoordinator,
    JobsCoordinator,
    SoftwareCoordinator,
)
from .coordinator.dns import DnsCoordinator
from .coordinator.inbox import InboxCoordinator
from .coordinator.insights import InsightsCoordinator
from .coordinator.nas import NasCoordinator
from .coordinator.snapshot import SnapshotCoordinator

if TYPE_CHECKING:
    from .coordinator.plugs import PlugCoordinator


def nas_device_info(entry: ConfigEntry) -> DeviceInfo:
    """Return the NAS device, identified by its MAC."""
    mac: str = entry.data[CONF_MAC]
    return DeviceInfo(
        identifiers={(DOMAIN, mac)},
        connections={(CONNECTION_NETWORK_MAC, mac)},
        name=entry.title,
        manufacturer="BaluHost",
        model="NAS",
        configuration_url=entry.data[CONF_URL],
    )


class BalupiNasDeviceEntity[
    CoordinatorT: NasCoordinator
    | SnapshotCoordinator
    | InboxCoordinator
    | InsightsCoordinator
    | DeviceCoordinator
    | SoftwareCoordinator
    | JobsCoordinator
    | EventsCoordinator
](CoordinatorEntity[CoordinatorT]):
    """An entity of the NAS device, named by its translation key."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: CoordinatorT, description: EntityDescription
    ) -> None:
        """Attach the entity to the NAS device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.data[CONF_MAC]}_{description.key}"
        self._attr_device_info = nas_device_info(entry)


# Fed by the heartbeat, the last going-offline snapshot, the Pi's inbox (shown
# on the NAS it feeds), the energy insights and the awake NAS's live figures.
BalupiNasEntity = BalupiNasDeviceEntity[NasCoordinator]
BalupiSnapshotEntity = BalupiNasDeviceEntity[SnapshotCoordinator]
BalupiInboxEntity = BalupiNasDeviceEntity[InboxCoordinator]
BalupiInsightEntity = BalupiNasDeviceEntity[InsightsCoordinator]
BalupiDeviceEntity = BalupiNasDeviceEntity[DeviceCoordinator]
BalupiSoftwareEntity = BalupiNasDeviceEntity[SoftwareCoordinator]
BalupiJobsEntity = BalupiNasDeviceEntity[JobsCoordinator]
BalupiEventsEntity = BalupiNasDeviceEntity[EventsCoordinator]


class BalupiDnsEntity(CoordinatorEntity[DnsCoordinator]):
    """An entity of the Pi-hole that holds the NAS's DNS name."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: DnsCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the Pi-hole device."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        mac: str = entry.data[CONF_MAC]
        self._attr_unique_id = f"{mac}_dns_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"{mac}_pihole")},
            # Entity names say "DNS": a device called "Pi-hole DNS" made ids
            # such as sensor.pi_hole_dns_dns_target.
            name="Pi-hole",
            manufacturer="Pi-hole",
            model="Pi-hole v6",
            configuration_url=f"{coordinator.pihole_url}/admin",
            entry_type=DeviceEntryType.SERVICE,
        )

    @property
    def available(self) -> bool:
        """Return whether the Pi-hole was read since setup."""
        return super().available and self.coordinator.data is not None


# Named, not imported: python-kasa is loaded only for an entry with plugs.
class BalupiPlugEntity(CoordinatorEntity["PlugCoordinator"]):
    """An entity of one Tapo plug (its own device, under the NAS if it feeds it)."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: PlugCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the plug's device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.mac}_{description.key}"
        # Model and firmware are the coordinator's to write: a plug that is
        # offline now must not blank what it reported before.
        self._attr_device_info = coordinator.device_info

    @property
    def available(self) -> bool:
        """Return whether the plug answered since setup and still does."""
        return super().available and self.coordinator.data is not None
