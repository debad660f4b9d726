"""balupi.energy_report: a month read back from the recorder's statistics."""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.balupi.const import DOMAIN, ROLE_NAS, SERVICE_ENERGY_REPORT
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util

from .conftest import setup_entry
from .fakes.nas_simulator import NasSimulator
from .fakes.tapo_plug import FakeTapoPlug
from .test_energy_insights import (
    AWAKE,
    NAS_MONTH,
    SAVED,
    SAVED_COST,
    run,
    set_up_nas_plug,
    sleep,
)
from .test_plugs import make_entry, plug, plug_subentry, value

__all__ = ["plug"]

PROJECTED = "sensor.baluhost_projected_cost_this_month"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> Generator[None]:
    """The recorder must start before Home Assistant does."""
    return


@pytest.fixture(autouse=True)
def quiet_sql() -> None:
    """The recorder thread logs every SQL statement at INFO, outside capture."""
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


# --- the monthly report -----------------------------------------------------------


async def report(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, SERVICE_ENERGY_REPORT, data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


def _import_hourly(
    hass: HomeAssistant,
    entity_id: str,
    unit: str,
    unit_class: str | None,
    start: datetime,
    hourly_change: float,
    hours: int,
) -> None:
    """Give an entity hourly sum statistics, as the recorder compiles them."""
    metadata = StatisticMetaData(
        source="recorder",
        statistic_id=entity_id,
        name=None,
        unit_of_measurement=unit,
        unit_class=unit_class,
        has_sum=True,
        mean_type=StatisticMeanType.NONE,
    )
    rows = [
        StatisticData(
            start=start + timedelta(hours=hour),
            state=hourly_change * (hour + 1),
            sum=hourly_change * (hour + 1),
        )
        for hour in range(hours)
    ]
    async_import_statistics(hass, metadata, rows)


@pytest.mark.freeze_time("2026-11-24T10:00:00+01:00")
async def test_report_of_a_past_month_from_statistics(
    hass: HomeAssistant,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")
    entry = make_entry(nas, plug_subentry(plug, ROLE_NAS))
    await setup_entry(hass, entry)
    october = dt_util.as_utc(
        datetime(2026, 10, 1, tzinfo=dt_util.get_default_time_zone())
    )
    hours = 31 * 24 + 1  # October 2026 has 745 hours (the clocks went back)
    _import_hourly(
        hass, "sensor.nas_plug_energy_today", "kWh", "energy", october, 0.02, hours
    )
    _import_hourly(hass, "sensor.nas_plug_nas_cost", "EUR", None, october, 0.006, hours)
    _import_hourly(hass, AWAKE, "h", "duration", october, 0.25, hours)
    _import_hourly(hass, SAVED, "kWh", "energy", october, 0.03, hours)
    _import_hourly(hass, SAVED_COST, "EUR", None, october, 0.009, hours)
    await async_wait_recording_done(hass)

    result = await report(hass, year=2026, month=10)

    assert result["has_data"] is True
    assert (result["year"], result["month"]) == (2026, 10)
    [nas_plug] = result["plugs"]
    assert nas_plug["energy_kwh"] == pytest.approx(0.02 * hours, abs=0.001)
    assert nas_plug["cost"] == pytest.approx(0.006 * hours, abs=0.001)
    assert result["nas"]["awake_hours"] == pytest.approx(0.25 * hours, abs=0.001)
    assert result["nas"]["energy_saved_kwh"] == pytest.approx(0.03 * hours, abs=0.001)
    assert result["nas"]["cost_saved"] == pytest.approx(0.009 * hours, abs=0.001)
    assert result["total"]["cost"] == pytest.approx(0.006 * hours, abs=0.01)

    empty = await report(hass, year=2026, month=9)
    assert empty["has_data"] is False
    assert empty["plugs"][0]["energy_kwh"] == 0.0
    assert empty["nas"]["awake_hours"] == 0.0


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"month": 13}, "invalid_month"),
        ({"month": 0}, "invalid_month"),
        ({"year": 2026, "month": 12}, "future_month"),
        ({"year": 2027, "month": 1}, "future_month"),
    ],
)
@pytest.mark.freeze_time("2026-11-24T10:00:00+01:00")
async def test_report_refuses_bad_months(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    data: dict[str, int],
    key: str,
) -> None:
    await setup_entry(hass, config_entry)
    with pytest.raises(ServiceValidationError) as raised:
        await report(hass, **data)
    assert raised.value.translation_key == key
    # Translated, with the month in the message.
    assert str(data["month"]) in str(raised.value)


@pytest.mark.freeze_time("2026-11-24T10:00:00+01:00")
async def test_report_of_this_month_matches_the_sensors(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    """Statistics compiled from the sensors' own states give the same figures."""
    entry = await set_up_nas_plug(hass, nas, plug)
    start = dt_util.utcnow()
    await run(hass, freezer, plug, 1)
    await sleep(hass, entry, nas, plug)
    await run(hass, freezer, plug, 2)
    await async_wait_recording_done(hass)
    for minutes in range(0, 3 * 60, 5):
        do_adhoc_statistics(hass, start=start + timedelta(minutes=minutes))
    await async_wait_recording_done(hass)

    result = await report(hass)

    assert (result["year"], result["month"]) == (2026, 11)
    # Within 2 Wh: the state is in whole Wh, and the first period (below).
    assert result["nas"]["energy_saved_kwh"] == pytest.approx(
        float(value(hass, SAVED)), abs=0.002
    )
    assert result["nas"]["cost_saved"] == pytest.approx(
        float(value(hass, SAVED_COST)), abs=0.01
    )
    # The recorder starts a sum at the sensor's first compiled state, so the
    # minutes of the very first 5-minute period before it are not in it.
    assert result["nas"]["awake_hours"] == pytest.approx(1.0, abs=5 / 60)
    assert result["nas"]["baseline_w"] == pytest.approx(40.0)
    [nas_plug] = result["plugs"]
    # 1 h at 40 W and 2 h at 2 W, less the first period (see above).
    assert nas_plug["energy_kwh"] == pytest.approx(0.044, abs=0.004)
    assert nas_plug["cost"] == pytest.approx(float(value(hass, NAS_MONTH)), abs=0.01)


@pytest.mark.freeze_time("2026-11-24T10:00:00+01:00")
async def test_projection_prices_the_rest_of_the_month_from_last_week(
    hass: HomeAssistant,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")
    entry = make_entry(nas, plug_subentry(plug, ROLE_NAS), price=2.0)
    await setup_entry(hass, entry)
    assert value(hass, PROJECTED) == "unknown"
    week_ago = dt_util.utcnow() - timedelta(days=7)
    _import_hourly(
        hass, "sensor.nas_plug_nas_cost", "EUR", None, week_ago, 0.01, 7 * 24
    )
    await async_wait_recording_done(hass)

    # The profile is read hourly; a reload reads it at once.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    # 0.01 per hour for the 158 hours from now to 1 December 00:00 (local).
    so_far = float(value(hass, "sensor.baluhost_cost_this_month"))
    assert float(value(hass, PROJECTED)) == pytest.approx(so_far + 1.58, abs=0.01)
