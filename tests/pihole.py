"""A real pihole-FTL for the Pi-hole client tests, and tools to look inside it.

The instance is the pihole-FTL v6.4.1 binary in ``../shared/pihole-ftl`` (beside
the checkout), started by its ``run`` script on free ports of 127.0.0.1. The test
module imports the fixtures from here (non-root conftests may not register
plugins, and tests/conftest.py is shared with the rest of the suite). Each fixture
function is named ``*_fixture`` and registered under the short name, so a test's
arguments do not shadow the imported functions (ruff F811).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import secrets
import signal
import socket
import struct
import subprocess
import threading
import time
from typing import IO, Any

import aiohttp
import pytest

from custom_components.balupi.pihole import PiholeClient, _record_entry

from .real_parts import missing_real_part

RUN = Path(__file__).parents[2] / "shared" / "pihole-ftl" / "run"
PASSWORD = "balupi-test-pw"
START_TIMEOUT = 30
STOP_TIMEOUT = 15
# Ports are picked free but may be taken before FTL binds them; try new ones.
START_ATTEMPTS = 3
DNS_TIMEOUT = 2.0
DNS_SETTLE = 1.0
# How often watch_dns() asks: well inside the 4-8 ms FTL takes to apply a change.
DNS_POLL_INTERVAL = 0.002


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_dns_port() -> int:
    """Return a port free for both TCP and UDP (FTL's DNS binds both)."""
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


@dataclass
class PiholeProcess:
    """One pihole-FTL started by ``run``; stop and start it again at will.

    ``dir`` is passed as ``--dir`` so configuration, local DNS records and even
    login sessions survive a restart, which reuses the same ports.
    """

    dir: Path
    app_sudo: bool = False
    password: str = PASSWORD
    web_port: int = field(default_factory=free_port)
    dns_port: int = field(default_factory=free_dns_port)
    _process: subprocess.Popen[str] | None = None
    _started_once: bool = False

    @property
    def url(self) -> str:
        """Return the base URL of the web server (and API)."""
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def stderr_path(self) -> Path:
        """Return where the run script's stderr goes (outside its --dir)."""
        return self.dir.with_name(self.dir.name + ".stderr")

    def start(self) -> None:
        """Start FTL and wait for its ``ready`` line."""
        for _ in range(START_ATTEMPTS):
            if self._launch():
                self._started_once = True
                return
            if self._started_once:
                break  # a restart must keep its ports; do not hide the error
            self.web_port, self.dns_port = free_port(), free_dns_port()
        raise RuntimeError(
            f"pihole-FTL did not start: {self.stderr_path.read_text().strip()}"
        )

    def stop(self) -> None:
        """SIGTERM the run script and wait until FTL has shut down.

        Only the script, not its process group: the script forwards one SIGTERM
        to FTL, and a group signal would hand FTL a second one. FTL v6.4.1's
        SIGTERM handler logs (glibc localtime); when the second signal lands
        while dnsmasq's main loop is logging "exiting on receipt of SIGTERM"
        (localtime too), FTL deadlocks on glibc's time zone lock - measured in
        about one of seven test runs, with gdb showing exactly that. Should FTL
        hang anyway, the whole group is killed.
        """
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        finally:
            _close(process.stdout)

    def restart(self) -> None:
        """Stop and start again with the same state directory and ports."""
        self.stop()
        self.start()

    def _launch(self) -> bool:
        """Run the script once; return whether it reported ready."""
        command = [
            str(RUN),
            *("--web-port", str(self.web_port), "--dns-port", str(self.dns_port)),
            *("--password", self.password, "--dir", str(self.dir)),
            *("--timeout", str(START_TIMEOUT)),
        ]
        if self.app_sudo:
            command.append("--app-password-sudo")
        with self.stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.startswith("ready "):
            self._process = process
            return True
        process.wait(timeout=STOP_TIMEOUT)
        _close(process.stdout)
        return False


def _close(stream: IO[str] | None) -> None:
    """Close a pipe if there is one."""
    if stream is not None:
        stream.close()


@pytest.fixture(name="pihole")
def pihole_fixture(
    socket_enabled: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Generator[PiholeProcess]:
    """A running pihole-FTL; ``indirect`` parameters: ``{"app_sudo": True}``."""
    if not RUN.exists():
        missing_real_part(f"pihole-FTL runner not found at {RUN}")
    options: dict[str, Any] = getattr(request, "param", {})
    instance = PiholeProcess(tmp_path / "pihole", **options)
    instance.start()
    yield instance
    instance.stop()


@dataclass
class RequestLog:
    """Every request an aiohttp session sent, as (method, path)."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def count(self, method: str, path: str | None = None) -> int:
        """Return how many requests matched the method (and exact path)."""
        return sum(
            1
            for own_method, own_path in self.sent
            if own_method == method and path in (None, own_path)
        )

    @property
    def logins(self) -> int:
        """Return how many login attempts were sent."""
        return self.count("POST", "/api/auth")

    @property
    def writes(self) -> int:
        """Return how many record writes were sent."""
        return sum(
            1
            for method, path in self.sent
            if method in {"PUT", "DELETE"} and path.startswith("/api/config/dns/hosts")
        )


@pytest.fixture(name="request_log")
def request_log_fixture() -> RequestLog:
    """The log of what the ``http`` session sent."""
    return RequestLog()


@pytest.fixture(name="http")
async def http_fixture(
    request_log: RequestLog,
) -> AsyncGenerator[aiohttp.ClientSession]:
    """A plain aiohttp session that records every request it sends."""

    async def on_start(
        session: aiohttp.ClientSession,
        context: Any,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        request_log.sent.append((params.method, params.url.raw_path))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        yield session


class PiholeTestClient(PiholeClient):
    """BaluPi's client, with the single-record writes only the tests need."""

    def set_password(self, password: str) -> None:
        """Use another password from the next login on (clears a rejection)."""
        self._password = password
        self._rejected = None
        self._rejected_until = 0.0

    async def add_record(self, ip: str, name: str) -> None:
        """Add the record ``ip name``; an identical one already there is fine."""
        await self._put_entry(_record_entry(ip, name))

    async def delete_record(self, ip: str, name: str) -> None:
        """Delete the record ``ip name``; one that is already gone is fine."""
        await self._delete_entry(_record_entry(ip, name))


@pytest.fixture(name="client")
async def client_fixture(
    http: aiohttp.ClientSession, pihole: PiholeProcess
) -> AsyncGenerator[PiholeTestClient]:
    """A client of the running Pi-hole with its web password."""
    pihole_client = PiholeTestClient(http, pihole.url, pihole.password, timeout=5)
    yield pihole_client
    await pihole_client.close()


class PiholeAdmin:
    """Looks at and changes the Pi-hole behind the client's back.

    Uses its own HTTP session and its own logins (each call logs in and out),
    so it never shares or counts as the client's session.
    """

    def __init__(self, session: aiohttp.ClientSession, pihole: PiholeProcess) -> None:
        """Administer ``pihole`` through ``session``."""
        self._http = session
        self._pihole = pihole

    async def login(self, password: str | None = None) -> str:
        """Open a session (taking a seat) and return its ID."""
        status, body = await self.request(
            "POST", "/auth", payload={"password": password or self._pihole.password}
        )
        assert status == 200, body
        sid: str = body["session"]["sid"]
        return sid

    async def logout(self, sid: str) -> None:
        """End a session (freeing its seat) if it still exists."""
        await self.request("DELETE", "/auth", sid=sid)

    async def call(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Send one request in a session of its own."""
        sid = await self.login()
        try:
            return await self.request(method, path, sid=sid, payload=payload)
        finally:
            await self.logout(sid)

    async def request(
        self,
        method: str,
        path: str,
        *,
        sid: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Send one request with an optional session; return status and JSON."""
        headers = {"X-FTL-SID": sid} if sid else {}
        async with self._http.request(
            method, f"{self._pihole.url}/api{path}", headers=headers, json=payload
        ) as response:
            raw = await response.read()
            return response.status, json.loads(raw) if raw.strip() else {}

    async def sessions(self) -> list[dict[str, Any]]:
        """Return every live session except the one used to ask."""
        status, body = await self.call("GET", "/auth/sessions")
        assert status == 200, body
        return [s for s in body["sessions"] if not s["current_session"]]

    async def hosts(self) -> list[str]:
        """Return the raw dns.hosts entries."""
        status, body = await self.call("GET", "/config/dns/hosts")
        assert status == 200, body
        hosts: list[str] = body["config"]["dns"]["hosts"]
        return hosts

    async def set_hosts(self, hosts: list[str]) -> None:
        """Replace all dns.hosts entries."""
        status, body = await self.call(
            "PATCH", "/config", {"config": {"dns": {"hosts": hosts}}}
        )
        assert status == 200, body

    async def activate_app_password(self) -> str:
        """Create and activate an app password; this ends every session."""
        sid = await self.login()
        status, body = await self.request("GET", "/auth/app", sid=sid)
        assert status == 200, body
        app = body["app"]
        config = {"webserver": {"api": {"app_pwhash": app["hash"]}}}
        status, body = await self.request(
            "PATCH", "/config", sid=sid, payload={"config": config}
        )
        assert status == 200, body
        password: str = app["password"]
        return password

    async def allow_dns_floods(self) -> None:
        """Lift FTL's per-client DNS rate limit (1000 queries a minute).

        Polling the name every few ms would be refused (REFUSED, no address)
        within a second otherwise.
        """
        config = {"dns": {"rateLimit": {"count": 0}}}
        status, body = await self.call("PATCH", "/config", {"config": config})
        assert status == 200, body

    async def set_app_sudo(self, *, enabled: bool) -> None:
        """Allow or forbid writes by app sessions (applies at once)."""
        config = {"webserver": {"api": {"app_sudo": enabled}}}
        status, body = await self.call("PATCH", "/config", {"config": config})
        assert status == 200, body


@pytest.fixture(name="admin")
async def admin_fixture(pihole: PiholeProcess) -> AsyncGenerator[PiholeAdmin]:
    """An administrator of the running Pi-hole, separate from the client."""
    async with aiohttp.ClientSession() as session:
        yield PiholeAdmin(session, pihole)


def _encode_name(name: str) -> bytes:
    """Encode a DNS name as length-prefixed labels."""
    labels = (label.encode("ascii") for label in name.rstrip(".").split("."))
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\0"


def _skip_name(data: bytes, offset: int) -> int:
    """Return the offset after a (possibly compressed) name in a DNS message."""
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


@dataclass(frozen=True)
class DnsAnswer:
    """What a DNS server said to an A query: its rcode and the (sorted) addresses."""

    rcode: int
    addresses: list[str]


def query_a(port: int, name: str) -> DnsAnswer:
    """Ask 127.0.0.1:port for the A records of ``name`` over UDP (blocking)."""
    query_id = secrets.randbits(16)
    question = _encode_name(name) + struct.pack("!HH", 1, 1)  # A, IN
    # Header: id, flags (RD), one question, no answer/authority/additional.
    message = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(DNS_TIMEOUT)
        sock.sendto(message, ("127.0.0.1", port))
        data = sock.recv(4096)
    answer_id, flags, questions, answers, _, _ = struct.unpack("!HHHHHH", data[:12])
    assert answer_id == query_id
    offset = 12
    for _ in range(questions):
        offset = _skip_name(data, offset) + 4
    addresses = []
    for _ in range(answers):
        offset = _skip_name(data, offset)
        kind, _, _, length = struct.unpack("!HHIH", data[offset : offset + 10])
        offset += 10
        if kind == 1 and length == 4:
            addresses.append(socket.inet_ntoa(data[offset : offset + length]))
        offset += length
    return DnsAnswer(flags & 0x000F, sorted(addresses))


async def resolve(
    pihole: PiholeProcess, name: str, *, expect: DnsAnswer | None = None
) -> DnsAnswer:
    """Ask the Pi-hole's DNS for ``name`` without blocking the event loop.

    dnsmasq picks up a changed custom.list through inotify, a few ms after the
    API has answered; with ``expect`` the question is repeated for up to
    DNS_SETTLE seconds until the answer matches (addresses in any order).
    """
    deadline = time.monotonic() + DNS_SETTLE
    while True:
        answer = await asyncio.to_thread(query_a, pihole.dns_port, name)
        if expect is None or answer == expect or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.02)


@dataclass
class DnsWatch:
    """Every answer Pi-hole's DNS gave for one name while it was watched."""

    port: int
    name: str
    answers: list[DnsAnswer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _poll(self) -> None:
        """Ask again and again (in a thread) until told to stop."""
        while not self._stop.is_set():
            self.answers.append(query_a(self.port, self.name))
            self._stop.wait(DNS_POLL_INTERVAL)


@asynccontextmanager
async def watch_dns(pihole: PiholeProcess, name: str) -> AsyncGenerator[DnsWatch]:
    """Ask Pi-hole's DNS for ``name`` every few ms for as long as the block runs.

    Lift the DNS rate limit first (``PiholeAdmin.allow_dns_floods``).
    """
    watch = DnsWatch(pihole.dns_port, name)
    polling = asyncio.create_task(asyncio.to_thread(watch._poll))
    try:
        yield watch
    finally:
        watch._stop.set()
        await polling
