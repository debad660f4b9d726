"""DNS switching against a real Pi-hole v6 (pihole-FTL started per test)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi.const import (
    CONF_HOSTNAME,
    CONF_PI_IP,
    DOMAIN,
    ISSUE_PIHOLE_AUTH,
    ISSUE_PIHOLE_READ_ONLY,
    ISSUE_PIHOLE_SEATS,
    ISSUE_PIHOLE_UNREACHABLE,
    SERVICE_SWITCH_DNS,
    SUBENTRY_PIHOLE,
)
from custom_components.balupi.nas_state import NasState
from homeassistant.components.sensor import ATTR_OPTIONS
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.const import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_DEVICE_CLASS,
    ATTR_FRIENDLY_NAME,
    CONF_PASSWORD,
    CONF_URL,
    CONF_VERIFY_SSL,
    STATE_OFF,
    STATE_ON,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)

from .conftest import MAC, SECRET, advance, entry_data, settle, setup_entry
from .fakes.nas_simulator import NasSimulator
from .nas_signer import COMING_ONLINE, GOING_OFFLINE, signed_call, snapshot_v1
from .pihole import PiholeAdmin, PiholeProcess, admin_fixture, pihole_fixture, resolve
from .test_pihole_client import FakePihole

__all__ = ["admin_fixture", "pihole_fixture"]

HOSTNAME = "baluhost.lan"
NAS_IP = "192.0.2.10"
PI_IP = "192.0.2.20"
NEW_NAS_IP = "192.0.2.11"
NEW_PI_IP = "192.0.2.21"
TARGET = "sensor.pi_hole_dns_target"
RECORD = "binary_sensor.pi_hole_dns_record"
LAST_SWITCH = "sensor.pi_hole_last_dns_switch"


def pihole_data(pihole: PiholeProcess, **overrides: Any) -> dict[str, Any]:
    return {
        CONF_URL: pihole.url,
        CONF_PASSWORD: pihole.password,
        CONF_VERIFY_SSL: True,
        CONF_HOSTNAME: HOSTNAME,
        CONF_PI_IP: PI_IP,
    } | overrides


def make_entry(
    nas: NasSimulator, pihole: PiholeProcess, **overrides: Any
) -> MockConfigEntry:
    return entry_with_pihole(nas, pihole_data(pihole, **overrides))


def entry_with_pihole(nas: NasSimulator, data: dict[str, Any]) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data(nas.url, ip_address=NAS_IP),
        subentries_data=[
            ConfigSubentryData(
                data=data,
                subentry_type=SUBENTRY_PIHOLE,
                title="Pi-hole",
                unique_id=None,
            )
        ],
    )


@pytest.fixture
def entry(nas: NasSimulator, pihole: PiholeProcess) -> MockConfigEntry:
    return make_entry(nas, pihole)


async def answer(pihole: PiholeProcess) -> list[str]:
    return (await resolve(pihole, HOSTNAME)).addresses


async def wait_for_answer(
    hass: HomeAssistant, pihole: PiholeProcess, expected: list[str]
) -> None:
    for _ in range(100):
        if await answer(pihole) == expected:
            return
        await settle(hass)
    assert await answer(pihole) == expected


async def wait_until(hass: HomeAssistant, condition: Callable[[], bool]) -> None:
    """Wait (in real time: Pi-hole's writes take a while) for a condition."""
    for _ in range(200):
        if condition():
            return
        await settle(hass)
    assert condition()


async def our_sessions(admin: PiholeAdmin) -> int:
    return len(await admin.sessions())


async def test_online_nas_gets_its_address(
    hass: HomeAssistant, entry: MockConfigEntry, pihole: PiholeProcess
) -> None:
    await setup_entry(hass, entry)
    assert await answer(pihole) == [NAS_IP]
    assert hass.states.get(TARGET).state == "nas"
    assert hass.states.get(RECORD).state == "off"


async def test_entities_named_as_core_names_them(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    entry: MockConfigEntry,
    pihole: PiholeProcess,
) -> None:
    await setup_entry(hass, entry)
    names = {
        TARGET: "Pi-hole DNS target",
        RECORD: "Pi-hole DNS record",
        LAST_SWITCH: "Pi-hole Last DNS switch",
    }
    for entity_id, name in names.items():
        state = hass.states.get(entity_id)
        assert state is not None, entity_id
        assert state.attributes[ATTR_FRIENDLY_NAME] == name
    # A problem sensor: on means the record is not as wanted.
    assert hass.states.get(RECORD).attributes[ATTR_DEVICE_CLASS] == "problem"
    assert hass.states.get(RECORD).state == STATE_OFF
    # The meanings stayed, so the unique ids did too.
    assert entity_registry.async_get(RECORD).unique_id == f"{MAC}_dns_in_sync"
    assert entity_registry.async_get(TARGET).unique_id == f"{MAC}_dns_target"


async def test_no_record_is_no_value(
    hass: HomeAssistant, entry: MockConfigEntry, pihole: PiholeProcess
) -> None:
    pihole.stop()
    await setup_entry(hass, entry)
    target = hass.states.get(TARGET)
    # Home Assistant's own "unknown", not an option of that name.
    assert target.state == STATE_UNKNOWN
    assert target.attributes[ATTR_OPTIONS] == ["nas", "pi", "other"]
    assert hass.states.get(RECORD).state == STATE_ON


async def test_stale_records_go_other_records_stay(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
) -> None:
    await admin.set_hosts(
        [f"10.9.9.9 {HOSTNAME}", f"{PI_IP} {HOSTNAME}", "192.0.2.99 printer.lan"]
    )
    await setup_entry(hass, entry)
    assert sorted(await admin.hosts()) == sorted(
        ["192.0.2.99 printer.lan", f"{NAS_IP} {HOSTNAME}"]
    )
    assert await answer(pihole) == [NAS_IP]


async def test_heartbeat_offline_points_at_the_pi(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    nas: NasSimulator,
    pihole: PiholeProcess,
) -> None:
    await setup_entry(hass, entry)
    await nas.stop()
    await advance(hass, freezer, 10)
    await wait_for_answer(hass, pihole, [PI_IP])
    await settle(hass, 0.2)
    assert hass.states.get(TARGET).state == "pi"
    await nas.start()
    await advance(hass, freezer, 31)
    await wait_for_answer(hass, pihole, [NAS_IP])


async def test_handshakes_switch_dns_end_to_end(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    entry: MockConfigEntry,
    pihole: PiholeProcess,
) -> None:
    await setup_entry(hass, entry)
    client = await hass_client_no_auth()
    headers, body = signed_call(SECRET, GOING_OFFLINE, snapshot_v1())
    reply = await client.post(GOING_OFFLINE, data=body, headers=headers)
    assert await reply.json() == {"acknowledged": True, "dns_switched": True}
    # Confirmed before the reply: a DNS query right now sees the Pi.
    assert await answer(pihole) == [PI_IP]

    headers, body = signed_call(SECRET, COMING_ONLINE)
    reply = await client.post(COMING_ONLINE, data=body, headers=headers)
    assert (await reply.json())["background"] == ["dns"]
    await wait_for_answer(hass, pihole, [NAS_IP])


async def test_switch_dns_action(
    hass: HomeAssistant, entry: MockConfigEntry, pihole: PiholeProcess
) -> None:
    await setup_entry(hass, entry)
    for target, expected in (
        ("pi", PI_IP),
        ("192.0.2.55", "192.0.2.55"),
        ("NAS", NAS_IP),
    ):
        await hass.services.async_call(
            DOMAIN, SERVICE_SWITCH_DNS, {"target": target}, blocking=True
        )
        assert await answer(pihole) == [expected]
    await hass.services.async_call(
        DOMAIN, SERVICE_SWITCH_DNS, {"target": "192.0.2.55"}, blocking=True
    )
    assert hass.states.get(TARGET).state == "other"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, SERVICE_SWITCH_DNS, {"target": "the moon"}, blocking=True
        )
    assert err.value.translation_key == "invalid_dns_target"


@pytest.mark.parametrize(
    ("stored", "target", "expected"),
    [
        (PI_IP, "pi", NEW_PI_IP),
        (NAS_IP, "nas", NAS_IP),
        ("192.0.2.55", "other", "192.0.2.55"),
    ],
)
async def test_stored_address_becomes_a_target(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    nas: NasSimulator,
    pihole: PiholeProcess,
    stored: str,
    target: str,
    expected: str,
) -> None:
    # Stored by an earlier BaluPi: the address, not the target. The NAS is
    # where it was then (online for "nas", asleep otherwise), so the first
    # heartbeat after the restart moves nothing.
    entry = make_entry(nas, pihole)
    hass_storage[f"{DOMAIN}.{entry.entry_id}.dns"] = {
        "version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}.dns",
        "data": {"wanted_ip": stored, "last_switch": "2026-01-02T03:04:05+00:00"},
    }
    state = NasState.ONLINE if target == "nas" else NasState.OFFLINE
    hass_storage[f"{DOMAIN}.{entry.entry_id}"] = {
        "version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {"lifecycle": {"state": state, "since": None, "reason": None}},
    }
    if state is NasState.OFFLINE:
        await nas.stop()
    await setup_entry(hass, entry)
    # The Pi's address changes: a target of "pi" follows it.
    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(
        entry, subentry, data=subentry.data | {CONF_PI_IP: NEW_PI_IP}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await wait_for_answer(hass, pihole, [expected])
    assert hass.states.get(TARGET).state == target
    assert hass.states.get(RECORD).state == STATE_OFF
    assert hass.states.get(LAST_SWITCH).state == "2026-01-02T03:04:05+00:00"


async def test_reconfigured_nas_address_moves_the_record(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    nas: NasSimulator,
    pihole: PiholeProcess,
) -> None:
    await setup_entry(hass, entry)
    for target in ("pi", "nas"):
        await hass.services.async_call(
            DOMAIN, SERVICE_SWITCH_DNS, {"target": target}, blocking=True
        )
    assert await answer(pihole) == [NAS_IP]
    result = await entry.start_reconfigure_flow(hass)
    changed = entry_data(nas.url, ip_address=NEW_NAS_IP, secret="")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], changed)
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    await wait_for_answer(hass, pihole, [NEW_NAS_IP])
    assert hass.states.get(TARGET).state == "nas"
    assert hass.states.get(RECORD).state == STATE_OFF


async def test_removed_pihole_leaves_nothing_behind(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    issue_registry: ir.IssueRegistry,
    entry: MockConfigEntry,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
) -> None:
    await setup_entry(hass, entry)
    await hass.services.async_call(
        DOMAIN, SERVICE_SWITCH_DNS, {"target": "pi"}, blocking=True
    )
    pihole.stop()
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            DOMAIN, SERVICE_SWITCH_DNS, {"target": "nas"}, blocking=True
        )
    await advance(hass, freezer, 250, step=5)
    issue_id = f"{ISSUE_PIHOLE_UNREACHABLE}_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    await asyncio.to_thread(pihole.start)
    pihole_device = (DOMAIN, f"{MAC}_pihole")
    assert device_registry.async_get_devices(identifiers={pihole_device}) != []
    assert entity_registry.async_get(RECORD) is not None

    subentry_id = next(iter(entry.subentries))
    assert hass.config_entries.async_remove_subentry(entry, subentry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    for entity_id in (TARGET, RECORD, LAST_SWITCH):
        assert entity_registry.async_get(entity_id) is None, entity_id
        assert hass.states.get(entity_id) is None, entity_id
    assert device_registry.async_get_devices(identifiers={pihole_device}) == []
    # What BaluPi wanted is forgotten: a Pi-hole added later starts afresh.
    assert f"{DOMAIN}.{entry.entry_id}.dns" not in hass_storage
    # The record stays as it was: without BaluPi the name still leads somewhere.
    assert await admin.hosts() == [f"{PI_IP} {HOSTNAME}"]


async def test_removed_entry_takes_its_pihole_issues(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    entry: MockConfigEntry,
    pihole: PiholeProcess,
) -> None:
    await setup_entry(hass, entry)
    pihole.stop()
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            DOMAIN, SERVICE_SWITCH_DNS, {"target": "nas"}, blocking=True
        )
    await advance(hass, freezer, 250, step=5)
    issue_id = f"{ISSUE_PIHOLE_UNREACHABLE}_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_switch_dns_needs_a_pihole(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    await setup_entry(hass, config_entry)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            SERVICE_SWITCH_DNS,
            {"target": "pi", ATTR_CONFIG_ENTRY_ID: config_entry.entry_id},
            blocking=True,
        )
    assert err.value.translation_key == "pihole_not_configured"


async def test_many_switches_one_session_and_logout_on_unload(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
) -> None:
    before = await our_sessions(admin)
    await setup_entry(hass, entry)
    for index in range(200):
        await hass.services.async_call(
            DOMAIN,
            SERVICE_SWITCH_DNS,
            {"target": "pi" if index % 2 else "nas"},
            blocking=True,
        )
    assert await our_sessions(admin) == before + 1
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await our_sessions(admin) == before


async def test_logout_when_home_assistant_stops(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
) -> None:
    await setup_entry(hass, entry)
    [ours] = await admin.sessions()
    # Home Assistant stops without unloading its entries.
    await hass.async_stop()
    assert entry.state is ConfigEntryState.LOADED
    assert ours["id"] not in [session["id"] for session in await admin.sessions()]


async def test_pihole_down_during_switch_converges(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_client_no_auth: ClientSessionGenerator,
    issue_registry: ir.IssueRegistry,
    entry: MockConfigEntry,
    nas: NasSimulator,
    pihole: PiholeProcess,
) -> None:
    await setup_entry(hass, entry)
    pihole.stop()
    await nas.stop()  # the NAS really goes down after its handshake
    client = await hass_client_no_auth()
    headers, body = signed_call(SECRET, GOING_OFFLINE, snapshot_v1())
    with patch("custom_components.balupi.views.DNS_REPLY_BUDGET", 2):
        reply = await client.post(GOING_OFFLINE, data=body, headers=headers)
    assert await reply.json() == {"acknowledged": True, "dns_switched": False}
    await settle(hass)
    assert hass.states.get(RECORD).state == "on"
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, SERVICE_SWITCH_DNS, {"target": "pi"}, blocking=True
        )
    assert err.value.translation_key == "dns_switch_failed"

    # Down for longer than a restart: a repair says so.
    await advance(hass, freezer, 250, step=5)
    issue_id = f"{ISSUE_PIHOLE_UNREACHABLE}_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None

    await asyncio.to_thread(pihole.start)
    for _ in range(40):
        if hass.states.get(RECORD).state == "off":
            break
        await advance(hass, freezer, 5, step=5)
        await settle(hass, 0.1)
    assert hass.states.get(RECORD).state == "off"
    assert await answer(pihole) == [PI_IP]
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_unreachable_repair_shows_no_pihole_text(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    nas: NasSimulator,
) -> None:
    # Not a Pi-hole: its login answers a phishing link and half a MB of text.
    hostile = FakePihole("hostile-text", at_login=True)
    await hostile.start()
    try:
        entry = entry_with_pihole(
            nas,
            {
                CONF_URL: hostile.url,
                CONF_PASSWORD: "pw",
                CONF_VERIFY_SSL: True,
                CONF_HOSTNAME: HOSTNAME,
                CONF_PI_IP: PI_IP,
            },
        )
        await setup_entry(hass, entry)
        await advance(hass, freezer, 250, step=5)
        issue = issue_registry.async_get_issue(
            DOMAIN, f"{ISSUE_PIHOLE_UNREACHABLE}_{entry.entry_id}"
        )
        assert issue is not None
        assert issue.translation_placeholders is not None
        assert issue.translation_placeholders["error"] == "no session in answer"
        shown = " ".join(issue.translation_placeholders.values())
        assert "example.net" not in shown
        assert len(shown) < 200
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await hostile.stop()


async def test_setting_survives_restart_while_pihole_is_down(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    pihole: PiholeProcess,
) -> None:
    await setup_entry(hass, entry)
    pihole.stop()
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            DOMAIN, SERVICE_SWITCH_DNS, {"target": "pi"}, blocking=True
        )
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await asyncio.to_thread(pihole.start)
    await advance(hass, freezer, 20, step=2)
    await wait_for_answer(hass, pihole, [PI_IP])


async def test_session_ended_by_pihole_is_renewed_once(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
) -> None:
    await setup_entry(hass, entry)
    await admin.activate_app_password()  # ends every session, ours too
    await hass.services.async_call(
        DOMAIN, SERVICE_SWITCH_DNS, {"target": "pi"}, blocking=True
    )
    assert await answer(pihole) == [PI_IP]
    assert await our_sessions(admin) == 1


async def test_wrong_password_starts_reauth_without_a_login_storm(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    nas: NasSimulator,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
) -> None:
    entry = make_entry(nas, pihole, password="wrong")
    await setup_entry(hass, entry)
    assert hass.states.get(RECORD).state == "on"
    issue_id = f"{ISSUE_PIHOLE_AUTH}_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    for _ in range(5):
        with pytest.raises(HomeAssistantError):
            await hass.services.async_call(
                DOMAIN, SERVICE_SWITCH_DNS, {"target": "pi"}, blocking=True
            )
    await advance(hass, freezer, 30, step=5)
    # Pi-hole's login rate limit was never tripped: the right password works.
    sid = await admin.login()
    await admin.logout(sid)

    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_PASSWORD: "still wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_PASSWORD: pihole.password}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    # The last wish (pi, asked for while the password was wrong) now holds.
    assert await answer(pihole) == [PI_IP]
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_app_password_without_sudo_is_a_repair(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    nas: NasSimulator,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
) -> None:
    app_password = await admin.activate_app_password()
    entry = make_entry(nas, pihole, password=app_password)
    await setup_entry(hass, entry)
    issue_id = f"{ISSUE_PIHOLE_READ_ONLY}_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert hass.states.get(RECORD).state == "on"
    await admin.set_app_sudo(enabled=True)
    await hass.services.async_call(
        DOMAIN, SERVICE_SWITCH_DNS, {"target": "pi"}, blocking=True
    )
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_seats_taken_is_a_repair_and_recovers(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    entry: MockConfigEntry,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
) -> None:
    seats = [await admin.login() for _ in range(16)]
    await setup_entry(hass, entry)
    issue_id = f"{ISSUE_PIHOLE_SEATS}_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    await admin.logout(seats.pop())
    # Two tries at setup (the first check, and the NAS found online): 8 s.
    await advance(hass, freezer, 9, step=1)
    await wait_until(
        hass, lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is None
    )
    assert await answer(pihole) == [NAS_IP]
    await hass.config_entries.async_unload(entry.entry_id)
    for sid in seats:
        await admin.logout(sid)


async def test_diagnostics_redact_the_pihole_password(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    entry: MockConfigEntry,
    pihole: PiholeProcess,
) -> None:
    await setup_entry(hass, entry)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["subentries"][0]["data"][CONF_PASSWORD] == "**REDACTED**"
    assert pihole.password not in str(diagnostics)
    assert diagnostics["dns"]["target"] == "nas"
    assert diagnostics["dns"]["in_sync"] is True
