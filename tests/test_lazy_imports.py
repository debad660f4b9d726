"""What a feature needs is imported only when that feature is configured.

Each case sets up one entry in a fresh interpreter (a subprocess: this one has
long imported everything) through Home Assistant's own loader, which also
preloads the config flow and diagnostics platforms, and lists which of the
large libraries are imported afterwards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
from typing import Any

from .real_parts import missing_real_part
from .sshd import SshServer, sshd_fixture

__all__ = ["sshd_fixture"]

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
import asyncio, json, os, socket, sys, tempfile
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
    options = INBOX or {}
    flushed = None
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            frame.async_setup(hass)
            entry = MockConfigEntry(
                domain="balupi", title="BaluHost", unique_id=data["mac"],
                data=data, subentries_data=subentries, options=options,
            )
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
            assert entry.state is ConfigEntryState.LOADED
            await hass.async_block_till_done()
            if INBOX:
                path = INBOX["inbox_path"] + "/a.txt"
                with open(path, "w") as file:
                    file.write("a")
                os.utime(path, (0, 0))  # long settled
                record = await entry.runtime_data.inbox.async_flush()
                flushed = {"files": record.files, "transport": record.transport}
            loaded = {
                name: name in sys.modules
                for name in ("custom_components.balupi.config_flow",
                             "custom_components.balupi.diagnostics",
                             "custom_components.balupi.sensor")
            }
            after = [name for name in WATCHED if name in sys.modules]
            assert await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_stop(force=True)
    print(json.dumps(
        {"before": before, "after": after, "loaded": loaded, "flushed": flushed}
    ))

asyncio.run(main())
"""


def _set_up(
    *,
    with_plug: bool = False,
    inbox: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Set an entry up (and flush its inbox) in a fresh interpreter.

    Returns what it imported and, with an inbox, what its flush moved.
    """
    prelude = (
        f"ROOT = {str(ROOT)!r}\nWATCHED = {WATCHED!r}\nWITH_PLUG = {with_plug!r}\n"
        f"INBOX = {inbox!r}\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", prelude + SCRIPT],
        cwd=ROOT,
        env=env,
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


def _inbox_options(inbox: Path, server: SshServer) -> dict[str, Any]:
    """Return the inbox options for the test sshd, host key pinned."""
    return {
        "inbox_path": str(inbox),
        "ssh_host": "127.0.0.1",
        "ssh_port": server.port,
        "ssh_user": server.user,
        "remote_path": str(server.remote_dir),
        "key_path": str(server.client_key),
        "host_key": server.host_key,
    }


def test_rsync_flush_loads_no_asyncssh(tmp_path: Path, sshd: SshServer) -> None:
    """With rsync here and on the NAS, a flush moves the inbox without asyncssh."""
    if shutil.which("rsync") is None:
        missing_real_part("rsync is not installed")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    seen = _set_up(inbox=_inbox_options(inbox, sshd))
    assert seen["flushed"] == {"files": 1, "transport": "rsync"}
    assert (sshd.remote_dir / "a.txt").read_text() == "a"
    assert "asyncssh" not in seen["after"]
    assert "custom_components.balupi.sftp" not in seen["after"]


def test_sftp_flush_loads_asyncssh(tmp_path: Path, sshd: SshServer) -> None:
    """The check sees an import: without rsync (as on Home Assistant OS), SFTP."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    seen = _set_up(
        inbox=_inbox_options(inbox, sshd), env=os.environ | {"PATH": str(empty)}
    )
    assert seen["flushed"] == {"files": 1, "transport": "sftp"}
    assert "asyncssh" in seen["after"]
