"""Async client for the Pi-hole v6 REST API: local DNS records and nothing else.

Free of Home Assistant on purpose (only aiohttp and the standard library), so it
can be tested against a real pihole-FTL and reused outside the integration.

Sessions are precious on a Pi-hole: FTL has 16 API seats shared by every client
(the web UI included), each login costs it a deliberately slow password hash,
and more than three wrong passwords within one second rate-limit logins for
everybody. So the client logs in once, lazily, reuses that session for its
whole lifetime and logs out on ``close()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
from http import HTTPStatus
import ipaddress
import json
import re
import time
from typing import Any, Final, NoReturn
from urllib.parse import quote

import aiohttp

from .payload import dig

AUTH_PATH: Final = "/auth"
HOSTS_PATH: Final = "/config/dns/hosts"
SID_HEADER: Final = "X-FTL-SID"

# Log in again this long before the session would expire on the server (at most
# a tenth of its validity, for servers configured with very short sessions).
RENEW_MARGIN: Final = 60.0

# After a rejected login, fail fast without asking FTL again for this long.
AUTH_HOLD_OFF: Final = 60.0

# FTL's answer to a PUT of a record that is already stored verbatim.
ALREADY_PRESENT: Final = "Item already present"

# A reply larger than this is refused before it is held whole: the host list of
# a big Pi-hole is a few hundred kB, so more is not a Pi-hole answering.
MAX_REPLY_BYTES: Final = 1024 * 1024

# How much of Pi-hole's own text an exception message quotes: enough to tell
# "password incorrect" from "API seats exceeded", not a page of it in the log.
QUOTE_LIMIT: Final = 160

# What FTL accepts as a host name in dns.hosts (letters, digits, '-', '_', '.');
# anything else would either be rejected or, worse, split into several names.
_HOSTNAME: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")


class PiholeError(Exception):
    """Base class for everything this client raises about the Pi-hole.

    ``reason`` says what failed in this client's own words (at most with an
    HTTP status), for what people read, such as a repair issue. The message
    adds a short, one-line quote of the Pi-hole's text for the log: whoever
    answers at the Pi-hole's address chooses that text.
    """

    def __init__(self, reason: str, *, what: str = "", quote: str = "") -> None:
        """Describe a failure of ``what`` (e.g. ``GET /info/version``)."""
        self.reason = reason
        message = f"{what}: {reason}" if what else reason
        if quoted := _excerpt(quote):
            message += f" ({quoted})"
        super().__init__(message)


class PiholeConnectionError(PiholeError):
    """Pi-hole unreachable, too slow, failing (5xx) or not talking its API."""


class PiholeAuthError(PiholeError):
    """Pi-hole rejected the password (not sent again for AUTH_HOLD_OFF s)."""


class PiholeForbiddenError(PiholeError):
    """A write was refused: app password without ``webserver.api.app_sudo``."""


class PiholeSeatsExceededError(PiholeError):
    """All API seats (``webserver.api.max_sessions``) are taken by other logins."""


class PiholeRateLimitedError(PiholeError):
    """FTL is rate-limiting logins (someone sent wrong passwords)."""


@dataclass(frozen=True, slots=True)
class _Reply:
    """One HTTP answer from FTL: its status and its JSON body ({} when empty)."""

    status: int
    body: dict[str, Any]

    @property
    def error_key(self) -> str | None:
        """Return FTL's machine-readable error key, if the body carries one."""
        key = dig(self.body, "error", "key")
        return key if isinstance(key, str) else None

    @property
    def message(self) -> str:
        """Return FTL's human-readable error (or session) message, shortened."""
        for path in (("error", "message"), ("session", "message")):
            text = dig(self.body, *path)
            if isinstance(text, str):
                return _excerpt(text)
        return HTTPStatus(self.status).phrase if self.status in HTTPStatus else ""


@dataclass(frozen=True, slots=True)
class _HostEntry:
    """One dns.hosts entry as FTL stores it: ``"IP NAME [NAME...]"``."""

    raw: str
    ip: str
    names: tuple[str, ...]

    @classmethod
    def parse(cls, raw: str) -> _HostEntry | None:
        """Split an entry; None for anything that is not ``IP NAME...``."""
        match raw.split():
            case [ip, *names] if names:
                return cls(raw, ip, tuple(names))
            case _:
                return None

    def has_name(self, name: str) -> bool:
        """Return whether the entry serves ``name`` (DNS names ignore case)."""
        return any(_same_name(own, name) for own in self.names)

    def without(self, name: str) -> tuple[str, ...]:
        """Return the entry's other names, those that must survive a removal."""
        return tuple(own for own in self.names if not _same_name(own, name))


def _excerpt(text: str) -> str:
    """Return foreign text as one short printable line.

    Control and format characters (newlines, terminal escapes, bidi overrides)
    would let the text forge or hide log lines; they become spaces.
    """
    head = text[: QUOTE_LIMIT * 2]  # never walk a huge text
    plain = " ".join(
        "".join(char if char.isprintable() else " " for char in head).split()
    )
    if len(plain) > QUOTE_LIMIT or len(text) > len(head):
        return plain[: QUOTE_LIMIT - 1].rstrip() + "…"
    return plain


def _same_name(one: str, other: str) -> bool:
    """Compare host names the way DNS does (case-insensitively)."""
    return one.casefold() == other.casefold()


def _same_ip(one: str, other: str) -> bool:
    """Compare addresses by value, so ``2001:db8::1`` equals ``2001:DB8:0::1``."""
    try:
        return ipaddress.ip_address(one) == ipaddress.ip_address(other)
    except ValueError:
        return one == other


def _entry_path(entry: str) -> str:
    """Return the API path of one dns.hosts entry (space as %20, ':' encoded)."""
    return f"{HOSTS_PATH}/{quote(entry, safe='')}"


def _record_entry(ip: str, name: str) -> str:
    """Return the entry for one record, refusing what FTL would misread."""
    ipaddress.ip_address(ip)  # raises ValueError with a useful message
    if not _HOSTNAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid host name")
    return f"{ip} {name}"


def _parse_body(raw: bytes, what: str) -> dict[str, Any]:
    """Decode FTL's JSON body; anything else means this is not a Pi-hole API."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise PiholeConnectionError("answer is not JSON", what=what) from err
    except RecursionError as err:
        raise PiholeConnectionError("answer nested too deeply", what=what) from err
    if not isinstance(body, dict):
        raise PiholeConnectionError("answer is not a JSON object", what=what)
    return body


async def _read_capped(response: aiohttp.ClientResponse, what: str) -> bytes:
    """Read a reply whole, refusing one larger than MAX_REPLY_BYTES early.

    A declared length says so before anything is read; otherwise reading
    stops at the first chunk past the limit (the connection is then closed).
    """
    too_large = PiholeConnectionError(
        f"answer larger than {MAX_REPLY_BYTES} bytes", what=what
    )
    if (response.content_length or 0) > MAX_REPLY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > MAX_REPLY_BYTES:
            raise too_large
    return bytes(body)


def _raise_for(reply: _Reply, what: str) -> NoReturn:
    """Raise the exception that matches an unwanted answer."""
    reason = f"HTTP {reply.status}"
    quote = reply.message
    if isinstance(hint := dig(reply.body, "error", "hint"), str):
        quote += f" ({_excerpt(hint)})"
    if reply.status == HTTPStatus.FORBIDDEN:
        raise PiholeForbiddenError(reason, what=what, quote=quote)
    if reply.status == HTTPStatus.TOO_MANY_REQUESTS:
        if reply.error_key == "api_seats_exceeded":
            raise PiholeSeatsExceededError(reason, what=what, quote=quote)
        if reply.error_key == "rate_limiting":
            raise PiholeRateLimitedError(reason, what=what, quote=quote)
    raise PiholeError(reason, what=what, quote=quote)


class PiholeClient:
    """One long-lived, lazily opened API session to one Pi-hole v6."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        password: str,
        *,
        verify_tls: bool = True,
        timeout: float = 10.0,
    ) -> None:
        """Prepare a client for ``url`` (e.g. ``http://pi.hole``); no I/O yet."""
        self._http = session
        self._api = url.rstrip("/") + "/api"
        self._password = password
        self._verify_tls = verify_tls
        self._timeout = timeout
        # Guards the session ID: concurrent calls wait for one login instead of
        # each opening a session (and taking a seat) of their own.
        self._auth_lock = asyncio.Lock()
        # Keeps two reconciliations from interleaving their read-modify-write.
        self._records_lock = asyncio.Lock()
        self._sid: str | None = None
        self._validity = 0.0
        self._renew_at = 0.0
        # A rejected password is remembered: for AUTH_HOLD_OFF seconds every
        # call fails at once without sending it again. Each wrong try counts
        # towards FTL's global login rate limit (more than three a second locks
        # out every client, the web UI included), so a burst of calls must not
        # become a burst of logins. Not forever, though: FTL v6.4.1 also answers
        # a *correct* app password with 401 "password incorrect" when other
        # logins used up the second's budget (verify_login() counts the failed
        # check against the web password, then the rate-limited app check reads
        # as incorrect), and a password fixed on the Pi-hole should be picked
        # up without a restart.
        self._rejected: str | None = None
        self._rejected_until = 0.0
        # Monotonic on purpose (wall-clock jumps must not expire a session);
        # tests replace it to age the session without waiting.
        self._clock: Callable[[], float] = time.monotonic

    async def close(self) -> None:
        """Log out (freeing the seat) and forget the session; safe to repeat."""
        async with self._auth_lock:
            sid, self._sid = self._sid, None
            if sid is not None:
                await self._logout(sid)

    async def version(self) -> str:
        """Return FTL's version, e.g. ``v6.4.1``."""
        reply = await self._call("GET", "/info/version")
        # {"version": {"core": ..., "web": ..., "ftl": {"local": {"version":
        # "v6.4.1", "branch": ..., "date": ..., "hash": ...}, "remote": ...}}};
        # core and web are "N/A" where only FTL is installed, so FTL it is.
        version = dig(reply.body, "version", "ftl", "local", "version")
        if not isinstance(version, str) or not version:
            raise PiholeConnectionError(
                "no FTL version in answer", what="GET /info/version"
            )
        return version

    async def records(self) -> list[tuple[str, str]]:
        """Return the local DNS records as (ip, name), one pair per name."""
        return [
            (entry.ip, name) for entry in await self._entries() for name in entry.names
        ]

    async def can_write(self) -> bool:
        """Return whether this login may change the Pi-hole's configuration.

        Only app-password sessions are read-only, and only while
        ``webserver.api.app_sudo`` is false. FTL v6 says both without any write:
        ``GET /api/auth/sessions`` flags each session with ``app`` (and ours with
        ``current_session``), and ``GET /api/config/webserver/api/app_sudo`` is
        readable by app sessions too. (A write probe would work as well, since
        FTL refuses an app session's DELETE with 403 before looking the item up,
        but reading is side-effect free and names the reason.) ``app_sudo`` can
        be switched at any time and applies at once, so nothing is cached.
        """
        sessions = dig((await self._call("GET", "/auth/sessions")).body, "sessions")
        ours = next(
            (
                entry
                for entry in sessions or ()
                if isinstance(entry, dict) and entry.get("current_session") is True
            ),
            None,
        )
        if ours is None:
            raise PiholeConnectionError(
                "our session is not listed", what="GET /auth/sessions"
            )
        if ours.get("app") is not True:
            return True
        reply = await self._call("GET", "/config/webserver/api/app_sudo")
        return dig(reply.body, "config", "webserver", "api", "app_sudo") is True

    async def ensure_record(self, name: str, ip: str) -> bool:
        """Make ``name`` resolve to ``ip`` only; True once the Pi-hole says so.

        ``ip name`` is added unless ``name`` already maps to ``ip``, and only
        then are records mapping ``name`` (in any case) to another address
        removed: in between DNS answers both addresses, never none (FTL answers
        a change within a few ms, so removing first gave clients NXDOMAIN).
        Other names sharing such an entry are kept by re-adding the entry
        without ``name`` first. Idempotent: a second call changes nothing.
        """
        wanted = _record_entry(ip, name)
        async with self._records_lock:
            entries = [entry for entry in await self._entries() if entry.has_name(name)]
            if not any(_same_ip(entry.ip, ip) for entry in entries):
                await self._put_entry(wanted)
            for entry in entries:
                if not _same_ip(entry.ip, ip):
                    await self._drop_name(entry, name)
            return self._only_maps_to(await self.records(), name, ip)

    async def remove_name(self, name: str) -> None:
        """Remove every record of ``name``, keeping other names of its entries."""
        async with self._records_lock:
            for entry in await self._entries():
                if entry.has_name(name):
                    await self._drop_name(entry, name)

    @staticmethod
    def _only_maps_to(records: list[tuple[str, str]], name: str, ip: str) -> bool:
        """Return whether ``name`` has records and all of them point to ``ip``."""
        ips = [own_ip for own_ip, own in records if _same_name(own, name)]
        return bool(ips) and all(_same_ip(own_ip, ip) for own_ip in ips)

    async def _drop_name(self, entry: _HostEntry, name: str) -> None:
        """Remove ``name`` from one entry, keeping the entry's other names."""
        if others := entry.without(name):
            # Add the remainder before deleting, so a failure in between
            # leaves a duplicate rather than losing someone else's record.
            await self._put_entry(" ".join((entry.ip, *others)))
        await self._delete_entry(entry.raw)

    async def _entries(self) -> list[_HostEntry]:
        """Return the parsed dns.hosts entries (malformed ones skipped)."""
        reply = await self._call("GET", HOSTS_PATH)
        hosts = dig(reply.body, "config", "dns", "hosts")
        if not isinstance(hosts, list):
            raise PiholeConnectionError(
                "no host list in answer", what=f"GET {HOSTS_PATH}"
            )
        parsed = (_HostEntry.parse(raw) for raw in hosts if isinstance(raw, str))
        return [entry for entry in parsed if entry is not None]

    async def _put_entry(self, entry: str) -> None:
        """Store one entry verbatim (FTL compares entries as exact strings)."""
        path = _entry_path(entry)
        reply = await self._call("PUT", path)
        if reply.status in (HTTPStatus.OK, HTTPStatus.CREATED):
            return
        if reply.status == HTTPStatus.BAD_REQUEST and reply.message == ALREADY_PRESENT:
            return
        _raise_for(reply, f"PUT {HOSTS_PATH}")

    async def _delete_entry(self, entry: str) -> None:
        """Delete one entry by its exact stored text; missing counts as done."""
        reply = await self._call("DELETE", _entry_path(entry))
        if reply.status not in (
            HTTPStatus.OK,
            HTTPStatus.NO_CONTENT,
            HTTPStatus.NOT_FOUND,
        ):
            _raise_for(reply, f"DELETE {HOSTS_PATH}")

    async def _call(self, method: str, path: str) -> _Reply:
        """Send one authenticated request; re-login once if the session died.

        A GET must answer 200; other methods return their reply for the
        caller to judge. A 401 on a session we already held means FTL dropped
        it (timeout, restart with lost state, app password activated, ...): log
        in again once and retry once. A 401 on a session opened for this very
        call is not retried, so one call never logs in twice.
        """
        sid, fresh = await self._session_id()
        started = self._clock()
        reply = await self._send(method, path, sid=sid)
        if reply.status == HTTPStatus.UNAUTHORIZED and not fresh:
            sid, fresh = await self._session_id(stale=sid)
            started = self._clock()
            reply = await self._send(method, path, sid=sid)
        if reply.status == HTTPStatus.UNAUTHORIZED:
            if sid == self._sid:
                self._sid = None  # useless; the next call starts afresh
            raise PiholeError(
                "new session refused", what=f"{method} {path}", quote=reply.message
            )
        self._touch(sid, started)
        if method == "GET" and reply.status != HTTPStatus.OK:
            _raise_for(reply, f"GET {path}")
        return reply

    def _touch(self, sid: str, started: float) -> None:
        """Move the local expiry on: FTL renews a session's validity on use."""
        if sid == self._sid:
            margin = min(RENEW_MARGIN, self._validity / 10)
            self._renew_at = started + self._validity - margin

    async def _session_id(self, stale: str | None = None) -> tuple[str, bool]:
        """Return a usable session ID and whether it was opened just now.

        ``stale`` is a session ID the server refused; unless another call has
        already replaced it, it is dropped (no logout: FTL forgot it).
        """
        async with self._auth_lock:
            if stale is not None and stale == self._sid:
                self._sid = None
            if self._sid is not None:
                if self._clock() < self._renew_at:
                    return self._sid, False
                # About to expire: free its seat before taking a new one.
                await self._logout(self._sid)
                self._sid = None
            return await self._login(), True

    async def _login(self) -> str:
        """Open a session with the password (auth lock held by the caller)."""
        started = self._clock()
        if self._rejected is not None and started < self._rejected_until:
            raise PiholeAuthError(
                "password rejected, not retried yet", what="login", quote=self._rejected
            )
        reply = await self._send(
            "POST", AUTH_PATH, payload={"password": self._password}
        )
        if reply.status == HTTPStatus.UNAUTHORIZED:
            # "password incorrect", or a 2FA code required: not ours to retry.
            self._rejected = reply.message
            self._rejected_until = started + AUTH_HOLD_OFF
            raise PiholeAuthError(
                "password rejected", what="login", quote=reply.message
            )
        if reply.status != HTTPStatus.OK:
            _raise_for(reply, "login")
        sid = dig(reply.body, "session", "sid")
        validity = dig(reply.body, "session", "validity")
        if not isinstance(sid, str) or not sid or not isinstance(validity, int):
            raise PiholeConnectionError(
                "no session in answer", what="login", quote=reply.message
            )
        self._sid, self._validity = sid, float(validity)
        self._rejected = None
        self._touch(sid, started)
        return sid

    async def _logout(self, sid: str) -> None:
        """End a session on the server; best effort (it may be gone already)."""
        with contextlib.suppress(PiholeError):
            await self._send("DELETE", AUTH_PATH, sid=sid)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        sid: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> _Reply:
        """Send one HTTP request; network trouble and 5xx become connection errors."""
        what = f"{method} {path}"
        headers = {SID_HEADER: sid} if sid is not None else {}
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._http.request(
                    method,
                    self._api + path,
                    headers=headers,
                    json=payload,
                    ssl=self._verify_tls,
                    allow_redirects=False,
                ) as response,
            ):
                status = response.status
                if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                    raise PiholeConnectionError(f"HTTP {status}", what=what)
                raw = await _read_capped(response, what)
        except TimeoutError as err:
            raise PiholeConnectionError(
                f"no answer within {self._timeout:g} s", what=what
            ) from err
        except aiohttp.ClientError as err:
            # The class names the kind (refused, TLS, reset); its text can
            # carry whatever the server sent, so it is only quoted.
            raise PiholeConnectionError(
                f"connection failed ({type(err).__name__})", what=what, quote=str(err)
            ) from err
        return _Reply(status, _parse_body(raw, what))
