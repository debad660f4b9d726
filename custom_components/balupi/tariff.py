"""Electricity prices and per-device cost, as Home Assistant never prices devices.

Pure logic without Home Assistant imports. A plug reports a "today" energy
counter that drops to zero at midnight and after a reboot; the cost meter adds
each increase at the price valid when it was consumed and treats any drop as a
new counting cycle, so cost is never negative and never counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any


@dataclass(frozen=True, slots=True)
class TimeOfUse:
    """Another price between two times of day (may wrap past midnight)."""

    start: time
    end: time
    price: float

    def applies(self, moment: time) -> bool:
        """Return whether a local time of day falls into this period."""
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True, slots=True)
class Tariff:
    """A default price per kWh and optional time-of-use periods."""

    price: float
    periods: tuple[TimeOfUse, ...] = ()

    def price_at(self, moment: datetime) -> float:
        """Return the price per kWh at a local time."""
        local = moment.time()
        for period in self.periods:
            if period.applies(local):
                return period.price
        return self.price


@dataclass(slots=True)
class CostMeter:
    """Turn readings of a resetting energy counter into an ever-growing cost."""

    cost: float = 0.0
    last_kwh: float | None = None

    def add_reading(self, kwh: float, price: float) -> float:
        """Account for one counter reading at the price valid now; return the delta.

        The first reading only sets the baseline. A reading below the last one
        means the counter started over (midnight, reboot): everything it shows
        now was consumed since then.
        """
        last, self.last_kwh = self.last_kwh, kwh
        if last is None:
            return 0.0
        consumed = kwh - last if kwh >= last else kwh
        delta = consumed * price
        self.cost += delta
        return delta


def tariff_from_options(options: Mapping[str, Any], default_price: float) -> Tariff:
    """Build the tariff from an entry's options (keys as the options flow stores)."""
    periods: tuple[TimeOfUse, ...] = ()
    if (
        options.get("tou_start")
        and options.get("tou_end")
        and (options.get("tou_price") is not None)
    ):
        periods = (
            TimeOfUse(
                time.fromisoformat(options["tou_start"]),
                time.fromisoformat(options["tou_end"]),
                float(options["tou_price"]),
            ),
        )
    return Tariff(float(options.get("price", default_price)), periods)
