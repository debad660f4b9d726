"""Repair issues of a BaluPi entry: one id per kind and entry, raised or cleared."""

from __future__ import annotations

from collections.abc import Mapping

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN


def async_set_issue(
    hass: HomeAssistant,
    entry: ConfigEntry,
    key: str,
    placeholders: Mapping[str, str] | None,
    *,
    severity: ir.IssueSeverity = ir.IssueSeverity.WARNING,
) -> None:
    """Show the issue ``key`` with these placeholders, or clear it with None."""
    issue_id = f"{key}_{entry.entry_id}"
    if placeholders is None:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=severity,
        translation_key=key,
        translation_placeholders={"name": entry.title, **placeholders},
    )


def printable(text: str) -> str:
    """Escape control characters, so no hostile text can start a new line."""
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode()
        for char in text
    )


def quoted(text: str) -> str:
    """Quote hostile text (a file name, a device's words) as inline code.

    Repair descriptions are Markdown: as code, a name or message can neither
    become a link nor break the layout.
    """
    return "`" + printable(text).replace("`", "'") + "`"
