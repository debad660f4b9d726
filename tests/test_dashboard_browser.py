"""The BaluPi dashboard in a real browser, at a phone's size, with live values.

Starts what scripts/develop starts - the NAS simulator, two simulated Tapo
plugs, a real Pi-hole when ../shared/pihole-ftl is there and Home Assistant
with config/configuration.yaml (which loads dashboards/balupi.yaml) - adds
BaluPi, its plugs and its Pi-hole through the REST config flows, logs in on the
real login page in headless Chromium (Debian's package, driven by Playwright)
and checks the cards. It saves docs/dashboard.png (phone) and
docs/dashboard-desktop.png, the screenshots the README shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Generator
import contextlib
from datetime import UTC, datetime, timedelta
import os
from pathlib import Path
import re
import subprocess
import time
from typing import Any

import aiohttp
from playwright.async_api import (
    BrowserContext,
    Locator,
    Page,
    Route,
    async_playwright,
    expect,
)
import pytest

from custom_components.balupi.const import (
    CONF_HOSTNAME,
    CONF_INBOX_PATH,
    CONF_KEY_PATH,
    CONF_PI_IP,
    CONF_REMOTE_PATH,
    CONF_ROLE,
    CONF_SSH_HOST,
    CONF_SSH_PORT,
    CONF_SSH_USER,
    CONF_TPLINK_PASSWORD,
    CONF_TPLINK_USERNAME,
    ROLE_GENERIC,
    ROLE_NAS,
    SUBENTRY_PIHOLE,
    SUBENTRY_PLUG,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL

from .conftest import SECRET, entry_data
from .fakes.ha_instance import PASSWORD, USER, HomeAssistantProcess, home_assistant
from .fakes.nas_simulator import NasSimulator
from .fakes.tapo_plug import DEFAULT_PASSWORD, FakeTapoPlug
from .nas_signer import COMING_ONLINE, GOING_OFFLINE, signed_call, snapshot_v1
from .pihole import RUN as PIHOLE_RUN, PiholeProcess
from .real_parts import missing_real_part
from .sshd import SshServer, start_sshd

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# Chromium must not phone home or update itself: the test stays on 127.0.0.1.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DASHBOARD = "balupi-dashboard/nas"
LAST_FLUSH = "sensor.baluhost_last_inbox_flush"
INBOX_COUNT = "sensor.baluhost_inbox_files"
INBOX_FILES = ("photos/2026/holiday 1.jpg", "photos/2026/holiday 2.jpg", "scan.pdf")
PHONE = {"width": 412, "height": 915}
DESKTOP = {"width": 1280, "height": 900}
SCREENSHOT = ROOT / "docs" / "dashboard.png"
SCREENSHOT_DESKTOP = ROOT / "docs" / "dashboard-desktop.png"
TAPO_USER = "user@example.com"
HOSTNAME = "baluhost.lan"
PI_IP = "127.0.0.2"
# As scripts/develop's plugs; today's and this month's counters as after a
# normal day, so the energy cards show figures of a realistic size.
PLUGS = (
    {"alias": "Tapo Plug 1", "model": "P110", "power_w": 3.5},
    {"alias": "Tapo Plug 2", "model": "P115", "power_w": 50.75},
)
DAY_HOURS = 10
MONTH_DAYS = 20
BACKUP_AGE_MINUTES = 50
CHANGED_POWER_W = 42.4
# Tiles round power to 0.1 W: half a step, and some float slack.
WATTS_TOLERANCE = 0.051
# Playwright waits this long for an element or a value (ms).
UI_TIMEOUT = 20_000
RESIZE_SETTLE_MS = 1500
STATE_TIMEOUT = 30
# The text a card shows: innerText stops at shadow roots, and every Home
# Assistant card draws its content inside one.
DEEP_TEXT = """element => {
  const text = node => [...(node.shadowRoot?.childNodes ?? []), ...node.childNodes]
    .map(child => child.nodeType === Node.TEXT_NODE ? child.textContent
      : ["STYLE", "SCRIPT"].includes(child.nodeName) ? "" : text(child))
    .join(" ");
  return text(element).replace(/\\s+/g, " ");
}"""

NAS_STATE = "sensor.baluhost_nas_state"
WAKE = "button.baluhost_wake_nas"
RAID = "sensor.baluhost_raid_md0"
DNS_TARGET = "sensor.pi_hole_dns_target"


def power_sensor(index: int) -> str:
    return f"sensor.tapo_plug_{index + 1}_power"


@pytest.fixture(autouse=True)
def chromium_installed() -> None:
    """Debian's Chromium, which Playwright drives (no browser download)."""
    if not CHROMIUM.exists():
        missing_real_part(f"Debian's chromium is not at {CHROMIUM} (scripts/browser)")


@pytest.fixture(name="frontend", scope="module")
def frontend_fixture() -> None:
    """Home Assistant's web UI, at the version this Home Assistant asks for."""
    subprocess.run([ROOT / "scripts" / "frontend"], check=True)


@pytest.fixture(name="plugs")
async def plugs_fixture(socket_enabled: None) -> AsyncGenerator[list[FakeTapoPlug]]:
    """Two plugs on 127.0.0.1 whose counters run in real time."""
    plugs = []
    for index, spec in enumerate(PLUGS):
        plug = FakeTapoPlug(
            mac=f"30:DE:4B:00:00:{index + 1:02X}",
            username=TAPO_USER,
            realtime=True,
            **spec,
        )
        plug.today_wh = plug.power_w * DAY_HOURS
        plug.month_wh = plug.power_w * 24 * MONTH_DAYS + plug.today_wh
        await plug.start()
        plugs.append(plug)
    yield plugs
    for plug in plugs:
        await plug.stop()


@pytest.fixture(name="pihole")
def pihole_fixture(tmp_path: Path) -> Generator[PiholeProcess | None]:
    """A real Pi-hole when the shared build is there; BaluPi works without."""
    if not PIHOLE_RUN.exists():
        yield None
        return
    pihole = PiholeProcess(tmp_path / "pihole")
    pihole.start()
    yield pihole
    pihole.stop()


@pytest.fixture(name="inbox")
def inbox_fixture(tmp_path: Path) -> Path:
    """The Pi's inbox folder, with files that wait for the NAS.

    Under the config folder's media/, as in scripts/develop: Home Assistant
    allows it without allowlist_external_dirs.
    """
    inbox = tmp_path / "config" / "media" / "inbox"
    old = time.time() - 3600
    for name in INBOX_FILES:
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_bytes(b"x" * 1000)
        os.utime(inbox / name, (old, old))
    return inbox


@pytest.fixture(name="sshd")
def sshd_fixture(tmp_path: Path) -> Generator[SshServer]:
    """The NAS's SSH server (a real sshd on 127.0.0.1)."""
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


@pytest.fixture(name="home_assistant")
async def home_assistant_fixture(
    frontend: None, socket_enabled: None, tmp_path: Path, inbox: Path
) -> AsyncGenerator[HomeAssistantProcess]:
    """Home Assistant with scripts/develop's configuration and dashboard."""
    async with home_assistant(tmp_path / "config", develop=True) as hass:
        yield hass


async def post(
    session: aiohttp.ClientSession,
    hass: HomeAssistantProcess,
    path: str,
    payload: dict[str, Any],
) -> Any:
    """POST JSON to Home Assistant's REST API as the onboarded user."""
    async with session.post(
        hass.url + path, json=payload, headers=hass.headers()
    ) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def add_subentry(
    session: aiohttp.ClientSession,
    hass: HomeAssistantProcess,
    handler: list[str],
    steps: list[dict[str, Any]],
) -> None:
    """Run a subentry flow through its forms, as the UI would."""
    path = "/api/config/config_entries/subentries/flow"
    result = await post(session, hass, path, {"handler": handler})
    for user_input in steps:
        assert result["type"] == "form", result
        result = await post(session, hass, f"{path}/{result['flow_id']}", user_input)
    assert result["type"] == "create_entry", result


async def add_plugs(
    session: aiohttp.ClientSession,
    hass: HomeAssistantProcess,
    entry_id: str,
    plugs: list[FakeTapoPlug],
) -> None:
    """Add each plug through the plug flow; the first one feeds the NAS."""
    account = {CONF_TPLINK_USERNAME: TAPO_USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD}
    for index, plug in enumerate(plugs):
        role = ROLE_NAS if index == 0 else ROLE_GENERIC
        steps = [{CONF_HOST: f"127.0.0.1:{plug.port}", CONF_ROLE: role}]
        # The TP-Link account is asked for once and kept for all plugs.
        await add_subentry(
            session,
            hass,
            [entry_id, SUBENTRY_PLUG],
            [account, *steps] if index == 0 else steps,
        )


async def set_up_balupi(
    session: aiohttp.ClientSession,
    hass: HomeAssistantProcess,
    nas: NasSimulator,
    plugs: list[FakeTapoPlug],
    pihole: PiholeProcess | None,
) -> str:
    """Add BaluPi with both plugs (and the Pi-hole), as the README tells."""
    result = await hass.config_flow(
        session, "balupi", entry_data(nas.url, secret=SECRET)
    )
    entry_id = result["result"]["entry_id"]
    await add_plugs(session, hass, entry_id, plugs)
    if pihole is not None:
        await add_subentry(
            session,
            hass,
            [entry_id, SUBENTRY_PIHOLE],
            [
                {
                    CONF_URL: pihole.url,
                    CONF_PASSWORD: pihole.password,
                    CONF_VERIFY_SSL: True,
                    CONF_HOSTNAME: HOSTNAME,
                    CONF_PI_IP: PI_IP,
                }
            ],
        )
    return entry_id


async def set_up_inbox(
    session: aiohttp.ClientSession,
    hass: HomeAssistantProcess,
    entry_id: str,
    inbox: Path,
    sshd: SshServer,
) -> None:
    """Run the inbox options: folder and login, then confirm the NAS's host key."""
    path = "/api/config/config_entries/options/flow"
    result = await post(session, hass, path, {"handler": entry_id})
    steps: list[dict[str, Any]] = [
        {"next_step_id": "inbox"},
        {
            CONF_INBOX_PATH: str(inbox),
            CONF_SSH_HOST: "127.0.0.1",
            CONF_SSH_PORT: sshd.port,
            CONF_SSH_USER: sshd.user,
            CONF_REMOTE_PATH: str(sshd.remote_dir),
            CONF_KEY_PATH: str(sshd.client_key),
        },
        {},
    ]
    for user_input in steps:
        assert result["type"] in ("menu", "form"), result
        result = await post(session, hass, f"{path}/{result['flow_id']}", user_input)
    assert result["type"] == "create_entry", result


async def nas_handshake(
    session: aiohttp.ClientSession, hass: HomeAssistantProcess, path: str
) -> None:
    """Send the NAS's signed call; going offline carries a fresh snapshot."""
    body = None
    if path == GOING_OFFLINE:
        now = datetime.now(UTC)
        body = snapshot_v1(generated_at=now.isoformat())
        body["services"]["backups"]["last_backup"] = (
            now - timedelta(minutes=BACKUP_AGE_MINUTES)
        ).isoformat()
    headers, data = signed_call(SECRET, path, body)
    async with session.post(hass.url + path, data=data, headers=headers) as reply:
        assert reply.status == 200, await reply.text()


async def wait_for_states(
    session: aiohttp.ClientSession,
    hass: HomeAssistantProcess,
    wanted: dict[str, str | None],
) -> dict[str, str]:
    """Wait until each entity has its wanted state (None: any known value)."""
    deadline = time.monotonic() + STATE_TIMEOUT
    while True:
        async with session.get(
            f"{hass.url}/api/states", headers=hass.headers()
        ) as response:
            states = {s["entity_id"]: s["state"] for s in await response.json()}
        missing = {
            entity_id: states.get(entity_id)
            for entity_id, state in wanted.items()
            if states.get(entity_id) in {None, "unknown", "unavailable"}
            or state not in {None, states[entity_id]}
        }
        if not missing:
            return states
        assert time.monotonic() < deadline, f"entities not ready: {missing}"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[BrowserContext]:
    """Headless Chromium, phone-sized, that reaches nothing but 127.0.0.1."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=PHONE,
            is_mobile=True,
            has_touch=True,
            locale="en-GB",
            timezone_id="Europe/Berlin",
        )
        context.set_default_timeout(UI_TIMEOUT)
        expect.set_options(timeout=UI_TIMEOUT)
        await context.route(re.compile(r"^(?!http://127\.0\.0\.1:)"), _refuse)
        try:
            yield context
        finally:
            await context.close()


async def _refuse(route: Route) -> None:
    await route.abort("blockedbyclient")


async def log_in(page: Page, hass: HomeAssistantProcess) -> None:
    """Open the dashboard; sign in on the login page it sends us to."""
    await page.goto(f"{hass.url}/{DASHBOARD}")
    await page.get_by_role("textbox", name="Username").fill(USER)
    await page.get_by_role("textbox", name="Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{hass.url}/{DASHBOARD}*")


def tile(page: Page, section: str, name: str) -> Locator:
    """Return the tile card called ``name`` in the section headed ``section``."""
    return (
        page.locator("hui-section")
        .filter(has=page.locator("hui-heading-card", has_text=section))
        .locator("hui-tile-card")
        .filter(has=page.get_by_text(name, exact=True))
    )


async def shown_watts(card: Locator) -> float:
    """Return the power a tile shows (it formats the state as "50.8 W")."""
    text = await card.evaluate(DEEP_TEXT)
    match = re.search(r"([0-9][0-9.,]*)\s*W\b", text)
    assert match, f"no power in {text!r}"
    return float(match.group(1).replace(",", ""))


async def expect_watts(card: Locator, watts: float) -> None:
    """Wait until a tile shows ``watts`` (to its display precision of 0.1 W)."""
    deadline = time.monotonic() + UI_TIMEOUT / 1000
    while abs((shown := await shown_watts(card)) - watts) > WATTS_TOLERANCE:
        assert time.monotonic() < deadline, f"shows {shown} W, plug draws {watts} W"
        await asyncio.sleep(0.2)


async def check_cards(page: Page, plugs: list[FakeTapoPlug], pihole: bool) -> None:
    """The key cards are there and show what the simulators report."""
    await expect(tile(page, "BaluHost", "NAS")).to_contain_text("Online")
    await expect(tile(page, "BaluHost", "Wake NAS")).to_be_visible()
    for plug in plugs:
        await expect_watts(tile(page, plug.alias, "Power"), plug.power_w)
    totals = page.locator("hui-markdown-card")
    await expect(totals).to_contain_text(f"{sum(plug.power_w for plug in plugs):.1f} W")
    snapshot = page.locator("hui-section").filter(has_text="Last snapshot")
    for shown in ("37.5", "Clean", "Passed", "123,456", "minutes ago"):
        await expect(snapshot).to_contain_text(shown)
    if pihole:
        await expect(tile(page, "DNS", "Name points to")).to_contain_text("NAS")
    await expect(tile(page, "Inbox", "Files waiting")).to_contain_text("1")
    inbox = page.locator("hui-section").filter(has_text="Last flush")
    await expect(inbox).to_contain_text("ago")
    # Sections of absent integrations are hidden, not shown as errors.
    warnings = page.locator("hui-warning, hui-error-card").filter(visible=True)
    await expect(warnings).to_have_count(0)


async def screenshot(page: Page, viewport: dict[str, int], path: Path) -> None:
    """Save the whole dashboard as it looks at ``viewport``."""
    await page.set_viewport_size(viewport)
    # Sections reflow and charts redraw after a resize.
    await page.wait_for_timeout(RESIZE_SETTLE_MS)
    # A passing notification would cover the cards at the bottom of the view.
    await expect(page.locator("ha-toast").filter(visible=True)).to_have_count(0)
    path.parent.mkdir(exist_ok=True)
    await page.screenshot(path=path, full_page=True, animations="disabled")


async def wake_from_dashboard(page: Page) -> None:
    """Tap Wake NAS and confirm, as on a phone."""
    await tile(page, "BaluHost", "Wake NAS").tap()
    await expect(page.get_by_text("Wake the NAS?")).to_be_visible()
    await page.get_by_role("button", name="OK", exact=True).tap()


async def test_dashboard_shows_live_values_on_a_phone(
    home_assistant: HomeAssistantProcess,
    nas: NasSimulator,
    plugs: list[FakeTapoPlug],
    pihole: PiholeProcess | None,
    inbox: Path,
    sshd: SshServer,
    tmp_path: Path,
) -> None:
    """The key cards show what the simulators report, and follow changes."""
    hass = home_assistant
    async with aiohttp.ClientSession() as session:
        entry_id = await set_up_balupi(session, hass, nas, plugs, pihole)
        # The entry reloads after each subentry; the last one's entities mean
        # the reload is done.
        wanted: dict[str, str | None] = {
            power_sensor(i): None for i in range(len(plugs))
        }
        if pihole is not None:
            wanted[DNS_TARGET] = None
        await wait_for_states(session, hass, wanted)
        await nas_handshake(session, hass, GOING_OFFLINE)
        await nas_handshake(session, hass, COMING_ONLINE)
        wanted |= {NAS_STATE: "online", RAID: None}
        if pihole is not None:
            wanted[DNS_TARGET] = "nas"
        states = await wait_for_states(session, hass, wanted)
        assert WAKE in states
        # The inbox: the NAS is online, so what waits goes at once; a file
        # still being written stays.
        (inbox / "being-written.mov").write_bytes(b"x" * 2048)
        await set_up_inbox(session, hass, entry_id, inbox, sshd)
        await wait_for_states(
            session, hass, {LAST_FLUSH: None, INBOX_COUNT: "1", NAS_STATE: "online"}
        )
        assert sorted(
            path.relative_to(sshd.remote_dir).as_posix()
            for path in sshd.remote_dir.rglob("*")
            if path.is_file()
        ) == sorted(INBOX_FILES)

        async with chromium(tmp_path / "chromium") as context:
            page = context.pages[0]
            await log_in(page, hass)
            await check_cards(page, plugs, pihole is not None)
            await screenshot(page, PHONE, SCREENSHOT)
            await screenshot(page, DESKTOP, SCREENSHOT_DESKTOP)
            await page.set_viewport_size(PHONE)

            # Live: a plug draws more, and the card follows without a reload.
            plugs[1].power_w = CHANGED_POWER_W
            await post(
                session,
                hass,
                "/api/services/homeassistant/update_entity",
                {"entity_id": power_sensor(1)},
            )
            await expect_watts(tile(page, plugs[1].alias, "Power"), CHANGED_POWER_W)

            # The NAS goes down for real, is woken from the dashboard, boots.
            await nas.stop()
            await nas_handshake(session, hass, GOING_OFFLINE)
            nas_tile = tile(page, "BaluHost", "NAS")
            await expect(nas_tile).to_contain_text("Offline")
            await wake_from_dashboard(page)
            await expect(nas_tile).to_contain_text("Booting")
            await nas.start()
            await expect(nas_tile).to_contain_text("Online")
