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
    asleep: Reason | None = None,
) -> Verdict:
    return policy.on_probe(
        state, alive=alive, seconds_in_state=seconds, power=power, asleep=asleep
    )


def silence(
    policy: HeartbeatPolicy,
    state: NasState,
    *,
    power: PowerHint = PowerHint.UNKNOWN,
    asleep: Reason | None = None,
) -> Verdict:
    """Fail probes until the policy decides (or the threshold passes)."""
    for _ in range(DEFAULTS.failure_threshold):
        verdict = probe(policy, state, alive=False, power=power, asleep=asleep)
    return verdict


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


@pytest.mark.parametrize("reason", [Reason.SUSPEND, Reason.SCHEDULE])
@pytest.mark.parametrize("state", [NasState.ONLINE, NasState.SLEEPING])
def test_silence_after_a_sleep_signal_is_suspended(
    state: NasState, reason: Reason
) -> None:
    policy = HeartbeatPolicy(DEFAULTS)
    for _ in range(DEFAULTS.failure_threshold - 1):
        assert probe(policy, state, alive=False, asleep=reason).target is None
    verdict = probe(policy, state, alive=False, asleep=reason)
    assert (verdict.target, verdict.reason) == (NasState.SUSPENDED, reason)


def test_silence_at_standby_power_is_suspended() -> None:
    verdict = silence(
        HeartbeatPolicy(DEFAULTS), NasState.ONLINE, power=PowerHint.STANDBY
    )
    assert (verdict.target, verdict.reason) == (NasState.SUSPENDED, Reason.POWER)


def test_silence_of_a_sleeping_nas_without_a_signal_is_still_death() -> None:
    # The watch always gives a reason after an asleep reading; without one
    # (e.g. the reading was lost) only the plug could tell.
    verdict = silence(HeartbeatPolicy(DEFAULTS), NasState.SLEEPING)
    assert (verdict.target, verdict.reason) == (NasState.OFFLINE, Reason.HEARTBEAT)


def test_power_off_beats_a_sleep_signal() -> None:
    verdict = probe(
        HeartbeatPolicy(DEFAULTS),
        NasState.SLEEPING,
        alive=False,
        power=PowerHint.OFF,
        asleep=Reason.SUSPEND,
    )
    assert (verdict.target, verdict.reason) == (NasState.OFFLINE, Reason.POWER)


def test_a_sleeping_nas_that_answers_stays_asleep() -> None:
    # A TCP connect is answered in soft sleep too: only a reading wakes it.
    verdict = probe(HeartbeatPolicy(DEFAULTS), NasState.SLEEPING, alive=True)
    assert verdict == Verdict(DEFAULTS.interval)


def test_a_suspended_nas_that_answers_is_online() -> None:
    verdict = probe(HeartbeatPolicy(DEFAULTS), NasState.SUSPENDED, alive=True)
    assert (verdict.target, verdict.reason) == (NasState.ONLINE, Reason.HEARTBEAT)


def test_a_suspended_nas_stays_suspended_while_silent() -> None:
    policy = HeartbeatPolicy(DEFAULTS)
    for _ in range(10):
        verdict = probe(policy, NasState.SUSPENDED, alive=False)
        assert verdict == Verdict(DEFAULTS.offline_interval)
    cut = probe(policy, NasState.SUSPENDED, alive=False, power=PowerHint.UNPOWERED)
    assert (cut.target, cut.reason) == (NasState.OFFLINE, Reason.POWER)
