"""Prices and the cost meter (pure logic)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from custom_components.balupi.tariff import CostMeter, Tariff, TimeOfUse

NIGHT = TimeOfUse(time(22), time(6), 0.25)


@pytest.mark.parametrize(
    ("clock", "price"),
    [(time(21, 59), 0.32), (time(22), 0.25), (time(3), 0.25), (time(6), 0.32)],
)
def test_time_of_use_wraps_midnight(clock: time, price: float) -> None:
    tariff = Tariff(0.32, (NIGHT,))
    assert tariff.price_at(datetime.combine(date(2026, 11, 24), clock)) == price


def test_period_within_a_day() -> None:
    noon = TimeOfUse(time(11), time(14), 0.10)
    assert noon.applies(time(12))
    assert not noon.applies(time(14))


BERLIN = ZoneInfo("Europe/Berlin")
NOON = datetime(2026, 11, 24, 12, tzinfo=BERLIN)
POLL = timedelta(seconds=30)


def at_price(price: float) -> Callable[[datetime], float]:
    return Tariff(price).price_at


def feed(meter: CostMeter, *readings: float, start: datetime = NOON) -> None:
    """Readings one poll apart, at 1.00 per kWh."""
    for index, kwh in enumerate(readings):
        meter.add_reading(kwh, start + index * POLL, at_price(1.0))


def test_cost_adds_each_delta_at_its_price() -> None:
    meter = CostMeter()
    assert meter.add_reading(1.0, NOON, at_price(0.32)) == 0  # baseline only
    meter.add_reading(1.5, NOON + POLL, at_price(0.32))
    meter.add_reading(2.0, NOON + 2 * POLL, at_price(0.25))
    assert meter.cost == pytest.approx(0.5 * 0.32 + 0.5 * 0.25)


def test_energy_is_priced_in_the_middle_of_its_interval() -> None:
    meter = CostMeter()
    tariff = Tariff(0.32, (NIGHT,))
    meter.add_reading(
        1.0, datetime(2026, 11, 24, 21, 50, tzinfo=BERLIN), tariff.price_at
    )
    # Used 21:50-22:20: priced at 22:05, in the night period.
    meter.add_reading(
        2.0, datetime(2026, 11, 24, 22, 20, tzinfo=BERLIN), tariff.price_at
    )
    assert meter.cost == pytest.approx(0.25)


def test_counter_reset_is_a_new_cycle_not_negative() -> None:
    meter = CostMeter()
    feed(meter, 3.0, 3.2)
    # A reboot: the counter starts again and shows 0.1 kWh since.
    feed(meter, 0.1, 0.1, start=NOON + 2 * POLL)
    assert meter.cost == pytest.approx(0.3)


def test_small_dip_is_not_a_reset() -> None:
    meter = CostMeter()
    feed(meter, 5.000, 5.010, 5.009, 5.011)
    # 0.011 kWh were used, not the whole day again.
    assert meter.cost == pytest.approx(0.011)


def test_drop_of_more_than_ten_percent_is_a_reset() -> None:
    meter = CostMeter()
    feed(meter, 5.0, 4.49, 4.5)
    assert meter.cost == pytest.approx(4.5)


def test_new_day_starts_a_new_count() -> None:
    """Home Assistant was down overnight; the plug counted since its midnight."""
    meter = CostMeter()
    meter.add_reading(1.0, datetime(2026, 11, 24, 23, 50, tzinfo=BERLIN), at_price(1.0))
    meter.add_reading(1.2, datetime(2026, 11, 25, 8, tzinfo=BERLIN), at_price(1.0))
    assert meter.cost == pytest.approx(1.2)


def test_counter_just_after_our_midnight_is_still_the_plugs_yesterday() -> None:
    """The plug's clock lags by a minute: its counter starts over a poll later."""
    meter = CostMeter()
    midnight = datetime(2026, 11, 25, tzinfo=BERLIN)
    meter.add_reading(5.0, midnight - POLL, at_price(1.0))
    meter.add_reading(5.01, midnight + POLL, at_price(1.0))
    meter.add_reading(0.0, midnight + 3 * POLL, at_price(1.0))
    meter.add_reading(0.02, midnight + 4 * POLL, at_price(1.0))
    assert meter.cost == pytest.approx(0.03)


def test_day_is_the_local_one() -> None:
    meter = CostMeter()
    # 23:30 UTC is already the next day in Berlin.
    meter.add_reading(2.0, datetime(2026, 11, 24, 22, tzinfo=UTC), at_price(1.0))
    meter.add_reading(
        2.5,
        datetime(2026, 11, 24, 23, 30, tzinfo=UTC).astimezone(BERLIN),
        at_price(1.0),
    )
    assert meter.cost == pytest.approx(2.5)


def test_month_cost_is_what_was_added_since_the_month_began() -> None:
    meter = CostMeter()
    feed(meter, 1.0, 3.0)
    meter.start_month()
    feed(meter, 3.0, 3.5, start=NOON + 2 * POLL)
    assert (meter.cost, meter.month_cost) == pytest.approx((2.5, 0.5))


def test_meter_survives_a_store() -> None:
    meter = CostMeter()
    feed(meter, 1.0, 3.0)
    meter.start_month()
    restored = CostMeter.from_dict(meter.as_dict())
    assert restored == meter
    # The day rule still knows when the last reading came.
    restored.add_reading(0.5, datetime(2026, 11, 25, 8, tzinfo=BERLIN), at_price(1.0))
    assert restored.month_cost == pytest.approx(0.5)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"cost": "x", "month_start_cost": 0, "last_kwh": None, "last_at": None},
        {"cost": 1, "month_start_cost": 0, "last_kwh": 1, "last_at": "2026-11-24"},
    ],
)
def test_unreadable_meter_is_refused(data: dict[str, object]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        CostMeter.from_dict(data)


@pytest.mark.parametrize("garbage", [float("nan"), float("inf"), -1.0])
def test_impossible_reading_is_ignored(garbage: float) -> None:
    meter = CostMeter()
    feed(meter, 1.0, garbage, 1.5)
    assert meter.cost == pytest.approx(0.5)
