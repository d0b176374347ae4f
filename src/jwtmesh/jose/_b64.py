"""Strict base64url without padding (RFC 7515 section 2 and appendix C)."""

from __future__ import annotations

import base64
import binascii

from .errors import MalformedTokenError

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Bits of the last character that must be zero, by the segment length mod 4.
_STRAY_BITS = {2: 0x0F, 3: 0x03}
_LAST = {c: i for i, c in enumerate(_ALPHABET)}
# One pass maps base64url to standard base64 and turns every character that
# has no place in base64url ("+", "/", "=") into "!", which the strict
# decoder refuses, as it refuses whitespace and anything non-ASCII.
_TO_STD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PAD = (b"", b"", b"==", b"=")


def b64url_encode(data: bytes) -> bytes:
    """Encode without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def b64url_decode(data: bytes) -> bytes:
    """Decode one segment, refusing padding, ``+``, ``/``, whitespace and stray bits.

    A canonical encoding is required so that one token has one spelling:
    the unused low bits of the last character must be zero.
    """
    rest = len(data) % 4
    if rest == 1:
        raise MalformedTokenError("segment is not base64url")
    try:
        decoded = binascii.a2b_base64(data.translate(_TO_STD) + _PAD[rest], strict_mode=True)
    except binascii.Error as exc:
        raise MalformedTokenError("segment is not base64url") from exc
    if rest and _LAST[data[-1]] & _STRAY_BITS[rest]:
        raise MalformedTokenError("segment has non-zero trailing bits")
    return decoded
