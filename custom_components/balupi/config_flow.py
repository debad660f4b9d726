"""Config, reconfigure and options flows for BaluPi."""

from __future__ import annotations

from ipaddress import ip_address
import secrets
from typing import Any, override

import probatio
from yarl import URL

from homeassistant.components import network
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import (
    CONF_BROADCAST_ADDRESS,
    CONF_BROADCAST_PORT,
    CONF_IP_ADDRESS,
    CONF_MAC,
    CONF_NAME,
    CONF_URL,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.device_registry import format_mac
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import (
    CONF_BOOT_TIMEOUT,
    CONF_FAILURE_THRESHOLD,
    CONF_FAST_INTERVAL,
    CONF_HEALTH_PATH,
    CONF_OFFLINE_INTERVAL,
    CONF_SCAN_INTERVAL,
    CONF_SECRET,
    DEFAULT_BOOT_TIMEOUT,
    DEFAULT_BROADCAST_ADDRESS,
    DEFAULT_BROADCAST_PORT,
    DEFAULT_FAILURE_THRESHOLD,
    DEFAULT_FAST_INTERVAL,
    DEFAULT_HEALTH_PATH,
    DEFAULT_NAME,
    DEFAULT_OFFLINE_INTERVAL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    GENERATED_SECRET_BYTES,
    HEALTH_TIMEOUT,
    MIN_SECRET_LENGTH,
)
from .coordinator import HealthStatus, async_check_health, health_url
from .wol import is_valid_mac

TEXT = TextSelector()
URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
PORT = NumberSelector(
    NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
)


def _seconds(minimum: int, maximum: int) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=1,
            unit_of_measurement="s",
            mode=NumberSelectorMode.BOX,
        )
    )


def _connection_schema(defaults: dict[str, Any]) -> probatio.Schema:
    """Return the form for the NAS connection, pre-filled with defaults."""
    return probatio.Schema(
        {
            probatio.Required(CONF_NAME, default=defaults[CONF_NAME]): TEXT,
            probatio.Required(CONF_URL, default=defaults.get(CONF_URL, "")): (
                URL_SELECTOR
            ),
            probatio.Required(
                CONF_HEALTH_PATH, default=defaults[CONF_HEALTH_PATH]
            ): TEXT,
            probatio.Required(
                CONF_IP_ADDRESS, default=defaults.get(CONF_IP_ADDRESS, "")
            ): TEXT,
            probatio.Required(CONF_MAC, default=defaults.get(CONF_MAC, "")): TEXT,
            probatio.Required(
                CONF_BROADCAST_ADDRESS, default=defaults[CONF_BROADCAST_ADDRESS]
            ): TEXT,
            probatio.Required(
                CONF_BROADCAST_PORT, default=defaults[CONF_BROADCAST_PORT]
            ): PORT,
            probatio.Optional(
                CONF_SECRET, description={"suggested_value": defaults.get(CONF_SECRET)}
            ): PASSWORD,
        }
    )


async def _default_broadcast(hass: HomeAssistant) -> str:
    """Return the first LAN broadcast address Home Assistant knows of."""
    addresses = sorted(
        str(address)
        for address in await network.async_get_ipv4_broadcast_addresses(hass)
        if str(address) != DEFAULT_BROADCAST_ADDRESS
    )
    return addresses[0] if addresses else DEFAULT_BROADCAST_ADDRESS


def _is_ip(value: str) -> bool:
    try:
        ip_address(value)
    except ValueError:
        return False
    return True


def _normalise(user_input: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check and normalise the connection form; return data and inline errors."""
    data = {
        key: value.strip() if isinstance(value, str) else value
        for key, value in user_input.items()
    }
    errors: dict[str, str] = {}
    url = URL(data[CONF_URL])
    if url.scheme not in ("http", "https") or not url.host:
        errors[CONF_URL] = "invalid_url"
    data[CONF_URL] = str(url).rstrip("/")
    if not data[CONF_HEALTH_PATH].startswith("/"):
        errors[CONF_HEALTH_PATH] = "invalid_health_path"
    if not _is_ip(data[CONF_IP_ADDRESS]):
        errors[CONF_IP_ADDRESS] = "invalid_ip"
    data[CONF_MAC] = format_mac(data[CONF_MAC]).lower()
    if not is_valid_mac(data[CONF_MAC]):
        errors[CONF_MAC] = "invalid_mac"
    if not _is_ip(data[CONF_BROADCAST_ADDRESS]):
        errors[CONF_BROADCAST_ADDRESS] = "invalid_ip"
    data[CONF_BROADCAST_PORT] = int(data[CONF_BROADCAST_PORT])
    if not data.get(CONF_SECRET):
        data[CONF_SECRET] = secrets.token_urlsafe(GENERATED_SECRET_BYTES)
    elif len(data[CONF_SECRET]) < MIN_SECRET_LENGTH:
        errors[CONF_SECRET] = "secret_too_short"
    return data, errors


class BalupiConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one NAS."""

    VERSION = 1

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> BalupiOptionsFlow:
        """Return the options flow."""
        return BalupiOptionsFlow()

    async def _async_validate(
        self, user_input: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Validate the form and, if the NAS answers, that it is a health endpoint.

        A NAS that does not answer is accepted: it is usually asleep.
        """
        data, errors = _normalise(user_input)
        if errors:
            return data, errors
        health = await async_check_health(
            async_get_clientsession(self.hass), health_url(data), HEALTH_TIMEOUT
        )
        if health.status is HealthStatus.BAD_RESPONSE:
            errors[CONF_HEALTH_PATH] = "health_bad_response"
        return data, errors

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the NAS's address, MAC and the handshake secret."""
        errors: dict[str, str] = {}
        defaults: dict[str, Any] = {
            CONF_NAME: DEFAULT_NAME,
            CONF_HEALTH_PATH: DEFAULT_HEALTH_PATH,
            CONF_BROADCAST_ADDRESS: await _default_broadcast(self.hass),
            CONF_BROADCAST_PORT: DEFAULT_BROADCAST_PORT,
        }
        if user_input is not None:
            data, errors = await self._async_validate(user_input)
            if not errors:
                await self.async_set_unique_id(data[CONF_MAC])
                self._abort_if_unique_id_configured()
                return self.async_create_entry(title=data[CONF_NAME], data=data)
            defaults |= {key: value for key, value in user_input.items() if value}
        return self.async_show_form(
            step_id="user", data_schema=_connection_schema(defaults), errors=errors
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the connection data of the NAS (the MAC identifies it)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        defaults = dict(entry.data)
        if user_input is not None:
            # An empty secret keeps the current one: the NAS has it configured.
            user_input = {CONF_SECRET: entry.data[CONF_SECRET]} | {
                key: value for key, value in user_input.items() if value != ""
            }
            data, errors = await self._async_validate(user_input)
            if not errors:
                await self.async_set_unique_id(data[CONF_MAC])
                self._abort_if_unique_id_mismatch(reason="wrong_nas")
                return self.async_update_reload_and_abort(
                    entry, title=data[CONF_NAME], data=data
                )
            defaults |= user_input
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_connection_schema(defaults),
            errors=errors,
        )


class BalupiOptionsFlow(OptionsFlowWithReload):
    """Tune the heartbeat."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the heartbeat timing."""
        if user_input is not None:
            return self.async_create_entry(
                data={key: int(value) for key, value in user_input.items()}
            )
        options = self.config_entry.options
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_SCAN_INTERVAL,
                    default=options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL),
                ): _seconds(2, 300),
                probatio.Required(
                    CONF_FAST_INTERVAL,
                    default=options.get(CONF_FAST_INTERVAL, DEFAULT_FAST_INTERVAL),
                ): _seconds(1, 60),
                probatio.Required(
                    CONF_OFFLINE_INTERVAL,
                    default=options.get(
                        CONF_OFFLINE_INTERVAL, DEFAULT_OFFLINE_INTERVAL
                    ),
                ): _seconds(5, 900),
                probatio.Required(
                    CONF_FAILURE_THRESHOLD,
                    default=options.get(
                        CONF_FAILURE_THRESHOLD, DEFAULT_FAILURE_THRESHOLD
                    ),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=1, max=10, step=1, mode=NumberSelectorMode.BOX
                    )
                ),
                probatio.Required(
                    CONF_BOOT_TIMEOUT,
                    default=options.get(CONF_BOOT_TIMEOUT, DEFAULT_BOOT_TIMEOUT),
                ): _seconds(30, 3600),
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema)
