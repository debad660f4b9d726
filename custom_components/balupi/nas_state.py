"""The NAS lifecycle: states, allowed transitions and their history.

Pure logic without Home Assistant imports, so it can be tested on its own and
reused by the heartbeat, the handshake views and Wake-on-LAN alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
import logging
from typing import Any

_LOGGER = logging.getLogger(__name__)


class NasState(StrEnum):
    """What BaluPi believes the NAS is doing."""

    UNKNOWN = "unknown"
    OFFLINE = "offline"
    BOOTING = "booting"
    ONLINE = "online"
    SHUTTING_DOWN = "shutting_down"
    # Soft sleep: reachable, disks spun down; any non-whitelisted request wakes it.
    SLEEPING = "sleeping"
    # Suspended to RAM: unreachable, at standby power, woken by Wake-on-LAN.
    SUSPENDED = "suspended"


class Reason(StrEnum):
    """Why a transition happened."""

    HEARTBEAT = "heartbeat"
    WOL = "wol"
    HANDSHAKE = "handshake"
    BOOT_TIMEOUT = "boot_timeout"
    POWER = "power"
    # The NAS's own sleep reading (whitelisted read): fell asleep or woke up.
    SLEEP = "sleep"
    # Silent after a sleep signal: its last reading said asleep, or BaluPi
    # asked it to suspend.
    SUSPEND = "suspend"
    # Silent inside the NAS's own suspend schedule.
    SCHEDULE = "schedule"


# A NAS that is asleep only wakes up (online), is woken (booting), is found
# asleep after it went quiet (suspended), or loses power (offline). It never
# goes offline by silence alone: a suspend is not a death.
ALLOWED_TRANSITIONS: dict[NasState, frozenset[NasState]] = {
    NasState.UNKNOWN: frozenset(
        {NasState.ONLINE, NasState.OFFLINE, NasState.SLEEPING, NasState.SUSPENDED}
    ),
    NasState.OFFLINE: frozenset({NasState.BOOTING, NasState.ONLINE}),
    NasState.BOOTING: frozenset({NasState.ONLINE, NasState.OFFLINE}),
    NasState.ONLINE: frozenset(
        {
            NasState.SHUTTING_DOWN,
            NasState.OFFLINE,
            NasState.SLEEPING,
            NasState.SUSPENDED,
        }
    ),
    NasState.SHUTTING_DOWN: frozenset({NasState.OFFLINE, NasState.ONLINE}),
    NasState.SLEEPING: frozenset(
        {
            NasState.ONLINE,
            NasState.SUSPENDED,
            NasState.SHUTTING_DOWN,
            NasState.OFFLINE,
        }
    ),
    NasState.SUSPENDED: frozenset(
        {NasState.ONLINE, NasState.BOOTING, NasState.OFFLINE}
    ),
}

AWAKE_STATES = frozenset({NasState.BOOTING, NasState.ONLINE, NasState.SHUTTING_DOWN})
# Asleep, for energy insights and DNS: the NAS is not serving, but not dead.
ASLEEP_STATES = frozenset({NasState.SLEEPING, NasState.SUSPENDED})


@dataclass(frozen=True, slots=True)
class Transition:
    """One applied state change."""

    from_state: NasState
    to_state: NasState
    reason: Reason
    at: datetime


class NasLifecycle:
    """The current NAS state and the rules for leaving it."""

    def __init__(
        self,
        state: NasState = NasState.UNKNOWN,
        since: datetime | None = None,
        reason: Reason | None = None,
    ) -> None:
        """Start in a given (usually restored) state."""
        self._state = state
        self._since = since
        self._reason = reason

    @property
    def state(self) -> NasState:
        """Return the current state."""
        return self._state

    @property
    def since(self) -> datetime | None:
        """Return when the current state was entered (None if never)."""
        return self._since

    @property
    def reason(self) -> Reason | None:
        """Return why the current state was entered."""
        return self._reason

    def can_transition(self, to_state: NasState) -> bool:
        """Return whether moving to a state is allowed from here."""
        return to_state in ALLOWED_TRANSITIONS[self._state]

    def apply(
        self, to_state: NasState, reason: Reason, at: datetime
    ) -> Transition | None:
        """Move to a new state; return the transition, or None if nothing changed.

        The same state is a no-op. A transition the rules do not allow is logged
        and refused, so a confused signal can never corrupt the lifecycle.
        """
        if to_state is self._state:
            return None
        if not self.can_transition(to_state):
            _LOGGER.warning(
                "Refusing NAS state transition %s -> %s (reason %s)",
                self._state,
                to_state,
                reason,
            )
            return None
        transition = Transition(self._state, to_state, reason, at)
        self._state, self._since, self._reason = to_state, at, reason
        return transition

    def as_dict(self) -> dict[str, Any]:
        """Serialise for persistent storage."""
        return {
            "state": self._state.value,
            "since": self._since.isoformat() if self._since else None,
            "reason": self._reason.value if self._reason else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> NasLifecycle:
        """Restore from storage; anything unreadable starts as unknown."""
        if not data:
            return cls()
        try:
            state = NasState(data["state"])
            since = datetime.fromisoformat(data["since"]) if data.get("since") else None
            reason = Reason(data["reason"]) if data.get("reason") else None
        except KeyError, TypeError, ValueError:
            _LOGGER.warning("Stored NAS state is unreadable, starting as unknown")
            return cls()
        return cls(state, since, reason)
