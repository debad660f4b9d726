"""Device triggers of the NAS device, built on the NAS state-change event."""

from __future__ import annotations

from typing import Final

import probatio

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.device_automation.exceptions import (
    InvalidDeviceAutomationConfig,
)
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    ATTR_CONFIG_ENTRY_ID,
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_EVENT,
    CONF_EVENT_DATA,
    CONF_MAC,
    CONF_PLATFORM,
    CONF_TYPE,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .const import CONF_API_KEY, DOMAIN, EVENT_NAS_EVENT, EVENT_NAS_STATE_CHANGED
from .nas_state import NasState, Reason

TRIGGER_WENT_OFFLINE: Final = "went_offline"
TRIGGER_CAME_ONLINE: Final = "came_online"
TRIGGER_WENT_OFFLINE_UNEXPECTEDLY: Final = "went_offline_unexpectedly"
TRIGGER_DID_NOT_WAKE: Final = "did_not_wake"
TRIGGER_FELL_ASLEEP: Final = "fell_asleep"
TRIGGER_WOKE_UP: Final = "woke_up"
# On the NAS's own events (balupi_nas_event), by their type.
TRIGGER_RAID_PROBLEM: Final = "raid_problem"
TRIGGER_DISK_PROBLEM: Final = "disk_problem"
TRIGGER_BACKUP_FAILED: Final = "backup_failed"
TRIGGER_BACKUP_COMPLETED: Final = "backup_completed"
NAS_EVENT_TRIGGERS: Final = frozenset(
    {
        TRIGGER_RAID_PROBLEM,
        TRIGGER_DISK_PROBLEM,
        TRIGGER_BACKUP_FAILED,
        TRIGGER_BACKUP_COMPLETED,
    }
)

_OFFLINE: Final = NasState.OFFLINE.value
_ASLEEP: Final = (NasState.SLEEPING, NasState.SUSPENDED)

# Each trigger fires when the event data contains any one of these matches.
# "Unexpectedly" needs a NAS that was up (not one found asleep at first start,
# not one that failed to boot: that is did_not_wake) and gone without the
# going-offline handshake; every other reason counts, including ones added later.
TRIGGER_MATCHES: Final[dict[str, tuple[dict[str, str], ...]]] = {
    TRIGGER_WENT_OFFLINE: ({"to": _OFFLINE},),
    TRIGGER_CAME_ONLINE: ({"to": NasState.ONLINE.value},),
    TRIGGER_WENT_OFFLINE_UNEXPECTEDLY: tuple(
        {"from": NasState.ONLINE.value, "to": _OFFLINE, "reason": reason.value}
        for reason in Reason
        if reason is not Reason.HANDSHAKE
    ),
    TRIGGER_DID_NOT_WAKE: ({"to": _OFFLINE, "reason": Reason.BOOT_TIMEOUT.value},),
    # From awake into soft sleep or suspend; soft sleep going on to suspend is
    # the same sleep, not a second falling asleep.
    TRIGGER_FELL_ASLEEP: tuple(
        {"from": NasState.ONLINE.value, "to": state.value} for state in _ASLEEP
    ),
    TRIGGER_WOKE_UP: tuple(
        {"from": state.value, "to": NasState.ONLINE.value} for state in _ASLEEP
    ),
    TRIGGER_RAID_PROBLEM: ({"type": "raid.degraded"}, {"type": "raid.failed"}),
    TRIGGER_DISK_PROBLEM: (
        {"type": "smart.failure"},
        {"type": "smart.warning"},
        {"type": "smart.reallocated"},
    ),
    TRIGGER_BACKUP_FAILED: ({"type": "backup.failed"},),
    TRIGGER_BACKUP_COMPLETED: ({"type": "backup.completed"},),
}

TRIGGER_SCHEMA: Final = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {probatio.Required(CONF_TYPE): probatio.In(list(TRIGGER_MATCHES))}
)


@callback
def _nas_entry(hass: HomeAssistant, device_id: str) -> ConfigEntry | None:
    """Return the entry whose NAS this device is; None for plugs, Pi-hole, others."""
    device, entry = dr.async_get_device_and_config_entry_for_domain(
        hass, device_id, domain=DOMAIN
    )
    if device is None or entry is None:
        return None
    if (DOMAIN, entry.data[CONF_MAC]) not in device.identifiers:
        return None
    return entry


def _not_a_nas(device_id: str) -> InvalidDeviceAutomationConfig:
    return InvalidDeviceAutomationConfig(
        translation_domain=DOMAIN,
        translation_key="not_a_nas_device",
        translation_placeholders={"device": device_id},
    )


async def async_validate_trigger_config(
    hass: HomeAssistant, config: ConfigType
) -> ConfigType:
    """Check the schema and that the device is a BaluPi NAS."""
    validated: ConfigType = TRIGGER_SCHEMA(config)
    if _nas_entry(hass, validated[CONF_DEVICE_ID]) is None:
        raise _not_a_nas(validated[CONF_DEVICE_ID])
    return validated


async def async_get_triggers(
    hass: HomeAssistant, device_id: str
) -> list[dict[str, str]]:
    """List the NAS triggers; other BaluPi devices (plugs, Pi-hole) have none.

    The NAS's own events come only with an API key, which reads them.
    """
    if (entry := _nas_entry(hass, device_id)) is None:
        return []
    with_events = bool(entry.data.get(CONF_API_KEY))
    return [
        {
            CONF_PLATFORM: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: trigger_type,
        }
        for trigger_type in TRIGGER_MATCHES
        if with_events or trigger_type not in NAS_EVENT_TRIGGERS
    ]


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for the state changes or events of this device's NAS only."""
    if (entry := _nas_entry(hass, config[CONF_DEVICE_ID])) is None:
        raise _not_a_nas(config[CONF_DEVICE_ID])
    event_type = (
        EVENT_NAS_EVENT
        if config[CONF_TYPE] in NAS_EVENT_TRIGGERS
        else EVENT_NAS_STATE_CHANGED
    )
    detachers = [
        await event_trigger.async_attach_trigger(
            hass,
            event_trigger.TRIGGER_SCHEMA(
                {
                    CONF_PLATFORM: CONF_EVENT,
                    event_trigger.CONF_EVENT_TYPE: event_type,
                    CONF_EVENT_DATA: {
                        ATTR_CONFIG_ENTRY_ID: entry.entry_id,
                        **match,
                    },
                }
            ),
            action,
            trigger_info,
            platform_type="device",
        )
        for match in TRIGGER_MATCHES[config[CONF_TYPE]]
    ]

    @callback
    def detach() -> None:
        for detacher in detachers:
            detacher()

    return detach
