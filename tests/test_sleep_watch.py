"""The pure sleep watch: readings, silence and the request budget."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from custom_components.balupi.baluhost import (
    PresenceSummary,
    ScheduleMode,
    SleepSchedule,
    SleepState,
    SleepStatus,
)
from custom_components.balupi.const import (
    SLEEP_SCHEDULE_INTERVAL,
    SLEEP_STATUS_INTERVAL,
    SUSPEND_GRACE,
)
from custom_components.balupi.nas_state import NasState, Reason
from custom_components.balupi.sleep_watch import (
    SleepTiming,
    SleepWatch,
    in_suspend_window,
)

from .baluhost import IDLE_HTTP_THRESHOLD

TIMING = SleepTiming(SLEEP_STATUS_INTERVAL, SLEEP_SCHEDULE_INTERVAL, SUSPEND_GRACE)
NOON = time(12, 0)


def status(state: SleepState, disks: tuple[str, ...] = ()) -> SleepStatus:
    return SleepStatus(
        state=state,
        state_since=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
        spun_down_disks=disks,
        idle_seconds=0.0,
        idle_threshold_seconds=60.0,
        http_requests_per_minute=1.0,
        presence=PresenceSummary(
            enabled=False,
            anyone_present=False,
            active_sessions=0,
            suppressing_suspend=False,
        ),
    )


def schedule(
    start: time, end: time, mode: ScheduleMode, *, on: bool = True
) -> SleepSchedule:
    return SleepSchedule(enabled=on, sleep_time=start, wake_time=end, mode=mode)


def test_budget_is_far_below_the_idle_threshold() -> None:
    # The NAS counts every read; a quarter of its threshold leaves room for
    # its other clients and still lets it fall idle.
    assert TIMING.counted_per_minute() <= IDLE_HTTP_THRESHOLD / 4
    assert TIMING.counted_per_minute() == pytest.approx(1 + 1 / 15)


def test_reads_are_taken_at_their_intervals_whatever_they_found() -> None:
    watch = SleepWatch(TIMING)
    assert watch.take_status_read(100.0)
    assert watch.take_schedule_read(100.0)
    # Taken, whether or not the read then succeeded: no retry at every probe.
    assert not watch.take_status_read(100.0)
    assert not watch.take_status_read(100 + SLEEP_STATUS_INTERVAL - 1)
    assert watch.take_status_read(100 + SLEEP_STATUS_INTERVAL)
    assert not watch.take_schedule_read(100 + SLEEP_SCHEDULE_INTERVAL - 1)
    assert watch.take_schedule_read(100 + SLEEP_SCHEDULE_INTERVAL)


def test_read_now_makes_the_state_due_at_once() -> None:
    watch = SleepWatch(TIMING)
    assert watch.take_status_read(0.0)
    watch.read_now()
    assert watch.take_status_read(1.0)
    assert not watch.take_status_read(2.0)


@pytest.mark.parametrize(
    ("reading", "state", "target"),
    [
        (SleepState.SOFT_SLEEP, NasState.ONLINE, NasState.SLEEPING),
        (SleepState.ENTERING_SOFT_SLEEP, NasState.ONLINE, NasState.SLEEPING),
        (SleepState.SOFT_SLEEP, NasState.UNKNOWN, NasState.SLEEPING),
        (SleepState.SOFT_SLEEP, NasState.SLEEPING, None),
        (SleepState.AWAKE, NasState.SLEEPING, NasState.ONLINE),
        (SleepState.WAKING, NasState.SLEEPING, NasState.ONLINE),
        (SleepState.AWAKE, NasState.ONLINE, None),
        # Readings never decide for a NAS believed unreachable or on its way.
        (SleepState.SOFT_SLEEP, NasState.OFFLINE, None),
        (SleepState.SOFT_SLEEP, NasState.BOOTING, None),
        (SleepState.SOFT_SLEEP, NasState.SHUTTING_DOWN, None),
        (SleepState.AWAKE, NasState.SUSPENDED, None),
    ],
)
def test_reading_moves_a_reachable_nas(
    reading: SleepState, state: NasState, target: NasState | None
) -> None:
    assert SleepWatch(TIMING).on_status(status(reading), state) is target


def test_silence_after_an_awake_reading_is_death() -> None:
    watch = SleepWatch(TIMING)
    watch.on_status(status(SleepState.AWAKE), NasState.ONLINE)
    assert watch.silence_reason(30.0, NOON) is None


@pytest.mark.parametrize(
    "reading",
    [SleepState.SOFT_SLEEP, SleepState.ENTERING_SUSPEND, SleepState.TRUE_SUSPEND],
)
def test_silence_after_an_asleep_reading_is_a_suspend(reading: SleepState) -> None:
    watch = SleepWatch(TIMING)
    watch.on_status(status(reading), NasState.ONLINE)
    assert watch.silence_reason(3600.0, NOON) is Reason.SUSPEND


def test_silence_soon_after_a_suspend_request_is_that_suspend() -> None:
    watch = SleepWatch(TIMING)
    watch.on_status(status(SleepState.AWAKE), NasState.ONLINE)
    watch.note_suspend_requested(10.0)
    assert watch.silence_reason(10.0 + SUSPEND_GRACE, NOON) is Reason.SUSPEND
    assert watch.silence_reason(10.0 + SUSPEND_GRACE + 1, NOON) is None


def test_a_refused_or_finished_suspend_request_is_forgotten() -> None:
    watch = SleepWatch(TIMING)
    watch.note_suspend_requested(0.0)
    watch.forget_suspend_request()
    assert watch.silence_reason(1.0, NOON) is None
    watch.note_suspend_requested(0.0)
    # The NAS answered awake afterwards (it resumed): the request is over.
    watch.on_status(status(SleepState.AWAKE), NasState.ONLINE)
    assert watch.silence_reason(6.0, NOON) is None


def test_silence_inside_a_suspend_schedule_is_the_schedule() -> None:
    watch = SleepWatch(TIMING)
    watch.on_status(status(SleepState.AWAKE), NasState.ONLINE)
    watch.on_schedule(schedule(time(23), time(6), ScheduleMode.SUSPEND))
    assert watch.silence_reason(1.0, time(23, 0)) is Reason.SCHEDULE
    assert watch.silence_reason(1.0, time(2, 30)) is Reason.SCHEDULE
    assert watch.silence_reason(1.0, time(6, 0)) is None
    assert watch.silence_reason(1.0, NOON) is None


@pytest.mark.parametrize(
    ("plan", "now", "inside"),
    [
        (schedule(time(23), time(6), ScheduleMode.SUSPEND), time(22, 59), False),
        (schedule(time(23), time(6), ScheduleMode.SUSPEND), time(0, 0), True),
        (schedule(time(1), time(5), ScheduleMode.SUSPEND), time(1, 0), True),
        (schedule(time(1), time(5), ScheduleMode.SUSPEND), time(5, 0), False),
        (schedule(time(1), time(5), ScheduleMode.SUSPEND), time(0, 59), False),
        # Soft sleep keeps the NAS reachable; a disabled schedule does nothing.
        (schedule(time(1), time(5), ScheduleMode.SOFT), time(3, 0), False),
        (schedule(time(1), time(5), ScheduleMode.SUSPEND, on=False), time(3), False),
        (None, time(3), False),
    ],
)
def test_suspend_window(plan: SleepSchedule | None, now: time, inside: bool) -> None:
    assert in_suspend_window(plan, now) is inside


def test_spun_down_disks_count_the_last_reading() -> None:
    watch = SleepWatch(TIMING)
    assert watch.spun_down_disks is None
    watch.on_status(
        status(SleepState.SOFT_SLEEP, ("/dev/sda", "/dev/sdb")), NasState.ONLINE
    )
    assert watch.spun_down_disks == 2


def test_back_from_away_forgets_the_old_signals() -> None:
    watch = SleepWatch(TIMING)
    watch.on_status(status(SleepState.SOFT_SLEEP, ("/dev/sda",)), NasState.ONLINE)
    watch.note_suspend_requested(0.0)
    assert watch.take_status_read(0.0)
    watch.on_back()
    assert watch.spun_down_disks is None
    assert watch.silence_reason(1.0, NOON) is None
    assert watch.take_status_read(1.0)
