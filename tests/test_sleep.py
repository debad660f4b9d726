"""End to end: BaluPi and the real BaluHost backend, sleeping, suspending, dying.

Real time, real sockets: Home Assistant's HTTP server on 127.0.0.1 receives the
NAS's signed handshake, and BaluPi watches the NAS with its default options.
The NAS is BaluHost 1.38 in dev mode: its suspend is simulated (2 s, and it keeps
answering), so the machine going to RAM is played by killing the backend right
after the suspend (a suspended machine is silent and sends no handshake).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
import socket
import time
from typing import Any

import aiohttp
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi.const import (
    CONF_API_KEY,
    DOMAIN,
    EVENT_NAS_STATE_CHANGED,
    SERVICE_SLEEP_NAS,
)
from custom_components.balupi.device_trigger import (
    TRIGGER_FELL_ASLEEP,
    TRIGGER_MATCHES,
    TRIGGER_WENT_OFFLINE_UNEXPECTEDLY,
    TRIGGER_WOKE_UP,
)
from custom_components.balupi.nas_state import NasState
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_CONFIG_ENTRY_ID, ATTR_ENTITY_ID
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .baluhost import (  # noqa: F401 - fixtures are found by pytest, not used
    START_TIMEOUT,
    BaluHostAdmin,
    BaluHostProcess,
    baluhost_factory_fixture,
)
from .conftest import MAC, SECRET, entry_data, setup_entry

# A backend start (a venv build on a fresh machine) and several 20 s waits.
pytestmark = pytest.mark.timeout(START_TIMEOUT + 300)

STATE = "sensor.baluhost_nas_state"
SLEEP_STATE = "sensor.baluhost_sleep_state"
SOFT_SLEEP = "button.baluhost_soft_sleep"
SUSPEND = "button.baluhost_suspend"
WAKE = "button.baluhost_wake_nas"
# Death must be seen within 20 s; a little slack for a busy 2-core host.
DEATH_LIMIT = 20.0
STATE_WAIT = 30.0

type Start = Callable[..., Awaitable[BaluHostProcess]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def nas_state(hass: HomeAssistant) -> str:
    state = hass.states.get(STATE)
    assert state is not None
    return state.state


async def wait_for(
    hass: HomeAssistant, wanted: str, timeout: float = STATE_WAIT
) -> float:
    """Wait in real time until the NAS state shows ``wanted``; return the wait."""
    started = time.monotonic()
    while nas_state(hass) != wanted:
        waited = time.monotonic() - started
        assert waited < timeout, f"NAS state {nas_state(hass)}, not {wanted}"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def changes(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.data["from"], e.data["to"], e.data["reason"]) for e in events]


def fired(trigger: str, events: list[Event]) -> int:
    """Count the events a device trigger of this type would have fired on."""
    return sum(
        1
        for event in events
        if any(
            all(event.data.get(key) == value for key, value in match.items())
            for match in TRIGGER_MATCHES[trigger]
        )
    )


async def press(hass: HomeAssistant, button: str) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: button}, blocking=True
    )


async def kill(nas: BaluHostProcess) -> None:
    """The machine stops answering at once, without a handshake."""
    await asyncio.to_thread(nas.kill)


class Pi:
    """BaluPi in the test's Home Assistant, reachable for the NAS's handshake."""

    def __init__(
        self,
        hass: HomeAssistant,
        clients: ClientSessionGenerator,
        session: aiohttp.ClientSession,
    ) -> None:
        self.hass = hass
        self.clients = clients
        self.url = ""
        self.session = session
        self.nas_port = free_port()
        self.entry: MockConfigEntry | None = None

    async def setup(self, **data: Any) -> MockConfigEntry:
        self.entry = MockConfigEntry(
            domain=DOMAIN,
            title="BaluHost",
            unique_id=MAC,
            data=entry_data(f"http://127.0.0.1:{self.nas_port}", **data),
        )
        await setup_entry(self.hass, self.entry)
        # The test client serves Home Assistant's HTTP app (set up with the
        # integration) on a port of 127.0.0.1: the handshake views answer the
        # NAS there.
        client = await self.clients()
        self.url = str(client.make_url("")).rstrip("/")
        return self.entry

    async def start_nas(self, start: Start) -> BaluHostProcess:
        return await start(
            port=self.nas_port, balupi_url=self.url, balupi_secret=SECRET
        )

    async def use_key(self, key: str) -> None:
        """Give BaluPi an API key (as the options would) and reload."""
        assert self.entry is not None
        # The entry's update listener reloads it.
        self.hass.config_entries.async_update_entry(
            self.entry, data={**self.entry.data, CONF_API_KEY: key}
        )
        await self.hass.async_block_till_done(wait_background_tasks=True)
        assert self.entry.runtime_data.nas.client is not None

    async def power_user_key(self, nas: BaluHostProcess) -> str:
        """A dedicated non-admin user allowed to sleep, suspend and wake the NAS."""
        admin = BaluHostAdmin(self.session, nas)
        user_id = await admin.create_user()
        await admin.grant_power(
            user_id, can_soft_sleep=True, can_suspend=True, can_wake=True
        )
        _, key = await admin.create_api_key(user_id)
        return key


@pytest.fixture
async def pi(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> AsyncGenerator[Pi]:
    async with aiohttp.ClientSession() as session:
        yield Pi(hass, hass_client_no_auth, session)


async def test_start_soft_sleep_wake_suspend_stop_and_death(
    hass: HomeAssistant, pi: Pi, baluhost_factory: Start
) -> None:
    await pi.setup()
    nas = await pi.start_nas(baluhost_factory)
    # The NAS's coming-online handshake.
    await wait_for(hass, NasState.ONLINE)
    await pi.use_key(await pi.power_user_key(nas))
    admin = BaluHostAdmin(pi.session, nas)
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)

    # Soft sleep from Home Assistant: BaluPi reads it back at once.
    await press(hass, SOFT_SLEEP)
    await wait_for(hass, NasState.SLEEPING)
    assert await admin.sleep_state() == "soft_sleep"
    # Three TCP probes and no read may end it.
    await asyncio.sleep(16)
    assert nas_state(hass) == NasState.SLEEPING
    assert await admin.sleep_state() == "soft_sleep"
    history = await admin.sleep_history()
    assert [entry["new_state"] for entry in history] == ["soft_sleep"], history

    # Wake: a request ends soft sleep.
    await press(hass, WAKE)
    await wait_for(hass, NasState.ONLINE)
    assert await admin.sleep_state() == "awake"

    # Suspend: the machine goes to RAM (the backend stops answering while it
    # is in true_suspend) and BaluPi knows it is asleep, not dead.
    pressed = hass.async_create_task(press(hass, SUSPEND))
    await admin.wait_for_state("true_suspend")
    await kill(nas)
    await pressed
    await wait_for(hass, NasState.SUSPENDED, DEATH_LIMIT + 5)
    await asyncio.sleep(10)
    assert nas_state(hass) == NasState.SUSPENDED

    # Back from suspend (here: started again) and stopped by its owner.
    await asyncio.to_thread(nas.start)
    await wait_for(hass, NasState.ONLINE)
    await asyncio.to_thread(nas.stop)
    await wait_for(hass, NasState.OFFLINE)

    assert changes(events) == [
        ("online", "sleeping", "sleep"),
        ("sleeping", "online", "sleep"),
        ("online", "suspended", "suspend"),
        ("suspended", "online", "handshake"),
        ("online", "shutting_down", "handshake"),
        ("shutting_down", "offline", "handshake"),
    ]
    assert fired(TRIGGER_FELL_ASLEEP, events) == 2
    assert fired(TRIGGER_WOKE_UP, events) == 2
    assert fired(TRIGGER_WENT_OFFLINE_UNEXPECTEDLY, events) == 0

    # Silent death: offline within 20 s, and unexpected.
    await asyncio.to_thread(nas.start)
    await wait_for(hass, NasState.ONLINE)
    events.clear()
    await kill(nas)
    assert await wait_for(hass, NasState.OFFLINE, DEATH_LIMIT + 5) <= DEATH_LIMIT
    assert changes(events) == [("online", "offline", "heartbeat")]
    assert fired(TRIGGER_WENT_OFFLINE_UNEXPECTEDLY, events) == 1


async def test_nas_that_fell_asleep_by_itself_then_suspends(
    hass: HomeAssistant, pi: Pi, baluhost_factory: Start
) -> None:
    await pi.setup()
    nas = await pi.start_nas(baluhost_factory)
    await wait_for(hass, NasState.ONLINE)
    await pi.use_key(await pi.power_user_key(nas))
    admin = BaluHostAdmin(pi.session, nas)
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)

    # Put to sleep on the NAS (its web UI, its idle detection, its schedule).
    status, body = await admin.request("POST", "/api/system/sleep/soft")
    assert status == 200, body
    # Seen at the next sleep reading (once a minute).
    await wait_for(hass, NasState.SLEEPING, 75)
    sensor = hass.states.get(SLEEP_STATE)
    assert sensor is not None
    assert sensor.state == "soft_sleep"

    # Escalation to suspend: the machine goes silent.
    await kill(nas)
    await wait_for(hass, NasState.SUSPENDED, DEATH_LIMIT + 5)
    assert changes(events) == [
        ("online", "sleeping", "sleep"),
        ("sleeping", "suspended", "suspend"),
    ]
    assert fired(TRIGGER_WENT_OFFLINE_UNEXPECTEDLY, events) == 0


async def test_without_a_key_tcp_only_never_wakes_the_nas(
    hass: HomeAssistant, pi: Pi, baluhost_factory: Start
) -> None:
    await pi.setup()
    nas = await pi.start_nas(baluhost_factory)
    await wait_for(hass, NasState.ONLINE)
    admin = BaluHostAdmin(pi.session, nas)
    status, body = await admin.request("POST", "/api/system/sleep/soft")
    assert status == 200, body
    # No whitelisted read answers without a key (measured: 401 on all), so
    # BaluPi cannot tell soft sleep from awake: it stays online, and its
    # probes never reach the NAS's middleware.
    await asyncio.sleep(16)
    assert nas_state(hass) == NasState.ONLINE
    assert await admin.sleep_state() == "soft_sleep"
    assert hass.states.get(SLEEP_STATE) is None or (
        hass.states.get(SLEEP_STATE).state == "unavailable"
    )
    await kill(nas)
    assert await wait_for(hass, NasState.OFFLINE, DEATH_LIMIT + 5) <= DEATH_LIMIT


async def test_sleep_action_soft_and_suspend(
    hass: HomeAssistant, pi: Pi, baluhost_factory: Start
) -> None:
    entry = await pi.setup()
    nas = await pi.start_nas(baluhost_factory)
    await wait_for(hass, NasState.ONLINE)
    await pi.use_key(await pi.power_user_key(nas))
    admin = BaluHostAdmin(pi.session, nas)

    await hass.services.async_call(
        DOMAIN,
        SERVICE_SLEEP_NAS,
        {ATTR_CONFIG_ENTRY_ID: entry.entry_id, "mode": "soft"},
        blocking=True,
    )
    await wait_for(hass, NasState.SLEEPING)
    await press(hass, WAKE)
    await wait_for(hass, NasState.ONLINE)

    await hass.services.async_call(
        DOMAIN,
        SERVICE_SLEEP_NAS,
        {ATTR_CONFIG_ENTRY_ID: entry.entry_id, "mode": "suspend"},
        blocking=True,
    )
    # The dev backend's suspend lasts 2 s and answers once it has "resumed".
    history = await admin.sleep_history()
    assert any(entry["new_state"] == "true_suspend" for entry in history), history
    await admin.wait_for_state("awake")


async def test_refusals_are_translated_and_a_revoked_key_asks_for_a_new_one(
    hass: HomeAssistant, pi: Pi, baluhost_factory: Start
) -> None:
    await pi.setup()
    nas = await pi.start_nas(baluhost_factory)
    await wait_for(hass, NasState.ONLINE)
    admin = BaluHostAdmin(pi.session, nas)
    # A user without power permissions.
    user_id = await admin.create_user()
    key_id, key = await admin.create_api_key(user_id)
    await pi.use_key(key)

    with pytest.raises(HomeAssistantError) as err:
        await press(hass, SOFT_SLEEP)
    assert err.value.translation_key == "permission_missing"
    assert err.value.translation_placeholders == {"permission": "power:soft_sleep"}
    assert key not in str(err.value)
    assert await admin.sleep_state() == "awake"

    await admin.delete_api_key(key_id)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, SUSPEND)
    assert err.value.translation_key == "api_key_rejected"
    await hass.async_block_till_done()
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["step_id"] == "reauth_api_key"
    # Still watched, by TCP: the revoked key does not make the NAS look dead.
    assert nas_state(hass) == NasState.ONLINE


async def test_without_a_key_there_is_nothing_to_put_to_sleep(
    hass: HomeAssistant, pi: Pi
) -> None:
    entry = await pi.setup()
    assert hass.states.get(SOFT_SLEEP) is None
    assert hass.states.get(SUSPEND) is None
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            SERVICE_SLEEP_NAS,
            {ATTR_CONFIG_ENTRY_ID: entry.entry_id, "mode": "soft"},
            blocking=True,
        )
    assert err.value.translation_key == "no_api_key"


async def test_balupi_costs_the_nas_one_counted_request_a_minute(
    hass: HomeAssistant, pi: Pi, baluhost_factory: Start
) -> None:
    await pi.setup()
    nas = await pi.start_nas(baluhost_factory)
    await wait_for(hass, NasState.ONLINE)
    await pi.use_key(await pi.power_user_key(nas))
    admin = BaluHostAdmin(pi.session, nas)
    # The reads at setup are over a minute old by then: the NAS's window holds
    # BaluPi's one read a minute (TCP probes every 5 s are not counted) and
    # this read of the admin's.
    await asyncio.sleep(62)
    status, body = await admin.request("GET", "/api/system/sleep/status")
    assert status == 200, body
    counted = body["activity_metrics"]["http_requests_per_minute"] - 1
    assert counted <= 1
    assert nas_state(hass) == NasState.ONLINE


KEEP_AWAKE = "switch.baluhost_keep_awake"


async def test_keep_awake_sends_presence_and_an_inbox_flush_does_too(
    hass: HomeAssistant, pi: Pi, baluhost_factory: Start
) -> None:
    entry = await pi.setup()
    nas = await pi.start_nas(baluhost_factory)
    await wait_for(hass, NasState.ONLINE)
    await pi.use_key(await pi.power_user_key(nas))
    admin = BaluHostAdmin(pi.session, nas)
    await admin.save_sleep_config(presence_enabled=True)

    async def present() -> bool:
        status, body = await admin.request("GET", "/api/system/sleep/status")
        assert status == 200, body
        return bool(body["presence"]["anyone_present"])

    assert not await present()
    await hass.services.async_call(
        "switch", "turn_on", {ATTR_ENTITY_ID: KEEP_AWAKE}, blocking=True
    )
    await hass.async_block_till_done()
    assert hass.states.get(KEEP_AWAKE).state == "on"
    for _ in range(50):
        if await present():
            break
        await asyncio.sleep(0.1)
    assert await present()
    await hass.services.async_call(
        "switch", "turn_off", {ATTR_ENTITY_ID: KEEP_AWAKE}, blocking=True
    )
    assert hass.states.get(KEEP_AWAKE).state == "off"

    # What an inbox flush holds while files move: presence, then nothing.
    coordinator = entry.runtime_data.nas
    async with coordinator.async_kept_awake("inbox"):
        assert coordinator._presence_task is not None
    assert coordinator._presence_task is None
    # The switch stays off: only its own reason shows there.
    assert hass.states.get(KEEP_AWAKE).state == "off"
