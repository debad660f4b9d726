"""The BaluHost client against the real BaluHost backend (and fakes for faults).

One backend serves the whole module (module scope, started once); each test
leaves it running and awake. Tests that need a fresh one start their own.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import socket
import time as clock
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from custom_components.balupi.baluhost import (
    AWAKE_ONLY_PATHS,
    DISK_READ_PATHS,
    MAX_LONG_TEXT,
    MAX_NOTIFICATION_PAGES,
    MAX_REPLY_BYTES,
    NOTIFICATION_PAGE_SIZE,
    NOTIFICATIONS_PATH,
    UPDATE_PROGRESS_PATH,
    WAKE_SAFE_PREFIXES,
    BaluHostAuthError,
    BaluHostClient,
    BaluHostConnectionError,
    BaluHostError,
    BaluHostPermissionError,
    BaluHostReplyError,
    BaluHostUpdateRefusedError,
    CpuReading,
    DiskIoReading,
    KeyCheck,
    MonitoringKind,
    NotificationType,
    RaidArray,
    RaidDevice,
    ScheduleMode,
    SchedulerRunStatus,
    SleepEvent,
    SleepSchedule,
    SleepState,
    SuspendOutcome,
    UpdateChannel,
    UpdateCheck,
    UpdateProgress,
    UpdateStatus,
    UptimeReading,
    async_tcp_probe,
)

from .baluhost import (  # noqa: F401 - fixtures are found by pytest, not used
    RUN,
    START_TIMEOUT,
    BaluHostAdmin,
    BaluHostProcess,
    baluhost_admin_fixture,
    baluhost_factory_fixture,
    baluhost_fixture,
)
from .nas_signer import COMING_ONLINE, GOING_OFFLINE, signed_call

# The fixture's start (a venv build on a fresh machine) runs inside the first
# test's time limit.
pytestmark = pytest.mark.timeout(START_TIMEOUT + 120)

WHITELIST_SOURCE = (
    RUN.parent / "src" / "backend" / "app" / "middleware" / "sleep_auto_wake.py"
)
MADE_UP_KEY = "balu_" + "Zz9" * 13 + "x"
CLIENT_ID = "balupi-test-0001"
SECRET = "handshake-secret-" + "s" * 31
PROBE_TIMEOUT = 1.0
# An update ID the NAS never gave.
UNKNOWN_UPDATE = 999_999
# The dev backend's pretended update takes about 12 s.
UPDATE_TIMEOUT = 60


def backend_whitelist() -> tuple[str, ...]:
    """Return BaluHost's own auto-wake whitelist, read from its source."""
    tree = ast.parse(WHITELIST_SOURCE.read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(target := node.targets[0], ast.Name)
            and target.id == "_WAKE_WHITELIST_PREFIXES"
        ):
            prefixes: tuple[str, ...] = ast.literal_eval(node.value)
            return prefixes
    pytest.fail(f"no _WAKE_WHITELIST_PREFIXES in {WHITELIST_SOURCE}")


@dataclass
class Sent:
    """One request the client sent."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class RequestLog:
    """Every request an aiohttp session sent."""

    sent: list[Sent] = field(default_factory=list)


@pytest.fixture(name="request_log")
def request_log_fixture() -> RequestLog:
    return RequestLog()


@pytest.fixture(name="http")
async def http_fixture(
    socket_enabled: None, request_log: RequestLog
) -> AsyncGenerator[aiohttp.ClientSession]:
    """A plain aiohttp session that records every request it sends."""

    async def on_start(
        session: aiohttp.ClientSession,
        context: Any,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        request_log.sent.append(
            Sent(params.method, params.url.raw_path, dict(params.headers))
        )

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        yield session


@pytest.fixture(name="client")
def client_fixture(
    http: aiohttp.ClientSession, baluhost: BaluHostProcess
) -> BaluHostClient:
    """A client of the shared backend with the admin's API key."""
    return BaluHostClient(http, baluhost.url, baluhost.apikey, timeout=10)


@dataclass
class User:
    """A user of the shared backend (no permissions) and a client with its key."""

    id: int
    client: BaluHostClient


@pytest.fixture(name="user")
async def user_fixture(
    http: aiohttp.ClientSession,
    baluhost: BaluHostProcess,
    baluhost_admin: BaluHostAdmin,
) -> User:
    """A new user of the shared backend, as BaluPi's own user would be."""
    user_id = await baluhost_admin.create_user()
    _, key = await baluhost_admin.create_api_key(user_id)
    return User(user_id, BaluHostClient(http, baluhost.url, key, timeout=10))


async def all_reads(client: BaluHostClient) -> None:
    """Call every read the client offers."""
    await client.power_status()
    await client.sync_preflight()
    await client.sleep_status()
    await client.system_info()
    for kind in MonitoringKind:
        await client.monitoring_current(kind)
    await client.uptime_history()
    assert await client.check_key() is KeyCheck.VALID


async def awake_only_reads(client: BaluHostClient) -> None:
    """Call every awake-only read except the disk reads."""
    await client.notifications()
    await client.notifications(updated_after=datetime.now(UTC))
    await client.schedulers()
    await client.version()
    await client.update_check()
    await client.update_current()
    await client.update_progress(UNKNOWN_UPDATE)
    await client.raid_status()
    await client.storage()


async def requests_per_minute(client: BaluHostClient) -> float:
    """Return the NAS's request count of the last minute (this read included)."""
    return (await client.sleep_status()).http_requests_per_minute


# --- the real backend --------------------------------------------------------


async def test_live_figures_before_and_after_the_first_wake(
    http: aiohttp.ClientSession,
    baluhost_factory: Callable[..., Awaitable[BaluHostProcess]],
) -> None:
    # A backend that was never woken: without a monitoring worker, dev mode
    # has no CPU, memory or network samples (503) until a wake starts its
    # in-process telemetry.
    nas = await baluhost_factory()
    client = BaluHostClient(http, nas.url, nas.apikey, timeout=10)
    baluhost_admin = BaluHostAdmin(http, nas)
    for kind in (MonitoringKind.CPU, MonitoringKind.MEMORY, MonitoringKind.NETWORK):
        assert await client.monitoring_current(kind) is None
    disk_io = await client.monitoring_current(MonitoringKind.DISK_IO)
    assert disk_io == DiskIoReading(disks={})
    uptime = await client.monitoring_current(MonitoringKind.UPTIME)
    assert isinstance(uptime, UptimeReading)
    assert uptime.server_start_time.tzinfo is not None
    assert uptime.server_start_time <= uptime.timestamp

    # With its sleep settings saved once, the NAS pauses its monitoring in
    # soft sleep and starts it again on waking; before, it pauses nothing.
    await baluhost_admin.save_sleep_config(idle_timeout_minutes=15)
    await client.soft_sleep()
    await client.wake()
    deadline = clock.monotonic() + 10
    while (cpu := await client.monitoring_current(MonitoringKind.CPU)) is None:
        assert clock.monotonic() < deadline, "no CPU sample after the wake"
        await asyncio.sleep(0.5)
    assert isinstance(cpu, CpuReading)
    assert cpu.timestamp > uptime.server_start_time
    memory = await client.monitoring_current(MonitoringKind.MEMORY)
    assert memory is not None
    assert 0 < memory.used_bytes <= memory.total_bytes


async def test_reads_leave_a_soft_sleeping_nas_asleep(
    client: BaluHostClient, baluhost_admin: BaluHostAdmin
) -> None:
    await client.soft_sleep()
    entered = (await baluhost_admin.sleep_history(limit=1))[0]
    assert entered["new_state"] == "soft_sleep"

    await all_reads(client)
    await all_reads(client)

    status = await client.sleep_status()
    assert status.state is SleepState.SOFT_SLEEP
    assert status.state_since is not None
    assert status.state_since.tzinfo is not None
    power = await client.power_status()
    assert power.soft_sleep
    assert power.soft_sleep_since is not None
    assert abs(power.soft_sleep_since - status.state_since) < timedelta(seconds=5)
    preflight = await client.sync_preflight()
    assert preflight.sleep_state is SleepState.SOFT_SLEEP
    # Not one transition since: in particular no auto_wake caused by a read.
    later = [
        entry
        for entry in await baluhost_admin.sleep_history()
        if entry["id"] > entered["id"]
    ]
    assert later == []


async def test_awake_only_reads_leave_a_soft_sleeping_nas_asleep(
    client: BaluHostClient, baluhost_admin: BaluHostAdmin, request_log: RequestLog
) -> None:
    await client.soft_sleep()
    entered = (await baluhost_admin.sleep_history(limit=1))[0]
    assert entered["new_state"] == "soft_sleep"
    start = len(request_log.sent)

    # Not the disk reads: on a real NAS, smartctl would spin the disks up.
    await awake_only_reads(client)

    sent = request_log.sent[start:]
    assert {awake_only_path(request.path) for request in sent} == set(
        AWAKE_ONLY_PATHS
    ) - set(DISK_READ_PATHS)
    for request in sent:
        assert request.method == "GET", request
        assert request.headers.get("X-Sync-Trigger") == "auto", request
    assert await baluhost_admin.sleep_state() == "soft_sleep"
    later = [
        entry
        for entry in await baluhost_admin.sleep_history()
        if entry["id"] > entered["id"]
    ]
    assert later == []


def awake_only_path(path: str) -> str:
    """Return the entry of AWAKE_ONLY_PATHS that ``path`` was made from."""
    progress = UPDATE_PROGRESS_PATH.format(update_id=UNKNOWN_UPDATE)
    return UPDATE_PROGRESS_PATH if path == progress else path


def test_the_lists_of_reads_match_the_backend() -> None:
    whitelist = backend_whitelist()
    assert set(WAKE_SAFE_PREFIXES) <= set(whitelist)
    # Awake-only paths are really outside the whitelist (else they would
    # belong to the other list), and the disk reads are awake-only too.
    for path in AWAKE_ONLY_PATHS:
        assert not path.startswith(whitelist), path
    assert set(DISK_READ_PATHS) <= set(AWAKE_ONLY_PATHS)


async def test_reads_go_to_whitelisted_paths_without_waking(
    client: BaluHostClient, request_log: RequestLog
) -> None:
    whitelist = backend_whitelist()

    await all_reads(client)

    assert len({sent.path for sent in request_log.sent}) == 5 + len(MonitoringKind)
    for sent in request_log.sent:
        assert sent.method == "GET", sent
        assert sent.path.startswith(whitelist), sent
        assert sent.headers.get("X-Sync-Trigger") == "auto", sent


@pytest.mark.parametrize(
    "path",
    [
        "/api/health",
        "/api/auth/me",
        "/api/system/sleep-status",
        "/api/system/sleep/soft",
        "/api/monitoring/../auth/me",
        "/api/monitoring/%2e%2e/auth/me",
        "/api/power/status?x=/api/health",
        # Awake-only paths are exact: these run smartctl or are not reads.
        "/api/system/storage/aggregated",
        "/api/system/storage/breakdown",
        "/api/system/health",
        "/api/system/raid/status/x",
        "/api/system/raid/degrade",
        "/api/updates/start",
        "/api/updates/progress/-1",
        "/api/updates/progress/1/cancel",
        "/api/notifications/read-all",
    ],
)
async def test_a_read_elsewhere_is_refused_before_sending(
    http: aiohttp.ClientSession, request_log: RequestLog, path: str
) -> None:
    client = BaluHostClient(http, "http://127.0.0.1:1", MADE_UP_KEY)
    with pytest.raises(ValueError, match="could wake the NAS"):
        await client._read(path)
    assert request_log.sent == []


async def test_a_user_reads_the_sleep_record(
    user: User, client: BaluHostClient, baluhost_admin: BaluHostAdmin
) -> None:
    await client.soft_sleep()
    await baluhost_admin.ensure_awake()
    woke, slept = await baluhost_admin.sleep_history(limit=2)

    events = await user.client.uptime_history()

    assert events[-2:] == (
        SleepEvent(
            timestamp=datetime.fromisoformat(slept["timestamp"]).replace(tzinfo=UTC),
            previous_state=SleepState.AWAKE,
            new_state=SleepState.SOFT_SLEEP,
            duration_seconds=None,
        ),
        SleepEvent(
            timestamp=datetime.fromisoformat(woke["timestamp"]).replace(tzinfo=UTC),
            previous_state=SleepState.SOFT_SLEEP,
            new_state=SleepState.AWAKE,
            duration_seconds=woke["duration_seconds"],
        ),
    )
    assert woke["duration_seconds"] > 0
    times = [event.timestamp for event in events]
    assert times == sorted(times)


async def test_tcp_probes_are_not_seen_by_the_nas(
    client: BaluHostClient, baluhost: BaluHostProcess
) -> None:
    before = await requests_per_minute(client)
    for _ in range(10):
        assert await async_tcp_probe("127.0.0.1", baluhost.port or 0, PROBE_TIMEOUT)
    after = await requests_per_minute(client)
    # Only the second status read is new (requests older than a minute may
    # have left the window meanwhile); ten HTTP probes would show as ten.
    assert after - before <= 1, (before, after)


async def test_presence_is_neither_counted_nor_waking(
    client: BaluHostClient, baluhost_admin: BaluHostAdmin, request_log: RequestLog
) -> None:
    await client.soft_sleep()
    before = await requests_per_minute(client)
    for _ in range(3):
        ack = await client.presence(CLIENT_ID)
    assert ack.heartbeat_interval_seconds > 0
    assert ack.timeout_minutes > 0
    after = await requests_per_minute(client)
    assert after - before <= 1, (before, after)
    assert await baluhost_admin.sleep_state() == "soft_sleep"

    sent = len(request_log.sent)
    with pytest.raises(ValueError, match="client_id"):
        await client.presence("short")
    assert len(request_log.sent) == sent


async def test_power_actions_with_a_delegated_key(
    http: aiohttp.ClientSession,
    baluhost: BaluHostProcess,
    baluhost_admin: BaluHostAdmin,
) -> None:
    user_id = await baluhost_admin.create_user()
    _, key = await baluhost_admin.create_api_key(user_id)
    user = BaluHostClient(http, baluhost.url, key, timeout=10)
    assert await user.check_key() is KeyCheck.VALID

    actions: list[tuple[Callable[[], Awaitable[object]], str]] = [
        (user.soft_sleep, "power:soft_sleep"),
        (user.wake, "power:wake"),
        (user.suspend, "power:suspend"),
    ]
    for action, permission in actions:
        with pytest.raises(BaluHostPermissionError) as err:
            await action()
        assert err.value.permission == permission
        assert key not in str(err.value)
    assert (await user.sleep_status()).state is SleepState.AWAKE

    granted = await baluhost_admin.grant_power(
        user_id, can_soft_sleep=True, can_suspend=True
    )
    assert granted["can_wake"]
    await user.soft_sleep()
    assert (await user.power_status()).soft_sleep
    await user.wake()  # answered 409: the request itself woke the NAS
    assert not (await user.power_status()).soft_sleep
    assert (await user.sleep_status()).state is SleepState.AWAKE

    # The dev backend fakes a suspend of 2 s and answers after it.
    assert await user.suspend(answer_timeout=15) is SuspendOutcome.RESUMED
    assert (await user.sleep_status()).state is SleepState.AWAKE
    # A real NAS answers only after it resumed: no answer yet is under way.
    assert await user.suspend(answer_timeout=0.5) is SuspendOutcome.UNDER_WAY
    assert (await user.sleep_status()).state is not SleepState.AWAKE
    # The suspend carried on without us; the NAS resumes by itself.
    await baluhost_admin.wait_for_state("awake")
    reasons = [
        (entry["new_state"], entry["reason"])
        for entry in await baluhost_admin.sleep_history(limit=3)
    ]
    assert reasons[0] == ("awake", "resume_from_suspend")
    assert reasons[1][0] == "true_suspend"


async def test_invalid_or_revoked_key(
    http: aiohttp.ClientSession,
    baluhost: BaluHostProcess,
    baluhost_admin: BaluHostAdmin,
) -> None:
    made_up = BaluHostClient(http, baluhost.url, MADE_UP_KEY)
    with pytest.raises(BaluHostAuthError) as err:
        await made_up.sleep_status()
    assert MADE_UP_KEY not in str(err.value)
    with pytest.raises(BaluHostAuthError):
        await made_up.soft_sleep()
    assert await made_up.check_key() is KeyCheck.INVALID_KEY
    assert await BaluHostClient(http, baluhost.url).check_key() is KeyCheck.INVALID_KEY

    user_id = await baluhost_admin.create_user()
    key_id, key = await baluhost_admin.create_api_key(user_id)
    revoked = BaluHostClient(http, baluhost.url, key)
    assert await revoked.check_key() is KeyCheck.VALID
    await baluhost_admin.delete_api_key(key_id)
    assert await revoked.check_key() is KeyCheck.INVALID_KEY


async def test_malformed_key_is_refused_without_repeating_it(
    http: aiohttp.ClientSession, request_log: RequestLog
) -> None:
    secret = "balu_ with a newline\nX-Injected: 1"
    with pytest.raises(ValueError, match="not a BaluHost API key") as err:
        BaluHostClient(http, "http://127.0.0.1:1", secret)
    assert secret not in str(err.value)
    assert request_log.sent == []


async def test_sync_preflight_reports_the_schedule(
    client: BaluHostClient, baluhost_admin: BaluHostAdmin
) -> None:
    # Twelve hours away (the NAS runs in UTC), so the schedule never fires.
    now = datetime.now(UTC)
    sleep_at = (now + timedelta(hours=12)).time().replace(second=0, microsecond=0)
    wake_at = (now + timedelta(hours=13)).time().replace(second=0, microsecond=0)
    await baluhost_admin.save_sleep_config(
        schedule_enabled=True,
        schedule_sleep_time=sleep_at.strftime("%H:%M"),
        schedule_wake_time=wake_at.strftime("%H:%M"),
        schedule_mode="soft",
    )
    try:
        preflight = await client.sync_preflight()
    finally:
        await baluhost_admin.save_sleep_config(schedule_enabled=False)
    assert preflight.sleep_state is SleepState.AWAKE
    assert preflight.schedule == SleepSchedule(
        enabled=True, sleep_time=sleep_at, wake_time=wake_at, mode=ScheduleMode.SOFT
    )
    assert preflight.next_sleep_at is not None
    assert preflight.next_sleep_at.time() == sleep_at
    assert preflight.next_wake_at is not None
    assert preflight.next_wake_at.time() == wake_at
    assert (await client.sync_preflight()).schedule is None


async def test_killed_nas_fails_the_tcp_probe(
    client: BaluHostClient, baluhost: BaluHostProcess
) -> None:
    port = baluhost.port or 0
    assert await async_tcp_probe("127.0.0.1", port, PROBE_TIMEOUT)
    await asyncio.to_thread(baluhost.kill)
    try:
        assert not await async_tcp_probe("127.0.0.1", port, PROBE_TIMEOUT)
        with pytest.raises(BaluHostConnectionError, match="connection failed"):
            await client.sleep_status()
        assert await client.check_key() is KeyCheck.UNREACHABLE
    finally:
        await asyncio.to_thread(baluhost.restart)
    assert baluhost.port == port
    assert await async_tcp_probe("127.0.0.1", port, PROBE_TIMEOUT)
    assert (await client.sleep_status()).state is SleepState.AWAKE


async def test_own_backend_sends_its_signed_handshake(
    socket_enabled: None,
    baluhost_factory: Callable[..., Awaitable[BaluHostProcess]],
) -> None:
    received: list[tuple[str, dict[str, str], bytes]] = []

    async def handshake(request: web.Request) -> web.Response:
        received.append((request.path, dict(request.headers), await request.read()))
        return web.json_response({"acknowledged": True})

    app = web.Application()
    app.router.add_post("/api/handshake/{call}", handshake)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    pi_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        nas = await baluhost_factory(balupi_url=pi_url, balupi_secret=SECRET)
        assert [path for path, _, _ in received] == [COMING_ONLINE]
        await asyncio.to_thread(nas.stop)
    finally:
        await runner.cleanup()
    assert [path for path, _, _ in received] == [COMING_ONLINE, GOING_OFFLINE]
    for path, headers, raw in received:
        timestamp = int(headers["X-Balupi-Timestamp"])
        body = json.loads(raw) if raw else None
        expected, _ = signed_call(SECRET, path, body, timestamp=timestamp)
        assert headers["X-Balupi-Signature"] == expected["X-Balupi-Signature"]
    snapshot = json.loads(received[1][2])
    assert snapshot["baluhost_version"] == "1.38.0"


async def test_raid_status_through_a_failing_disk(
    user: User, baluhost_admin: BaluHostAdmin
) -> None:
    (md0,) = await user.client.raid_status()
    assert md0 == RaidArray(
        name="md0",
        level="raid1",
        status="optimal",
        size_bytes=md0.size_bytes,
        resync_progress=None,
        devices=(RaidDevice("sda1", "active"), RaidDevice("sdb1", "active")),
    )
    assert md0.size_bytes > 0
    try:
        await baluhost_admin.raid("degrade", device="sdb1")
        (md0,) = await user.client.raid_status()
        assert md0.status == "degraded"
        assert md0.devices[1] == RaidDevice("sdb1", "failed")

        await baluhost_admin.raid("rebuild", device="sdb1")
        (md0,) = await user.client.raid_status()
        assert md0.status == "rebuilding"
        assert md0.resync_progress == 42.0  # what the dev backend pretends
        assert md0.devices[1] == RaidDevice("sdb1", "rebuilding")
    finally:
        await baluhost_admin.raid("finalize")
    (md0,) = await user.client.raid_status()
    assert md0.status == "optimal"
    assert md0.resync_progress is None


async def test_storage_and_smart_status(user: User) -> None:
    usage = await user.client.storage()
    info = await user.client.system_info()
    assert usage.total_bytes == info.disk_total_bytes > 0
    assert usage.used_bytes + usage.available_bytes == usage.total_bytes

    devices = {device.name: device for device in await user.client.smart_status()}
    sda = devices["/dev/sda"]  # the dev backend's mock disks
    assert (sda.model, sda.serial, sda.status) == (
        "BaluHost Dev Disk 5GB (Mirror A)",
        "BALU-DEV-5GB-A",
        "PASSED",
    )
    assert sda.temperature == 28
    assert sda.capacity_bytes == 5 * 1024**3
    assert sda.used_bytes is not None
    assert sda.used_bytes <= sda.capacity_bytes
    assert sda.power_on_hours == 1234
    assert {device.status for device in devices.values()} <= {"PASSED", "FAILED"}


async def test_notifications_of_a_routed_user(
    user: User, baluhost_admin: BaluHostAdmin
) -> None:
    # System notifications are for admins, and for users they are routed to.
    await baluhost_admin.raid("finalize")
    assert (await user.client.notifications()).notifications == ()

    await baluhost_admin.route_notifications(user.id, "raid", "backup")
    await baluhost_admin.raid("finalize")
    await baluhost_admin.create_backup()
    listing = await user.client.notifications()

    events = {item.event_type: item for item in listing.notifications}
    assert set(events) == {"raid.rebuilt", "backup.completed"}
    rebuilt, backup = events["raid.rebuilt"], events["backup.completed"]
    assert (rebuilt.category, rebuilt.notification_type, rebuilt.priority) == (
        "raid",
        NotificationType.INFO,
        1,
    )
    assert "md0" in rebuilt.title
    assert rebuilt.message
    assert (backup.category, backup.priority) == ("backup", 0)
    assert backup.created_at.tzinfo is not None
    assert backup.updated_at >= backup.created_at
    assert listing.complete
    assert listing.total == len(listing.notifications)
    assert listing.unread_count == len(listing.notifications)
    assert not any(item.is_read for item in listing.notifications)
    # Listing marks nothing read.
    again = await user.client.notifications()
    assert again.unread_count == listing.unread_count
    assert again.notifications == listing.notifications


async def test_notifications_follow_pages_newest_first(
    user: User, baluhost_admin: BaluHostAdmin, request_log: RequestLog
) -> None:
    long_message = "Ä" * (MAX_LONG_TEXT + 500)
    first = await baluhost_admin.notify(user.id, message=long_message)
    for index in range(NOTIFICATION_PAGE_SIZE):
        await baluhost_admin.notify(
            user.id,
            notification_type="critical",
            priority=3,
            title=f"Disk {index} failing",
            metadata={"event_type": "smart.failure", "device": f"sd{index}"},
        )
    start = len(request_log.sent)

    listing = await user.client.notifications()

    pages = [sent.path for sent in request_log.sent[start:]]
    assert pages == [NOTIFICATIONS_PATH] * 2
    assert listing.complete
    assert listing.total == NOTIFICATION_PAGE_SIZE + 1
    ids = [item.id for item in listing.notifications]
    assert len(set(ids)) == len(ids) == listing.total
    order = [(item.created_at, item.id) for item in listing.notifications]
    assert order == sorted(order, reverse=True)
    oldest = listing.notifications[-1]
    assert oldest.id == first["id"]
    assert oldest.event_type is None
    assert len(oldest.message) == MAX_LONG_TEXT
    assert oldest.message == long_message[: MAX_LONG_TEXT - 1] + "…"
    newest = listing.notifications[0]
    assert newest.title == f"Disk {NOTIFICATION_PAGE_SIZE - 1} failing"
    assert (newest.notification_type, newest.priority, newest.event_type) == (
        NotificationType.CRITICAL,
        3,
        "smart.failure",
    )


async def test_notifications_changed_since(
    client: BaluHostClient, baluhost_admin: BaluHostAdmin
) -> None:
    changed = await baluhost_admin.notify(None, title="to be read")
    unchanged = await baluhost_admin.notify(None, title="left alone")
    # BaluHost stamps changes to the second: let the creation's second pass.
    created = datetime.fromisoformat(unchanged["updated_at"]).replace(tzinfo=UTC)
    await asyncio.sleep(
        max(0, (created + timedelta(seconds=1) - datetime.now(UTC)).total_seconds())
    )
    await baluhost_admin.mark_read(changed["id"])
    read = next(
        item
        for item in (await client.notifications()).notifications
        if item.id == changed["id"]
    )
    assert read.is_read
    assert read.updated_at > created

    # From the moment of the change on, the changed one but not the other.
    since = await client.notifications(updated_after=read.updated_at)
    ids = {item.id for item in since.notifications}
    assert changed["id"] in ids
    assert unchanged["id"] not in ids

    naive = datetime(2026, 12, 3, 20, 0)  # noqa: DTZ001 - what is refused
    with pytest.raises(ValueError, match="time zone"):
        await client.notifications(updated_after=naive)


async def test_schedulers(user: User, baluhost_admin: BaluHostAdmin) -> None:
    await baluhost_admin.run_scheduler("backup")
    asked = datetime.now(UTC)

    schedulers = {item.name: item for item in await user.client.schedulers()}

    assert {"backup", "raid_scrub", "smart_scan", "sync_check"} <= set(schedulers)
    backup = schedulers["backup"]
    assert (backup.display_name, backup.interval_seconds) == ("Auto Backup", 86400)
    assert not backup.is_enabled
    assert not backup.is_running
    # Asked for, and never carried out: the dev backend has no worker.
    assert backup.last_status is SchedulerRunStatus.REQUESTED
    assert backup.last_run_at is not None
    assert abs(backup.last_run_at - asked) < timedelta(seconds=5)
    assert backup.last_error is None
    sync_check = schedulers["sync_check"]
    assert sync_check.is_enabled
    assert sync_check.interval_seconds == 300
    assert sync_check.last_status is None
    assert sync_check.next_run_at is None


async def test_installed_version_needs_no_key(
    http: aiohttp.ClientSession, baluhost: BaluHostProcess
) -> None:
    version = await BaluHostClient(http, baluhost.url).version()
    assert version.version == "1.38.0"
    assert version.commit.startswith("abc1234")  # the dev backend's


async def wait_for_update(
    client: BaluHostClient, update_id: int, *statuses: UpdateStatus
) -> UpdateProgress:
    """Wait until an update has one of ``statuses``; return its progress."""
    deadline = clock.monotonic() + UPDATE_TIMEOUT
    while True:
        progress = await client.update_progress(update_id)
        assert progress is not None
        if progress.status in statuses:
            return progress
        assert clock.monotonic() < deadline, progress
        await asyncio.sleep(0.2)


async def test_an_update_from_check_to_restart(
    http: aiohttp.ClientSession,
    baluhost_factory: Callable[..., Awaitable[BaluHostProcess]],
) -> None:
    # A backend of its own: the update below never ends (see there).
    nas = await baluhost_factory()
    client = BaluHostClient(http, nas.url, nas.apikey, timeout=10)
    admin = BaluHostAdmin(http, nas)
    _, key = await admin.create_api_key(await admin.create_user())
    user = BaluHostClient(http, nas.url, key, timeout=10)

    # The dev backend pretends that the next minor version is out.
    check = await client.update_check()
    assert check == UpdateCheck(
        update_available=True,
        installed_version="1.38.0",
        latest_version="1.39.0",
        can_update=True,
        blockers=(),
        channel=UpdateChannel.STABLE,
        release_notes="- Added self-update functionality\n"
        "- Improved performance for large file operations\n"
        "- Fixed WebSocket reconnection issues",
    )
    with pytest.raises(BaluHostPermissionError) as err:
        await user.update_check()
    assert err.value.permission == "Admin"
    assert await client.update_current() is None
    assert await client.update_progress(UNKNOWN_UPDATE) is None

    update_id = await client.update_start()

    running = await wait_for_update(
        client, update_id, UpdateStatus.DOWNLOADING, UpdateStatus.INSTALLING
    )
    assert 0 < running.progress_percent < 100
    assert running.current_step
    current = await client.update_current()
    assert current is not None
    assert current.update_id == update_id
    # One update at a time.
    with pytest.raises(BaluHostUpdateRefusedError) as refused:
        await client.update_start()
    assert refused.value.blockers == (f"Update already in progress (ID: {update_id})",)
    assert not (await client.update_check()).can_update

    # The pretended restart is the last step the dev backend gets through: on
    # SQLite, marking the update completed fails (it subtracts a time without
    # a zone from one with), and the update stays where it is.
    restarting = await wait_for_update(client, update_id, UpdateStatus.RESTARTING)
    assert restarting.error_message is None
    assert 0 < restarting.progress_percent < 100


# --- faults the real backend does not produce ---------------------------------


@pytest.fixture(name="full_listener")
def full_listener_fixture(socket_enabled: None) -> Iterator[int]:
    """A port whose listener never accepts: connecting to it hangs.

    The kernel queues one connection for a listen(0) socket that nobody
    accepts; it drops the SYNs of every further one.
    """
    with socket.socket() as listener, socket.socket() as queued:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        queued.connect(("127.0.0.1", port))
        yield port


async def test_tcp_probe_false_when_refused_or_hanging(
    socket_enabled: None, full_listener: int
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    assert not await async_tcp_probe("127.0.0.1", closed_port, PROBE_TIMEOUT)
    started = clock.monotonic()
    assert not await async_tcp_probe("127.0.0.1", full_listener, 0.3)
    assert clock.monotonic() - started < 0.3 + 0.5


async def test_suspend_that_cannot_connect_is_an_error(
    http: aiohttp.ClientSession, full_listener: int
) -> None:
    client = BaluHostClient(
        http, f"http://127.0.0.1:{full_listener}", MADE_UP_KEY, timeout=0.3
    )
    with pytest.raises(BaluHostConnectionError):
        await client.suspend(answer_timeout=0.3)


# What a hostile NAS might say: a link to click, control characters that forge
# log lines, an echo of the key, and far more text than anyone reads.
HOSTILE_TEXT = (
    f"Key {MADE_UP_KEY} expired, log in at https://nas.example.net/login"
    "\n\x1b[2KERROR forged log line " + "x" * 100_000
)
# Deep enough to exhaust the C stack while parsing, small enough to be read.
NESTING = 120_000
HUGE = 100 * 1024 * 1024

GOOD_STATUS: dict[str, Any] = {
    "current_state": "awake",
    "state_since": "2026-12-03T20:52:56.743540Z",
    "idle_seconds": 0.0,
    "idle_threshold_seconds": 900.0,
    "activity_metrics": {"http_requests_per_minute": 4.0},
    "spun_down_disks": [],
    "presence": {
        "enabled": True,
        "anyone_present": False,
        "active_session_count": 0,
        "suppressing_suspend": False,
    },
}


def status_with(**changes: Any) -> dict[str, Any]:
    return GOOD_STATUS | changes


GOOD_NOTIFICATION: dict[str, Any] = {
    "id": 1,
    "notification_type": "warning",
    "category": "smart",
    "title": "SMART warning on /dev/sda",
    "message": "Reallocated sectors: 8",
    "priority": 2,
    "metadata": {"event_type": "smart.reallocated"},
    "created_at": "2026-12-03T20:10:25",
    "updated_at": "2026-12-03T20:10:25",
    "is_read": False,
}


def notification_page(*items: dict[str, Any], total: int | None = None) -> Answer:
    return Answer(
        200,
        {
            "notifications": list(items),
            "total": len(items) if total is None else total,
            "unread_count": 0,
        },
    )


GOOD_SCHEDULER: dict[str, Any] = {
    "name": "backup",
    "display_name": "Auto Backup",
    "is_running": False,
    "is_enabled": True,
    "interval_seconds": 86400,
    "last_run_at": "2026-12-03T03:00:00",
    "next_run_at": "2026-12-04T03:00:00",
    "last_status": "failed",
    "last_error": "No space left on device",
}


def schedulers_with(**changes: Any) -> Answer:
    return Answer(200, {"schedulers": [GOOD_SCHEDULER | changes]})


EVENT: dict[str, Any] = {
    "timestamp": "2026-12-03T20:10:28",
    "previous_state": "soft_sleep",
    "new_state": "awake",
    "duration_seconds": 62.05,
}
VERSION: dict[str, Any] = {"version": "1.38.0", "commit": "8da10dd" + "0" * 33}
GOOD_CHECK: dict[str, Any] = {
    "update_available": True,
    "current_version": VERSION,
    "latest_version": VERSION | {"version": "1.39.0"},
    "changelog": [
        {"version": "1.38.1", "changes": ["Older"], "body_markdown": None},
        {"version": "1.39.0", "changes": ["Newer"], "body_markdown": "## 1.39"},
    ],
    "channel": "stable",
    "blockers": [],
    "can_update": True,
}
GOOD_PROGRESS: dict[str, Any] = {
    "update_id": 3,
    "status": "failed",
    "progress_percent": 80,
    "current_step": "Health check...",
    "error_message": "Health check failed: baluhost-webdav",
}


def check_with(**changes: Any) -> Answer:
    return Answer(200, GOOD_CHECK | changes)


GOOD_RAID: dict[str, Any] = {
    "name": "md0",
    "level": "raid1",
    "size_bytes": 5368709120,
    "status": "optimal",
    "devices": [{"name": "sda1", "state": "active"}],
    "resync_progress": None,
}
GOOD_SMART: dict[str, Any] = {
    "name": "/dev/sda",
    "model": "WDC WD40EFRX",
    "serial": "WD-1",
    "temperature": 31,
    "status": "PASSED",
    "capacity_bytes": 4000787030016,
    "used_bytes": None,
    "last_self_test": None,
    "attributes": [],
}


@dataclass
class Answer:
    """What the fake NAS sends: a status and a body (bytes or JSON)."""

    status: int = 200
    body: Any = None
    hang: bool = False
    stream: int = 0  # bytes of JSON text to send without a declared length
    declared: int = 0  # a Content-Length to announce before a stalled body
    headers: dict[str, str] = field(default_factory=dict)


class FakeNas:
    """Answers every request with one fixed Answer, counting requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[str] = []
        self.sent = 0
        self.url = ""
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        answer = self.answer
        if answer.hang:
            await self._release.wait()
        if answer.stream or answer.declared:
            return await self._huge(request, answer)
        body = answer.body
        text = body if isinstance(body, bytes) else json.dumps(body).encode()
        return web.Response(
            status=answer.status,
            body=text,
            content_type="application/json",
            headers=answer.headers,
        )

    async def _huge(self, request: web.Request, answer: Answer) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if answer.declared:
            response.content_length = answer.declared
        await response.prepare(request)
        chunk = b"A" * 65536
        try:
            await response.write(b'{"current_state": "')
            while self.sent < answer.stream or answer.declared:
                if answer.declared:
                    await self._release.wait()  # until the client gave up
                    break
                await response.write(chunk)
                self.sent += len(chunk)
        except ConnectionResetError:
            pass  # the client hung up: what it should do
        return response


@pytest.fixture(name="fake")
async def fake_fixture(
    socket_enabled: None, request: pytest.FixtureRequest
) -> AsyncGenerator[FakeNas]:
    server = FakeNas(request.param)
    await server.start()
    yield server
    await server.stop()


def fake_client(http: aiohttp.ClientSession, fake: FakeNas) -> BaluHostClient:
    return BaluHostClient(http, fake.url, MADE_UP_KEY, timeout=2)


CONNECTION_FAULTS = {
    "hang": Answer(hang=True),
    "500": Answer(500, {"detail": "Internal server error"}),
    "503": Answer(503, {"detail": "Internal server error"}),
    "429": Answer(429, {"detail": "Rate limit exceeded"}),
}
REPLY_FAULTS = {
    "html": Answer(200, b"<html>router login</html>"),
    "empty": Answer(200, b""),
    "list": Answer(200, [GOOD_STATUS]),
    "string": Answer(200, "awake"),
    "not-found": Answer(404, {"detail": "Not Found"}),
    "redirect": Answer(302, b"", headers={"Location": "http://192.0.2.1/login"}),
    "deep": Answer(200, b"[" * NESTING + b"]" * NESTING),
    "nan": Answer(200, json.dumps(status_with(idle_seconds=float("nan"))).encode()),
    "overflow": Answer(200, json.dumps(GOOD_STATUS).replace("900.0", "1e999").encode()),
    "huge-int": Answer(200, b'{"idle_seconds": ' + b"9" * 5000 + b"}"),
    "int-over-float": Answer(200, status_with(idle_seconds=10**400)),
    "int-over-64-bits": Answer(
        200,
        status_with(presence=GOOD_STATUS["presence"] | {"active_session_count": 2**64}),
    ),
    "bad-utf8": Answer(200, b'{"current_state": "\xff\xfe"}'),
    "missing": Answer(200, {"current_state": "awake"}),
    "unknown-state": Answer(200, status_with(current_state="hibernating")),
    "state-number": Answer(200, status_with(current_state=5)),
    "bool-number": Answer(200, status_with(idle_seconds=True)),
    "negative": Answer(200, status_with(idle_seconds=-1)),
    "bad-time": Answer(200, status_with(state_since="yesterday")),
    "long-text": Answer(200, status_with(spun_down_disks=["/dev/" + "a" * 10_000])),
    "disks-mixed": Answer(200, status_with(spun_down_disks=["/dev/sda", 7])),
    "metrics-list": Answer(200, status_with(activity_metrics=[4.0])),
    "presence-null": Answer(200, status_with(presence=None)),
    "stream": Answer(stream=HUGE),
    "declared": Answer(declared=HUGE),
}


@pytest.mark.parametrize(
    "fake", CONNECTION_FAULTS.values(), ids=CONNECTION_FAULTS.keys(), indirect=True
)
async def test_unavailable_nas_is_a_connection_error(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    client = BaluHostClient(http, fake.url, MADE_UP_KEY, timeout=0.3)
    with pytest.raises(BaluHostConnectionError) as err:
        await client.sleep_status()
    assert not isinstance(err.value, BaluHostReplyError)
    assert await client.check_key() is KeyCheck.UNREACHABLE


@pytest.mark.parametrize(
    "fake", REPLY_FAULTS.values(), ids=REPLY_FAULTS.keys(), indirect=True
)
async def test_wrong_answers_are_reply_errors(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    client = fake_client(http, fake)
    with pytest.raises(BaluHostReplyError) as err:
        await client.sleep_status()
    message = str(err.value)
    assert len(message) < 300, len(message)
    assert message.isprintable(), message
    assert await client.check_key() is KeyCheck.NOT_BALUHOST
    # A redirect is not followed: the key never goes anywhere else.
    assert fake.requests == ["/api/system/sleep/status"] * 2
    # Socket buffers take a few MB; the rest was never sent, let alone read.
    assert fake.sent < 16 * 1024 * 1024


@pytest.mark.parametrize(
    ("fake", "reason"),
    [
        (REPLY_FAULTS["deep"], "answer nested too deeply"),
        (REPLY_FAULTS["stream"], f"answer larger than {MAX_REPLY_BYTES} bytes"),
        (REPLY_FAULTS["declared"], f"answer larger than {MAX_REPLY_BYTES} bytes"),
    ],
    ids=["deep", "stream", "declared"],
    indirect=["fake"],
)
async def test_deep_or_huge_answers_are_refused(
    http: aiohttp.ClientSession, fake: FakeNas, reason: str
) -> None:
    assert len(REPLY_FAULTS["deep"].body) < MAX_REPLY_BYTES
    with pytest.raises(BaluHostReplyError) as err:
        await fake_client(http, fake).sleep_status()
    assert err.value.reason == reason


POWER_FAULTS = {
    "demands-string": {"active_demands": "sleep_mode"},
    "demand-number": {"active_demands": [1]},
    "demand-source-missing": {"active_demands": [{"level": "idle"}]},
    "since-garbage": {
        "active_demands": [{"source": "sleep_mode", "registered_at": "soon"}]
    },
}


@pytest.mark.parametrize(
    "fake",
    [Answer(200, body) for body in POWER_FAULTS.values()],
    ids=POWER_FAULTS.keys(),
    indirect=True,
)
async def test_wrong_power_status_is_a_reply_error(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    with pytest.raises(BaluHostReplyError):
        await fake_client(http, fake).power_status()


@pytest.mark.parametrize(
    ("fake", "read"),
    [
        (Answer(200, {"current_sleep_state": "awake", "sleep_schedule": []}), "pre"),
        (
            Answer(
                200,
                {
                    "current_sleep_state": "awake",
                    "sleep_schedule": {
                        "enabled": True,
                        "sleep_time": "25:99",
                        "wake_time": "06:00",
                        "mode": "soft",
                    },
                },
            ),
            "pre",
        ),
        (Answer(200, {"cpu": {"usage": 1.0}, "memory": {}, "disk": {}}), "info"),
        (Answer(200, {"disks": {"sda": {"read_mbps": "fast"}}}), "disk-io"),
        (Answer(200, {"disks": ["sda"]}), "disk-io"),
        (Answer(200, {"timestamp": "now", "usage_percent": 3}), "cpu"),
        (Answer(200, {"success": False}), "soft"),
        (Answer(200, ["ok"]), "soft"),
        (Answer(200, {"enabled": "yes"}), "presence"),
        (Answer(200, {"arrays": {"md0": GOOD_RAID}}), "raid"),
        (Answer(200, {"arrays": [GOOD_RAID | {"resync_progress": 142.0}]}), "raid"),
        (Answer(200, {"arrays": [GOOD_RAID | {"devices": "sda1 sdb1"}]}), "raid"),
        (
            Answer(200, {"arrays": [GOOD_RAID | {"devices": [{"name": "sda1"}]}]}),
            "raid",
        ),
        (Answer(200, {"arrays": [GOOD_RAID | {"status": 3}]}), "raid"),
        (Answer(200, {"total": 10, "used": -1, "available": 11}), "storage"),
        (Answer(200, {"total": "5 GB", "used": 1, "available": 1}), "storage"),
        (Answer(200, {"devices": [GOOD_SMART | {"temperature": "hot"}]}), "smart"),
        (Answer(200, {"devices": [GOOD_SMART | {"last_self_test": [1234]}]}), "smart"),
        (Answer(200, {"devices": [GOOD_SMART | {"serial": None}]}), "smart"),
        (Answer(200, {"devices": None}), "smart"),
        (notification_page(GOOD_NOTIFICATION | {"notification_type": "fatal"}), "note"),
        (notification_page(GOOD_NOTIFICATION | {"priority": 4}), "note"),
        (notification_page(GOOD_NOTIFICATION | {"metadata": ["smart"]}), "note"),
        (
            notification_page(GOOD_NOTIFICATION | {"metadata": {"event_type": 5}}),
            "note",
        ),
        (notification_page(GOOD_NOTIFICATION | {"title": "x" * 10_000}), "note"),
        (notification_page(GOOD_NOTIFICATION | {"message": None}), "note"),
        (notification_page(GOOD_NOTIFICATION | {"is_read": "no"}), "note"),
        (notification_page(GOOD_NOTIFICATION | {"id": -1}), "note"),
        (
            notification_page(*[GOOD_NOTIFICATION] * (NOTIFICATION_PAGE_SIZE + 1)),
            "note",
        ),
        (
            Answer(200, {"notifications": [], "total": "many", "unread_count": 0}),
            "note",
        ),
        (schedulers_with(last_status="ok"), "sched"),
        (schedulers_with(interval_seconds="1d"), "sched"),
        (schedulers_with(last_run_at="03:00"), "sched"),
        (schedulers_with(last_error=28), "sched"),
        (schedulers_with(display_name=None), "sched"),
        (Answer(200, {"schedulers": GOOD_SCHEDULER}), "sched"),
        (Answer(200, {"version": 138, "commit": "abc"}), "version"),
        (Answer(200, {"sleep_events": {}}), "uptime"),
        (
            Answer(200, {"sleep_events": [EVENT | {"new_state": "hibernating"}]}),
            "uptime",
        ),
        (Answer(200, {"sleep_events": [EVENT | {"duration_seconds": -2}]}), "uptime"),
        (Answer(200, {"sleep_events": [EVENT | {"timestamp": None}]}), "uptime"),
        (check_with(channel="nightly"), "check"),
        (check_with(latest_version="1.39.0"), "check"),
        (check_with(blockers="RAID rebuild"), "check"),
        (check_with(changelog=[{"version": "1.39.0", "changes": "all"}]), "check"),
        (Answer(200, GOOD_PROGRESS | {"status": "exploded"}), "progress"),
        (Answer(200, GOOD_PROGRESS | {"progress_percent": 101}), "progress"),
        (Answer(200, GOOD_PROGRESS | {"update_id": "3"}), "progress"),
        (Answer(200, [GOOD_PROGRESS]), "current"),
        (Answer(200, {"success": True, "update_id": None}), "start"),
        (Answer(409, {"detail": "Update blocked"}), "start"),
    ],
    indirect=["fake"],
)
async def test_wrong_shapes_of_other_answers_are_reply_errors(
    http: aiohttp.ClientSession, fake: FakeNas, read: str
) -> None:
    client = fake_client(http, fake)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "pre": client.sync_preflight,
        "info": client.system_info,
        "disk-io": lambda: client.monitoring_current(MonitoringKind.DISK_IO),
        "cpu": lambda: client.monitoring_current(MonitoringKind.CPU),
        "soft": client.soft_sleep,
        "presence": lambda: client.presence(CLIENT_ID),
        "raid": client.raid_status,
        "storage": client.storage,
        "smart": client.smart_status,
        "note": client.notifications,
        "sched": client.schedulers,
        "version": client.version,
        "uptime": client.uptime_history,
        "check": client.update_check,
        "progress": lambda: client.update_progress(3),
        "current": client.update_current,
        "start": client.update_start,
    }
    with pytest.raises(BaluHostReplyError):
        await calls[read]()


@pytest.mark.parametrize(
    "fake",
    [
        Answer(
            200,
            {"arrays": [GOOD_RAID | {"status": "DEGRADED", "resync_progress": 0}]},
        )
    ],
    indirect=True,
)
async def test_raid_status_is_lower_case(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    (md0,) = await fake_client(http, fake).raid_status()
    assert md0.status == "degraded"
    assert md0.resync_progress == 0


@pytest.mark.parametrize(
    "fake",
    [
        notification_page(
            *(GOOD_NOTIFICATION | {"id": index} for index in range(1, 101)),
            total=10**9,
        )
    ],
    indirect=True,
)
async def test_endless_notification_pages_stop_at_the_bound(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    listing = await fake_client(http, fake).notifications()
    assert fake.requests == [NOTIFICATIONS_PATH] * MAX_NOTIFICATION_PAGES
    assert not listing.complete
    # Every page was the same: each notification is there once.
    assert len(listing.notifications) == 100


@pytest.mark.parametrize(
    "fake",
    [
        notification_page(
            *(
                GOOD_NOTIFICATION | {"id": index, "message": "m" * MAX_LONG_TEXT * 2}
                for index in range(1, 101)
            )
        )
    ],
    indirect=True,
)
async def test_a_page_of_long_notifications_is_read(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    assert len(json.dumps(fake.answer.body)) > MAX_REPLY_BYTES
    listing = await fake_client(http, fake).notifications()
    assert len(listing.notifications) == 100
    assert {len(item.message) for item in listing.notifications} == {MAX_LONG_TEXT}


@pytest.mark.parametrize(
    "fake", [schedulers_with(last_error=HOSTILE_TEXT)], indirect=True
)
async def test_a_scheduler_error_is_cut(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    (backup,) = await fake_client(http, fake).schedulers()
    assert backup.last_status is SchedulerRunStatus.FAILED
    assert backup.last_error == HOSTILE_TEXT[: MAX_LONG_TEXT - 1] + "…"
    assert backup.next_run_at == datetime(2026, 12, 4, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fake", "notes"),
    [
        (check_with(), "## 1.39"),
        (check_with(changelog=[]), None),
        (check_with(update_available=False, latest_version=None), None),
        (
            check_with(changelog=[{"version": "1.39.0", "changes": [HOSTILE_TEXT]}]),
            ("- " + HOSTILE_TEXT)[: MAX_LONG_TEXT - 1] + "…",
        ),
    ],
    ids=["markdown", "no-changelog", "no-update", "long"],
    indirect=["fake"],
)
async def test_release_notes_are_those_of_the_latest(
    http: aiohttp.ClientSession, fake: FakeNas, notes: str | None
) -> None:
    assert (await fake_client(http, fake).update_check()).release_notes == notes


@pytest.mark.parametrize(
    "fake",
    [
        Answer(
            409,
            {"detail": {"message": HOSTILE_TEXT, "blockers": ["RAID rebuild running"]}},
        ),
        Answer(200, {"success": False, "message": HOSTILE_TEXT, "blockers": []}),
    ],
    ids=["blocked", "nothing-to-update"],
    indirect=True,
)
async def test_a_refused_update_says_why(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    with pytest.raises(BaluHostUpdateRefusedError) as err:
        await fake_client(http, fake).update_start("1.39.0")
    message = str(err.value)
    assert len(message) < 300, len(message)
    assert message.isprintable(), message
    assert MADE_UP_KEY not in message
    assert "expired" not in err.value.reason
    if fake.answer.status == 409:
        assert err.value.blockers == ("RAID rebuild running",)
    else:
        assert err.value.blockers == ()


@pytest.mark.parametrize("fake", [Answer(200, GOOD_PROGRESS)], indirect=True)
async def test_a_failed_update_says_why(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    progress = await fake_client(http, fake).update_progress(3)
    assert progress == UpdateProgress(
        update_id=3,
        status=UpdateStatus.FAILED,
        progress_percent=80,
        current_step="Health check...",
        error_message="Health check failed: baluhost-webdav",
    )


@pytest.mark.parametrize(
    "fake", [Answer(503, {"detail": "Internal server error"})], indirect=True
)
async def test_monitoring_without_data_is_none_other_reads_fail(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    client = fake_client(http, fake)
    assert await client.monitoring_current(MonitoringKind.CPU) is None
    with pytest.raises(BaluHostConnectionError):
        await client.system_info()


@pytest.mark.parametrize(
    "fake",
    [
        Answer(401, {"detail": HOSTILE_TEXT}),
        Answer(403, {"detail": HOSTILE_TEXT}),
        Answer(409, {"detail": HOSTILE_TEXT}),
        Answer(500, {"detail": HOSTILE_TEXT}),
    ],
    ids=["401", "403", "409", "500"],
    indirect=True,
)
async def test_nas_text_in_errors_is_short_one_line_and_without_the_key(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    with pytest.raises(BaluHostError) as err:
        await fake_client(http, fake).soft_sleep()
    message = str(err.value)
    assert len(message) < 300, len(message)
    assert message.isprintable(), message
    assert MADE_UP_KEY not in message
    assert "HTTP" in err.value.reason
    assert "expired" not in err.value.reason
    if isinstance(err.value, BaluHostPermissionError):
        assert err.value.permission is None


@pytest.mark.parametrize(
    ("fake", "error"),
    [
        (Answer(401, {"detail": "x" * (MAX_REPLY_BYTES + 1)}), BaluHostAuthError),
        (Answer(403, b"<html>" + b"x" * MAX_REPLY_BYTES), BaluHostPermissionError),
        (Answer(500, {"detail": "x" * (MAX_REPLY_BYTES + 1)}), BaluHostConnectionError),
    ],
    ids=["401", "403", "500"],
    indirect=["fake"],
)
async def test_huge_error_answers_keep_their_status(
    http: aiohttp.ClientSession, fake: FakeNas, error: type[BaluHostError]
) -> None:
    with pytest.raises(error) as err:
        await fake_client(http, fake).soft_sleep()
    assert "x" * 10 not in str(err.value)


@pytest.mark.parametrize(
    "fake",
    [Answer(403, {"detail": "Insufficient permissions: Admin required"})],
    indirect=True,
)
async def test_permission_named_by_the_nas(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    with pytest.raises(BaluHostPermissionError) as err:
        await fake_client(http, fake).suspend()
    assert err.value.permission == "Admin"


@pytest.mark.parametrize("fake", [Answer(hang=True)], indirect=True)
async def test_suspend_without_an_answer_is_under_way(
    http: aiohttp.ClientSession, fake: FakeNas
) -> None:
    client = fake_client(http, fake)
    started = clock.monotonic()
    assert await client.suspend(answer_timeout=0.3) is SuspendOutcome.UNDER_WAY
    assert clock.monotonic() - started < 2
    assert fake.requests == ["/api/system/sleep/suspend"]
    # Every other request that hangs is a failure, not "under way".
    with pytest.raises(BaluHostConnectionError, match="no answer"):
        await client.soft_sleep()


@pytest.mark.parametrize("fake", [Answer(409, {"detail": "x"})], indirect=True)
async def test_conflicts(http: aiohttp.ClientSession, fake: FakeNas) -> None:
    client = fake_client(http, fake)
    await client.wake()  # the request itself woke the NAS
    with pytest.raises(BaluHostError, match="HTTP 409"):
        await client.soft_sleep()
    with pytest.raises(BaluHostError, match="HTTP 409"):
        await client.suspend()
