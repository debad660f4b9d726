"""The pure NAS lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.balupi.nas_state import (
    ALLOWED_TRANSITIONS,
    ASLEEP_STATES,
    AWAKE_STATES,
    NasLifecycle,
    NasState,
    Reason,
)

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

ALLOWED = [
    (NasState.UNKNOWN, NasState.ONLINE),
    (NasState.UNKNOWN, NasState.OFFLINE),
    (NasState.OFFLINE, NasState.BOOTING),
    (NasState.OFFLINE, NasState.ONLINE),
    (NasState.BOOTING, NasState.ONLINE),
    (NasState.BOOTING, NasState.OFFLINE),
    (NasState.ONLINE, NasState.SHUTTING_DOWN),
    (NasState.ONLINE, NasState.OFFLINE),
    (NasState.SHUTTING_DOWN, NasState.OFFLINE),
    (NasState.SHUTTING_DOWN, NasState.ONLINE),
    # Sleep: found asleep at start, falling asleep, suspending, waking.
    (NasState.UNKNOWN, NasState.SLEEPING),
    (NasState.UNKNOWN, NasState.SUSPENDED),
    (NasState.ONLINE, NasState.SLEEPING),
    (NasState.ONLINE, NasState.SUSPENDED),
    (NasState.SLEEPING, NasState.ONLINE),
    (NasState.SLEEPING, NasState.SUSPENDED),
    (NasState.SLEEPING, NasState.SHUTTING_DOWN),
    (NasState.SLEEPING, NasState.OFFLINE),
    (NasState.SUSPENDED, NasState.ONLINE),
    (NasState.SUSPENDED, NasState.BOOTING),
    (NasState.SUSPENDED, NasState.OFFLINE),
]


def test_allowed_table_is_exactly_the_specified_one() -> None:
    table = {(src, dst) for src, dsts in ALLOWED_TRANSITIONS.items() for dst in dsts}
    assert table == set(ALLOWED)


@pytest.mark.parametrize(("src", "dst"), ALLOWED)
def test_allowed_transition_records_since_and_reason(
    src: NasState, dst: NasState
) -> None:
    lifecycle = NasLifecycle(src, None, None)
    transition = lifecycle.apply(dst, Reason.HEARTBEAT, T0)
    assert transition is not None
    assert (transition.from_state, transition.to_state) == (src, dst)
    assert (lifecycle.state, lifecycle.since, lifecycle.reason) == (
        dst,
        T0,
        Reason.HEARTBEAT,
    )


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (src, dst)
        for src in NasState
        for dst in NasState
        if src is not dst and (src, dst) not in ALLOWED
    ],
)
def test_invalid_transition_is_refused_and_logged(
    src: NasState, dst: NasState, caplog: pytest.LogCaptureFixture
) -> None:
    lifecycle = NasLifecycle(src, T0, Reason.HEARTBEAT)
    assert lifecycle.apply(dst, Reason.WOL, datetime.now(UTC)) is None
    assert (lifecycle.state, lifecycle.since) == (src, T0)
    assert f"Refusing NAS state transition {src} -> {dst}" in caplog.text


def test_same_state_is_a_no_op(caplog: pytest.LogCaptureFixture) -> None:
    lifecycle = NasLifecycle(NasState.ONLINE, T0, Reason.HEARTBEAT)
    assert lifecycle.apply(NasState.ONLINE, Reason.HANDSHAKE, datetime.now(UTC)) is None
    assert (lifecycle.since, lifecycle.reason) == (T0, Reason.HEARTBEAT)
    assert "Refusing" not in caplog.text


def test_round_trip_through_storage() -> None:
    lifecycle = NasLifecycle()
    lifecycle.apply(NasState.OFFLINE, Reason.HEARTBEAT, T0)
    restored = NasLifecycle.from_dict(lifecycle.as_dict())
    assert (restored.state, restored.since, restored.reason) == (
        NasState.OFFLINE,
        T0,
        Reason.HEARTBEAT,
    )


@pytest.mark.parametrize(
    "stored",
    [None, {}, {"state": "exploded"}, {"since": "x"}, {"state": "online", "since": 5}],
)
def test_unreadable_storage_starts_unknown(stored: dict[str, object] | None) -> None:
    assert NasLifecycle.from_dict(stored).state is NasState.UNKNOWN


def test_asleep_states_are_neither_awake_nor_offline() -> None:
    assert {NasState.SLEEPING, NasState.SUSPENDED} == ASLEEP_STATES
    assert not ASLEEP_STATES & AWAKE_STATES
    assert NasState.OFFLINE not in ASLEEP_STATES


def test_an_asleep_state_survives_a_restart() -> None:
    lifecycle = NasLifecycle()
    lifecycle.apply(NasState.SUSPENDED, Reason.SCHEDULE, T0)
    restored = NasLifecycle.from_dict(lifecycle.as_dict())
    assert (restored.state, restored.reason) == (NasState.SUSPENDED, Reason.SCHEDULE)
