"""Heartbeat policy: turn liveness probe results into NAS state decisions.

Pure logic without Home Assistant imports. The coordinator runs the probes (a
TCP connect to the NAS's port, which the NAS never counts or notices); this
module decides what a result means and when to probe next.

Timing (defaults): a steady probe every ``interval`` seconds; after a first
failure, quick confirmation probes every ``fast_interval`` seconds; the NAS is
declared offline after ``failure_threshold`` failures in a row. A single lost
or slow reply is followed by a good one and resets the count, so it never
flips the state. Worst case from the NAS going silent to "offline" is
``interval + timeout + (failure_threshold - 1) * (fast_interval + timeout)``.

Silence is not always death: a NAS that said it was falling asleep, that
BaluPi asked to suspend, that is inside its own suspend schedule, or whose plug
shows standby power is suspended, not offline (``sleep_watch`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .nas_state import NasState, Reason


class PowerHint(StrEnum):
    """What the NAS plug's power draw says (a second signal next to the heartbeat)."""

    UNKNOWN = "unknown"
    UNPOWERED = "unpowered"
    OFF = "off"
    STANDBY = "standby"
    RUNNING = "running"


@dataclass(frozen=True, slots=True)
class PowerThresholds:
    """Watts that separate off, standby and running."""

    off: float
    standby: float
    running: float

    def classify(self, watts: float | None, *, relay_on: bool | None) -> PowerHint:
        """Say what a draw means; between standby and running it says nothing."""
        if relay_on is False:
            return PowerHint.UNPOWERED
        if watts is None:
            return PowerHint.UNKNOWN
        if watts < self.off:
            return PowerHint.OFF
        if watts <= self.standby:
            return PowerHint.STANDBY
        if watts > self.running:
            return PowerHint.RUNNING
        return PowerHint.UNKNOWN


@dataclass(frozen=True, slots=True)
class HeartbeatSettings:
    """Timing of the heartbeat, in seconds."""

    interval: float
    fast_interval: float
    offline_interval: float
    timeout: float
    failure_threshold: int
    boot_timeout: float

    def worst_case_detection(self) -> float:
        """Return the longest time from the NAS going silent to offline."""
        return (
            self.interval
            + self.timeout
            + (self.failure_threshold - 1) * (self.fast_interval + self.timeout)
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do after a probe.

    ``unresponsive`` is None while failures are still being confirmed: that
    probe alone says nothing about whether a running NAS hangs.
    """

    next_poll: float
    target: NasState | None = None
    reason: Reason | None = None
    unresponsive: bool | None = False


class HeartbeatPolicy:
    """Count failures and decide state changes from probe results."""

    def __init__(self, settings: HeartbeatSettings) -> None:
        """Create a policy with no failures counted."""
        self.settings = settings
        self.failures = 0

    def on_probe(
        self,
        state: NasState,
        *,
        alive: bool,
        seconds_in_state: float,
        power: PowerHint = PowerHint.UNKNOWN,
        asleep: Reason | None = None,
    ) -> Verdict:
        """Return the verdict for one probe result in the given state.

        ``asleep`` is why silence would mean sleep rather than death (None:
        nothing says so).
        """
        if alive:
            return self._on_alive(state)
        if state is NasState.SUSPENDED:
            return self._on_silent_suspended(power)
        if state is NasState.OFFLINE:
            return Verdict(self.settings.offline_interval)
        if state is NasState.BOOTING:
            if seconds_in_state >= self.settings.boot_timeout:
                return self._offline(Reason.BOOT_TIMEOUT)
            return Verdict(self.settings.fast_interval)
        return self._on_silent(power, asleep)

    def _on_alive(self, state: NasState) -> Verdict:
        """Reset the count; a NAS that answers is up (or still asleep)."""
        self.failures = 0
        # A soft-sleeping NAS still accepts connections: only its sleep
        # reading tells when it woke up.
        if state in (NasState.ONLINE, NasState.SLEEPING):
            return Verdict(self.settings.interval)
        return Verdict(self.settings.interval, NasState.ONLINE, Reason.HEARTBEAT)

    def _on_silent_suspended(self, power: PowerHint) -> Verdict:
        """Keep a suspended NAS suspended until its plug says it lost power."""
        if power in (PowerHint.OFF, PowerHint.UNPOWERED):
            return self._offline(Reason.POWER)
        return Verdict(self.settings.offline_interval)

    def _on_silent(self, power: PowerHint, asleep: Reason | None) -> Verdict:
        """Count a failed probe of a NAS believed up, asleep or unknown."""
        self.failures += 1
        if power in (PowerHint.OFF, PowerHint.UNPOWERED):
            # The plug says there is no load: no need to wait for confirmations.
            return self._offline(Reason.POWER)
        if self.failures < self.settings.failure_threshold:
            return Verdict(self.settings.fast_interval, unresponsive=None)
        if power is PowerHint.RUNNING:
            # The machine draws full power but its service does not answer:
            # it is not offline, something on it is stuck.
            return Verdict(self.settings.interval, unresponsive=True)
        if asleep is not None:
            return self._suspended(asleep)
        if power is PowerHint.STANDBY:
            # Suspend to RAM draws a watt or two: asleep, not gone.
            return self._suspended(Reason.POWER)
        return self._offline(Reason.HEARTBEAT)

    def _suspended(self, reason: Reason) -> Verdict:
        return Verdict(self.settings.offline_interval, NasState.SUSPENDED, reason)

    def _offline(self, reason: Reason) -> Verdict:
        return Verdict(self.settings.offline_interval, NasState.OFFLINE, reason)
