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
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
from ipaddress import IPv4Address
import os
from pathlib import Path
import shutil
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


DEVELOP_CONFIG = ROOT / "config"


def _copy_develop_config(config_dir: Path) -> None:
    """Make ``config_dir`` hold exactly what scripts/develop runs.

    configuration.yaml is copied byte for byte and the links beside it
    (config/dashboards) point where they point in the checkout. Only the port
    differs, and that is not in the YAML: SETUP_PORT picks it.
    """
    shutil.copyfile(
        DEVELOP_CONFIG / "configuration.yaml", config_dir / "configuration.yaml"
    )
    for link in DEVELOP_CONFIG.iterdir():
        if link.is_symlink():
            (config_dir / link.name).symlink_to(link.resolve())


# Loggers that report a configuration Home Assistant refuses, or a failing
# setup; other errors (no ffmpeg or libturbojpeg on this machine) are not ours.
CONFIG_LOGGERS = (
    "homeassistant.config",
    "homeassistant.setup",
    "homeassistant.bootstrap",
    "homeassistant.loader",
    "custom_components.balupi",
)


def startup_errors(log: Path) -> list[str]:
    """Return the ERROR lines about the configuration or a failed setup."""
    return [
        line
        for line in log.read_text(errors="replace").splitlines()
        if " ERROR " in line and any(f"[{name}" in line for name in CONFIG_LOGGERS)
    ]


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


async def _wait_until_up(
    session: aiohttp.ClientSession, url: str, token: str | None
) -> None:
    # Onboarded, Home Assistant no longer serves onboarding: ask the API.
    path, headers = "/api/onboarding", {}
    if token is not None:
        path, headers = "/api/", {"Authorization": f"Bearer {token}"}
    for _ in range(600):
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(url + path, headers=headers) as response:
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
    develop: bool = False,
    token: str | None = None,
) -> AsyncIterator[HomeAssistantProcess]:
    """Run Home Assistant on 127.0.0.1 until the block ends.

    With ``develop`` it runs scripts/develop's configuration unchanged (and
    fails if Home Assistant logs an error while starting); otherwise a
    minimal one plus ``extra_config``. With the ``token`` of an earlier run in
    the same ``config_dir`` it is a restart: onboarded already, same user.
    """
    port = port or free_port()
    config_dir.mkdir(parents=True, exist_ok=True)
    if develop:
        _copy_develop_config(config_dir)
    else:
        (config_dir / "configuration.yaml").write_text(
            CONFIG.format(port=port, extra=extra_config)
        )
    env = os.environ | {"PYTHONPATH": str(ROOT), "SETUP_PORT": str(port)}
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
            await _wait_until_up(session, url, token)
            if token is None:
                token = await _onboard(session, url)
                await _confirm_http_config(session, url, token)
        if develop and (errors := startup_errors(config_dir / "hass.out")):
            raise RuntimeError(
                "Home Assistant logged errors at startup:\n" + "\n".join(errors)
            )
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
