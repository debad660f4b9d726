"""The Pi-hole v6 client against a real pihole-FTL (and a fake for bad servers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
import time

import aiohttp
from aiohttp import web
import pytest

from custom_components.balupi.pihole import (
    AUTH_HOLD_OFF,
    PiholeAuthError,
    PiholeConnectionError,
    PiholeError,
    PiholeForbiddenError,
    PiholeRateLimitedError,
    PiholeSeatsExceededError,
)

from .pihole import (  # noqa: F401 - fixtures are found by pytest, not used
    DnsAnswer,
    PiholeAdmin,
    PiholeProcess,
    PiholeTestClient,
    RequestLog,
    admin_fixture,
    client_fixture,
    http_fixture,
    pihole_fixture,
    request_log_fixture,
    resolve,
    watch_dns,
)

NAS_IP = "192.0.2.20"
PI_IP = "192.0.2.10"
NAME = "baluhost.lan"
NOERROR, NXDOMAIN = 0, 3


def answer(*addresses: str) -> DnsAnswer:
    """Return a successful DNS answer with these addresses."""
    return DnsAnswer(NOERROR, sorted(addresses))


APP_SUDO = pytest.mark.parametrize("pihole", [{"app_sudo": True}], indirect=True)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fake_clock(pihole_client: PiholeTestClient) -> FakeClock:
    """Give a client a clock of the test's own."""
    clock = FakeClock()
    pihole_client._clock = clock
    return clock


# --- the real Pi-hole -------------------------------------------------------


async def test_version(client: PiholeTestClient) -> None:
    assert await client.version() == "v6.4.1"


async def test_one_session_for_many_operations(
    client: PiholeTestClient, admin: PiholeAdmin, request_log: RequestLog
) -> None:
    # Concurrent first calls wait for one login instead of opening their own.
    await asyncio.gather(*(client.records() for _ in range(20)))
    for number in range(60):
        await client.add_record(f"192.0.2.{number}", f"host{number}.lan")
        await client.version()
        await client.delete_record(f"192.0.2.{number}", f"host{number}.lan")
    assert len(request_log.sent) == 201  # 200 operations and one login
    assert request_log.logins == 1
    assert len(await admin.sessions()) == 1


async def test_session_renewed_before_it_expires(
    client: PiholeTestClient, admin: PiholeAdmin, request_log: RequestLog
) -> None:
    clock = fake_clock(client)
    await client.version()
    # Every use renews the session on FTL, so the local expiry moves too.
    for _ in range(3):
        clock.now += 1000
        await client.version()
    assert request_log.logins == 1
    # Idle for the whole validity (1800 s): log out, log in again before use.
    clock.now += 1800
    await client.version()
    assert request_log.logins == 2
    assert request_log.count("DELETE", "/api/auth") == 1
    assert len(await admin.sessions()) == 1


async def test_add_list_delete(client: PiholeTestClient, admin: PiholeAdmin) -> None:
    await admin.set_hosts(["192.0.2.11 Multi-A.lan multi-b.lan"])
    await client.add_record(PI_IP, "pi.lan")
    await client.add_record("2001:db8::1", "v6.lan")
    assert await client.records() == [
        ("192.0.2.11", "Multi-A.lan"),
        ("192.0.2.11", "multi-b.lan"),
        (PI_IP, "pi.lan"),
        ("2001:db8::1", "v6.lan"),
    ]
    await client.delete_record("2001:db8::1", "v6.lan")
    await client.delete_record(PI_IP, "pi.lan")
    assert await admin.hosts() == ["192.0.2.11 Multi-A.lan multi-b.lan"]


async def test_duplicate_add_and_missing_delete_are_fine(
    client: PiholeTestClient, admin: PiholeAdmin
) -> None:
    await client.add_record(PI_IP, "pi.lan")
    await client.add_record(PI_IP, "pi.lan")
    assert await admin.hosts() == [f"{PI_IP} pi.lan"]
    await client.delete_record(PI_IP, "pi.lan")
    await client.delete_record(PI_IP, "pi.lan")
    assert await admin.hosts() == []


@pytest.mark.parametrize(
    ("ip", "name"),
    [
        ("not-an-ip", "pi.lan"),
        (PI_IP, "two names.lan"),
        (PI_IP, "a/b.lan"),
        (PI_IP, ""),
    ],
)
async def test_bad_records_refused_before_sending(
    http: aiohttp.ClientSession, request_log: RequestLog, ip: str, name: str
) -> None:
    pihole_client = PiholeTestClient(http, "http://127.0.0.1:9", "unused")
    with pytest.raises(ValueError, match=r"address|host name"):
        await pihole_client.add_record(ip, name)
    with pytest.raises(ValueError, match=r"address|host name"):
        await pihole_client.ensure_record(name, ip)
    assert request_log.sent == []


async def test_record_refused_by_ftl(client: PiholeTestClient) -> None:
    with pytest.raises(
        PiholeError, match=r"HTTP 400 \(Invalid value.*invalid hostname"
    ):
        await client.add_record(PI_IP, "double..dot.lan")


async def test_ensure_record_moves_name_between_nas_and_pi(
    client: PiholeTestClient,
    admin: PiholeAdmin,
    pihole: PiholeProcess,
    request_log: RequestLog,
) -> None:
    unrelated = ["192.0.2.50 printer.lan", f"{NAS_IP} nas-admin.lan"]
    stale = [f"192.0.2.60 {NAME} other.lan", "192.0.2.61 BaluHost.lan"]
    await admin.set_hosts([*unrelated, *stale])
    want = answer("192.0.2.60", "192.0.2.61")
    assert await resolve(pihole, NAME, expect=want) == want

    assert await client.ensure_record(NAME, NAS_IP)
    assert await admin.hosts() == [
        *unrelated,
        f"{NAS_IP} {NAME}",  # added before the stale entries were split
        "192.0.2.60 other.lan",
    ]
    assert await resolve(pihole, NAME, expect=answer(NAS_IP)) == answer(NAS_IP)
    assert await resolve(pihole, "other.lan") == answer("192.0.2.60")

    writes = request_log.writes
    assert await client.ensure_record(NAME, NAS_IP)
    assert request_log.writes == writes  # idempotent: nothing to change

    assert await client.ensure_record(NAME, PI_IP)
    assert await admin.hosts() == [
        *unrelated,
        "192.0.2.60 other.lan",
        f"{PI_IP} {NAME}",
    ]
    assert await resolve(pihole, NAME, expect=answer(PI_IP)) == answer(PI_IP)
    assert await client.ensure_record(NAME, PI_IP)

    assert await client.ensure_record(NAME, NAS_IP)
    assert await resolve(pihole, NAME, expect=answer(NAS_IP)) == answer(NAS_IP)
    await client.delete_record(NAS_IP, NAME)
    gone = DnsAnswer(NXDOMAIN, [])
    assert await resolve(pihole, NAME, expect=gone) == gone


async def test_switching_never_leaves_the_name_unanswered(
    client: PiholeTestClient, admin: PiholeAdmin, pihole: PiholeProcess
) -> None:
    # A name shared with another entry must survive the switches too.
    await admin.set_hosts([f"{NAS_IP} {NAME} nas-admin.lan"])
    await admin.allow_dns_floods()
    async with watch_dns(pihole, NAME) as watch:
        for index in range(20):
            ip = PI_IP if index % 2 == 0 else NAS_IP
            assert await client.ensure_record(NAME, ip)
            # Wait until DNS has dropped the old address before switching back.
            assert await resolve(pihole, NAME, expect=answer(ip)) == answer(ip)
    seen = {tuple(found.addresses) for found in watch.answers}
    assert {(NAS_IP,), (PI_IP,)} <= seen  # the watch saw the switches
    unanswered = [found for found in watch.answers if not found.addresses]
    assert unanswered == [], f"{len(unanswered)} of {len(watch.answers)} empty"
    assert await resolve(pihole, "nas-admin.lan") == answer(NAS_IP)


async def test_remove_name_keeps_other_names(
    client: PiholeTestClient,
    admin: PiholeAdmin,
    pihole: PiholeProcess,
    request_log: RequestLog,
) -> None:
    await admin.set_hosts(
        [
            "192.0.2.50 printer.lan",
            f"{NAS_IP} {NAME} nas-admin.lan",
            f"{PI_IP} BaluHost.lan",
        ]
    )
    await client.remove_name(NAME)
    assert await admin.hosts() == ["192.0.2.50 printer.lan", f"{NAS_IP} nas-admin.lan"]
    gone = DnsAnswer(NXDOMAIN, [])
    assert await resolve(pihole, NAME, expect=gone) == gone
    assert await resolve(pihole, "nas-admin.lan") == answer(NAS_IP)
    writes = request_log.writes
    await client.remove_name(NAME)
    assert request_log.writes == writes  # nothing left to remove


async def test_session_ended_by_pihole_logs_in_again_once(
    client: PiholeTestClient, admin: PiholeAdmin, request_log: RequestLog
) -> None:
    await client.records()
    # Activating an app password ends every session, ours included.
    await admin.activate_app_password()
    assert await admin.sessions() == []
    assert await client.ensure_record(NAME, NAS_IP)
    await client.records()
    assert request_log.logins == 2
    assert len(await admin.sessions()) == 1


async def test_close_logs_out(
    client: PiholeTestClient, admin: PiholeAdmin, request_log: RequestLog
) -> None:
    await client.version()
    assert len(await admin.sessions()) == 1
    await client.close()
    assert await admin.sessions() == []
    await client.close()
    assert request_log.count("DELETE", "/api/auth") == 1
    # Usable again afterwards: a new session, lazily.
    await client.version()
    assert len(await admin.sessions()) == 1


async def test_close_of_unused_client_sends_nothing(
    http: aiohttp.ClientSession, request_log: RequestLog
) -> None:
    await PiholeTestClient(http, "http://127.0.0.1:9", "unused").close()
    assert request_log.sent == []


async def test_wrong_password_is_not_hammered(
    http: aiohttp.ClientSession,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
    request_log: RequestLog,
) -> None:
    pihole_client = PiholeTestClient(http, pihole.url, "wrong")
    clock = fake_clock(pihole_client)
    results = await asyncio.gather(
        *(pihole_client.records() for _ in range(10)), return_exceptions=True
    )
    assert all(type(result) is PiholeAuthError for result in results), results
    assert "password incorrect" in str(results[0])
    # One attempt for the whole burst; FTL rate-limits only from the fourth.
    assert request_log.logins == 1
    for _ in range(10):
        with pytest.raises(PiholeAuthError, match="not retried yet"):
            await pihole_client.version()
    assert request_log.logins == 1
    # After the hold-off: exactly one more attempt.
    clock.now += AUTH_HOLD_OFF
    retries = await asyncio.gather(
        *(pihole_client.version() for _ in range(5)), return_exceptions=True
    )
    assert all(type(result) is PiholeAuthError for result in retries), retries
    assert request_log.logins == 2
    await admin.login()  # not rate-limited for anyone else either
    # A new password is tried at once.
    pihole_client.set_password(pihole.password)
    assert await pihole_client.version() == "v6.4.1"
    await pihole_client.close()


async def test_rate_limited_login(client: PiholeTestClient, admin: PiholeAdmin) -> None:
    async def wrong_login() -> int:
        status, _ = await admin.request("POST", "/auth", payload={"password": "no"})
        return status

    # FTL allows three wrong passwords per wall-clock second (for everyone).
    for _ in range(3):
        await asyncio.sleep(1.02 - time.time() % 1)
        await asyncio.gather(*(wrong_login() for _ in range(4)))
        try:
            await client.version()
        except PiholeRateLimitedError:
            break
        await client.close()
    else:
        pytest.fail("FTL did not rate-limit the login")
    await asyncio.sleep(1.02 - time.time() % 1)
    assert await client.version() == "v6.4.1"  # not remembered as a failure


async def test_app_password_without_sudo_is_read_only(
    http: aiohttp.ClientSession,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
    request_log: RequestLog,
) -> None:
    app_password = await admin.activate_app_password()
    await admin.set_hosts([f"{NAS_IP} {NAME}"])
    app_client = PiholeTestClient(http, pihole.url, app_password)
    web_client = PiholeTestClient(http, pihole.url, pihole.password)
    try:
        assert await web_client.can_write()
        assert await app_client.records() == [(NAS_IP, NAME)]
        assert not await app_client.can_write()
        assert request_log.writes == 0  # detected without writing
        with pytest.raises(PiholeForbiddenError, match="app_sudo"):
            await app_client.add_record(PI_IP, NAME)
        with pytest.raises(PiholeForbiddenError):
            await app_client.delete_record(NAS_IP, NAME)
        with pytest.raises(PiholeForbiddenError):
            await app_client.ensure_record(NAME, PI_IP)
        assert await admin.hosts() == [f"{NAS_IP} {NAME}"]
        # app_sudo applies at once, to existing sessions too.
        await admin.set_app_sudo(enabled=True)
        assert await app_client.can_write()
        assert await app_client.ensure_record(NAME, PI_IP)
        assert request_log.logins == 2
    finally:
        await app_client.close()
        await web_client.close()


@APP_SUDO
async def test_app_password_with_sudo_can_write(
    http: aiohttp.ClientSession, pihole: PiholeProcess, admin: PiholeAdmin
) -> None:
    app_client = PiholeTestClient(http, pihole.url, await admin.activate_app_password())
    try:
        assert await app_client.can_write()
        assert await app_client.ensure_record(NAME, PI_IP)
        assert await resolve(pihole, NAME, expect=answer(PI_IP)) == answer(PI_IP)
        [session] = await admin.sessions()
        assert session["app"]
    finally:
        await app_client.close()
    assert await admin.sessions() == []


async def test_seats_exceeded_then_recovers(
    client: PiholeTestClient, admin: PiholeAdmin, pihole: PiholeProcess
) -> None:
    others = [await admin.login() for _ in range(16)]
    with pytest.raises(PiholeSeatsExceededError):
        await client.records()
    await admin.logout(others.pop())
    assert await client.records() == []
    # The client took the freed seat, and only that one.
    status, body = await admin.request(
        "POST", "/auth", payload={"password": pihole.password}
    )
    assert (status, body["error"]["key"]) == (429, "api_seats_exceeded")


async def test_pihole_stopped_and_restarted(
    client: PiholeTestClient, pihole: PiholeProcess, request_log: RequestLog
) -> None:
    assert await client.ensure_record(NAME, NAS_IP)
    pihole.stop()
    with pytest.raises(PiholeConnectionError):
        await client.records()
    with pytest.raises(PiholeConnectionError):
        await client.version()
    pihole.start()
    # Records and even sessions survive a restart with the same --dir.
    assert await client.records() == [(NAS_IP, NAME)]
    assert await resolve(pihole, NAME) == answer(NAS_IP)
    assert request_log.logins == 1


# --- faults the real Pi-hole does not produce -------------------------------


# Pi-hole's text as a hostile server would word it: a link to click, control
# characters that forge log lines, and far more of it than anyone reads.
PHISHING = "Session expired, log in again at https://pi-hole.example.net/login"
HOSTILE_TEXT = PHISHING + "\n\x1b[2KERROR forged log line " + "x" * 500_000
NESTING = 100_000
HUGE = 100 * 1024 * 1024

FAULTS: dict[str, Callable[[], web.Response]] = {
    "hang": lambda: web.Response(status=204),  # once released, at teardown
    "error": lambda: web.json_response({"error": {"key": "boom"}}, status=500),
    "garbage": lambda: web.Response(text="<html>router login</html>"),
    "other-json": lambda: web.json_response({"unrelated": True}),
    "json-list": lambda: web.json_response([1, 2]),
    "deep": lambda: web.Response(
        text='{"a":' * NESTING + "1" + "}" * NESTING, content_type="application/json"
    ),
    "hostile-text": lambda: web.json_response({"session": {"message": HOSTILE_TEXT}}),
    "unauthorized": lambda: web.json_response(
        {"error": {"key": "unauthorized"}}, status=401
    ),
}


class FakePihole:
    """An API that logs in fine and then misbehaves (or already at login)."""

    def __init__(self, fault: str, *, at_login: bool) -> None:
        self.fault = fault
        self.at_login = at_login
        self.logins = 0
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.sent = 0  # bytes of a huge answer that went out

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        login = request.method == "POST" and request.path == "/api/auth"
        self.logins += login
        if login != self.at_login:
            return self._answer(login=login)
        if self.fault == "hang":
            await self._release.wait()
        if self.fault in ("huge", "huge-declared"):
            return await self._huge(request, declared=self.fault == "huge-declared")
        return FAULTS[self.fault]()

    async def _huge(
        self, request: web.Request, *, declared: bool
    ) -> web.StreamResponse:
        """Send HUGE bytes of JSON text, with or without saying so up front."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declared:
            response.content_length = HUGE
        await response.prepare(request)
        chunk = b"A" * 65536
        try:
            await response.write(b'{"version": "')
            while self.sent < HUGE - 20:
                await response.write(chunk)
                self.sent += len(chunk)
                if declared:
                    await self._release.wait()  # until the client gave up
        except ConnectionResetError:
            pass  # the client hung up: what it should do
        return response

    @staticmethod
    def _answer(*, login: bool) -> web.Response:
        if login:
            session = {"valid": True, "sid": "fake-sid=", "validity": 1800}
            return web.json_response({"session": session})
        ftl = {"local": {"version": "v6.4.1"}}
        return web.json_response({"version": {"ftl": ftl}})


@pytest.fixture
async def fake(
    socket_enabled: None, request: pytest.FixtureRequest
) -> AsyncGenerator[FakePihole]:
    fault, at_login = request.param
    server = FakePihole(fault, at_login=at_login)
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize(
    "fake",
    [
        (fault, at_login)
        for fault in FAULTS
        if fault != "unauthorized"
        for at_login in (True, False)
    ],
    indirect=True,
)
async def test_bad_server_is_a_connection_error(
    fake: FakePihole, http: aiohttp.ClientSession
) -> None:
    pihole_client = PiholeTestClient(http, fake.url + "/", "pw", timeout=0.2)
    with pytest.raises(PiholeConnectionError):
        await pihole_client.version()
    await pihole_client.close()


@pytest.mark.parametrize("fake", [("unauthorized", False)], indirect=True)
async def test_fresh_session_refused_is_not_retried(
    fake: FakePihole, http: aiohttp.ClientSession
) -> None:
    pihole_client = PiholeTestClient(http, fake.url, "pw")
    for logins in (1, 2):
        with pytest.raises(PiholeError, match="new session refused"):
            await pihole_client.version()
        assert fake.logins == logins  # one login per call, never a loop
    await pihole_client.close()


@pytest.mark.parametrize(
    "fake",
    [("huge", True), ("huge", False), ("huge-declared", False)],
    indirect=True,
)
async def test_huge_answer_refused_before_it_is_held(
    fake: FakePihole, http: aiohttp.ClientSession
) -> None:
    pihole_client = PiholeTestClient(http, fake.url, "pw", timeout=30)
    with pytest.raises(PiholeConnectionError, match="larger than") as err:
        await pihole_client.version()
    assert err.value.reason == "answer larger than 1048576 bytes"
    # Socket buffers take a few MB; the rest was never sent, let alone read.
    assert fake.sent < 16 * 1024 * 1024
    await pihole_client.close()


@pytest.mark.parametrize(
    "fake", [("hostile-text", True), ("hostile-text", False)], indirect=True
)
async def test_pihole_text_in_errors_is_short_and_one_line(
    fake: FakePihole, http: aiohttp.ClientSession
) -> None:
    pihole_client = PiholeTestClient(http, fake.url, "pw")
    with pytest.raises(PiholeConnectionError) as err:
        await pihole_client.version()
    message = str(err.value)
    assert len(message) < 300, len(message)
    assert message.isprintable(), message
    assert "Session expired" in message or "no FTL version" in message
    # The reason, shown to people, is the client's own words only.
    assert err.value.reason in ("no session in answer", "no FTL version in answer")
    await pihole_client.close()


async def test_refusal_quotes_pihole_briefly(
    socket_enabled: None, http: aiohttp.ClientSession
) -> None:
    async def refuse(request: web.Request) -> web.Response:
        error = {"key": "bad_request", "message": HOSTILE_TEXT, "hint": HOSTILE_TEXT}
        return web.json_response({"error": error}, status=400)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    pihole_client = PiholeTestClient(http, f"http://127.0.0.1:{port}", "pw")
    try:
        with pytest.raises(PiholeError) as err:
            await pihole_client.version()
    finally:
        await runner.cleanup()
    message = str(err.value)
    assert len(message) < 300, len(message)
    assert message.isprintable(), message
    assert message.startswith("login: HTTP 400 (Session expired"), message
    assert err.value.reason == "HTTP 400"
