"""Actions of BaluPi, registered once for all entries."""

from __future__ import annotations

import probatio

from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.helpers import config_validation as cv, service

from .const import DOMAIN, SERVICE_WAKE_NAS
from .data import BalupiConfigEntry

ENTRY_SCHEMA = probatio.Schema({probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})


def _loaded_entry(call: ServiceCall) -> BalupiConfigEntry:
    """Return the loaded entry an action targets (the only one if not given)."""
    entry: BalupiConfigEntry = service.async_get_config_entry(
        call.hass, DOMAIN, call.data.get(ATTR_CONFIG_ENTRY_ID)
    )
    return entry


async def _async_wake_nas(call: ServiceCall) -> None:
    """Wake the NAS of the targeted entry."""
    await _loaded_entry(call).runtime_data.coordinator.async_wake()


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions."""
    hass.services.async_register(
        DOMAIN, SERVICE_WAKE_NAS, _async_wake_nas, schema=ENTRY_SCHEMA
    )
