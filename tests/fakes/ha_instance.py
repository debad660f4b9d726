"""A real Home Assistant process for benchmarks and browser tests.

Starts ``hass`` from this checkout's .venv with a throw-away config directory,
onboards a user over the same HTTP API the frontend uses, and sets up BaluPi
through its real config flow. Nothing is written into Home Assistant's storage
by hand.

Home Assistant runs through this module (``python -m tests.fakes.ha_instance``),
which only narrows broadcasts to the loopback network: the plug flow's discovery
would otherwise send UDP broadcasts into the machine's LAN.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
import contextlib
from dataclasses import dataclass
from ipaddress import IPv4Address
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
from typing import Any

import aiohttp
import yaml

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


def _from_configuration(source: Path, port: int, allow_dirs: Sequence[Path]) -> str:
    """Return ``source`` (e.g. config/configuration.yaml) served on ``port``.

    The API and onboarding are added, and YAML dashboards are read from where
    ``source`` points, so a test sees the dashboards of this checkout.
    ``allow_dirs`` go to allowlist_external_dirs (an inbox folder, say).
    """
    config = yaml.safe_load(source.read_text()) or {}
    if allow_dirs:
        config.setdefault("homeassistant", {})["allowlist_external_dirs"] = [
            str(path) for path in allow_dirs
        ]
    config["http"] = (config.get("http") or {}) | {
        "server_host": "127.0.0.1",
        "server_port": port,
    }
    config.setdefault("api", None)
    config.setdefault("onboarding", None)
    dashboards = (config.get("lovelace") or {}).get("dashboards") or {}
    for dashboard in dashboards.values():
        if "filename" in dashboard:
            dashboard["filename"] = str(
                (source.parent / dashboard["filename"]).resolve()
            )
    return yaml.safe_dump(config, sort_keys=False)


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


async def _confirm_http_config(
    session: aiohttp.ClientSession, url: str, token: str
) -> None:
    """Keep the HTTP settings above, as the user confirms them in the UI.

    Home Assistant 2026.10 moves the YAML ``http`` settings into storage as a
    trial that, unless confirmed, is reverted five minutes later by a restart
    onto port 8123 (and the UI opens with a dialog asking to confirm).
    """
    async with session.ws_connect(f"{url}/api/websocket") as websocket:
        await websocket.receive_json()  # auth_required
        await websocket.send_json({"type": "auth", "access_token": token})
        auth = await websocket.receive_json()
        if auth["type"] != "auth_ok":
            raise RuntimeError(f"websocket login failed: {auth}")
        await websocket.send_json({"id": 1, "type": "http/config"})
        config = await websocket.receive_json()
        if config["result"]["pending"] is None:
            return
        await websocket.send_json({"id": 2, "type": "http/config/promote"})
        promoted = await websocket.receive_json()
        if not promoted["success"]:
            raise RuntimeError(f"HTTP settings not confirmed: {promoted}")


@contextlib.asynccontextmanager
async def home_assistant(
    config_dir: Path,
    *,
    port: int | None = None,
    extra_config: str = "",
    configuration: Path | None = None,
    allow_dirs: Sequence[Path] = (),
) -> AsyncIterator[HomeAssistantProcess]:
    """Run Home Assistant on 127.0.0.1 until the block ends.

    With ``configuration`` (a configuration.yaml) its settings are used instead
    of the minimal ones here; ``extra_config`` is appended either way.
    """
    port = port or free_port()
    config_dir.mkdir(parents=True, exist_ok=True)
    if configuration is None:
        text = CONFIG.format(port=port, extra=extra_config)
    else:
        text = _from_configuration(configuration, port, allow_dirs) + extra_config
    (config_dir / "configuration.yaml").write_text(text)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    log = (config_dir / "hass.out").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.ha_instance", "-c", str(config_dir)],
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
            await _confirm_http_config(session, url, token)
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


def _run_hass() -> int:
    """Run Home Assistant with broadcasts kept on the loopback network."""
    from homeassistant.__main__ import main  # noqa: PLC0415
    from homeassistant.components import network  # noqa: PLC0415

    async def loopback_broadcasts(hass: object) -> set[IPv4Address]:
        return {IPv4Address("127.255.255.255")}

    network.async_get_ipv4_broadcast_addresses = loopback_broadcasts  # type: ignore[assignment]
    return main()


if __name__ == "__main__":
    sys.exit(_run_hass())
