"""Setup benchmark: how long BaluPi's entry setup takes when nothing answers.

One BaluPi entry with a Pi-hole and four Tapo plugs (the first one the NAS
plug), everything unreachable on 127.0.0.1:

* silent listeners for the NAS's health URL, the Pi-hole and two plugs: a
  listening socket that never accepts, so the kernel completes the TCP
  handshake and takes the request, and nothing ever answers;
* refused ports for the other two plugs (nothing listens there).

In one Home Assistant test instance (real clock, real sockets) timed with
``time.perf_counter()`` is ``hass.config_entries.async_setup()`` until it
returns with the entry LOADED: the first setup (stores still empty), then
``--rounds`` more after an unload each (the stores now hold what the earlier
rounds wrote). Also printed, for information only: when, after the first
setup began, each part's first read in the background (heartbeat, Pi-hole
check, plug connects) gave up; neither setup nor Home Assistant's start
waits for them.

    .venv/bin/python bench/setup.py

Target: every setup <= 0.5 s (Home Assistant warns about a setup at 10 s).
Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
import contextlib
import logging
from pathlib import Path
import socket
import statistics
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Home Assistant must be imported first: it installs probatio as voluptuous.
import homeassistant  # noqa: F401  # isort: skip

from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.balupi.const import (
    CONF_CONNECTION,
    CONF_HOSTNAME,
    CONF_PI_IP,
    CONF_ROLE,
    CONF_TPLINK_PASSWORD,
    CONF_TPLINK_USERNAME,
    DOMAIN,
    ROLE_GENERIC,
    ROLE_NAS,
    SUBENTRY_PIHOLE,
    SUBENTRY_PLUG,
)
from homeassistant import loader
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.const import (
    CONF_HOST,
    CONF_MAC,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_URL,
    CONF_VERIFY_SSL,
)
from homeassistant.helpers import frame
from tests.conftest import MAC, entry_data

TARGET = 0.5  # s
KLAP = {
    "device_family": "SMART.TAPOPLUG",
    "encryption_type": "KLAP",
    "login_version": 2,
    "https": False,
}


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """Listen on a free port of 127.0.0.1 and never accept; yield the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


def refused_port() -> int:
    """Return a port of 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plug(port: int, index: int) -> ConfigSubentryData:
    mac = f"30:de:4b:00:02:{index:02x}"
    return ConfigSubentryData(
        data={
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            CONF_MAC: mac,
            CONF_ROLE: ROLE_NAS if index == 1 else ROLE_GENERIC,
            CONF_CONNECTION: KLAP,
        },
        subentry_type=SUBENTRY_PLUG,
        title=f"Plug {index}",
        unique_id=mac,
    )


def unreachable_entry(nas: int, pihole: int, plugs: list[int]) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data(f"http://127.0.0.1:{nas}")
        | {CONF_TPLINK_USERNAME: "user@example.com", CONF_TPLINK_PASSWORD: "pw"},
        subentries_data=[
            ConfigSubentryData(
                data={
                    CONF_URL: f"http://127.0.0.1:{pihole}",
                    CONF_PASSWORD: "pw",
                    CONF_VERIFY_SSL: True,
                    CONF_HOSTNAME: "baluhost.lan",
                    CONF_PI_IP: "192.0.2.20",
                },
                subentry_type=SUBENTRY_PIHOLE,
                title="Pi-hole",
                unique_id=None,
            ),
            *(plug(port, index) for index, port in enumerate(plugs, start=1)),
        ],
    )


async def first_refreshes(entry: MockConfigEntry, started: float) -> dict[str, float]:
    """Wait for the background first refreshes; return when each one ended."""
    ended: dict[str, float] = {}
    tasks = list(entry._background_tasks)  # noqa: SLF001 (only those of setup)
    for task in tasks:
        task.add_done_callback(
            lambda task: ended.setdefault(
                task.get_name().removesuffix(" first refresh"),
                time.perf_counter() - started,
            )
        )
    await asyncio.wait(tasks)
    return dict(sorted(ended.items(), key=lambda item: item[1]))


async def run(rounds: int) -> bool:
    with (
        silent_listener() as nas,
        silent_listener() as pihole,
        silent_listener() as plug_1,
        silent_listener() as plug_2,
        tempfile.TemporaryDirectory() as config_dir,
    ):
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            frame.async_setup(hass)  # as the pytest hass fixture does
            entry = unreachable_entry(
                nas, pihole, [plug_1, plug_2, refused_port(), refused_port()]
            )
            entry.add_to_hass(hass)
            setups: list[float] = []
            gave_up: dict[str, float] = {}
            for index in range(rounds + 1):
                started = time.perf_counter()
                assert await hass.config_entries.async_setup(entry.entry_id)
                setups.append(time.perf_counter() - started)
                assert entry.state is ConfigEntryState.LOADED
                if index == 0:
                    gave_up = await first_refreshes(entry, started)
                assert await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_stop(force=True)
    print(
        "entry with NAS, Pi-hole and 4 plugs unreachable "
        "(NAS, Pi-hole, 2 plugs silent; 2 plugs refused)"
    )
    # The first setup of an entry with plugs also loads python-kasa (in the
    # executor): Home Assistant no longer imports it with BaluPi itself.
    print(f"first setup:           {setups[0] * 1000:7.1f} ms  (loads python-kasa)")
    print(
        f"setup after unload:    median {statistics.median(setups[1:]) * 1000:7.1f} ms"
        f"  max {max(setups[1:]) * 1000:7.1f} ms  (n={rounds})"
    )
    print("first reads given up in the background (setup does not wait):")
    for name, seconds in gave_up.items():
        print(f"  {name:<28} {seconds:5.1f} s after setup began")
    worst = max(setups)
    ok = worst <= TARGET
    print(
        f"slowest setup {worst * 1000:.1f} ms (target <= {TARGET * 1000:.0f} ms): "
        + ("met" if ok else "MISSED")
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10, help="setups after unload")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    ok = asyncio.run(run(args.rounds))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
