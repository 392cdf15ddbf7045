"""Unpadded url-safe base64, the one spelling of it: tokens, cursors and the JS client's auth token."""

from __future__ import annotations

import base64
import binascii


def b64url_encode(data: bytes) -> str:
    """`data` as url-safe base64 without `=` padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(encoded: str) -> bytes | None:
    """The bytes of unpadded (or padded) url-safe base64, or None when it is not base64."""
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return None
