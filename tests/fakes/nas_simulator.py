"""A BaluHost NAS stand-in: answers GET /api/health like the real NAS.

For faults the real backend cannot produce on demand. It can be told to hang
(stop answering but keep the port open), to answer slowly, to drop a number of
replies, to go away entirely (port closed: connections refused), to go dark
(connections time out, as with a machine that vanished from the network) and to
come back. ``connections`` counts accepted TCP connections, which is what
BaluPi's liveness probe makes. Tests drive it through its methods;
``scripts/develop`` runs it as a process and drives it over HTTP:

    python -m tests.fakes.nas_simulator --port 8099
    curl -X POST localhost:8099/_sim/mode -d '{"mode": "dark", "seconds": 60}'

``dark`` makes the port go dark for a while (BaluPi sees a dead NAS), then
come back. HTTP modes (for what reads the API): ``ok``, ``silent`` (hang),
``slow`` (answer after ``delay`` s), ``error`` (HTTP 503), ``huge`` (a healthy
reply of 8 MB), ``endless`` (a healthy reply that trickles on until the client
hangs up). ``drop`` holds back the next
N replies, ``loss`` a random share of them (each for ``delay`` s).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from ipaddress import IPv4Address
import json
from pathlib import Path
import random
import socket
import ssl
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HEALTH = {
    "status": "ok",
    "version": "1.38.0",
    "api_version": "1",
    "min_api_version": "1",
}


class Mode(StrEnum):
    """How the simulator answers the health check."""

    OK = "ok"
    SILENT = "silent"
    SLOW = "slow"
    ERROR = "error"
    HUGE = "huge"
    ENDLESS = "endless"


class NasSimulator:
    """A health endpoint on 127.0.0.1 whose behaviour can be changed at will."""

    def __init__(
        self,
        port: int = 0,
        *,
        control: bool = False,
        seed: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.mode = Mode.OK
        self.delay = 5.0
        self.drop = 0
        # Probability that a reply is lost (held back for ``delay`` seconds).
        self.loss = 0.0
        self.lost = 0
        self._random = random.Random(seed)
        self.requests = 0
        self.connections = 0
        self.port = port
        self._control = control
        self._tls = tls
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._dark: list[socket.socket] = []
        self._dark_task: asyncio.Task[None] | None = None
        self._hung: set[asyncio.Future[None]] = set()

    @property
    def url(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again, on the same port once one was chosen); no-op if listening."""
        if self._server is not None:
            return
        app = web.Application()
        app.router.add_get("/api/health", self._health)
        if self._control:
            app.router.add_post("/_sim/mode", self._set_mode)
        self._close_dark()
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, access_log=None)
        await self._runner.setup()
        handler = self._runner.server
        assert handler is not None

        def accept() -> asyncio.Protocol:
            self.connections += 1
            return handler()

        self._server = await asyncio.get_running_loop().create_server(
            accept, "127.0.0.1", self.port, ssl=self._tls, reuse_address=True
        )
        if not self.port:
            self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the port: connections are refused until start() is called."""
        self.release()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._close_dark()

    async def go_dark(self) -> None:
        """Stop answering even connection attempts until start() is called.

        The port is taken by a socket that never accepts, its queue already
        full: the kernel drops new connection attempts, which then time out.
        """
        await self.stop()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(0)
        self._dark.append(listener)
        # Linux queues backlog + 1 connections; these fill the queue.
        for _ in range(2):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self._dark.append(filler)

    async def _dark_for(self, seconds: float) -> None:
        await asyncio.sleep(0.1)
        await self.go_dark()
        await asyncio.sleep(seconds)
        await self.start()

    def _close_dark(self) -> None:
        for sock in self._dark:
            sock.close()
        self._dark.clear()

    def release(self) -> None:
        """Let every hanging request answer now."""
        for future in self._hung:
            _finish(future)

    async def _health(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.drop:
            self.drop -= 1
            await self._hang()
        elif self.loss and self._random.random() < self.loss:
            self.lost += 1
            await self._hang(self.delay)
        if self.mode is Mode.SILENT:
            await self._hang()
        if self.mode is Mode.SLOW:
            await self._hang(self.delay)
        if self.mode is Mode.ERROR:
            return web.json_response({"status": "error"}, status=503)
        if self.mode is Mode.HUGE:
            return web.json_response(HEALTH | {"padding": "x" * 8_000_000})
        if self.mode is Mode.ENDLESS:
            return await self._trickle(request)
        return web.json_response(HEALTH)

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        """Send the start of a healthy reply, then a kilobyte every 10 ms."""
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        try:
            await response.write(b'{"status": "ok", "padding": "')
            while True:
                await response.write(b"x" * 1024)
                await asyncio.sleep(0.01)
        except ConnectionError:
            return response

    async def _hang(self, seconds: float | None = None) -> None:
        """Wait until released (or for some seconds), answering nothing meanwhile."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        timer = None
        if seconds is not None:
            timer = loop.call_later(seconds, _finish, future)
        self._hung.add(future)
        try:
            await future
        finally:
            self._hung.discard(future)
            if timer is not None:
                timer.cancel()

    async def _set_mode(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        if body.get("mode") == "dark":
            # After this answer: the port goes dark, then comes back.
            seconds = float(body.get("seconds", 60))
            self._dark_task = asyncio.get_running_loop().create_task(
                self._dark_for(seconds)
            )
            return web.json_response({"mode": "dark", "seconds": seconds})
        self.mode = Mode(body["mode"])
        if self.mode is not Mode.SILENT:
            self.release()
        self.delay = float(body.get("delay", self.delay))
        self.drop = int(body.get("drop", self.drop))
        self.loss = float(body.get("loss", self.loss))
        return web.json_response({"mode": self.mode, "delay": self.delay})


def write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and its key; return both files.

    Right in every respect but one: no authority signed it, as on a NAS that
    made its own.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "baluhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "nas.crt"
    key_file = directory / "nas.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _serve(port: int) -> None:
    simulator = NasSimulator(port, control=True)
    await simulator.start()
    print(json.dumps({"ready": simulator.url}), flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8099)
    asyncio.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
