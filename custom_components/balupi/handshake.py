"""The NAS's handshake signature, verified exactly as the BaluHost NAS signs it.

Pure logic without Home Assistant imports. The NAS signs
``f"{METHOD}:{path}:{timestamp}:{sha256(body)}"`` with HMAC-SHA256, where the
body hash is taken over ``json.dumps(body, sort_keys=True, separators=(",", ":"))``
(or over ``b""`` without a body) — but it puts plain ``json.dumps(body)`` on the
wire. So a signature is accepted if it matches the hash of the raw bytes or the
hash of the canonical re-serialisation of the parsed body.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
import contextlib
from dataclasses import dataclass
from enum import StrEnum
import hashlib
import hmac
from http import HTTPStatus
import json
import re
from typing import Any

HEADER_TIMESTAMP = "X-Balupi-Timestamp"
HEADER_SIGNATURE = "X-Balupi-Signature"
MAX_SKEW = 60
MAX_BODY = 256 * 1024
# Far more than a NAS sends within one skew window; bounds memory under a flood.
MAX_REMEMBERED = 4096
# The NAS's snapshot nests four levels; Home Assistant stores at most 255.
MAX_DEPTH = 32
# Checked before int(): a dash each side or thousands of digits must not reach it.
TIMESTAMP_FORMAT = re.compile(r"-?[0-9]{1,12}")
SIGNATURE_FORMAT = re.compile(r"[0-9a-f]{64}")


class Rejection(StrEnum):
    """Why a handshake call was refused (also the ``error`` of the reply)."""

    MISSING_HEADERS = "missing_headers"
    BAD_TIMESTAMP = "bad_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED = "replayed"
    BODY_TOO_LARGE = "body_too_large"
    BAD_BODY = "bad_body"


STATUS: dict[Rejection, HTTPStatus] = {
    Rejection.MISSING_HEADERS: HTTPStatus.UNAUTHORIZED,
    Rejection.BAD_TIMESTAMP: HTTPStatus.BAD_REQUEST,
    Rejection.STALE_TIMESTAMP: HTTPStatus.UNAUTHORIZED,
    Rejection.BAD_SIGNATURE: HTTPStatus.UNAUTHORIZED,
    Rejection.REPLAYED: HTTPStatus.CONFLICT,
    Rejection.BODY_TOO_LARGE: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    Rejection.BAD_BODY: HTTPStatus.BAD_REQUEST,
}

MESSAGES: dict[Rejection, str] = {
    Rejection.MISSING_HEADERS: f"{HEADER_TIMESTAMP} and {HEADER_SIGNATURE} needed",
    Rejection.BAD_TIMESTAMP: f"{HEADER_TIMESTAMP} must be whole Unix seconds",
    Rejection.STALE_TIMESTAMP: f"timestamp is more than {MAX_SKEW} s off this clock",
    Rejection.BAD_SIGNATURE: "signature does not match the shared secret",
    Rejection.REPLAYED: "this signed request was already accepted",
    Rejection.BODY_TOO_LARGE: f"body is larger than {MAX_BODY} bytes",
    Rejection.BAD_BODY: "body must be a JSON object",
}


class HandshakeRejectedError(Exception):
    """A handshake call that must not change anything."""

    def __init__(self, rejection: Rejection) -> None:
        """Carry the reason; the message is the reply's explanation."""
        super().__init__(MESSAGES[rejection])
        self.rejection = rejection
        self.status = STATUS[rejection]


def canonical_json(value: Any) -> bytes:
    """Serialise like the NAS does before hashing (sorted, compact, ASCII)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, method: str, path: str, timestamp: str, body: bytes) -> str:
    """Return the NAS's signature for a call whose signed body bytes are given."""
    message = f"{method}:{path}:{timestamp}:{hashlib.sha256(body).hexdigest()}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def parse_timestamp(value: str, now: float) -> int:
    """Return the header's Unix seconds if they are within the allowed skew."""
    if TIMESTAMP_FORMAT.fullmatch(value) is None:
        raise HandshakeRejectedError(Rejection.BAD_TIMESTAMP)
    timestamp = int(value)
    if abs(now - timestamp) > MAX_SKEW:
        raise HandshakeRejectedError(Rejection.STALE_TIMESTAMP)
    return timestamp


def parse_json(body: bytes) -> Any:
    """Return the parsed body, or raise BAD_BODY."""
    try:
        value = json.loads(body)
    # Deep nesting recurses past the interpreter's limit (ValueError covers
    # bad UTF-8 and integers over the conversion limit).
    except (RecursionError, ValueError) as err:
        raise HandshakeRejectedError(Rejection.BAD_BODY) from err
    if _deeper_than(value, MAX_DEPTH):
        raise HandshakeRejectedError(Rejection.BAD_BODY)
    return value


def _deeper_than(value: Any, depth: int) -> bool:
    """Say whether parsed JSON nests deeper than ``depth``.

    Walked level by level: recursing is what deeply nested input exploits.
    """
    level = [value]
    for _ in range(depth):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return any(isinstance(item, dict | list) for item in level)


def signature_matches(
    secret: str, *, method: str, path: str, timestamp: str, body: bytes, signature: str
) -> bool:
    """Check a signature against the raw body and its canonical form.

    Both candidates are always computed and compared in constant time, so the
    reply time tells nothing about which part of a forged signature was wrong.
    """
    provided = signature.strip().lower()
    if SIGNATURE_FORMAT.fullmatch(provided) is None:
        # Not a hex digest: it cannot match (and may not even encode).
        return False
    candidates = [body]
    if body:
        # Serialising recurses as deep as parsing did.
        with contextlib.suppress(HandshakeRejectedError, RecursionError):
            candidates.append(canonical_json(parse_json(body)))
    matched = False
    for candidate in candidates:
        expected = sign(secret, method, path, timestamp, candidate).encode()
        matched |= hmac.compare_digest(expected, provided.encode())
    return matched


class ReplayGuard:
    """Remember accepted signatures for as long as they could still be valid."""

    def __init__(self) -> None:
        """Start with nothing remembered."""
        self._seen: OrderedDict[str, int] = OrderedDict()

    def check_and_remember(self, signature: str, timestamp: int, now: float) -> None:
        """Refuse a signature seen before; remember this one until it expires."""
        while self._seen and (
            next(iter(self._seen.values())) < now - MAX_SKEW
            or len(self._seen) >= MAX_REMEMBERED
        ):
            self._seen.popitem(last=False)
        key = signature.strip().lower()
        if key in self._seen:
            raise HandshakeRejectedError(Rejection.REPLAYED)
        self._seen[key] = timestamp


@dataclass(frozen=True, slots=True)
class SignedCall:
    """A verified call: its timestamp, signature and body."""

    timestamp: int
    signature: str
    body: bytes


def verify(
    secret: str,
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> SignedCall:
    """Check headers, clock and signature of one call (not yet the replay)."""
    timestamp_header = headers.get(HEADER_TIMESTAMP)
    signature = headers.get(HEADER_SIGNATURE)
    if not timestamp_header or not signature:
        raise HandshakeRejectedError(Rejection.MISSING_HEADERS)
    timestamp = parse_timestamp(timestamp_header.strip(), now)
    if not signature_matches(
        secret,
        method=method,
        path=path,
        timestamp=timestamp_header.strip(),
        body=body,
        signature=signature,
    ):
        raise HandshakeRejectedError(Rejection.BAD_SIGNATURE)
    return SignedCall(timestamp, signature, body)
