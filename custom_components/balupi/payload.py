"""Reading JSON that a NAS or a Pi-hole sent: never trust its shape."""

from __future__ import annotations

from typing import Any


def dig(data: Any, *keys: str) -> Any:
    """Return ``data[k1][k2]...`` or None where the JSON has another shape."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
