"""Prices and the cost meter (pure logic)."""

from __future__ import annotations

from datetime import date, datetime, time

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


def test_cost_adds_each_delta_at_its_price() -> None:
    meter = CostMeter()
    assert meter.add_reading(1.0, 0.32) == 0  # baseline only
    meter.add_reading(1.5, 0.32)
    meter.add_reading(2.0, 0.25)
    assert meter.cost == pytest.approx(0.5 * 0.32 + 0.5 * 0.25)


def test_counter_reset_is_a_new_cycle_not_negative() -> None:
    meter = CostMeter()
    meter.add_reading(3.0, 1.0)
    meter.add_reading(3.2, 1.0)
    # Midnight (or a reboot): the counter starts again and shows 0.1 kWh since.
    assert meter.add_reading(0.1, 1.0) == pytest.approx(0.1)
    meter.add_reading(0.1, 1.0)
    assert meter.cost == pytest.approx(0.3)
