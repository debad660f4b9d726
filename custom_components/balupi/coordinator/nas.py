"""Heartbeat coordinator: owns the NAS lifecycle and watches the NAS sleep.

Liveness is a TCP connect to the NAS's API port, which the NAS never sees; with
an API key, the NAS's sleep state is read through its whitelisted paths once a
minute, which neither wakes it nor keeps it awake (``sleep_watch``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
import logging
import ssl
from typing import Any, override
from urllib.parse import urlsplit

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    CONF_BROADCAST_ADDRESS,
    CONF_BROADCAST_PORT,
    CONF_MAC,
    CONF_URL,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util
from homeassistant.util.ssl import get_default_context, get_default_no_verify_context

from ..baluhost import (
    BaluHostAuthError,
    BaluHostClient,
    BaluHostConnectionError,
    BaluHostError,
    BaluHostPermissionError,
    SleepStatus,
    SuspendOutcome,
    async_tcp_probe,
)
from ..const import (
    CONF_API_KEY,
    CONF_BOOT_TIMEOUT,
    CONF_FAILURE_THRESHOLD,
    CONF_FAST_INTERVAL,
    CONF_OFFLINE_INTERVAL,
    CONF_POWER_OFF,
    CONF_POWER_RUNNING,
    CONF_POWER_STANDBY,
    CONF_SCAN_INTERVAL,
    DEFAULT_BOOT_TIMEOUT,
    DEFAULT_FAILURE_THRESHOLD,
    DEFAULT_FAST_INTERVAL,
    DEFAULT_OFFLINE_INTERVAL,
    DEFAULT_POWER_OFF,
    DEFAULT_POWER_RUNNING,
    DEFAULT_POWER_STANDBY,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    EVENT_NAS_STATE_CHANGED,
    HEALTH_TIMEOUT,
    HTTP_PORT,
    HTTPS_PORT,
    ISSUE_NAS_CERTIFICATE,
    ISSUE_NAS_DID_NOT_WAKE,
    ISSUE_NAS_UNRESPONSIVE,
    KEEP_AWAKE_SWITCH,
    PRESENCE_MIN_INTERVAL,
    PRESENCE_RETRY,
    REAUTH,
    REAUTH_API_KEY,
    SLEEP_READ_TIMEOUT,
    SLEEP_SCHEDULE_INTERVAL,
    SLEEP_STATUS_INTERVAL,
    SUSPEND_GRACE,
)
from ..heartbeat import HeartbeatPolicy, HeartbeatSettings, PowerHint, PowerThresholds
from ..issues import async_set_issue
from ..nas_state import NasLifecycle, NasState, Reason, Transition
from ..sleep_watch import SleepTiming, SleepWatch
from ..wol import async_send_magic_packet
from .store import STORE_LIFECYCLE, entry_store

_LOGGER = logging.getLogger(__name__)

# States in which the NAS did not answer: back from them, its old sleep signals
# are over.
UNREACHABLE_STATES = frozenset(
    {
        NasState.UNKNOWN,
        NasState.OFFLINE,
        NasState.BOOTING,
        NasState.SHUTTING_DOWN,
        NasState.SUSPENDED,
    }
)

type TransitionListener = Callable[[Transition], None]


@dataclass(frozen=True, slots=True)
class NasStatus:
    """What the NAS entities show."""

    state: NasState
    since: datetime | None
    reason: Reason | None
    version: str | None
    # The NAS's last sleep reading (None without an API key or before one).
    sleep: SleepStatus | None = None


def settings_from_options(options: dict[str, Any]) -> HeartbeatSettings:
    """Build heartbeat timing from an entry's options (defaults where unset)."""
    return HeartbeatSettings(
        interval=options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL),
        fast_interval=options.get(CONF_FAST_INTERVAL, DEFAULT_FAST_INTERVAL),
        offline_interval=options.get(CONF_OFFLINE_INTERVAL, DEFAULT_OFFLINE_INTERVAL),
        timeout=HEALTH_TIMEOUT,
        failure_threshold=options.get(
            CONF_FAILURE_THRESHOLD, DEFAULT_FAILURE_THRESHOLD
        ),
        boot_timeout=options.get(CONF_BOOT_TIMEOUT, DEFAULT_BOOT_TIMEOUT),
    )


def power_thresholds(options: Mapping[str, Any]) -> PowerThresholds:
    """Return the NAS power thresholds from an entry's options."""
    return PowerThresholds(
        off=options.get(CONF_POWER_OFF, DEFAULT_POWER_OFF),
        standby=options.get(CONF_POWER_STANDBY, DEFAULT_POWER_STANDBY),
        running=options.get(CONF_POWER_RUNNING, DEFAULT_POWER_RUNNING),
    )


def probe_address(url: str) -> tuple[str, int]:
    """Return the host and port of the NAS's API, where liveness is probed."""
    parts = urlsplit(url)
    port = parts.port or (HTTPS_PORT if parts.scheme == "https" else HTTP_PORT)
    return parts.hostname or "", port


class Liveness(StrEnum):
    """Outcome of one liveness probe."""

    ALIVE = "alive"
    # Something answers at the address, but its TLS certificate is not trusted.
    BAD_CERTIFICATE = "bad_certificate"
    UNREACHABLE = "unreachable"


async def async_probe(url: str, timeout: float, *, verify_tls: bool) -> Liveness:
    """Connect to the NAS's API port (and shake hands for https), send nothing.

    The NAS's backend only sees complete HTTP requests, so a probe neither
    counts toward its idle detection nor wakes it.
    """
    host, port = probe_address(url)
    if urlsplit(url).scheme != "https":
        alive = await async_tcp_probe(host, port, timeout)
        return Liveness.ALIVE if alive else Liveness.UNREACHABLE
    context = get_default_context() if verify_tls else get_default_no_verify_context()
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=host
            )
    except ssl.SSLCertVerificationError:
        return Liveness.BAD_CERTIFICATE
    except ssl.SSLError:
        # Something answers, if not with the TLS expected.
        return Liveness.ALIVE
    except OSError, TimeoutError:
        return Liveness.UNREACHABLE
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Liveness.ALIVE


def sleep_client(hass: HomeAssistant, data: Mapping[str, Any]) -> BaluHostClient | None:
    """Return a client for the NAS's sleep reads and actions; None without a key."""
    if not (key := data.get(CONF_API_KEY)):
        return None
    verify = data.get(CONF_VERIFY_SSL, True)
    return BaluHostClient(
        async_get_clientsession(hass, verify_ssl=verify),
        data[CONF_URL],
        key,
        verify_tls=verify,
        timeout=SLEEP_READ_TIMEOUT,
    )


def presence_client_id(entry_id: str) -> str:
    """Return how this entry introduces itself in presence heartbeats."""
    return "balupi-" + "".join(c for c in entry_id if c.isalnum())[:32]


class NasCoordinator(DataUpdateCoordinator[NasStatus]):
    """Probe the NAS and keep its lifecycle; the one place that changes NAS state."""

    config_entry: ConfigEntry

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Set up the heartbeat for one NAS."""
        self.settings = settings_from_options(dict(entry.options))
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} heartbeat",
            update_interval=timedelta(seconds=self.settings.interval),
            always_update=False,
        )
        self._url: str = entry.data[CONF_URL]
        # Entries made before this option existed verify.
        self._verify_tls: bool = entry.data.get(CONF_VERIFY_SSL, True)
        self.client = sleep_client(hass, entry.data)
        self.watch = SleepWatch(
            SleepTiming(SLEEP_STATUS_INTERVAL, SLEEP_SCHEDULE_INTERVAL, SUSPEND_GRACE)
        )
        self._store = entry_store(hass, entry.entry_id, STORE_LIFECYCLE)
        self._lock = asyncio.Lock()
        self._transition_listeners: list[TransitionListener] = []
        self.lifecycle = NasLifecycle()
        self.policy = HeartbeatPolicy(self.settings)
        self.version: str | None = None
        self.last_seen: datetime | None = None
        # Unknown until the first verdict: the issue may survive from before a
        # reload or restart, and that verdict syncs it.
        self._unresponsive: bool | None = None
        self._bad_certificate: bool | None = None
        self._reauth_started = False
        # Why the NAS is kept from suspending (the switch, an inbox flush).
        self._keep_awake: set[str] = set()
        self._presence_task: asyncio.Task[None] | None = None
        # Second signal for the decision (the NAS plug's power draw); until a
        # source is attached it knows nothing and the heartbeat decides alone.
        self.power_hint: Callable[[], PowerHint] = lambda: PowerHint.UNKNOWN

    async def async_load(self) -> None:
        """Restore the lifecycle persisted before the last restart.

        It is shown until the first probe, which setup does not wait for.
        """
        stored = await self._store.async_load() or {}
        self.lifecycle = NasLifecycle.from_dict(stored.get("lifecycle"))
        if self.client is None and self.lifecycle.state is NasState.SLEEPING:
            # Only a sleep reading can end soft sleep, and without the key
            # there is none: the first probe decides afresh.
            self.lifecycle = NasLifecycle()
        self.version = stored.get("version")
        self.update_interval = timedelta(seconds=self._interval_for_state())
        self.data = self._status()

    @override
    async def _async_update_data(self) -> NasStatus:
        """Probe the NAS once, read its sleep when due, apply the verdicts."""
        started = dt_util.utcnow()
        alive = await self._async_probe()
        reading = await self._async_read_sleep() if alive else None
        async with self._lock:
            since = self.lifecycle.since
            if since is not None and started < since:
                # A handshake or Wake-on-LAN changed the state while this probe
                # was in flight; the newer signal wins.
                return self._status()
            now = dt_util.utcnow()
            if alive:
                self.last_seen = now
            verdict = self.policy.on_probe(
                self.lifecycle.state,
                alive=alive,
                seconds_in_state=(now - since).total_seconds() if since else 0.0,
                power=self.power_hint(),
                asleep=self.watch.silence_reason(self._clock(), dt_util.now().time()),
            )
            unresponsive = verdict.unresponsive
            if unresponsive is not None and unresponsive is not self._unresponsive:
                # Only on a change: this runs on every heartbeat.
                self._unresponsive = unresponsive
                self._set_issue(ISSUE_NAS_UNRESPONSIVE, active=unresponsive)
            if verdict.target is not None and verdict.reason is not None:
                await self._async_apply(verdict.target, verdict.reason, now)
            if reading is not None:
                # Read in this very update: a transition just now that asked
                # for a fresh reading (back from away) has it already.
                self.watch.take_status_read(self._clock())
                if target := self.watch.on_status(reading, self.lifecycle.state):
                    await self._async_apply(target, Reason.SLEEP, now)
            self.update_interval = timedelta(seconds=verdict.next_poll)
        return self._status()

    async def _async_read_sleep(self) -> SleepStatus | None:
        """Read the NAS's sleep schedule and state when due (whitelisted only)."""
        if (client := self.client) is None:
            return None
        try:
            if self.watch.take_schedule_read(self._clock()):
                self.watch.on_schedule((await client.sync_preflight()).schedule)
            if not self.watch.take_status_read(self._clock()):
                return None
            reading = await client.sleep_status()
        except BaluHostError as err:
            self.report_read_error(err)
            return None
        return reading

    async def _async_probe(self) -> bool:
        """Return whether the NAS's port answers (with a trusted certificate)."""
        liveness = await async_probe(
            self._url, self.settings.timeout, verify_tls=self._verify_tls
        )
        # Only an answer tells about the certificate; silence keeps the issue
        # as it is (raised, or cleared, or as it survived a reload).
        if liveness is not Liveness.UNREACHABLE:
            bad_certificate = liveness is Liveness.BAD_CERTIFICATE
            if bad_certificate is not self._bad_certificate:
                self._bad_certificate = bad_certificate
                self._set_issue(ISSUE_NAS_CERTIFICATE, active=bad_certificate)
        return liveness is Liveness.ALIVE

    def report_read_error(self, err: BaluHostError) -> None:
        """Start reauthentication once for a rejected key."""
        if isinstance(err, BaluHostAuthError) and not self._reauth_started:
            self._reauth_started = True
            self.config_entry.async_start_reauth(
                self.hass, data={REAUTH: REAUTH_API_KEY}
            )
        _LOGGER.debug("Sleep read of %s failed: %s", self.config_entry.title, err)

    def _clock(self) -> float:
        """Return the monotonic time the sleep watch counts in."""
        return self.hass.loop.time()

    def _require_client(self) -> BaluHostClient:
        """Return the API client, or refuse an action that needs the key."""
        if self.client is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="no_api_key",
                translation_placeholders={"name": self.config_entry.title},
            )
        return self.client

    def refuse_unless(self, *states: NasState) -> None:
        """Refuse an action the NAS cannot take in its current state."""
        if (state := self.lifecycle.state) not in states:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_possible_now",
                translation_placeholders={
                    "name": self.config_entry.title,
                    "state": state.value,
                },
            )

    def action_error(self, err: BaluHostError) -> HomeAssistantError:
        """Say in the user's language why the NAS refused an action."""
        if isinstance(err, BaluHostAuthError):
            self.report_read_error(err)
            return HomeAssistantError(
                translation_domain=DOMAIN, translation_key="api_key_rejected"
            )
        if isinstance(err, BaluHostPermissionError):
            return HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="permission_missing",
                translation_placeholders={"permission": err.permission or "?"},
            )
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="nas_request_failed",
            translation_placeholders={"error": str(err)},
        )

    async def async_soft_sleep(self) -> None:
        """Put the NAS into soft sleep and read it back at once."""
        client = self._require_client()
        self.refuse_unless(NasState.ONLINE)
        try:
            await client.soft_sleep()
        except BaluHostError as err:
            raise self.action_error(err) from err
        await self._async_read_now()

    async def async_suspend(self) -> None:
        """Suspend the NAS; its silence afterwards is that suspend, not a death."""
        client = self._require_client()
        self.refuse_unless(NasState.ONLINE, NasState.SLEEPING)
        self.watch.note_suspend_requested(self._clock())
        try:
            outcome = await client.suspend()
        except BaluHostConnectionError as err:
            # The connection broke while the NAS went down: the heartbeat
            # tells whether it did.
            _LOGGER.debug("Suspend of %s: %s", self.config_entry.title, err)
            return
        except BaluHostError as err:
            self.watch.forget_suspend_request()
            raise self.action_error(err) from err
        if outcome is SuspendOutcome.RESUMED:
            # It answers only after it has resumed: awake again.
            self.watch.forget_suspend_request()
            await self._async_read_now()

    async def _async_read_now(self) -> None:
        """Probe now and read the sleep state with it."""
        self.watch.read_now()
        await self.async_refresh()

    async def async_wake(self) -> None:
        """Wake the NAS: by a request from soft sleep, else by Wake-on-LAN."""
        if self.lifecycle.state is NasState.SLEEPING and self.client is not None:
            try:
                await self.client.wake()
            except BaluHostError as err:
                raise self.action_error(err) from err
            await self._async_read_now()
            return
        await self._async_wake_on_lan()

    @property
    def keeping_awake(self) -> bool:
        """Return whether the switch keeps the NAS from suspending."""
        return KEEP_AWAKE_SWITCH in self._keep_awake

    async def async_keep_awake(self, reason: str, *, on: bool) -> None:
        """Keep the NAS from suspending (presence heartbeats) for a reason."""
        if on:
            self._require_client()
            self._keep_awake.add(reason)
        else:
            self._keep_awake.discard(reason)
        if self._keep_awake and self._presence_task is None:
            self._presence_task = self.config_entry.async_create_background_task(
                self.hass, self._async_presence(), f"{DOMAIN} presence"
            )
        elif not self._keep_awake and self._presence_task is not None:
            self._presence_task.cancel()
            self._presence_task = None
        self.async_update_listeners()

    @contextlib.asynccontextmanager
    async def async_kept_awake(self, reason: str) -> AsyncIterator[None]:
        """Keep the NAS from suspending while a block runs (no key: no-op)."""
        if self.client is None:
            yield
            return
        await self.async_keep_awake(reason, on=True)
        try:
            yield
        finally:
            await self.async_keep_awake(reason, on=False)

    async def _async_presence(self) -> None:
        """Send presence heartbeats at the interval the NAS asks for.

        They are neither counted nor waking; each one keeps the NAS from
        suspending by itself for the minutes it answers.
        """
        client = self._require_client()
        client_id = presence_client_id(self.config_entry.entry_id)
        while True:
            try:
                ack = await client.presence(client_id)
            except BaluHostError as err:
                _LOGGER.debug("Presence of %s failed: %s", self.config_entry.title, err)
                interval = float(PRESENCE_RETRY)
            else:
                interval = max(PRESENCE_MIN_INTERVAL, ack.heartbeat_interval_seconds)
            await asyncio.sleep(interval)

    @override
    async def async_shutdown(self) -> None:
        """Stop the presence heartbeats with the coordinator."""
        if self._presence_task is not None:
            self._presence_task.cancel()
            self._presence_task = None
        await super().async_shutdown()

    async def async_transition(
        self, to_state: NasState, reason: Reason
    ) -> Transition | None:
        """Apply a state change from a push signal (handshake, Wake-on-LAN)."""
        async with self._lock:
            transition = await self._async_apply(to_state, reason, dt_util.utcnow())
            if transition is not None:
                self.policy.failures = 0
                self.update_interval = timedelta(seconds=self._interval_for_state())
                # Also restarts the poll timer, at the interval of the new state.
                self.async_set_updated_data(self._status())
        return transition

    async def _async_wake_on_lan(self) -> None:
        """Send Wake-on-LAN and watch the NAS boot."""
        state = self.lifecycle.state
        power = self.power_hint()
        refusal = None
        if state in (NasState.ONLINE, NasState.BOOTING):
            refusal = f"already_{state}"
        elif power is PowerHint.RUNNING:
            refusal = "already_running"
        elif power is PowerHint.UNPOWERED:
            refusal = "no_power"
        if refusal is not None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key=refusal,
                translation_placeholders={"name": self.config_entry.title},
            )
        data = self.config_entry.data
        try:
            await async_send_magic_packet(
                data[CONF_MAC], data[CONF_BROADCAST_ADDRESS], data[CONF_BROADCAST_PORT]
            )
        except OSError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="wol_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        _LOGGER.debug("Sent Wake-on-LAN to %s", data[CONF_MAC])
        if self.lifecycle.can_transition(NasState.BOOTING):
            await self.async_transition(NasState.BOOTING, Reason.WOL)

    async def async_going_offline(self) -> None:
        """Follow the NAS's own announcement: shutting down, then offline."""
        if self.lifecycle.can_transition(NasState.SHUTTING_DOWN):
            await self.async_transition(NasState.SHUTTING_DOWN, Reason.HANDSHAKE)
        await self.async_transition(NasState.OFFLINE, Reason.HANDSHAKE)

    def async_add_transition_listener(
        self, listener: TransitionListener
    ) -> Callable[[], None]:
        """Call a listener on every applied transition; return a remover."""
        self._transition_listeners.append(listener)
        return lambda: self._transition_listeners.remove(listener)

    async def _async_apply(
        self, to_state: NasState, reason: Reason, now: datetime
    ) -> Transition | None:
        """Apply, persist and announce one transition (lock held by the caller)."""
        transition = self.lifecycle.apply(to_state, reason, now)
        if transition is None:
            return None
        await self._store.async_save(
            {"lifecycle": self.lifecycle.as_dict(), "version": self.version}
        )
        _LOGGER.info(
            "NAS %s: %s -> %s (%s)",
            self.config_entry.title,
            transition.from_state,
            transition.to_state,
            reason,
        )
        self.hass.bus.async_fire(
            EVENT_NAS_STATE_CHANGED,
            {
                "config_entry_id": self.config_entry.entry_id,
                "from": transition.from_state.value,
                "to": transition.to_state.value,
                "reason": reason.value,
            },
        )
        if to_state is NasState.ONLINE and transition.from_state in UNREACHABLE_STATES:
            self.watch.on_back()
        if to_state is NasState.ONLINE:
            self._set_issue(ISSUE_NAS_DID_NOT_WAKE, active=False)
        elif reason is Reason.BOOT_TIMEOUT:
            self._set_issue(ISSUE_NAS_DID_NOT_WAKE, active=True)
        for listener in list(self._transition_listeners):
            listener(transition)
        return transition

    def _set_issue(self, key: str, *, active: bool) -> None:
        """Raise or clear one of this NAS's repair issues."""
        placeholders = {
            "url": self._url,
            "timeout": str(int(self.settings.boot_timeout)),
        }
        async_set_issue(
            self.hass, self.config_entry, key, placeholders if active else None
        )

    def _interval_for_state(self) -> float:
        """Return how often to probe in the current state."""
        match self.lifecycle.state:
            case NasState.OFFLINE | NasState.SUSPENDED:
                return self.settings.offline_interval
            case NasState.BOOTING | NasState.SHUTTING_DOWN | NasState.UNKNOWN:
                return self.settings.fast_interval
            case _:
                return self.settings.interval

    def _status(self) -> NasStatus:
        """Return the current status for the entities."""
        lifecycle = self.lifecycle
        return NasStatus(
            lifecycle.state,
            lifecycle.since,
            lifecycle.reason,
            self.version,
            self.watch.status,
        )
