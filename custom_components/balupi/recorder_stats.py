"""Read BaluPi's figures back from the recorder's long-term statistics.

The projection and the monthly report use what the recorder already keeps for
the sensors (hourly change of each total), so BaluPi stores no history itself.
The recorder's statistics module is loaded (in the executor) on the first
question: a Home Assistant without the recorder never loads it for BaluPi.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import (
    CONF_MAC,
    Platform,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.importlib import async_import_module
from homeassistant.helpers.recorder import get_instance

from .const import CONF_ROLE

STATISTICS = "homeassistant.components.recorder.statistics"


def entity_id_for(
    hass: HomeAssistant, entry: ConfigEntry, unique_id: str
) -> str | None:
    """Return the sensor with this unique id of the entry, if registered."""
    return er.async_get(hass).async_get_entity_id(
        Platform.SENSOR, entry.domain, unique_id
    )


def nas_sensor(hass: HomeAssistant, entry: ConfigEntry, key: str) -> str | None:
    """Return the entity id of a sensor on the NAS device."""
    return entity_id_for(hass, entry, f"{entry.data[CONF_MAC]}_{key}")


def cost_statistic_ids(
    hass: HomeAssistant, entry: ConfigEntry, macs: Iterable[str]
) -> set[str]:
    """Return the cost sensors of these plugs (their statistics are kept)."""
    return {
        entity_id
        for mac in macs
        if (entity_id := entity_id_for(hass, entry, f"{mac}_cost"))
    }


async def async_hourly_changes(
    hass: HomeAssistant, statistic_ids: set[str], start: datetime, end: datetime
) -> list[tuple[datetime, float]]:
    """Return (hour start, summed change) over the statistics, hour by hour."""
    if not statistic_ids or "recorder" not in hass.config.components:
        return []
    await async_import_module(hass, STATISTICS)
    from homeassistant.components.recorder.statistics import statistics_during_period  # noqa: PLC0415

    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        end,
        statistic_ids,
        "hour",
        None,
        {"change"},
    )
    hours: defaultdict[float, float] = defaultdict(float)
    for series in rows.values():
        for row in series:
            if (change := row.get("change")) is not None:
                hours[row["start"]] += change
    return [
        (datetime.fromtimestamp(start, UTC), change)
        for start, change in sorted(hours.items())
    ]


async def async_period_value(
    hass: HomeAssistant,
    statistic_id: str | None,
    start: datetime,
    end: datetime,
    kind: Literal["change", "mean"],
) -> float | None:
    """Return one statistic's change or mean over a period; None without data."""
    if statistic_id is None or "recorder" not in hass.config.components:
        return None
    await async_import_module(hass, STATISTICS)
    from homeassistant.components.recorder.statistics import statistic_during_period  # noqa: PLC0415

    result: dict[str, Any] = await get_instance(hass).async_add_executor_job(
        statistic_during_period, hass, start, end, statistic_id, {kind}, REPORT_UNITS
    )
    value = result.get(kind)
    return None if value is None else float(value)


# Statistics are converted to these units whatever the user chose to display.
REPORT_UNITS = {
    "duration": UnitOfTime.HOURS,
    "energy": UnitOfEnergy.KILO_WATT_HOUR,
    "power": UnitOfPower.WATT,
}


async def async_month_report(
    hass: HomeAssistant,
    entry: ConfigEntry,
    plugs: Iterable[ConfigSubentry],
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """Return a month's energy, cost, awake time and savings from the statistics.

    ``plugs`` are the subentries of the plugs the entry was set up with.
    """

    async def change(key: str, mac: str | None = None) -> float | None:
        entity_id = entity_id_for(hass, entry, f"{mac or entry.data[CONF_MAC]}_{key}")
        return await async_period_value(hass, entity_id, start, end, "change")

    rows: list[dict[str, Any]] = [
        {
            "name": plug.title,
            "role": plug.data[CONF_ROLE],
            "energy_kwh": await change("energy_today", plug.data[CONF_MAC]),
            "cost": await change("cost", plug.data[CONF_MAC]),
        }
        for plug in plugs
    ]
    nas = {
        "awake_hours": await change("awake_today"),
        "energy_saved_kwh": await change("energy_saved"),
        "cost_saved": await change("cost_saved"),
        "baseline_w": await async_period_value(
            hass, nas_sensor(hass, entry, "always_on_baseline"), start, end, "mean"
        ),
    }
    values = [*nas.values()] + [
        row[key] for row in rows for key in ("energy_kwh", "cost")
    ]
    has_data = any(value is not None for value in values)
    # A month without statistics reports zeros, and says so in has_data.
    for row in rows:
        for key in ("energy_kwh", "cost"):
            row[key] = _rounded(row[key], 3)
    for key, value in nas.items():
        nas[key] = _rounded(value, 3)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "currency": hass.config.currency,
        "has_data": has_data,
        "plugs": rows,
        "total": {
            "energy_kwh": round(sum(row["energy_kwh"] for row in rows), 3),
            "cost": round(sum(row["cost"] for row in rows), 2),
        },
        "nas": nas,
    }


def _rounded(value: float | None, digits: int) -> float:
    return 0.0 if value is None else round(value, digits)
