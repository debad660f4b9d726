"""The NAS as a device: its live figures and its software, read while it is awake.

Only with an API key, and only whitelisted reads (``/api/system/info`` and the
current network sample), which neither wake the NAS nor touch its disks: the
NAS answers them from memory. Each still counts toward BaluHost's idle
detection, so a cycle is two requests every ``DEVICE_LIVE_INTERVAL`` seconds,
and none at all unless the NAS is online. While it sleeps or is away, the last
figures stay with the time they were measured, and they survive a restart.

The software coordinator checks for a new BaluHost four times a day (one
awake-only read, only while the NAS is online) and follows an update that
BaluPi started. The update restarts the NAS's backend, which announces that
with its going-offline and coming-online handshakes: an expected restart,
never an unexpected death. The jobs coordinator reads the backup scheduler's
last and next run hourly (one awake-only read from the NAS's database).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from ..baluhost import (
    BaluHostAuthError,
    BaluHostClient,
    BaluHostError,
    BaluHostPermissionError,
    BaluHostUpdateRefusedError,
    MonitoringKind,
    NetworkReading,
    SchedulerRunStatus,
    SystemInfo,
    UpdateProgress,
    UpdateStatus,
)
from ..const import (
    BACKUP_SCHEDULER,
    DEVICE_LIVE_INTERVAL,
    DEVICE_LIVE_REQUESTS,
    DEVICE_SAVE_DELAY,
    DOMAIN,
    EVENT_NAS_EVENT,
    EVENTS_INTERVAL,
    JOBS_INTERVAL,
    MAX_EVENT_MESSAGE,
    MAX_UPDATE_BLOCKERS,
    MAX_UPDATE_REASON,
    UP_SINCE_TOLERANCE,
    UPDATE_CHECK_INTERVAL,
    UPDATE_PROGRESS_INTERVAL,
)
from ..issues import async_set_issue, quoted
from ..nas_events import EventFeed, event_type
from ..nas_state import NasState, Transition
from .nas import NasCoordinator
from .store import STORE_DEVICE, entry_store

_LOGGER = logging.getLogger(__name__)

SECONDS_PER_MINUTE = 60.0


def counted_per_minute() -> float:
    """Return the requests a minute the live figures, software and jobs add.

    A software or jobs read is one request; only an update BaluPi started is
    followed faster.
    """
    return (
        DEVICE_LIVE_REQUESTS * SECONDS_PER_MINUTE / DEVICE_LIVE_INTERVAL
        + SECONDS_PER_MINUTE / UPDATE_CHECK_INTERVAL
        + SECONDS_PER_MINUTE / JOBS_INTERVAL
        + SECONDS_PER_MINUTE / EVENTS_INTERVAL
    )


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """The NAS's figures at one moment (``measured_at``, by the Pi's clock)."""

    measured_at: datetime
    cpu_percent: float
    cpu_temperature: float | None
    memory_used: int
    memory_total: int
    # Megabits a second; None while the NAS has no network sample yet.
    network_down: float | None
    network_up: float | None
    # When the NAS's operating system booted; None if it does not say.
    up_since: datetime | None

    @property
    def memory_percent(self) -> float | None:
        """Return the share of memory in use."""
        if not self.memory_total:
            return None
        return 100.0 * self.memory_used / self.memory_total

    def as_dict(self) -> dict[str, Any]:
        """Return the figures for the store."""
        return asdict(self) | {
            "measured_at": self.measured_at.isoformat(),
            "up_since": None if self.up_since is None else self.up_since.isoformat(),
        }

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> LiveFigures:
        """Read stored figures; raises KeyError, TypeError or ValueError."""
        up_since = stored["up_since"]
        return cls(
            measured_at=datetime.fromisoformat(stored["measured_at"]),
            cpu_percent=float(stored["cpu_percent"]),
            cpu_temperature=_optional_float(stored["cpu_temperature"]),
            memory_used=int(stored["memory_used"]),
            memory_total=int(stored["memory_total"]),
            network_down=_optional_float(stored["network_down"]),
            network_up=_optional_float(stored["network_up"]),
            up_since=None if up_since is None else datetime.fromisoformat(up_since),
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def live_figures(
    info: SystemInfo,
    network: NetworkReading | None,
    now: datetime,
    previous: LiveFigures | None,
) -> LiveFigures:
    """Combine one cycle's reads.

    The boot time is derived from the uptime and stays put while it moves by
    less than UP_SINCE_TOLERANCE, so it changes only with a reboot.
    """
    up_since = None
    if info.system_uptime_seconds is not None:
        up_since = (now - timedelta(seconds=info.system_uptime_seconds)).replace(
            microsecond=0
        )
        if (
            previous is not None
            and previous.up_since is not None
            and abs((up_since - previous.up_since).total_seconds()) < UP_SINCE_TOLERANCE
        ):
            up_since = previous.up_since
    return LiveFigures(
        measured_at=now,
        cpu_percent=info.cpu_usage_percent,
        cpu_temperature=info.cpu_temperature_celsius,
        memory_used=info.memory_used_bytes,
        memory_total=info.memory_total_bytes,
        network_down=None if network is None else network.download_mbps,
        network_up=None if network is None else network.upload_mbps,
        up_since=up_since,
    )


class AwakeReadCoordinator[DataT](DataUpdateCoordinator[DataT | None]):
    """Read the NAS only while it is online; keep the last data otherwise.

    A read that fails makes the entities unavailable until the next one; the
    NAS's rejection of the key starts reauthentication.
    """

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        nas: NasCoordinator,
        client: BaluHostClient,
        *,
        name: str,
        interval: float,
    ) -> None:
        """Read through the NAS coordinator's client (the same key)."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {name}",
            update_interval=timedelta(seconds=interval),
            always_update=False,
        )
        self._nas = nas
        self._client = client
        self.data = None

    async def _async_update_data(self) -> DataT | None:
        """Read while the NAS is online; else keep what was read."""
        if self._nas.lifecycle.state is not NasState.ONLINE:
            return self.data
        try:
            return await self._async_read()
        except BaluHostError as err:
            if isinstance(err, BaluHostAuthError):
                self._nas.report_read_error(err)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="nas_read_failed",
                # The message names the request; the NAS's words in it are cut
                # to one short line.
                translation_placeholders={
                    "name": self.config_entry.title,
                    "error": str(err),
                },
            ) from err

    async def _async_read(self) -> DataT:
        """Read the NAS once (it is online)."""
        raise NotImplementedError

    def _stale(self) -> bool:
        """Return whether the NAS's return calls for a read now."""
        return self.data is None

    @callback
    def async_on_nas_transition(self, transition: Transition) -> None:
        """Read at once when the NAS is back online, if what is shown is stale."""
        if transition.to_state is NasState.ONLINE and self._stale():
            self.config_entry.async_create_background_task(
                self.hass, self.async_request_refresh(), f"{self.name} on return"
            )


class DeviceCoordinator(AwakeReadCoordinator[LiveFigures]):
    """Read the NAS's live figures while it is online; keep the last ones else."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        nas: NasCoordinator,
        client: BaluHostClient,
    ) -> None:
        """Read every DEVICE_LIVE_INTERVAL seconds; restore with async_load."""
        super().__init__(
            hass,
            entry,
            nas,
            client,
            name="live figures",
            interval=DEVICE_LIVE_INTERVAL,
        )
        self._store = entry_store(hass, entry.entry_id, STORE_DEVICE)

    async def async_load(self) -> None:
        """Restore the figures measured before the last restart."""
        stored = await self._store.async_load()
        if not stored:
            return
        try:
            self.data = LiveFigures.from_dict(stored)
        except KeyError, TypeError, ValueError:
            _LOGGER.warning("Stored NAS figures are unreadable and were ignored")

    async def async_save(self) -> None:
        """Store the figures now (on unload: a reload keeps them too)."""
        if (figures := self.data) is not None:
            await self._store.async_save(figures.as_dict())

    async def _async_read(self) -> LiveFigures:
        """Read one cycle: the system overview and the network sample."""
        info = await self._client.system_info()
        network = await self._client.monitoring_current(MonitoringKind.NETWORK)
        figures = live_figures(info, network, dt_util.utcnow(), self.data)
        self._store.async_delay_save(figures.as_dict, DEVICE_SAVE_DELAY)
        return figures

    def _stale(self) -> bool:
        """Return whether the figures are older than a cycle."""
        return (figures := self.data) is None or (
            dt_util.utcnow() - figures.measured_at
        ).total_seconds() >= DEVICE_LIVE_INTERVAL


# An update in one of these is over (done, or given up).
UPDATE_OVER = frozenset(
    {
        UpdateStatus.COMPLETED,
        UpdateStatus.FAILED,
        UpdateStatus.ROLLED_BACK,
        UpdateStatus.CANCELLED,
    }
)


@dataclass(frozen=True, slots=True)
class NasSoftware:
    """The BaluHost installed on the NAS and what it could update to.

    ``latest`` is None when the key's user may not check, ``can_install``
    False (only an admin may do either; what else blocks an update, the NAS
    says when asked to start one). ``progress`` is the update BaluPi started,
    while it runs.
    """

    installed: str
    latest: str | None
    release_notes: str | None
    can_install: bool
    progress: UpdateProgress | None = None


def refusal_reasons(err: BaluHostUpdateRefusedError) -> str:
    """Return the NAS's reasons for refusing an update, bounded for a message."""
    reasons = "; ".join(err.blockers[:MAX_UPDATE_BLOCKERS]) or err.reason
    if len(reasons) > MAX_UPDATE_REASON:
        return reasons[: MAX_UPDATE_REASON - 1] + "…"
    return reasons


class SoftwareCoordinator(AwakeReadCoordinator[NasSoftware]):
    """Check the NAS's software rarely; follow an update BaluPi started."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        nas: NasCoordinator,
        client: BaluHostClient,
    ) -> None:
        """Check every UPDATE_CHECK_INTERVAL seconds."""
        super().__init__(
            hass, entry, nas, client, name="software", interval=UPDATE_CHECK_INTERVAL
        )
        # Learned from the first check: a plain user's key may not check.
        self._admin: bool | None = None
        self._update_id: int | None = None

    async def _async_read(self) -> NasSoftware:
        """Follow the update BaluPi started; once it is over, check."""
        if self._update_id is not None and self.data is not None:
            progress = await self._client.update_progress(self._update_id)
            if progress is not None and progress.status not in UPDATE_OVER:
                return NasSoftware(
                    self.data.installed,
                    self.data.latest,
                    self.data.release_notes,
                    can_install=self.data.can_install,
                    progress=progress,
                )
            self._update_id = None
            self.update_interval = timedelta(seconds=UPDATE_CHECK_INTERVAL)
        return await self._async_check()

    async def _async_check(self) -> NasSoftware:
        """Ask whether a newer BaluHost is out; a plain user reads the version."""
        if self._admin is not False:
            try:
                check = await self._client.update_check()
            except BaluHostPermissionError:
                self._admin = False
            else:
                self._admin = True
                return NasSoftware(
                    check.installed_version,
                    check.latest_version or check.installed_version,
                    check.release_notes,
                    can_install=True,
                )
        version = await self._client.version()
        return NasSoftware(version.version, None, None, can_install=False)

    async def async_install(self) -> None:
        """Start the update; its progress is then read until it is over."""
        self._nas.refuse_unless(NasState.ONLINE)
        try:
            self._update_id = await self._client.update_start()
        except BaluHostUpdateRefusedError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="update_refused",
                translation_placeholders={
                    "name": self.config_entry.title,
                    "reasons": refusal_reasons(err),
                },
            ) from err
        except BaluHostError as err:
            raise self._nas.action_error(err) from err
        self.update_interval = timedelta(seconds=UPDATE_PROGRESS_INTERVAL)
        await self.async_refresh()


@dataclass(frozen=True, slots=True)
class BackupJob:
    """The NAS's backup scheduler: how its last run went, when the next is."""

    enabled: bool
    last_run: datetime | None
    next_run: datetime | None
    last_status: SchedulerRunStatus | None
    last_error: str | None


class JobsCoordinator(AwakeReadCoordinator[BackupJob | None]):
    """Read the NAS's scheduled jobs hourly while it is online.

    None: the NAS has no backup scheduler.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        nas: NasCoordinator,
        client: BaluHostClient,
    ) -> None:
        """Read every JOBS_INTERVAL seconds."""
        super().__init__(hass, entry, nas, client, name="jobs", interval=JOBS_INTERVAL)

    async def _async_read(self) -> BackupJob | None:
        """Read the schedulers; keep the backup one."""
        for job in await self._client.schedulers():
            if job.name == BACKUP_SCHEDULER:
                return BackupJob(
                    job.is_enabled,
                    job.last_run_at,
                    job.next_run_at,
                    job.last_status,
                    job.last_error,
                )
        return None


def _cut(text: str) -> str:
    return (
        text if len(text) <= MAX_EVENT_MESSAGE else text[: MAX_EVENT_MESSAGE - 1] + "…"
    )


class EventsCoordinator(AwakeReadCoordinator[int]):
    """List the NAS's new notifications while it is online; fire them as events.

    The data is how many of the key's user's notifications are unread.
    Notifications from before setup are not fired again.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        nas: NasCoordinator,
        client: BaluHostClient,
    ) -> None:
        """List every EVENTS_INTERVAL seconds, starting from now."""
        super().__init__(
            hass, entry, nas, client, name="events", interval=EVENTS_INTERVAL
        )
        self.feed = EventFeed(dt_util.utcnow())

    async def _async_read(self) -> int:
        """List what changed since the last listing; fire the new ones."""
        listing = await self._client.notifications(updated_after=self.feed.cursor)
        new = self.feed.take(listing.notifications)
        for item in new:
            self.hass.bus.async_fire(
                EVENT_NAS_EVENT,
                {
                    "config_entry_id": self.config_entry.entry_id,
                    "type": _cut(event_type(item)),
                    "severity": item.notification_type.value,
                    "priority": item.priority,
                    "title": _cut(item.title),
                    "message": _cut(item.message),
                },
            )
        for change in self.feed.issue_changes(new, listing.notifications):
            async_set_issue(
                self.hass,
                self.config_entry,
                change.issue,
                {"message": quoted(_cut(change.message))} if change.active else None,
            )
        return listing.unread_count
