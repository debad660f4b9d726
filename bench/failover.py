"""Failover benchmark: how fast a dead NAS is seen, and that lost replies are not.

Runs the real integration (NasCoordinator with default options) inside a Home
Assistant test instance, each trial against its own NAS simulator on 127.0.0.1,
in real time:

* detection: the NAS goes dark (connection attempts time out, as with a
  machine gone from the network) at a random moment of the poll cycle;
  measured is the time until the state is ``offline``;
* false offline: now and then (5 % of the probe intervals, at random) the port
  goes dark for one probe, which then times out; no state change allowed.

    scripts/bench failover        # or: .venv/bin/python bench/failover.py

Targets: max detection <= 20 s, zero false offline.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Home Assistant must be imported first: it installs probatio as voluptuous.
import homeassistant  # noqa: F401  # isort: skip
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.balupi.const import DOMAIN, EVENT_NAS_STATE_CHANGED
from homeassistant import loader
from homeassistant.core import Event, HomeAssistant
from tests.conftest import entry_data
from tests.fakes.nas_simulator import NasSimulator


async def start_fleet(
    hass: HomeAssistant, count: int
) -> list[tuple[MockConfigEntry, NasSimulator]]:
    fleet = []
    for index in range(count):
        simulator = NasSimulator(seed=index)
        await simulator.start()
        mac = f"02:00:00:00:{index // 256:02x}:{index % 256:02x}"
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=f"NAS {index}",
            unique_id=mac,
            data=entry_data(simulator.url, mac=mac),
        )
        entry.add_to_hass(hass)
        await hass.config_entries.async_setup(entry.entry_id)
        fleet.append((entry, simulator))
    # Each NAS's first probe runs in the background, after setup.
    await hass.async_block_till_done(wait_background_tasks=True)
    return fleet


async def stop_fleet(
    hass: HomeAssistant, fleet: list[tuple[MockConfigEntry, NasSimulator]]
) -> None:
    for entry, simulator in fleet:
        await hass.config_entries.async_remove(entry.entry_id)
        await simulator.stop()


def offline_times(hass: HomeAssistant) -> dict[str, float]:
    """Record when each entry's NAS went offline (monotonic seconds)."""
    seen: dict[str, float] = {}

    def on_change(event: Event) -> None:
        if event.data["to"] == "offline":
            seen.setdefault(event.data["config_entry_id"], time.monotonic())

    hass.bus.async_listen(EVENT_NAS_STATE_CHANGED, on_change)
    return seen


async def detection(
    hass: HomeAssistant, trials: int, rng: random.Random
) -> list[float]:
    fleet = await start_fleet(hass, trials)
    await asyncio.sleep(6)
    seen = offline_times(hass)
    silent_at: dict[str, float] = {}

    async def kill(entry: MockConfigEntry, simulator: NasSimulator) -> None:
        await asyncio.sleep(rng.uniform(0, 5))
        await simulator.go_dark()
        silent_at[entry.entry_id] = time.monotonic()

    await asyncio.gather(*(kill(entry, sim) for entry, sim in fleet))
    deadline = time.monotonic() + 40
    while len(seen) < trials and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await stop_fleet(hass, fleet)
    return [seen.get(key, float("inf")) - at for key, at in silent_at.items()]


async def false_offline(
    hass: HomeAssistant, entries: int, seconds: float
) -> tuple[int, int, int]:
    fleet = await start_fleet(hass, entries)
    await asyncio.sleep(1)
    seen = offline_times(hass)
    rng = random.Random(seconds)
    until = time.monotonic() + seconds
    before = sum(simulator.connections for _, simulator in fleet)
    lost = sum(await asyncio.gather(*(flicker(sim, rng, until) for _, sim in fleet)))
    probes = sum(simulator.connections for _, simulator in fleet) - before + lost
    await stop_fleet(hass, fleet)
    return len(seen), probes, lost


async def flicker(simulator: NasSimulator, rng: random.Random, until: float) -> int:
    """Lose about 5 % of the probes: the port goes dark for one probe at a time."""
    lost = 0
    while time.monotonic() < until:
        await asyncio.sleep(5)
        if rng.random() < 0.05:
            await simulator.go_dark()
            lost += 1
            # Longer than a probe's 2 s timeout, shorter than the 1 s
            # confirmation after it: one probe fails, the next answers.
            await asyncio.sleep(2.5)
            await simulator.start()
    return lost


async def main(trials: int, entries: int, seconds: float) -> None:
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            times: list[float] = []
            while len(times) < trials:
                times += await detection(hass, min(20, trials - len(times)), rng)
            offline, probes, lost = await false_offline(hass, entries, seconds)
            await hass.async_stop(force=True)
    times.sort()
    print(f"detection trials:       {len(times)}")
    print(f"detection p50:          {statistics.median(times):.2f} s")
    print(f"detection p95:          {times[int(len(times) * 0.95) - 1]:.2f} s")
    print(f"detection max:          {times[-1]:.2f} s   (target <= 20 s)")
    print(
        f"false-offline run:      {entries} NAS x {seconds:.0f} s, "
        f"{probes} probes, {lost} probes lost ({lost / max(probes, 1):.1%})"
    )
    print(f"false offline:          {offline}   (target 0)")
    ok = times[-1] <= 20 and offline == 0
    print("result:                 " + ("targets met" if ok else "TARGETS MISSED"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    asyncio.run(main(args.trials, args.entries, args.seconds))
