"""Keeps the NAS's DNS name on the Pi-hole pointing where the NAS is.

Desired-state reconciliation: the wanted address is persisted, and every
refresh makes the Pi-hole match it (delete records of the name that point
elsewhere, add the wanted one, read back). When the Pi-hole is down or refuses,
refreshes come again with backoff until the record holds, also after a restart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
import logging
from typing import Any, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_IP_ADDRESS, CONF_URL
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import (
    CONF_HOSTNAME,
    CONF_PI_IP,
    DOMAIN,
    ISSUE_PIHOLE_AUTH,
    ISSUE_PIHOLE_READ_ONLY,
    ISSUE_PIHOLE_SEATS,
    ISSUE_PIHOLE_UNREACHABLE,
    STORAGE_VERSION,
)
from .data import BalupiConfigEntry, DnsTarget
from .issues import async_set_issue
from .nas_state import NasState, Reason, Transition
from .pihole import (
    PiholeAuthError,
    PiholeClient,
    PiholeConnectionError,
    PiholeError,
    PiholeForbiddenError,
    PiholeRateLimitedError,
    PiholeSeatsExceededError,
)

_LOGGER = logging.getLogger(__name__)

IN_SYNC_INTERVAL = timedelta(minutes=5)
RETRY_FIRST = 2.0
RETRY_MAX = 60.0
# A rejected password is not retried on a timer: it only feeds Pi-hole's login
# rate limit. Reauthentication reloads the entry with the new one.
RETRY_AFTER_AUTH_ERROR = 3600.0
# An outage shorter than this (a Pi-hole restart or update) raises no repair.
UNREACHABLE_GRACE = timedelta(minutes=3)

PROBLEM_ISSUES = {
    PiholeAuthError: ISSUE_PIHOLE_AUTH,
    PiholeForbiddenError: ISSUE_PIHOLE_READ_ONLY,
    PiholeSeatsExceededError: ISSUE_PIHOLE_SEATS,
}


class DnsShown(StrEnum):
    """Where the name points, as read from the Pi-hole."""

    NAS = "nas"
    PI = "pi"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DnsStatus:
    """What the DNS entities show."""

    wanted_ip: str | None
    shown: DnsShown
    in_sync: bool
    last_switch: datetime | None
    error: str | None = None


def dns_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Return the store that keeps the wanted DNS target across restarts."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.dns", atomic_writes=True)


class DnsCoordinator(DataUpdateCoordinator[DnsStatus]):
    """Reconcile the managed record; implements the handshake's DNS switcher."""

    config_entry: BalupiConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: BalupiConfigEntry,
        client: PiholeClient,
        subentry: ConfigSubentry,
    ) -> None:
        """Manage one hostname on one Pi-hole."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} dns",
            update_interval=IN_SYNC_INTERVAL,
            always_update=False,
        )
        settings = subentry.data
        self.subentry_id = subentry.subentry_id
        self.client = client
        self.pihole_url: str = settings[CONF_URL]
        self.hostname: str = settings[CONF_HOSTNAME]
        self.pi_ip: str = settings[CONF_PI_IP]
        self.nas_ip: str = entry.data[CONF_IP_ADDRESS]
        self._store = dns_store(hass, entry.entry_id)
        self._wanted_ip: str | None = None
        self._last_switch: datetime | None = None
        self._retry = RETRY_FIRST
        self._unreachable_since: datetime | None = None
        self._lock = asyncio.Lock()

    async def async_load(self) -> None:
        """Restore the wanted target; without one, follow the NAS's state."""
        stored = await self._store.async_load() or {}
        self._wanted_ip = stored.get("wanted_ip")
        if last := stored.get("last_switch"):
            self._last_switch = datetime.fromisoformat(last)
        if self._wanted_ip is None:
            state = self.config_entry.runtime_data.coordinator.lifecycle.state
            if state is NasState.ONLINE:
                self._wanted_ip = self.nas_ip
            elif state is NasState.OFFLINE:
                self._wanted_ip = self.pi_ip

    def target_ip(self, target: DnsTarget | str) -> str:
        """Return the address for nas, pi or an explicit IP."""
        if target == DnsTarget.NAS:
            return self.nas_ip
        if target == DnsTarget.PI:
            return self.pi_ip
        return str(target)

    async def async_point_to(self, target: DnsTarget | str) -> bool:
        """Want the name to point at a target; return whether it is confirmed."""
        ip = self.target_ip(target)
        if ip != self._wanted_ip:
            self._wanted_ip = ip
            self._last_switch = dt_util.utcnow()
            await self._store.async_save(
                {"wanted_ip": ip, "last_switch": self._last_switch.isoformat()}
            )
        self._retry = RETRY_FIRST
        await self.async_refresh()
        return self.data.in_sync

    @callback
    def async_on_nas_transition(self, transition: Transition) -> None:
        """Follow the NAS: online means its own address, offline the Pi's.

        The handshake views switch DNS themselves (with their own timing), so
        only the transitions the heartbeat finds are followed here.
        """
        if transition.reason is Reason.HANDSHAKE:
            return
        targets = {NasState.ONLINE: DnsTarget.NAS, NasState.OFFLINE: DnsTarget.PI}
        if (target := targets.get(transition.to_state)) is None:
            return
        self.config_entry.async_create_background_task(
            self.hass, self.async_point_to(target), f"{DOMAIN} dns {target}"
        )

    @override
    async def _async_update_data(self) -> DnsStatus:
        """Make the Pi-hole match the wanted target, or say why it could not."""
        async with self._lock:
            try:
                status = await self._async_reconcile()
            except PiholeError as err:
                status = self._failed(err)
            else:
                self._unreachable_since = None
                self._retry = RETRY_FIRST
                self._set_problem(None)
        self.update_interval = (
            IN_SYNC_INTERVAL if status.in_sync else timedelta(seconds=self._retry)
        )
        return status

    async def _async_reconcile(self) -> DnsStatus:
        wanted = self._wanted_ip
        if wanted is None:
            records = await self.client.records()
            return self._status(records, in_sync=True)
        confirmed = await self.client.ensure_record(self.hostname, wanted)
        records = await self.client.records()
        return self._status(records, in_sync=confirmed)

    def _status(self, records: list[tuple[str, str]], *, in_sync: bool) -> DnsStatus:
        ips = {ip for ip, name in records if name.lower() == self.hostname.lower()}
        if not ips:
            shown = DnsShown.UNKNOWN
        elif ips == {self.nas_ip}:
            shown = DnsShown.NAS
        elif ips == {self.pi_ip}:
            shown = DnsShown.PI
        else:
            shown = DnsShown.OTHER
        return DnsStatus(self._wanted_ip, shown, in_sync, self._last_switch)

    def _failed(self, err: PiholeError) -> DnsStatus:
        """Keep what is known, schedule the retry and raise the right repair."""
        previous = self.data or DnsStatus(
            self._wanted_ip, DnsShown.UNKNOWN, in_sync=False, last_switch=None
        )
        if isinstance(err, PiholeAuthError):
            self._retry = RETRY_AFTER_AUTH_ERROR
            self.config_entry.async_start_reauth(self.hass)
        else:
            self._retry = min(self._retry * 2, RETRY_MAX)
        problem = next(
            (key for kind, key in PROBLEM_ISSUES.items() if isinstance(err, kind)),
            None,
        )
        if isinstance(err, PiholeConnectionError | PiholeRateLimitedError):
            now = dt_util.utcnow()
            self._unreachable_since = self._unreachable_since or now
            if now - self._unreachable_since >= UNREACHABLE_GRACE:
                problem = ISSUE_PIHOLE_UNREACHABLE
        self._set_problem(problem, str(err))
        _LOGGER.debug("Pi-hole not in sync, retry in %s s: %s", self._retry, err)
        return replace(
            previous,
            wanted_ip=self._wanted_ip,
            in_sync=False,
            last_switch=self._last_switch,
            error=type(err).__name__,
        )

    def _set_problem(self, problem: str | None, error: str = "") -> None:
        """Show exactly one Pi-hole repair issue (or none)."""
        placeholders = {
            "url": self.pihole_url,
            "hostname": self.hostname,
            "error": error,
        }
        for key in (*PROBLEM_ISSUES.values(), ISSUE_PIHOLE_UNREACHABLE):
            async_set_issue(
                self.hass,
                self.config_entry,
                key,
                placeholders if key == problem else None,
                severity=ir.IssueSeverity.ERROR,
            )
