"""The NAS's going-offline snapshot (v1), read defensively.

Pure logic without Home Assistant imports. Any collector on the NAS may fall
back to zeros, nulls or empty values, and a later NAS may send another shape,
so every accessor returns None instead of failing on a surprise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
import re
from typing import Any

from .payload import dig

SUPPORTED_VERSION = 1

RAID_STATES = (
    "active",
    "clean",
    "degraded",
    "rebuilding",
    "resyncing",
    "recovering",
    "checking",
    "inactive",
    "failed",
    "other",
)
SMART_STATES = ("passed", "failed", "other")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def slug(value: str) -> str:
    """Return a stable id fragment for an array or disk name."""
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_") or "unnamed"


def raid_state(value: Any) -> str | None:
    """Map an array state onto the enum options (unknown kinds become other)."""
    if not isinstance(value, str) or not value:
        return None
    state = value.strip().lower()
    return state if state in RAID_STATES else "other"


def smart_state(value: Any) -> str | None:
    """Map a SMART status onto passed / failed / other."""
    if not isinstance(value, str) or not value:
        return None
    status = value.strip().lower()
    if status in ("passed", "ok", "good"):
        return "passed"
    if status in ("failed", "failing", "bad"):
        return "failed"
    return "other"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One snapshot as received: the exact bytes and their parsed form."""

    raw: bytes
    data: dict[str, Any]
    received_at: datetime

    @property
    def version(self) -> Any:
        """Return the snapshot format version as sent."""
        return self.data.get("version")

    @property
    def supported(self) -> bool:
        """Return whether this version's shape is known."""
        return bool(self.version == SUPPORTED_VERSION)

    @property
    def generated_at(self) -> datetime | None:
        """Return when the NAS made the snapshot."""
        return _timestamp(self.data.get("generated_at"))

    @property
    def baluhost_version(self) -> str | None:
        """Return the NAS software version."""
        value = self.data.get("baluhost_version")
        return value if isinstance(value, str) and value else None

    @property
    def storage_used(self) -> float | None:
        """Return used bytes over all arrays."""
        return _number(dig(self.data, "storage", "used_bytes"))

    @property
    def storage_total(self) -> float | None:
        """Return total bytes over all arrays."""
        return _number(dig(self.data, "storage", "total_bytes"))

    @property
    def storage_used_percent(self) -> float | None:
        """Return the used share; unknown when the total is zero or missing."""
        used, total = self.storage_used, self.storage_total
        if used is None or not total:
            return None
        return round(100 * used / total, 1)

    @property
    def arrays(self) -> dict[str, dict[str, Any]]:
        """Return the RAID arrays by name."""
        arrays = dig(self.data, "storage", "arrays")
        if not isinstance(arrays, list):
            return {}
        return {
            array["name"]: array
            for array in arrays
            if isinstance(array, dict) and isinstance(array.get("name"), str)
        }

    @property
    def disks(self) -> dict[str, dict[str, Any]]:
        """Return SMART data by disk device."""
        disks = self.data.get("smart_health")
        if not isinstance(disks, dict):
            return {}
        return {name: value for name, value in disks.items() if isinstance(value, dict)}

    @property
    def last_backup(self) -> datetime | None:
        """Return when the last backup ran."""
        return _timestamp(dig(self.data, "services", "backups", "last_backup"))

    @property
    def backup_status(self) -> str | None:
        """Return the last backup's status as the NAS words it."""
        value = dig(self.data, "services", "backups", "status")
        return value if isinstance(value, str) and value else None

    @property
    def total_files(self) -> float | None:
        """Return how many files the NAS holds."""
        return _number(dig(self.data, "files_summary", "total_files"))

    def disk_temperature(self, disk: str) -> float | None:
        """Return a disk's temperature in °C."""
        return _number(self.disks.get(disk, {}).get("temperature_c"))
