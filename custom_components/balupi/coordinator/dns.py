"""Keeps the NAS's DNS name on the Pi-hole pointing where the NAS is.

Desired-state reconciliation: the wanted target (nas, pi or an address) is
persisted and resolved to an address on every refresh, which makes the Pi-hole
match it (add the wanted record, delete records of the name that point
elsewhere, read back). So a changed NAS or Pi address is followed, and a
changed name's old records are removed. When the Pi-hole is down or refuses,
refreshes come again with backoff until the record holds, also after a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
import logging
from typing import Any, Final, override

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import (
    CONF_IP_ADDRESS,
    CONF_PASSWORD,
    CONF_URL,
    CONF_VERIFY_SSL,
    EVENT_HOMEASSISTANT_STOP,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_HOSTNAME,
    CONF_PI_IP,
    DNS_STORAGE_MINOR_VERSION,
    DOMAIN,
    ISSUE_PIHOLE_AUTH,
    ISSUE_PIHOLE_READ_ONLY,
    ISSUE_PIHOLE_SEATS,
    ISSUE_PIHOLE_UNREACHABLE,
    STORAGE_VERSION,
    SUBENTRY_PIHOLE,
)
from ..issues import async_set_issue
from ..nas_state import NasState, Reason, Transition
from ..pihole import (
    PiholeAuthError,
    PiholeClient,
    PiholeConnectionError,
    PiholeError,
    PiholeForbiddenError,
    PiholeRateLimitedError,
    PiholeSeatsExceededError,
)
from .nas import NasCoordinator
from .store import STORE_DNS, entry_store, store_key

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


class DnsTarget(StrEnum):
    """Where the NAS's DNS name should point."""

    NAS = "nas"
    PI = "pi"


class DnsShown(StrEnum):
    """Where the name points, as read from the Pi-hole (None: no record)."""

    NAS = "nas"
    PI = "pi"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class DnsStatus:
    """What the DNS entities show."""

    target: str | None
    wanted_ip: str | None
    shown: DnsShown | None
    in_sync: bool
    last_switch: datetime | None
    error: str | None = None


class DnsStore(Store[dict[str, Any]]):
    """The wanted target and the name it was written for, across restarts.

    Version 1.1 kept the wanted address instead, which went stale when the
    NAS's or the Pi's address was changed; it is read as the target it was.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        targets: Mapping[str, DnsTarget] | None = None,
    ) -> None:
        """Open an entry's store; ``targets`` maps today's addresses to targets."""
        super().__init__(
            hass,
            STORAGE_VERSION,
            store_key(entry_id, STORE_DNS),
            minor_version=DNS_STORAGE_MINOR_VERSION,
            atomic_writes=True,
        )
        self._targets = targets or {}

    @override
    async def _async_migrate_func(
        self,
        old_major_version: int,
        old_minor_version: int,
        old_data: dict[str, Any],
    ) -> dict[str, Any]:
        """Turn a stored address (1.1) into nas, pi or that explicit address."""
        data = dict(old_data)
        if ip := data.pop("wanted_ip", None):
            data["target"] = self._targets.get(ip, ip)
        return data


async def async_remove_dns(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Forget a Pi-hole that was removed, or the entry it belonged to.

    Its repair issues and what was wanted of it go (a Pi-hole added later
    starts afresh); its entities and device go with its subentry. The record
    stays on the Pi-hole as it is, so the name keeps leading somewhere.
    """
    for key in (*PROBLEM_ISSUES.values(), ISSUE_PIHOLE_UNREACHABLE):
        async_set_issue(hass, entry, key, None)
    await entry_store(hass, entry.entry_id, STORE_DNS).async_remove()


def pihole_subentry(entry: ConfigEntry) -> ConfigSubentry | None:
    """Return the entry's Pi-hole settings, if any."""
    return next(
        (
            subentry
            for subentry in entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_PIHOLE
        ),
        None,
    )


PIHOLE_ERRORS: dict[type[PiholeError], str] = {
    PiholeAuthError: "invalid_auth",
    PiholeForbiddenError: "read_only",
    PiholeSeatsExceededError: "seats_exceeded",
    PiholeRateLimitedError: "rate_limited",
    PiholeConnectionError: "cannot_connect",
}


async def async_test_pihole(
    hass: HomeAssistant, data: dict[str, Any]
) -> dict[str, str]:
    """Log in, read the version and the records, check writes are allowed.

    The session is closed again at once: Pi-hole has only 16 seats for all
    its clients.
    """
    client = PiholeClient(
        async_get_clientsession(hass, verify_ssl=data[CONF_VERIFY_SSL]),
        data[CONF_URL],
        data[CONF_PASSWORD],
        verify_tls=data[CONF_VERIFY_SSL],
    )
    try:
        await client.version()
        await client.records()
        if not await client.can_write():
            return {"base": "read_only"}
    except PiholeError as err:
        return {"base": PIHOLE_ERRORS.get(type(err), "cannot_connect")}
    finally:
        await client.close()
    return {}


def _stored_target(value: str) -> DnsTarget | str:
    """Return nas or pi as such, an explicit address as it is."""
    return DnsTarget(value) if value in DnsTarget else value


# Where the NAS's name points in each state (others keep what it has).
DNS_TARGETS: Final[dict[NasState, DnsTarget]] = {
    NasState.ONLINE: DnsTarget.NAS,
    NasState.SLEEPING: DnsTarget.NAS,
    NasState.SUSPENDED: DnsTarget.PI,
    NasState.OFFLINE: DnsTarget.PI,
}


class DnsCoordinator(DataUpdateCoordinator[DnsStatus]):
    """Reconcile the managed record; implements the handshake's DNS switcher."""

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        client: PiholeClient,
        subentry: ConfigSubentry,
        nas: NasCoordinator,
    ) -> None:
        """Manage one hostname on one Pi-hole, following the NAS's state."""
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
        self._nas = nas
        self.pihole_url: str = settings[CONF_URL]
        self.hostname: str = settings[CONF_HOSTNAME]
        self.pi_ip: str = settings[CONF_PI_IP]
        self.nas_ip: str = entry.data[CONF_IP_ADDRESS]
        self._store = DnsStore(
            hass,
            entry.entry_id,
            {self.nas_ip: DnsTarget.NAS, self.pi_ip: DnsTarget.PI},
        )
        self._target: DnsTarget | str | None = None
        # The name whose records BaluPi wrote: when the configured one differs,
        # the old one's records are removed once the new one holds.
        self._written_name: str | None = None
        self._last_switch: datetime | None = None
        self._retry = RETRY_FIRST
        self._unreachable_since: datetime | None = None
        self._lock = asyncio.Lock()
        # Home Assistant does not unload its entries when it stops; without
        # this, every restart left a session holding one of Pi-hole's seats
        # (shared by all its clients) until it timed out 30 minutes later.
        entry.async_on_unload(
            hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, self._async_log_out)
        )

    async def _async_log_out(self, _event: Event) -> None:
        """Free the Pi-hole seat as Home Assistant stops.

        A reconciliation under way finishes first; none starts afterwards, as
        the coordinator shuts down on the same event (registered earlier).
        """
        async with self._lock:
            await self.client.close()

    async def async_load(self) -> None:
        """Restore the wanted target; without one, follow the NAS's state."""
        stored = await self._store.async_load() or {}
        if target := stored.get("target"):
            self._target = _stored_target(target)
            # Stores from before the name was kept: written for today's name.
            self._written_name = stored.get("hostname", self.hostname)
        if last := stored.get("last_switch"):
            self._last_switch = datetime.fromisoformat(last)
        if self._target is None:
            self._target = DNS_TARGETS.get(self._nas.lifecycle.state)

    @property
    def wanted_ip(self) -> str | None:
        """Return the address the name should have now, if anything is wanted."""
        return None if self._target is None else self.target_ip(self._target)

    def target_ip(self, target: DnsTarget | str) -> str:
        """Return the address for nas, pi or an explicit IP."""
        if target == DnsTarget.NAS:
            return self.nas_ip
        if target == DnsTarget.PI:
            return self.pi_ip
        return str(target)

    async def async_point_to(self, target: DnsTarget | str) -> bool:
        """Want the name to point at a target; return whether it is confirmed."""
        if target != self._target:
            self._target = target
            self._last_switch = dt_util.utcnow()
            await self._async_save()
        self._retry = RETRY_FIRST
        await self.async_refresh()
        return self.data.in_sync

    @callback
    def async_on_nas_transition(self, transition: Transition) -> None:
        """Follow the NAS: awake or soft asleep means its own address.

        A soft-sleeping NAS is reachable and any access wakes it, so its name
        keeps its address (wake on access); suspended or offline, the Pi
        answers for it.

        The handshake views switch DNS themselves (with their own timing), so
        only the transitions the heartbeat finds are followed here.
        """
        if transition.reason is Reason.HANDSHAKE:
            return
        if (target := DNS_TARGETS.get(transition.to_state)) is None:
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

    async def _async_save(self) -> None:
        """Persist the target and the name its records are written for."""
        self._written_name = self._written_name or self.hostname
        last_switch = self._last_switch.isoformat() if self._last_switch else None
        await self._store.async_save(
            {
                "target": self._target,
                "hostname": self._written_name,
                "last_switch": last_switch,
            }
        )

    async def _async_reconcile(self) -> DnsStatus:
        wanted = self.wanted_ip
        if wanted is None:
            records = await self.client.records()
            return self._status(records, in_sync=True)
        confirmed = await self.client.ensure_record(self.hostname, wanted)
        if self._written_name != self.hostname:
            # Only after the new name holds, so the NAS is always reachable
            # under one of them; a name that only changed case is the same.
            old = self._written_name
            if old is not None and old.casefold() != self.hostname.casefold():
                await self.client.remove_name(old)
            self._written_name = self.hostname
            await self._async_save()
        records = await self.client.records()
        return self._status(records, in_sync=confirmed)

    def _status(self, records: list[tuple[str, str]], *, in_sync: bool) -> DnsStatus:
        ips = {ip for ip, name in records if name.lower() == self.hostname.lower()}
        shown: DnsShown | None
        if not ips:
            shown = None
        elif ips == {self.nas_ip}:
            shown = DnsShown.NAS
        elif ips == {self.pi_ip}:
            shown = DnsShown.PI
        else:
            shown = DnsShown.OTHER
        return DnsStatus(
            self._target, self.wanted_ip, shown, in_sync, self._last_switch
        )

    def _failed(self, err: PiholeError) -> DnsStatus:
        """Keep what is known, schedule the retry and raise the right repair."""
        previous = self.data or DnsStatus(
            self._target, self.wanted_ip, None, in_sync=False, last_switch=None
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
        # The reason is the client's own words: Pi-hole's text never reaches
        # Repairs, where a link in it would look like advice from BaluPi.
        self._set_problem(problem, err.reason)
        _LOGGER.debug("Pi-hole not in sync, retry in %s s: %s", self._retry, err)
        return replace(
            previous,
            target=self._target,
            wanted_ip=self.wanted_ip,
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
