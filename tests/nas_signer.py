"""A reference NAS signer, written from the BaluHost handshake protocol."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

GOING_OFFLINE = "/api/handshake/nas-going-offline"
COMING_ONLINE = "/api/handshake/nas-coming-online"


def signed_call(
    secret: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    timestamp: int | None = None,
    wire: str = "nas",
) -> tuple[dict[str, str], bytes]:
    """Return headers and wire bytes of one call, signed as the NAS signs it.

    The signature covers the canonical JSON (sorted keys, compact, ASCII
    escapes); ``wire`` picks what is sent: ``nas`` is the NAS's plain
    ``json.dumps`` (spaced, insertion order), ``utf8`` the same with raw UTF-8,
    ``canonical`` the signed form itself.
    """
    timestamp = int(time.time()) if timestamp is None else timestamp
    if body is None:
        signed = sent = b""
    else:
        signed = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        sent = {
            "nas": json.dumps(body).encode(),
            "utf8": json.dumps(body, ensure_ascii=False).encode(),
            "canonical": signed,
        }[wire]
    digest = hashlib.sha256(signed).hexdigest()
    message = f"POST:{path}:{timestamp}:{digest}".encode()
    signature = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Balupi-Timestamp": str(timestamp),
        "X-Balupi-Signature": signature,
    }
    return headers, sent


def snapshot_v1(**overrides: Any) -> dict[str, Any]:
    """Return a snapshot shaped like the NAS's v1 (with some unicode in it)."""
    snapshot: dict[str, Any] = {
        "version": 1,
        "generated_at": "2026-11-24T11:59:30+00:00",
        "baluhost_version": "1.38.0",
        "system": {
            "hostname": "baluhost-küche",
            "uptime_seconds": 86400,
            "cpu_model": "AMD Ryzen 5 5600G",
            "ram_total_gb": 32,
        },
        "storage": {
            "arrays": [
                {
                    "name": "md0",
                    "level": "raid1",
                    "state": "clean",
                    "size_bytes": 4000000000000,
                    "devices": ["/dev/sda", "/dev/sdb"],
                }
            ],
            "total_bytes": 4000000000000,
            "used_bytes": 1500000000000,
        },
        "smart_health": {
            "/dev/sda": {
                "status": "PASSED",
                "temperature_c": 34,
                "power_on_hours": 12000,
            },
            "/dev/sdb": {
                "status": "PASSED",
                "temperature_c": None,
                "power_on_hours": None,
            },
        },
        "services": {
            "vpn": {"active_clients": 0},
            "shares": {"active_shares": 2},
            "backups": {
                "last_backup": "2026-11-24T03:00:00+00:00",
                "status": "success",
            },
        },
        "users": {
            "total": 2,
            "list": [
                {"username": "jürgen", "role": "admin"},
                {"username": "zoë", "role": "user"},
            ],
        },
        "files_summary": {"total_files": 123456, "total_size_bytes": 1400000000000},
    }
    return snapshot | overrides
