"""Memory benchmark: how much a real Home Assistant process grows with BaluPi.

Home Assistant (``tests.fakes.ha_instance``: ``hass`` from this checkout with a
minimal configuration plus the recorder, as every real installation has it)
runs three times on one configuration directory, and its resident set size
(VmRSS) is read:

1. before BaluPi: Home Assistant up, onboarded, idle; then the bare entry
   added through its real config flow (NAS unreachable: a refused port; no
   plugs, no Pi-hole, no inbox): the bare entry *in the process that ran the
   flow*;
2. restart: the bare entry as a user lives with it (*steady state*: set up
   from storage, no flow run in this process); then a real Pi-hole, four Tapo
   plugs (the KLAP fake of tests/fakes, the first one the NAS plug) and an
   inbox (a real sshd; the options flow fetches its host key and makes a test
   login) added through their real flows, and one file flushed to the NAS
   (the NAS's signed coming-online call, then ``balupi.flush_inbox``): the
   full entry in the process that ran the flows;
3. restart: the full entry in the steady state, after one flush as well.

Each figure is the median of a few reads a second apart after the process
settled, printed against step 1's "before" (the same configuration, so the
processes differ only by what BaluPi loads). The flushes print the transport
the inbox used (rsync when this machine and the NAS have it, else SFTP).
Then, for what is left, the growth of a fresh interpreter (with Home
Assistant's core already imported) when it imports each large library BaluPi
can pull in.

    .venv/bin/python bench/memory.py

Target (issue 15): the full entry <= 10 MB in the steady state. Exits 1 when
missed.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import socket
import statistics
import subprocess
import sys
import tempfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp

from custom_components.balupi.const import (
    CONF_HOSTNAME,
    CONF_PI_IP,
    DOMAIN,
    SERVICE_FLUSH_INBOX,
    SUBENTRY_PIHOLE,
)
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from tests.conftest import SECRET, entry_data
from tests.fakes.ha_instance import HomeAssistantProcess, free_port, home_assistant
from tests.fakes.tapo_plug import FakeTapoPlug
from tests.nas_signer import COMING_ONLINE
from tests.pihole import PiholeProcess
from tests.sshd import SshServer, start_sshd
from tests.test_dashboard_browser import (
    TAPO_USER,
    add_plugs,
    add_subentry,
    nas_handshake,
    set_up_inbox,
)

TARGET_MB = 10.0
RECORDER = "recorder:\n"
LABEL = 48  # width of the printed labels
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


async def entry_loaded(
    session: aiohttp.ClientSession, hass: HomeAssistantProcess
) -> None:
    """Wait until BaluPi's entry is loaded (after a restart or an options flow)."""
    for _ in range(120):
        async with session.get(
            f"{hass.url}/api/config/config_entries/entry?domain={DOMAIN}",
            headers=hass.headers(),
        ) as response:
            entries = await response.json() if response.status == 200 else []
        if entries and entries[0]["state"] == "loaded":
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"BaluPi's entry did not load: {entries}")


async def flush_one_file(
    session: aiohttp.ClientSession,
    hass: HomeAssistantProcess,
    inbox: Path,
    sshd: SshServer,
) -> str:
    """Put one settled file in the inbox, flush it to the NAS; return the transport."""
    name = f"file-{len(list(sshd.remote_dir.iterdir()))}.txt"
    path = inbox / name
    await entry_loaded(session, hass)
    # The flush runs only while the NAS is online; its signed call says so (and
    # the NAS's address refuses the health checks: try again if one came first).
    for _ in range(3):
        await nas_handshake(session, hass, COMING_ONLINE)
        await asyncio.sleep(3)  # the flush this call starts ends first
        if not path.exists():
            path.write_text("for the NAS")
            os.utime(path, (0, 0))  # long settled
        async with session.post(
            f"{hass.url}/api/services/{DOMAIN}/{SERVICE_FLUSH_INBOX}?return_response",
            json={},
            headers=hass.headers(),
        ) as response:
            text = await response.text()
        if response.status == 200 and json.loads(text)["service_response"]["files"]:
            break
    else:
        raise RuntimeError(f"flush failed: {text}")
    reply = json.loads(text)
    if not (sshd.remote_dir / name).is_file():
        raise RuntimeError(f"the flush did not move {name}: {reply}")
    return str(reply["service_response"]["transport"])


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
    config = tmp / "ha"
    inbox = config / "media" / "inbox"
    inbox.mkdir(parents=True)
    port = free_port()
    try:
        async with aiohttp.ClientSession() as session:
            async with home_assistant(config, port=port, extra_config=RECORDER) as hass:
                before = await settled_rss(hass)
                result = await hass.config_flow(
                    session,
                    DOMAIN,
                    entry_data(f"http://127.0.0.1:{refused_port()}", secret=SECRET),
                )
                entry_id = result["result"]["entry_id"]
                bare_flow = await settled_rss(hass)
                token = hass.token
            async with home_assistant(
                config, port=port, extra_config=RECORDER, token=token
            ) as hass:
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
                flow_transport = await flush_one_file(session, hass, inbox, sshd)
                full_flow = await settled_rss(hass)
            async with home_assistant(
                config, port=port, extra_config=RECORDER, token=token
            ) as hass:
                await settled_rss(hass)  # set up from storage first
                transport = await flush_one_file(session, hass, inbox, sshd)
                full = await settled_rss(hass)
    finally:
        sshd.stop()
        pihole.stop()
        for plug in plugs:
            await plug.stop()
    print("Home Assistant process (minimal config + recorder), VmRSS, one run:")
    print(f"  {'before BaluPi:':<{LABEL}} {before:6.1f} MB")
    growth = {
        "bare entry (NAS unreachable, no plugs):": None,
        "  in the process that ran the config flow:": bare_flow,
        "  after a restart (steady state):": bare,
        "+ Pi-hole, 4 plugs, inbox, one flush:": None,
        f"  in the process that ran the flows ({flow_transport}):": full_flow,
        f"  after a restart (steady state, {transport}):": full,
    }
    for label, rss in growth.items():
        print(
            f"  {label}"
            if rss is None
            else f"  {label:<{LABEL}}{rss - before:+6.1f} MB"
        )
    print("import cost in a fresh interpreter (Home Assistant core imported):")
    for module in LIBRARIES:
        print(f"  {module:<46} +{import_cost(module):5.1f} MB")
    ok = full - before <= TARGET_MB
    print(
        f"full entry, steady state: +{full - before:.1f} MB "
        f"(target <= {TARGET_MB:.0f} MB): " + ("met" if ok else "MISSED")
    )
    return ok


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ok = asyncio.run(run(Path(tmp)))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
