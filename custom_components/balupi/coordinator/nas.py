"""Heartbeat coordinator: owns the NAS lifecycle and probes the NAS's health."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from http import HTTPStatus
import json
import logging
from typing import Any, override

import aiohttp

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

from ..const import (
    CONF_BOOT_TIMEOUT,
    CONF_FAILURE_THRESHOLD,
    CONF_FAST_INTERVAL,
    CONF_HEALTH_PATH,
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
    HEALTH_MAX_BODY,
    HEALTH_TIMEOUT,
    ISSUE_NAS_CERTIFICATE,
    ISSUE_NAS_DID_NOT_WAKE,
    ISSUE_NAS_UNRESPONSIVE,
)
from ..heartbeat import HeartbeatPolicy, HeartbeatSettings, PowerHint, PowerThresholds
from ..issues import async_set_issue
from ..nas_state import NasLifecycle, NasState, Reason, Transition
from ..wol import async_send_magic_packet
from .store import STORE_LIFECYCLE, entry_store

_LOGGER = logging.getLogger(__name__)

type TransitionListener = Callable[[Transition], None]


@dataclass(frozen=True, slots=True)
class NasStatus:
    """What the NAS entities show."""

    state: NasState
    since: datetime | None
    reason: Reason | None
    version: str | None


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


def health_url(data: dict[str, Any]) -> str:
    """Return the full health URL from the base URL and the health path."""
    base: str = data[CONF_URL]
    path: str = data[CONF_HEALTH_PATH]
    return base.rstrip("/") + "/" + path.lstrip("/")


class HealthStatus(StrEnum):
    """Outcome of one health request."""

    ALIVE = "alive"
    BAD_RESPONSE = "bad_response"
    # Something answers at the address, but its TLS certificate is not trusted.
    BAD_CERTIFICATE = "bad_certificate"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """Outcome of one health request and the version the NAS reported."""

    status: HealthStatus
    version: str | None = None


async def async_read_capped(
    content: aiohttp.StreamReader, length: int | None, cap: int
) -> bytes | None:
    """Return a whole body, or None once it is (or says it is) over the cap."""
    if length is not None and length > cap:
        return None
    body = bytearray()
    async for chunk in content.iter_any():
        body += chunk
        if len(body) > cap:
            return None
    return bytes(body)


async def async_check_health(
    session: aiohttp.ClientSession, url: str, timeout: float
) -> HealthCheck:
    """Ask the NAS for its health; 200 means alive, whatever else it says.

    Whatever else it says is read up to a few kilobytes only: more is not a
    health reply.
    """
    try:
        async with (
            asyncio.timeout(timeout),
            session.get(url, allow_redirects=False) as response,
        ):
            if response.status != HTTPStatus.OK:
                return HealthCheck(HealthStatus.BAD_RESPONSE)
            body = await async_read_capped(
                response.content, response.content_length, HEALTH_MAX_BODY
            )
    except aiohttp.ClientConnectorCertificateError:
        return HealthCheck(HealthStatus.BAD_CERTIFICATE)
    except TimeoutError, aiohttp.ClientError:
        return HealthCheck(HealthStatus.UNREACHABLE)
    if body is None:
        return HealthCheck(HealthStatus.BAD_RESPONSE)
    try:
        payload = json.loads(body)
    except RecursionError, ValueError:
        return HealthCheck(HealthStatus.ALIVE)
    version = payload.get("version") if isinstance(payload, dict) else None
    return HealthCheck(HealthStatus.ALIVE, None if version is None else str(version))


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
        # Entries made before this option existed verify.
        self._session = async_get_clientsession(
            hass, verify_ssl=entry.data.get(CONF_VERIFY_SSL, True)
        )
        self._url = health_url(dict(entry.data))
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
        # Second signal for the decision (the NAS plug's power draw); until a
        # source is attached it knows nothing and the heartbeat decides alone.
        self.power_hint: Callable[[], PowerHint] = lambda: PowerHint.UNKNOWN

    async def async_load(self) -> None:
        """Restore the lifecycle persisted before the last restart.

        It is shown until the first probe, which setup does not wait for.
        """
        stored = await self._store.async_load() or {}
        self.lifecycle = NasLifecycle.from_dict(stored.get("lifecycle"))
        self.version = stored.get("version")
        self.update_interval = timedelta(seconds=self._interval_for_state())
        self.data = self._status()

    @override
    async def _async_update_data(self) -> NasStatus:
        """Probe the NAS once and apply the heartbeat policy's verdict."""
        started = dt_util.utcnow()
        alive, version = await self._async_probe()
        async with self._lock:
            since = self.lifecycle.since
            if since is not None and started < since:
                # A handshake or Wake-on-LAN changed the state while this probe
                # was in flight; the newer signal wins.
                return self._status()
            now = dt_util.utcnow()
            if alive:
                self.last_seen = now
                self.version = version or self.version
            verdict = self.policy.on_probe(
                self.lifecycle.state,
                alive=alive,
                seconds_in_state=(now - since).total_seconds() if since else 0.0,
                power=self.power_hint(),
            )
            unresponsive = verdict.unresponsive
            if unresponsive is not None and unresponsive is not self._unresponsive:
                # Only on a change: this runs on every heartbeat.
                self._unresponsive = unresponsive
                self._set_issue(ISSUE_NAS_UNRESPONSIVE, active=unresponsive)
            if verdict.target is not None and verdict.reason is not None:
                await self._async_apply(verdict.target, verdict.reason, now)
            self.update_interval = timedelta(seconds=verdict.next_poll)
        return self._status()

    async def _async_probe(self) -> tuple[bool, str | None]:
        """Return whether the NAS answered its health check, and its version."""
        health = await async_check_health(
            self._session, self._url, self.settings.timeout
        )
        # Only an answer tells about the certificate; silence keeps the issue
        # as it is (raised, or cleared, or as it survived a reload).
        if health.status is not HealthStatus.UNREACHABLE:
            bad_certificate = health.status is HealthStatus.BAD_CERTIFICATE
            if bad_certificate is not self._bad_certificate:
                self._bad_certificate = bad_certificate
                self._set_issue(ISSUE_NAS_CERTIFICATE, active=bad_certificate)
        return health.status is HealthStatus.ALIVE, health.version

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

    async def async_wake(self) -> None:
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
            case NasState.OFFLINE:
                return self.settings.offline_interval
            case NasState.BOOTING | NasState.SHUTTING_DOWN | NasState.UNKNOWN:
                return self.settings.fast_interval
            case _:
                return self.settings.interval

    def _status(self) -> NasStatus:
        """Return the current status for the entities."""
        lifecycle = self.lifecycle
        return NasStatus(
            lifecycle.state, lifecycle.since, lifecycle.reason, self.version
        )
