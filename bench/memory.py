"""Memory benchmark: how much a real Home Assistant process grows with BaluPi.

One Home Assistant process (``tests.fakes.ha_instance``: ``hass`` from this
checkout with a minimal configuration plus the recorder, as every real
installation has it) and, in that one run, its resident set size (VmRSS):

0. before BaluPi: Home Assistant up, onboarded, idle;
1. bare entry: BaluPi added through its real config flow, the NAS unreachable
   (a refused port), no plugs, no Pi-hole, no inbox;
2. full entry: the same entry with a real Pi-hole, four Tapo plugs (the KLAP
   fake of tests/fakes, the first one the NAS plug) and an inbox (a real sshd;
   its host key fetched and a test login made by the options flow), each added
   through its real flow.

Each figure is read after the process settled (the median of a few reads a
second apart) and is printed against step 0. Then, for what is left, the
growth of a fresh interpreter (with Home Assistant's core already imported)
when it imports each large library BaluPi can pull in.

    .venv/bin/python bench/memory.py

Target (issue 15): the full entry <= 10 MB.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import socket
import statistics
import subprocess
import sys
import tempfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp

from custom_components.balupi.const import CONF_HOSTNAME, CONF_PI_IP, SUBENTRY_PIHOLE
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from tests.conftest import SECRET, entry_data
from tests.fakes.ha_instance import HomeAssistantProcess, home_assistant
from tests.fakes.tapo_plug import FakeTapoPlug
from tests.pihole import PiholeProcess
from tests.sshd import start_sshd
from tests.test_dashboard_browser import (
    TAPO_USER,
    add_plugs,
    add_subentry,
    set_up_inbox,
)

TARGET_MB = 10.0
SETTLE = 15.0  # s after a change before reading
READS = 5
LIBRARIES = (
    "kasa",
    "asyncssh",
    "homeassistant.components.recorder.statistics",
)


def rss_mb(pid: int) -> float:
    """Return a process's resident set size in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def settled_rss(hass: HomeAssistantProcess) -> float:
    await asyncio.sleep(SETTLE)
    reads = []
    for _ in range(READS):
        reads.append(rss_mb(hass.process.pid))
        await asyncio.sleep(1)
    return statistics.median(reads)


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def import_cost(module: str) -> float:
    """Return what importing one module adds to a fresh interpreter, in MB."""
    code = (
        "import homeassistant.core, homeassistant.helpers.update_coordinator, "
        "aiohttp, importlib\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "before = rss()\n"
        f"importlib.import_module({module!r})\n"
        "print(rss() - before)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


async def run(tmp: Path) -> bool:
    plugs = [
        FakeTapoPlug(
            mac=f"30:DE:4B:00:00:{index:02X}",
            alias=f"Tapo Plug {index}",
            username=TAPO_USER,
        )
        for index in range(1, 5)
    ]
    for plug in plugs:
        await plug.start()
    pihole = PiholeProcess(tmp / "pihole")
    pihole.start()
    sshd = start_sshd(tmp / "sshd")
    inbox = tmp / "ha" / "media" / "inbox"
    inbox.mkdir(parents=True)
    try:
        async with (
            home_assistant(tmp / "ha", extra_config="recorder:\n") as hass,
            aiohttp.ClientSession() as session,
        ):
            before = await settled_rss(hass)
            result = await hass.config_flow(
                session,
                "balupi",
                entry_data(f"http://127.0.0.1:{refused_port()}", secret=SECRET),
            )
            entry_id = result["result"]["entry_id"]
            bare = await settled_rss(hass)
            await add_plugs(session, hass, entry_id, plugs)
            await add_subentry(
                session,
                hass,
                [entry_id, SUBENTRY_PIHOLE],
                [
                    {
                        CONF_URL: pihole.url,
                        CONF_PASSWORD: pihole.password,
                        CONF_VERIFY_SSL: True,
                        CONF_HOSTNAME: "baluhost.lan",
                        CONF_PI_IP: "127.0.0.2",
                    }
                ],
            )
            await set_up_inbox(session, hass, entry_id, inbox, sshd)
            full = await settled_rss(hass)
    finally:
        sshd.stop()
        pihole.stop()
        for plug in plugs:
            await plug.stop()
    print("Home Assistant process (minimal config + recorder), VmRSS, one run:")
    print(f"  before BaluPi:                         {before:7.1f} MB")
    print(f"  bare entry (NAS unreachable, no plugs): +{bare - before:6.1f} MB")
    print(f"  + Pi-hole, 4 plugs, inbox:             +{full - before:6.1f} MB")
    print("import cost in a fresh interpreter (Home Assistant core imported):")
    for module in LIBRARIES:
        print(f"  {module:<46} +{import_cost(module):5.1f} MB")
    ok = full - before <= TARGET_MB
    print(
        f"full entry +{full - before:.1f} MB (target <= {TARGET_MB:.0f} MB): "
        + ("met" if ok else "MISSED")
    )
    return ok


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ok = asyncio.run(run(Path(tmp)))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
