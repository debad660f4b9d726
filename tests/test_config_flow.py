"""Config, reconfigure and options flows."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balupi.const import (
    CONF_API_KEY,
    CONF_BOOT_TIMEOUT,
    CONF_FAILURE_THRESHOLD,
    CONF_FAST_INTERVAL,
    CONF_HEALTH_PATH,
    CONF_OFFLINE_INTERVAL,
    CONF_SCAN_INTERVAL,
    CONF_SECRET,
    DOMAIN,
    REAUTH,
    REAUTH_API_KEY,
)
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import (
    CONF_BROADCAST_ADDRESS,
    CONF_IP_ADDRESS,
    CONF_MAC,
    CONF_NAME,
    CONF_URL,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from .baluhost import (  # noqa: F401 - fixtures are found by pytest, not used
    START_TIMEOUT,
    BaluHostAdmin,
    BaluHostProcess,
    baluhost_admin_fixture,
    baluhost_fixture,
)
from .conftest import MAC, SECRET, entry_data, setup_entry
from .fakes.nas_simulator import NasSimulator

MADE_UP_KEY = "balu_" + "Zz9" * 13 + "x"

pytestmark = pytest.mark.usefixtures("mock_setup_entry")


@pytest.fixture
def mock_setup_entry() -> Any:
    with patch("custom_components.balupi.async_setup_entry", return_value=True) as m:
        yield m


def user_input(url: str, /, **overrides: Any) -> dict[str, Any]:
    data = entry_data(url, **overrides)
    data[CONF_MAC] = overrides.get(CONF_MAC, "AA-BB-CC-DD-EE-FF")
    return data


async def start(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result


async def test_create_entry_with_given_secret(
    hass: HomeAssistant, nas: NasSimulator
) -> None:
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(f"{nas.url}/ ")
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "BaluHost"
    assert result["result"].unique_id == MAC
    assert result["data"] == entry_data(nas.url) | {CONF_VERIFY_SSL: True}


async def test_empty_secret_is_generated(
    hass: HomeAssistant, nas: NasSimulator
) -> None:
    result = await start(hass)
    data = user_input(nas.url)
    del data[CONF_SECRET]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    secret = result["data"][CONF_SECRET]
    assert len(secret) == 48
    assert secret.replace("-", "").replace("_", "").isalnum()


async def test_unreachable_nas_is_accepted(
    hass: HomeAssistant, nas: NasSimulator
) -> None:
    url = nas.url
    await nas.stop()
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(url)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        (CONF_URL, "192.168.178.10", "invalid_url"),
        (CONF_URL, "ftp://nas.lan", "invalid_url"),
        (CONF_URL, "http://", "invalid_url"),
        (CONF_API_KEY, "not-a-key", "invalid_api_key"),
        (CONF_IP_ADDRESS, "nas.lan", "invalid_ip"),
        (CONF_MAC, "aa:bb:cc:dd:ee", "invalid_mac"),
        (CONF_MAC, "zz:bb:cc:dd:ee:ff", "invalid_mac"),
        (CONF_BROADCAST_ADDRESS, "everyone", "invalid_ip"),
        (CONF_SECRET, "x" * 31, "secret_too_short"),
    ],
)
async def test_bad_input_is_an_inline_error_and_recovers(
    hass: HomeAssistant, nas: NasSimulator, field: str, value: str, error: str
) -> None:
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(nas.url, **{field: value})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(nas.url)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.timeout(START_TIMEOUT + 60)
async def test_api_key_is_tested_before_saving(
    hass: HomeAssistant, baluhost: BaluHostProcess, baluhost_admin: BaluHostAdmin
) -> None:
    """Against the real NAS: a refused key is an inline error, a good one is kept."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(baluhost.url, **{CONF_API_KEY: MADE_UP_KEY})
    )
    assert result["errors"] == {CONF_API_KEY: "invalid_api_key"}
    user_id = await baluhost_admin.create_user()
    _, key = await baluhost_admin.create_api_key(user_id)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(baluhost.url, **{CONF_API_KEY: f" {key} "})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_API_KEY] == key
    # The test read is whitelisted: a sleeping NAS would have stayed asleep.
    history = await baluhost_admin.sleep_history()
    assert all(row["new_state"] != "awake" for row in history[:1])


async def test_a_key_for_something_else_is_an_error(
    hass: HomeAssistant, nas: NasSimulator
) -> None:
    """The simulator answers 404 where BaluHost keeps its sleep state."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(nas.url, **{CONF_API_KEY: MADE_UP_KEY})
    )
    assert result["errors"] == {CONF_URL: "not_baluhost"}
    # Without a key nothing but the port is checked.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(nas.url)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_API_KEY not in result["data"]


@pytest.mark.timeout(START_TIMEOUT + 60)
async def test_reauth_takes_a_new_key(
    hass: HomeAssistant, baluhost: BaluHostProcess, baluhost_admin: BaluHostAdmin
) -> None:
    user_id = await baluhost_admin.create_user()
    key_id, old_key = await baluhost_admin.create_api_key(user_id)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=MAC,
        data=entry_data(baluhost.url) | {CONF_API_KEY: old_key},
    )
    await setup_entry(hass, entry)
    await baluhost_admin.delete_api_key(key_id)
    result = await entry.start_reauth_flow(hass, data={REAUTH: REAUTH_API_KEY})
    assert result["step_id"] == "reauth_api_key"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: old_key}
    )
    assert result["errors"] == {CONF_API_KEY: "invalid_api_key"}
    _, new_key = await baluhost_admin.create_api_key(user_id)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: new_key}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_API_KEY] == new_key


async def test_entry_without_health_path_after_migration(
    hass: HomeAssistant, nas: NasSimulator
) -> None:
    """Entries of 1.1 stored a health path; 1.2 probes the URL's port."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=MAC,
        version=1,
        minor_version=1,
        data=entry_data(nas.url) | {CONF_HEALTH_PATH: "/api/health"},
    )
    await setup_entry(hass, entry)
    assert (entry.version, entry.minor_version) == (1, 2)
    assert entry.data == entry_data(nas.url)


async def test_entry_of_a_newer_version_is_refused(
    hass: HomeAssistant, nas: NasSimulator
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=MAC, version=2, data=entry_data(nas.url)
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR


async def test_untrusted_certificate_is_an_error(
    hass: HomeAssistant, tls_nas: NasSimulator
) -> None:
    """A self-signed NAS is not taken for a sleeping one."""
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(tls_nas.url)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_certificate"}
    assert tls_nas.requests == 0
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(tls_nas.url, **{CONF_VERIFY_SSL: False})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_VERIFY_SSL] is False
    # A TLS handshake, no request: nothing the NAS would count.
    assert tls_nas.requests == 0


async def test_form_keeps_verification_off_after_an_error(
    hass: HomeAssistant, nas: NasSimulator
) -> None:
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        user_input(nas.url, **{CONF_MAC: "nope", CONF_VERIFY_SSL: False}),
    )
    assert result["errors"] == {CONF_MAC: "invalid_mac"}
    schema = result["data_schema"].schema
    defaults = {str(key): key.default() for key in schema if callable(key.default)}
    assert defaults[CONF_VERIFY_SSL] is False


async def test_duplicate_mac_aborts(hass: HomeAssistant, nas: NasSimulator) -> None:
    MockConfigEntry(domain=DOMAIN, unique_id=MAC, data=entry_data(nas.url)).add_to_hass(
        hass
    )
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(nas.url, **{CONF_MAC: "aabbccddeeff"})
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_broadcast_default_comes_from_the_network(hass: HomeAssistant) -> None:
    with patch(
        "homeassistant.components.network.async_get_ipv4_broadcast_addresses",
        return_value={"255.255.255.255", "192.0.2.255"},
    ):
        result = await start(hass)
    schema = result["data_schema"].schema
    defaults = {str(key): key.default() for key in schema if callable(key.default)}
    assert defaults[CONF_BROADCAST_ADDRESS] == "192.0.2.255"


async def test_reconfigure(hass: HomeAssistant, nas: NasSimulator) -> None:
    entry = MockConfigEntry(domain=DOMAIN, unique_id=MAC, data=entry_data(nas.url))
    await setup_entry(hass, entry)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"

    bad = user_input(nas.url, **{CONF_URL: "nas"})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], bad)
    assert result["errors"] == {CONF_URL: "invalid_url"}

    changed = user_input(nas.url, **{CONF_NAME: "Keller-NAS", CONF_SECRET: ""})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], changed)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.title == "Keller-NAS"
    assert entry.data[CONF_SECRET] == SECRET


async def test_reconfigure_checks_the_certificate(
    hass: HomeAssistant, nas: NasSimulator, tls_nas: NasSimulator
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, unique_id=MAC, data=entry_data(nas.url))
    await setup_entry(hass, entry)
    result = await entry.start_reconfigure_flow(hass)
    schema = result["data_schema"].schema
    defaults = {str(key): key.default() for key in schema if callable(key.default)}
    # Entries from before the option verify.
    assert defaults[CONF_VERIFY_SSL] is True
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(tls_nas.url, **{CONF_SECRET: ""})
    )
    assert result["errors"] == {"base": "invalid_certificate"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        user_input(tls_nas.url, **{CONF_SECRET: "", CONF_VERIFY_SSL: False}),
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_URL] == tls_nas.url
    assert entry.data[CONF_VERIFY_SSL] is False


async def test_reconfigure_refuses_another_nas(
    hass: HomeAssistant, nas: NasSimulator
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, unique_id=MAC, data=entry_data(nas.url))
    await setup_entry(hass, entry)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(nas.url, **{CONF_MAC: "11:22:33:44:55:66"})
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_nas"
    assert entry.data[CONF_MAC] == MAC


async def test_options(hass: HomeAssistant, nas: NasSimulator) -> None:
    entry = MockConfigEntry(domain=DOMAIN, unique_id=MAC, data=entry_data(nas.url))
    await setup_entry(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "heartbeat"}
    )
    assert result["type"] is FlowResultType.FORM
    options = {
        CONF_SCAN_INTERVAL: 10.0,
        CONF_FAST_INTERVAL: 2.0,
        CONF_OFFLINE_INTERVAL: 60.0,
        CONF_FAILURE_THRESHOLD: 3.0,
        CONF_BOOT_TIMEOUT: 120.0,
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {key: int(value) for key, value in options.items()}


async def test_energy_options(hass: HomeAssistant, nas: NasSimulator) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=MAC,
        data=entry_data(nas.url),
        options={CONF_SCAN_INTERVAL: 7},
    )
    await setup_entry(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "energy"}
    )
    assert result["step_id"] == "energy"
    energy = {
        "plug_interval": 20.0,
        "price": 0.30,
        "tou_start": "22:00:00",
        "power_off": 2.0,
        "power_standby": 15.0,
        "power_running": 30.0,
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], energy
    )
    assert result["errors"] == {"tou_price": "tou_incomplete"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        energy | {"tou_end": "06:00:00", "tou_price": 0.2, "power_standby": 40.0},
    )
    assert result["errors"] == {"power_standby": "thresholds_order"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], energy | {"tou_end": "06:00:00", "tou_price": 0.2}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The heartbeat options stay; the energy ones are replaced as a group.
    assert entry.options == {CONF_SCAN_INTERVAL: 7} | energy | {
        "plug_interval": 20,
        "tou_end": "06:00:00",
        "tou_price": 0.2,
    }


@pytest.mark.timeout(START_TIMEOUT + 60)
async def test_options_add_change_and_remove_the_api_key(
    hass: HomeAssistant, baluhost: BaluHostProcess, baluhost_admin: BaluHostAdmin
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, unique_id=MAC, data=entry_data(baluhost.url))
    await setup_entry(hass, entry)

    async def api_key_step() -> dict[str, Any]:
        result = await hass.config_entries.options.async_init(entry.entry_id)
        assert result["type"] is FlowResultType.MENU
        assert "api_key" in result["menu_options"]
        return await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": "api_key"}
        )

    result = await api_key_step()
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_API_KEY: MADE_UP_KEY}
    )
    assert result["errors"] == {CONF_API_KEY: "invalid_api_key"}
    _, key = await baluhost_admin.create_api_key(await baluhost_admin.create_user())
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_API_KEY: key}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.data[CONF_API_KEY] == key

    # Emptied: BaluPi goes back to watching by TCP only.
    result = await api_key_step()
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_API_KEY: ""}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_API_KEY not in entry.data
