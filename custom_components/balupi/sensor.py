"""Sensors of the NAS device."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    DOMAIN as SENSOR_DOMAIN,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    CONF_MAC,
    PERCENTAGE,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
    UnitOfDataRate,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfInformation,
    UnitOfPower,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .baluhost import SchedulerRunStatus, SleepState, SleepStatus
from .const import ATTR_MEASURED_AT, CONF_ROLE, DOMAIN, ROLE_NAS
from .coordinator import BalupiConfigEntry
from .coordinator.device import BackupJob, LiveFigures
from .coordinator.dns import DnsShown, DnsStatus
from .coordinator.inbox import InboxCoordinator
from .coordinator.insights import Insights, InsightsCoordinator
from .coordinator.metering import energy_value
from .coordinator.nas import NasStatus
from .coordinator.snapshot import SnapshotCoordinator
from .entity import (
    BalupiDeviceEntity,
    BalupiDnsEntity,
    BalupiEventsEntity,
    BalupiInboxEntity,
    BalupiInsightEntity,
    BalupiJobsEntity,
    BalupiNasEntity,
    BalupiPlugEntity,
    BalupiSnapshotEntity,
)
from .nas_state import NasState
from .snapshot import RAID_STATES, SMART_STATES, Snapshot, raid_state, slug, smart_state

if TYPE_CHECKING:
    from kasa import Device

    from .coordinator.plugs import PlugCoordinator

# Read-only coordinator entities: the coordinator serialises the updates.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NasSensorEntityDescription(SensorEntityDescription):
    """A NAS sensor and how to read it from the status."""

    value_fn: Callable[[NasStatus], StateType | datetime]


def _reading(status: NasStatus) -> SleepStatus | None:
    """Return the NAS's sleep reading while it is current (the NAS reachable)."""
    if status.state in (NasState.ONLINE, NasState.SLEEPING):
        return status.sleep
    return None


# With an API key: what the NAS itself says about its sleep.
SLEEP_SENSORS: tuple[NasSensorEntityDescription, ...] = (
    NasSensorEntityDescription(
        key="sleep_state",
        translation_key="sleep_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in SleepState],
        value_fn=lambda status: (
            reading.state.value if (reading := _reading(status)) else None
        ),
    ),
    NasSensorEntityDescription(
        key="sleep_state_since",
        translation_key="sleep_state_since",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda status: (
            reading.state_since if (reading := _reading(status)) else None
        ),
    ),
    NasSensorEntityDescription(
        key="disks_spun_down",
        translation_key="disks_spun_down",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda status: (
            len(reading.spun_down_disks) if (reading := _reading(status)) else None
        ),
    ),
)


SENSORS: tuple[NasSensorEntityDescription, ...] = (
    NasSensorEntityDescription(
        key="nas_state",
        translation_key="nas_state",
        device_class=SensorDeviceClass.ENUM,
        # Not known yet is Home Assistant's own unknown (no value), no option.
        options=[state.value for state in NasState if state is not NasState.UNKNOWN],
        value_fn=lambda status: (
            None if status.state is NasState.UNKNOWN else status.state.value
        ),
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
class LiveSensorEntityDescription(SensorEntityDescription):
    """A live figure of the awake NAS."""

    value_fn: Callable[[LiveFigures], StateType | datetime]


# With an API key: read while the NAS is awake, kept (dated) while it sleeps.
LIVE_SENSORS: tuple[LiveSensorEntityDescription, ...] = (
    LiveSensorEntityDescription(
        key="cpu_usage",
        translation_key="cpu_usage",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda figures: figures.cpu_percent,
    ),
    LiveSensorEntityDescription(
        key="cpu_temperature",
        translation_key="cpu_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda figures: figures.cpu_temperature,
    ),
    LiveSensorEntityDescription(
        key="memory_used",
        translation_key="memory_used",
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.GIBIBYTES,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda figures: figures.memory_used,
    ),
    LiveSensorEntityDescription(
        key="memory_used_percent",
        translation_key="memory_used_percent",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda figures: figures.memory_percent,
    ),
    LiveSensorEntityDescription(
        key="network_download",
        translation_key="network_download",
        device_class=SensorDeviceClass.DATA_RATE,
        native_unit_of_measurement=UnitOfDataRate.MEGABITS_PER_SECOND,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda figures: figures.network_down,
    ),
    LiveSensorEntityDescription(
        key="network_upload",
        translation_key="network_upload",
        device_class=SensorDeviceClass.DATA_RATE,
        native_unit_of_measurement=UnitOfDataRate.MEGABITS_PER_SECOND,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda figures: figures.network_up,
    ),
    LiveSensorEntityDescription(
        key="up_since",
        translation_key="up_since",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda figures: figures.up_since,
    ),
)


@dataclass(frozen=True, kw_only=True)
class JobSensorEntityDescription(SensorEntityDescription):
    """A figure of the NAS's backup scheduler."""

    value_fn: Callable[[BackupJob], StateType | datetime]


# With an API key: the backup scheduler, read hourly while the NAS is awake.
JOB_SENSORS: tuple[JobSensorEntityDescription, ...] = (
    JobSensorEntityDescription(
        key="backup_job_result",
        translation_key="backup_job_result",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in SchedulerRunStatus],
        value_fn=lambda job: None if job.last_status is None else job.last_status,
    ),
    JobSensorEntityDescription(
        key="backup_job_last_run",
        translation_key="backup_job_last_run",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda job: job.last_run,
    ),
    JobSensorEntityDescription(
        key="backup_job_next_run",
        translation_key="backup_job_next_run",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda job: job.next_run,
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
        value_fn=lambda status: status.shown.value if status.shown else None,
    ),
    DnsSensorEntityDescription(
        key="last_switch",
        translation_key="dns_last_switch",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda status: status.last_switch,
    ),
)


@dataclass(frozen=True, kw_only=True)
class PlugSensorEntityDescription(SensorEntityDescription):
    """A sensor of a plug; optional ones exist only if the firmware reports them."""

    value_fn: Callable[[Device], float | None]
    optional: bool = False


PLUG_SENSORS: tuple[PlugSensorEntityDescription, ...] = (
    PlugSensorEntityDescription(
        key="power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=1,
        value_fn=lambda device: energy_value(device, "current_consumption"),
    ),
    PlugSensorEntityDescription(
        key="energy_today",
        translation_key="energy_today",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=lambda device: energy_value(device, "consumption_today"),
    ),
    PlugSensorEntityDescription(
        key="energy_month",
        translation_key="energy_month",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=lambda device: energy_value(device, "consumption_this_month"),
    ),
    PlugSensorEntityDescription(
        key="voltage",
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=1,
        entity_registry_enabled_default=False,
        value_fn=lambda device: energy_value(device, "voltage"),
        optional=True,
    ),
    PlugSensorEntityDescription(
        key="current",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
        value_fn=lambda device: energy_value(device, "current"),
        optional=True,
    ),
    PlugSensorEntityDescription(
        key="rssi",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda device: device.rssi,
    ),
)


@dataclass(frozen=True, kw_only=True)
class InboxSensorEntityDescription(SensorEntityDescription):
    """An inbox sensor and how to read it from the coordinator."""

    value_fn: Callable[[InboxCoordinator], StateType | datetime]
    # The outcome of the last flush stays known while a folder scan fails.
    needs_scan: bool = True


def _oldest_age(inbox: InboxCoordinator) -> float | None:
    """Seconds since the oldest file in the inbox was written, None if empty."""
    if (oldest := inbox.data.oldest_mtime) is None:
        return None
    return max(0.0, round(dt_util.utcnow().timestamp() - oldest))


INBOX_SENSORS: tuple[InboxSensorEntityDescription, ...] = (
    InboxSensorEntityDescription(
        key="inbox_files",
        translation_key="inbox_files",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda inbox: inbox.data.files,
    ),
    InboxSensorEntityDescription(
        key="inbox_size",
        translation_key="inbox_size",
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.MEBIBYTES,
        suggested_display_precision=1,
        value_fn=lambda inbox: inbox.data.size,
    ),
    InboxSensorEntityDescription(
        key="inbox_oldest_file",
        translation_key="inbox_oldest_file",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
        value_fn=_oldest_age,
    ),
    InboxSensorEntityDescription(
        key="last_inbox_flush",
        translation_key="last_inbox_flush",
        device_class=SensorDeviceClass.TIMESTAMP,
        needs_scan=False,
        value_fn=lambda inbox: inbox.last_flush.finished if inbox.last_flush else None,
    ),
)


@dataclass(frozen=True, kw_only=True)
class InsightSensorEntityDescription(SensorEntityDescription):
    """An energy insight and how to read it."""

    value_fn: Callable[[Insights], float | None]
    # In Home Assistant's currency.
    monetary: bool = False
    # Starts at zero each month (last_reset tells the statistics).
    monthly: bool = False
    # Whether the entry has it, by the roles of its plugs: some need the NAS
    # plug (savings, baseline), some any plug (month costs).
    exists_fn: Callable[[set[str]], bool] = lambda _roles: True


def _has_nas_plug(roles: set[str]) -> bool:
    return ROLE_NAS in roles


def _has_any_plug(roles: set[str]) -> bool:
    return bool(roles)


def _money(key: str, **kwargs: Any) -> InsightSensorEntityDescription:
    return InsightSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        **kwargs,
    )


INSIGHT_SENSORS: tuple[InsightSensorEntityDescription, ...] = (
    InsightSensorEntityDescription(
        key="awake_today",
        translation_key="awake_today",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.HOURS,
        suggested_display_precision=2,
        value_fn=lambda data: round(data.awake_today),
    ),
    InsightSensorEntityDescription(
        key="awake_share",
        translation_key="awake_share",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda data: data.awake_share,
    ),
    InsightSensorEntityDescription(
        key="always_on_baseline",
        translation_key="always_on_baseline",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=1,
        exists_fn=_has_nas_plug,
        value_fn=lambda data: data.baseline,
    ),
    InsightSensorEntityDescription(
        key="energy_saved",
        translation_key="energy_saved",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        exists_fn=_has_nas_plug,
        # Whole Wh: a state row per Wh saved, not per poll.
        value_fn=lambda data: (
            None if data.saved_kwh is None else round(data.saved_kwh, 3)
        ),
    ),
    _money(
        "cost_saved",
        state_class=SensorStateClass.TOTAL,
        exists_fn=_has_nas_plug,
        value_fn=lambda data: data.saved_cost,
    ),
    _money(
        "nas_cost_month",
        state_class=SensorStateClass.TOTAL,
        monthly=True,
        exists_fn=_has_nas_plug,
        value_fn=lambda data: data.nas_cost_month,
    ),
    _money(
        "cost_month",
        state_class=SensorStateClass.TOTAL,
        monthly=True,
        exists_fn=_has_any_plug,
        value_fn=lambda data: data.cost_month,
    ),
    _money(
        "projected_cost_month",
        exists_fn=_has_any_plug,
        value_fn=lambda data: data.projected_month,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the NAS sensors; arrays and disks follow each new snapshot."""
    coordinator = entry.runtime_data.nas
    snapshots = entry.runtime_data.snapshots
    async_add_entities(NasSensor(coordinator, description) for description in SENSORS)
    if coordinator.client is not None:
        async_add_entities(
            NasSensor(coordinator, description) for description in SLEEP_SENSORS
        )
    if (device := entry.runtime_data.device) is not None:
        async_add_entities(
            LiveSensor(device, description) for description in LIVE_SENSORS
        )
    if (jobs := entry.runtime_data.jobs) is not None:
        async_add_entities(JobSensor(jobs, description) for description in JOB_SENSORS)
    if (events := entry.runtime_data.events) is not None:
        async_add_entities([UnreadSensor(events, UNREAD)])
    async_add_entities(
        SnapshotSensor(snapshots, description) for description in SNAPSHOT_SENSORS
    )

    _async_follow_arrays_and_disks(hass, entry, snapshots, async_add_entities)

    if (inbox := entry.runtime_data.inbox) is not None:
        async_add_entities(
            InboxSensor(inbox, description) for description in INBOX_SENSORS
        )

    roles = {
        plug.subentry.data[CONF_ROLE] for plug in entry.runtime_data.plugs.values()
    }
    insights = entry.runtime_data.insights
    insight_sensors: list[InsightSensor] = []
    registry = er.async_get(hass)
    for description in INSIGHT_SENSORS:
        if description.exists_fn(roles):
            insight_sensors.append(InsightSensor(insights, description))
        elif entity_id := registry.async_get_entity_id(
            SENSOR_DOMAIN, DOMAIN, f"{entry.data[CONF_MAC]}_{description.key}"
        ):
            # Its plug was removed (the NAS plug, or the last one): it goes
            # too, rather than stay behind unavailable.
            registry.async_remove(entity_id)
    async_add_entities(insight_sensors)

    if (dns := entry.runtime_data.dns) is not None:
        async_add_entities(
            (DnsSensor(dns, description) for description in DNS_SENSORS),
            config_subentry_id=dns.subentry_id,
        )

    for subentry_id, plug in entry.runtime_data.plugs.items():
        _add_plug_sensors(entry, plug, subentry_id, async_add_entities)


def _add_plug_sensors(
    entry: BalupiConfigEntry,
    plug: PlugCoordinator,
    subentry_id: str,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a plug's sensors; voltage and current once the firmware shows them."""
    async_add_entities(
        [
            *(
                PlugSensor(plug, description)
                for description in PLUG_SENSORS
                if not description.optional
            ),
            PlugCostSensor(plug, entry.runtime_data.insights, subentry_id),
        ],
        config_subentry_id=subentry_id,
    )
    pending = [description for description in PLUG_SENSORS if description.optional]

    @callback
    def add_reported() -> None:
        # None until the plug answered once (it may be offline at setup).
        device: Device | None = plug.data
        if device is None:
            return
        reported = [d for d in pending if d.value_fn(device) is not None]
        for description in reported:
            pending.remove(description)
        if reported:
            async_add_entities(
                (PlugSensor(plug, description) for description in reported),
                config_subentry_id=subentry_id,
            )

    add_reported()
    entry.async_on_unload(plug.async_add_listener(add_reported))


@callback
def _async_follow_arrays_and_disks(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    snapshots: SnapshotCoordinator,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Keep one sensor per RAID array and per disk of the latest snapshot.

    An array or disk that is new gets its sensors; one that is gone loses them
    (from the registry too, rather than stay behind unavailable).
    """
    registry = er.async_get(hass)
    known: set[str] = set()

    @callback
    def sync() -> None:
        wanted = _array_and_disk_sensors(snapshots)
        async_add_entities(
            factory() for unique_id, factory in wanted.items() if unique_id not in known
        )
        for unique_id in known - wanted.keys():
            if entity_id := registry.async_get_entity_id(
                SENSOR_DOMAIN, DOMAIN, unique_id
            ):
                registry.async_remove(entity_id)
        known.clear()
        known.update(wanted)

    sync()
    entry.async_on_unload(snapshots.async_add_listener(sync))


def _array_and_disk_sensors(
    snapshots: SnapshotCoordinator,
) -> dict[str, Callable[[], SensorEntity]]:
    """Return, by unique id, how to make each array's and disk's sensor."""
    if (snapshot := snapshots.data) is None:
        return {}
    mac = snapshots.config_entry.data[CONF_MAC]
    sensors: dict[str, Callable[[], SensorEntity]] = {
        f"{mac}_{RaidSensor.key(array)}": partial(RaidSensor, snapshots, array)
        for array in snapshot.arrays
    }
    for disk in snapshot.disks:
        sensors[f"{mac}_{SmartSensor.key(disk)}"] = partial(
            SmartSensor, snapshots, disk
        )
        sensors[f"{mac}_{DiskTemperatureSensor.key(disk)}"] = partial(
            DiskTemperatureSensor, snapshots, disk
        )
    return sensors


class NasSensor(BalupiNasEntity, SensorEntity):
    """A sensor that shows one field of the NAS status."""

    entity_description: NasSensorEntityDescription

    @property
    def native_value(self) -> StateType | datetime:
        """Return the sensor's value."""
        return self.entity_description.value_fn(self.coordinator.data)


class LiveSensor(BalupiDeviceEntity, SensorEntity):
    """A live figure of the NAS: current while it is awake, dated while not."""

    entity_description: LiveSensorEntityDescription
    # Changes with every reading; the state's own history says when it moved.
    _unrecorded_attributes = frozenset({ATTR_MEASURED_AT})

    @property
    def available(self) -> bool:
        """Return whether the NAS was ever read (and the last read did not fail)."""
        return super().available and self.coordinator.data is not None

    @property
    def native_value(self) -> StateType | datetime:
        """Return the last figure read."""
        if (figures := self.coordinator.data) is None:
            return None
        return self.entity_description.value_fn(figures)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Say when the figure was measured: while the NAS sleeps, it is old."""
        if (figures := self.coordinator.data) is None:
            return None
        return {ATTR_MEASURED_AT: figures.measured_at.isoformat()}


UNREAD = SensorEntityDescription(
    key="unread_notifications",
    translation_key="unread_notifications",
    state_class=SensorStateClass.MEASUREMENT,
)


class UnreadSensor(BalupiEventsEntity, SensorEntity):
    """How many of the NAS's notifications are unread (as of the last listing)."""

    @property
    def native_value(self) -> int | None:
        """Return the count; unknown before the first listing."""
        return self.coordinator.data


class JobSensor(BalupiJobsEntity, SensorEntity):
    """One figure of the backup scheduler (kept while the NAS sleeps)."""

    entity_description: JobSensorEntityDescription
    # The NAS's own words, up to 2000 characters.
    _unrecorded_attributes = frozenset({"error"})

    @property
    def native_value(self) -> StateType | datetime:
        """Return the figure; unknown while the NAS has no backup scheduler."""
        if (job := self.coordinator.data) is None:
            return None
        return self.entity_description.value_fn(job)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Add why the last run failed (as the NAS says, cut short)."""
        if (job := self.coordinator.data) is None or (
            self.entity_description.key != "backup_job_result"
        ):
            return None
        return {"error": job.last_error, "enabled": job.enabled}


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
        super().__init__(coordinator, SensorEntityDescription(key=self.key(array)))
        self._array = array
        self._attr_options = list(RAID_STATES)
        self._attr_translation_placeholders = {"array": array}

    @staticmethod
    def key(array: str) -> str:
        """Return the key of an array's sensor."""
        return f"raid_{slug(array)}_state"

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
        super().__init__(coordinator, SensorEntityDescription(key=self.key(disk)))
        self._disk = disk
        self._attr_options = list(SMART_STATES)
        self._attr_translation_placeholders = {"disk": disk}

    @staticmethod
    def key(disk: str) -> str:
        """Return the key of a disk's SMART sensor."""
        return f"disk_{slug(disk)}_smart"

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
        super().__init__(coordinator, SensorEntityDescription(key=self.key(disk)))
        self._disk = disk
        self._attr_translation_placeholders = {"disk": disk}

    @staticmethod
    def key(disk: str) -> str:
        """Return the key of a disk's temperature sensor."""
        return f"disk_{slug(disk)}_temperature"

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


class InboxSensor(BalupiInboxEntity, SensorEntity):
    """What waits in the inbox, and how the last flush went."""

    entity_description: InboxSensorEntityDescription

    @property
    def available(self) -> bool:
        """Return whether the value is known."""
        return not self.entity_description.needs_scan or super().available

    @property
    def native_value(self) -> StateType | datetime:
        """Return the sensor's value."""
        return self.entity_description.value_fn(self.coordinator)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Describe the last flush on its sensor."""
        if self.entity_description.needs_scan or (
            (record := self.coordinator.last_flush) is None
        ):
            return None
        return record.summary()


class InsightSensor(BalupiInsightEntity, SensorEntity):
    """Awake time, savings and month costs."""

    entity_description: InsightSensorEntityDescription

    async def async_added_to_hass(self) -> None:
        """Take the currency once Home Assistant's config is known."""
        await super().async_added_to_hass()
        if self.entity_description.monetary:
            self._attr_native_unit_of_measurement = self.hass.config.currency

    @property
    def native_value(self) -> float | None:
        """Return the figure; unknown (not zero) while it cannot be computed."""
        value = self.entity_description.value_fn(self.coordinator.data)
        if value is not None and self.entity_description.monetary:
            return round(value, 2)
        return value

    @property
    def last_reset(self) -> datetime | None:
        """Return the start of the month for the month's costs."""
        if self.entity_description.monthly:
            return self.coordinator.data.month_start
        return None


class PlugSensor(BalupiPlugEntity, SensorEntity):
    """One reading of a plug."""

    entity_description: PlugSensorEntityDescription

    @property
    def native_value(self) -> float | None:
        """Return the reading."""
        return self.entity_description.value_fn(self.coordinator.data)


class PlugCostSensor(BalupiPlugEntity, SensorEntity):
    """What a plug's consumption cost, each kWh at the price valid when used.

    The plug's one cost meter is the insights coordinator's, fed once per poll
    before this sensor writes its state; the month's costs read it too.
    """

    _attr_device_class = SensorDeviceClass.MONETARY
    _attr_state_class = SensorStateClass.TOTAL
    _attr_suggested_display_precision = 2

    def __init__(
        self,
        coordinator: PlugCoordinator,
        insights: InsightsCoordinator,
        subentry_id: str,
    ) -> None:
        """Show the meter of one plug."""
        role = coordinator.subentry.data[CONF_ROLE]
        key = "nas_cost" if role == ROLE_NAS else "cost"
        super().__init__(
            coordinator, SensorEntityDescription(key="cost", translation_key=key)
        )
        self._insights = insights
        self._subentry_id = subentry_id

    async def async_added_to_hass(self) -> None:
        """Take the currency once Home Assistant's config is known."""
        await super().async_added_to_hass()
        self._attr_native_unit_of_measurement = self.hass.config.currency

    @property
    def native_value(self) -> float | None:
        """Return the running total; unknown before the plug's first reading."""
        if (meter := self._insights.meters.get(self._subentry_id)) is None:
            return None
        # Whole cents: a state row per cent, not per Wh, keeps the recorder
        # small; the exact total lives on in BaluPi's store.
        return round(meter.cost, 2)
