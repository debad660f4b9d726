"""Runtime data of a BaluPi config entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

if TYPE_CHECKING:
    from .coordinator import NasCoordinator


@dataclass(slots=True)
class BalupiData:
    """Objects that live as long as the config entry is loaded."""

    coordinator: NasCoordinator


type BalupiConfigEntry = ConfigEntry[BalupiData]
