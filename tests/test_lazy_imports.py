"""What a feature needs is imported only when that feature is configured.

Each case sets up one entry in a fresh interpreter (a subprocess: this one has
long imported everything) through Home Assistant's own loader, which also
preloads the config flow and diagnostics platforms, and lists which of the
large libraries are imported afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Watched: python-kasa (plugs), asyncssh (the inbox's SFTP) and our modules
# that hold them. (The recorder's statistics cannot be watched here: the test
# harness imports them itself; a Home Assistant with the recorder has them.)
WATCHED = (
    "kasa",
    "asyncssh",
    "custom_components.balupi.coordinator.plugs",
    "custom_components.balupi.sftp",
)

SCRIPT = """
import asyncio, json, socket, sys, tempfile
sys.path.insert(0, ROOT)
import homeassistant  # installs probatio as voluptuous first
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry, async_test_home_assistant,
)
from homeassistant import loader
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.helpers import frame

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

async def main():
    before = [name for name in WATCHED if name in sys.modules]
    data = {
        "name": "BaluHost", "url": f"http://127.0.0.1:{free_port()}",
        "health_path": "/api/health", "ip_address": "127.0.0.1",
        "mac": "aa:bb:cc:dd:ee:01", "broadcast_address": "127.0.0.1",
        "broadcast_port": 40009, "secret": "s" * 40,
    }
    subentries = []
    if WITH_PLUG:
        data |= {"tplink_username": "user@example.com", "tplink_password": "pw"}
        subentries.append(ConfigSubentryData(
            data={
                "host": "127.0.0.1", "port": free_port(),
                "mac": "30:de:4b:00:02:01", "role": "generic",
                "connection": {
                    "device_family": "SMART.TAPOPLUG", "encryption_type": "KLAP",
                    "login_version": 2, "https": False,
                },
            },
            subentry_type="plug", title="Plug", unique_id="30:de:4b:00:02:01",
        ))
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            frame.async_setup(hass)
            entry = MockConfigEntry(
                domain="balupi", title="BaluHost", unique_id=data["mac"],
                data=data, subentries_data=subentries,
            )
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
            assert entry.state is ConfigEntryState.LOADED
            await hass.async_block_till_done()
            loaded = {
                name: name in sys.modules
                for name in ("custom_components.balupi.config_flow",
                             "custom_components.balupi.diagnostics",
                             "custom_components.balupi.sensor")
            }
            after = [name for name in WATCHED if name in sys.modules]
            assert await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_stop(force=True)
    print(json.dumps({"before": before, "after": after, "loaded": loaded}))

asyncio.run(main())
"""


def _set_up(*, with_plug: bool) -> dict[str, Any]:
    """Set an entry up in a fresh interpreter; return what it imported."""
    prelude = (
        f"ROOT = {str(ROOT)!r}\nWATCHED = {WATCHED!r}\nWITH_PLUG = {with_plug!r}\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", prelude + SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_bare_entry_imports_no_plug_inbox_or_statistics_library() -> None:
    """A NAS without plugs or inbox loads neither python-kasa nor asyncssh."""
    seen = _set_up(with_plug=False)
    assert seen["before"] == []
    # The loader did preload the platforms that import these libraries.
    assert all(seen["loaded"].values()), seen["loaded"]
    assert seen["after"] == []


def test_entry_with_a_plug_loads_python_kasa() -> None:
    """The check sees an import: with a plug, python-kasa is loaded, not asyncssh."""
    seen = _set_up(with_plug=True)
    assert seen["before"] == []
    assert "kasa" in seen["after"]
    assert "custom_components.balupi.coordinator.plugs" in seen["after"]
    assert "asyncssh" not in seen["after"]
