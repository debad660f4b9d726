"""Energy insights: awake time, baseline, savings, projection, month requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
import json
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.balupi.insights import (
    MIN_BASELINE_SECONDS,
    AwakeTracker,
    BaselineLearner,
    MonthRequestError,
    PollInterval,
    Savings,
    SavingsMeter,
    baseline_watts,
    expected_cost,
    hourly_cost_profile,
    interval_savings,
    month_bounds,
    project_month_cost,
    report_month,
)
from custom_components.balupi.nas_state import (
    AWAKE_STATES,
    NasLifecycle,
    NasState,
    Reason,
)
from custom_components.balupi.tariff import Tariff, TimeOfUse

TZ = ZoneInfo("Europe/Berlin")
DAY_PRICE, NIGHT_PRICE = 0.32, 0.25
TARIFF = Tariff(DAY_PRICE, (TimeOfUse(time(22), time(6), NIGHT_PRICE),))
POLL = timedelta(seconds=30)
HOUR_S = 3600.0


def local(
    day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 11
) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=TZ)


def roundtrip(data: dict[str, Any]) -> Any:
    """What a Store does to the data: JSON and back."""
    return json.loads(json.dumps(data))


def asleep(
    start: datetime, end: datetime, nas: float, baseline: float | None
) -> PollInterval:
    return PollInterval(start, end, False, nas, None, baseline)


# --- a whole day, as the integration will feed the pure logic ---------------------

NAS_AWAKE_W, NAS_STANDBY_W, PI_W, USER_BASELINE_W = 40.0, 2.5, 4.0, 38.0


@dataclass
class Home:
    """The caller in miniature: polls every 30 s, transitions, restarts."""

    lifecycle: NasLifecycle = field(
        default_factory=lambda: NasLifecycle(NasState.OFFLINE)
    )
    tracker: AwakeTracker = field(default_factory=lambda: AwakeTracker(TZ))
    meter: SavingsMeter = field(default_factory=SavingsMeter)
    last: datetime | None = None
    stored: dict[str, Any] = field(default_factory=dict)

    @property
    def awake(self) -> bool:
        return self.lifecycle.state in AWAKE_STATES

    def account(self, now: datetime) -> None:
        """Savings since the last event (none across a restart: nothing measured)."""
        if self.last is not None:
            nas = NAS_AWAKE_W if self.awake else NAS_STANDBY_W
            self.meter.add(
                PollInterval(self.last, now, self.awake, nas, PI_W, USER_BASELINE_W),
                TARIFF,
                TZ,
            )
        self.last = now

    def poll(self, now: datetime, *, answered: bool | None = None) -> None:
        """One poll; the heartbeat answers while the NAS is awake, unless told."""
        self.account(now)
        self.tracker.observe(self.lifecycle.state, now)
        if self.awake if answered is None else answered:
            self.tracker.seen_alive(now)

    def transition(self, now: datetime, state: NasState) -> None:
        self.account(now)
        transition = self.lifecycle.apply(state, Reason.HEARTBEAT, now)
        assert transition is not None
        self.tracker.apply(transition)

    def stop(self) -> None:
        self.stored = roundtrip(
            {
                "lifecycle": self.lifecycle.as_dict(),
                "tracker": self.tracker.as_dict(),
                "meter": self.meter.as_dict(),
            }
        )

    def start(self) -> None:
        self.lifecycle = NasLifecycle.from_dict(self.stored["lifecycle"])
        self.tracker = AwakeTracker.from_dict(self.stored["tracker"], TZ)
        self.meter = SavingsMeter.from_dict(self.stored["meter"])
        self.last = None


DAY = 24
TRANSITIONS = {
    local(DAY, 7): NasState.ONLINE,
    local(DAY, 8, 30): NasState.OFFLINE,
    local(DAY, 12): NasState.BOOTING,
    local(DAY, 12, 3): NasState.ONLINE,
    local(DAY, 12, 45): NasState.OFFLINE,
    local(DAY, 19): NasState.BOOTING,
    local(DAY, 19, 2): NasState.ONLINE,
    local(DAY, 23, 14): NasState.SHUTTING_DOWN,
    local(DAY, 23, 15): NasState.OFFLINE,
}
# Home Assistant is down twice: while the NAS is awake, and while it sleeps.
DOWNTIMES = (
    (local(DAY, 12, 20), local(DAY, 12, 30)),
    (local(DAY, 15), local(DAY, 15, 10)),
)


def run_day(home: Home, until: datetime) -> None:
    """Polls at :17 and :47 (so the 06:00 price change falls inside one)."""
    start = local(DAY)
    polls = {start, until}
    moment = start + timedelta(seconds=17)
    while moment < until:
        polls.add(moment)
        moment += POLL
    home.poll(start)
    down = list(DOWNTIMES)
    for now in sorted(polls | {t for t in TRANSITIONS if t < until}):
        if down and now >= down[0][0]:
            if now < down[0][1]:
                if not home.stored:
                    home.stop()
                continue
            home.start()
            home.stored = {}
            down.pop(0)
        if now in TRANSITIONS:
            home.transition(now, TRANSITIONS[now])
        if now in polls:
            home.poll(now)


def test_day_with_three_awake_periods_and_restarts() -> None:
    home = Home()
    run_day(home, local(DAY + 1))

    # By hand. Awake 07:00-08:30, 12:00-12:45 (Home Assistant down from
    # 12:19:47, the last poll, to 12:30:17, the NAS answering: counted) and
    # 19:00-23:15.
    awake_h = 1.5 + 0.75 + 4.25
    assert home.tracker.days[date(2026, 11, DAY)] == awake_h * HOUR_S
    assert home.tracker.awake_today(local(DAY, 23, 59, 59)) == awake_h * HOUR_S
    assert home.tracker.awake_today(local(DAY + 1)) == 0.0
    assert home.tracker.awake_share(local(DAY + 1)) == pytest.approx(100 * awake_h / 24)

    # Asleep at the day price (06-22): 06:00-07:00, 08:30-12:00 and
    # 12:45-19:00 less the second restart (14:59:47 to 15:10:17 not measured,
    # so not counted); at the night price: 00:00-06:00 and 23:15-24:00.
    day_h = 1 + 3.5 + (6.25 - (10 * 60 + 30) / HOUR_S)
    night_h = 6 + 0.75
    saved_w = USER_BASELINE_W - NAS_STANDBY_W - PI_W
    kwh = saved_w * (day_h + night_h) / 1000
    cost = saved_w / 1000 * (day_h * DAY_PRICE + night_h * NIGHT_PRICE)
    assert (kwh, cost) == pytest.approx((0.5457375, 0.15975225))
    assert home.meter.total is not None
    assert home.meter.total.kwh == pytest.approx(kwh, abs=1e-9)
    assert home.meter.total.cost == pytest.approx(cost, abs=1e-9)
    assert (round(home.meter.total.kwh, 3), round(home.meter.total.cost, 2)) == (
        0.546,
        0.16,
    )


def test_restart_gap_waits_for_the_nas_to_answer() -> None:
    home = Home()
    run_day(home, local(DAY, 12, 25))  # stopped at 12:20, still down
    home.start()
    # Awake before the gap: 07:00-08:30 and 12:00 to the last poll 12:19:47.
    before = (1.5 + 19 / 60 + 47 / HOUR_S) * HOUR_S
    assert home.tracker.pending
    assert home.tracker.awake_today(local(DAY, 12, 30)) == before
    # Undecided, the gap counts neither way in the share.
    assert home.tracker.awake_share(local(DAY, 12, 30)) == pytest.approx(
        100 * before / (12 * HOUR_S + 19 * 60 + 47)
    )
    home.poll(local(DAY, 12, 30, 17))  # the heartbeat answers
    # 07:00-08:30 and 12:00-12:31, the gap included.
    assert home.tracker.awake_today(local(DAY, 12, 31)) == (1.5 + 31 / 60) * HOUR_S


def test_restart_gap_is_dropped_when_the_nas_slept_meanwhile() -> None:
    home = Home()
    run_day(home, local(DAY, 12, 25))
    home.start()
    # The heartbeat fails after the restart: the NAS went to sleep while Home
    # Assistant was down, from the last poll (12:19:47) on nothing counts.
    home.poll(local(DAY, 12, 30, 17), answered=False)
    home.transition(local(DAY, 12, 31), NasState.OFFLINE)
    home.poll(local(DAY, 13))
    assert home.tracker.awake_today(local(DAY, 13)) == (
        (1.5 + 19 / 60 + 47 / HOUR_S) * HOUR_S
    )


def test_unreadable_awake_record_starts_anew() -> None:
    tracker = AwakeTracker.from_dict({"state": "online", "counted_to": "x"}, TZ)
    assert tracker.state is None
    assert tracker.awake_share(local(DAY)) is None
    tracker.observe(NasState.ONLINE, local(DAY, 10))
    assert tracker.awake_today(local(DAY, 11)) == HOUR_S


@pytest.mark.parametrize("asleep", [NasState.SLEEPING, NasState.SUSPENDED])
def test_soft_sleep_and_suspend_count_as_asleep(asleep: NasState) -> None:
    tracker = AwakeTracker(TZ)
    tracker.observe(NasState.ONLINE, local(DAY, 10))
    tracker.observe(asleep, local(DAY, 11))
    tracker.observe(asleep, local(DAY, 14))
    tracker.observe(NasState.ONLINE, local(DAY, 15))
    assert tracker.awake_today(local(DAY, 16)) == 2 * HOUR_S
    # Soft sleep going on to suspend is asleep all through.
    tracker.observe(NasState.SLEEPING, local(DAY, 16))
    tracker.observe(NasState.SUSPENDED, local(DAY, 17))
    assert tracker.awake_today(local(DAY, 20)) == 2 * HOUR_S


# --- midnight and daylight saving ------------------------------------------------


@pytest.mark.parametrize("poll_every_30s", [True, False])
def test_awake_across_midnight(*, poll_every_30s: bool) -> None:
    tracker = AwakeTracker(TZ)
    tracker.observe(NasState.ONLINE, local(DAY, 23))
    if poll_every_30s:
        moment = local(DAY, 23)
        while moment < local(DAY + 1, 0, 30):
            moment += POLL
            tracker.observe(NasState.ONLINE, moment)
        assert tracker.awake_today(local(DAY + 1, 0, 30)) == 1800
    tracker.observe(NasState.OFFLINE, local(DAY + 1, 1))
    assert tracker.days == {
        date(2026, 11, DAY): HOUR_S,
        date(2026, 11, DAY + 1): HOUR_S,
    }
    assert tracker.awake_today(local(DAY + 1, 12)) == HOUR_S


def test_awake_all_through_a_25_hour_day() -> None:
    # Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET.
    tracker = AwakeTracker(TZ)
    tracker.observe(NasState.ONLINE, local(24, 22, month=10))
    # Not folded yet: the running time is split at local midnights too.
    assert tracker.awake_today(local(25, 23, 59, 59, month=10)) == 25 * HOUR_S - 1
    tracker.observe(NasState.OFFLINE, local(26, 2, month=10))
    assert tracker.days == {
        date(2026, 10, 24): 2 * HOUR_S,
        date(2026, 10, 25): 25 * HOUR_S,
        date(2026, 10, 26): 2 * HOUR_S,
    }


def test_awake_share_over_seven_local_days_with_a_25_hour_day() -> None:
    tracker = AwakeTracker(TZ)
    tracker.observe(NasState.OFFLINE, local(18, month=10))
    for day in range(18, 28):  # one awake hour a day, 10:00-11:00
        tracker.observe(NasState.ONLINE, local(day, 10, month=10))
        tracker.observe(NasState.OFFLINE, local(day, 11, month=10))
    now = local(28, month=10)
    # The window is today (just begun) and 22-27 October: 6 awake hours of
    # 6 * 24 + 1 (the 25th has 25 hours); older days are no longer kept.
    assert tracker.awake_share(now) == pytest.approx(100 * 6 / 145)
    assert min(tracker.days) == date(2026, 10, 21)


def test_awake_share_in_the_first_days_is_over_the_time_covered() -> None:
    tracker = AwakeTracker(TZ)
    assert tracker.awake_share(local(DAY)) is None
    tracker.observe(NasState.OFFLINE, local(DAY, 12))
    assert tracker.awake_share(local(DAY, 12)) is None
    tracker.observe(NasState.ONLINE, local(DAY, 18))
    assert tracker.awake_share(local(DAY + 1, 12)) == pytest.approx(100 * 18 / 24)


# --- baseline --------------------------------------------------------------------


def feed(
    learner: BaselineLearner, start: datetime, minutes: float, watts: float
) -> None:
    moment = start
    while moment < start + timedelta(minutes=minutes):
        learner.add(moment, watts)
        moment += POLL


def test_too_few_samples_leave_the_baseline_unknown() -> None:
    learner = BaselineLearner()
    feed(learner, local(DAY, 10), MIN_BASELINE_SECONDS / 60, 30.0)
    # An hour of samples, but its last five minutes are still being collected.
    assert learner.value() is None
    assert baseline_watts(None, learner) is None
    learner.add(local(DAY, 11), 30.0)
    assert learner.value() == 30.0


def test_baseline_median_ignores_a_disk_scrub() -> None:
    learner = BaselineLearner()
    rng = random.Random(4)
    moment = local(DAY, 8)
    while moment < local(DAY, 12):
        scrub = local(DAY, 9) <= moment < local(DAY, 10, 30)
        learner.add(moment, (95.0 if scrub else 30.0) + rng.uniform(-1, 1))
        moment += POLL
    learner.add(moment, 30.0)
    assert learner.value() == pytest.approx(30.0, abs=1)  # the mean is 53 W


def test_baseline_learned_vs_set_by_the_user() -> None:
    learner = BaselineLearner()
    feed(learner, local(DAY, 10), 120, 36.0)
    learner.add(local(DAY, 12), 36.0)
    assert baseline_watts(None, learner) == 36.0
    assert baseline_watts(50.0, learner) == 50.0
    one_hour = (local(DAY, 2), local(DAY, 3))
    learned = interval_savings(asleep(*one_hour, 2.0, 36.0), TARIFF, TZ)
    user = interval_savings(asleep(*one_hour, 2.0, 50.0), TARIFF, TZ)
    assert learned == pytest.approx(Savings(0.034, 0.034 * NIGHT_PRICE))
    assert user == pytest.approx(Savings(0.048, 0.048 * NIGHT_PRICE))
    restored = BaselineLearner.from_dict(roundtrip(learner.as_dict()))
    assert restored.value() == 36.0


def test_baseline_keeps_one_week_and_bounded_memory() -> None:
    learner = BaselineLearner()
    feed(learner, local(1), 120, 100.0)
    moment = local(1, 2)
    while moment < local(9, 12):  # eight and a half days of 60 W
        learner.add(moment, 60.0)
        moment += timedelta(minutes=1)
    learner.add(moment, 60.0)
    assert learner.value() == 60.0
    assert len(learner.slots) == 7 * 24 * 12
    assert learner.slots[0][0] > (moment - timedelta(days=7)).timestamp() - 300


def test_baseline_refuses_bad_samples_and_bad_storage() -> None:
    learner = BaselineLearner.from_dict({"slots": [["x", 1]]})
    assert not learner.slots
    for watts in (float("nan"), float("inf"), -1.0):
        learner.add(local(DAY, 10), watts)
    learner.add(local(DAY, 10, 5), 30.0)  # the refused samples opened no slot
    assert not learner.slots


# --- savings ---------------------------------------------------------------------


def test_tariff_change_at_22_while_the_nas_sleeps() -> None:
    # 30 W saved for 20 minutes: 10 Wh, half before 22:00, half after.
    saved = interval_savings(
        asleep(local(DAY, 21, 50), local(DAY, 22, 10), 5.0, 35.0), TARIFF, TZ
    )
    assert saved == pytest.approx(
        Savings(0.010, 0.005 * DAY_PRICE + 0.005 * NIGHT_PRICE)
    )


def test_time_of_use_on_the_25_hour_day() -> None:
    # 1 kW saved 02:00 CEST to 03:00 CET (00:00-02:00 UTC). 02:30 passes twice
    # on the clock, so the night price of 02:30-05:00 starts twice.
    tariff = Tariff(0.30, (TimeOfUse(time(2, 30), time(5), 0.10),))
    start = datetime(2026, 10, 25, 0, tzinfo=UTC)
    saved = interval_savings(
        asleep(start, start + timedelta(hours=2), 0.0, 1000.0), tariff, TZ
    )
    assert saved == pytest.approx(Savings(2.0, 0.5 * (0.30 + 0.10 + 0.30 + 0.10)))


def test_time_of_use_starting_inside_the_skipped_hour() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST, so a period from 02:30 starts
    # at the jump (01:00 UTC).
    tariff = Tariff(0.30, (TimeOfUse(time(2, 30), time(5), 0.10),))
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    saved = interval_savings(
        asleep(start, start + timedelta(hours=1), 0.0, 1000.0), tariff, TZ
    )
    assert saved == pytest.approx(Savings(1.0, 0.5 * 0.30 + 0.5 * 0.10))


def test_unknown_baseline_is_unknown_not_zero() -> None:
    meter = SavingsMeter()
    one_hour = (local(DAY, 2), local(DAY, 3))
    assert meter.add(asleep(*one_hour, 2.0, None), TARIFF, TZ) is None
    assert meter.total is None
    assert SavingsMeter.from_dict(roundtrip(meter.as_dict())).total is None
    meter.add(asleep(local(DAY, 3), local(DAY, 4), 2.0, 32.0), TARIFF, TZ)
    assert meter.total == pytest.approx(Savings(0.030, 0.030 * NIGHT_PRICE))


def test_savings_never_go_negative() -> None:
    meter = SavingsMeter(Savings(1.0, 0.3))
    # A 10 W Pi against a 2 W standby and an 8 W baseline: sleeping "cost" 4 W.
    interval = PollInterval(local(DAY, 2), local(DAY, 3), False, 2.0, 10.0, 8.0)
    assert meter.add(interval, TARIFF, TZ) == Savings(0.0, 0.0)
    awake = PollInterval(local(DAY, 3), local(DAY, 4), True, 40.0, 4.0, 38.0)
    assert meter.add(awake, TARIFF, TZ) == Savings(0.0, 0.0)
    assert SavingsMeter.from_dict(roundtrip(meter.as_dict())).total == Savings(1.0, 0.3)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        interval_savings(
            asleep(local(DAY, 2).replace(tzinfo=None), local(DAY, 3), 2.0, 30.0),
            TARIFF,
            TZ,
        )


# --- projection ------------------------------------------------------------------

BY_HOUR = [float(hour) for hour in range(24)]


def test_projection_prices_the_rest_of_the_month_hour_by_hour() -> None:
    _, month_end = month_bounds(2026, 11, TZ)
    # 21:30: half of hour 21, then hours 22 and 23.
    assert project_month_cost(10.0, local(30, 21, 30), month_end, BY_HOUR, TZ) == (
        10.0 + 10.5 + 22 + 23
    )
    # An end before the start (past the month's end) adds nothing.
    assert expected_cost(local(30, 12, 40), local(30, 12, 20), BY_HOUR, TZ) == 0.0


@pytest.mark.parametrize(
    ("day", "hours", "cost"),
    [
        (date(2026, 10, 25), 25, sum(BY_HOUR) + 2),  # hour 2 twice
        (date(2026, 3, 29), 23, sum(BY_HOUR) - 2),  # hour 2 skipped
        (date(2026, 11, 24), 24, sum(BY_HOUR)),
    ],
)
def test_expected_cost_over_days_of_23_24_25_hours(
    day: date, hours: int, cost: float
) -> None:
    start = datetime.combine(day, time(), TZ)
    end = datetime.combine(day + timedelta(days=1), time(), TZ)
    assert (end.astimezone(UTC) - start.astimezone(UTC)) == timedelta(hours=hours)
    assert expected_cost(start, end, BY_HOUR, TZ) == cost


def test_hourly_profile_by_local_hour() -> None:
    # 23:00 UTC is midnight in Berlin in November: local hour 0.
    pairs = [
        (datetime(2026, 11, 23, 23, tzinfo=UTC), 1.0),
        (datetime(2026, 11, 24, 23, tzinfo=UTC), 3.0),
        (datetime(2026, 11, 24, 11, tzinfo=UTC), 6.0),
    ]
    profile = hourly_cost_profile(pairs, TZ)
    assert profile is not None
    assert (profile[0], profile[12]) == (2.0, 6.0)
    # No data for the other hours: the average of the known ones, not zero.
    assert profile[5] == 4.0
    assert hourly_cost_profile([], TZ) is None
    with pytest.raises(ValueError, match="24"):
        expected_cost(local(DAY), local(DAY + 1), profile[:23], TZ)


def hourly_pattern(hour: int) -> float:
    """Cost of one hour: low at night, more by day, most in the evening."""
    if hour < 6:
        return 0.02
    if hour >= 18:
        return 0.12
    return 0.05


def synthetic_month(rng: random.Random) -> list[tuple[datetime, float]]:
    """October 2026 (with its 25-hour day), hour by hour, +-30 % noise."""
    start, end = month_bounds(2026, 10, TZ)
    hours = []
    moment = start
    while moment < end:
        base = hourly_pattern(moment.astimezone(TZ).hour)
        hours.append((moment, base * rng.uniform(0.7, 1.3)))
        moment += timedelta(hours=1)
    return hours


@pytest.mark.parametrize("days_known", [3, 10, 17, 25])
def test_projection_of_a_synthetic_month_within_5_percent(days_known: int) -> None:
    hours = synthetic_month(random.Random(days_known))
    true_total = sum(cost for _, cost in hours)
    _, month_end = month_bounds(2026, 10, TZ)
    now = local(days_known + 1, 14, 30, month=10)  # halfway through an hour
    done = [(start, cost) for start, cost in hours if start + timedelta(hours=1) <= now]
    current = next(
        cost for start, cost in hours if start <= now < start + timedelta(hours=1)
    )
    so_far = sum(cost for _, cost in done) + current / 2
    week = [(start, cost) for start, cost in done if start >= now - timedelta(days=7)]
    profile = hourly_cost_profile(week, TZ)
    assert profile is not None
    projected = project_month_cost(so_far, now, month_end, profile, TZ)
    assert projected == pytest.approx(true_total, rel=0.05)
    # The remaining hours matter: the cost so far alone is far off.
    assert so_far < 0.95 * true_total


# --- monthly report --------------------------------------------------------------


def test_report_month_defaults_to_the_local_current_month() -> None:
    # 23:30 UTC on 31 October is 00:30 on 1 November in Berlin.
    now = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    assert report_month(now, TZ) == (2026, 11)
    assert report_month(now, TZ, month=2) == (2026, 2)
    assert report_month(now, TZ, 2025, 12) == (2025, 12)


@pytest.mark.parametrize(
    ("year", "month", "key"),
    [
        (2026, 13, "invalid_month"),
        (2026, 0, "invalid_month"),
        (1969, 12, "invalid_month"),
        (2026, 12, "future_month"),
        (2027, 1, "future_month"),
    ],
)
def test_report_month_refuses(year: int, month: int, key: str) -> None:
    with pytest.raises(MonthRequestError) as err:
        report_month(local(DAY), TZ, year, month)
    assert err.value.key == key
    assert isinstance(err.value, ValueError)


def test_month_bounds_are_local_midnights() -> None:
    start, end = month_bounds(2026, 10, TZ)
    assert (start, end) == (
        datetime(2026, 9, 30, 22, tzinfo=UTC),
        datetime(2026, 10, 31, 23, tzinfo=UTC),
    )
    assert end - start == timedelta(days=31, hours=1)
    assert month_bounds(2026, 12, TZ)[1] == datetime(2026, 12, 31, 23, tzinfo=UTC)
