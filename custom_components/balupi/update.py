"""The NAS's BaluHost software as an update entity (with an API key)."""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.update import (
    UpdateDeviceClass,
    UpdateEntity,
    UpdateEntityDescription,
    UpdateEntityFeature,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BalupiConfigEntry
from .entity import BalupiSoftwareEntity

# One update at a time.
PARALLEL_UPDATES = 1

SOFTWARE = UpdateEntityDescription(
    key="nas_software",
    translation_key="nas_software",
    device_class=UpdateDeviceClass.FIRMWARE,
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BalupiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the software entity when there is a key to read it with."""
    if (software := entry.runtime_data.software) is not None:
        async_add_entities([NasSoftwareUpdate(software, SOFTWARE)])


class NasSoftwareUpdate(BalupiSoftwareEntity, UpdateEntity):
    """Installed and latest BaluHost; installable with an admin's key."""

    _attr_title = "BaluHost"

    @property
    @override
    def available(self) -> bool:
        """Return whether the NAS's software was read since setup."""
        return super().available and self.coordinator.data is not None

    @property
    @override
    def installed_version(self) -> str | None:
        """Return the BaluHost version the NAS runs."""
        software = self.coordinator.data
        return None if software is None else software.installed

    @property
    @override
    def latest_version(self) -> str | None:
        """Return the newest BaluHost (unknown to a plain user's key)."""
        software = self.coordinator.data
        return None if software is None else software.latest

    @property
    @override
    def supported_features(self) -> UpdateEntityFeature:
        """Offer install and progress to an admin's key."""
        software = self.coordinator.data
        if software is None or not software.can_install:
            return UpdateEntityFeature(0)
        return UpdateEntityFeature.INSTALL | UpdateEntityFeature.PROGRESS

    @property
    @override
    def in_progress(self) -> bool:
        """Return whether the update BaluPi started runs."""
        software = self.coordinator.data
        return software is not None and software.progress is not None

    @property
    @override
    def update_percentage(self) -> int | None:
        """Return how far the update is."""
        software = self.coordinator.data
        if software is None or software.progress is None:
            return None
        return software.progress.progress_percent

    @property
    @override
    def release_summary(self) -> str | None:
        """Return the start of the latest release's notes."""
        software = self.coordinator.data
        return None if software is None else software.release_notes

    @override
    async def async_install(
        self, version: str | None, backup: bool, **kwargs: Any
    ) -> None:
        """Start the update (BaluHost backs its database up itself)."""
        await self.coordinator.async_install()
