"""Config, reconfigure and options flows for BaluPi."""

from __future__ import annotations

from collections.abc import Mapping
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
    ConfigSubentry,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import (
    CONF_BROADCAST_ADDRESS,
    CONF_BROADCAST_PORT,
    CONF_IP_ADDRESS,
    CONF_MAC,
    CONF_NAME,
    CONF_PASSWORD,
    CONF_URL,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.device_registry import format_mac
from homeassistant.helpers.selector import (
    BooleanSelector,
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
    CONF_HOSTNAME,
    CONF_OFFLINE_INTERVAL,
    CONF_PI_IP,
    CONF_SCAN_INTERVAL,
    CONF_SECRET,
    DEFAULT_BOOT_TIMEOUT,
    DEFAULT_BROADCAST_ADDRESS,
    DEFAULT_BROADCAST_PORT,
    DEFAULT_FAILURE_THRESHOLD,
    DEFAULT_FAST_INTERVAL,
    DEFAULT_HEALTH_PATH,
    DEFAULT_HOSTNAME,
    DEFAULT_NAME,
    DEFAULT_OFFLINE_INTERVAL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    GENERATED_SECRET_BYTES,
    HEALTH_TIMEOUT,
    MIN_SECRET_LENGTH,
    SUBENTRY_PIHOLE,
)
from .coordinator import HealthStatus, async_check_health, health_url
from .pihole import (
    PiholeAuthError,
    PiholeClient,
    PiholeConnectionError,
    PiholeError,
    PiholeForbiddenError,
    PiholeRateLimitedError,
    PiholeSeatsExceededError,
)
from .wol import is_valid_mac

# Entry changes (reconfigure, options, Pi-hole) are applied by the entry's update
# listener, which reloads it; the flows only store them.

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

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Return what can be added to a NAS entry."""
        return {SUBENTRY_PIHOLE: PiholeSubentryFlow}

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Ask for the Pi-hole password again after Pi-hole refused it."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Check the new Pi-hole password, then store it."""
        entry = self._get_reauth_entry()
        subentry = pihole_subentry(entry)
        if subentry is None:
            return self.async_abort(reason="pihole_not_configured")
        errors: dict[str, str] = {}
        if user_input is not None:
            data = dict(subentry.data) | user_input
            errors = await async_test_pihole(self.hass, data)
            if not errors:
                self.hass.config_entries.async_update_subentry(
                    entry, subentry, data=data
                )
                return self.async_abort(reason="reauth_successful")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=probatio.Schema({probatio.Required(CONF_PASSWORD): PASSWORD}),
            description_placeholders={"url": subentry.data[CONF_URL]},
            errors=errors,
        )

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
                return self.async_update_and_abort(
                    entry, title=data[CONF_NAME], data=data
                )
            defaults |= user_input
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_connection_schema(defaults),
            errors=errors,
        )


class BalupiOptionsFlow(OptionsFlow):
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


def pihole_subentry(entry: ConfigEntry) -> ConfigSubentry | None:
    """Return the entry's Pi-hole settings, if any."""
    return next(
        (
            subentry
            for subentry in entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_PIHOLE
        ),
        None,
    )


PIHOLE_ERRORS: dict[type[PiholeError], str] = {
    PiholeAuthError: "invalid_auth",
    PiholeForbiddenError: "read_only",
    PiholeSeatsExceededError: "seats_exceeded",
    PiholeRateLimitedError: "rate_limited",
    PiholeConnectionError: "cannot_connect",
}


async def async_test_pihole(
    hass: HomeAssistant, data: dict[str, Any]
) -> dict[str, str]:
    """Log in, read the version and the records, check writes are allowed.

    The session is closed again at once: Pi-hole has only 16 seats for all
    its clients.
    """
    client = PiholeClient(
        async_get_clientsession(hass, verify_ssl=data[CONF_VERIFY_SSL]),
        data[CONF_URL],
        data[CONF_PASSWORD],
        verify_tls=data[CONF_VERIFY_SSL],
    )
    try:
        await client.version()
        await client.records()
        if not await client.can_write():
            return {"base": "read_only"}
    except PiholeError as err:
        return {"base": PIHOLE_ERRORS.get(type(err), "cannot_connect")}
    finally:
        await client.close()
    return {}


def _pihole_schema(defaults: dict[str, Any]) -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_URL, default=defaults.get(CONF_URL, "")): (
                URL_SELECTOR
            ),
            probatio.Required(
                CONF_PASSWORD,
                description={"suggested_value": defaults.get(CONF_PASSWORD)},
            ): PASSWORD,
            probatio.Required(
                CONF_VERIFY_SSL, default=defaults.get(CONF_VERIFY_SSL, True)
            ): BooleanSelector(),
            probatio.Required(CONF_HOSTNAME, default=defaults[CONF_HOSTNAME]): TEXT,
            probatio.Required(CONF_PI_IP, default=defaults.get(CONF_PI_IP, "")): TEXT,
        }
    )


def _check_pihole_form(data: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    url = URL(data[CONF_URL])
    if url.scheme not in ("http", "https") or not url.host:
        errors[CONF_URL] = "invalid_url"
    hostname = data[CONF_HOSTNAME]
    if not hostname or any(char.isspace() for char in hostname) or _is_ip(hostname):
        errors[CONF_HOSTNAME] = "invalid_hostname"
    if not _is_ip(data[CONF_PI_IP]):
        errors[CONF_PI_IP] = "invalid_ip"
    return errors


class PiholeSubentryFlow(ConfigSubentryFlow):
    """Add or change the Pi-hole that holds the NAS's DNS name."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask for the Pi-hole and the name to manage."""
        if pihole_subentry(self._get_entry()) is not None:
            return self.async_abort(reason="already_configured")
        defaults: dict[str, Any] = {
            CONF_HOSTNAME: DEFAULT_HOSTNAME,
            CONF_PI_IP: await network.async_get_source_ip(self.hass),
        }
        return await self._async_form("user", defaults, user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change the Pi-hole settings."""
        defaults = dict(self._get_reconfigure_subentry().data)
        return await self._async_form("reconfigure", defaults, user_input)

    async def _async_form(
        self,
        step_id: str,
        defaults: dict[str, Any],
        user_input: dict[str, Any] | None,
    ) -> SubentryFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {
                key: value.strip() if isinstance(value, str) else value
                for key, value in user_input.items()
            }
            data[CONF_URL] = data[CONF_URL].rstrip("/")
            errors = _check_pihole_form(data) or await async_test_pihole(
                self.hass, data
            )
            if not errors:
                title = f"Pi-hole ({data[CONF_HOSTNAME]})"
                if step_id == "user":
                    return self.async_create_entry(title=title, data=data)
                return self.async_update_and_abort(
                    self._get_entry(),
                    self._get_reconfigure_subentry(),
                    title=title,
                    data=data,
                )
            defaults |= user_input
        return self.async_show_form(
            step_id=step_id, data_schema=_pihole_schema(defaults), errors=errors
        )
