"""Binary sensors of the NAS device."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BalupiConfigEntry
from .entity import BalupiDnsEntity, BalupiInboxEntity, BalupiNasEntity
from .nas_state import NasState

PARALLEL_UPDATES = 0

NAS_ONLINE = BinarySensorEntityDescription(
    key="nas_online",
    translation_key="nas_online",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


# Named after the thing, as problem sensors are: "DNS record" on means it is
# not as wanted. The key keeps the unique id of the former "DNS in sync".
DNS_RECORD = BinarySensorEntityDescription(
    key="in_sync",
    translation_key="dns_record",
    device_class=BinarySensorDeviceClass.PROBLEM,
)

INBOX_FLUSHING = BinarySensorEntityDescription(
    key="inbox_flushing",
    translation_key="inbox_flushing",
    device_class=BinarySensorDeviceClass.RUNNING,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the NAS connectivity sensor, and the DNS one with a Pi-hole."""
    async_add_entities([NasOnlineBinarySensor(entry.runtime_data.nas, NAS_ONLINE)])
    if (inbox := entry.runtime_data.inbox) is not None:
        async_add_entities([InboxFlushingBinarySensor(inbox, INBOX_FLUSHING)])
    if (dns := entry.runtime_data.dns) is not None:
        async_add_entities(
            [DnsRecordBinarySensor(dns, DNS_RECORD)],
            config_subentry_id=dns.subentry_id,
        )


class NasOnlineBinarySensor(BalupiNasEntity, BinarySensorEntity):
    """On while the NAS is online."""

    @property
    def is_on(self) -> bool:
        """Return whether the NAS is online."""
        return self.coordinator.data.state is NasState.ONLINE


class DnsRecordBinarySensor(BalupiDnsEntity, BinarySensorEntity):
    """On (a problem) while the wanted record is not confirmed on the Pi-hole."""

    @property
    def is_on(self) -> bool:
        """Return whether the record is not where it should be."""
        return not self.coordinator.data.in_sync


class InboxFlushingBinarySensor(BalupiInboxEntity, BinarySensorEntity):
    """On while files move from the inbox to the NAS."""

    @property
    def available(self) -> bool:
        """Known even when the last folder scan failed."""
        return True

    @property
    def is_on(self) -> bool:
        """Return whether a flush runs."""
        return self.coordinator.flushing
