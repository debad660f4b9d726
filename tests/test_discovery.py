"""Discovery: a BaluHost announced over mDNS, Tapo plugs and moved devices by DHCP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balupi.const import (
    CONF_ROLE,
    CONF_TPLINK_PASSWORD,
    CONF_TPLINK_USERNAME,
    DOMAIN,
    ROLE_GENERIC,
    SUBENTRY_PLUG,
)
from custom_components.balupi.discovery import (
    SERVICE_TYPE,
    Announcement,
    moved_url,
    neighbour_mac,
    parse_announcement,
)
from homeassistant.config_entries import SOURCE_DHCP, SOURCE_ZEROCONF
from homeassistant.const import (
    CONF_HOST,
    CONF_IP_ADDRESS,
    CONF_MAC,
    CONF_NAME,
    CONF_PORT,
    CONF_URL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.dhcp import DhcpServiceInfo
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .conftest import MAC, SECRET, entry_data
from .fakes.tapo_plug import DEFAULT_PASSWORD, FakeTapoPlug

pytestmark = pytest.mark.usefixtures("mock_setup_entry")

LOCAL = IPv4Address("127.0.0.1")
# What BaluHost's network_discovery.py announces (api is https://<ip>:<port>).
PROPERTIES = {
    "version": "1.0.0",
    "hostname": "baluhost",
    "webdav": "https://127.0.0.1:8080/",
    "description": "BaluHost - Private Cloud Storage",
}
ARP_HEADER = (
    "IP address       HW type     Flags       HW address            Mask     Device\n"
)
USER = "user@example.com"
# A Tapo OUI the manifest's DHCP matchers name; port 80 as on a real plug.
PLUG_MAC = "30:de:4b:00:00:07"
PLUG_HOST = "127.0.0.1"


@pytest.fixture
def mock_setup_entry() -> Any:
    with patch("custom_components.balupi.async_setup_entry", return_value=True) as m:
        yield m


class Listener:
    """A TCP port on 127.0.0.1 that counts connections and every byte sent to it."""

    def __init__(self) -> None:
        self.connections = 0
        self.received = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        while data := await reader.read(4096):
            self.received += len(data)
        writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def listener(socket_enabled: None) -> AsyncGenerator[Listener]:
    server = Listener()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def neighbours(tmp_path: Path) -> Any:
    """The kernel's neighbour table, as a file the test writes."""
    table = tmp_path / "arp"
    table.write_text(ARP_HEADER)
    with patch("custom_components.balupi.config_flow.NEIGHBOUR_TABLE", str(table)):
        yield table


def row(ip: str, mac: str, flags: str = "0x2") -> str:
    """One line of /proc/net/arp."""
    return f"{ip:<17}0x1         {flags:<12}{mac:<22}*        eth0\n"


def know(table: Path, ip: str, mac: str) -> None:
    with table.open("a") as file:
        file.write(row(ip, mac))


def announcement(
    port: int, address: str = "127.0.0.1", **properties: Any
) -> ZeroconfServiceInfo:
    props = {**PROPERTIES, "api": f"https://{address}:{port}"} | properties
    return ZeroconfServiceInfo(
        ip_address=ip_address(address),
        ip_addresses=[ip_address(address)],
        port=port,
        hostname="baluhost.local.",
        type=SERVICE_TYPE,
        name=f"BaluHost on nas.{SERVICE_TYPE}",
        properties={key: value for key, value in props.items() if value is not None},
    )


async def discover(hass: HomeAssistant, info: ZeroconfServiceInfo) -> dict[str, Any]:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )


def defaults(result: dict[str, Any]) -> dict[str, Any]:
    """Return the form's defaults (and suggested values) by field."""
    values: dict[str, Any] = {}
    for marker in result["data_schema"].schema:
        if callable(marker.default):
            values[str(marker)] = marker.default()
        elif (marker.description or {}).get("suggested_value") is not None:
            values[str(marker)] = marker.description["suggested_value"]
    return values


def listen(entry: MockConfigEntry) -> list[MockConfigEntry]:
    """Record the entry's update listener calls (the listener reloads the entry)."""
    changes: list[MockConfigEntry] = []

    async def changed(hass: HomeAssistant, changed_entry: Any) -> None:
        changes.append(changed_entry)

    entry.add_update_listener(changed)
    return changes


def nas_entry(url: str, ip: str, **data: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data(url, ip_address=ip) | data,
    )


# The announcement and the neighbour table, without Home Assistant.


def test_baluhost_announcement_is_read() -> None:
    parsed = parse_announcement(
        SERVICE_TYPE,
        {**PROPERTIES, "api": "https://192.168.1.20:8000"},
        IPv4Address("192.168.1.20"),
        8000,
    )
    assert parsed == Announcement(
        hostname="baluhost",
        version="1.0.0",
        url="https://192.168.1.20:8000",
        ip="192.168.1.20",
    )


@pytest.mark.parametrize(
    ("service_type", "changes", "port"),
    [
        ("_http._tcp.local.", {}, 8000),
        (SERVICE_TYPE, {"hostname": None}, 8000),
        (SERVICE_TYPE, {"version": None}, 8000),
        (SERVICE_TYPE, {"api": None}, 8000),
        (SERVICE_TYPE, {}, None),
        (SERVICE_TYPE, {}, 0),
        (SERVICE_TYPE, {}, 70000),
        (SERVICE_TYPE, {"hostname": "x" * 300}, 8000),
        (SERVICE_TYPE, {"hostname": "bad host"}, 8000),
        (SERVICE_TYPE, {"hostname": "-nas"}, 8000),
        (SERVICE_TYPE, {"hostname": b"\xff\xfe"}, 8000),
        (SERVICE_TYPE, {"hostname": 42}, 8000),
        (SERVICE_TYPE, {"hostname": ""}, 8000),
        (SERVICE_TYPE, {"version": "1.0.0; rm -rf /"}, 8000),
        (SERVICE_TYPE, {"version": "9" * 300}, 8000),
        (SERVICE_TYPE, {"api": "ftp://192.168.1.20:8000"}, 8000),
        (SERVICE_TYPE, {"api": "https://evil.example:8000"}, 8000),
        (SERVICE_TYPE, {"api": "https://192.168.1.99:8000"}, 8000),
        (SERVICE_TYPE, {"api": "http://[::1"}, 8000),
        (SERVICE_TYPE, {"api": "not a url"}, 8000),
    ],
)
def test_what_is_not_a_baluhost_is_refused(
    service_type: str, changes: dict[str, Any], port: int | None
) -> None:
    properties: dict[str, object] = {
        **PROPERTIES,
        "api": "https://192.168.1.20:8000",
    } | changes
    properties = {key: value for key, value in properties.items() if value is not None}
    assert (
        parse_announcement(service_type, properties, IPv4Address("192.168.1.20"), port)
        is None
    )


def test_bytes_properties_are_decoded() -> None:
    parsed = parse_announcement(
        SERVICE_TYPE,
        {"hostname": b"Nas-1", "version": b"2.3", "api": b"http://10.0.0.5:80"},
        IPv4Address("10.0.0.5"),
        80,
    )
    assert parsed is not None
    assert (parsed.hostname, parsed.url) == ("nas-1", "http://10.0.0.5")


def test_neighbour_table() -> None:
    table = (
        ARP_HEADER
        + row("192.168.1.1", "AA:BB:CC:00:00:01")
        + row("192.168.1.20", "00:00:00:00:00:00", flags="0x0")
        + row("192.168.1.30", "aa:bb:cc:00:00:03", flags="zz")
        + row("192.168.1.40", "not-a-mac")
        + "garbage\n"
    )
    assert neighbour_mac(table, "192.168.1.1") == "aa:bb:cc:00:00:01"
    # Incomplete (the address did not answer), malformed, or unknown: no MAC.
    for ip in ("192.168.1.20", "192.168.1.30", "192.168.1.40", "192.168.1.50"):
        assert neighbour_mac(table, ip) is None
    # Only a complete entry for exactly this address counts.
    assert neighbour_mac(table, "192.168.1.") is None


def test_ipv6_announcement() -> None:
    parsed = parse_announcement(
        SERVICE_TYPE,
        {**PROPERTIES, "api": "https://[fd00::5]:8000"},
        ip_address("fd00::5"),
        8000,
    )
    assert parsed is not None
    assert (parsed.url, parsed.ip) == ("https://[fd00::5]:8000", "fd00::5")


def test_moved_url_keeps_a_name() -> None:
    assert moved_url("https://10.0.0.5:8000", "10.0.0.9") == "https://10.0.0.9:8000"
    assert moved_url("https://nas.lan:8000", "10.0.0.9") == "https://nas.lan:8000"


# The zeroconf flow.


async def test_discovered_nas_is_offered_prefilled(
    hass: HomeAssistant, listener: Listener, neighbours: Path
) -> None:
    know(neighbours, "127.0.0.1", MAC.upper())
    result = await discover(hass, announcement(listener.port))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"] == {
        "name": "baluhost",
        "url": f"https://127.0.0.1:{listener.port}",
        "version": "1.0.0",
    }
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flows[0]["context"]["title_placeholders"] == {"name": "baluhost"}
    assert flows[0]["context"]["unique_id"] == MAC

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    form = defaults(result)
    assert form[CONF_NAME] == "baluhost"
    assert form[CONF_URL] == f"https://127.0.0.1:{listener.port}"
    assert form[CONF_IP_ADDRESS] == "127.0.0.1"
    assert form[CONF_MAC] == MAC
    # Found in the table: the NAS was not even connected to.
    assert (listener.connections, listener.received) == (0, 0)

    user = {key: form[key] for key in form} | {
        CONF_URL: f"http://127.0.0.1:{listener.port}",
        "secret": SECRET,
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == MAC
    assert result["data"][CONF_URL] == f"http://127.0.0.1:{listener.port}"
    # Submitting probes the port; without an API key nothing is sent.
    assert listener.received == 0


async def test_discovery_sends_nothing_to_the_nas(
    hass: HomeAssistant, listener: Listener, neighbours: Path
) -> None:
    """A MAC the table lacks costs one TCP connect, never a request."""
    result = await discover(hass, announcement(listener.port))
    assert result["step_id"] == "discovery_confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "user"
    # 127.0.0.1 has no neighbour entry: the MAC is left for the user.
    assert defaults(result)[CONF_MAC] == ""
    await hass.async_block_till_done()
    assert listener.connections == 1
    assert listener.received == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"hostname": None},
        {"version": "x" * 10_000},
        {"api": "https://192.0.2.99:8000"},
        {"api": "\x00\x01"},
        {"hostname": "nas..local"},
    ],
)
async def test_malformed_announcement_aborts(
    hass: HomeAssistant,
    listener: Listener,
    neighbours: Path,
    changes: dict[str, Any],
) -> None:
    result = await discover(hass, announcement(listener.port, **changes))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_baluhost"
    assert (listener.connections, listener.received) == (0, 0)


async def test_other_service_aborts(hass: HomeAssistant, neighbours: Path) -> None:
    info = announcement(8000)
    info.type = "_http._tcp.local."
    result = await discover(hass, info)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_baluhost"


async def test_moved_nas_is_followed(
    hass: HomeAssistant, listener: Listener, neighbours: Path
) -> None:
    entry = nas_entry("https://192.0.2.10:8000", "192.0.2.10")
    entry.add_to_hass(hass)
    named = MockConfigEntry(
        domain=DOMAIN,
        unique_id="aa:bb:cc:dd:ee:01",
        data=entry_data("https://nas.lan:8000", ip_address="192.0.2.11"),
    )
    named.add_to_hass(hass)
    know(neighbours, "127.0.0.1", MAC)
    changes = listen(entry)

    result = await discover(hass, announcement(listener.port))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()
    assert changes == [entry]
    assert entry.data[CONF_IP_ADDRESS] == "127.0.0.1"
    assert entry.data[CONF_URL] == "https://127.0.0.1:8000"
    assert entry.data["secret"] == SECRET
    assert (listener.connections, listener.received) == (0, 0)


async def test_moved_nas_by_name_keeps_its_url(
    hass: HomeAssistant, neighbours: Path
) -> None:
    entry = nas_entry("https://nas.lan:8000", "192.0.2.10")
    entry.add_to_hass(hass)
    know(neighbours, "127.0.0.1", MAC)
    result = await discover(hass, announcement(8000))
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_URL] == "https://nas.lan:8000"
    assert entry.data[CONF_IP_ADDRESS] == "127.0.0.1"


async def test_unchanged_nas_aborts(hass: HomeAssistant, neighbours: Path) -> None:
    entry = nas_entry("https://127.0.0.1:8000", "127.0.0.1")
    entry.add_to_hass(hass)
    know(neighbours, "127.0.0.1", MAC)
    changes = listen(entry)
    result = await discover(hass, announcement(8000))
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()
    assert changes == []


async def test_known_address_without_mac_aborts(
    hass: HomeAssistant, listener: Listener, neighbours: Path
) -> None:
    nas_entry(f"http://127.0.0.1:{listener.port}", "127.0.0.1").add_to_hass(hass)
    result = await discover(hass, announcement(listener.port))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert listener.received == 0


async def test_ignored_nas_stays_ignored(hass: HomeAssistant, neighbours: Path) -> None:
    MockConfigEntry(domain=DOMAIN, unique_id=MAC, source="ignore").add_to_hass(hass)
    know(neighbours, "127.0.0.1", MAC)
    result = await discover(hass, announcement(8000))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


# DHCP: Tapo plugs and devices that moved.


@pytest.fixture
async def port80_plug(socket_enabled: None) -> AsyncGenerator[FakeTapoPlug]:
    fake = FakeTapoPlug(mac=PLUG_MAC, alias="Desk", host=PLUG_HOST, port=80)
    await fake.start()
    yield fake
    await fake.stop()


def dhcp(ip: str, mac: str, hostname: str = "p110") -> DhcpServiceInfo:
    return DhcpServiceInfo(ip=ip, hostname=hostname, macaddress=mac.replace(":", ""))


async def dhcp_flow(hass: HomeAssistant, info: DhcpServiceInfo) -> dict[str, Any]:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_DHCP}, data=info
    )


def plug_entry(*, account: bool = True) -> MockConfigEntry:
    account_data = (
        {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD}
        if account
        else {}
    )
    return MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data("http://127.0.0.1:8000") | account_data,
    )


async def test_dhcp_plug_is_added_to_the_nas_entry(
    hass: HomeAssistant, port80_plug: FakeTapoPlug
) -> None:
    entry = plug_entry()
    entry.add_to_hass(hass)
    result = await dhcp_flow(hass, dhcp(PLUG_HOST, PLUG_MAC))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "plug_confirm"
    assert result["description_placeholders"] == {"host": PLUG_HOST}
    # The entry has an account and is the only one: neither is asked for.
    assert set(defaults(result)) == {CONF_ROLE}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ROLE: ROLE_GENERIC}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "plug_added"
    (plug,) = entry.subentries.values()
    assert plug.subentry_type == SUBENTRY_PLUG
    assert plug.unique_id == PLUG_MAC
    assert plug.title == "Desk"
    assert plug.data[CONF_HOST] == PLUG_HOST
    assert plug.data[CONF_PORT] is None

    # The plug moves: its subentry follows (the entry reloads), nothing is offered.
    changes = listen(entry)
    result = await dhcp_flow(hass, dhcp("127.0.0.82", PLUG_MAC))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "plug_already_configured"
    assert entry.subentries[plug.subentry_id].data[CONF_HOST] == "127.0.0.82"
    await hass.async_block_till_done()
    assert changes == [entry]


async def test_dhcp_plug_picks_the_nas_entry(
    hass: HomeAssistant, port80_plug: FakeTapoPlug
) -> None:
    first = plug_entry()
    first.add_to_hass(hass)
    second = MockConfigEntry(
        domain=DOMAIN,
        title="Backup NAS",
        unique_id="aa:bb:cc:dd:ee:02",
        data=entry_data("http://127.0.0.1:8001", mac="aa:bb:cc:dd:ee:02")
        | {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD},
    )
    second.add_to_hass(hass)
    result = await dhcp_flow(hass, dhcp(PLUG_HOST, PLUG_MAC))
    assert defaults(result)["entry"] == first.entry_id
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"entry": second.entry_id, CONF_ROLE: ROLE_GENERIC, CONF_NAME: "Backup plug"},
    )
    assert result["reason"] == "plug_added"
    assert result["description_placeholders"] == {
        "name": "Backup plug",
        "entry": "Backup NAS",
    }
    assert not first.subentries
    (plug,) = second.subentries.values()
    assert plug.unique_id == PLUG_MAC


async def test_ignored_plug_is_not_offered_again(hass: HomeAssistant) -> None:
    plug_entry().add_to_hass(hass)
    MockConfigEntry(domain=DOMAIN, unique_id=PLUG_MAC, source="ignore").add_to_hass(
        hass
    )
    result = await dhcp_flow(hass, dhcp(PLUG_HOST, PLUG_MAC))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_dhcp_plug_needs_the_account(
    hass: HomeAssistant, port80_plug: FakeTapoPlug
) -> None:
    entry = plug_entry(account=False)
    entry.add_to_hass(hass)
    result = await dhcp_flow(hass, dhcp(PLUG_HOST, PLUG_MAC))
    assert CONF_TPLINK_USERNAME in {str(key) for key in result["data_schema"].schema}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ROLE: ROLE_GENERIC}
    )
    assert result["errors"] == {"base": "account_required"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_ROLE: ROLE_GENERIC,
            CONF_TPLINK_USERNAME: USER,
            CONF_TPLINK_PASSWORD: "x",
        },
    )
    assert result["errors"] == {"base": "plug_invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_ROLE: ROLE_GENERIC,
            CONF_TPLINK_USERNAME: USER,
            CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD,
        },
    )
    assert result["reason"] == "plug_added"
    assert entry.data[CONF_TPLINK_USERNAME] == USER
    assert len(entry.subentries) == 1


async def test_dhcp_plug_without_nas_aborts(hass: HomeAssistant) -> None:
    result = await dhcp_flow(hass, dhcp(PLUG_HOST, PLUG_MAC))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_nas"


async def test_dhcp_follows_the_moved_nas(hass: HomeAssistant) -> None:
    entry = nas_entry("https://192.0.2.10:8000", "192.0.2.10")
    entry.add_to_hass(hass)
    result = await dhcp_flow(hass, dhcp("192.0.2.77", MAC, hostname="baluhost"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_IP_ADDRESS] == "192.0.2.77"
    assert entry.data[CONF_URL] == "https://192.0.2.77:8000"
