"""Diagnostics for BaluPi: configuration and lifecycle, the secret redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_SECRET
from .data import BalupiConfigEntry

TO_REDACT = {CONF_SECRET}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: BalupiConfigEntry
) -> dict[str, Any]:
    """Return what helps to debug the NAS lifecycle."""
    coordinator = entry.runtime_data.coordinator
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "lifecycle": coordinator.lifecycle.as_dict(),
        "heartbeat": {
            "failures": coordinator.policy.failures,
            "update_interval": coordinator.update_interval.total_seconds()
            if coordinator.update_interval
            else None,
            "last_seen": coordinator.last_seen.isoformat()
            if coordinator.last_seen
            else None,
            "worst_case_detection": coordinator.settings.worst_case_detection(),
        },
        "version": coordinator.version,
    }
