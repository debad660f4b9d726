"""The heartbeat against a real server on 127.0.0.1, the clock controlled.

Liveness is a TCP connect (plus the TLS handshake for https): a NAS is dead when
its port refuses (stopped) or ignores (dark) connection attempts.
"""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.balupi.const import (
    DEFAULT_OFFLINE_INTERVAL,
    DOMAIN,
    EVENT_NAS_STATE_CHANGED,
    ISSUE_NAS_CERTIFICATE,
)
from custom_components.balupi.nas_state import NasState
from homeassistant.const import CONF_VERIFY_SSL, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .conftest import MAC, advance, entry_data, settle, setup_entry
from .fakes.nas_simulator import NasSimulator

STATE = "sensor.baluhost_nas_state"
ONLINE = "binary_sensor.baluhost_nas_online"


def nas_state(hass: HomeAssistant) -> str:
    state = hass.states.get(STATE)
    assert state is not None
    return state.state


async def run_until_offline(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, limit: float
) -> float:
    """Advance the clock until the NAS is offline; return the seconds it took."""
    elapsed = 0.0
    while nas_state(hass) != NasState.OFFLINE and elapsed < limit:
        await advance(hass, freezer, 0.25)
        elapsed += 0.25
    return elapsed


@pytest.fixture
async def online(
    hass: HomeAssistant, config_entry: MockConfigEntry, nas: NasSimulator
) -> MockConfigEntry:
    await setup_entry(hass, config_entry)
    assert nas_state(hass) == NasState.ONLINE
    assert hass.states.get(ONLINE).state == "on"
    return config_entry


async def kill(nas: NasSimulator, how: str) -> None:
    """The NAS stops answering: port closed (refused) or dark (timeouts)."""
    if how == "dark":
        await nas.go_dark()
    else:
        await nas.stop()


async def run_until_failures(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    count: int,
) -> None:
    """Advance the clock until that many probes in a row have failed."""
    policy = entry.runtime_data.nas.policy
    for _ in range(400):
        if policy.failures >= count:
            return
        await advance(hass, freezer, 0.25)
    raise AssertionError(f"only {policy.failures} failed probes")


@pytest.mark.usefixtures("online")
@pytest.mark.parametrize("how", ["dark", "refused"])
async def test_dead_nas_is_offline_within_20_seconds(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    how: str,
) -> None:
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    # Worst case: the NAS dies right after a good reply.
    await advance(hass, freezer, 5)
    await kill(nas, how)
    elapsed = await run_until_offline(hass, freezer, limit=30)
    assert nas_state(hass) == NasState.OFFLINE
    assert elapsed <= 20
    assert hass.states.get(ONLINE).state == "off"
    assert [(e.data["from"], e.data["to"], e.data["reason"]) for e in events] == [
        ("online", "offline", "heartbeat")
    ]


@pytest.mark.usefixtures("online")
async def test_nas_gone_entirely_is_offline_within_20_seconds(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, nas: NasSimulator
) -> None:
    await advance(hass, freezer, 5)
    await nas.stop()
    assert await run_until_offline(hass, freezer, limit=30) <= 20


async def test_probes_send_no_request(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    online: MockConfigEntry,
    nas: NasSimulator,
) -> None:
    """A probe connects and hangs up: nothing reaches the NAS's HTTP stack."""
    connections = nas.connections
    await advance(hass, freezer, 60)
    # One probe every 5 s.
    assert nas.connections - connections == 12
    assert nas.requests == 0


@pytest.mark.parametrize("how", ["dark", "refused"])
async def test_one_lost_probe_among_good_ones_is_tolerated(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    online: MockConfigEntry,
    nas: NasSimulator,
    how: str,
) -> None:
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    for _ in range(5):
        await kill(nas, how)
        await run_until_failures(hass, freezer, online, 1)
        await nas.start()
        await advance(hass, freezer, 15)
        assert nas_state(hass) == NasState.ONLINE
        assert online.runtime_data.nas.policy.failures == 0
    assert events == []


async def test_three_lost_probes_in_a_row_are_tolerated(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    online: MockConfigEntry,
    nas: NasSimulator,
) -> None:
    await nas.go_dark()
    await run_until_failures(hass, freezer, online, 3)
    await nas.start()
    await advance(hass, freezer, 40)
    assert nas_state(hass) == NasState.ONLINE


async def test_recovery_and_slow_polling_while_offline(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    online: MockConfigEntry,
    nas: NasSimulator,
) -> None:
    await nas.stop()
    await run_until_offline(hass, freezer, limit=30)
    # Offline: one probe every 30 s.
    coordinator = online.runtime_data.nas
    assert coordinator.update_interval == timedelta(seconds=DEFAULT_OFFLINE_INTERVAL)
    await nas.start()
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    await advance(hass, freezer, 30)
    assert nas_state(hass) == NasState.ONLINE
    assert [(e.data["from"], e.data["to"]) for e in events] == [("offline", "online")]


async def test_nas_asleep_at_start_becomes_offline(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    nas: NasSimulator,
) -> None:
    await nas.stop()
    await setup_entry(hass, config_entry)
    # Not yet known is Home Assistant's own "unknown" (no value), not an option.
    assert nas_state(hass) == STATE_UNKNOWN
    assert STATE_UNKNOWN not in hass.states.get(STATE).attributes["options"]
    await advance(hass, freezer, 5)
    assert nas_state(hass) == NasState.OFFLINE
    version = hass.states.get("sensor.baluhost_nas_version")
    assert version.state == "unknown"


async def test_untrusted_certificate_is_a_repair_not_sleep(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    tls_nas: NasSimulator,
    wol_port: int,
) -> None:
    # Set up before the option existed: the certificate is verified.
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data(tls_nas.url, broadcast_port=wol_port),
    )
    await setup_entry(hass, entry)
    await advance(hass, freezer, 30, step=1)
    issue_id = f"{ISSUE_NAS_CERTIFICATE}_{entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["url"] == tls_nas.url
    assert nas_state(hass) != NasState.ONLINE
    assert tls_nas.requests == 0

    # Reconfigured not to verify (the entry reloads): the NAS is seen.
    hass.config_entries.async_update_entry(
        entry, data=entry.data | {CONF_VERIFY_SSL: False}
    )
    await hass.async_block_till_done()
    await settle(hass)
    assert nas_state(hass) == NasState.ONLINE
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
