"""Sensors of the NAS device."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    DOMAIN as SENSOR_DOMAIN,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfInformation,
    UnitOfTemperature,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .const import DOMAIN
from .coordinator import NasStatus, SnapshotCoordinator
from .data import BalupiConfigEntry
from .dns import DnsShown, DnsStatus
from .entity import BalupiDnsEntity, BalupiNasEntity, BalupiSnapshotEntity
from .nas_state import NasState
from .snapshot import RAID_STATES, SMART_STATES, Snapshot, raid_state, slug, smart_state

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


@dataclass(frozen=True, kw_only=True)
class SnapshotSensorEntityDescription(SensorEntityDescription):
    """A sensor read from the NAS's last snapshot."""

    value_fn: Callable[[Snapshot], StateType | datetime]


SNAPSHOT_SENSORS: tuple[SnapshotSensorEntityDescription, ...] = (
    SnapshotSensorEntityDescription(
        key="storage_used",
        translation_key="storage_used",
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.GIGABYTES,
        suggested_display_precision=1,
        value_fn=lambda snapshot: snapshot.storage_used,
    ),
    SnapshotSensorEntityDescription(
        key="storage_total",
        translation_key="storage_total",
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.GIGABYTES,
        suggested_display_precision=1,
        value_fn=lambda snapshot: snapshot.storage_total,
    ),
    SnapshotSensorEntityDescription(
        key="storage_used_percent",
        translation_key="storage_used_percent",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda snapshot: snapshot.storage_used_percent,
    ),
    SnapshotSensorEntityDescription(
        key="last_backup",
        translation_key="last_backup",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda snapshot: snapshot.last_backup,
    ),
    SnapshotSensorEntityDescription(
        key="backup_status",
        translation_key="backup_status",
        value_fn=lambda snapshot: snapshot.backup_status,
    ),
    SnapshotSensorEntityDescription(
        key="total_files",
        translation_key="total_files",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda snapshot: snapshot.total_files,
    ),
    SnapshotSensorEntityDescription(
        key="snapshot_time",
        translation_key="snapshot_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda snapshot: snapshot.generated_at,
    ),
)


@dataclass(frozen=True, kw_only=True)
class DnsSensorEntityDescription(SensorEntityDescription):
    """A sensor of the managed DNS record."""

    value_fn: Callable[[DnsStatus], str | datetime | None]


DNS_SENSORS: tuple[DnsSensorEntityDescription, ...] = (
    DnsSensorEntityDescription(
        key="target",
        translation_key="dns_target",
        device_class=SensorDeviceClass.ENUM,
        options=[shown.value for shown in DnsShown],
        value_fn=lambda status: status.shown.value,
    ),
    DnsSensorEntityDescription(
        key="last_switch",
        translation_key="dns_last_switch",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda status: status.last_switch,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the NAS sensors; arrays and disks follow each new snapshot."""
    coordinator = entry.runtime_data.coordinator
    snapshots = entry.runtime_data.snapshots
    async_add_entities(NasSensor(coordinator, description) for description in SENSORS)
    async_add_entities(
        SnapshotSensor(snapshots, description) for description in SNAPSHOT_SENSORS
    )

    registry = er.async_get(hass)
    known: dict[str, SensorEntity] = {}

    @callback
    def sync_arrays_and_disks() -> None:
        wanted = _array_and_disk_sensors(snapshots)
        async_add_entities(entity for key, entity in wanted.items() if key not in known)
        for unique_id in known.keys() - wanted.keys():
            if entity_id := registry.async_get_entity_id(
                SENSOR_DOMAIN, DOMAIN, unique_id
            ):
                registry.async_remove(entity_id)
        known.clear()
        known.update(wanted)

    sync_arrays_and_disks()
    entry.async_on_unload(snapshots.async_add_listener(sync_arrays_and_disks))

    if (dns := entry.runtime_data.dns) is not None:
        async_add_entities(
            (DnsSensor(dns, description) for description in DNS_SENSORS),
            config_subentry_id=dns.subentry_id,
        )


def _array_and_disk_sensors(
    snapshots: SnapshotCoordinator,
) -> dict[str, SensorEntity]:
    """Return one sensor per RAID array and per disk of the current snapshot."""
    snapshot = snapshots.data
    if snapshot is None:
        return {}
    entities: list[SensorEntity] = [
        RaidSensor(snapshots, name) for name in snapshot.arrays
    ]
    for disk in snapshot.disks:
        entities += [
            SmartSensor(snapshots, disk),
            DiskTemperatureSensor(snapshots, disk),
        ]
    return {entity.unique_id: entity for entity in entities if entity.unique_id}


class NasSensor(BalupiNasEntity, SensorEntity):
    """A sensor that shows one field of the NAS status."""

    entity_description: NasSensorEntityDescription

    @property
    def native_value(self) -> str | datetime | None:
        """Return the sensor's value."""
        return self.entity_description.value_fn(self.coordinator.data)


class SnapshotSensor(BalupiSnapshotEntity, SensorEntity):
    """A sensor that shows one figure of the last snapshot."""

    entity_description: SnapshotSensorEntityDescription

    @property
    def native_value(self) -> StateType | datetime:
        """Return the figure, unknown before the first snapshot."""
        if (snapshot := self.coordinator.data) is None:
            return None
        return self.entity_description.value_fn(snapshot)


class RaidSensor(BalupiSnapshotEntity, SensorEntity):
    """The state of one RAID array."""

    _attr_device_class = SensorDeviceClass.ENUM
    _attr_translation_key = "raid_state"

    def __init__(self, coordinator: SnapshotCoordinator, array: str) -> None:
        """Follow one array by name."""
        super().__init__(
            coordinator, SensorEntityDescription(key=f"raid_{slug(array)}_state")
        )
        self._array = array
        self._attr_options = list(RAID_STATES)
        self._attr_translation_placeholders = {"array": array}

    @property
    def native_value(self) -> str | None:
        """Return the array's state."""
        return raid_state(self._details.get("state"))

    @property
    def extra_state_attributes(self) -> dict[str, object]:
        """Return level and member devices (they change only with the array)."""
        return {
            "level": self._details.get("level"),
            "devices": self._details.get("devices"),
        }

    @property
    def _details(self) -> dict[str, object]:
        snapshot = self.coordinator.data
        return snapshot.arrays.get(self._array, {}) if snapshot else {}


class SmartSensor(BalupiSnapshotEntity, SensorEntity):
    """The SMART verdict of one disk."""

    _attr_device_class = SensorDeviceClass.ENUM
    _attr_translation_key = "smart_status"

    def __init__(self, coordinator: SnapshotCoordinator, disk: str) -> None:
        """Follow one disk by device name."""
        super().__init__(
            coordinator, SensorEntityDescription(key=f"disk_{slug(disk)}_smart")
        )
        self._disk = disk
        self._attr_options = list(SMART_STATES)
        self._attr_translation_placeholders = {"disk": disk}

    @property
    def native_value(self) -> str | None:
        """Return passed, failed or other."""
        snapshot = self.coordinator.data
        details = snapshot.disks.get(self._disk, {}) if snapshot else {}
        return smart_state(details.get("status"))


class DiskTemperatureSensor(BalupiSnapshotEntity, SensorEntity):
    """The temperature of one disk when the snapshot was taken."""

    _attr_device_class = SensorDeviceClass.TEMPERATURE
    _attr_native_unit_of_measurement = UnitOfTemperature.CELSIUS
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_translation_key = "disk_temperature"
    _attr_entity_registry_enabled_default = False

    def __init__(self, coordinator: SnapshotCoordinator, disk: str) -> None:
        """Follow one disk by device name."""
        super().__init__(
            coordinator,
            SensorEntityDescription(key=f"disk_{slug(disk)}_temperature"),
        )
        self._disk = disk
        self._attr_translation_placeholders = {"disk": disk}

    @property
    def native_value(self) -> float | None:
        """Return °C, unknown when the NAS could not read it."""
        snapshot = self.coordinator.data
        return snapshot.disk_temperature(self._disk) if snapshot else None


class DnsSensor(BalupiDnsEntity, SensorEntity):
    """Where the NAS's name points, and when it was last switched."""

    entity_description: DnsSensorEntityDescription

    @property
    def native_value(self) -> str | datetime | None:
        """Return the sensor's value."""
        return self.entity_description.value_fn(self.coordinator.data)
