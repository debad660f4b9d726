"""The NAS's handshake calls over Home Assistant's real HTTP stack."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
import itertools
import json
import logging
import time
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

from aiohttp import ClientResponse
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi.const import (
    DOMAIN,
    EVENT_NAS_COMING_ONLINE,
    EVENT_NAS_GOING_OFFLINE,
    EVENT_NAS_STATE_CHANGED,
    ISSUE_UNKNOWN_SNAPSHOT,
)
from custom_components.balupi.coordinator.dns import DnsTarget
from custom_components.balupi.handshake import (
    MAX_BODY,
    STATUS,
    HandshakeRejectedError,
    Rejection,
    ReplayGuard,
    sign,
    signature_matches,
)
from custom_components.balupi.nas_state import NasState
from custom_components.balupi.views import _RejectionLog
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir

from .conftest import SECRET, setup_entry
from .fakes.nas_simulator import NasSimulator
from .nas_signer import COMING_ONLINE, GOING_OFFLINE, signed_call, snapshot_v1

STATE = "sensor.baluhost_nas_state"

type Post = Callable[..., Awaitable[ClientResponse]]


@pytest.fixture
async def post(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    config_entry: MockConfigEntry,
    nas: NasSimulator,
) -> Post:
    """Set up BaluPi (NAS online) and return a poster of NAS-signed calls."""
    await setup_entry(hass, config_entry)
    client = await hass_client_no_auth()

    async def send(
        path: str,
        body: dict[str, Any] | None = None,
        *,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        **kwargs: Any,
    ) -> ClientResponse:
        signed_headers, wire = signed_call(secret, path, body, **kwargs)
        return await client.post(
            path,
            data=wire if data is None else data,
            headers=signed_headers if headers is None else headers,
        )

    return send


def state(hass: HomeAssistant) -> str:
    return hass.states.get(STATE).state


# --- the protocol itself ---------------------------------------------------------


@pytest.mark.parametrize("wire", ["nas", "utf8", "canonical"])
def test_signature_matches_every_wire_form(wire: str) -> None:
    headers, body = signed_call(SECRET, GOING_OFFLINE, snapshot_v1(), wire=wire)
    assert signature_matches(
        SECRET,
        method="POST",
        path=GOING_OFFLINE,
        timestamp=headers["X-Balupi-Timestamp"],
        body=body,
        signature=headers["X-Balupi-Signature"],
    )


def test_nas_wire_bytes_are_not_the_signed_bytes() -> None:
    """The pitfall: hashing only the raw bytes would reject the real NAS."""
    _, nas_body = signed_call(SECRET, GOING_OFFLINE, snapshot_v1(), wire="nas")
    _, canonical = signed_call(SECRET, GOING_OFFLINE, snapshot_v1(), wire="canonical")
    assert nas_body != canonical
    assert b'", "' in nas_body
    assert (
        "küche".encode()
        in signed_call(SECRET, GOING_OFFLINE, snapshot_v1(), wire="utf8")[1]
    )


def test_replay_guard_forgets_expired_signatures() -> None:
    guard = ReplayGuard()
    guard.check_and_remember("abc", 1000, 1000)
    with pytest.raises(HandshakeRejectedError) as err:
        guard.check_and_remember("ABC", 1000, 1030)
    assert err.value.rejection is Rejection.REPLAYED
    # Past the skew window the timestamp check refuses it anyway; memory is freed.
    guard.check_and_remember("def", 1100, 1100)
    guard.check_and_remember("abc", 1100, 1100)


# --- going offline ---------------------------------------------------------------


@pytest.mark.parametrize("wire", ["nas", "utf8", "canonical"])
async def test_going_offline(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    post: Post,
    wire: str,
) -> None:
    changes = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    announced = async_capture_events(hass, EVENT_NAS_GOING_OFFLINE)
    snapshot = snapshot_v1()
    _, sent = signed_call(SECRET, GOING_OFFLINE, snapshot, wire=wire)

    response = await post(GOING_OFFLINE, snapshot, wire=wire)

    assert response.status == 200
    assert await response.json() == {"acknowledged": True, "dns_switched": False}
    assert state(hass) == NasState.OFFLINE
    assert [(e.data["from"], e.data["to"], e.data["reason"]) for e in changes] == [
        ("online", "shutting_down", "handshake"),
        ("shutting_down", "offline", "handshake"),
    ]
    assert len(announced) == 1
    # The snapshot is kept byte for byte, and parsed.
    client = await hass_client()
    stored = await client.get("/api/handshake/snapshot")
    assert await stored.read() == sent
    assert hass.states.get("sensor.baluhost_raid_md0").state == "clean"
    assert hass.states.get("sensor.baluhost_files").state == "123456"


@pytest.mark.freeze_time("2026-11-24T12:00:00+00:00")
async def test_going_offline_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    post: Post,
    snapshot: Any,
) -> None:
    await post(GOING_OFFLINE, snapshot_v1())
    await hass.async_block_till_done()
    entities = [
        entry
        for entry in entity_registry.entities.values()
        if entry.platform == DOMAIN and entry.domain == "sensor"
    ]
    for entry in sorted(entities, key=lambda e: e.entity_id):
        assert entry == snapshot(name=f"{entry.entity_id}-entry")
        if entry.disabled_by is None:
            value = hass.states.get(entry.entity_id)
            assert (value.state, dict(value.attributes)) == snapshot(
                name=f"{entry.entity_id}-state"
            )


async def test_going_offline_from_offline_goes_straight_to_offline(
    hass: HomeAssistant, post: Post, caplog: pytest.LogCaptureFixture
) -> None:
    await post(GOING_OFFLINE, snapshot_v1())
    response = await post(GOING_OFFLINE, snapshot_v1(baluhost_version="1.38.1"))
    assert response.status == 200
    assert state(hass) == NasState.OFFLINE
    assert "Refusing" not in caplog.text


# --- coming online ---------------------------------------------------------------


async def test_coming_online(hass: HomeAssistant, post: Post) -> None:
    await post(GOING_OFFLINE, snapshot_v1())
    announced = async_capture_events(hass, EVENT_NAS_COMING_ONLINE)
    response = await post(COMING_ONLINE)
    assert response.status == 200
    assert await response.json() == {
        "acknowledged": True,
        "dns_switched": False,
        "inbox_flushed": False,
        "files_transferred": 0,
        "background": [],
    }
    assert state(hass) == NasState.ONLINE
    assert len(announced) == 1


class SlowDns:
    """A DNS switcher that takes as long as the test wants."""

    def __init__(self, result: bool = True) -> None:
        self.release = asyncio.Event()
        self.calls: list[DnsTarget] = []
        self.result = result

    async def async_point_to(self, target: DnsTarget) -> bool:
        self.calls.append(target)
        await self.release.wait()
        return self.result


async def test_coming_online_replies_before_slow_background_work(
    hass: HomeAssistant, post: Post, config_entry: MockConfigEntry
) -> None:
    await post(GOING_OFFLINE, snapshot_v1())
    dns = SlowDns()
    config_entry.runtime_data.dns = dns
    started = time.monotonic()
    response = await asyncio.wait_for(post(COMING_ONLINE), timeout=5)
    assert time.monotonic() - started < 1
    assert (await response.json())["background"] == ["dns"]
    assert dns.calls == [DnsTarget.NAS]
    # Unloading cancels the work that is still running.
    await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.mark.parametrize(("result", "budget"), [(True, 5.0), (False, 0.05)])
async def test_going_offline_waits_for_dns_within_budget(
    hass: HomeAssistant,
    post: Post,
    config_entry: MockConfigEntry,
    result: bool,
    budget: float,
) -> None:
    dns = SlowDns(result)
    config_entry.runtime_data.dns = dns
    if result:
        dns.release.set()
    with patch("custom_components.balupi.views.DNS_REPLY_BUDGET", budget):
        response = await post(GOING_OFFLINE, snapshot_v1())
    assert (await response.json())["dns_switched"] is result
    assert dns.calls == [DnsTarget.PI]
    dns.release.set()
    await hass.async_block_till_done()


async def test_simultaneous_calls_are_serialised(
    hass: HomeAssistant, post: Post
) -> None:
    changes = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    now = int(time.time())
    replies = await asyncio.gather(
        post(GOING_OFFLINE, snapshot_v1(), timestamp=now),
        post(COMING_ONLINE, timestamp=now),
    )
    assert [reply.status for reply in replies] == [200, 200]
    # Whatever the order, each transition saw the state the previous one left.
    for before, after in itertools.pairwise(changes):
        assert before.data["to"] == after.data["from"]


# --- rejections: nothing changes -------------------------------------------------


def _tamper(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return headers, body.replace(b"clean", b"degraded")


def _drop(name: str) -> Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]:
    def change(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        return {key: value for key, value in headers.items() if key != name}, body

    return change


def _set(
    name: str, value: str
) -> Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]:
    def change(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        return headers | {name: value}, body

    return change


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        (_drop("X-Balupi-Timestamp"), 401, "missing_headers"),
        (_drop("X-Balupi-Signature"), 401, "missing_headers"),
        (_set("X-Balupi-Timestamp", "12.5"), 400, "bad_timestamp"),
        (_set("X-Balupi-Timestamp", "soon"), 400, "bad_timestamp"),
        (_set("X-Balupi-Signature", "0" * 64), 401, "bad_signature"),
        (_set("X-Balupi-Signature", "not hex at all"), 401, "bad_signature"),
        (_tamper, 401, "bad_signature"),
    ],
)
async def test_rejected_going_offline_changes_nothing(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    post: Post,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    change: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]],
    status: int,
    error: str,
) -> None:
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    headers, body = change(*signed_call(SECRET, GOING_OFFLINE, snapshot_v1()))
    response = await post(GOING_OFFLINE, headers=headers, data=body)
    assert response.status == status
    reply = await response.json()
    assert reply["acknowledged"] is False
    assert reply["error"] == error
    assert state(hass) == NasState.ONLINE
    assert events == []
    assert config_entry.runtime_data.snapshots.data is None
    assert "Refused handshake /api/handshake/nas-going-offline from 127.0.0.1" in (
        caplog.text
    )


async def test_wrong_secret_is_refused(hass: HomeAssistant, post: Post) -> None:
    response = await post(COMING_ONLINE, secret="x" * 48)
    assert response.status == 401
    assert (await response.json())["error"] == "bad_signature"


async def test_rejections_are_logged_once(
    hass: HomeAssistant, post: Post, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        await post(COMING_ONLINE, secret="x" * 48)
    warnings = [
        record
        for record in caplog.records
        if record.levelname == "WARNING" and "Refused handshake" in record.message
    ]
    assert len(warnings) == 1


@pytest.mark.parametrize(
    ("skew", "accepted"), [(-61, False), (-59, True), (59, True), (61, False)]
)
async def test_clock_skew(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    post: Post,
    skew: int,
    accepted: bool,
) -> None:
    timestamp = int(time.time()) + skew
    response = await post(GOING_OFFLINE, snapshot_v1(), timestamp=timestamp)
    assert response.status == (200 if accepted else 401)
    assert state(hass) == (NasState.OFFLINE if accepted else NasState.ONLINE)
    if not accepted:
        assert (await response.json())["error"] == "stale_timestamp"


async def test_replayed_call_is_refused(
    hass: HomeAssistant, post: Post, config_entry: MockConfigEntry
) -> None:
    headers, body = signed_call(SECRET, COMING_ONLINE)
    first = await post(COMING_ONLINE, headers=headers, data=body)
    assert first.status == 200
    await post(GOING_OFFLINE, snapshot_v1())
    again = await post(COMING_ONLINE, headers=headers, data=body)
    assert again.status == 409
    assert (await again.json())["error"] == "replayed"
    assert state(hass) == NasState.OFFLINE


async def test_replay_is_refused_after_a_reload(
    hass: HomeAssistant, post: Post, config_entry: MockConfigEntry, nas: NasSimulator
) -> None:
    headers, body = signed_call(SECRET, COMING_ONLINE)
    assert (await post(COMING_ONLINE, headers=headers, data=body)).status == 200
    await post(GOING_OFFLINE, snapshot_v1())
    await nas.stop()
    # Any options change reloads the entry.
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    again = await post(COMING_ONLINE, headers=headers, data=body)
    assert again.status == 409
    assert (await again.json())["error"] == "replayed"
    assert state(hass) == NasState.OFFLINE


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_body_is_refused(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    post: Post,
    config_entry: MockConfigEntry,
    chunked: bool,
) -> None:
    big = snapshot_v1(padding="x" * MAX_BODY)
    headers, body = signed_call(SECRET, GOING_OFFLINE, big)
    client = await hass_client_no_auth()

    async def stream() -> Any:
        for start in range(0, len(body), 50_000):
            yield body[start : start + 50_000]

    response = await client.post(
        GOING_OFFLINE, data=stream() if chunked else body, headers=headers
    )
    assert response.status == 413
    assert (await response.json())["error"] == "body_too_large"
    assert state(hass) == NasState.ONLINE
    assert config_entry.runtime_data.snapshots.data is None


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
async def test_non_object_body_is_refused(
    hass: HomeAssistant, post: Post, config_entry: MockConfigEntry, body: bytes
) -> None:
    headers, _ = signed_call(SECRET, GOING_OFFLINE)
    # Sign exactly these bytes: the signature is right, the body is not.
    headers["X-Balupi-Signature"] = sign(
        SECRET, "POST", GOING_OFFLINE, headers["X-Balupi-Timestamp"], body
    )
    response = await post(GOING_OFFLINE, headers=headers, data=body)
    assert response.status == 400
    assert (await response.json())["error"] == "bad_body"
    assert state(hass) == NasState.ONLINE
    assert config_entry.runtime_data.snapshots.data is None


async def test_not_loaded_is_503(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    post: Post,
    config_entry: MockConfigEntry,
) -> None:
    await hass.config_entries.async_unload(config_entry.entry_id)
    client = await hass_client_no_auth()
    for path in (GOING_OFFLINE, COMING_ONLINE):
        headers, body = signed_call(SECRET, path, {})
        response = await client.post(path, data=body, headers=headers)
        assert response.status == 503
        assert (await response.json())["error"] == "not_ready"
    assert (await client.get("/api/health")).status == 503


# --- snapshot lifecycle ----------------------------------------------------------


async def test_snapshot_survives_restart(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    post: Post,
    config_entry: MockConfigEntry,
) -> None:
    _, sent = signed_call(SECRET, GOING_OFFLINE, snapshot_v1())
    await post(GOING_OFFLINE, snapshot_v1())
    await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    client = await hass_client()
    assert await (await client.get("/api/handshake/snapshot")).read() == sent
    assert hass.states.get("sensor.baluhost_raid_md0").state == "clean"


async def test_arrays_and_disks_follow_the_snapshot(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, post: Post
) -> None:
    await post(GOING_OFFLINE, snapshot_v1())
    assert hass.states.get("sensor.baluhost_smart_dev_sdb") is not None
    second = snapshot_v1()
    second["storage"]["arrays"].append(
        {
            "name": "md1",
            "level": "raid5",
            "state": "degraded",
            "size_bytes": 1,
            "devices": [],
        }
    )
    del second["smart_health"]["/dev/sdb"]
    await post(COMING_ONLINE)
    await post(GOING_OFFLINE, second)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.baluhost_raid_md1").state == "degraded"
    assert hass.states.get("sensor.baluhost_smart_dev_sdb") is None
    assert entity_registry.async_get("sensor.baluhost_smart_dev_sdb") is None
    assert entity_registry.async_get("sensor.baluhost_temperature_dev_sdb") is None
    assert hass.states.get("sensor.baluhost_smart_dev_sda").state == "passed"


async def test_unknown_snapshot_version_is_stored_and_reported(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    post: Post,
    config_entry: MockConfigEntry,
) -> None:
    response = await post(GOING_OFFLINE, snapshot_v1(version=2, storage="new shape"))
    assert response.status == 200
    assert config_entry.runtime_data.snapshots.data.version == 2
    issue_id = f"{ISSUE_UNKNOWN_SNAPSHOT}_{config_entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert hass.states.get("sensor.baluhost_storage_used").state == "unknown"
    # Whatever the NAS calls its version shows as short, quoted text, not Markdown.
    await post(COMING_ONLINE)
    await post(GOING_OFFLINE, snapshot_v1(version="[update](https://evil)" * 50))
    shown = issue_registry.async_get_issue(DOMAIN, issue_id)
    version = shown.translation_placeholders["version"]
    assert version.startswith("`")
    assert len(version) < 40
    await post(COMING_ONLINE)
    await post(GOING_OFFLINE, snapshot_v1())
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


# --- the other views -------------------------------------------------------------


async def test_health_view(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator, post: Post
) -> None:
    client = await hass_client_no_auth()
    response = await client.get("/api/health")
    body = await response.json()
    assert response.status == 200
    assert body["status"] == "ok"
    assert body["service"] == "balupi"
    assert body["version"] == "0.1.0"
    assert body["hostname"]


async def test_status_and_snapshot_views_need_auth(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    post: Post,
    config_entry: MockConfigEntry,
) -> None:
    anonymous = await hass_client_no_auth()
    assert (await anonymous.get("/api/handshake/status")).status == 401
    assert (await anonymous.get("/api/handshake/snapshot")).status == 401
    client = await hass_client()
    missing = await client.get("/api/handshake/snapshot")
    assert missing.status == 404
    await post(GOING_OFFLINE, snapshot_v1())
    status = await (await client.get("/api/handshake/status")).json()
    assert status["state"] == "offline"
    assert status["entry_id"] == config_entry.entry_id
    assert status["last_snapshot"] is not None
    other = await client.get("/api/handshake/status?entry_id=nope")
    assert other.status == 503
    assert (
        json.loads(await (await client.get("/api/handshake/snapshot")).read())[
            "version"
        ]
        == 1
    )


# --- hostile input from unauthenticated senders -------------------------------------

type RawHeaders = list[tuple[bytes, bytes]]


async def raw_post(
    port: int,
    path: str,
    headers: RawHeaders,
    body: bytes,
    *,
    source: str = "127.0.0.1",
) -> tuple[int, bytes]:
    """POST exactly these bytes (headers need not be valid UTF-8); return the reply."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, local_addr=(source, 0)
    )
    head = [
        f"POST {path} HTTP/1.1".encode(),
        b"Host: 127.0.0.1",
        b"Connection: close",
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(body),
    ] + [name + b": " + value for name, value in headers]
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    await writer.drain()
    reply = await reader.read()
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _headers(timestamp: bytes | None, signature: bytes | None) -> RawHeaders:
    headers: RawHeaders = []
    if timestamp is not None:
        headers.append((b"X-Balupi-Timestamp", timestamp))
    if signature is not None:
        headers.append((b"X-Balupi-Signature", signature))
    return headers


BAD_TIMESTAMPS = [
    b"--5",
    b"-",
    b"--",
    b"+5",
    b"5-",
    b"1_700_000_000",
    b"1e9",
    b"0x10",
    ("\u0661\u0667" + "\u0660" * 8).encode(),  # Arabic-Indic digits
    "²".encode(),
    b"\xff\xfe",
    b"9" * 400,
    b"9" * 5000,
    b"-" + b"9" * 400,
    b"-" + b"-" * 100 + b"5",
    b"1" * 12,
    b"0" * 30 + b"1",
]
BAD_SIGNATURES = [
    b"g" * 64,
    "é".encode() * 32,
    b"\xff" * 64,
    b"\xed\xa0\x80" * 20,  # an encoded surrogate, invalid UTF-8
    b"0" * 8000,
    b"0" * 63,
]
# Bodies an unauthenticated sender can make BaluPi parse (for the canonical form).
BAD_BODIES = [
    b"[" * 200_000,
    b'{"a":' * 50_000,
    b"[" * 20_000 + b"]" * 20_000,
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    b"\xff\xfe\x00\x00",
    b"\x00" * 16,
    b"1" * 100_000,
    b'{"n": ' + b"9" * 5000 + b"}",
    b"[1e999999, NaN, -Infinity]",
    b'["\\ud800"]',
]


def _hostile_calls(path: str) -> Iterator[tuple[RawHeaders, bytes]]:
    """Malformed and hostile header and body combinations for one signed view."""
    now = str(int(time.time())).encode()
    body = b"{}"
    good = sign(SECRET, "POST", path, now.decode(), body).encode()
    for timestamp in BAD_TIMESTAMPS:
        yield _headers(timestamp, good), body
        yield _headers(timestamp, None), body
    for signature in BAD_SIGNATURES:
        yield _headers(now, signature), body
    yield _headers(now, b""), body
    yield _headers(None, None), body
    yield [*_headers(b"--5", good), *_headers(now, good)], body
    for hostile in BAD_BODIES:
        yield _headers(now, b"0" * 64), hostile
        yield _headers(b"--5", b"0" * 64), hostile
    if path == GOING_OFFLINE:
        # Signed by the secret's holder, still not a snapshot.
        for hostile in BAD_BODIES:
            signature = sign(SECRET, "POST", path, now.decode(), hostile)
            yield _headers(now, signature.encode()), hostile


async def test_malformed_calls_get_a_json_refusal_and_change_nothing(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    post: Post,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = [
        async_capture_events(hass, event)
        for event in (
            EVENT_NAS_STATE_CHANGED,
            EVENT_NAS_GOING_OFFLINE,
            EVENT_NAS_COMING_ONLINE,
        )
    ]
    port = (await hass_client_no_auth()).server.port
    replies: Counter[Rejection] = Counter()
    wrong: list[tuple[int, RawHeaders, bytes]] = []
    for path in (GOING_OFFLINE, COMING_ONLINE):
        for headers, body in _hostile_calls(path):
            status, raw = await raw_post(port, path, headers, body)
            if status >= 500:
                wrong.append((status, [(n, v[:12]) for n, v in headers], body[:12]))
                continue
            reply = json.loads(raw)
            rejection = Rejection(reply["error"])
            assert (status, reply["acknowledged"]) == (STATUS[rejection], False)
            replies[rejection] += 1
    assert not wrong, f"{len(wrong)} calls failed: {wrong}"
    await hass.async_block_till_done()
    assert state(hass) == NasState.ONLINE
    assert all(captured == [] for captured in events)
    assert config_entry.runtime_data.snapshots.data is None
    assert {Rejection.BAD_TIMESTAMP, Rejection.BAD_SIGNATURE} <= set(replies)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    refused = Counter(
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING
        and record.getMessage().startswith("Refused handshake")
    )
    # One line per sender, path and reason; repeats are at debug level.
    assert refused
    assert set(refused.values()) == {1}


async def test_a_flood_from_many_senders_logs_a_bounded_number_of_lines(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    post: Post,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = (await hass_client_no_auth()).server.port
    headers = _headers(str(int(time.time())).encode(), b"0" * 64)
    # Every 127.x.y.z is this host's loopback: 600 real, distinct senders.
    for sender in range(600):
        source = f"127.0.{1 + sender // 250}.{1 + sender % 250}"
        status, _ = await raw_post(port, COMING_ONLINE, headers, b"", source=source)
        assert status == 401
    warnings = [
        record
        for record in caplog.records
        if record.levelno >= logging.WARNING
        and record.getMessage().startswith("Refused handshake")
    ]
    assert 0 < len(warnings) <= 257


def test_rejection_log_memory_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    log = _RejectionLog()
    err = HandshakeRejectedError(Rejection.BAD_SIGNATURE)
    for sender in range(20_000):
        request = SimpleNamespace(remote=f"2001:db8::{sender:x}", path=COMING_ONLINE)
        log.rejected(request, err)  # type: ignore[arg-type]
    assert len(log._logged) <= 256
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) <= 257
