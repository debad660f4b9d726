"""The heartbeat against a real HTTP server on 127.0.0.1, the clock controlled."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.balupi.const import (
    DOMAIN,
    EVENT_NAS_STATE_CHANGED,
    HEALTH_TIMEOUT,
    ISSUE_NAS_CERTIFICATE,
)
from custom_components.balupi.coordinator.nas import HealthStatus, async_check_health
from custom_components.balupi.nas_state import NasState
from homeassistant.const import CONF_VERIFY_SSL, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .conftest import MAC, advance, entry_data, settle, setup_entry
from .fakes.nas_simulator import Mode, NasSimulator

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


@pytest.mark.usefixtures("online")
@pytest.mark.parametrize("mode", [Mode.SILENT, Mode.SLOW, Mode.ERROR])
async def test_dead_nas_is_offline_within_20_seconds(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    mode: Mode,
) -> None:
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    # Worst case: the NAS dies right after a good reply.
    await advance(hass, freezer, 5)
    requests = nas.requests
    nas.mode = mode
    nas.delay = 30
    elapsed = await run_until_offline(hass, freezer, limit=30)
    assert nas_state(hass) == NasState.OFFLINE
    assert elapsed <= 20
    assert hass.states.get(ONLINE).state == "off"
    assert nas.requests - requests == 4
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


@pytest.mark.usefixtures("online")
@pytest.mark.parametrize("mode", [Mode.SILENT, Mode.SLOW])
async def test_one_lost_reply_among_good_ones_is_tolerated(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    mode: Mode,
) -> None:
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    nas.delay = 3
    for _ in range(5):
        nas.mode = mode
        await advance(hass, freezer, 5.5)
        nas.mode = Mode.OK
        nas.release()
        await advance(hass, freezer, 15)
        assert nas_state(hass) == NasState.ONLINE
    assert events == []


@pytest.mark.usefixtures("online")
async def test_three_lost_replies_in_a_row_are_tolerated(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, nas: NasSimulator
) -> None:
    nas.drop = 3
    await advance(hass, freezer, 40)
    assert nas_state(hass) == NasState.ONLINE
    assert nas.drop == 0


@pytest.mark.usefixtures("online")
async def test_recovery_and_slow_polling_while_offline(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, nas: NasSimulator
) -> None:
    nas.mode = Mode.ERROR
    await run_until_offline(hass, freezer, limit=30)
    requests = nas.requests
    await advance(hass, freezer, 61)
    # Offline: one probe every 30 s.
    assert nas.requests - requests == 2
    nas.mode = Mode.OK
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
    nas.mode = Mode.ERROR
    await setup_entry(hass, config_entry)
    # Not yet known is Home Assistant's own "unknown" (no value), not an option.
    assert nas_state(hass) == STATE_UNKNOWN
    assert STATE_UNKNOWN not in hass.states.get(STATE).attributes["options"]
    await advance(hass, freezer, 5)
    assert nas_state(hass) == NasState.OFFLINE
    version = hass.states.get("sensor.baluhost_nas_version")
    assert version.state == "unknown"


async def test_version_comes_from_the_health_reply(
    hass: HomeAssistant, online: MockConfigEntry
) -> None:
    await settle(hass)
    assert hass.states.get("sensor.baluhost_nas_version").state == "1.38.0"


@pytest.mark.parametrize("mode", [Mode.HUGE, Mode.ENDLESS])
async def test_oversized_health_reply_is_a_bad_response(
    hass: HomeAssistant, nas: NasSimulator, mode: Mode
) -> None:
    """BaluHost answers in about 80 bytes; megabytes are not a health reply."""
    nas.mode = mode
    health = await async_check_health(
        async_get_clientsession(hass), f"{nas.url}/api/health", HEALTH_TIMEOUT
    )
    assert health.status is HealthStatus.BAD_RESPONSE


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
    assert issue.translation_placeholders["url"] == f"{tls_nas.url}/api/health"
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
