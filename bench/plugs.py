"""Plug benchmark: CPU per poll against core's tplink, and recorder growth per plug.

1. CPU and wall time per poll cycle, BaluPi vs Home Assistant core, 1/5/20 plugs.
   The fake Tapo plugs (real KLAP, tests/fakes/tapo_plug.py) and the NAS
   simulator run as separate processes (their CLIs), so only the client side
   is charged. In one Home Assistant test instance per plug count:

   * BaluPi: the real integration entry with N plug subentries (first one the
     NAS plug), set up as users have it; timed is
     ``asyncio.gather(*(c.async_refresh() for c in entry.runtime_data.plugs.values()))``.
   * core: per plug, core's ``TPLinkDataUpdateCoordinator`` built directly
     around a python-kasa ``Device`` connected exactly as core's
     ``async_setup_entry`` connects it (``DeviceConfig`` with
     ``create_async_tplink_clientsession``, ``CONNECT_TIMEOUT``, credentials
     from ``get_credentials``, the KLAP ``connection_parameters``,
     ``port_override``), each with a ``tplink`` MockConfigEntry that is never set
     up: core's ``async_setup`` broadcasts discovery on the LAN. Timed is the
     same gather over its coordinators.

   Nobody listens: BaluPi's coordinator listeners (its entities) are detached
   while measuring and core has no entities at all, so both figures are the
   poll itself (python-kasa update + coordinator bookkeeping), no state writes.
   Without listeners neither coordinator schedules its own polls either.

   Rounds alternate the side that goes first; each cycle is measured alone
   with ``time.process_time()`` (this process: all threads) and
   ``time.perf_counter()``; warm-up cycles are dropped; medians are reported,
   with a 95 % bootstrap interval of the BaluPi/core ratio (rounds resampled
   in pairs). The set-up objects are ``gc.freeze()``-d and a collection runs,
   unmeasured, before every cycle, so no cycle pays for the other side's
   garbage. The CPU target counts as met when BaluPi is not measurably dearer
   (the interval's lower end <= 1).
   Before every round python-kasa's clock (``kasa.smart.smartdevice.time``,
   a module reference swapped for a shim) moves on 30 s, so each device sees
   polls 30 s apart and queries its rate-limited modules (cloud every 60 s,
   LED hourly, firmware daily) as it would at BaluPi's default interval.
   Core polls every 5 s by default; its per-hour CPU is extrapolated from the
   same per-poll figure.

   Targets: BaluPi CPU per plug and poll <= core's; a 20-plug cycle completes
   within one poll interval (30 s).

2. Recorder growth per plug and simulated day at the default 30 s interval.
   Home Assistant's real recorder writes to a sqlite file (default settings,
   statistics on, ``commit_interval`` 5 s) while the real BaluPi entry with 5
   plugs (in-process FakeTapoPlugs, realtime energy counting on the frozen
   clock; power 3.5-150 W, changing by up to +-2 % every poll as real plugs'
   readings do) creates its real entities (power, energy today/month, cost,
   switch; voltage, current and RSSI stay disabled by default). freezegun
   (configured as pytest-homeassistant-custom-component configures it) moves
   the clock in 30 s steps and ``async_fire_time_changed`` fires the due timers:
   the plugs' polls, the NAS heartbeat, the recorder's commits and its 5-minute
   and hourly statistics compilation. Every step waits until all 5 plugs
   answered. After one warm-up hour (schema, metadata, attributes) the
   database is checkpointed (``wal_checkpoint(TRUNCATE)`` from a second
   connection, recorder idle after ``async_wait_recording_done``) and
   measured, again after ``--hours`` (default 24, so crossing midnight and
   the nightly purge) more; the difference of file + WAL, divided by 5 plugs
   and scaled to 24 h, is the figure. Everything written
   (the NAS entry's own entities included) is charged to the plugs, and a
   per-table and per-entity breakdown is printed.

   Growth depends on the load: the power sensor records every poll (its
   reading always moves a little), energy today/month and cost once per Wh
   (the plug counts whole Wh), so up to 4 rows per poll above 120 W. The
   per-plug table shows each plug's rows and share.

   Target: <= 1 MB per plug and day.

3. CPU of the energy insights per poll cycle at 20 plugs (pure logic of
   ``custom_components/balupi/insights.py``, no Home Assistant): per cycle the
   NAS's awake time (fed the lifecycle's transitions and the poll, today's
   seconds and the 7-day share), a baseline sample while the NAS is online,
   the savings of the interval (time-of-use tariff), the month's cost of all
   20 plugs summed, and the projected month cost for the NAS and for all
   plugs. Inputs (NAS awake 6 h a day, watts, costs) are made beforehand;
   ``time.process_time()`` runs around the whole series of cycles (a week
   at 30 s up to the 25-hour 25 October 2026 in Europe/Berlin, so midnights,
   that day and tariff changes are in it), three times with fresh objects,
   the median reported. The hourly cost profile (once an hour) and the
   serialisation for the Store (on save) are timed apart.

   Target: < 1 ms CPU per cycle.

As the pytest plugin does, aiohttp gets a resolver without Zeroconf (no
multicast sockets; all hosts are IP literals) and the frame helper is set up.
Parts 1 and 2 together take about 3 minutes on 2 cores, part 3 a few seconds.

    ../shared/py314/run .venv/bin/python bench/plugs.py [--hours 24] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, time as dt_time, timedelta
import gc
import json
import logging
import math
from pathlib import Path
import random
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from types import ModuleType
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Home Assistant must be imported first: it installs probatio as voluptuous.
import homeassistant  # noqa: F401  # isort: skip

# Before anything else of Home Assistant: dt_util.utcnow becomes a function
# freezegun can patch (as the pytest plugin does).
from pytest_homeassistant_custom_component import patch_time  # isort: skip

from aiohttp.resolver import ThreadedResolver
import freezegun
from kasa import Device, DeviceConfig
import kasa.smart.smartdevice
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_test_home_assistant,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.balupi.const import (
    CONF_CONNECTION,
    CONF_ROLE,
    CONF_TPLINK_PASSWORD,
    CONF_TPLINK_USERNAME,
    DEFAULT_PLUG_INTERVAL,
    DOMAIN,
    ROLE_GENERIC,
    ROLE_NAS,
    SUBENTRY_PLUG,
)
from custom_components.balupi.coordinator.plugs import PlugCoordinator
from custom_components.balupi.insights import (
    AwakeTracker,
    BaselineLearner,
    PollInterval,
    SavingsMeter,
    baseline_watts,
    hourly_cost_profile,
    month_bounds,
    project_month_cost,
    report_month,
)
from custom_components.balupi.nas_state import (
    AWAKE_STATES,
    NasLifecycle,
    NasState,
    Reason,
    Transition,
)
from custom_components.balupi.tariff import Tariff, TimeOfUse
from homeassistant import loader
from homeassistant.components.tplink import (
    create_async_tplink_clientsession,
    get_credentials,
    set_credentials,
)
from homeassistant.components.tplink.const import (
    CONF_CONNECTION_PARAMETERS,
    CONF_USES_HTTP,
    CONNECT_TIMEOUT,
    DOMAIN as TPLINK_DOMAIN,
)
from homeassistant.components.tplink.coordinator import TPLinkDataUpdateCoordinator
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_HOST, CONF_MAC, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    entity_registry as er,
    frame,
    recorder as recorder_helper,
)
from homeassistant.helpers.device_registry import format_mac
from homeassistant.setup import async_setup_component
from tests.conftest import MAC, entry_data
from tests.fakes.nas_simulator import NasSimulator
from tests.fakes.tapo_plug import DEFAULT_PASSWORD, FakeTapoPlug

USER = "user@example.com"
KLAP = {
    "device_family": "SMART.TAPOPLUG",
    "encryption_type": "KLAP",
    "login_version": 2,
    "https": False,
}
INTERVAL = DEFAULT_PLUG_INTERVAL  # s, BaluPi's default
CORE_INTERVAL = 5  # s, core tplink's parent coordinator
TZ = "Europe/Berlin"
MB = 1_000_000


# --- helpers ---------------------------------------------------------------------


def free_port_block(count: int) -> int:
    """Return a base port such that ``count`` consecutive ports are free now."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - count)
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port block")


async def spawn(*args: str) -> asyncio.subprocess.Process:
    """Start ``python -m <args>`` from the checkout, reading its stdout."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )


async def read_json_lines(
    process: asyncio.subprocess.Process, count: int
) -> list[dict[str, Any]]:
    assert process.stdout is not None
    lines = []
    async with asyncio.timeout(30):
        while len(lines) < count:
            line = await process.stdout.readline()
            if not line:
                raise RuntimeError("fake process ended early")
            lines.append(json.loads(line))
    return lines


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await process.wait()


def subentry(
    host: str, port: int, mac: str, alias: str, role: str = ROLE_GENERIC
) -> ConfigSubentryData:
    mac = format_mac(mac.replace("-", ":"))
    return ConfigSubentryData(
        data={
            CONF_HOST: host,
            CONF_PORT: port,
            CONF_MAC: mac,
            CONF_ROLE: role,
            CONF_CONNECTION: KLAP,
        },
        subentry_type=SUBENTRY_PLUG,
        title=alias,
        unique_id=mac,
    )


def balupi_entry(nas_url: str, plugs: list[ConfigSubentryData]) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data(nas_url)
        | {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD},
        subentries_data=plugs,
    )


async def setup_balupi(
    hass: HomeAssistant, nas_url: str, plugs: list[ConfigSubentryData]
) -> list[PlugCoordinator]:
    entry = balupi_entry(nas_url, plugs)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    # The plugs connect in the background, after setup.
    await hass.async_block_till_done(wait_background_tasks=True)
    coordinators = list(entry.runtime_data.plugs.values())
    assert len(coordinators) == len(plugs)
    failed = [c.name for c in coordinators if not c.last_update_success]
    assert not failed, f"plugs did not answer: {failed}"
    return coordinators


# --- part 1: CPU per poll ---------------------------------------------------------


class KasaClock(ModuleType):
    """``time`` for python-kasa's SmartDevice with a movable monotonic clock."""

    def __init__(self) -> None:
        super().__init__("time")
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


async def connect_like_core(
    hass: HomeAssistant, host: str, port: int, mac: str
) -> TPLinkDataUpdateCoordinator:
    """Do what core's tplink ``async_setup_entry`` does, up to its coordinator."""
    entry = MockConfigEntry(
        domain=TPLINK_DOMAIN,
        title=mac,
        unique_id=mac,
        data={
            CONF_HOST: host,
            CONF_PORT: port,
            CONF_CONNECTION_PARAMETERS: KLAP,
            CONF_USES_HTTP: True,
        },
    )
    entry.add_to_hass(hass)
    credentials = await get_credentials(hass)
    config = DeviceConfig(
        host,
        timeout=CONNECT_TIMEOUT,
        http_client=create_async_tplink_clientsession(hass),
        aes_keys=None,
        port_override=port,
    )
    config.connection_type = Device.ConnectionParameters.from_dict(KLAP)
    config.credentials = credentials
    device = await Device.connect(config=config)
    assert format_mac(device.mac) == mac
    return TPLinkDataUpdateCoordinator(
        hass, device, timedelta(seconds=CORE_INTERVAL), entry
    )


@dataclass
class Side:
    name: str
    coordinators: list[Any]
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    failures: int = 0

    async def cycle(self, *, keep: bool) -> None:
        coordinators = self.coordinators
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(c.async_refresh() for c in coordinators))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        self.failures += sum(not c.last_update_success for c in coordinators)
        if keep:
            self.cpu.append(cpu)
            self.wall.append(wall)


async def measure_count(
    plugs: list[dict[str, Any]],
    nas_url: str,
    clock: KasaClock,
    warmup: int,
    rounds: int,
) -> tuple[Side, Side]:
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            frame.async_setup(hass)  # as the pytest hass fixture does
            await hass.config.async_set_time_zone(TZ)
            balupi = await setup_balupi(
                hass,
                nas_url,
                [
                    subentry(
                        p["host"],
                        p["port"],
                        p["mac"],
                        p["alias"],
                        ROLE_NAS if i == 0 else ROLE_GENERIC,
                    )
                    for i, p in enumerate(plugs)
                ],
            )
            # Detach every listener (entities, the optional-sensor watcher):
            # the poll alone is measured, and no coordinator schedules polls.
            for coordinator in balupi:
                coordinator._listeners.clear()  # noqa: SLF001
                coordinator._async_unsub_refresh()  # noqa: SLF001
            await set_credentials(hass, USER, DEFAULT_PASSWORD)
            core = [
                await connect_like_core(
                    hass, p["host"], p["port"], format_mac(p["mac"])
                )
                for p in plugs
            ]
            sides = (Side("balupi", balupi), Side("core", core))
            # Everything set up so far is long-lived: keep it out of the
            # collections made (unmeasured) before each cycle, so no cycle
            # pays for another's garbage.
            gc.collect()
            gc.freeze()
            for index in range(warmup + rounds):
                clock.offset += INTERVAL
                order = sides if index % 2 == 0 else sides[::-1]
                for side in order:
                    gc.collect()
                    await side.cycle(keep=index >= warmup)
                    await asyncio.sleep(0.02)  # let connection callbacks finish
            gc.unfreeze()
            for coordinator in core:
                await coordinator.async_shutdown()
                await coordinator.device.disconnect()
            await hass.async_stop(force=True)
    return sides


async def cpu_part(counts: list[int], warmup: int, rounds: dict[int, int]) -> bool:
    plug_base = free_port_block(max(counts))
    fakes = await spawn(
        "tests.fakes.tapo_plug",
        "--count",
        str(max(counts)),
        "--base-port",
        str(plug_base),
    )
    nas_port = free_port_block(1)
    nas = await spawn("tests.fakes.nas_simulator", "--port", str(nas_port))
    clock = KasaClock()
    real_time = kasa.smart.smartdevice.time
    kasa.smart.smartdevice.time = clock  # type: ignore[assignment]
    try:
        plugs = await read_json_lines(fakes, max(counts))
        nas_url = (await read_json_lines(nas, 1))[0]["ready"]
        results = {
            n: await measure_count(plugs[:n], nas_url, clock, warmup, rounds[n])
            for n in counts
        }
    finally:
        kasa.smart.smartdevice.time = real_time
        await stop(fakes)
        await stop(nas)

    print(
        "== 1. CPU per poll: BaluPi PlugCoordinator vs core TPLinkDataUpdateCoordinator"
    )
    print(
        "   fake plugs (KLAP, python -m tests.fakes.tapo_plug) and NAS simulator in "
        "separate processes;"
    )
    print(
        "   CPU = this process's time.process_time() around one gathered cycle; "
        "wall = perf_counter."
    )
    print(
        "   NO entities listening on either side (BaluPi's listeners detached, "
        "core has none): poll only."
    )
    print(
        f"   python-kasa's clock moves {INTERVAL} s per round; {warmup} warm-up "
        "rounds dropped; sides alternate going first;"
    )
    print("   medians; 95 % CI of the ratio by bootstrap over the paired rounds.")
    print(
        f"{'plugs':>5} {'rounds':>6} | {'CPU/plug/poll ms':>19} | "
        f"{'b/c (95 % CI)':>19} | {'cycle wall ms median/max':>29} | failed"
    )
    print(
        f"{'':>12} | {'balupi':>9} {'core':>9} | {'median':>19} | "
        f"{'balupi':>14} {'core':>14} | polls"
    )
    rng = random.Random(7)
    ok = True
    for n, (balupi, core) in results.items():
        b_cpu = statistics.median(balupi.cpu) / n * 1000
        c_cpu = statistics.median(core.cpu) / n * 1000
        ratio = b_cpu / c_cpu
        low, high = bootstrap_ratio(balupi.cpu, core.cpu, rng)
        print(
            f"{n:>5} {len(balupi.cpu):>6} | {b_cpu:>9.3f} {c_cpu:>9.3f} | "
            f"{ratio:>5.3f} ({low:.3f}-{high:.3f}) | "
            f"{statistics.median(balupi.wall) * 1000:>6.1f}/{max(balupi.wall) * 1000:<7.1f}"
            f"{statistics.median(core.wall) * 1000:>6.1f}/{max(core.wall) * 1000:<7.1f} | "
            f"{balupi.failures}/{core.failures}"
        )
        b_mean = statistics.fmean(balupi.cpu) / n * 1000
        c_mean = statistics.fmean(core.cpu) / n * 1000
        print(f"{'mean':>12} | {b_mean:>9.3f} {c_mean:>9.3f} | {b_mean / c_mean:>5.3f}")
        # Met when BaluPi is not measurably dearer: median ratio <= 1, or the
        # confidence interval includes 1.
        ok = ok and low <= 1.0 and balupi.failures == core.failures == 0
    n_max = max(results)
    balupi, core = results[n_max]
    b_cpu = statistics.median(balupi.cpu) / n_max
    c_cpu = statistics.median(core.cpu) / n_max
    print(
        f"   CPU per plug and hour at each default interval ({n_max} plugs): "
        f"balupi {b_cpu * 3600 / INTERVAL:.3f} s (every {INTERVAL} s), core "
        f"{c_cpu * 3600 / CORE_INTERVAL:.3f} s (every {CORE_INTERVAL} s)"
    )
    print(
        "   target: balupi CPU/plug/poll <= core's (not measurably above: CI "
        f"low <= 1): {'met' if ok else 'MISSED'}"
    )
    worst = max(balupi.wall)
    print(
        f"   target: {n_max}-plug cycle within one interval ({INTERVAL} s): max "
        f"{worst:.3f} s, {'met' if worst < INTERVAL else 'MISSED'}"
    )
    return ok and worst < INTERVAL


def bootstrap_ratio(
    first: list[float], second: list[float], rng: random.Random, samples: int = 2000
) -> tuple[float, float]:
    """95 % interval of median(first) / median(second), rounds resampled in pairs."""
    pairs = list(zip(first, second, strict=True))
    ratios = []
    for _ in range(samples):
        sample = rng.choices(pairs, k=len(pairs))
        ratios.append(
            statistics.median(a for a, _ in sample)
            / statistics.median(b for _, b in sample)
        )
    ratios.sort()
    return ratios[int(samples * 0.025)], ratios[int(samples * 0.975) - 1]


# --- part 2: recorder growth ----------------------------------------------------


def configure_freezegun() -> None:
    """What pytest-homeassistant-custom-component does before each test."""
    api: Any = freezegun.api
    api.FakeDate = patch_time.HAFakeDate
    api.datetime_to_fakedatetime = patch_time.ha_datetime_to_fakedatetime
    api.FakeDatetime = patch_time.HAFakeDatetime
    api._get_module_attributes = patch_time.ha_get_module_attributes  # noqa: SLF001
    api._get_module_attributes_hash = patch_time.ha_get_module_attributes_hash  # noqa: SLF001
    api._should_use_real_time = patch_time.ha_should_use_real_time  # noqa: SLF001
    api.get_current_time = patch_time.ha_get_current_time
    sqlite3.register_adapter(patch_time.HAFakeDatetime, lambda val: val.isoformat(" "))


@dataclass
class DbSize:
    main: int
    wal: int
    used: int
    tables: dict[str, int]
    rows: dict[str, int]
    states: dict[str, int]  # entity_id -> rows
    checkpoint: tuple[int, int, int]

    @property
    def total(self) -> int:
        return self.main + self.wal


ROW_TABLES = (
    "states",
    "state_attributes",
    "statistics",
    "statistics_short_term",
    "events",
    "event_data",
)


def db_size(path: Path) -> DbSize:
    """Checkpoint the WAL into the file and measure (the recorder is idle)."""
    with sqlite3.connect(path, timeout=10) as db:
        checkpoint = tuple(db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        try:
            tables = dict(
                db.execute(
                    "SELECT coalesce(t.tbl_name, d.name), sum(d.pgsize) FROM dbstat d"
                    " LEFT JOIN sqlite_master t ON t.name = d.name GROUP BY 1"
                ).fetchall()
            )
        except sqlite3.OperationalError:  # no dbstat in this sqlite
            tables = {}
        rows = {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ROW_TABLES
        }
        states = dict(
            db.execute(
                "SELECT m.entity_id, count(*) FROM states s"
                " JOIN states_meta m ON m.metadata_id = s.metadata_id GROUP BY 1"
            ).fetchall()
        )
    wal = path.with_name(path.name + "-wal")
    return DbSize(
        main=path.stat().st_size,
        wal=wal.stat().st_size if wal.exists() else 0,
        used=(pages - free) * page_size,
        tables=tables,
        rows=rows,
        states=states,
        checkpoint=checkpoint,  # type: ignore[arg-type]
    )


async def settle(seconds: float = 0.002) -> None:
    """Let real socket I/O run while the frozen clock stands still."""
    await asyncio.get_running_loop().run_in_executor(None, time.sleep, seconds)


PLUG_POWERS = (45.0, 12.0, 3.5, 80.0, 150.0)  # NAS, router, TV standby, PC, fridge


def plug_entity_info(hass: HomeAssistant) -> dict[str, Any]:
    """The plugs' entities: recorded (enabled) or not, and what each one is."""
    entries = [
        e
        for e in er.async_get(hass).entities.values()
        if e.config_subentry_id and e.platform == DOMAIN
    ]
    return {
        # entity_id -> (subentry, what), what is the unique_id after the MAC.
        "plug_entities": {
            e.entity_id: (e.config_subentry_id, e.unique_id.split("_", 1)[1])
            for e in entries
        },
        "enabled": sorted(e.entity_id for e in entries if not e.disabled_by),
        "disabled": sorted(e.entity_id for e in entries if e.disabled_by),
    }


async def simulate(
    hass: HomeAssistant,
    frozen: Any,
    fakes: list[FakeTapoPlug],
    coordinators: list[PlugCoordinator],
    db_path: Path,
    marks: tuple[int, int],
    rng: random.Random,
) -> dict[str, Any]:
    """Step the frozen clock by one poll interval at a time; measure at ``marks``."""
    tz = ZoneInfo(TZ)
    late = 0
    measured: list[DbSize] = []
    polls0 = 0
    today = datetime.now(tz).date()
    # The plug's data is the same python-kasa Device after every poll: a poll
    # is seen by a listener, which every finished refresh calls.
    updates = [0] * len(coordinators)
    for index, coordinator in enumerate(coordinators):

        def count(index: int = index) -> None:
            updates[index] += 1

        coordinator.async_add_listener(count)
    for step in range(1, marks[1] + 1):
        for fake, power in zip(fakes, PLUG_POWERS, strict=True):
            fake.power_w = round(power * (1 + rng.uniform(-0.02, 0.02)), 3)
        before = list(updates)
        frozen.tick(INTERVAL)
        if (now := datetime.now(tz)).date() != today:
            for fake in fakes:  # the plug's own midnight
                fake.reset_counters(month=now.month != today.month)
            today = now.date()
        async_fire_time_changed(hass)
        # Wait (real time) until every coordinator finished its poll.
        for _ in range(2500):
            await settle()
            if all(now > old for now, old in zip(updates, before, strict=True)):
                break
        late += sum(now <= old for now, old in zip(updates, before, strict=True))
        await hass.async_block_till_done()
        # 30 s past the hour, after the hour's :00:10 statistics run.
        if step in marks:
            await async_wait_recording_done(hass)
            measured.append(db_size(db_path))
            if len(measured) == 1:
                polls0 = sum(f.calls["get_device_info"] for f in fakes)
    return {
        "start": measured[0],
        "end": measured[1],
        "late": late,
        "polls": sum(f.calls["get_device_info"] for f in fakes) - polls0,
    }


async def recorder_run(
    frozen: Any, hours: int, warmup_hours: int, seed: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as config_dir:
        db_path = Path(config_dir) / "home-assistant_v2.db"
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            frame.async_setup(hass)  # as the pytest hass fixture does
            await hass.config.async_set_time_zone(TZ)
            recorder_helper.async_initialize_recorder(hass)
            assert await async_setup_component(
                hass, "recorder", {"recorder": {"db_url": f"sqlite:///{db_path}"}}
            )
            await hass.async_block_till_done()
            await async_wait_recording_done(hass)

            nas = NasSimulator()
            await nas.start()
            fakes = [
                FakeTapoPlug(
                    model="P110" if i % 2 == 0 else "P115",
                    mac=f"30:DE:4B:00:01:{i + 1:02X}",
                    alias=f"Plug {i + 1}",
                    power_w=power,
                    with_voltage=i % 3 != 2,
                    realtime=True,  # energy follows the (frozen, ticked) clock
                )
                for i, power in enumerate(PLUG_POWERS)
            ]
            for fake in fakes:
                await fake.start()
            coordinators = await setup_balupi(
                hass,
                nas.url,
                [
                    subentry(
                        f.host,
                        f.port,
                        f.mac,
                        f.alias,
                        ROLE_NAS if i == 0 else ROLE_GENERIC,
                    )
                    for i, f in enumerate(fakes)
                ],
            )
            info = plug_entity_info(hass)
            steps_per_hour = 3600 // INTERVAL
            wall0 = freezegun.api.real_monotonic()
            run = await simulate(
                hass,
                frozen,
                fakes,
                coordinators,
                db_path,
                marks=(
                    warmup_hours * steps_per_hour + 1,
                    (warmup_hours + hours) * steps_per_hour + 1,
                ),
                rng=random.Random(seed),
            )
            wall = freezegun.api.real_monotonic() - wall0
            await hass.config_entries.async_unload(
                coordinators[0].config_entry.entry_id
            )
            await hass.async_block_till_done()
            for fake in fakes:
                await fake.stop()
            await nas.stop()
            await hass.async_stop(force=True)
    return (
        run
        | info
        | {
            "wall": wall,
            "titles": {
                c.subentry.subentry_id: (c.subentry.title, power)
                for c, power in zip(coordinators, PLUG_POWERS, strict=True)
            },
        }
    )


def recorder_part(hours: int, warmup_hours: int) -> bool:
    configure_freezegun()
    start = datetime(2026, 11, 24, 5, 0, 2, tzinfo=ZoneInfo(TZ))
    with freezegun.freeze_time(start) as frozen:
        result = asyncio.run(recorder_run(frozen, hours, warmup_hours, seed=2026))
    first: DbSize = result["start"]
    last: DbSize = result["end"]
    plugs = len(PLUG_POWERS)
    growth = last.total - first.total
    per_plug_day = growth / plugs * 24 / hours / MB
    used_day = (last.used - first.used) / plugs * 24 / hours / MB
    expected_polls = plugs * hours * 3600 // INTERVAL
    print()
    print("== 2. Recorder database growth (real recorder, sqlite file, statistics on)")
    print(
        f"   5 BaluPi plugs ({', '.join(f'{p:g}' for p in PLUG_POWERS)} W, +-2 % "
        f"per poll), {INTERVAL} s polls, simulated with freezegun + "
        "async_fire_time_changed"
    )
    print(
        f"   simulated {warmup_hours} h warm-up + {hours} h measured "
        f"({TZ}, from 2026-11-24 05:00); real time {result['wall']:.0f} s"
    )
    print(
        f"   polls answered in the measured span: {result['polls']} "
        f"(expected {expected_polls}); polls not done within ~5 s real time of "
        f"their step: {result['late']}"
    )
    print(f"   enabled plug entities: {', '.join(result['enabled'])}")
    print(f"   disabled by default (not recorded): {', '.join(result['disabled'])}")
    print(
        f"   checkpoints (busy, wal pages, moved): start {first.checkpoint}, "
        f"end {last.checkpoint}"
    )
    print(
        f"   file+WAL after checkpoint: {first.total / MB:.3f} MB -> "
        f"{last.total / MB:.3f} MB  (+{growth / MB:.3f} MB in {hours} h)"
    )
    print("   added in the measured span (rows; bytes of table + its indexes):")
    for table in ROW_TABLES:
        rows = last.rows[table] - first.rows[table]
        size = last.tables.get(table, 0) - first.tables.get(table, 0)
        print(f"     {table:<22} {rows:>8} rows {size / 1000:>9.1f} kB")
    others = {
        t: last.tables.get(t, 0) - first.tables.get(t, 0)
        for t in last.tables
        if t not in ROW_TABLES
    }
    if any(others.values()):
        print(
            "     other tables           "
            + ", ".join(f"{t} {n / 1000:+.1f} kB" for t, n in others.items() if n)
        )
    entities: dict[str, tuple[str, str]] = result["plug_entities"]
    added = {
        entity: last.states.get(entity, 0) - first.states.get(entity, 0)
        for entity in last.states.keys() | first.states.keys()
    }
    plug_rows = sum(n for entity, n in added.items() if entity in entities)
    other_rows = sum(n for entity, n in added.items() if entity not in entities)
    print(
        f"   states rows: {plug_rows} from plug entities, {other_rows} from other "
        "entities (all charged to the plugs)"
    )
    kinds = sorted({kind for _, kind in entities.values()})
    recorded = [
        k
        for k in kinds
        if any(added.get(e) for e, (_, kind) in entities.items() if kind == k)
    ]
    # Each plug's share: its states rows at the measured bytes per row, plus
    # an equal part of everything else (statistics, events, runs).
    state_bytes = last.tables.get("states", 0) - first.tables.get("states", 0)
    per_row = state_bytes / max(plug_rows + other_rows, 1)
    rest = (growth - state_bytes) / plugs
    print(
        f"   states rows cost {per_row:.0f} B each (table + indexes); the rest is "
        f"{rest * 24 / hours / MB:.3f} MB per plug and day"
    )
    print(
        "   states per plug and hour: "
        f"{'plug':<12}{'W':>6} "
        + " ".join(f"{k:>12}" for k in recorded)
        + f" {'MB/day':>8}"
    )
    for subentry_id, (title, power) in result["titles"].items():
        counts = [
            sum(n for e, n in added.items() if entities.get(e) == (subentry_id, kind))
            for kind in recorded
        ]
        mb_day = (sum(counts) * per_row + rest) * 24 / hours / MB
        print(
            f"{'':>29}{title:<12}{power:>6g} "
            + " ".join(f"{c / hours:>12.1f}" for c in counts)
            + f" {mb_day:>8.3f}"
        )
    print(
        f"   growth per plug and day: {per_plug_day:.3f} MB "
        f"(used pages only: {used_day:.3f} MB)   (target <= 1 MB/plug/day)"
    )
    ok = per_plug_day <= 1.0 and result["polls"] == expected_polls
    print("   target " + ("met" if ok else "MISSED"))
    return ok


# --- part 3: insight computations per poll cycle ----------------------------------

INSIGHT_PLUGS = 20
NAS_AWAKE_HOURS = frozenset({7, 12, 19, 20, 21, 22})  # local hours
INSIGHT_TARIFF = Tariff(0.32, (TimeOfUse(dt_time(22), dt_time(6), 0.25),))


@dataclass(frozen=True)
class Cycle:
    """One poll's inputs, made before the clock runs."""

    now: datetime
    state: NasState
    transition: Transition | None
    nas_watts: float
    month_costs: list[float]  # each plug's cost this month, the NAS plug first


def insight_cycles(start: datetime, count: int, rng: random.Random) -> list[Cycle]:
    tz = ZoneInfo(TZ)
    lifecycle = NasLifecycle(NasState.OFFLINE)
    costs = [0.0] * INSIGHT_PLUGS
    cycles = []
    for index in range(count):
        now = start + index * timedelta(seconds=INTERVAL)
        awake = now.astimezone(tz).hour in NAS_AWAKE_HOURS
        state = NasState.ONLINE if awake else NasState.OFFLINE
        transition = lifecycle.apply(state, Reason.HEARTBEAT, now)
        nas_watts = (40.0 if awake else 2.5) * rng.uniform(0.98, 1.02)
        costs = [c + rng.uniform(0, 0.001) for c in costs]
        cycles.append(Cycle(now, state, transition, nas_watts, costs))
    return cycles


def run_insight_cycles(cycles: list[Cycle], profile: tuple[float, ...]) -> float:
    """Do what the integration does each poll; return the CPU seconds taken."""
    tz = ZoneInfo(TZ)
    tracker, learner, meter = AwakeTracker(tz), BaselineLearner(), SavingsMeter()
    last = cycles[0].now
    cpu0 = time.process_time()
    for cycle in cycles:
        now, state = cycle.now, cycle.state
        awake = state in AWAKE_STATES
        if cycle.transition is not None:
            tracker.apply(cycle.transition)
        tracker.observe(state, now)
        if awake:
            tracker.seen_alive(now)
        tracker.awake_today(now)
        tracker.awake_share(now)
        if state is NasState.ONLINE:
            learner.add(now, cycle.nas_watts)
        baseline = baseline_watts(None, learner)
        meter.add(
            PollInterval(last, now, awake, cycle.nas_watts, 4.0, baseline),
            INSIGHT_TARIFF,
            tz,
        )
        last = now
        month_end = month_bounds(*report_month(now, tz), tz)[1]
        nas_cost, all_cost = cycle.month_costs[0], math.fsum(cycle.month_costs)
        project_month_cost(nas_cost, now, month_end, profile, tz)
        project_month_cost(all_cost, now, month_end, profile, tz)
    cpu = time.process_time() - cpu0
    assert meter.total is not None, "the baseline was never learned"
    return cpu


def cpu_per_call(call: Any, count: int) -> float:
    cpu0 = time.process_time()
    for _ in range(count):
        call()
    return (time.process_time() - cpu0) / count


def insights_part(days: int) -> bool:
    tz = ZoneInfo(TZ)
    # The local days up to and with the 25-hour 25 October.
    end = datetime(2026, 10, 26, tzinfo=tz).astimezone(UTC)
    start = datetime(2026, 10, 26 - days, tzinfo=tz).astimezone(UTC)
    count = int((end - start).total_seconds()) // INTERVAL
    cycles = insight_cycles(start, count, random.Random(9))
    rng = random.Random(10)
    week = [(start - timedelta(hours=h), rng.uniform(0.01, 0.1)) for h in range(1, 169)]
    profile = hourly_cost_profile(week, tz)
    assert profile is not None
    run_insight_cycles(cycles[: 24 * 3600 // INTERVAL], profile)  # warm-up
    runs = [run_insight_cycles(cycles, profile) / count for _ in range(3)]
    per_cycle = statistics.median(runs)

    now = cycles[count // 2].now
    month_end = month_bounds(*report_month(now, tz), tz)[1]
    projection = cpu_per_call(
        lambda: project_month_cost(1.0, now, month_end, profile, tz), 2000
    )
    profile_cpu = cpu_per_call(lambda: hourly_cost_profile(week, tz), 200)
    tracker, learner = AwakeTracker(tz), BaselineLearner()
    for cycle in cycles:
        tracker.observe(cycle.state, cycle.now)
        if cycle.state is NasState.ONLINE:
            learner.add(cycle.now, cycle.nas_watts)
    meter = SavingsMeter()
    store_cpu = cpu_per_call(
        lambda: json.dumps(
            {
                "tracker": tracker.as_dict(),
                "baseline": learner.as_dict(),
                "savings": meter.as_dict(),
            }
        ),
        50,
    )

    print()
    print("== 3. Energy insights: CPU per poll cycle (pure logic, no Home Assistant)")
    print(
        f"   {INSIGHT_PLUGS} plugs (the first the NAS plug, awake 6 h a day), "
        f"{INTERVAL} s polls, {count} cycles: {start.astimezone(tz):%Y-%m-%d} "
        f"to 25 October 2026 ({TZ}, local days: {days}, the last with 25 hours)"
    )
    print(
        "   per cycle: awake time (transition, poll, today, 7-day share), baseline "
        "sample, savings interval (time-of-use tariff),"
    )
    print(
        f"   month cost of all {INSIGHT_PLUGS} plugs summed, projected month cost "
        "for the NAS and for all plugs"
    )
    print(
        f"   CPU per cycle (process_time over all cycles, median of 3 runs): "
        f"{per_cycle * 1000:.4f} ms (runs {', '.join(f'{r * 1000:.4f}' for r in runs)})"
    )
    print(
        f"   apart: one month projection {projection * 1e6:.1f} us; hourly profile of "
        f"168 hours (once an hour) {profile_cpu * 1e6:.1f} us;"
    )
    print(
        f"   tracker + {len(learner.slots)} baseline slots + savings as JSON "
        f"(on each Store save) {store_cpu * 1e6:.0f} us"
    )
    ok = per_cycle < 0.001
    print("   target: < 1 ms CPU per cycle: " + ("met" if ok else "MISSED"))
    return ok


def no_zeroconf_resolver() -> Any:
    """As the pytest plugin does: no Zeroconf (multicast sockets) behind aiohttp.

    Every host here is an IP literal, which aiohttp never resolves.
    """

    def make_resolver(hass: HomeAssistant) -> ThreadedResolver:
        resolver = ThreadedResolver()
        resolver.real_close = resolver.close  # type: ignore[attr-defined]
        return resolver

    return patch(
        "homeassistant.helpers.aiohttp_client._async_make_resolver",
        side_effect=make_resolver,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hours", type=int, default=24, help="measured, >= 6")
    parser.add_argument("--warmup-hours", type=int, default=1)
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds and 6 h (a smoke test)"
    )
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-recorder", action="store_true")
    parser.add_argument("--skip-insights", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # Known noise; anything else (e.g. the frame helper's reports) stays visible.
    logging.getLogger("homeassistant.loader").setLevel(logging.ERROR)
    logging.getLogger("aiohttp_fast_zlib").setLevel(logging.ERROR)
    counts = [1, 5, 20]
    rounds = {1: 600, 5: 400, 20: 300}
    if args.quick:
        rounds = {1: 10, 5: 8, 20: 6}
        args.hours = min(args.hours, 6)
    ok = True
    no_zeroconf_resolver().start()
    if not args.skip_cpu:
        ok = asyncio.run(cpu_part(counts, warmup=3, rounds=rounds)) and ok
    if not args.skip_recorder:
        ok = recorder_part(args.hours, args.warmup_hours) and ok
    if not args.skip_insights:
        ok = insights_part(days=1 if args.quick else 7) and ok
    print()
    print("result: " + ("targets met" if ok else "TARGETS MISSED"))


if __name__ == "__main__":
    main()
