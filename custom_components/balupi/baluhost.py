"""Async client for the BaluHost NAS API that looks without waking the NAS.

Free of Home Assistant on purpose (only aiohttp and the standard library), like
``pihole.py``, and tested against the real BaluHost backend.

BaluHost 1.38 counts every HTTP request that reaches it toward its idle
detection (more than five a minute keep it awake), except the presence
heartbeat, and ends its soft sleep on any request whose path is outside its
whitelist, before authentication runs (so a 401 or 404 wakes it too). Hence:

* liveness is ``async_tcp_probe``: a bare TCP connect, which the backend never
  sees;
* automatic reads go only to the paths of two lists, checked here before
  anything is sent, and all carry ``X-Sync-Trigger: auto``, which keeps a
  soft-sleeping NAS asleep on any path:

  - whitelisted reads (``WAKE_SAFE_PREFIXES``) never wake the NAS and may be
    made at any time;
  - awake-only reads (``AWAKE_ONLY_PATHS``) are outside the whitelist. They
    are for while the NAS is awake: the header keeps one that races the NAS
    falling asleep from waking it, but each one still counts toward the idle
    detection. The disk reads among them (``DISK_READ_PATHS``: SMART) run
    smartctl, which spins sleeping disks up whatever the header says;
* actions (soft sleep, wake, suspend, starting an update) are explicit user
  actions and may wake it.

Every reply is treated as hostile: read up to a cap, parsed with a guard
against deep nesting, and checked field by field, so a wrong shape becomes a
``BaluHostReplyError``, a ``BaluHostConnectionError`` (never a ``KeyError`` or
``TypeError``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from http import HTTPStatus
import json
import math
import re
from typing import Any, Final, Literal, NoReturn, overload

import aiohttp

from .pihole import _excerpt

SLEEP_STATUS_PATH: Final = "/api/system/sleep/status"
POWER_STATUS_PATH: Final = "/api/power/status"
PREFLIGHT_PATH: Final = "/api/sync/preflight"
SYSTEM_INFO_PATH: Final = "/api/system/info"
MONITORING_PATH: Final = "/api/monitoring/{kind}/current"
SOFT_SLEEP_PATH: Final = "/api/system/sleep/soft"
WAKE_PATH: Final = "/api/system/sleep/wake"
SUSPEND_PATH: Final = "/api/system/sleep/suspend"
PRESENCE_PATH: Final = "/api/system/sleep/presence"
UPTIME_HISTORY_PATH: Final = "/api/monitoring/uptime/history"
NOTIFICATIONS_PATH: Final = "/api/notifications"
SCHEDULERS_PATH: Final = "/api/schedulers/"
RAID_STATUS_PATH: Final = "/api/system/raid/status"
STORAGE_PATH: Final = "/api/system/storage"
SMART_STATUS_PATH: Final = "/api/system/smart/status"
UPDATE_VERSION_PATH: Final = "/api/updates/version"
UPDATE_CHECK_PATH: Final = "/api/updates/check"
UPDATE_PROGRESS_PATH: Final = "/api/updates/progress/{update_id}"
UPDATE_CURRENT_PATH: Final = "/api/updates/current"
UPDATE_START_PATH: Final = "/api/updates/start"

# The prefixes of BaluHost's auto-wake whitelist that the reads rely on (a
# subset of _WAKE_WHITELIST_PREFIXES in app/middleware/sleep_auto_wake.py,
# matched the same way: the request path starts with one of them).
WAKE_SAFE_PREFIXES: Final = (
    SLEEP_STATUS_PATH,
    POWER_STATUS_PATH,
    PREFLIGHT_PATH,
    SYSTEM_INFO_PATH,
    "/api/monitoring/",
)
# The reads outside the whitelist, for while the NAS is awake: each ends soft
# sleep unless it carries NO_WAKE_HEADERS (all reads here do), and each keeps
# the NAS awake a little longer. Exact paths: a prefix would also admit the
# disk-waking /api/system/storage/aggregated.
AWAKE_ONLY_PATHS: Final = (
    NOTIFICATIONS_PATH,
    SCHEDULERS_PATH,
    RAID_STATUS_PATH,
    STORAGE_PATH,
    SMART_STATUS_PATH,
    UPDATE_VERSION_PATH,
    UPDATE_CHECK_PATH,
    UPDATE_PROGRESS_PATH,
    UPDATE_CURRENT_PATH,
)
# The awake-only reads that run smartctl, which spins sleeping disks up whatever
# the header says (as would /api/system/health and /api/system/storage/
# aggregated|breakdown, which this client never reads).
DISK_READ_PATHS: Final = (SMART_STATUS_PATH,)
_AWAKE_ONLY: Final = re.compile(
    "|".join(
        re.escape(path).replace(re.escape("{update_id}"), "[0-9]{1,18}")
        for path in AWAKE_ONLY_PATHS
    )
)

# Letters, digits, '_' and '-' between slashes only: no '.', '%', '?' or '#'
# that a URL library or the server could turn into another path after the
# whitelist check.
_API_PATH: Final = re.compile(r"(?:/[a-z0-9_-]+)+/?")

# The backend's exception to auto-wake, meant for automatic sync clients.
NO_WAKE_HEADERS: Final = {"X-Sync-Trigger": "auto"}

# The answers read here are 1-2 kB; a quarter of a megabyte is not BaluHost.
MAX_REPLY_BYTES: Final = 256 * 1024
# Except a page of notifications, whose messages have no limit at the NAS.
MAX_PAGE_REPLY_BYTES: Final = 1024 * 1024
# Longest text field accepted from the NAS (a disk, a CPU model, a time).
MAX_TEXT: Final = 256
# Longest free text kept from the NAS (a notification's message, release
# notes, an error): longer ones are cut here, not refused.
MAX_LONG_TEXT: Final = 2000
# Largest whole number accepted (bytes, seconds, counts): what a 64-bit NAS
# can count; JSON allows thousands of digits.
MAX_INTEGER: Final = 2**63 - 1

# A real suspend answers only after the NAS has resumed, hours later; the
# request counts as under way once it went out and nothing came back in this
# long (BaluHost's dev backend, which fakes suspend, answers after 2 s).
SUSPEND_ANSWER_TIMEOUT: Final = 5.0

# The power demand BaluHost registers for soft sleep: read from the database
# by every worker, unlike the sleep state, which each worker keeps for itself.
SLEEP_MODE_DEMAND: Final = "sleep_mode"

# Notifications come in pages of at most 100 (BaluHost's limit). Every page is
# a request that keeps the NAS awake, so a listing stops after this many.
NOTIFICATION_PAGE_SIZE: Final = 100
MAX_NOTIFICATION_PAGES: Final = 5
# BaluHost's notification priorities run from 0 (low) to 3 (critical).
MAX_PRIORITY: Final = 3

# How BaluPi introduces itself in presence heartbeats (web, mobile or desktop).
PRESENCE_CLIENT_TYPE: Final = "desktop"
_PRESENCE_CLIENT_ID: Final = re.compile(r"[A-Za-z0-9_-]{8,64}")

# BaluHost's API keys: "balu_" and 40 URL-safe characters.
_API_KEY: Final = re.compile(r"balu_[A-Za-z0-9_-]{16,128}")

# "Insufficient permissions: power:soft_sleep required" (or "Admin required").
_PERMISSION: Final = re.compile(r"Insufficient permissions: ([A-Za-z0-9_:]{1,64}) ")


class BaluHostError(Exception):
    """Base class for everything this client raises about the NAS.

    ``reason`` says what failed in this client's own words (at most with an
    HTTP status), for what people read. The message adds a short, one-line
    quote of the NAS's text for the log: whoever answers at the NAS's address
    chooses that text.
    """

    def __init__(self, reason: str, *, what: str = "", quote: str = "") -> None:
        """Describe a failure of ``what`` (e.g. ``GET /api/power/status``)."""
        self.reason = reason
        message = f"{what}: {reason}" if what else reason
        if quoted := _excerpt(quote):
            message += f" ({quoted})"
        super().__init__(message)


class BaluHostConnectionError(BaluHostError):
    """NAS unreachable, too slow, failing (5xx, 429) or answering nonsense."""


class BaluHostReplyError(BaluHostConnectionError):
    """Something answered, but not the way BaluHost does (another device?)."""


class BaluHostAuthError(BaluHostError):
    """The NAS refused the API key (wrong, revoked or expired): reauthenticate."""


class BaluHostPermissionError(BaluHostError):
    """The key's user lacks a permission; ``permission`` is what the NAS named.

    E.g. ``power:soft_sleep`` for a user without ``can_soft_sleep``, or
    ``Admin``; None when the NAS did not say.
    """

    def __init__(
        self, reason: str, *, permission: str | None, what: str = "", quote: str = ""
    ) -> None:
        """Describe a refusal of ``what`` for want of ``permission``."""
        super().__init__(reason, what=what, quote=quote)
        self.permission = permission


class BaluHostUpdateRefusedError(BaluHostError):
    """The NAS did not start an update; ``blockers`` says what stands in the way.

    E.g. an update under way; empty when the NAS had no update to install.
    """

    def __init__(
        self,
        reason: str,
        *,
        blockers: tuple[str, ...],
        what: str = "",
        quote: str = "",
    ) -> None:
        """Describe a refused update and what blocks it."""
        super().__init__(reason, what=what, quote=quote)
        self.blockers = blockers


class _NoAnswerError(Exception):
    """A request went out and no answer started within its answer timeout."""


# What _read_json returns for its ``no_data`` status (JSON null is None).
_NO_DATA: Final = object()


class SleepState(StrEnum):
    """BaluHost's sleep states (``current_state``)."""

    AWAKE = "awake"
    ENTERING_SOFT_SLEEP = "entering_soft_sleep"
    SOFT_SLEEP = "soft_sleep"
    ENTERING_SUSPEND = "entering_suspend"
    TRUE_SUSPEND = "true_suspend"
    WAKING = "waking"


class ScheduleMode(StrEnum):
    """What the NAS's sleep schedule enters at sleep time."""

    SOFT = "soft"
    SUSPEND = "suspend"


class MonitoringKind(StrEnum):
    """The live figures under ``/api/monitoring/<kind>/current``."""

    CPU = "cpu"
    MEMORY = "memory"
    NETWORK = "network"
    DISK_IO = "disk-io"
    UPTIME = "uptime"


class NotificationType(StrEnum):
    """How serious a notification is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class SchedulerRunStatus(StrEnum):
    """How a scheduler's last run went (``requested``: not started yet)."""

    REQUESTED = "requested"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class UpdateChannel(StrEnum):
    """Which releases the NAS updates to."""

    STABLE = "stable"
    UNSTABLE = "unstable"
    DEVELOPMENT = "development"


class UpdateStatus(StrEnum):
    """Where an update of the NAS's software is."""

    PENDING = "pending"
    CHECKING = "checking"
    DOWNLOADING = "downloading"
    BACKING_UP = "backing_up"
    INSTALLING = "installing"
    MIGRATING = "migrating"
    RESTARTING = "restarting"
    HEALTH_CHECK = "health_check"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"


class KeyCheck(StrEnum):
    """What ``check_key`` found at the address with the key."""

    VALID = "valid"
    INVALID_KEY = "invalid_key"
    NOT_BALUHOST = "not_baluhost"
    UNREACHABLE = "unreachable"


class SuspendOutcome(StrEnum):
    """What became of a suspend request."""

    # The NAS answered: it has been suspended and is running again (the
    # backend answers only after the resume).
    RESUMED = "resumed"
    # Sent, and no answer yet: the NAS is suspending or suspended.
    UNDER_WAY = "under_way"


@dataclass(frozen=True, slots=True)
class PowerStatus:
    """Whether the NAS is in soft sleep, from its power demands."""

    soft_sleep: bool
    soft_sleep_since: datetime | None


@dataclass(frozen=True, slots=True)
class SleepSchedule:
    """The NAS's daily sleep schedule (times are the NAS's local time)."""

    enabled: bool
    sleep_time: time
    wake_time: time
    mode: ScheduleMode


@dataclass(frozen=True, slots=True)
class SyncPreflight:
    """The answering worker's sleep state and the sleep schedule.

    ``next_sleep_at`` and ``next_wake_at`` are the NAS's local time without an
    offset (as the NAS sends them); None without an enabled schedule.
    """

    sleep_state: SleepState
    schedule: SleepSchedule | None
    next_sleep_at: datetime | None
    next_wake_at: datetime | None


@dataclass(frozen=True, slots=True)
class PresenceSummary:
    """Presence of people at the NAS (fresh heartbeats block auto suspend)."""

    enabled: bool
    anyone_present: bool
    active_sessions: int
    suppressing_suspend: bool


@dataclass(frozen=True, slots=True)
class SleepStatus:
    """The answering worker's sleep state and idle detection."""

    state: SleepState
    state_since: datetime | None
    # The disks this worker spun down, not their measured power state.
    spun_down_disks: tuple[str, ...]
    idle_seconds: float
    idle_threshold_seconds: float
    http_requests_per_minute: float
    presence: PresenceSummary


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """The NAS's system overview (``uptime`` is the backend's, not the OS's)."""

    cpu_usage_percent: float
    cpu_cores: int
    cpu_model: str | None
    cpu_frequency_mhz: float | None
    cpu_temperature_celsius: float | None
    memory_total_bytes: int
    memory_used_bytes: int
    disk_total_bytes: int
    disk_used_bytes: int
    disk_free_bytes: int
    uptime_seconds: float
    system_uptime_seconds: float | None
    dev_mode: bool


@dataclass(frozen=True, slots=True)
class CpuReading:
    """The latest CPU sample."""

    timestamp: datetime
    usage_percent: float
    frequency_mhz: float | None
    temperature_celsius: float | None
    core_count: int | None


@dataclass(frozen=True, slots=True)
class MemoryReading:
    """The latest memory sample."""

    timestamp: datetime
    used_bytes: int
    total_bytes: int
    percent: float
    available_bytes: int | None


@dataclass(frozen=True, slots=True)
class NetworkReading:
    """The latest network throughput sample."""

    timestamp: datetime
    download_mbps: float
    upload_mbps: float


@dataclass(frozen=True, slots=True)
class DiskIo:
    """The latest I/O sample of one disk."""

    timestamp: datetime
    read_mbps: float
    write_mbps: float
    read_iops: float
    write_iops: float


@dataclass(frozen=True, slots=True)
class DiskIoReading:
    """The latest I/O sample of every disk that has one, by disk name."""

    disks: dict[str, DiskIo]


@dataclass(frozen=True, slots=True)
class UptimeReading:
    """Uptimes and start times (a jump reveals a reboot or backend restart)."""

    timestamp: datetime
    server_uptime_seconds: int
    system_uptime_seconds: int
    server_start_time: datetime
    system_boot_time: datetime


type Reading = (
    CpuReading | MemoryReading | NetworkReading | DiskIoReading | UptimeReading
)


@dataclass(frozen=True, slots=True)
class SleepEvent:
    """One change of the NAS's sleep state.

    A suspend shows as soft_sleep to true_suspend, then soft_sleep to awake
    (no row leaves true_suspend). ``duration_seconds`` is set on the rows
    that end a state: how long that state lasted.
    """

    timestamp: datetime
    previous_state: SleepState
    new_state: SleepState
    duration_seconds: float | None


@dataclass(frozen=True, slots=True)
class PresenceAck:
    """The NAS's answer to a presence heartbeat."""

    enabled: bool
    heartbeat_interval_seconds: int
    timeout_minutes: int


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification as the NAS keeps it for the key's user."""

    id: int
    created_at: datetime
    # Moves when the notification is read, dismissed, snoozed or restored.
    updated_at: datetime
    # raid, smart, backup, system... or the name of a plugin.
    category: str
    notification_type: NotificationType
    priority: int
    # The NAS writes its own in German; the message is cut to MAX_LONG_TEXT.
    title: str
    message: str
    # The stable key of what happened (raid.degraded, backup.completed...);
    # None for notifications made by hand.
    event_type: str | None
    is_read: bool


@dataclass(frozen=True, slots=True)
class NotificationList:
    """The notifications of one listing, newest first.

    ``total`` is how many the NAS has for the listing, ``unread_count`` how
    many of all the user's are unread. ``complete`` is False when the listing
    stopped after MAX_NOTIFICATION_PAGES pages: older ones are missing.
    """

    notifications: tuple[Notification, ...]
    total: int
    unread_count: int
    complete: bool


@dataclass(frozen=True, slots=True)
class Scheduler:
    """One of the NAS's periodic jobs (backup, RAID scrub, SMART scan...)."""

    name: str
    display_name: str
    is_enabled: bool
    is_running: bool
    interval_seconds: int
    last_run_at: datetime | None
    # None when the NAS cannot tell (no run yet, or its worker is down).
    next_run_at: datetime | None
    last_status: SchedulerRunStatus | None
    # Cut to MAX_LONG_TEXT.
    last_error: str | None


@dataclass(frozen=True, slots=True)
class BaluHostVersion:
    """The BaluHost software installed on the NAS."""

    version: str
    commit: str


@dataclass(frozen=True, slots=True)
class UpdateCheck:
    """Whether a newer BaluHost is out, and whether the NAS could install it."""

    update_available: bool
    installed_version: str
    latest_version: str | None
    # False while an update runs or something else blocks one (``blockers``).
    can_update: bool
    blockers: tuple[str, ...]
    channel: UpdateChannel
    # Of the latest version, cut to MAX_LONG_TEXT; None without any.
    release_notes: str | None


@dataclass(frozen=True, slots=True)
class UpdateProgress:
    """How far an update of the NAS's software is."""

    update_id: int
    status: UpdateStatus
    progress_percent: int
    current_step: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class RaidDevice:
    """One member of a RAID array."""

    name: str
    # As the NAS names it: active, failed, rebuilding, spare, write-mostly...
    state: str


@dataclass(frozen=True, slots=True)
class RaidArray:
    """One RAID array and its members."""

    name: str
    level: str
    # optimal, degraded, rebuilding, checking... as sent, in lower case.
    status: str
    size_bytes: int
    # Percent done of a resync, rebuild or check; None when none runs.
    resync_progress: float | None
    devices: tuple[RaidDevice, ...]


@dataclass(frozen=True, slots=True)
class StorageUsage:
    """Size and use of the NAS's storage file system."""

    total_bytes: int
    used_bytes: int
    available_bytes: int


@dataclass(frozen=True, slots=True)
class SmartDevice:
    """One disk's SMART health."""

    name: str
    model: str
    serial: str
    # Degrees Celsius; None when the disk does not say.
    temperature: float | None
    # smartctl's verdict as sent: PASSED, FAILED...
    status: str
    capacity_bytes: int | None
    used_bytes: int | None
    # At the disk's last self-test, the only power-on hours BaluHost reports;
    # None without a self-test.
    power_on_hours: int | None


@dataclass(frozen=True, slots=True)
class _Reply:
    """One HTTP answer: its status and its body, still unparsed."""

    status: int
    raw: bytes


class _Fields:
    """Typed access to one JSON object of a reply.

    A field that is missing or of another type raises BaluHostReplyError naming
    it (names are this client's, never the NAS's text).
    """

    def __init__(self, data: Any, what: str, where: str = "answer") -> None:
        """Wrap ``data``, which must be a JSON object."""
        if not isinstance(data, dict):
            raise BaluHostReplyError(f"{where} is not a JSON object", what=what)
        self._data: dict[str, Any] = data
        self._what = what
        self._where = where

    def _bad(self, key: str, expected: str) -> NoReturn:
        raise BaluHostReplyError(
            f"{self._where}.{key} is not {expected}", what=self._what
        )

    def _get(self, key: str, *, optional: bool) -> Any:
        value = self._data.get(key)
        if value is None and not optional:
            self._bad(key, "present")
        return value

    def flag(self, key: str) -> bool:
        value = self._get(key, optional=False)
        if not isinstance(value, bool):
            self._bad(key, "true or false")
        return value

    def number(self, key: str) -> float:
        value = self.optional_number(key)
        if value is None:
            self._bad(key, "present")
        return value

    def optional_number(self, key: str, *, maximum: float = math.inf) -> float | None:
        """Return a finite, non-negative number (all the NAS's figures are)."""
        value = self._get(key, optional=True)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._bad(key, "a number")
        try:
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits
            self._bad(key, "a finite number")
        if not math.isfinite(number) or number < 0:
            self._bad(key, "a finite number of at least 0")
        if number > maximum:
            self._bad(key, f"a number from 0 to {maximum:g}")
        return number

    def integer(self, key: str, *, maximum: int = MAX_INTEGER) -> int:
        value = self.optional_integer(key, maximum=maximum)
        if value is None:
            self._bad(key, "present")
        return value

    def optional_integer(self, key: str, *, maximum: int = MAX_INTEGER) -> int | None:
        value = self._get(key, optional=True)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 0 <= value <= maximum
        ):
            self._bad(key, f"a whole number from 0 to {maximum}")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._get(key, optional=True)
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            self._bad(key, f"a text of at most {MAX_TEXT} characters")
        return value

    def text(self, key: str) -> str:
        value = self.optional_text(key)
        if value is None:
            self._bad(key, "present")
        return value

    def optional_long_text(self, key: str) -> str | None:
        """Return free text, cut to MAX_LONG_TEXT characters."""
        value = self._get(key, optional=True)
        if value is None:
            return None
        if not isinstance(value, str):
            self._bad(key, "a text")
        return _cut(value)

    def long_text(self, key: str) -> str:
        value = self.optional_long_text(key)
        if value is None:
            self._bad(key, "present")
        return value

    def choice[E: StrEnum](self, key: str, kind: type[E]) -> E:
        value = self.optional_choice(key, kind)
        if value is None:
            self._bad(key, "present")
        return value

    def optional_choice[E: StrEnum](self, key: str, kind: type[E]) -> E | None:
        value = self.optional_text(key)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            self._bad(key, f"a known {kind.__name__}")

    def optional_timestamp(self, key: str, *, local: bool = False) -> datetime | None:
        """Return an ISO 8601 time; naive ones are UTC unless ``local``.

        BaluHost writes UTC into SQLite and reads it back without an offset;
        only the schedule's times are the NAS's local time.
        """
        value = self.optional_text(key)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self._bad(key, "an ISO 8601 time")
        if moment.tzinfo is None and not local:
            return moment.replace(tzinfo=UTC)
        return moment

    def timestamp(self, key: str) -> datetime:
        value = self.optional_timestamp(key)
        if value is None:
            self._bad(key, "present")
        return value

    def clock_time(self, key: str) -> time:
        value = self.text(key)
        try:
            return time.fromisoformat(value)
        except ValueError:
            self._bad(key, "a time of day")

    def long_texts(self, key: str) -> tuple[str, ...]:
        """Return a list of free texts, each cut to MAX_LONG_TEXT characters."""
        value = self._get(key, optional=False)
        if not isinstance(value, list) or not all(
            isinstance(item, str) for item in value
        ):
            self._bad(key, "a list of texts")
        return tuple(map(_cut, value))

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._get(key, optional=False)
        if not isinstance(value, list) or not all(
            isinstance(item, str) and len(item) <= MAX_TEXT for item in value
        ):
            self._bad(key, "a list of texts")
        return tuple(value)

    def items(self, key: str) -> list[_Fields]:
        value = self._get(key, optional=False)
        if not isinstance(value, list):
            self._bad(key, "a list")
        return [
            _Fields(item, self._what, f"{self._where}.{key}[{index}]")
            for index, item in enumerate(value)
        ]

    def child(self, key: str) -> _Fields:
        return _Fields(
            self._get(key, optional=False), self._what, f"{self._where}.{key}"
        )

    def optional_child(self, key: str) -> _Fields | None:
        value = self._get(key, optional=True)
        return None if value is None else self.child(key)

    def children(self, key: str) -> dict[str, _Fields | None]:
        """Return an object's members by name (a member may be null)."""
        value = self._get(key, optional=False)
        if not isinstance(value, dict) or not all(
            len(name) <= MAX_TEXT for name in value
        ):
            self._bad(key, "an object")
        return {
            name: None
            if item is None
            else _Fields(item, self._what, f"{self._where}.{key}[{index}]")
            for index, (name, item) in enumerate(value.items())
        }


def _cut(text: str) -> str:
    """Return ``text`` cut to MAX_LONG_TEXT characters, marked where cut."""
    if len(text) <= MAX_LONG_TEXT:
        return text
    return text[: MAX_LONG_TEXT - 1] + "…"


def _refuse_constant(name: str) -> NoReturn:
    """Refuse NaN and Infinity, which Python's json accepts and JSON does not."""
    raise ValueError(f"{name} is not JSON")


def _parse(raw: bytes, what: str) -> Any:
    """Decode a JSON body; anything else means this is not BaluHost talking."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as err:
        raise BaluHostReplyError("answer nested too deeply", what=what) from err
    except ValueError as err:
        # Also bad UTF-8 and integers past the conversion limit.
        raise BaluHostReplyError("answer is not JSON", what=what) from err


def _detail(raw: bytes) -> str:
    """Return the ``detail`` text of an error answer, or "" (never raises)."""
    with contextlib.suppress(RecursionError, ValueError):
        body = json.loads(raw, parse_constant=_refuse_constant)
        if isinstance(body, dict) and isinstance(detail := body.get("detail"), str):
            return detail
    return ""


async def _read_capped(
    response: aiohttp.ClientResponse, max_bytes: int
) -> bytes | None:
    """Read a reply whole; None once it is (or says it is) over ``max_bytes``.

    Reading stops at the first chunk past the cap (the connection is then
    closed), so a huge reply is never held.
    """
    if (response.content_length or 0) > max_bytes:
        return None
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > max_bytes:
            return None
    return bytes(body)


async def async_tcp_probe(host: str, port: int, timeout: float) -> bool:
    """Return whether something accepts TCP connections at ``host:port``.

    The connection is closed before a byte is sent. BaluHost only sees complete
    HTTP requests, so this neither counts toward its idle detection nor wakes
    it (measured); it proves that the port is open, not that the API answers.
    """
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except OSError, TimeoutError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _parse_power_status(body: _Fields) -> PowerStatus:
    demands = body.items("active_demands")
    sleep_mode = next(
        (demand for demand in demands if demand.text("source") == SLEEP_MODE_DEMAND),
        None,
    )
    if sleep_mode is None:
        return PowerStatus(soft_sleep=False, soft_sleep_since=None)
    return PowerStatus(
        soft_sleep=True, soft_sleep_since=sleep_mode.timestamp("registered_at")
    )


def _parse_preflight(body: _Fields) -> SyncPreflight:
    schedule = body.optional_child("sleep_schedule")
    return SyncPreflight(
        sleep_state=body.choice("current_sleep_state", SleepState),
        schedule=None
        if schedule is None
        else SleepSchedule(
            enabled=schedule.flag("enabled"),
            sleep_time=schedule.clock_time("sleep_time"),
            wake_time=schedule.clock_time("wake_time"),
            mode=schedule.choice("mode", ScheduleMode),
        ),
        next_sleep_at=body.optional_timestamp("next_sleep_at", local=True),
        next_wake_at=body.optional_timestamp("next_wake_at", local=True),
    )


def _parse_sleep_status(body: _Fields) -> SleepStatus:
    presence = body.child("presence")
    return SleepStatus(
        state=body.choice("current_state", SleepState),
        state_since=body.optional_timestamp("state_since"),
        spun_down_disks=body.texts("spun_down_disks"),
        idle_seconds=body.number("idle_seconds"),
        idle_threshold_seconds=body.number("idle_threshold_seconds"),
        http_requests_per_minute=body.child("activity_metrics").number(
            "http_requests_per_minute"
        ),
        presence=PresenceSummary(
            enabled=presence.flag("enabled"),
            anyone_present=presence.flag("anyone_present"),
            active_sessions=presence.integer("active_session_count"),
            suppressing_suspend=presence.flag("suppressing_suspend"),
        ),
    )


def _parse_system_info(body: _Fields) -> SystemInfo:
    cpu, memory, disk = body.child("cpu"), body.child("memory"), body.child("disk")
    return SystemInfo(
        cpu_usage_percent=cpu.number("usage"),
        cpu_cores=cpu.integer("cores"),
        cpu_model=cpu.optional_text("model"),
        cpu_frequency_mhz=cpu.optional_number("frequency_mhz"),
        cpu_temperature_celsius=cpu.optional_number("temperature_celsius"),
        memory_total_bytes=memory.integer("total"),
        memory_used_bytes=memory.integer("used"),
        disk_total_bytes=disk.integer("total"),
        disk_used_bytes=disk.integer("used"),
        disk_free_bytes=disk.integer("free"),
        uptime_seconds=body.number("uptime"),
        system_uptime_seconds=body.optional_number("system_uptime"),
        dev_mode=body.flag("dev_mode"),
    )


def _parse_cpu(body: _Fields) -> CpuReading:
    return CpuReading(
        timestamp=body.timestamp("timestamp"),
        usage_percent=body.number("usage_percent"),
        frequency_mhz=body.optional_number("frequency_mhz"),
        temperature_celsius=body.optional_number("temperature_celsius"),
        core_count=body.optional_integer("core_count"),
    )


def _parse_memory(body: _Fields) -> MemoryReading:
    return MemoryReading(
        timestamp=body.timestamp("timestamp"),
        used_bytes=body.integer("used_bytes"),
        total_bytes=body.integer("total_bytes"),
        percent=body.number("percent"),
        available_bytes=body.optional_integer("available_bytes"),
    )


def _parse_network(body: _Fields) -> NetworkReading:
    return NetworkReading(
        timestamp=body.timestamp("timestamp"),
        download_mbps=body.number("download_mbps"),
        upload_mbps=body.number("upload_mbps"),
    )


def _parse_disk_io(body: _Fields) -> DiskIoReading:
    return DiskIoReading(
        disks={
            name: DiskIo(
                timestamp=disk.timestamp("timestamp"),
                read_mbps=disk.number("read_mbps"),
                write_mbps=disk.number("write_mbps"),
                read_iops=disk.number("read_iops"),
                write_iops=disk.number("write_iops"),
            )
            for name, disk in body.children("disks").items()
            # A disk without a sample yet is listed as null.
            if disk is not None
        }
    )


def _parse_uptime(body: _Fields) -> UptimeReading:
    return UptimeReading(
        timestamp=body.timestamp("timestamp"),
        server_uptime_seconds=body.integer("server_uptime_seconds"),
        system_uptime_seconds=body.integer("system_uptime_seconds"),
        server_start_time=body.timestamp("server_start_time"),
        system_boot_time=body.timestamp("system_boot_time"),
    )


def _parse_notification(body: _Fields) -> Notification:
    metadata = body.optional_child("metadata")
    return Notification(
        id=body.integer("id"),
        created_at=body.timestamp("created_at"),
        updated_at=body.timestamp("updated_at"),
        category=body.text("category"),
        notification_type=body.choice("notification_type", NotificationType),
        priority=body.integer("priority", maximum=MAX_PRIORITY),
        title=body.text("title"),
        message=body.long_text("message"),
        event_type=None if metadata is None else metadata.optional_text("event_type"),
        is_read=body.flag("is_read"),
    )


def _notifications_cursor(updated_after: datetime) -> str:
    """Return ``updated_after`` as BaluHost's ``updated_after`` must be given.

    In UTC without fractions, one second early: on SQLite the NAS compares
    its stamps (whole seconds, no offset) with the value as text, so a stamp
    in the very second given would not match, and an offset would be ignored.
    """
    if updated_after.tzinfo is None:
        raise ValueError("updated_after needs a time zone")
    cursor = updated_after.astimezone(UTC) - timedelta(seconds=1)
    return cursor.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_scheduler(body: _Fields) -> Scheduler:
    return Scheduler(
        name=body.text("name"),
        display_name=body.text("display_name"),
        is_enabled=body.flag("is_enabled"),
        is_running=body.flag("is_running"),
        interval_seconds=body.integer("interval_seconds"),
        last_run_at=body.optional_timestamp("last_run_at"),
        next_run_at=body.optional_timestamp("next_run_at"),
        last_status=body.optional_choice("last_status", SchedulerRunStatus),
        last_error=body.optional_long_text("last_error"),
    )


def _parse_version(body: _Fields) -> BaluHostVersion:
    return BaluHostVersion(version=body.text("version"), commit=body.text("commit"))


def _parse_update_check(body: _Fields) -> UpdateCheck:
    latest = body.optional_child("latest_version")
    latest_version = None if latest is None else latest.text("version")
    return UpdateCheck(
        update_available=body.flag("update_available"),
        installed_version=body.child("current_version").text("version"),
        latest_version=latest_version,
        can_update=body.flag("can_update"),
        blockers=body.long_texts("blockers"),
        channel=body.choice("channel", UpdateChannel),
        release_notes=_release_notes(body.items("changelog"), latest_version),
    )


def _release_notes(changelog: list[_Fields], version: str | None) -> str | None:
    """Return the notes of ``version`` from a changelog, cut; None without."""
    entry = next(
        (entry for entry in changelog if entry.text("version") == version), None
    )
    if entry is None:
        return None
    notes = entry.optional_long_text("body_markdown")
    if notes is None:
        notes = "\n".join(f"- {change}" for change in entry.long_texts("changes"))
    return _cut(notes)


def _parse_update_progress(body: _Fields) -> UpdateProgress:
    return UpdateProgress(
        update_id=body.integer("update_id"),
        status=body.choice("status", UpdateStatus),
        progress_percent=body.integer("progress_percent", maximum=100),
        current_step=body.optional_long_text("current_step"),
        error_message=body.optional_long_text("error_message"),
    )


def _parse_sleep_events(body: _Fields) -> tuple[SleepEvent, ...]:
    return tuple(
        SleepEvent(
            timestamp=event.timestamp("timestamp"),
            previous_state=event.choice("previous_state", SleepState),
            new_state=event.choice("new_state", SleepState),
            duration_seconds=event.optional_number("duration_seconds"),
        )
        for event in body.items("sleep_events")
    )


def _parse_raid(body: _Fields) -> tuple[RaidArray, ...]:
    return tuple(
        RaidArray(
            name=array.text("name"),
            level=array.text("level"),
            status=array.text("status").lower(),
            size_bytes=array.integer("size_bytes"),
            resync_progress=array.optional_number("resync_progress", maximum=100),
            devices=tuple(
                RaidDevice(name=device.text("name"), state=device.text("state"))
                for device in array.items("devices")
            ),
        )
        for array in body.items("arrays")
    )


def _parse_storage(body: _Fields) -> StorageUsage:
    return StorageUsage(
        total_bytes=body.integer("total"),
        used_bytes=body.integer("used"),
        available_bytes=body.integer("available"),
    )


def _parse_smart(body: _Fields) -> tuple[SmartDevice, ...]:
    devices = []
    for device in body.items("devices"):
        self_test = device.optional_child("last_self_test")
        devices.append(
            SmartDevice(
                name=device.text("name"),
                model=device.text("model"),
                serial=device.text("serial"),
                temperature=device.optional_number("temperature"),
                status=device.text("status"),
                capacity_bytes=device.optional_integer("capacity_bytes"),
                used_bytes=device.optional_integer("used_bytes"),
                power_on_hours=None
                if self_test is None
                else self_test.optional_integer("power_on_hours"),
            )
        )
    return tuple(devices)


_READING_PARSERS: Final[dict[MonitoringKind, Callable[[_Fields], Reading]]] = {
    MonitoringKind.CPU: _parse_cpu,
    MonitoringKind.MEMORY: _parse_memory,
    MonitoringKind.NETWORK: _parse_network,
    MonitoringKind.DISK_IO: _parse_disk_io,
    MonitoringKind.UPTIME: _parse_uptime,
}


class BaluHostClient:
    """The BaluHost API as BaluPi uses it, with one API key."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str | None = None,
        *,
        verify_tls: bool = True,
        timeout: float = 10.0,
    ) -> None:
        """Prepare a client for ``base_url`` (e.g. ``http://nas:8000``); no I/O.

        Raises ValueError for a key that is not a BaluHost API key (the message
        does not repeat it).
        """
        if api_key is not None and not _API_KEY.fullmatch(api_key):
            raise ValueError("not a BaluHost API key (balu_...)")
        self._http = session
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._verify_tls = verify_tls
        self._timeout = timeout

    # --- reads: whitelisted, never wake the NAS -----------------------------

    async def power_status(self) -> PowerStatus:
        """Return whether the NAS is in soft sleep, and since when.

        Consistent across the NAS's workers, unlike ``sleep_status``.
        """
        return _parse_power_status(await self._read(POWER_STATUS_PATH))

    async def sync_preflight(self) -> SyncPreflight:
        """Return the answering worker's sleep state and the sleep schedule."""
        return _parse_preflight(await self._read(PREFLIGHT_PATH))

    async def sleep_status(self) -> SleepStatus:
        """Return the answering worker's sleep state and idle detection."""
        return _parse_sleep_status(await self._read(SLEEP_STATUS_PATH))

    async def system_info(self) -> SystemInfo:
        """Return the NAS's CPU, memory, disk and uptime overview."""
        return _parse_system_info(await self._read(SYSTEM_INFO_PATH))

    @overload
    async def monitoring_current(
        self, kind: Literal[MonitoringKind.CPU]
    ) -> CpuReading | None: ...
    @overload
    async def monitoring_current(
        self, kind: Literal[MonitoringKind.MEMORY]
    ) -> MemoryReading | None: ...
    @overload
    async def monitoring_current(
        self, kind: Literal[MonitoringKind.NETWORK]
    ) -> NetworkReading | None: ...
    @overload
    async def monitoring_current(
        self, kind: Literal[MonitoringKind.DISK_IO]
    ) -> DiskIoReading | None: ...
    @overload
    async def monitoring_current(
        self, kind: Literal[MonitoringKind.UPTIME]
    ) -> UptimeReading | None: ...
    @overload
    async def monitoring_current(self, kind: MonitoringKind) -> Reading | None: ...
    async def monitoring_current(self, kind: MonitoringKind) -> Reading | None:
        """Return the latest sample of one kind; None while the NAS has none.

        BaluHost answers 503 until its monitoring has a first sample.
        """
        body = await self._read(
            MONITORING_PATH.format(kind=kind.value),
            no_data=HTTPStatus.SERVICE_UNAVAILABLE,
        )
        return None if body is None else _READING_PARSERS[kind](body)

    async def uptime_history(self) -> tuple[SleepEvent, ...]:
        """Return the changes of the NAS's sleep state of the last hour, oldest first.

        The first may be older: the last change before the hour, which tells
        the state the hour began in. For any user (the NAS's own sleep history
        is for admins only).
        """
        body = await self._read(
            UPTIME_HISTORY_PATH,
            # One uptime sample: they come along, and only the events count.
            params={"time_range": "1h", "limit": "1"},
        )
        return _parse_sleep_events(body)

    async def check_key(self) -> KeyCheck:
        """Tell whether the key works here, with one whitelisted read."""
        try:
            await self.sleep_status()
        except BaluHostAuthError:
            return KeyCheck.INVALID_KEY
        except BaluHostReplyError:
            return KeyCheck.NOT_BALUHOST
        except BaluHostConnectionError:
            return KeyCheck.UNREACHABLE
        except BaluHostError:
            return KeyCheck.NOT_BALUHOST
        return KeyCheck.VALID

    # --- awake-only reads: not whitelisted, only while the NAS is awake -----

    async def notifications(
        self, updated_after: datetime | None = None
    ) -> NotificationList:
        """Return the notifications the key's user sees, newest first.

        Awake-only read, of one request per 100 notifications and at most
        MAX_NOTIFICATION_PAGES. Listing marks nothing read. A non-admin user
        sees system notifications only for the categories the admin routed to
        them, and only those created after that.

        With ``updated_after``, only those created or changed (read, dismissed,
        snoozed, restored) since then, and some of the second before: the NAS
        stamps changes to the second, so the caller passes the latest
        ``updated_at`` it has seen and drops what it has already, by ``id``
        and ``updated_at``.
        """
        params = {"page_size": str(NOTIFICATION_PAGE_SIZE)}
        if updated_after is not None:
            params["updated_after"] = _notifications_cursor(updated_after)
        found: dict[int, Notification] = {}
        for page in range(1, MAX_NOTIFICATION_PAGES + 1):
            body = await self._read(
                NOTIFICATIONS_PATH,
                params=params | {"page": str(page)},
                max_bytes=MAX_PAGE_REPLY_BYTES,
            )
            items = body.items("notifications")
            if len(items) > NOTIFICATION_PAGE_SIZE:
                raise BaluHostReplyError(
                    f"page of more than {NOTIFICATION_PAGE_SIZE} notifications",
                    what=f"GET {NOTIFICATIONS_PATH}",
                )
            total = body.integer("total")
            for item in map(_parse_notification, items):
                # A notification arriving meanwhile shifts the pages by one.
                found.setdefault(item.id, item)
            complete = (
                len(items) < NOTIFICATION_PAGE_SIZE
                or page * NOTIFICATION_PAGE_SIZE >= total
            )
            if complete:
                break
        return NotificationList(
            # The NAS orders by creation only, to the second.
            notifications=tuple(
                sorted(
                    found.values(),
                    key=lambda item: (item.created_at, item.id),
                    reverse=True,
                )
            ),
            total=total,
            unread_count=body.integer("unread_count"),
            complete=complete,
        )

    async def schedulers(self) -> tuple[Scheduler, ...]:
        """Return the NAS's periodic jobs and how their last runs went.

        Awake-only read, from the NAS's database. For a non-admin user too:
        the backup scheduler's last run is how such a user learns the last
        backup's result.
        """
        body = await self._read(SCHEDULERS_PATH)
        return tuple(map(_parse_scheduler, body.items("schedulers")))

    async def raid_status(self) -> tuple[RaidArray, ...]:
        """Return the RAID arrays and the state of their members.

        Awake-only read (see the module's docstring). The NAS asks the kernel's
        md driver (mdadm), not the disks.
        """
        return _parse_raid(await self._read(RAID_STATUS_PATH))

    async def storage(self) -> StorageUsage:
        """Return the size and use of the NAS's storage file system.

        Awake-only read. The NAS answers from statfs, which the kernel serves
        from memory: no disk is read.
        """
        return _parse_storage(await self._read(STORAGE_PATH))

    async def smart_status(self) -> tuple[SmartDevice, ...]:
        """Return every disk's SMART health.

        Disk read: awake-only, and more. The NAS runs smartctl on every disk
        (cached for two minutes), which spins sleeping disks up whatever the
        request says, so read it rarely, and never while the NAS sleeps.
        """
        return _parse_smart(await self._read(SMART_STATUS_PATH))

    async def version(self) -> BaluHostVersion:
        """Return the BaluHost version installed on the NAS.

        Awake-only read; the NAS answers it without a key too.
        """
        return _parse_version(await self._read(UPDATE_VERSION_PATH))

    async def update_check(self) -> UpdateCheck:
        """Return whether a newer BaluHost is out (admin only).

        Awake-only read. A real NAS asks GitHub for its releases.
        """
        return _parse_update_check(await self._read(UPDATE_CHECK_PATH))

    async def update_progress(self, update_id: int) -> UpdateProgress | None:
        """Return how far an update is (admin only); None if the NAS has no such.

        Awake-only read. A real NAS restarts itself during an update, so it
        does not answer for a while (and sends the offline and online
        handshakes).
        """
        body = await self._read(
            UPDATE_PROGRESS_PATH.format(update_id=update_id),
            no_data=HTTPStatus.NOT_FOUND,
        )
        return None if body is None else _parse_update_progress(body)

    async def update_current(self) -> UpdateProgress | None:
        """Return how far the update under way is (admin only); None if none is.

        Awake-only read.
        """
        what = f"GET {UPDATE_CURRENT_PATH}"
        body = await self._read_json(UPDATE_CURRENT_PATH)
        return None if body is None else _parse_update_progress(_Fields(body, what))

    # --- actions: explicit, may wake the NAS --------------------------------

    async def soft_sleep(self) -> None:
        """Put the NAS into soft sleep (``can_soft_sleep`` or admin)."""
        await self._act(SOFT_SLEEP_PATH)

    async def wake(self) -> None:
        """End the NAS's soft sleep (``can_wake`` or admin).

        The request itself ends soft sleep before the NAS handles it, which
        then answers 409 (nothing left to wake): that is success too.
        """
        await self._act(WAKE_PATH, done=(HTTPStatus.OK, HTTPStatus.CONFLICT))

    async def suspend(
        self, answer_timeout: float = SUSPEND_ANSWER_TIMEOUT
    ) -> SuspendOutcome:
        """Suspend the NAS to RAM (``can_suspend`` or admin).

        The NAS answers only once it has resumed, so a request that went out
        and got no answer within ``answer_timeout`` seconds is under way.
        """
        try:
            await self._act(SUSPEND_PATH, answer_timeout=answer_timeout)
        except _NoAnswerError:
            return SuspendOutcome.UNDER_WAY
        return SuspendOutcome.RESUMED

    async def update_start(self, target_version: str | None = None) -> int:
        """Start updating the NAS's software (admin only); return the update's ID.

        BaluHost 1.38 installs the latest version whatever ``target_version``
        says. It backs its database up first and restarts itself on the way.
        Raises BaluHostUpdateRefusedError when it starts nothing.
        """
        what = f"POST {UPDATE_START_PATH}"
        payload = {} if target_version is None else {"target_version": target_version}
        reply = await self._send("POST", UPDATE_START_PATH, payload=payload)
        if reply.status == HTTPStatus.CONFLICT:
            refusal = _Fields(_parse(reply.raw, what), what).child("detail")
            reason = f"update blocked (HTTP {reply.status})"
        elif reply.status == HTTPStatus.OK:
            body = _Fields(_parse(reply.raw, what), what)
            if body.flag("success"):
                return body.integer("update_id")
            refusal, reason = body, "update not started"
        else:
            self._raise_for(reply, what)
        raise BaluHostUpdateRefusedError(
            reason,
            blockers=refusal.long_texts("blockers"),
            what=what,
            quote=self._scrub(refusal.optional_long_text("message") or ""),
        )

    async def presence(self, client_id: str) -> PresenceAck:
        """Send a presence heartbeat: the NAS then does not suspend by itself.

        Neither counted nor waking; it blocks automatic suspend for the
        ``timeout_minutes`` the NAS answers (not soft sleep).
        """
        if not _PRESENCE_CLIENT_ID.fullmatch(client_id):
            raise ValueError("client_id must be 8-64 of A-Z, a-z, 0-9, _ and -")
        body = await self._act(
            PRESENCE_PATH,
            payload={"client_id": client_id, "client_type": PRESENCE_CLIENT_TYPE},
            expect_success=False,
        )
        return PresenceAck(
            enabled=body.flag("enabled"),
            heartbeat_interval_seconds=body.integer("heartbeat_interval_seconds"),
            timeout_minutes=body.integer("timeout_minutes"),
        )

    # --- plumbing -----------------------------------------------------------

    @overload
    async def _read(
        self,
        path: str,
        *,
        params: dict[str, str] | None = None,
        max_bytes: int = MAX_REPLY_BYTES,
    ) -> _Fields: ...
    @overload
    async def _read(
        self,
        path: str,
        *,
        params: dict[str, str] | None = None,
        max_bytes: int = MAX_REPLY_BYTES,
        no_data: HTTPStatus,
    ) -> _Fields | None: ...
    async def _read(
        self,
        path: str,
        *,
        params: dict[str, str] | None = None,
        max_bytes: int = MAX_REPLY_BYTES,
        no_data: HTTPStatus | None = None,
    ) -> _Fields | None:
        """GET a JSON object without waking the NAS; None for ``no_data``."""
        body = await self._read_json(
            path, params=params, max_bytes=max_bytes, no_data=no_data
        )
        return None if body is _NO_DATA else _Fields(body, f"GET {path}")

    async def _read_json(
        self,
        path: str,
        *,
        params: dict[str, str] | None = None,
        max_bytes: int = MAX_REPLY_BYTES,
        no_data: HTTPStatus | None = None,
    ) -> Any:
        """GET any JSON without waking the NAS; _NO_DATA for ``no_data``.

        A path in neither list of reads is a programming error: it is refused
        before anything is sent.
        """
        if not _API_PATH.fullmatch(path) or not (
            path.startswith(WAKE_SAFE_PREFIXES) or _AWAKE_ONLY.fullmatch(path)
        ):
            raise ValueError(f"GET {path} could wake the NAS; reads must not")
        what = f"GET {path}"
        reply = await self._send(
            "GET", path, headers=NO_WAKE_HEADERS, params=params, max_bytes=max_bytes
        )
        if reply.status == no_data:
            return _NO_DATA
        if reply.status != HTTPStatus.OK:
            self._raise_for(reply, what)
        return _parse(reply.raw, what)

    async def _act(
        self,
        path: str,
        *,
        payload: dict[str, Any] | None = None,
        done: tuple[HTTPStatus, ...] = (HTTPStatus.OK,),
        expect_success: bool = True,
        answer_timeout: float | None = None,
    ) -> _Fields:
        """POST an action; return the answer's fields for a ``done`` status."""
        what = f"POST {path}"
        reply = await self._send(
            "POST", path, payload=payload, answer_timeout=answer_timeout
        )
        if reply.status not in done:
            self._raise_for(reply, what)
        if reply.status != HTTPStatus.OK:
            return _Fields({}, what)
        body = _Fields(_parse(reply.raw, what), what)
        if expect_success and not body.flag("success"):
            raise BaluHostReplyError("answer does not report success", what=what)
        return body

    def _scrub(self, text: str) -> str:
        """Remove the API key from foreign text (a NAS could echo it back)."""
        return text.replace(self._key, "balu_***") if self._key else text

    def _raise_for(self, reply: _Reply, what: str) -> NoReturn:
        """Raise the exception that matches an unwanted answer."""
        status = reply.status
        reason = f"HTTP {status}"
        quote = self._scrub(_detail(reply.raw))
        if status == HTTPStatus.UNAUTHORIZED:
            raise BaluHostAuthError(
                f"API key rejected ({reason})", what=what, quote=quote
            )
        if status == HTTPStatus.FORBIDDEN:
            match = _PERMISSION.search(quote)
            raise BaluHostPermissionError(
                f"permission missing ({reason})",
                permission=match.group(1) if match else None,
                what=what,
                quote=quote,
            )
        if (
            status >= HTTPStatus.INTERNAL_SERVER_ERROR
            or status == HTTPStatus.TOO_MANY_REQUESTS
        ):
            raise BaluHostConnectionError(reason, what=what, quote=quote)
        if status < HTTPStatus.BAD_REQUEST or status == HTTPStatus.NOT_FOUND:
            # Redirects and unknown paths: not the BaluHost API at this address.
            raise BaluHostReplyError(reason, what=what, quote=quote)
        raise BaluHostError(reason, what=what, quote=quote)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        payload: dict[str, Any] | None = None,
        answer_timeout: float | None = None,
        max_bytes: int = MAX_REPLY_BYTES,
    ) -> _Reply:
        """Send one request; network trouble becomes a connection error.

        With ``answer_timeout``, a request that went out but got no answer
        within that time raises _NoAnswerError; connecting still has the
        client's timeout.
        """
        what = f"{method} {path}"
        limit = self._timeout + (answer_timeout or 0)
        # Only connecting and, with answer_timeout, the wait for the answer
        # are timed here; asyncio.timeout(limit) bounds the whole request.
        per_request = aiohttp.ClientTimeout(
            connect=self._timeout, sock_read=answer_timeout
        )
        status: int | None = None
        try:
            async with (
                asyncio.timeout(limit),
                self._http.request(
                    method,
                    self._base + path,
                    headers=self._auth | (headers or {}),
                    params=params,
                    json=payload,
                    ssl=self._verify_tls,
                    allow_redirects=False,
                    timeout=per_request,
                ) as response,
            ):
                status = response.status
                raw = await _read_capped(response, max_bytes)
        except aiohttp.SocketTimeoutError as err:
            if answer_timeout is not None and status is None:
                raise _NoAnswerError from err
            raise BaluHostConnectionError(
                f"no answer within {limit:g} s", what=what
            ) from err
        except TimeoutError as err:
            raise BaluHostConnectionError(
                f"no answer within {limit:g} s", what=what
            ) from err
        except aiohttp.ClientError as err:
            # The class names the kind (refused, TLS, reset); its text can
            # carry whatever the server sent, so it is only quoted.
            raise BaluHostConnectionError(
                f"connection failed ({type(err).__name__})",
                what=what,
                quote=self._scrub(str(err)),
            ) from err
        if raw is None:
            if status == HTTPStatus.OK:
                raise BaluHostReplyError(
                    f"answer larger than {max_bytes} bytes", what=what
                )
            raw = b""  # an error's status is enough; its text is not quoted
        return _Reply(status, raw)
