"""The price in force and other figures read from Home Assistant's states.

Insights price the NAS's sleep and every plug's cost meter with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant

from ..const import CONF_PRICE_ENTITY
from ..tariff import Tariff


def state_float(hass: HomeAssistant, entity_id: str | None) -> float | None:
    """Return an entity's state as a number; None if unset, missing or not one."""
    if not entity_id or (state := hass.states.get(entity_id)) is None:
        return None
    try:
        return float(state.state)
    except ValueError:
        return None


def current_tariff(
    hass: HomeAssistant, options: Mapping[str, Any], tariff: Tariff
) -> Tariff:
    """Return the tariff in force: the price entity's if set and valid, else ours."""
    price = state_float(hass, options.get(CONF_PRICE_ENTITY))
    return tariff if price is None else Tariff(price)


def current_price(
    hass: HomeAssistant, options: Mapping[str, Any], tariff: Tariff, moment: datetime
) -> float:
    """Return the price per kWh at ``moment`` under the tariff in force."""
    return current_tariff(hass, options, tariff).price_at(moment)
