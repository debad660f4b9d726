"""What is metered: a plug's readings, and the price in force for them.

Insights price the NAS's sleep and every plug's cost meter with them. No
python-kasa at import: an entry without plugs never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant

from ..const import CONF_PRICE_ENTITY
from ..tariff import Tariff

if TYPE_CHECKING:
    from kasa import Device


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


def energy_value(device: Device, name: str) -> float | None:
    """Read one value of the plug's energy module (None where it has none).

    Values are read when an entity writes its state, as core's tplink does,
    so a poll itself does no more than python-kasa's update.
    """
    # A device exists, so python-kasa is loaded: this import costs nothing.
    from kasa import KasaException, Module  # noqa: PLC0415

    if (energy := device.modules.get(Module.Energy)) is None:
        return None
    try:
        value: float | None = getattr(energy, name)
    except KasaException:
        # That module's last query failed while the plug answered otherwise.
        return None
    return value
