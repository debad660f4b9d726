"""The real BaluHost NAS backend for tests, and an administrator who acts on it.

The backend is BaluHost 1.38 in its dev mode (SQLite, mocked hardware), from
``../shared/baluhost`` beside the checkout, started by its ``run`` script on a
free port of 127.0.0.1 with a data directory of its own (README there). Test
modules import the fixtures from here; each fixture function is named
``*_fixture`` and registered under the short name.

With ``balupi_url``/``balupi_secret`` the NAS sends its signed handshake to a
Home Assistant under test: ``nas-coming-online`` at the end of ``start()`` (the
NAS waits up to 5 s for the answer before it listens) and ``nas-going-offline``
in ``stop()``. Call those through ``asyncio.to_thread`` when that Home Assistant
runs in the test's event loop, or it cannot answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
import contextlib
from dataclasses import dataclass
import itertools
import os
from pathlib import Path
import select
import signal
import subprocess
import time
from typing import IO, Any

import aiohttp
import pytest

from .real_parts import missing_real_part

RUN = Path(__file__).parents[2] / "shared" / "baluhost" / "run"
# The first start on a machine builds the backend's venv (about a minute, more
# on a busy host); later starts take 5-10 s.
START_TIMEOUT = 300
# The runner SIGKILLs the backend itself when a graceful stop takes over 20 s.
STOP_TIMEOUT = 30
# Waiting for a state the NAS reaches by itself (e.g. the dev backend's fake
# suspend, which lasts 2 s).
STATE_TIMEOUT = 15
# Keeps reads of the arranging administrator from waking the NAS.
NO_WAKE = {"X-Sync-Trigger": "auto"}
# BaluHost's default idle_http_threshold: more requests a minute keep it awake.
IDLE_HTTP_THRESHOLD = 5.0

_names = itertools.count(1)


@dataclass
class BaluHostProcess:
    """One BaluHost backend started by ``run``; stop, kill and start it at will.

    ``dir`` holds the database, the API key and the logs, so users, keys and
    settings survive a restart, which reuses the same port.
    """

    dir: Path
    balupi_url: str | None = None
    balupi_secret: str | None = None
    port: int | None = None
    url: str = ""
    admin: tuple[str, str] = ("", "")
    apikey: str = ""
    _process: subprocess.Popen[bytes] | None = None
    _backend_pid: int | None = None

    @property
    def stderr_path(self) -> Path:
        """Return where the run script's progress goes (outside its --dir)."""
        return self.dir.with_name(self.dir.name + ".stderr")

    def start(self) -> None:
        """Start the backend and wait for the runner's ``ready`` line."""
        command = [str(RUN), "--dir", str(self.dir)]
        command += ["--startup-timeout", str(START_TIMEOUT)]
        if self.port is not None:
            command += ["--port", str(self.port)]
        if self.balupi_url is not None:
            command += ["--balupi-url", self.balupi_url]
            command += ["--balupi-secret", self.balupi_secret or ""]
        launched = time.time()
        with self.stderr_path.open("a") as stderr:
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
            )
        self._process = process
        # ready http://127.0.0.1:PORT admin=USER:PASS apikey=KEY
        fields = _first_line(process.stdout, START_TIMEOUT).split()
        self._backend_pid = _backend_pid(self.dir, launched)
        if len(fields) != 4 or fields[0] != "ready":
            self.kill()
            raise RuntimeError(
                f"BaluHost did not start: {self.stderr_path.read_text()[-3000:]}"
            )
        _, self.url, admin, apikey = fields
        self.port = int(self.url.rsplit(":", 1)[1])
        user, password = admin.removeprefix("admin=").split(":", 1)
        self.admin = (user, password)
        self.apikey = apikey.removeprefix("apikey=")

    def stop(self) -> None:
        """Stop gracefully: the NAS runs its shutdown (and its handshake).

        Only the run script gets SIGTERM; it passes one on to the backend and
        kills the backend's process group itself after 20 s.
        """
        process = self._process
        if process is None:
            return
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
        finally:
            self._forget()

    def kill(self) -> None:
        """Die silently: SIGKILL the runner's and the backend's process groups.

        The backend runs in a session of its own (``setsid`` in ``run``), so
        both groups are killed; nothing runs its shutdown or handshake.
        """
        process = self._process
        if process is None:
            return
        for leader in (process.pid, self._backend_pid):
            if leader is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(leader, signal.SIGKILL)
        process.wait()
        if self._backend_pid is not None:
            _wait_dead(self._backend_pid)
        self._forget()

    def restart(self) -> None:
        """Stop (if running) and start again with the same data and port."""
        self.stop()
        self.start()

    def _forget(self) -> None:
        process, self._process, self._backend_pid = self._process, None, None
        if process is not None and process.stdout is not None:
            process.stdout.close()


def _first_line(stream: IO[bytes] | None, timeout: float) -> str:
    """Return the first line a pipe delivers within ``timeout`` ("" if none).

    Read from the file descriptor with select(): a plain readline() would
    wait forever for a runner that hangs.
    """
    assert stream is not None
    descriptor = stream.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([descriptor], [], [], left)[0]:
            return ""
        chunk = os.read(descriptor, 4096)
        if not chunk:
            return ""  # the runner exited
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")


def _wait_dead(pid: int) -> None:
    """Wait until a killed process that is not our child is gone, port and all.

    SIGKILL takes effect asynchronously: the backend's main thread turns
    zombie at once, but its open sockets (the listening one too) close only
    when the last of its threads has exited, which takes a moment on a busy
    host. The zombie itself stays until whoever inherited it reaps it.
    """
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            threads = sum(1 for _ in Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            return
        if stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"} and threads <= 1:
            return
        time.sleep(0.05)
    raise RuntimeError(f"BaluHost backend {pid} survived SIGKILL")


def _backend_pid(directory: Path, since: float) -> int | None:
    """Return the PID the runner wrote for this start (not one left by a kill)."""
    pid_file = directory / "backend.pid"
    with contextlib.suppress(OSError, ValueError):
        if pid_file.stat().st_mtime >= since - 1:
            return int(pid_file.read_text())
    return None


def _new_instance(directory: Path, **options: Any) -> BaluHostProcess:
    """Start a backend in ``directory``; skip (or fail under CI) without it."""
    if not RUN.exists():
        missing_real_part(f"BaluHost runner not found at {RUN}")
    instance = BaluHostProcess(directory, **options)
    instance.start()
    return instance


@pytest.fixture(name="baluhost", scope="module")
def baluhost_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Generator[BaluHostProcess]:
    """One backend shared by a module's tests (it takes seconds to start).

    Tests that change its state put it back (awake, running).
    """
    instance = _new_instance(tmp_path_factory.mktemp("baluhost") / "data")
    yield instance
    instance.stop()


@pytest.fixture(name="baluhost_factory")
async def baluhost_factory_fixture(
    socket_enabled: None, tmp_path: Path
) -> AsyncGenerator[Callable[..., Awaitable[BaluHostProcess]]]:
    """Start backends of the test's own, e.g. ``balupi_url=..., balupi_secret=...``.

    Started and, at the end of the test, stopped in a thread, so a Home
    Assistant in the test's event loop can answer the handshake meanwhile.
    """
    started: list[BaluHostProcess] = []

    async def start(**options: Any) -> BaluHostProcess:
        directory = tmp_path / f"baluhost{len(started)}"
        instance = await asyncio.to_thread(_new_instance, directory, **options)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        await asyncio.to_thread(instance.stop)


class BaluHostAdmin:
    """Acts on the NAS as its administrator would, with the admin's API key.

    Every request carries ``X-Sync-Trigger: auto``, so arranging and looking
    never wake the NAS (each request still counts toward its idle detection).
    """

    def __init__(self, session: aiohttp.ClientSession, nas: BaluHostProcess) -> None:
        """Administer ``nas`` through ``session``."""
        self._http = session
        self._nas = nas

    async def request(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """Send one request as the admin; return status and JSON (or None)."""
        headers = NO_WAKE | {"Authorization": f"Bearer {self._nas.apikey}"}
        async with self._http.request(
            method, self._nas.url + path, headers=headers, json=payload
        ) as response:
            body = await response.json() if response.content_length != 0 else None
            return response.status, body

    async def create_user(self) -> int:
        """Create a user (role ``user``, no power permissions); return its ID."""
        name = f"balupi{next(_names)}_{os.getpid()}"
        status, body = await self.request(
            "POST",
            "/api/users/",
            {"username": name, "password": "BaluPi2024x", "role": "user"},
        )
        assert status == 201, body
        user_id: int = body["id"]
        return user_id

    async def create_api_key(self, user_id: int) -> tuple[int, str]:
        """Create an API key acting as ``user_id``; return its ID and the key."""
        status, body = await self.request(
            "POST",
            "/api/api-keys",
            {"name": "balupi-ha", "target_user_id": user_id, "expires_in_days": None},
        )
        assert status == 201, body
        return body["id"], body["key"]

    async def delete_api_key(self, key_id: int) -> None:
        """Revoke a key (BaluHost deletes it outright)."""
        status, body = await self.request("DELETE", f"/api/api-keys/{key_id}")
        assert status == 200, body

    async def grant_power(self, user_id: int, **permissions: bool) -> dict[str, Any]:
        """Set power permissions, e.g. ``can_soft_sleep=True``; return all of them.

        The NAS adds what a permission implies (soft sleep: wake; suspend: WoL).
        """
        status, body = await self.request(
            "PUT", f"/api/users/{user_id}/power-permissions", permissions
        )
        assert status == 200, body
        granted: dict[str, Any] = body
        return granted

    async def save_sleep_config(self, **settings: Any) -> dict[str, Any]:
        """Save sleep settings, e.g. ``idle_timeout_minutes=1``; return them all."""
        status, body = await self.request("PUT", "/api/system/sleep/config", settings)
        assert status == 200, body
        config: dict[str, Any] = body
        return config

    async def raid(self, action: str, device: str | None = None) -> None:
        """Act on the dev backend's simulated RAID ``md0``.

        ``degrade`` fails ``device`` (raid.degraded, at most once an hour per
        backend), ``rebuild`` starts rebuilding it, ``finalize`` makes the
        array optimal again (raid.rebuilt).
        """
        # The dev backend makes md0 on the first status read; finalize alone
        # would not find it.
        status, body = await self.request("GET", "/api/system/raid/status")
        assert status == 200, body
        status, body = await self.request(
            "POST", f"/api/system/raid/{action}", {"array": "md0", "device": device}
        )
        assert status == 200, body

    async def route_notifications(self, user_id: int, *categories: str) -> None:
        """Let a (non-admin) user receive the system notifications of categories.

        Without routing, a non-admin sees none; it applies to notifications
        created afterwards.
        """
        status, body = await self.request(
            "PUT",
            f"/api/users/{user_id}/notification-routing",
            {f"receive_{category}": True for category in categories},
        )
        assert status == 200, body

    async def create_backup(self) -> None:
        """Back the database up (the NAS notifies backup.completed)."""
        status, body = await self.request(
            "POST",
            "/api/backups/",
            {"backup_type": "database_only", "includes_files": False},
        )
        assert status == 201, body
        assert body["status"] == "completed", body

    async def run_scheduler(self, name: str) -> None:
        """Ask for a run of a scheduler now (its last run is then ``requested``).

        The dev backend has no scheduler worker that would carry it out.
        """
        status, body = await self.request("POST", f"/api/schedulers/{name}/run-now")
        assert status == 200, body

    async def notify(self, user_id: int | None, **fields: Any) -> dict[str, Any]:
        """Create a notification for a user (None: for the admins); return it.

        ``fields`` add to or replace a default info notification.
        """
        notification = {
            "category": "system",
            "notification_type": "info",
            "title": "Test",
            "message": "A notification made by a test",
            "user_id": user_id,
        }
        status, body = await self.request(
            "POST", "/api/notifications", notification | fields
        )
        assert status == 201, body
        created: dict[str, Any] = body
        return created

    async def mark_read(self, notification_id: int) -> dict[str, Any]:
        """Mark one of the admin's notifications read; return it."""
        status, body = await self.request(
            "POST", f"/api/notifications/{notification_id}/read"
        )
        assert status == 200, body
        notification: dict[str, Any] = body
        return notification

    async def sleep_history(self, limit: int = 50) -> list[dict[str, Any]]:
        """Return the NAS's sleep transitions, newest first."""
        status, body = await self.request(
            "GET", f"/api/system/sleep/history?limit={limit}"
        )
        assert status == 200, body
        entries: list[dict[str, Any]] = body["entries"]
        return entries

    async def sleep_state(self) -> str:
        """Return the NAS's ``current_state``."""
        status, body = await self.request("GET", "/api/system/sleep/status")
        assert status == 200, body
        state: str = body["current_state"]
        return state

    async def wait_for_state(self, wanted: str) -> None:
        """Wait until the NAS reaches a state by itself (e.g. after a suspend)."""
        deadline = time.monotonic() + STATE_TIMEOUT
        while (state := await self.sleep_state()) != wanted:
            assert time.monotonic() < deadline, f"NAS still {state}, not {wanted}"
            await asyncio.sleep(0.2)

    async def ensure_awake(self) -> None:
        """Wake the NAS from soft sleep; wait out a (fake) suspend."""
        if await self.sleep_state() == "soft_sleep":
            # Without NO_WAKE: this request is meant to wake it.
            headers = {"Authorization": f"Bearer {self._nas.apikey}"}
            async with self._http.post(
                self._nas.url + "/api/system/sleep/wake", headers=headers
            ) as response:
                assert response.status in (200, 409), await response.text()
        await self.wait_for_state("awake")


@pytest.fixture(name="baluhost_admin")
async def baluhost_admin_fixture(
    socket_enabled: None, baluhost: BaluHostProcess
) -> AsyncGenerator[BaluHostAdmin]:
    """The administrator of the shared backend; leaves the NAS awake."""
    async with aiohttp.ClientSession() as session:
        admin = BaluHostAdmin(session, baluhost)
        yield admin
        await admin.ensure_awake()
