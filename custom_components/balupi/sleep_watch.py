"""Sleep watch: turn the NAS's own sleep readings into NAS state decisions.

Pure logic without Home Assistant imports. The coordinator makes the reads
(whitelisted ones only, which never wake the NAS) when this module says they
are due, and asks it two questions: what a reading means for a reachable NAS
(asleep or awake), and why silence would be sleep rather than death.

Every read reaches the NAS's middleware and counts toward its idle detection
(more than ``idle_http_threshold`` a minute, 5 by default, keeps it awake), so
reads are rare: ``SleepTiming.counted_per_minute`` is BaluPi's whole budget;
liveness itself is a TCP connect, which the NAS never counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from .baluhost import ScheduleMode, SleepSchedule, SleepState, SleepStatus
from .nas_state import NasState, Reason

# The states in which the NAS is falling or fast asleep: silence right after
# one of them is a suspend (escalation from soft sleep, or a manual one).
ASLEEP_SLEEP_STATES = frozenset(
    {
        SleepState.ENTERING_SOFT_SLEEP,
        SleepState.SOFT_SLEEP,
        SleepState.ENTERING_SUSPEND,
        SleepState.TRUE_SUSPEND,
    }
)

SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class SleepTiming:
    """How often the NAS's sleep state and schedule are read, in seconds.

    ``suspend_grace`` is how long after BaluPi asked the NAS to suspend its
    silence still counts as that suspend (a real one takes a few seconds).
    """

    status_interval: float
    schedule_interval: float
    suspend_grace: float

    def counted_per_minute(self) -> float:
        """Return the requests a minute that BaluPi's reads add to the NAS's count."""
        return (
            SECONDS_PER_MINUTE / self.status_interval
            + SECONDS_PER_MINUTE / self.schedule_interval
        )


def in_suspend_window(schedule: SleepSchedule | None, now: time) -> bool:
    """Return whether ``now`` lies inside an enabled suspend schedule.

    The window runs from ``sleep_time`` up to ``wake_time`` and may wrap past
    midnight (23:00-06:00). A soft-sleep schedule keeps the NAS reachable, so
    silence inside it says nothing.
    """
    if schedule is None or not schedule.enabled:
        return False
    if schedule.mode is not ScheduleMode.SUSPEND:
        return False
    start, end = schedule.sleep_time, schedule.wake_time
    if start <= end:
        return start <= now < end
    return now >= start or now < end


class SleepWatch:
    """The latest sleep readings and BaluPi's own sleep requests.

    Times are monotonic seconds from the caller's clock.
    """

    def __init__(self, timing: SleepTiming) -> None:
        """Start with nothing read."""
        self.timing = timing
        self.status: SleepStatus | None = None
        self.schedule: SleepSchedule | None = None
        self._status_at: float | None = None
        self._schedule_at: float | None = None
        self._suspend_requested_at: float | None = None

    def take_status_read(self, now: float) -> bool:
        """Return whether to read the sleep state now; count it as read if so.

        A read that then fails waits for the next turn too: a failing NAS is
        not asked more often.
        """
        if not self._due(self._status_at, self.timing.status_interval, now):
            return False
        self._status_at = now
        return True

    def take_schedule_read(self, now: float) -> bool:
        """Return whether to read the sleep schedule now; count it as read if so."""
        if not self._due(self._schedule_at, self.timing.schedule_interval, now):
            return False
        self._schedule_at = now
        return True

    def on_schedule(self, schedule: SleepSchedule | None) -> None:
        """Keep the schedule the NAS reported (None: it has none)."""
        self.schedule = schedule

    def on_status(self, status: SleepStatus, state: NasState) -> NasState | None:
        """Keep a reading; return the state a reachable NAS moves to, if any.

        A reading says nothing about a NAS BaluPi does not believe reachable
        (offline, booting, shutting down): the heartbeat and the handshake
        decide those.
        """
        self.status = status
        asleep = status.state in ASLEEP_SLEEP_STATES
        if not asleep:
            # Awake again: an earlier suspend request is over.
            self._suspend_requested_at = None
        if asleep and state in (NasState.ONLINE, NasState.UNKNOWN):
            return NasState.SLEEPING
        if not asleep and state is NasState.SLEEPING:
            return NasState.ONLINE
        return None

    def read_now(self) -> None:
        """Make the sleep state due at once (after an action changed it)."""
        self._status_at = None

    def on_back(self) -> None:
        """Forget what came before the NAS was gone, and read it again at once.

        Its last reading and a suspend request are over once it is back (woken,
        resumed or restarted): a later silence must be judged afresh.
        """
        self.status = None
        self._suspend_requested_at = None
        self.read_now()

    def note_suspend_requested(self, now: float) -> None:
        """Remember that BaluPi just asked the NAS to suspend."""
        self._suspend_requested_at = now

    def forget_suspend_request(self) -> None:
        """Forget a suspend request the NAS refused."""
        self._suspend_requested_at = None

    def silence_reason(self, now: float, local_time: time) -> Reason | None:
        """Return why a silent NAS is asleep rather than dead (None: nothing says so).

        ``local_time`` is the wall-clock time of day where the NAS is (its
        schedule is in its local time).
        """
        requested = self._suspend_requested_at
        if requested is not None and now - requested <= self.timing.suspend_grace:
            return Reason.SUSPEND
        if self.status is not None and self.status.state in ASLEEP_SLEEP_STATES:
            return Reason.SUSPEND
        if in_suspend_window(self.schedule, local_time):
            return Reason.SCHEDULE
        return None

    @property
    def spun_down_disks(self) -> int | None:
        """Return how many disks the NAS spun down (None before a reading)."""
        return None if self.status is None else len(self.status.spun_down_disks)

    @staticmethod
    def _due(last: float | None, interval: float, now: float) -> bool:
        return last is None or now - last >= interval
