"""The regen-codec metadata segment inside a standard JPEG file.

An APP15 segment whose payload is a signature followed by compact JSON. Every JPEG decoder
skips unknown APPn segments, so the file stays a plain JPEG for any viewer.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, field

from .errors import CodecError

APP_MARKER = 0xEF  # APP15
SIGNATURE = b"regen-codec\x00"
FORMAT_VERSION = 1
MODES = ("regen", "comrec")


@dataclass
class RegenMeta:
    """What a decoder needs to know to restore the image, carried in the file."""

    mode: str
    model_id: str
    model_sha256: str
    width: int
    height: int
    encoder_version: str
    format_version: int = FORMAT_VERSION
    tables: str = "standard"  # the table set (codec.tables) the encoder used
    extra: dict = field(default_factory=dict)  # mode-specific fields (e.g. a second network)

    def to_bytes(self) -> bytes:
        return SIGNATURE + json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_payload(cls, payload: bytes) -> "RegenMeta":
        try:
            d = json.loads(payload[len(SIGNATURE):].decode("utf-8"))
            if d.get("format_version", 0) > FORMAT_VERSION:
                raise CodecError(
                    f"file format version {d['format_version']} is newer than this regen-codec "
                    f"understands ({FORMAT_VERSION}); upgrade regen-codec")
            known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
            meta = cls(**known)
        except CodecError:
            raise
        except (ValueError, TypeError, KeyError):
            raise CodecError("the regen-codec metadata segment is damaged") from None
        if meta.mode not in MODES:
            raise CodecError(f"unknown mode {meta.mode!r} in the metadata segment")
        return meta


def _segments(data: bytes):
    """Yield (marker, start, end) of each header segment up to (not including) the first SOS."""
    if data[:2] != b"\xff\xd8":
        raise CodecError("not a JPEG file (no start-of-image marker)")
    pos = 2
    n = len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise CodecError("the JPEG header is damaged")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        if pos + 2 > n:
            break
        (length,) = struct.unpack(">H", data[pos:pos + 2])
        if length < 2 or pos + length > n:
            raise CodecError("the JPEG header is truncated")
        yield marker, pos - 2, pos + length
        if marker == 0xDA:  # start of scan: header is over
            return
        pos += length
    raise CodecError("the JPEG data is truncated (no image data found)")


def read_meta(data: bytes) -> RegenMeta | None:
    """The regen-codec metadata of a JPEG, or None for a plain JPEG."""
    for marker, start, end in _segments(data):
        payload = data[start + 4:end]
        if marker == APP_MARKER and payload.startswith(SIGNATURE):
            return RegenMeta.from_payload(payload)
    return None


def strip_meta(data: bytes) -> bytes:
    """The same JPEG without any regen-codec segment."""
    out, last = [], 0
    for marker, start, end in _segments(data):
        if marker == APP_MARKER and data[start + 4:end].startswith(SIGNATURE):
            out.append(data[last:start])
            last = end
    out.append(data[last:])
    return b"".join(out)


def write_meta(data: bytes, meta: RegenMeta) -> bytes:
    """Insert (or replace) the metadata segment after the leading APPn segments (JFIF, Exif, ICC)."""
    data = strip_meta(data)
    payload = meta.to_bytes()
    if len(payload) + 2 > 0xFFFF:
        raise CodecError("metadata too large for one JPEG segment")
    insert_at = 2
    for marker, start, end in _segments(data):
        if 0xE0 <= marker <= 0xEF:
            insert_at = end
        else:
            break
    segment = bytes([0xFF, APP_MARKER]) + struct.pack(">H", len(payload) + 2) + payload
    return data[:insert_at] + segment + data[insert_at:]
