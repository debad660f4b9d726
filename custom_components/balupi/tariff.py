"""Electricity prices and per-device cost, as Home Assistant never prices devices.

Pure logic without Home Assistant imports. A plug reports a "today" energy
counter that starts over at its midnight (and on some firmware after a
reboot); the cost meter adds each increase at the price valid when it was
consumed. Only what Home Assistant itself takes for a reset (a drop of more
than 10 %) or a new day starts a new counting cycle; a small dip of the
firmware's counter is ignored. So cost is never negative and never counted
twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
import math
from typing import Any

# Home Assistant's own reset rule for a total_increasing sensor.
RESET_DROP = 0.1
# The plug starts its day counter at its own midnight, which may lag ours by a
# clock's drift: just after our midnight a counter that did not drop is still
# yesterday's.
MIDNIGHT_GRACE = timedelta(minutes=5)


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
    """Turn readings of a plug's day counter into an ever-growing cost.

    The one meter of a plug: its cost sensor shows ``cost``, the month's cost
    is what was added since the month began.
    """

    cost: float = 0.0
    month_start_cost: float = 0.0
    # The highest reading since the counter last started over, and when the
    # last reading came (an aware local time).
    last_kwh: float | None = None
    last_at: datetime | None = None

    @property
    def month_cost(self) -> float:
        """Return the cost added since the month began."""
        return self.cost - self.month_start_cost

    def start_month(self) -> None:
        """Begin a new month's count at the running total."""
        self.month_start_cost = self.cost

    def add_reading(
        self, kwh: float, at: datetime, price_at: Callable[[datetime], float]
    ) -> float:
        """Account for one counter reading taken at ``at``; return the cost added.

        The first reading only sets the baseline. The energy since the last
        reading was used in between: it is priced at the middle, so a tariff
        change between two readings splits fairly. A reading no counter can
        show (negative, not finite) is ignored.
        """
        if not math.isfinite(kwh) or kwh < 0:
            return 0.0
        last, previous = self.last_kwh, self.last_at
        self.last_at = at
        if last is None:
            self.last_kwh = kwh
            return 0.0
        if counter_restarted(kwh, last, previous, at):
            # Everything the counter shows was used since it started over.
            consumed, self.last_kwh = kwh, kwh
        else:
            # A dip is not counted, and the rise after it only above the
            # level already counted.
            consumed, self.last_kwh = max(0.0, kwh - last), max(kwh, last)
        if consumed <= 0:
            return 0.0
        middle = at if previous is None else at - (at - previous) / 2
        delta = consumed * price_at(middle)
        self.cost += delta
        return delta

    def as_dict(self) -> dict[str, Any]:
        """Return the meter as plain data for a Store."""
        return {
            "cost": self.cost,
            "month_start_cost": self.month_start_cost,
            "last_kwh": self.last_kwh,
            "last_at": None if self.last_at is None else self.last_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostMeter:
        """Restore a meter; raise ValueError, TypeError or KeyError if unreadable."""
        last_kwh, last_at = data["last_kwh"], data["last_at"]
        at = None if last_at is None else datetime.fromisoformat(last_at)
        if at is not None and at.tzinfo is None:
            raise ValueError(f"naive time {last_at}")
        return cls(
            float(data["cost"]),
            float(data["month_start_cost"]),
            None if last_kwh is None else float(last_kwh),
            at,
        )


def counter_restarted(
    kwh: float, last: float, previous: datetime | None, at: datetime
) -> bool:
    """Return whether a day counter started over between two readings.

    ``last`` is the level counted so far, ``previous`` when the last reading
    came. A new local day restarts the count, once the plug's midnight has
    surely passed too.
    """
    if kwh < last * (1 - RESET_DROP):
        return True
    if previous is None or previous.astimezone(at.tzinfo).date() == at.date():
        return False
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return at - midnight >= MIDNIGHT_GRACE


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
