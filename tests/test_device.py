"""The NAS as a device: live figures from the real BaluHost backend.

Read only while the NAS is online, through whitelisted paths; while it sleeps
nothing is read and the last figures stay, dated, over a restart too. The
NAS itself counts what BaluPi sends it with everything enabled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
import time

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.balupi import device_trigger
from custom_components.balupi.const import (
    ATTR_MEASURED_AT,
    CONF_API_KEY,
    DOMAIN,
    EVENT_NAS_EVENT,
    EVENT_NAS_STATE_CHANGED,
    ISSUE_NAS_RAID_DEGRADED,
    SLEEP_SCHEDULE_INTERVAL,
    SLEEP_STATUS_INTERVAL,
    SUSPEND_GRACE,
)
from custom_components.balupi.coordinator.device import counted_per_minute
from custom_components.balupi.device_trigger import (
    NAS_EVENT_TRIGGERS,
    TRIGGER_MATCHES,
    TRIGGER_RAID_PROBLEM,
)
from custom_components.balupi.nas_state import NasState
from custom_components.balupi.sleep_watch import SleepTiming
from homeassistant.components.update import (
    ATTR_IN_PROGRESS,
    ATTR_INSTALLED_VERSION,
    ATTR_LATEST_VERSION,
    ATTR_UPDATE_PERCENTAGE,
    DOMAIN as UPDATE_DOMAIN,
    SERVICE_INSTALL,
)
from homeassistant.const import ATTR_ENTITY_ID, ATTR_SUPPORTED_FEATURES, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.util import dt as dt_util

from .baluhost import (  # noqa: F401 - fixtures are found by pytest, not used
    IDLE_HTTP_THRESHOLD,
    START_TIMEOUT,
    BaluHostAdmin,
    BaluHostProcess,
    baluhost_admin_fixture,
    baluhost_factory_fixture,
    baluhost_fixture,
)
from .conftest import MAC, advance, entry_data, settle, setup_entry

pytestmark = pytest.mark.timeout(START_TIMEOUT + 240)

STATE = "sensor.baluhost_nas_state"
CPU = "sensor.baluhost_cpu_usage"
LIVE = (
    CPU,
    "sensor.baluhost_memory_used",
    "sensor.baluhost_memory_usage",
    "sensor.baluhost_network_download",
    "sensor.baluhost_network_upload",
    "sensor.baluhost_up_since",
)
UPDATE = "update.baluhost_baluhost_software"
BACKUP_RESULT = "sensor.baluhost_last_backup_run_result"
# The dev backend's simulated update takes seconds.
UPDATE_WAIT = 60.0
# Simulated time for the count, and the real time it may take: the NAS counts
# the requests of the last 60 real seconds.
SIMULATED_MINUTES = 10
REAL_LIMIT = 50.0


@pytest.fixture
async def aiohttp_session(
    socket_enabled: None,
) -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def user_key(admin: BaluHostAdmin) -> str:
    """A plain user's key: the live figures need no permission."""
    _, key = await admin.create_api_key(await admin.create_user())
    return key


async def setup(hass: HomeAssistant, nas: BaluHostProcess, key: str) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data(nas.url, **{CONF_API_KEY: key}),
    )
    await setup_entry(hass, entry)
    return entry


async def wait_until(hass: HomeAssistant, check: object, timeout: float = 15) -> None:
    """Wait in real time until ``check()`` holds."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
        await hass.async_block_till_done()


async def requests_per_minute(admin: BaluHostAdmin) -> float:
    """Return the NAS's count of the last 60 s (this read included)."""
    status, body = await admin.request("GET", "/api/system/sleep/status")
    assert status == 200, body
    counted: float = body["activity_metrics"]["http_requests_per_minute"]
    return counted


async def test_live_figures_while_awake_kept_dated_while_asleep(
    hass: HomeAssistant, baluhost: BaluHostProcess, baluhost_admin: BaluHostAdmin
) -> None:
    entry = await setup(hass, baluhost, await user_key(baluhost_admin))
    await wait_until(hass, lambda: hass.states.get(STATE).state == NasState.ONLINE)
    await wait_until(hass, lambda: hass.states.get(CPU).state != "unknown")
    states = {entity_id: hass.states.get(entity_id) for entity_id in LIVE}
    assert 0 <= float(states[CPU].state) <= 100
    assert float(states["sensor.baluhost_memory_used"].state) > 0
    assert 0 < float(states["sensor.baluhost_memory_usage"].state) <= 100
    # A NAS just started has no network sample yet (it answers 503 until then).
    status, _ = await baluhost_admin.request("GET", "/api/monitoring/network/current")
    download = states["sensor.baluhost_network_download"].state
    assert download == "unknown" if status == 503 else float(download) >= 0
    up_since = datetime.fromisoformat(states["sensor.baluhost_up_since"].state)
    assert up_since < dt_util.utcnow()
    measured_at = states[CPU].attributes[ATTR_MEASURED_AT]
    assert datetime.fromisoformat(measured_at) <= dt_util.utcnow()
    # The same figures as the NAS's own overview.
    status, info = await baluhost_admin.request("GET", "/api/system/info")
    assert status == 200, info
    shown = float(states["sensor.baluhost_memory_usage"].state)
    assert abs(shown - 100 * info["memory"]["used"] / info["memory"]["total"]) < 10

    # A plain user may not check for updates: the version, no latest, no install.
    await wait_until(
        hass, lambda: hass.states.get(UPDATE).attributes[ATTR_INSTALLED_VERSION]
    )
    software = hass.states.get(UPDATE)
    status, version = await baluhost_admin.request("GET", "/api/updates/version")
    assert status == 200, version
    assert software.attributes[ATTR_INSTALLED_VERSION] == version["version"]
    assert software.attributes[ATTR_LATEST_VERSION] is None
    assert software.attributes[ATTR_SUPPORTED_FEATURES] == 0

    # Soft sleep: BaluPi sees it, then a cycle reads nothing and keeps the figures.
    status, body = await baluhost_admin.request("POST", "/api/system/sleep/soft")
    assert status == 200, body
    nas = entry.runtime_data.nas
    nas.watch.read_now()
    await nas.async_refresh()
    assert hass.states.get(STATE).state == NasState.SLEEPING
    device = entry.runtime_data.device
    assert device is not None
    before = await requests_per_minute(baluhost_admin)
    await device.async_refresh()
    await hass.async_block_till_done()
    # Only the second read of the count itself is new.
    assert await requests_per_minute(baluhost_admin) <= before + 1
    assert await baluhost_admin.sleep_state() == "soft_sleep"
    for entity_id, state in states.items():
        kept = hass.states.get(entity_id)
        assert kept.state == state.state, entity_id
        assert kept.attributes[ATTR_MEASURED_AT] == measured_at

    # A restart while it sleeps: the figures come back, with their time.
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(STATE).state == NasState.SLEEPING
    for entity_id, state in states.items():
        kept = hass.states.get(entity_id)
        assert kept.state == state.state, entity_id
        assert kept.attributes[ATTR_MEASURED_AT] == measured_at
    assert await baluhost_admin.sleep_state() == "soft_sleep"


async def test_without_a_key_there_are_no_live_figures(
    hass: HomeAssistant, socket_enabled: None, baluhost: BaluHostProcess
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, title="BaluHost", unique_id=MAC, data=entry_data(baluhost.url)
    )
    await setup_entry(hass, entry)
    assert entry.runtime_data.device is None
    assert hass.states.get(CPU) is None


async def test_balupi_with_everything_enabled_stays_far_below_the_idle_threshold(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    baluhost: BaluHostProcess,
    baluhost_admin: BaluHostAdmin,
) -> None:
    await setup(hass, baluhost, await user_key(baluhost_admin))
    await advance(hass, freezer, 2)
    assert hass.states.get(STATE).state == NasState.ONLINE
    first = hass.states.get(CPU).attributes[ATTR_MEASURED_AT]
    # Home Assistant's clock stands still: the NAS's window empties of
    # everything before (setup's reads, the arranging admin's).
    await settle(hass, 61)
    # Real seconds: the frozen clock stops time.monotonic too.
    started = time.clock_gettime(time.CLOCK_MONOTONIC)
    before = await requests_per_minute(baluhost_admin)
    await advance(hass, freezer, SIMULATED_MINUTES * 60, step=1.0)
    after = await requests_per_minute(baluhost_admin)
    took = time.clock_gettime(time.CLOCK_MONOTONIC) - started
    # All of it inside the NAS's 60 s window, so nothing dropped out.
    assert took < REAL_LIMIT, took
    counted = after - before - 1
    per_minute = counted / SIMULATED_MINUTES
    print(f"BaluPi, everything enabled: {per_minute:.2f} counted requests a minute")
    budget = (
        SleepTiming(
            SLEEP_STATUS_INTERVAL, SLEEP_SCHEDULE_INTERVAL, SUSPEND_GRACE
        ).counted_per_minute()
        + counted_per_minute()
    )
    # The live figures were read (two cycles), and no more than promised.
    assert hass.states.get(CPU).attributes[ATTR_MEASURED_AT] != first
    assert per_minute >= counted_per_minute()
    assert per_minute <= budget
    assert per_minute <= IDLE_HTTP_THRESHOLD / 3
    assert hass.states.get(STATE).state == NasState.ONLINE


async def test_backup_job_from_the_scheduler_while_awake(
    hass: HomeAssistant, baluhost: BaluHostProcess, baluhost_admin: BaluHostAdmin
) -> None:
    entry = await setup(hass, baluhost, await user_key(baluhost_admin))
    await wait_until(hass, lambda: hass.states.get(STATE).state == NasState.ONLINE)
    jobs = entry.runtime_data.jobs
    assert jobs is not None
    await baluhost_admin.run_scheduler("backup")
    await jobs.async_refresh()
    await hass.async_block_till_done()
    status, body = await baluhost_admin.request("GET", "/api/schedulers/")
    assert status == 200, body
    backup = next(job for job in body["schedulers"] if job["name"] == "backup")
    result = hass.states.get(BACKUP_RESULT)
    assert result.state == backup["last_status"] == "requested"
    assert result.attributes["enabled"] is backup["is_enabled"]
    last_run = hass.states.get("sensor.baluhost_last_backup_run").state
    assert datetime.fromisoformat(last_run) == datetime.fromisoformat(
        backup["last_run_at"]
    ).replace(tzinfo=UTC, microsecond=0)

    # Asleep: nothing is read, the last result stays.
    status, body = await baluhost_admin.request("POST", "/api/system/sleep/soft")
    assert status == 200, body
    nas = entry.runtime_data.nas
    nas.watch.read_now()
    await nas.async_refresh()
    assert hass.states.get(STATE).state == NasState.SLEEPING
    await baluhost_admin.run_scheduler("backup")
    await jobs.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.baluhost_last_backup_run").state == last_run
    assert await baluhost_admin.sleep_state() == "soft_sleep"


async def test_nas_events_fired_and_repairs_raised_until_the_nas_says_over(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    baluhost: BaluHostProcess,
    baluhost_admin: BaluHostAdmin,
) -> None:
    # A plain user sees the system notifications the admin routed to it.
    user_id = await baluhost_admin.create_user()
    await baluhost_admin.route_notifications(user_id, "raid", "backup")
    _, key = await baluhost_admin.create_api_key(user_id)
    entry = await setup(hass, baluhost, key)
    await wait_until(hass, lambda: hass.states.get(STATE).state == NasState.ONLINE)
    events = entry.runtime_data.events
    assert events is not None
    fired = async_capture_events(hass, EVENT_NAS_EVENT)
    issue_id = f"{ISSUE_NAS_RAID_DEGRADED}_{entry.entry_id}"

    await baluhost_admin.raid("degrade", device="sdb1")
    await events.async_refresh()
    await hass.async_block_till_done()
    assert [event.data["type"] for event in fired] == ["raid.degraded"]
    assert fired[0].data["severity"] in ("warning", "critical")
    assert fired[0].data["config_entry_id"] == entry.entry_id
    # The NAS device offers triggers for them, and this one matches.
    nas_device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, MAC), entry.entry_id
    )
    assert nas_device is not None
    offered = await device_trigger.async_get_triggers(hass, nas_device.id)
    assert {trigger["type"] for trigger in offered} >= NAS_EVENT_TRIGGERS
    assert any(
        all(fired[0].data.get(key) == value for key, value in match.items())
        for match in TRIGGER_MATCHES[TRIGGER_RAID_PROBLEM]
    )
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["message"].startswith("`")

    # Listed again (the NAS stamps to the second): nothing is fired twice.
    await events.async_refresh()
    await baluhost_admin.raid("finalize")
    await baluhost_admin.create_backup()
    await events.async_refresh()
    await hass.async_block_till_done()
    kinds = [event.data["type"] for event in fired]
    assert kinds[0] == "raid.degraded"
    assert set(kinds) == {"raid.degraded", "raid.rebuilt", "backup.completed"}
    assert kinds.index("raid.rebuilt") < kinds.index("backup.completed")
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    # And once more: all of it seen already.
    await events.async_refresh()
    await hass.async_block_till_done()
    assert len(fired) == len(kinds)
    assert int(hass.states.get("sensor.baluhost_unread_notifications").state) >= 3


async def install(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        UPDATE_DOMAIN, SERVICE_INSTALL, {ATTR_ENTITY_ID: UPDATE}, blocking=True
    )


async def test_software_update_followed_and_a_refusal_explained(
    hass: HomeAssistant,
    baluhost_factory: Callable[..., Awaitable[BaluHostProcess]],
    aiohttp_session: aiohttp.ClientSession,
) -> None:
    # A NAS of its own: the update stays running on it. BaluHost 1.38's
    # dev backend never finishes an update (it fails on its own SQLite times
    # at the end and stays in its post-restart check), so the run is followed
    # to that point, and the update it leaves running blocks the next one.
    baluhost = await baluhost_factory()
    baluhost_admin = BaluHostAdmin(aiohttp_session, baluhost)
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    entry = await setup(hass, baluhost, baluhost.apikey)
    await wait_until(hass, lambda: hass.states.get(STATE).state == NasState.ONLINE)
    await wait_until(hass, lambda: hass.states.get(UPDATE).state == STATE_ON)
    status, check = await baluhost_admin.request("GET", "/api/updates/check")
    assert status == 200, check
    shown = hass.states.get(UPDATE)
    installed = check["current_version"]["version"]
    assert shown.attributes[ATTR_INSTALLED_VERSION] == installed
    assert shown.attributes[ATTR_LATEST_VERSION] == check["latest_version"]["version"]

    await install(hass)
    assert hass.states.get(UPDATE).attributes[ATTR_IN_PROGRESS] is True
    # Followed as the NAS reports it, step by step.
    await wait_until(
        hass,
        lambda: (hass.states.get(UPDATE).attributes[ATTR_UPDATE_PERCENTAGE] or 0) >= 85,
        timeout=UPDATE_WAIT,
    )
    status, current = await baluhost_admin.request("GET", "/api/updates/current")
    assert status == 200, current
    assert current["progress_percent"] >= 85
    assert hass.states.get(UPDATE).attributes[ATTR_IN_PROGRESS] is True

    # A BaluPi that did not start it (restarted): the NAS refuses a second
    # update, and says why.
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await wait_until(hass, lambda: hass.states.get(UPDATE).state == STATE_ON)
    with pytest.raises(HomeAssistantError) as err:
        await install(hass)
    assert err.value.translation_key == "update_refused"
    assert "in progress" in err.value.translation_placeholders["reasons"]
    # An update is not a death.
    assert not [e for e in events if e.data["to"] == NasState.OFFLINE]
