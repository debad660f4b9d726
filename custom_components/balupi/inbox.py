"""Inbox coordinator: watches the Pi's inbox folder and flushes it to the NAS."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial
import logging
from pathlib import Path
import shutil
import time
from typing import TYPE_CHECKING, Any, override

from homeassistant.const import CONF_IP_ADDRESS, CONF_MAC
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_HOST_KEY,
    CONF_INBOX_PATH,
    CONF_KEY_PATH,
    CONF_REMOTE_PATH,
    CONF_SSH_HOST,
    CONF_SSH_PORT,
    CONF_SSH_USER,
    DEFAULT_SSH_PORT,
    DOMAIN,
    EVENT_INBOX_FLUSHED,
    INBOX_SCAN_INTERVAL,
    INBOX_SETTLE_SECONDS,
    ISSUE_INBOX_AUTH,
    ISSUE_INBOX_HOST_KEY,
    ISSUE_INBOX_KEY,
    ISSUE_INBOX_NO_TRANSPORT,
    STORAGE_VERSION,
)
from .issues import async_set_issue
from .nas_state import NasState, Reason, Transition
from .transfer import (
    RSYNC_OK,
    FlushError,
    FlushErrorKind,
    InboxFile,
    InboxScan,
    Moved,
    SshTarget,
    async_rsync,
    async_sftp,
    make_private_dir,
    read_client_key,
    remote_rsync_missing,
    remove_emptied_dirs,
    rsync_command,
    rsync_destination,
    rsync_failure,
    scan_inbox,
    sftp_options,
    ssh_command,
    write_known_hosts,
)

if TYPE_CHECKING:
    from .data import BalupiConfigEntry

_LOGGER = logging.getLogger(__name__)

TRANSPORT_RSYNC = "rsync"
TRANSPORT_SFTP = "sftp"

# The failures a user has to fix, each with its own repair issue.
ISSUES: dict[FlushErrorKind, str] = {
    FlushErrorKind.HOST_KEY_MISMATCH: ISSUE_INBOX_HOST_KEY,
    FlushErrorKind.AUTH_FAILED: ISSUE_INBOX_AUTH,
    FlushErrorKind.KEY_UNUSABLE: ISSUE_INBOX_KEY,
    FlushErrorKind.NO_TRANSPORT: ISSUE_INBOX_NO_TRANSPORT,
}


@dataclass(frozen=True, slots=True)
class InboxSettings:
    """The inbox folder and where its files go."""

    root: Path
    target: SshTarget


def inbox_settings(
    data: Mapping[str, Any], options: Mapping[str, Any]
) -> InboxSettings | None:
    """Return the inbox settings, or None while the inbox is not set up."""
    if not options.get(CONF_INBOX_PATH) or not options.get(CONF_HOST_KEY):
        return None
    return InboxSettings(
        Path(options[CONF_INBOX_PATH]),
        SshTarget(
            host=options.get(CONF_SSH_HOST) or data[CONF_IP_ADDRESS],
            port=int(options.get(CONF_SSH_PORT, DEFAULT_SSH_PORT)),
            user=options[CONF_SSH_USER],
            remote_dir=options[CONF_REMOTE_PATH],
            key_path=Path(options[CONF_KEY_PATH]),
            host_key=options[CONF_HOST_KEY],
        ),
    )


@dataclass(frozen=True, slots=True)
class FlushRecord:
    """The outcome of one flush, kept across restarts."""

    finished: datetime
    files: int
    bytes: int
    duration: float
    transport: str | None
    error: FlushErrorKind | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self) | {"finished": self.finished.isoformat()}

    def summary(self) -> dict[str, Any]:
        """Return what moved and how, for the sensor and the action's response."""
        return {
            "files": self.files,
            "bytes": self.bytes,
            "duration": self.duration,
            "transport": self.transport,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlushRecord:
        """Rebuild a stored record."""
        error = data.get("error")
        return cls(
            datetime.fromisoformat(data["finished"]),
            int(data["files"]),
            int(data["bytes"]),
            float(data["duration"]),
            data.get("transport"),
            None if error is None else FlushErrorKind(error),
        )


# Keys of the inbox entities (their unique ids end in them).
ENTITY_KEYS = (
    "inbox_files",
    "inbox_size",
    "inbox_oldest_file",
    "last_inbox_flush",
    "inbox_flushing",
    "flush_inbox",
)


@callback
def async_remove_inbox(hass: HomeAssistant, entry: BalupiConfigEntry) -> None:
    """Remove the entities and repair issues of an inbox that was turned off."""
    registry = er.async_get(hass)
    unique_ids = {f"{entry.data[CONF_MAC]}_{key}" for key in ENTITY_KEYS}
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if entity.unique_id in unique_ids:
            registry.async_remove(entity.entity_id)
    for issue in ISSUES.values():
        async_set_issue(hass, entry, issue, None)


def inbox_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Return the store that keeps the last flush of an entry."""
    return Store(
        hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.inbox", atomic_writes=True
    )


class InboxCoordinator(DataUpdateCoordinator[InboxScan]):
    """Scan the inbox every minute; move its files to the NAS, one run at a time."""

    config_entry: BalupiConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: BalupiConfigEntry, settings: InboxSettings
    ) -> None:
        """Watch one inbox folder."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} inbox",
            update_interval=timedelta(seconds=INBOX_SCAN_INTERVAL),
        )
        self.settings = settings
        self.settle = float(INBOX_SETTLE_SECONDS)
        self.last_flush: FlushRecord | None = None
        self._store = inbox_store(hass, entry.entry_id)
        self._flush: asyncio.Task[FlushRecord] | None = None
        # After a failure only the user can fix, automatic flushes wait for the
        # options to change (which reloads the entry) or for a manual flush.
        self._needs_user = False

    @property
    def flushing(self) -> bool:
        """Return whether a flush runs now."""
        return self._flush is not None and not self._flush.done()

    async def async_load(self) -> None:
        """Restore the last flush (call before the first refresh)."""
        stored = await self._store.async_load() or {}
        if (last := stored.get("last")) is not None:
            self.last_flush = FlushRecord.from_dict(last)

    @override
    async def _async_update_data(self) -> InboxScan:
        """Scan the folder; start a flush when the NAS is up and files wait."""
        scan = await self._async_scan()
        if scan.ready:
            self._async_auto_flush()
        return scan

    async def _async_scan(self) -> InboxScan:
        """List the inbox in the executor."""
        try:
            return await self.hass.async_add_executor_job(
                scan_inbox, self.settings.root, time.time(), self.settle
            )
        except OSError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="inbox_unreadable",
                translation_placeholders={
                    "path": str(self.settings.root),
                    "error": str(err),
                },
            ) from err

    @callback
    def _async_auto_flush(self) -> None:
        """Start a flush on our own, if the NAS is up and nothing blocks it."""
        state = self.config_entry.runtime_data.coordinator.lifecycle.state
        if state is NasState.ONLINE and not self._needs_user and not self.flushing:
            self.async_start_flush()

    @callback
    def async_on_nas_transition(self, transition: Transition) -> None:
        """Flush when the heartbeat sees the NAS come online with files waiting.

        The coming-online handshake starts its own flush after its reply.
        """
        if (
            transition.to_state is NasState.ONLINE
            and transition.reason is not Reason.HANDSHAKE
            and self.data is not None
            and self.data.files
        ):
            self._async_auto_flush()

    @callback
    def async_check_nas_online(self) -> None:
        """Refuse a manual flush while the NAS cannot take files."""
        state = self.config_entry.runtime_data.coordinator.lifecycle.state
        if state is not NasState.ONLINE:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="inbox_nas_not_online",
                translation_placeholders={
                    "name": self.config_entry.title,
                    "state": state.value,
                },
            )

    @callback
    def async_start_flush(self) -> asyncio.Task[FlushRecord]:
        """Start a flush, or return the one already running (single flight)."""
        if self._flush is None or self._flush.done():
            # Not started eagerly: an executor job can be done by the time it
            # is awaited, and the flush could then reach its closing refresh,
            # and start a second flush, before it is known as the running one.
            self._flush = self.config_entry.async_create_background_task(
                self.hass, self._async_run(), f"{DOMAIN} inbox flush", eager_start=False
            )
            # "Flush running" turns off when the task is done, whatever happened.
            self._flush.add_done_callback(lambda _: self.async_update_listeners())
            self.async_update_listeners()
        return self._flush

    async def async_flush(self) -> FlushRecord:
        """Flush now and wait for the result; joins a running flush."""
        return await asyncio.shield(self.async_start_flush())

    async def _async_run(self) -> FlushRecord:
        """Move the ready files and record the outcome."""
        started = time.monotonic()
        moved = Moved()
        transport: str | None = None
        error: FlushError | None = None
        try:
            scan = await self._async_scan()
            if scan.ready:
                transport, moved = await self._async_move(scan.ready)
        except FlushError as err:
            error, moved = err, err.moved
            # Retried every minute while files wait: said once per new reason.
            last = self.last_flush
            repeated = last is not None and last.error is err.kind
            _LOGGER.log(
                logging.DEBUG if repeated else logging.WARNING,
                "Inbox flush failed: %s",
                err,
            )
        except UpdateFailed as err:
            error = FlushError(FlushErrorKind.TRANSFER_FAILED, str(err))
        finally:
            # Also after a cancellation: what moved leaves no empty folders.
            if moved.relpaths:
                await self.hass.async_add_executor_job(
                    remove_emptied_dirs, self.settings.root, moved.relpaths
                )
        record = FlushRecord(
            dt_util.utcnow(),
            moved.files,
            moved.bytes,
            round(time.monotonic() - started, 3),
            transport,
            None if error is None else error.kind,
        )
        await self._async_record(record, error)
        return record

    async def _async_move(self, files: tuple[InboxFile, ...]) -> tuple[str, Moved]:
        """Check the key, then move the files with rsync or, without it, SFTP."""
        target = self.settings.target
        client_key = await self.hass.async_add_executor_job(
            read_client_key, target.key_path
        )
        rsync = await self.hass.async_add_executor_job(shutil.which, "rsync")
        if rsync is not None:
            moved = await self._async_rsync(rsync, files)
            if moved is not None:
                return TRANSPORT_RSYNC, moved
            _LOGGER.info("The NAS has no rsync; moving the inbox over SFTP")
        moved = Moved()
        await async_sftp(
            self.settings.root, files, target, sftp_options(target, client_key), moved
        )
        return TRANSPORT_SFTP, moved

    async def _async_rsync(
        self, rsync: str, files: tuple[InboxFile, ...]
    ) -> Moved | None:
        """Run rsync over SSH; None when the NAS has no rsync to talk to."""
        target = self.settings.target
        private = await self.hass.async_add_executor_job(make_private_dir)
        try:
            known_hosts = await self.hass.async_add_executor_job(
                write_known_hosts, private, target.host_key
            )
            command = rsync_command(
                rsync,
                self.settings.root,
                rsync_destination(target),
                ssh_command(target, known_hosts),
            )
            returncode, moved, stderr = await async_rsync(
                command, self.settings.root, files
            )
        finally:
            await self.hass.async_add_executor_job(
                partial(shutil.rmtree, private, ignore_errors=True)
            )
        if returncode in RSYNC_OK:
            return moved
        if remote_rsync_missing(returncode, stderr) and not moved.files:
            return None
        raise rsync_failure(returncode, stderr, moved)

    async def _async_record(
        self, record: FlushRecord, error: FlushError | None
    ) -> None:
        """Persist and announce the outcome; raise or clear repair issues."""
        entry = self.config_entry
        self._needs_user = error is not None and error.kind in ISSUES
        for kind, issue in ISSUES.items():
            placeholders = None
            if error is not None and error.kind is kind:
                placeholders = {
                    "host": self.settings.target.host,
                    "user": self.settings.target.user,
                    "key_path": str(self.settings.target.key_path),
                    "error": error.detail,
                }
            async_set_issue(self.hass, entry, issue, placeholders)
        if record.files or error is not None:
            self.last_flush = record
            await self._store.async_save({"last": record.as_dict()})
            self.hass.bus.async_fire(
                EVENT_INBOX_FLUSHED,
                {"config_entry_id": entry.entry_id} | record.as_dict(),
            )
        # The sensors show the inbox after the run, not a minute later.
        await self.async_refresh()
