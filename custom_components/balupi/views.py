"""HTTP views the BaluHost NAS talks to (paths and replies as the NAS expects them).

Rejections are returned, never raised: a raised 401 would feed Home Assistant's
failed-login notifications and IP bans, and a misconfigured NAS is not an
attacker. Nothing changes before a call is fully verified.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from http import HTTPStatus
import logging
import socket
import time
from typing import Any

from aiohttp import web

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.loader import async_get_integration

from .const import (
    CONF_SECRET,
    DNS_REPLY_BUDGET,
    DOMAIN,
    EVENT_NAS_COMING_ONLINE,
    EVENT_NAS_GOING_OFFLINE,
    MAX_LOGGED_REJECTIONS,
)
from .coordinator import DATA_REPLAY_GUARD, BalupiConfigEntry
from .coordinator.dns import DnsTarget
from .handshake import (
    MAX_BODY,
    HandshakeRejectedError,
    Rejection,
    ReplayGuard,
    SignedCall,
    parse_json,
    verify,
)
from .nas_state import NasState, Reason

_LOGGER = logging.getLogger(__name__)

PATH_GOING_OFFLINE = "/api/handshake/nas-going-offline"
PATH_COMING_ONLINE = "/api/handshake/nas-coming-online"

type JsonDict = dict[str, Any]


@callback
def async_register_views(hass: HomeAssistant) -> None:
    """Register the views once; each request looks up the loaded entries."""
    hass.data[DATA_REPLAY_GUARD] = ReplayGuard()
    for view in (
        GoingOfflineView(),
        ComingOnlineView(),
        HealthView(),
        StatusView(),
        SnapshotView(),
    ):
        hass.http.register_view(view)


def _loaded_entries(hass: HomeAssistant) -> list[BalupiConfigEntry]:
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]


def _not_ready() -> web.Response:
    return web.json_response(
        {
            "acknowledged": False,
            "error": "not_ready",
            "message": "BaluPi is not set up or not loaded in Home Assistant",
        },
        status=HTTPStatus.SERVICE_UNAVAILABLE,
    )


async def _read_capped(request: web.Request) -> bytes:
    """Read the body, refusing anything over the cap before holding it all."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise HandshakeRejectedError(Rejection.BODY_TOO_LARGE)
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > MAX_BODY:
            raise HandshakeRejectedError(Rejection.BODY_TOO_LARGE)
    return bytes(body)


class _RejectionLog:
    """Log each kind of rejection once per remote address until a call succeeds.

    The senders are not authenticated, and an IPv6 sender has addresses without
    end: only the most recent ones are remembered. Once that many are, newcomers
    are a flood and go to the debug log, after one warning that says so.
    """

    def __init__(self) -> None:
        self._logged: OrderedDict[tuple[str | None, Rejection], None] = OrderedDict()

    def rejected(self, request: web.Request, err: HandshakeRejectedError) -> None:
        key = (request.remote, err.rejection)
        level = logging.WARNING
        if key in self._logged:
            self._logged.move_to_end(key)
            level = logging.DEBUG
        elif len(self._logged) < MAX_LOGGED_REJECTIONS:
            self._logged[key] = None
            if len(self._logged) == MAX_LOGGED_REJECTIONS:
                _LOGGER.warning(
                    "Refused handshakes from %s senders and reasons; further "
                    "ones are logged at debug level",
                    MAX_LOGGED_REJECTIONS,
                )
        else:
            self._logged.popitem(last=False)
            self._logged[key] = None
            level = logging.DEBUG
        _LOGGER.log(
            level,
            "Refused handshake %s from %s: %s",
            request.path,
            request.remote,
            err,
        )

    def accepted(self, request: web.Request) -> None:
        for key in [key for key in self._logged if key[0] == request.remote]:
            del self._logged[key]


class _SignedView(HomeAssistantView):
    """A POST the NAS signs with the shared secret of one BaluPi entry."""

    requires_auth = False
    path: str
    event: str

    def __init__(self) -> None:
        """Start with nothing logged."""
        self._log = _RejectionLog()

    async def post(self, request: web.Request) -> web.Response:
        """Verify the call, then let the step handle it."""
        hass = request.app[KEY_HASS]
        entries = _loaded_entries(hass)
        if not entries:
            return _not_ready()
        try:
            body = await _read_capped(request)
            entry, call = self._verify(entries, request, body)
            payload = self._payload(call)
            hass.data[DATA_REPLAY_GUARD].check_and_remember(
                call.signature, call.timestamp, time.time()
            )
        except HandshakeRejectedError as err:
            self._log.rejected(request, err)
            return web.json_response(
                {
                    "acknowledged": False,
                    "error": err.rejection.value,
                    "message": str(err),
                },
                status=err.status,
            )
        self._log.accepted(request)
        reply = await self._handle(hass, entry, call, payload)
        hass.bus.async_fire(self.event, {"config_entry_id": entry.entry_id})
        return web.json_response(reply)

    def _verify(
        self, entries: list[BalupiConfigEntry], request: web.Request, body: bytes
    ) -> tuple[BalupiConfigEntry, SignedCall]:
        """Find the entry whose secret signed the call (one NAS per entry)."""
        headers = request.headers
        now = time.time()
        *others, last = entries
        for entry in others:
            try:
                return entry, self._verify_one(entry, headers, body, now)
            except HandshakeRejectedError:
                continue
        return last, self._verify_one(last, headers, body, now)

    def _verify_one(
        self,
        entry: BalupiConfigEntry,
        headers: Mapping[str, str],
        body: bytes,
        now: float,
    ) -> SignedCall:
        return verify(
            entry.data[CONF_SECRET],
            method="POST",
            path=self.path,
            headers=headers,
            body=body,
            now=now,
        )

    def _payload(self, call: SignedCall) -> JsonDict:
        """Return the call's JSON object (nothing for calls without a body)."""
        return {}

    async def _handle(
        self,
        hass: HomeAssistant,
        entry: BalupiConfigEntry,
        call: SignedCall,
        payload: JsonDict,
    ) -> JsonDict:
        """Act on a verified call and return the reply."""
        raise NotImplementedError


class GoingOfflineView(_SignedView):
    """The NAS is stopping: keep its snapshot, mark it offline, point DNS at the Pi."""

    url = path = PATH_GOING_OFFLINE
    name = "api:balupi:nas-going-offline"
    event = EVENT_NAS_GOING_OFFLINE

    def _payload(self, call: SignedCall) -> JsonDict:
        payload = parse_json(call.body)
        if not isinstance(payload, dict):
            raise HandshakeRejectedError(Rejection.BAD_BODY)
        return payload

    async def _handle(
        self,
        hass: HomeAssistant,
        entry: BalupiConfigEntry,
        call: SignedCall,
        payload: JsonDict,
    ) -> JsonDict:
        runtime = entry.runtime_data
        async with runtime.handshake_lock:
            snapshot = await runtime.snapshots.async_receive(call.body, payload)
            runtime.nas.version = snapshot.baluhost_version or runtime.nas.version
            await runtime.nas.async_going_offline()
            dns_switched = await _switch_dns_bounded(hass, entry, DnsTarget.PI)
        return {"acknowledged": True, "dns_switched": dns_switched}


class ComingOnlineView(_SignedView):
    """The NAS has started: online at once; DNS and inbox follow in the background."""

    url = path = PATH_COMING_ONLINE
    name = "api:balupi:nas-coming-online"
    event = EVENT_NAS_COMING_ONLINE

    async def _handle(
        self,
        hass: HomeAssistant,
        entry: BalupiConfigEntry,
        call: SignedCall,
        payload: JsonDict,
    ) -> JsonDict:
        runtime = entry.runtime_data
        async with runtime.handshake_lock:
            await runtime.nas.async_transition(NasState.ONLINE, Reason.HANDSHAKE)
        background: list[str] = []
        if runtime.dns is not None:
            entry.async_create_background_task(
                hass, runtime.dns.async_point_to(DnsTarget.NAS), f"{DOMAIN} dns"
            )
            background.append("dns")
        if runtime.inbox is not None:
            runtime.inbox.async_start_flush()
            background.append("inbox")
        return {
            "acknowledged": True,
            "dns_switched": False,
            "inbox_flushed": False,
            "files_transferred": 0,
            "background": background,
        }


async def _switch_dns_bounded(
    hass: HomeAssistant, entry: BalupiConfigEntry, target: DnsTarget
) -> bool:
    """Switch DNS within the reply budget; past it the switch goes on alone."""
    if (dns := entry.runtime_data.dns) is None:
        return False
    task = entry.async_create_background_task(
        hass, dns.async_point_to(target), f"{DOMAIN} dns"
    )
    try:
        return await asyncio.wait_for(asyncio.shield(task), DNS_REPLY_BUDGET)
    except TimeoutError:
        return False


class HealthView(HomeAssistantView):
    """``GET /api/health``: what the NAS's "Test connection" shows."""

    url = "/api/health"
    name = "api:balupi:health"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Say who answers."""
        hass = request.app[KEY_HASS]
        if not _loaded_entries(hass):
            return _not_ready()
        integration = await async_get_integration(hass, DOMAIN)
        return web.json_response(
            {
                "status": "ok",
                "service": "balupi",
                "version": str(integration.version),
                "hostname": socket.gethostname(),
            }
        )


class _EntryView(HomeAssistantView):
    """An authenticated GET about one entry: ``?entry_id=`` or the first loaded."""

    async def get(self, request: web.Request) -> web.Response:
        """Find the entry, then answer about it."""
        wanted = request.query.get("entry_id")
        for entry in _loaded_entries(request.app[KEY_HASS]):
            if wanted in (None, entry.entry_id):
                return self._answer(entry)
        return _not_ready()

    def _answer(self, entry: BalupiConfigEntry) -> web.Response:
        raise NotImplementedError


class StatusView(_EntryView):
    """``GET /api/handshake/status``: the NAS as BaluPi sees it."""

    url = "/api/handshake/status"
    name = "api:balupi:handshake-status"

    def _answer(self, entry: BalupiConfigEntry) -> web.Response:
        """Return state, since and the last snapshot's time."""
        coordinator = entry.runtime_data.nas
        snapshot = entry.runtime_data.snapshots.data
        since = coordinator.lifecycle.since
        return web.json_response(
            {
                "entry_id": entry.entry_id,
                "name": entry.title,
                "state": coordinator.lifecycle.state.value,
                "since": since.isoformat() if since else None,
                "last_snapshot": snapshot.received_at.isoformat() if snapshot else None,
            }
        )


class SnapshotView(_EntryView):
    """``GET /api/handshake/snapshot``: the stored snapshot as sent."""

    url = "/api/handshake/snapshot"
    name = "api:balupi:handshake-snapshot"

    def _answer(self, entry: BalupiConfigEntry) -> web.Response:
        """Return the exact bytes the NAS sent last."""
        snapshot = entry.runtime_data.snapshots.data
        if snapshot is None:
            return web.json_response(
                {"error": "no_snapshot", "message": "The NAS has not sent one yet"},
                status=HTTPStatus.NOT_FOUND,
            )
        return web.Response(body=snapshot.raw, content_type="application/json")
