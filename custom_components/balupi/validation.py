"""Checks of what the user typed into BaluPi's forms (no I/O, no Home Assistant).

Each check returns the form's error key, or None; the flows put it under the
field it belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import ip_address
import secrets
from typing import Any

from yarl import URL

from .const import (
    CONF_POWER_OFF,
    CONF_POWER_RUNNING,
    CONF_POWER_STANDBY,
    CONF_TOU_END,
    CONF_TOU_PRICE,
    CONF_TOU_START,
    GENERATED_SECRET_BYTES,
    MIN_SECRET_LENGTH,
)
from .wol import is_valid_mac


def stripped(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return a form's values with the blanks around every text cut."""
    return {
        key: value.strip() if isinstance(value, str) else value
        for key, value in user_input.items()
    }


def is_ip(value: str) -> bool:
    """Return whether a text is an IPv4 or IPv6 address."""
    try:
        ip_address(value)
    except ValueError:
        return False
    return True


def ip_error(value: str) -> str | None:
    """Return the error of an address field."""
    return None if is_ip(value) else "invalid_ip"


def normalised_url(value: str) -> tuple[str, str | None]:
    """Return an http(s) URL without its trailing slash, and its error."""
    url = URL(value)
    error = None if url.scheme in ("http", "https") and url.host else "invalid_url"
    return str(url).rstrip("/"), error


def mac_error(mac: str) -> str | None:
    """Return the error of a MAC already formatted as aa:bb:cc:dd:ee:ff."""
    return None if is_valid_mac(mac) else "invalid_mac"


def secret_or_error(secret: str | None) -> tuple[str, str | None]:
    """Return the handshake secret (a new one if left empty) and its error."""
    if not secret:
        return secrets.token_urlsafe(GENERATED_SECRET_BYTES), None
    return secret, None if len(secret) >= MIN_SECRET_LENGTH else "secret_too_short"


def hostname_error(hostname: str) -> str | None:
    """Return the error of the NAS's DNS name (a name, not an address)."""
    if not hostname or any(char.isspace() for char in hostname) or is_ip(hostname):
        return "invalid_hostname"
    return None


def split_host(value: str) -> tuple[str, int | None]:
    """Split "host" or "host:port" (a plug behind port forwarding, or a test)."""
    host, _, port = value.strip().rpartition(":")
    if host and port.isdigit() and "]" not in port:
        return host, int(port)
    return value.strip(), None


def tariff_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """Time-of-use needs start, end and price together; thresholds must rise."""
    errors: dict[str, str] = {}
    tou = [values.get(key) for key in (CONF_TOU_START, CONF_TOU_END, CONF_TOU_PRICE)]
    if any(value is not None for value in tou) and not all(
        value is not None for value in tou
    ):
        errors[CONF_TOU_PRICE] = "tou_incomplete"
    if not (
        values[CONF_POWER_OFF]
        <= values[CONF_POWER_STANDBY]
        <= values[CONF_POWER_RUNNING]
    ):
        errors[CONF_POWER_STANDBY] = "thresholds_order"
    return errors
