"""Inbox coordinator: watches the Pi's inbox folder and flushes it to the NAS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Mapping
import contextlib
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import islice
import logging
import os
from pathlib import Path
import shutil
import time
from typing import Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_IP_ADDRESS, CONF_MAC
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.importlib import async_import_module
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from ..const import (
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
    ISSUE_INBOX_FILES_STUCK,
    ISSUE_INBOX_HOST_KEY,
    ISSUE_INBOX_KEY,
    ISSUE_INBOX_NO_TRANSPORT,
    KEEP_AWAKE_INBOX,
)
from ..issues import async_set_issue, printable, quoted
from ..nas_state import NasState, Reason, Transition
from ..transfer import (
    DETAIL_LENGTH,
    MAX_DEPTH,
    NEEDS_USER,
    FlushError,
    FlushErrorKind,
    InboxFile,
    InboxScan,
    NotMoved,
    NotMovedReason,
    Outbox,
    Progress,
    SshTarget,
    async_rsync_outbox,
    check_client_key,
    close_outbox,
    open_outbox,
    scan_inbox,
)
from .nas import NasCoordinator
from .store import STORE_INBOX, entry_store

_LOGGER = logging.getLogger(__name__)

# The integration's package, where sftp.py is.
PACKAGE = __package__.rpartition(".")[0]

TRANSPORT_RSYNC = "rsync"
TRANSPORT_SFTP = "sftp"

# The failures a user has to fix, each with its own repair issue.
ISSUES: dict[FlushErrorKind, str] = {
    FlushErrorKind.HOST_KEY_MISMATCH: ISSUE_INBOX_HOST_KEY,
    FlushErrorKind.AUTH_FAILED: ISSUE_INBOX_AUTH,
    FlushErrorKind.KEY_UNUSABLE: ISSUE_INBOX_KEY,
    FlushErrorKind.NO_TRANSPORT: ISSUE_INBOX_NO_TRANSPORT,
}
# How many files that could not move a flush's outcome lists (all are counted),
# and how many the repair issue names.
NOT_MOVED_LISTED = 20
STUCK_NAMED = 5
# A listed path keeps its end: the name says most.
PATH_SHOWN = 200


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
    # Files that stayed in the inbox: all counted, the first few listed as
    # {"path", "reason", "detail"}.
    not_moved: int = 0
    not_moved_files: tuple[dict[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self) | {
            "finished": self.finished.isoformat(),
            "not_moved_files": list(self.not_moved_files),
        }

    def summary(self) -> dict[str, Any]:
        """Return what moved and how, for the sensor and the action's response."""
        return {
            "files": self.files,
            "bytes": self.bytes,
            "duration": self.duration,
            "transport": self.transport,
            "error": self.error,
            "not_moved": self.not_moved,
            "not_moved_files": list(self.not_moved_files),
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
            int(data.get("not_moved", 0)),
            tuple(data.get("not_moved_files", ())),
        )


def shown_path(relpath: str) -> str:
    """Return a path as text that JSON, logs and the UI take safely.

    Bytes that are not UTF-8 and control characters (a newline in a name)
    show escaped; a long path keeps its end, where the name is.
    """
    text = printable(os.fsencode(relpath).decode("utf-8", "backslashreplace"))
    return text if len(text) <= PATH_SHOWN else "…" + text[-(PATH_SHOWN - 1) :]


def listed(entries: Iterable[NotMoved]) -> tuple[dict[str, str], ...]:
    """Return the first NOT_MOVED_LISTED entries for a flush's outcome."""
    return tuple(
        {
            "path": shown_path(entry.relpath),
            "reason": entry.reason,
            "detail": entry.detail,
        }
        for entry in islice(entries, NOT_MOVED_LISTED)
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


def inbox_folder_error(hass: HomeAssistant, folder: Path) -> str | None:
    """Check the inbox folder (file-system access: run in the executor)."""
    if not folder.is_absolute() or not hass.config.is_allowed_path(str(folder)):
        return "inbox_not_allowed"
    if not folder.is_dir():
        return "inbox_not_found"
    return None


@callback
def async_remove_inbox(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Remove the entities and repair issues of an inbox that was turned off."""
    registry = er.async_get(hass)
    unique_ids = {f"{entry.data[CONF_MAC]}_{key}" for key in ENTITY_KEYS}
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if entity.unique_id in unique_ids:
            registry.async_remove(entity.entity_id)
    for issue in (*ISSUES.values(), ISSUE_INBOX_FILES_STUCK):
        async_set_issue(hass, entry, issue, None)


class InboxCoordinator(DataUpdateCoordinator[InboxScan]):
    """Scan the inbox every minute; move its files to the NAS, one run at a time."""

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        settings: InboxSettings,
        nas: NasCoordinator,
    ) -> None:
        """Watch one inbox folder; flush it while the NAS is online."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} inbox",
            update_interval=timedelta(seconds=INBOX_SCAN_INTERVAL),
        )
        self.settings = settings
        self._nas = nas
        self.settle = float(INBOX_SETTLE_SECONDS)
        self.last_flush: FlushRecord | None = None
        self._store = entry_store(hass, entry.entry_id, STORE_INBOX)
        self._flush: asyncio.Task[FlushRecord] | None = None
        # After a failure only the user can fix, automatic flushes wait for the
        # options to change (which reloads the entry) or for a manual flush.
        self._needs_user = False
        # Files the NAS refused or this system could not read in the last
        # flush; they alone start no automatic flush.
        self._refused: dict[InboxFile, NotMoved] = {}
        # What the repair issue about stuck files shows now.
        self._stuck: frozenset[NotMoved] = frozenset()

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
        ready = set(scan.ready)
        self._refused = {f: n for f, n in self._refused.items() if f in ready}
        self._async_show_stuck([*scan.not_movable, *self._refused.values()])
        if scan.staged or any(file not in self._refused for file in scan.ready):
            self._async_auto_flush()
        return scan

    @callback
    def _async_show_stuck(self, entries: Iterable[NotMoved]) -> None:
        """Raise, update or clear the repair issue about files only the user can fix.

        Logged once when what is stuck changes, not on every scan.
        """
        stuck = frozenset(entry for entry in entries if entry.reason in NEEDS_USER)
        if stuck == self._stuck:
            return
        self._stuck = stuck
        ordered = sorted(stuck, key=lambda entry: entry.relpath)
        named = "\n".join(
            f"- {quoted(shown_path(entry.relpath))}: {entry.reason}"
            + (f" ({quoted(entry.detail)})" if entry.detail else "")
            for entry in ordered[:STUCK_NAMED]
        )
        if len(ordered) > STUCK_NAMED:
            named += f"\n- … (+{len(ordered) - STUCK_NAMED})"
        if ordered:
            _LOGGER.warning(
                "%s files in the inbox cannot move until they are fixed:\n%s",
                len(ordered),
                named,
            )
        async_set_issue(
            self.hass,
            self.config_entry,
            ISSUE_INBOX_FILES_STUCK,
            {"count": str(len(ordered)), "files": named, "max_depth": str(MAX_DEPTH)}
            if ordered
            else None,
        )

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
        state = self._nas.lifecycle.state
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
        state = self._nas.lifecycle.state
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
        progress = Progress()
        transport: str | None = None
        error: FlushError | None = None
        ready: tuple[InboxFile, ...] = ()
        try:
            scan = await self._async_scan()
            ready = scan.ready
            progress.not_moved.extend(scan.not_movable)
            if scan.ready or scan.staged:
                # The NAS must not suspend by itself in the middle of it.
                async with self._nas.async_kept_awake(KEEP_AWAKE_INBOX):
                    transport = await self._async_move(scan.ready, progress)
        except FlushError as err:
            error = err
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
        if progress.not_moved:
            _LOGGER.debug(
                "Inbox flush left %s files in the inbox: %s",
                len(progress.not_moved),
                listed(progress.not_moved),
            )
        by_path = {
            entry.relpath: entry
            for entry in progress.not_moved
            if entry.reason in (NotMovedReason.REFUSED, NotMovedReason.UNREADABLE)
        }
        self._refused = {f: by_path[f.relpath] for f in ready if f.relpath in by_path}
        record = FlushRecord(
            dt_util.utcnow(),
            progress.files,
            progress.bytes,
            round(time.monotonic() - started, 3),
            transport,
            None if error is None else error.kind,
            len(progress.not_moved),
            listed(progress.not_moved),
        )
        await self._async_record(record, error)
        return record

    async def _async_move(
        self, ready: tuple[InboxFile, ...], progress: Progress
    ) -> str | None:
        """Stage the files, send them with rsync or else SFTP, put back the rest.

        Returns the transport, None when nothing was left to send.
        """
        target = self.settings.target
        rsync = await self.hass.async_add_executor_job(shutil.which, "rsync")
        if rsync is None:
            send_sftp = await self._async_sftp_sender()
        else:
            # ssh reads the key itself, but a missing one it only warns about
            # and then fails as a refused login: checked here, before staging.
            await self.hass.async_add_executor_job(check_client_key, target.key_path)
        outbox = await self._async_open_outbox(ready, progress)
        try:
            if not any(folder.files for folder in outbox.folders):
                return None
            if rsync is not None:
                if await async_rsync_outbox(rsync, outbox, target, progress):
                    return TRANSPORT_RSYNC
                _LOGGER.info("The NAS has no rsync; moving the inbox over SFTP")
                send_sftp = await self._async_sftp_sender()
            await send_sftp(outbox, progress)
            return TRANSPORT_SFTP
        finally:
            # Also after a failure or a cancellation: nothing stays hidden.
            await self.hass.async_add_executor_job(
                close_outbox, outbox, progress.relpaths
            )

    async def _async_sftp_sender(
        self,
    ) -> Callable[[Outbox, Progress], Coroutine[Any, Any, None]]:
        """Load asyncssh and the user's key; return what sends an outbox over SFTP.

        asyncssh is large: it is loaded only when SFTP is needed (no rsync here
        or on the NAS), not with the entry nor for an rsync flush.
        """
        await async_import_module(self.hass, f"{PACKAGE}.sftp")
        from ..sftp import async_sftp, read_client_key, sftp_options  # noqa: PLC0415

        target = self.settings.target
        client_key = await self.hass.async_add_executor_job(
            read_client_key, target.key_path
        )
        options = sftp_options(target, client_key)
        return lambda outbox, progress: async_sftp(outbox, target, options, progress)

    async def _async_open_outbox(
        self, ready: tuple[InboxFile, ...], progress: Progress
    ) -> Outbox:
        """Stage the ready files in the executor, even if cancelled meanwhile."""
        staging = self.hass.async_add_executor_job(
            open_outbox, self.settings.root, ready
        )
        try:
            outbox, skipped = await asyncio.shield(staging)
        except asyncio.CancelledError:
            # The executor stages them anyway: put them back before stopping.
            with contextlib.suppress(OSError):
                outbox, _ = await staging
                await self.hass.async_add_executor_job(close_outbox, outbox, ())
            raise
        except OSError as err:
            raise FlushError(
                FlushErrorKind.TRANSFER_FAILED, str(err), progress
            ) from err
        progress.not_moved.extend(skipped)
        return outbox

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
                    "error": quoted(error.detail[:DETAIL_LENGTH]),
                }
            async_set_issue(self.hass, entry, issue, placeholders)
        if record.files or record.not_moved or error is not None:
            self.last_flush = record
            await self._store.async_save({"last": record.as_dict()})
            self.hass.bus.async_fire(
                EVENT_INBOX_FLUSHED,
                {"config_entry_id": entry.entry_id} | record.as_dict(),
            )
        # The sensors show the inbox after the run, not a minute later.
        await self.async_refresh()
