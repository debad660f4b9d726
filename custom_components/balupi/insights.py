"""Energy insights: awake time, the always-on baseline, sleep savings, projections.

Pure logic without Home Assistant imports (besides the pure NAS lifecycle and
tariff modules), so the sensors, the report action and the benchmark share one
tested implementation. Times are aware datetimes. Durations are computed in
UTC: subtracting two datetimes of the same zone object would give the
wall-clock difference, wrong on days of 23 or 25 hours. The local zone is only
used to find calendar days, hours of day and the tariff's times of day. Every
accumulator turns into a plain dict (``as_dict``/``from_dict``) for a Store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise
import logging
import math
import statistics
from typing import Any, Literal

from .nas_state import AWAKE_STATES, NasState, Transition
from .tariff import Tariff

_LOGGER = logging.getLogger(__name__)

ONE_DAY = timedelta(days=1)
ONE_HOUR = timedelta(hours=1)
SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24

# The awake share covers today and the six local days before it; the tracker
# keeps one bucket of awake seconds per local day, and only these.
SHARE_DAYS = 7

# The baseline is the median of 5-minute medians over a week: at most
# 7 * 288 = 2016 values, whatever the poll interval.
SLOT_SECONDS = 300
BASELINE_WINDOW_SECONDS = 7 * 24 * 3600
MIN_BASELINE_SECONDS = 3600
MIN_BASELINE_SLOTS = MIN_BASELINE_SECONDS // SLOT_SECONDS

# Older than any recorder: also keeps month arithmetic clear of year 1.
FIRST_REPORT_YEAR = 1970
MONTHS = 12


def as_utc(moment: datetime) -> datetime:
    """Return an aware datetime in UTC; refuse a naive one."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment}")
    return moment.astimezone(UTC)


def local_date(moment: datetime, tz: tzinfo) -> date:
    """Return the local calendar day of an instant."""
    return moment.astimezone(tz).date()


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """Return the first instant of a local calendar day, in UTC."""
    return datetime.combine(day, time(), tz).astimezone(UTC)


def split_by_day(
    start: datetime, end: datetime, tz: tzinfo
) -> Iterator[tuple[date, float]]:
    """Yield (local day, seconds) of [start, end), cut at local midnights."""
    day = local_date(start, tz)
    while start < end:
        cut = min(end, local_midnight(day + ONE_DAY, tz))
        yield day, (cut - start).total_seconds()
        start, day = cut, day + ONE_DAY


# --- awake time ------------------------------------------------------------------


@dataclass(slots=True)
class AwakeTracker:
    """Awake seconds per local day, fed with the NAS lifecycle's states.

    ``days`` holds the awake time up to ``counted_to``; from there on the
    current ``state`` runs. Feed every transition (``apply``) and every poll
    (``observe``, which also folds the running time into ``days``).

    After a restart, Home Assistant was down between ``counted_to`` and now.
    If the NAS was awake before, that gap counts as awake only once the NAS
    proves it is still awake (``seen_alive``, or a transition that only an
    awake NAS makes); a transition to a sleeping state first drops the gap.
    The NAS may have slept any part of the gap, so this is a guess either way;
    it rests on the one fact known after the restart, and a NAS that answers
    right after it most likely never slept in between.
    """

    tz: tzinfo
    state: NasState | None = None
    counted_to: datetime | None = None
    started: datetime | None = None
    days: dict[date, float] = field(default_factory=dict)
    pending: bool = False

    def apply(self, transition: Transition) -> None:
        """Follow one lifecycle transition."""
        self.observe(transition.to_state, transition.at)

    def observe(self, state: NasState, at: datetime) -> None:
        """Count up to ``at``, where the lifecycle is in ``state``.

        A state other than the tracked one is a transition the listener did
        not deliver (or the first state ever seen): it is taken as of ``at``.
        """
        at = as_utc(at)
        if self.state is None or self.counted_to is None:
            self.state, self.counted_to, self.started = state, at, at
            return
        if state is not self.state:
            if self.pending:
                self._resolve(awake=state in AWAKE_STATES, at=at)
            self._count_to(at)
            self.state = state
        else:
            self._count_to(at)

    def seen_alive(self, at: datetime) -> None:
        """Take note that the NAS answered (a successful heartbeat)."""
        if self.pending:
            self._resolve(awake=True, at=as_utc(at))

    def _resolve(self, *, awake: bool, at: datetime) -> None:
        """Decide the restart gap: count it as awake, or skip it up to ``at``."""
        self.pending = False
        if not awake and self.counted_to is not None:
            self.counted_to = max(self.counted_to, at)

    def _count_to(self, at: datetime) -> None:
        if self.pending or self.counted_to is None or at <= self.counted_to:
            return
        if self.state in AWAKE_STATES:
            for day, seconds in split_by_day(self.counted_to, at, self.tz):
                self.days[day] = self.days.get(day, 0.0) + seconds
            oldest = local_date(at, self.tz) - (SHARE_DAYS - 1) * ONE_DAY
            for old in [old for old in self.days if old < oldest]:
                del self.days[old]
        self.counted_to = at

    def _running(self, since: datetime, now: datetime) -> float:
        """Return the awake seconds from ``since`` to ``now`` not yet in ``days``."""
        if self.pending or self.counted_to is None or self.state not in AWAKE_STATES:
            return 0.0
        return max(0.0, (now - max(self.counted_to, since)).total_seconds())

    def awake_today(self, now: datetime) -> float:
        """Return the awake seconds of the local day of ``now``."""
        now = as_utc(now)
        today = local_date(now, self.tz)
        running = self._running(local_midnight(today, self.tz), now)
        return self.days.get(today, 0.0) + running

    def awake_share(self, now: datetime) -> float | None:
        """Return the awake share (%) of today and the six local days before.

        Over the part of that window the record covers: in the first days the
        share is of the time since the record started, and None before any.
        While a restart gap is undecided, the window ends where counting
        stopped, so the gap lowers the share neither way.
        """
        now = as_utc(now)
        if self.started is None or self.counted_to is None:
            return None
        first_day = local_date(now, self.tz) - (SHARE_DAYS - 1) * ONE_DAY
        start = max(local_midnight(first_day, self.tz), self.started)
        end = self.counted_to if self.pending else now
        covered = (end - start).total_seconds()
        if covered <= 0:
            return None
        counted = sum(s for day, s in self.days.items() if day >= first_day)
        awake = counted + self._running(start, now)
        return min(100.0, 100.0 * awake / covered)

    def as_dict(self) -> dict[str, Any]:
        """Serialise for a Store (``pending`` follows from the state on restore)."""
        return {
            "state": self.state.value if self.state else None,
            "counted_to": self.counted_to.isoformat() if self.counted_to else None,
            "started": self.started.isoformat() if self.started else None,
            "days": {day.isoformat(): s for day, s in self.days.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, tz: tzinfo) -> AwakeTracker:
        """Restore after a restart; unreadable data starts a new record."""
        if not data or not data.get("state"):
            return cls(tz)
        try:
            state = NasState(data["state"])
            tracker = cls(
                tz,
                state,
                as_utc(datetime.fromisoformat(data["counted_to"])),
                as_utc(datetime.fromisoformat(data["started"])),
                {
                    date.fromisoformat(day): float(seconds)
                    for day, seconds in data["days"].items()
                },
                pending=state in AWAKE_STATES,
            )
        except KeyError, TypeError, ValueError, AttributeError:
            _LOGGER.warning("Stored awake time is unreadable, starting a new record")
            return cls(tz)
        return tracker


# --- always-on baseline ----------------------------------------------------------


@dataclass(slots=True)
class BaselineLearner:
    """What the NAS draws while online: the median over the last week.

    Feed it only samples taken while the NAS is online (not booting or
    shutting down, which draw more). Samples are reduced to one median per
    5-minute slot, and the baseline is the median of those, so a disk scrub of
    a few hours cannot move it and memory stays bounded. The slot being filled
    is not stored: a restart loses at most its five minutes.
    """

    slots: deque[tuple[int, float]] = field(default_factory=deque)
    _slot: int | None = field(default=None, init=False)
    _samples: list[float] = field(default_factory=list, init=False)
    _value: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        """Compute the baseline of restored slots."""
        self._update_value()

    def add(self, at: datetime, watts: float) -> None:
        """Take one power sample of the NAS plug while the NAS is online."""
        if not math.isfinite(watts) or watts < 0:
            return
        slot = int(as_utc(at).timestamp()) // SLOT_SECONDS * SLOT_SECONDS
        if self.slots and slot <= self.slots[-1][0]:
            return  # the clock went back: that slot is already closed
        if self._slot != slot:
            if self._slot is not None and slot < self._slot:
                return
            self._close()
            self._slot = slot
        self._samples.append(watts)

    def _close(self) -> None:
        if self._slot is None:
            return
        self.slots.append((self._slot, statistics.median(self._samples)))
        self._samples = []
        oldest = self._slot - BASELINE_WINDOW_SECONDS
        while self.slots[0][0] <= oldest:
            self.slots.popleft()
        self._update_value()

    def _update_value(self) -> None:
        # Once per slot, not per poll: the median sorts up to 2016 values.
        self._value = (
            statistics.median(watts for _, watts in self.slots)
            if len(self.slots) >= MIN_BASELINE_SLOTS
            else None
        )

    def value(self) -> float | None:
        """Return the learned baseline (W), None until an hour of samples exists."""
        return self._value

    def as_dict(self) -> dict[str, Any]:
        """Serialise the closed slots for a Store."""
        return {"slots": [[start, watts] for start, watts in self.slots]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> BaselineLearner:
        """Restore after a restart; unreadable data starts learning anew."""
        if not data:
            return cls()
        try:
            slots = deque((int(start), float(watts)) for start, watts in data["slots"])
        except KeyError, TypeError, ValueError:
            _LOGGER.warning("Stored baseline samples are unreadable, learning anew")
            return cls()
        return cls(slots)


def baseline_watts(user_watts: float | None, learner: BaselineLearner) -> float | None:
    """Return the always-on baseline: the user's value wins over the learned one."""
    return user_watts if user_watts is not None else learner.value()


# --- savings ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollInterval:
    """What happened between two polls (or a poll and a NAS transition).

    ``nas_watts`` is the NAS plug's average draw over the interval;
    ``pi_watts`` is None when the user named no Pi plug or wattage;
    ``baseline_watts`` is None while the baseline is unknown.
    """

    start: datetime
    end: datetime
    nas_awake: bool
    nas_watts: float
    pi_watts: float | None
    baseline_watts: float | None


@dataclass(frozen=True, slots=True)
class Savings:
    """Energy (kWh) and money saved."""

    kwh: float
    cost: float

    def __add__(self, other: Savings) -> Savings:
        """Return the sum of two savings."""
        return Savings(self.kwh + other.kwh, self.cost + other.cost)


NO_SAVINGS = Savings(0.0, 0.0)


def interval_savings(
    interval: PollInterval, tariff: Tariff, tz: tzinfo
) -> Savings | None:
    """Return what sleeping saved in one interval; None if the baseline is unknown.

    Saved is the baseline minus the NAS's standby draw minus the Pi's draw,
    while the NAS is not awake. That difference can honestly be negative (a
    Pi drawing more than the sleep saves), but the savings sensor is
    ``total_increasing``, where any decrease reads as a meter reset and would
    corrupt the statistics: each interval is clamped at zero instead.
    """
    if interval.baseline_watts is None:
        return None
    start, end = as_utc(interval.start), as_utc(interval.end)
    watts = interval.baseline_watts - interval.nas_watts - (interval.pi_watts or 0.0)
    if interval.nas_awake or end <= start or watts <= 0:
        return NO_SAVINGS
    kwh = cost = 0.0
    for piece_start, piece_end in price_pieces(start, end, tariff, tz):
        hours = (piece_end - piece_start).total_seconds() / SECONDS_PER_HOUR
        middle = (piece_start + (piece_end - piece_start) / 2).astimezone(tz)
        kwh += watts * hours / 1000
        cost += watts * hours / 1000 * tariff.price_at(middle)
    return Savings(kwh, cost)


def price_pieces(
    start: datetime, end: datetime, tariff: Tariff, tz: tzinfo
) -> list[tuple[datetime, datetime]]:
    """Cut [start, end) (UTC) wherever the tariff's price may change.

    That is where the local clock passes a time-of-use start or end, and
    where it jumps (a change of UTC offset), so each piece has one price.
    """
    cuts = {start, end}
    for piece_start, piece_end in _offset_pieces(start, end, tz):
        cuts.add(piece_start)
        cuts.update(_time_of_day_cuts(piece_start, piece_end, tariff, tz))
    return list(pairwise(sorted(cuts)))


def _utc_offset(moment: datetime, tz: tzinfo) -> timedelta:
    return moment.astimezone(tz).utcoffset() or timedelta(0)


def _offset_pieces(
    start: datetime, end: datetime, tz: tzinfo
) -> list[tuple[datetime, datetime]]:
    """Cut [start, end) where the zone's UTC offset changes (daylight saving).

    Only an end with another offset than the start is searched, so an
    interval must be shorter than the half year between two changes, as polls
    are.
    """
    pieces = []
    offset = _utc_offset(start, tz)
    if _utc_offset(end, tz) != offset:
        low, high = start, end
        while high - low > timedelta(microseconds=1):
            middle = low + (high - low) / 2
            if _utc_offset(middle, tz) == offset:
                low = middle
            else:
                high = middle
        pieces.append((start, high))
        start = high
    pieces.append((start, end))
    return pieces


def _time_of_day_cuts(
    start: datetime, end: datetime, tariff: Tariff, tz: tzinfo
) -> list[datetime]:
    """Return where the local clock passes a period's start or end in (start, end).

    The UTC offset is the same all through [start, end).
    """
    offset = _utc_offset(start, tz)
    day, last = (start + offset).date(), (end + offset).date()
    cuts = []
    while day <= last:
        for period in tariff.periods:
            for moment in (period.start, period.end):
                cut = datetime.combine(day, moment, UTC) - offset
                if start < cut < end:
                    cuts.append(cut)
        day += ONE_DAY
    return cuts


@dataclass(slots=True)
class SavingsMeter:
    """The running total of savings; None while no interval could be counted."""

    total: Savings | None = None

    def add(self, interval: PollInterval, tariff: Tariff, tz: tzinfo) -> Savings | None:
        """Count one interval; return its savings (None: baseline unknown)."""
        saved = interval_savings(interval, tariff, tz)
        if saved is not None:
            self.total = saved if self.total is None else self.total + saved
        return saved

    def as_dict(self) -> dict[str, Any]:
        """Serialise for a Store."""
        if self.total is None:
            return {}
        return {"kwh": self.total.kwh, "cost": self.total.cost}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SavingsMeter:
        """Restore after a restart; unreadable data counts from unknown again."""
        if not data:
            return cls()
        try:
            return cls(Savings(float(data["kwh"]), float(data["cost"])))
        except KeyError, TypeError, ValueError:
            _LOGGER.warning("Stored savings are unreadable, counting anew")
            return cls()


# --- projection ------------------------------------------------------------------


def hourly_cost_profile(
    costs: Iterable[tuple[datetime, float]], tz: tzinfo
) -> tuple[float, ...] | None:
    """Return the average cost of each local hour of day (24 entries).

    ``costs`` are (hour start, cost of that hour) pairs, e.g. a week of the
    recorder's hourly statistics. An hour of day without any pair gets the
    average of the others: a missing hour means Home Assistant did not record,
    not that nothing was used. None when there is no pair at all.
    """
    sums = [0.0] * HOURS_PER_DAY
    counts = [0] * HOURS_PER_DAY
    for hour_start, cost in costs:
        hour = as_utc(hour_start).astimezone(tz).hour
        sums[hour] += cost
        counts[hour] += 1
    known = [total / count for total, count in zip(sums, counts, strict=True) if count]
    if not known:
        return None
    fill = statistics.fmean(known)
    return tuple(
        total / count if count else fill
        for total, count in zip(sums, counts, strict=True)
    )


def expected_cost(
    start: datetime, end: datetime, hourly: Sequence[float], tz: tzinfo
) -> float:
    """Return the cost of [start, end) at the average cost of each local hour.

    A partial hour counts pro rata. Whole days of 24 hours add the day's sum
    at once; partial days and days of 23 or 25 hours go hour by hour.
    """
    if len(hourly) != HOURS_PER_DAY:
        raise ValueError(f"need {HOURS_PER_DAY} hourly costs, got {len(hourly)}")
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        return 0.0
    daily = math.fsum(hourly)
    total = 0.0
    day = local_date(start, tz)
    day_start = local_midnight(day, tz)
    while day_start < end:
        day_end = local_midnight(day + ONE_DAY, tz)
        if start <= day_start and day_end <= end and day_end - day_start == ONE_DAY:
            total += daily
        else:
            total += _hours_cost(max(start, day_start), min(end, day_end), hourly, tz)
        day, day_start = day + ONE_DAY, day_end
    return total


def _hours_cost(
    start: datetime, end: datetime, hourly: Sequence[float], tz: tzinfo
) -> float:
    """Return the cost of [start, end) (UTC), stepping through local hours."""
    local = start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    hour_start = local.astimezone(UTC)
    total = 0.0
    while hour_start < end:
        hour_end = hour_start + ONE_HOUR
        seconds = (min(end, hour_end) - max(start, hour_start)).total_seconds()
        total += hourly[hour_start.astimezone(tz).hour] * seconds / SECONDS_PER_HOUR
        hour_start = hour_end
    return total


def project_month_cost(
    so_far: float,
    now: datetime,
    month_end: datetime,
    hourly: Sequence[float],
    tz: tzinfo,
) -> float:
    """Return the month's cost so far plus the remaining hours' expected cost."""
    return so_far + expected_cost(now, month_end, hourly, tz)


# --- monthly report --------------------------------------------------------------

type MonthErrorKey = Literal["invalid_month", "future_month"]


class MonthRequestError(ValueError):
    """A month that cannot be reported; ``key`` is the translation key."""

    def __init__(self, key: MonthErrorKey, year: int, month: int) -> None:
        """Keep the translation key next to the message."""
        super().__init__(f"{key}: {year}-{month}")
        self.key: MonthErrorKey = key


def report_month(
    now: datetime, tz: tzinfo, year: int | None = None, month: int | None = None
) -> tuple[int, int]:
    """Return the (year, month) to report; each one left out is the current one.

    Raises MonthRequestError: ``invalid_month`` for a month outside 1..12 or a
    year before 1970, ``future_month`` for a month after the current one.
    """
    local = as_utc(now).astimezone(tz)
    year = local.year if year is None else year
    month = local.month if month is None else month
    if not 1 <= month <= MONTHS or year < FIRST_REPORT_YEAR:
        raise MonthRequestError("invalid_month", year, month)
    if (year, month) > (local.year, local.month):
        raise MonthRequestError("future_month", year, month)
    return year, month


def month_bounds(year: int, month: int, tz: tzinfo) -> tuple[datetime, datetime]:
    """Return the first instant of a local month and of the next one, in UTC."""
    start = date(year, month, 1)
    end = date(year + month // MONTHS, month % MONTHS + 1, 1)
    return local_midnight(start, tz), local_midnight(end, tz)
