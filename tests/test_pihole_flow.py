"""Adding and changing the Pi-hole (a config subentry), against a real Pi-hole."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balupi import pihole as client_module
from custom_components.balupi.const import (
    CONF_HOSTNAME,
    CONF_PI_IP,
    DOMAIN,
    SERVICE_SWITCH_DNS,
    SUBENTRY_PIHOLE,
)
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.const import CONF_PASSWORD, CONF_URL, STATE_OFF
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from .conftest import setup_entry
from .fakes.nas_simulator import NasSimulator
from .pihole import (
    DnsAnswer,
    PiholeAdmin,
    PiholeProcess,
    admin_fixture,
    pihole_fixture,
    resolve,
)
from .test_dns import (
    HOSTNAME,
    NAS_IP,
    NEW_PI_IP,
    PI_IP,
    RECORD,
    TARGET,
    answer,
    make_entry,
    pihole_data,
)

__all__ = ["admin_fixture", "pihole_fixture"]


async def start(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    with patch(
        "homeassistant.components.network.async_get_source_ip", return_value=PI_IP
    ):
        return await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_PIHOLE), context={"source": SOURCE_USER}
        )


async def test_add_pihole(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
) -> None:
    await setup_entry(hass, config_entry)
    sessions = len(await admin.sessions())
    result = await start(hass, config_entry)
    assert result["type"] is FlowResultType.FORM
    defaults = {
        str(key): key.default()
        for key in result["data_schema"].schema
        if callable(key.default)
    }
    assert defaults[CONF_PI_IP] == PI_IP
    assert defaults[CONF_HOSTNAME] == "baluhost.local"

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], pihole_data(pihole, url=pihole.url + "/")
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Pi-hole ({HOSTNAME})"
    assert result["data"][CONF_URL] == pihole.url
    await hass.async_block_till_done(wait_background_tasks=True)
    # The entry reloaded with the Pi-hole: the NAS (online) has its name.
    assert await answer(pihole) == ["127.0.0.1"]
    assert hass.states.get("sensor.pi_hole_dns_target") is not None
    # The test login was closed again.
    assert len(await admin.sessions()) == sessions + 1


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({CONF_PASSWORD: "wrong"}, {"base": "invalid_auth"}),
        ({CONF_URL: "http://127.0.0.1:1"}, {"base": "cannot_connect"}),
        ({CONF_URL: "pi.hole"}, {CONF_URL: "invalid_url"}),
        ({CONF_HOSTNAME: "baluhost lan"}, {CONF_HOSTNAME: "invalid_hostname"}),
        ({CONF_HOSTNAME: "192.0.2.1"}, {CONF_HOSTNAME: "invalid_hostname"}),
        ({CONF_PI_IP: "pi"}, {CONF_PI_IP: "invalid_ip"}),
    ],
)
async def test_add_pihole_errors_recover(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pihole: PiholeProcess,
    change: dict[str, str],
    errors: dict[str, str],
) -> None:
    await setup_entry(hass, config_entry)
    result = await start(hass, config_entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], pihole_data(pihole, **change)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], pihole_data(pihole)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_app_password_without_sudo_is_explained(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pihole: PiholeProcess,
    admin: PiholeAdmin,
) -> None:
    app_password = await admin.activate_app_password()
    await setup_entry(hass, config_entry)
    result = await start(hass, config_entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], pihole_data(pihole, password=app_password)
    )
    assert result["errors"] == {"base": "read_only"}
    await admin.set_app_sudo(enabled=True)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], pihole_data(pihole, password=app_password)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("error", "key"),
    [
        ("PiholeSeatsExceededError", "seats_exceeded"),
        ("PiholeRateLimitedError", "rate_limited"),
    ],
)
async def test_busy_pihole_is_explained(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pihole: PiholeProcess,
    error: str,
    key: str,
) -> None:
    await setup_entry(hass, config_entry)
    result = await start(hass, config_entry)
    with patch.object(
        client_module.PiholeClient,
        "version",
        side_effect=getattr(client_module, error)("busy"),
    ):
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], pihole_data(pihole)
        )
    assert result["errors"] == {"base": key}


async def test_only_one_pihole(
    hass: HomeAssistant, nas: NasSimulator, pihole: PiholeProcess
) -> None:
    entry = make_entry(nas, pihole)
    await setup_entry(hass, entry)
    result = await start(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_pihole(
    hass: HomeAssistant, nas: NasSimulator, pihole: PiholeProcess, admin: PiholeAdmin
) -> None:
    entry = make_entry(nas, pihole)
    await setup_entry(hass, entry)
    assert await answer(pihole) == [NAS_IP]
    subentry = next(iter(entry.subentries.values()))
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_PIHOLE),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], pihole_data(pihole, hostname="nas.home.arpa", password="bad")
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], pihole_data(pihole, hostname="nas.home.arpa")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.subentries[subentry.subentry_id].data[CONF_HOSTNAME] == "nas.home.arpa"
    assert f"{NAS_IP} nas.home.arpa" in await admin.hosts()


async def test_reconfigure_pi_address_and_name(
    hass: HomeAssistant, nas: NasSimulator, pihole: PiholeProcess, admin: PiholeAdmin
) -> None:
    await admin.set_hosts(["192.0.2.99 printer.lan"])
    entry = make_entry(nas, pihole)
    await setup_entry(hass, entry)
    await hass.services.async_call(
        DOMAIN, SERVICE_SWITCH_DNS, {"target": "pi"}, blocking=True
    )
    assert await answer(pihole) == [PI_IP]
    subentry = next(iter(entry.subentries.values()))
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_PIHOLE),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], pihole_data(pihole, hostname="nas.lan", pi_ip=NEW_PI_IP)
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    # The Pi's new address, under the new name only; other records untouched.
    assert sorted(await admin.hosts()) == sorted(
        ["192.0.2.99 printer.lan", f"{NEW_PI_IP} nas.lan"]
    )
    moved = DnsAnswer(0, [NEW_PI_IP])
    assert await resolve(pihole, "nas.lan", expect=moved) == moved
    gone = DnsAnswer(3, [])
    assert await resolve(pihole, HOSTNAME, expect=gone) == gone
    assert hass.states.get(TARGET).state == "pi"
    assert hass.states.get(RECORD).state == STATE_OFF


async def test_reauth_without_pihole_aborts(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    await setup_entry(hass, config_entry)
    result = await config_entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "pihole_not_configured"
