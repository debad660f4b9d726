"""The pure heartbeat policy."""

from __future__ import annotations

import pytest

from custom_components.balupi.coordinator.nas import settings_from_options
from custom_components.balupi.heartbeat import HeartbeatPolicy, PowerHint, Verdict
from custom_components.balupi.nas_state import NasState, Reason

DEFAULTS = settings_from_options({})


def probe(
    policy: HeartbeatPolicy,
    state: NasState,
    *,
    alive: bool,
    seconds: float = 0.0,
    power: PowerHint = PowerHint.UNKNOWN,
) -> Verdict:
    return policy.on_probe(state, alive=alive, seconds_in_state=seconds, power=power)


def test_default_timing_detects_death_within_20_seconds() -> None:
    assert DEFAULTS.worst_case_detection() <= 20


def test_single_lost_reply_never_flips_online() -> None:
    policy = HeartbeatPolicy(DEFAULTS)
    for _ in range(20):
        missed = probe(policy, NasState.ONLINE, alive=False)
        assert missed == Verdict(DEFAULTS.fast_interval, unresponsive=None)
        assert probe(policy, NasState.ONLINE, alive=True) == Verdict(DEFAULTS.interval)


def test_threshold_failures_in_a_row_mean_offline() -> None:
    policy = HeartbeatPolicy(DEFAULTS)
    for _ in range(DEFAULTS.failure_threshold - 1):
        assert probe(policy, NasState.ONLINE, alive=False).target is None
    verdict = probe(policy, NasState.ONLINE, alive=False)
    assert (verdict.target, verdict.reason) == (NasState.OFFLINE, Reason.HEARTBEAT)
    assert verdict.next_poll == DEFAULTS.offline_interval


@pytest.mark.parametrize(
    "state", [NasState.UNKNOWN, NasState.OFFLINE, NasState.BOOTING]
)
def test_answer_means_online(state: NasState) -> None:
    verdict = probe(HeartbeatPolicy(DEFAULTS), state, alive=True)
    assert (verdict.target, verdict.reason) == (NasState.ONLINE, Reason.HEARTBEAT)


def test_offline_keeps_polling_slowly() -> None:
    verdict = probe(HeartbeatPolicy(DEFAULTS), NasState.OFFLINE, alive=False)
    assert verdict == Verdict(DEFAULTS.offline_interval)


def test_booting_polls_fast_until_the_boot_timeout() -> None:
    policy = HeartbeatPolicy(DEFAULTS)
    early = probe(policy, NasState.BOOTING, alive=False, seconds=10)
    assert early == Verdict(DEFAULTS.fast_interval)
    late = probe(policy, NasState.BOOTING, alive=False, seconds=DEFAULTS.boot_timeout)
    assert (late.target, late.reason) == (NasState.OFFLINE, Reason.BOOT_TIMEOUT)


def test_power_off_means_offline_at_once() -> None:
    verdict = probe(
        HeartbeatPolicy(DEFAULTS), NasState.ONLINE, alive=False, power=PowerHint.OFF
    )
    assert (verdict.target, verdict.reason) == (NasState.OFFLINE, Reason.POWER)


def test_running_power_keeps_an_unanswering_nas_out_of_offline() -> None:
    policy = HeartbeatPolicy(DEFAULTS)
    verdicts = [
        probe(policy, NasState.ONLINE, alive=False, power=PowerHint.RUNNING)
        for _ in range(DEFAULTS.failure_threshold + 2)
    ]
    assert all(verdict.target is None for verdict in verdicts)
    assert [verdict.unresponsive for verdict in verdicts[-3:]] == [True] * 3
    # The first failures are still being confirmed: undecided.
    assert verdicts[0].unresponsive is None
