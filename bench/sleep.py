"""Sleep benchmark: BaluPi never wakes the NAS, never keeps it awake, knows how it sleeps.

Runs the real integration (default options, a dedicated non-admin API key)
inside a Home Assistant test instance against the real BaluHost 1.38 backend
(``../shared/baluhost/run``, dev mode) on 127.0.0.1, in real time, and prints
in one run:

(a) soft sleeps ended by BaluPi: the NAS is put into soft sleep and BaluPi
    watches it for ``--window`` seconds (default 600); counted are the NAS's
    own sleep-history rows that leave soft sleep (target 0);
(b) time until the NAS's auto-idle soft sleep (idle timeout 1 min) with BaluPi
    running divided by the time without it (target <= 1.05). Both runs start
    with a wake request at the same phase of the NAS's 30 s idle check, and
    both times come from the NAS's own sleep history. The CPU and disk
    thresholds are lifted: the dev backend measures the host's CPU, which
    other work shares; the request rate (5 a minute) decides;
(c) requests a minute the NAS counts from BaluPi while idle: the NAS's own
    ``http_requests_per_minute``, read by the bench after a minute of quiet,
    minus the bench's own read;
(d) silent death (SIGKILL of the backend) to ``offline``, max over
    ``--trials`` (default 20, target <= 20 s);
(e) suspend from Home Assistant while the machine goes to RAM (the dev
    backend fakes suspend, so the backend is killed in ``true_suspend``):
    ``suspended``, never ``offline`` (``--suspends`` trials).

    .venv/bin/python bench/sleep.py [--window 600] [--trials 20] [--parts abcde]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
import random
import socket
import statistics
import sys
import tempfile
import time
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Home Assistant must be imported first: it installs probatio as voluptuous.
import homeassistant  # noqa: F401  # isort: skip
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.balupi.const import CONF_API_KEY, DOMAIN, EVENT_NAS_STATE_CHANGED
from homeassistant import loader
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import entity_registry as er
from tests.baluhost import BaluHostAdmin, BaluHostProcess
from tests.conftest import entry_data

IDLE_CHECK = 30.0  # BaluHost's idle detection runs every 30 s
STATE_WAIT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def nas_time(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["timestamp"])


class Bench:
    """One Home Assistant, the NAS backends it watches, and their entries."""

    def __init__(
        self, hass: HomeAssistant, session: aiohttp.ClientSession, root: Path
    ) -> None:
        self.hass = hass
        self.session = session
        self.root = root
        self.states: dict[str, list[tuple[float, str, str, str]]] = {}
        hass.bus.async_listen(EVENT_NAS_STATE_CHANGED, self._on_change)
        self._count = 0
        self._entries = 0

    def _on_change(self, event: Event) -> None:
        self.states.setdefault(event.data["config_entry_id"], []).append(
            (
                time.monotonic(),
                event.data["from"],
                event.data["to"],
                event.data["reason"],
            )
        )

    async def start_nas(self) -> BaluHostProcess:
        self._count += 1
        nas = BaluHostProcess(self.root / f"nas{self._count}", port=free_port())
        await asyncio.to_thread(nas.start)
        return nas

    async def power_key(self, nas: BaluHostProcess) -> str:
        admin = BaluHostAdmin(self.session, nas)
        user_id = await admin.create_user()
        await admin.grant_power(
            user_id, can_soft_sleep=True, can_suspend=True, can_wake=True
        )
        _, key = await admin.create_api_key(user_id)
        return key

    async def add_entry(self, nas: BaluHostProcess, key: str | None) -> MockConfigEntry:
        # One NAS, one MAC (its port); a NAS watched again gets a new entry.
        self._entries += 1
        port = nas.port or 0
        mac = f"02:{self._entries:02x}:00:00:{port // 256:02x}:{port % 256:02x}"
        data = entry_data(nas.url, mac=mac)
        if key is not None:
            data[CONF_API_KEY] = key
        entry = MockConfigEntry(
            domain=DOMAIN, title=f"NAS {self._entries}", unique_id=mac, data=data
        )
        entry.add_to_hass(self.hass)
        await self.hass.config_entries.async_setup(entry.entry_id)
        await self.hass.async_block_till_done(wait_background_tasks=True)
        return entry

    async def remove_entry(self, entry: MockConfigEntry) -> None:
        await self.hass.config_entries.async_remove(entry.entry_id)

    def state(self, entry: MockConfigEntry) -> str:
        changes = self.states.get(entry.entry_id)
        if changes:
            return changes[-1][2]
        return self._entity_state(entry, "nas_state")

    def _entity_state(self, entry: MockConfigEntry, key: str) -> str:
        registry = er.async_get(self.hass)
        for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
            if entity.translation_key == key and (
                state := self.hass.states.get(entity.entity_id)
            ):
                return state.state
        return "unknown"

    def entity_id(self, entry: MockConfigEntry, key: str) -> str:
        registry = er.async_get(self.hass)
        for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
            if entity.translation_key == key:
                return entity.entity_id
        raise LookupError(key)

    async def wait_state(
        self, entry: MockConfigEntry, wanted: str, timeout: float = STATE_WAIT
    ) -> float:
        started = time.monotonic()
        while self.state(entry) != wanted:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{entry.title}: {self.state(entry)}, not {wanted}")
            await asyncio.sleep(0.05)
        return time.monotonic() - started


async def request(
    admin: BaluHostAdmin, method: str, path: str, payload: dict[str, Any] | None = None
) -> Any:
    status, body = await admin.request(method, path, payload)
    assert status == 200, (status, body)
    return body


async def wake_request(session: aiohttp.ClientSession, nas: BaluHostProcess) -> None:
    """One request that wakes the NAS (its middleware does, the handler says 409)."""
    headers = {"Authorization": f"Bearer {nas.apikey}"}
    async with session.post(nas.url + "/api/system/sleep/wake", headers=headers) as r:
        assert r.status in (200, 409), await r.text()


async def part_c(bench: Bench, nas: BaluHostProcess, samples: int) -> list[float]:
    """BaluPi's counted requests a minute while the NAS is awake and idle."""
    entry = await bench.add_entry(nas, await bench.power_key(nas))
    admin = BaluHostAdmin(bench.session, nas)
    counted = []
    for _ in range(samples):
        # A minute and a bit of nothing but BaluPi, so the NAS's 60 s window
        # holds none of the bench's own requests but the read itself.
        await asyncio.sleep(61)
        body = await request(admin, "GET", "/api/system/sleep/status")
        counted.append(body["activity_metrics"]["http_requests_per_minute"] - 1)
    await bench.remove_entry(entry)
    return counted


async def part_a(bench: Bench, nas: BaluHostProcess, window: float) -> tuple[int, str]:
    """Soft sleeps that ended while BaluPi watched a sleeping NAS."""
    admin = BaluHostAdmin(bench.session, nas)
    entry = await bench.add_entry(nas, await bench.power_key(nas))
    await request(admin, "POST", "/api/system/sleep/soft")
    started = len(await admin.sleep_history(200))
    await bench.wait_state(entry, "sleeping", 75)
    await asyncio.sleep(window)
    history = await admin.sleep_history(200)
    rows = history[: len(history) - started]
    ended = sum(1 for row in rows if row["previous_state"] == "soft_sleep")
    state = bench.state(entry)
    await bench.remove_entry(entry)
    await admin.ensure_awake()
    return ended, state


async def idle_run(
    bench: Bench, nas: BaluHostProcess, start_at: float
) -> tuple[float, float]:
    """Wake the NAS at ``start_at`` (monotonic) and wait for its auto-idle sleep.

    Returns the seconds from the wake to the auto-idle soft sleep, as the NAS
    recorded them, and the monotonic time of the wake.
    """
    admin = BaluHostAdmin(bench.session, nas)
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    woke_at = time.monotonic()
    await wake_request(bench.session, nas)
    # No request of the bench until the NAS can have slept (>= 2 checks).
    await asyncio.sleep(2.5 * IDLE_CHECK)
    while True:
        rows = await admin.sleep_history(5)
        if (
            rows[0]["new_state"] == "soft_sleep"
            and rows[0]["triggered_by"] == "auto_idle"
        ):
            break
        await asyncio.sleep(IDLE_CHECK / 2)
    wake = next(row for row in rows if row["new_state"] == "awake")
    return (nas_time(rows[0]) - nas_time(wake)).total_seconds(), woke_at


async def part_b(bench: Bench, nas: BaluHostProcess) -> tuple[float, float]:
    """Auto-idle time without BaluPi, then with it, at the same idle-check phase."""
    admin = BaluHostAdmin(bench.session, nas)
    # The dev backend's CPU and disk figures are the host's (after its first
    # wake it samples them), and this host runs other work: only the request
    # rate, the one thing BaluPi adds to, decides here.
    await request(
        admin,
        "PUT",
        "/api/system/sleep/config",
        {
            "auto_idle_enabled": True,
            "idle_timeout_minutes": 1,
            "idle_cpu_threshold": 100.0,
            "idle_disk_io_threshold": 1000.0,
        },
    )
    key = await bench.power_key(nas)
    await request(admin, "POST", "/api/system/sleep/soft")
    # A quiet minute: the bench's own requests leave the NAS's 60 s window.
    await asyncio.sleep(65)
    without, woke_at = await idle_run(bench, nas, time.monotonic())
    entry = await bench.add_entry(nas, key)
    await bench.wait_state(entry, "sleeping", 75)
    # The next wake at a whole number of idle checks after the first one.
    checks = (time.monotonic() - woke_at) // IDLE_CHECK + 2
    with_balupi, _ = await idle_run(bench, nas, woke_at + checks * IDLE_CHECK)
    await bench.remove_entry(entry)
    await request(
        admin, "PUT", "/api/system/sleep/config", {"auto_idle_enabled": False}
    )
    await admin.ensure_awake()
    return without, with_balupi


async def part_d(
    bench: Bench, trials: int, parallel: int, rng: random.Random
) -> list[float]:
    """Silent deaths, ``parallel`` NAS at a time: seconds until offline."""
    times: list[float] = []

    async def one(
        nas: BaluHostProcess, entry: MockConfigEntry | None
    ) -> MockConfigEntry:
        if entry is None:
            entry = await bench.add_entry(nas, await bench.power_key(nas))
        else:
            await asyncio.to_thread(nas.start)
            # Found again at once (offline is probed only every 30 s).
            await bench.hass.config_entries.async_reload(entry.entry_id)
        await bench.wait_state(entry, "online")
        await asyncio.sleep(5 + rng.uniform(0, 5))
        killed = time.monotonic()
        await asyncio.to_thread(nas.kill)
        await bench.wait_state(entry, "offline", 40)
        offline_at = next(
            at
            for at, _, to, _ in reversed(bench.states[entry.entry_id])
            if to == "offline"
        )
        times.append(offline_at - killed)
        return entry

    fleet = [await bench.start_nas() for _ in range(parallel)]
    entries: list[MockConfigEntry | None] = [None] * parallel
    while len(times) < trials:
        count = min(parallel, trials - len(times))
        entries[:count] = await asyncio.gather(
            *(one(fleet[index], entries[index]) for index in range(count))
        )
    for entry in entries:
        if entry is not None:
            await bench.remove_entry(entry)
    return times


async def part_e(bench: Bench, suspends: int) -> list[list[tuple[str, str, str]]]:
    """Suspend from Home Assistant; the machine goes to RAM (backend killed)."""
    outcomes = []
    nas = await bench.start_nas()
    entry = await bench.add_entry(nas, await bench.power_key(nas))
    button = bench.entity_id(entry, "suspend")
    admin = BaluHostAdmin(bench.session, nas)
    for _ in range(suspends):
        await bench.wait_state(entry, "online")
        before = len(bench.states.get(entry.entry_id, []))
        pressed = asyncio.create_task(
            bench.hass.services.async_call(
                BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: button}, blocking=True
            )
        )
        await admin.wait_for_state("true_suspend")
        await asyncio.to_thread(nas.kill)
        await pressed
        await bench.wait_state(entry, "suspended", 40)
        await asyncio.sleep(30)
        outcomes.append(
            [
                (frm, to, why)
                for _, frm, to, why in bench.states[entry.entry_id][before:]
            ]
        )
        await asyncio.to_thread(nas.start)
        await bench.hass.config_entries.async_reload(entry.entry_id)
    await bench.remove_entry(entry)
    await asyncio.to_thread(nas.stop)
    return outcomes


async def timed[T](name: str, work: Callable[[], Awaitable[T]]) -> T:
    started = time.monotonic()
    result = await work()
    print(f"  ({name} took {time.monotonic() - started:.0f} s)", file=sys.stderr)
    return result


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(2026)
    parts = set(args.parts)
    with (
        tempfile.TemporaryDirectory() as config_dir,
        tempfile.TemporaryDirectory() as root,
    ):
        async with (
            async_test_home_assistant(config_dir=config_dir) as hass,
            aiohttp.ClientSession() as session,
        ):
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            bench = Bench(hass, session, Path(root))
            results: dict[str, Any] = {}
            if "e" in parts:
                results["e"] = await timed("e", lambda: part_e(bench, args.suspends))
            if "d" in parts:
                results["d"] = await timed(
                    "d", lambda: part_d(bench, args.trials, args.parallel, rng)
                )
            if parts & {"a", "b", "c"}:
                nas = await bench.start_nas()
                try:
                    if "b" in parts:
                        results["b"] = await timed("b", lambda: part_b(bench, nas))
                    if "c" in parts:
                        results["c"] = await timed(
                            "c", lambda: part_c(bench, nas, args.samples)
                        )
                    if "a" in parts:
                        results["a"] = await timed(
                            "a", lambda: part_a(bench, nas, args.window)
                        )
                finally:
                    await asyncio.to_thread(nas.stop)
            await hass.async_stop(force=True)
    report(args, results)


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Print each measured part against its target, then the verdict."""
    met = []
    if "a" in results:
        ended, state = results["a"]
        met.append(ended == 0)
        print(
            f"(a) soft sleeps ended in {args.window:.0f} s:  {ended}"
            f"   (target 0; BaluPi saw {state})"
        )
    if "b" in results:
        without, with_balupi = results["b"]
        ratio = with_balupi / without
        met.append(ratio <= 1.05)
        print(
            f"(b) auto-idle sleep without / with BaluPi: {without:.0f} s /"
            f" {with_balupi:.0f} s = ratio {ratio:.3f}   (target <= 1.05)"
        )
    if "c" in results:
        counted = results["c"]
        print(
            f"(c) counted requests/min from BaluPi:   max {max(counted):.0f},"
            f" mean {statistics.mean(counted):.2f} over {len(counted)} minutes"
            f"   (NAS threshold 5)"
        )
    if "d" in results:
        deaths = sorted(results["d"])
        met.append(deaths[-1] <= 20)
        print(
            f"(d) silent death -> offline:            max {deaths[-1]:.2f} s,"
            f" median {statistics.median(deaths):.2f} s over {len(deaths)} trials"
            f"   (target <= 20 s)"
        )
    if "e" in results:
        suspends = results["e"]
        never_offline = all(
            changes
            and all(to != "offline" for _, to, _ in changes)
            and changes[-1][1] == "suspended"
            for changes in suspends
        )
        met.append(never_offline)
        for index, changes in enumerate(suspends, 1):
            print(f"(e) suspend {index}: {changes}")
        print(f"(e) suspended, never offline:           {never_offline}")
    print("result: " + ("targets met" if all(met) else "TARGETS MISSED"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window", type=float, default=600)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--suspends", type=int, default=2)
    parser.add_argument(
        "--parts", default="abcde", help="which parts to run, e.g. 'c' or 'de'"
    )
    asyncio.run(main(parser.parse_args()))
