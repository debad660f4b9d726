"""A real Home Assistant process for benchmarks and browser tests.

Starts ``hass`` from this checkout's .venv with a throw-away config directory,
onboards a user over the same HTTP API the frontend uses, and sets up BaluPi
through its real config flow. Nothing is written into Home Assistant's storage
by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
USER = "dev"
PASSWORD = "balupi-dev"

CONFIG = """
homeassistant:
  name: BaluPi
  country: DE
  currency: EUR
  unit_system: metric
  time_zone: Europe/Berlin
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
logger:
  default: warning
  logs:
    custom_components.balupi: info
{extra}
"""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HomeAssistantProcess:
    """A running Home Assistant with an onboarded user."""

    url: str
    token: str
    process: subprocess.Popen[bytes]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def config_flow(
        self, session: aiohttp.ClientSession, handler: str, user_input: dict[str, Any]
    ) -> dict[str, Any]:
        """Run a config flow's first step through the REST API."""
        async with session.post(
            f"{self.url}/api/config/config_entries/flow",
            json={"handler": handler, "show_advanced_options": False},
            headers=self.headers(),
        ) as response:
            flow = await response.json()
        async with session.post(
            f"{self.url}/api/config/config_entries/flow/{flow['flow_id']}",
            json=user_input,
            headers=self.headers(),
        ) as response:
            result: dict[str, Any] = await response.json()
        if result.get("type") != "create_entry":
            raise RuntimeError(f"config flow did not create an entry: {result}")
        return result


async def _wait_until_up(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(600):
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{url}/api/onboarding") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError("Home Assistant did not come up")


async def _onboard(session: aiohttp.ClientSession, url: str) -> str:
    client_id = f"{url}/"
    async with session.post(
        f"{url}/api/onboarding/users",
        json={
            "client_id": client_id,
            "name": "Developer",
            "username": USER,
            "password": PASSWORD,
            "language": "en",
        },
    ) as response:
        auth_code = (await response.json())["auth_code"]
    async with session.post(
        f"{url}/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": auth_code,
            "client_id": client_id,
        },
    ) as response:
        token: str = (await response.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for step in ("core_config", "analytics"):
        async with session.post(
            f"{url}/api/onboarding/{step}", json={}, headers=headers
        ):
            pass
    async with session.post(
        f"{url}/api/onboarding/integration",
        json={"client_id": client_id, "redirect_uri": f"{url}/?auth_callback=1"},
        headers=headers,
    ):
        pass
    return token


@contextlib.asynccontextmanager
async def home_assistant(
    config_dir: Path, *, port: int | None = None, extra_config: str = ""
) -> AsyncIterator[HomeAssistantProcess]:
    """Run Home Assistant on 127.0.0.1 until the block ends."""
    port = port or free_port()
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(
        CONFIG.format(port=port, extra=extra_config)
    )
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    log = (config_dir / "hass.out").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "hass"), "-c", str(config_dir)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_until_up(session, url)
            token = await _onboard(session, url)
        yield HomeAssistantProcess(url, token, process)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
