"""Energy insights in Home Assistant: awake time, savings, month costs, report.

The arithmetic itself is tested in test_insights.py; here the sensors are fed
by the real NAS lifecycle and a fake Tapo plug on 127.0.0.1, with the clock
under the test's control.
"""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balupi.const import DOMAIN, ROLE_NAS
from custom_components.balupi.nas_state import NasState, Reason
from homeassistant.core import HomeAssistant

from .conftest import setup_entry
from .fakes.nas_simulator import NasSimulator
from .fakes.tapo_plug import FakeTapoPlug
from .test_plugs import make_entry, plug, plug_subentry, value

__all__ = ["plug"]

AWAKE = "sensor.baluhost_awake_today"
SHARE = "sensor.baluhost_awake_share_last_7_days"
BASELINE = "sensor.baluhost_always_on_baseline"
SAVED = "sensor.baluhost_energy_saved_by_sleeping"
SAVED_COST = "sensor.baluhost_cost_saved_by_sleeping"
NAS_MONTH = "sensor.baluhost_nas_cost_this_month"
MONTH = "sensor.baluhost_cost_this_month"
NAS_COST = "sensor.nas_plug_nas_cost"
POLL = 60


async def run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plug: FakeTapoPlug,
    hours: float,
) -> None:
    """Let time pass in plug polls: the plug counts energy, BaluPi reads it.

    Each poll is made here, one after the other, rather than left to the
    timers: a real request finishing a step late would shift the schedule.
    """
    for _ in range(round(hours * 3600 / POLL)):
        freezer.tick(POLL)
        plug.advance(POLL)
        for entry in hass.config_entries.async_entries(DOMAIN):
            for coordinator in entry.runtime_data.plugs.values():
                await coordinator.async_refresh()
            await entry.runtime_data.insights.async_refresh()
    await hass.async_block_till_done()


async def sleep(
    hass: HomeAssistant, entry: MockConfigEntry, nas: NasSimulator, plug: FakeTapoPlug
) -> None:
    """The NAS announces its shutdown and sleeps at standby power."""
    await nas.go_dark()
    plug.power_w = 2.0
    await entry.runtime_data.nas.async_going_offline()
    await hass.async_block_till_done()


async def wake(
    hass: HomeAssistant, entry: MockConfigEntry, nas: NasSimulator, plug: FakeTapoPlug
) -> None:
    """The NAS comes back and announces it."""
    await nas.start()
    plug.power_w = 40.0
    await entry.runtime_data.nas.async_transition(NasState.ONLINE, Reason.HANDSHAKE)
    await hass.async_block_till_done()


async def set_up_nas_plug(
    hass: HomeAssistant, nas: NasSimulator, plug: FakeTapoPlug, **options: Any
) -> MockConfigEntry:
    """BaluPi in Berlin with a NAS plug drawing 40 W, 2.00 per kWh, 40 W baseline."""
    await hass.config.async_set_time_zone("Europe/Berlin")
    plug.power_w = 40.0
    entry = make_entry(
        nas,
        plug_subentry(plug, ROLE_NAS),
        plug_interval=POLL,
        price=2.0,
        baseline_watts=40.0,
        **options,
    )
    await setup_entry(hass, entry)
    return entry


@pytest.mark.freeze_time("2026-11-24T10:00:00+01:00")
async def test_a_day_with_three_awake_periods_and_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    entry = await set_up_nas_plug(hass, nas, plug, pi_watts=4.0)
    assert value(hass, SAVED) == "0.0"

    await run(hass, freezer, plug, 1)  # 10:00-11:00 awake
    await sleep(hass, entry, nas, plug)
    await run(hass, freezer, plug, 1)  # 11:00-12:00 asleep
    await wake(hass, entry, nas, plug)
    await run(hass, freezer, plug, 0.5)  # 12:00-12:30 awake
    # Home Assistant restarts while the NAS is awake.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await run(hass, freezer, plug, 0.5)  # 12:30-13:00 awake
    await sleep(hass, entry, nas, plug)
    await run(hass, freezer, plug, 1)  # 13:00-14:00 asleep
    await wake(hass, entry, nas, plug)
    await run(hass, freezer, plug, 0.5)  # 14:00-14:30 awake
    await sleep(hass, entry, nas, plug)
    await run(hass, freezer, plug, 0.5)  # 14:30-15:00 asleep

    # Awake 1 h + 1 h + 0.5 h; asleep 2.5 h at 40 W baseline - 2 W standby
    # - 4 W for the Pi = 34 W: 85 Wh. Except: the first poll after each of the
    # three shutdowns only knows the draw before (40 W) and after (2 W), so
    # that minute is counted at their mean, 21 W: 19 W less for 60 s, three
    # times. The state is in whole Wh; the cost at 2.00 per kWh in cents.
    saved_wh = 34 * 2.5 - 3 * 19 * POLL / 3600
    assert float(value(hass, AWAKE)) == pytest.approx(2.5, abs=1 / 3600)
    assert float(value(hass, SAVED)) == round(saved_wh / 1000, 3)
    assert float(value(hass, SAVED_COST)) == round(saved_wh / 1000 * 2.0, 2)
    # 5 of 5 hours recorded so far, half of them awake.
    assert float(value(hass, SHARE)) == pytest.approx(50.0, abs=0.5)
    # The NAS plug's energy: 2.5 h at 40 W and 2.5 h at 2 W = 105 Wh at 2.00.
    assert float(value(hass, NAS_MONTH)) == pytest.approx(0.21, abs=0.01)
    assert value(hass, MONTH) == value(hass, NAS_MONTH)
    state = hass.states.get(NAS_MONTH)
    assert state is not None
    assert state.attributes["last_reset"] == "2026-10-31T23:00:00+00:00"

    # Past local midnight the day starts over; the savings go on.
    await sleep(hass, entry, nas, plug)
    freezer.move_to("2026-11-24T23:59:00+01:00")
    await run(hass, freezer, plug, 2 / 60)
    assert float(value(hass, AWAKE)) == 0.0
    assert float(value(hass, SAVED)) > 0.085


@pytest.mark.freeze_time("2026-11-24T10:00:00+01:00")
async def test_learned_baseline_is_unknown_until_an_hour_of_samples(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")
    plug.power_w = 50.0
    entry = make_entry(nas, plug_subentry(plug, ROLE_NAS), plug_interval=POLL)
    await setup_entry(hass, entry)

    await run(hass, freezer, plug, 0.5)
    assert value(hass, BASELINE) == "unknown"
    await sleep(hass, entry, nas, plug)
    await run(hass, freezer, plug, 0.25)
    # Savings are unknown, not zero, while no baseline exists.
    assert value(hass, SAVED) == "unknown"

    await wake(hass, entry, nas, plug)
    plug.power_w = 50.0
    await run(hass, freezer, plug, 1)
    assert float(value(hass, BASELINE)) == pytest.approx(50.0)
    await sleep(hass, entry, nas, plug)
    await run(hass, freezer, plug, 1)
    # 1 h at 50 W - 2 W, no Pi draw given.
    assert float(value(hass, SAVED)) == pytest.approx(0.048, abs=0.001)


@pytest.mark.freeze_time("2026-11-24T10:00:00+01:00")
async def test_savings_follow_the_price_entity(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    """A dynamic price (price entity) wins over the fixed 2.00 for savings too."""
    hass.states.async_set("sensor.price", "0.5")
    entry = await set_up_nas_plug(hass, nas, plug, price_entity="sensor.price")
    await sleep(hass, entry, nas, plug)
    await run(hass, freezer, plug, 1)

    # 40 W baseline - 2 W standby for 1 h, less the first minute at the mean.
    saved_wh = 38 - 19 * POLL / 3600
    assert float(value(hass, SAVED)) == round(saved_wh / 1000, 3)
    assert float(value(hass, SAVED_COST)) == round(saved_wh / 1000 * 0.5, 2)


async def read_plugs(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """One poll of every plug, published at once."""
    for coordinator in entry.runtime_data.plugs.values():
        await coordinator.async_refresh()
    await entry.runtime_data.insights.async_refresh()
    await hass.async_block_till_done()


@pytest.mark.freeze_time("2026-11-30T23:00:00+01:00")
async def test_month_cost_and_cost_sensor_are_one_meter(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    """Home Assistant is down across the start of the month."""
    entry = await set_up_nas_plug(hass, nas, plug)
    plug.power_w = 1000.0
    await run(hass, freezer, plug, 0.5)  # 23:00-23:30, 0.5 kWh at 2.00
    november = float(value(hass, NAS_COST))
    assert november == pytest.approx(1.0, abs=0.01)
    assert value(hass, NAS_MONTH) == value(hass, NAS_COST)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # Down until 00:30; the plug's day (and month) counter starts over at midnight.
    freezer.tick(3600)
    plug.advance(1800)
    plug.reset_counters(month=True)
    plug.advance(1800)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await read_plugs(hass, entry)
    # What the plug counted since its midnight, in December; the half hour
    # before midnight was never read (see Known limitations).
    assert float(value(hass, NAS_MONTH)) == pytest.approx(1.0, abs=0.01)
    assert value(hass, MONTH) == value(hass, NAS_MONTH)
    assert float(value(hass, NAS_COST)) == pytest.approx(
        november + float(value(hass, NAS_MONTH)), abs=0.01
    )
    state = hass.states.get(NAS_MONTH)
    assert state is not None
    assert state.attributes["last_reset"] == "2026-11-30T23:00:00+00:00"
