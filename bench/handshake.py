"""Handshake benchmark against a running Home Assistant, through real HTTP.

Starts Home Assistant from this checkout on 127.0.0.1, sets BaluPi up through
its config flow (NAS simulator as the NAS), then sends NAS-signed calls with
50 in flight at a time and prints p50/p99 latency and requests/s for:

* valid going-offline calls (a ~1.5 KB snapshot each, NAS wire form),
* valid coming-online calls (distinct timestamps: a signature is single-use),
* invalid calls (wrong signature).

    .venv/bin/python bench/handshake.py

Target: coming-online p99 < 200 ms under 50 concurrent requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
import statistics
import sys
import tempfile
import time

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Home Assistant must be imported first: it installs probatio as voluptuous.
import homeassistant  # noqa: F401  # isort: skip
from tests.conftest import entry_data
from tests.fakes.ha_instance import home_assistant
from tests.fakes.nas_simulator import NasSimulator
from tests.nas_signer import COMING_ONLINE, GOING_OFFLINE, signed_call, snapshot_v1

SECRET = "b" * 48
CONCURRENCY = 50

type Call = tuple[str, dict[str, str], bytes]


async def run(
    session: aiohttp.ClientSession, url: str, calls: list[Call], expect: int
) -> tuple[list[float], float]:
    """Send the calls, CONCURRENCY at a time; return latencies and wall time."""
    latencies: list[float] = []
    queue = list(reversed(calls))

    async def worker() -> None:
        while queue:
            path, headers, body = queue.pop()
            started = time.perf_counter()
            async with session.post(url + path, data=body, headers=headers) as reply:
                await reply.read()
                if reply.status != expect:
                    raise RuntimeError(f"{path}: {reply.status}, expected {expect}")
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies, time.perf_counter() - started


def report(name: str, latencies: list[float], wall: float) -> float:
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(
        f"{name:<16} n={len(latencies):<4} p50={statistics.median(latencies) * 1000:7.1f} ms"
        f"  p99={p99 * 1000:7.1f} ms  {len(latencies) / wall:7.0f} req/s"
    )
    return p99


def calls(count: int, make: Callable[[int], Call]) -> list[Call]:
    return [make(index) for index in range(count)]


async def main() -> None:
    nas = NasSimulator()
    await nas.start()
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            home_assistant(Path(tmp)) as hass,
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONCURRENCY)
            ) as session,
        ):
            await hass.config_flow(
                session,
                "balupi",
                entry_data(nas.url, secret=SECRET) | {"mac": "02:00:00:00:00:01"},
            )
            now = int(time.time())

            def going_offline(index: int) -> Call:
                body = snapshot_v1(
                    generated_at=f"2026-11-24T12:00:{index % 60:02d}.{index:06d}+00:00"
                )
                return (
                    GOING_OFFLINE,
                    *signed_call(SECRET, GOING_OFFLINE, body, timestamp=now),
                )

            def coming_online(index: int) -> Call:
                # 100 distinct seconds inside the +-60 s window.
                return (
                    COMING_ONLINE,
                    *signed_call(SECRET, COMING_ONLINE, timestamp=now - 50 + index),
                )

            def forged(index: int) -> Call:
                return (
                    COMING_ONLINE,
                    *signed_call("f" * 48, COMING_ONLINE, timestamp=now + index % 50),
                )

            # Warm up connections and code paths.
            await run(session, hass.url, calls(50, forged), 401)
            results = {
                "going-offline": await run(
                    session, hass.url, calls(500, going_offline), 200
                ),
                "coming-online": await run(
                    session, hass.url, calls(100, coming_online), 200
                ),
                "invalid": await run(session, hass.url, calls(500, forged), 401),
            }
            size = len(going_offline(0)[2])
    await nas.stop()
    print(f"concurrency {CONCURRENCY}, snapshot {size} bytes")
    p99 = {name: report(name, *result) for name, result in results.items()}
    ok = p99["coming-online"] < 0.2
    print(
        f"coming-online p99 {p99['coming-online'] * 1000:.1f} ms (target < 200 ms): "
        + ("met" if ok else "MISSED")
    )


if __name__ == "__main__":
    asyncio.run(main())
