"""The regen-codec metadata segment inside a standard JPEG file.

An APP15 segment whose payload is a signature followed by the fields in a compact binary form
(format 2: about 75 bytes; format 1 files, written until 2026-11-26, hold JSON and full
sha256 hex strings, about 250-350 bytes, and still read). At the low rates where the codec wins
most a whole file is 2-10 kB, so the segment's size is part of the rate. Every JPEG decoder
skips unknown APPn segments, so the file stays a plain JPEG for any viewer.

Format 2, after the signature: version (1 byte), mode (1 byte: 0 regen, 1 comrec), width and
height (LEB128), model ID (a string: 1 length byte, UTF-8), the first 8 bytes of the model's
sha256, table set, encoder version, and in comrec mode the ComCNN's ID (empty when it is
`<model ID>-com`) and the first 8 bytes of its sha256.

Format 3 (from encoder 0.3.0) is format 2 plus one last byte: the restoration strength the
encoder fitted against the source, in 64ths (codec.strength). A file without a strength is
still written as format 2, so older decoders read it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

from .errors import CodecError

APP_MARKER = 0xEF  # APP15
SIGNATURE = b"regen-codec\x00"
FORMAT_VERSION = 3  # the newest format this version reads and writes
STRENGTH_STEPS = 64  # format 3 stores the strength as a byte k: strength k / 64
MODES = ("regen", "comrec")
HASH_BYTES = 8  # sha256 prefix kept in format 2 (64 bits: enough to catch a wrong weight file)


@dataclass
class RegenMeta:
    """What a decoder needs to know to restore the image, carried in the file."""

    mode: str
    model_id: str
    model_sha256: str
    width: int
    height: int
    encoder_version: str
    format_version: int = 2  # what to_bytes writes: 3 when `strength` is set, else 2
    tables: str = "standard"  # the table set (codec.tables) the encoder used
    extra: dict = field(default_factory=dict)  # mode-specific fields (e.g. a second network)
    strength: float | None = None  # share of the network's correction to keep (None: all)

    def to_bytes(self) -> bytes:
        """The segment's payload in format 2, or 3 with a strength (sha256 fields shortened to
        HASH_BYTES)."""
        if self.mode not in MODES:
            raise CodecError(f"unknown mode {self.mode!r}")
        if self.strength is not None and not 0 <= self.strength <= 1:
            raise CodecError(f"strength {self.strength} is outside [0, 1]")
        out = bytearray(SIGNATURE)
        out += bytes([2 if self.strength is None else 3, MODES.index(self.mode)])
        out += _varint(self.width) + _varint(self.height)
        out += _text(self.model_id) + _hash(self.model_sha256)
        out += _text(self.tables) + _text(self.encoder_version)
        if self.mode == "comrec":
            com = self.extra.get("comcnn_id", "")
            out += _text("" if com == f"{self.model_id}-com" else com)
            out += _hash(self.extra.get("comcnn_sha256", ""))
        if self.strength is not None:
            out.append(round(self.strength * STRENGTH_STEPS))
        return bytes(out)

    @classmethod
    def from_payload(cls, payload: bytes) -> "RegenMeta":
        body = payload[len(SIGNATURE):]
        try:
            meta = cls._from_json(body) if body[:1] == b"{" else cls._from_binary(body)
        except CodecError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError):
            raise CodecError("the regen-codec metadata segment is damaged") from None
        if meta.mode not in MODES:
            raise CodecError(f"unknown mode {meta.mode!r} in the metadata segment")
        return meta

    @classmethod
    def _from_json(cls, body: bytes) -> "RegenMeta":
        """Format 1: compact JSON of every field, full sha256 hex strings."""
        d = json.loads(body.decode("utf-8"))
        _check_version(d.get("format_version", 0))
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @classmethod
    def _from_binary(cls, body: bytes) -> "RegenMeta":
        r = _Reader(body)
        version = r.byte()
        _check_version(version)
        mode = MODES[r.byte()]
        width, height = r.varint(), r.varint()
        model_id, sha = r.text(), r.hash()
        tables, encoder = r.text(), r.text()
        extra = {}
        if mode == "comrec":
            com = r.text() or f"{model_id}-com"
            extra = {"comcnn_id": com, "comcnn_sha256": r.hash()}
        strength = None
        if version >= 3:
            k = r.byte()
            if k > STRENGTH_STEPS:
                raise ValueError("strength above 1")
            strength = k / STRENGTH_STEPS
        if r.pos != len(body):
            raise ValueError("trailing bytes")
        return cls(mode=mode, model_id=model_id, model_sha256=sha, width=width, height=height,
                   encoder_version=encoder, format_version=version, tables=tables, extra=extra,
                   strength=strength)


def _check_version(version: int) -> None:
    if version > FORMAT_VERSION:
        raise CodecError(f"file format version {version} is newer than this regen-codec "
                         f"understands ({FORMAT_VERSION}); upgrade regen-codec")


def _varint(n: int) -> bytes:
    """Unsigned LEB128."""
    if n < 0:
        raise CodecError(f"negative size {n} in the metadata")
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _text(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 255:
        raise CodecError(f"metadata text too long ({len(b)} bytes): {s[:40]!r}...")
    return bytes([len(b)]) + b


def _hash(hexdigest: str) -> bytes:
    raw = bytes.fromhex(hexdigest[:2 * HASH_BYTES]) if hexdigest else b""
    return raw.ljust(HASH_BYTES, b"\0")


class _Reader:
    """Reads format 2 and 3 fields; running past the end raises IndexError (a damaged segment)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise IndexError("segment too short")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def varint(self) -> int:
        n, shift = 0, 0
        while True:
            b = self.byte()
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
            if shift > 35:
                raise ValueError("varint too long")

    def text(self) -> str:
        return self.take(self.byte()).decode("utf-8")

    def hash(self) -> str:
        return self.take(HASH_BYTES).hex()


def segment(marker: int, payload: bytes) -> bytes:
    """One JPEG marker segment: marker, length, payload."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def header_segments(data: bytes):
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
    for marker, start, end in header_segments(data):
        payload = data[start + 4:end]
        if marker == APP_MARKER and payload.startswith(SIGNATURE):
            return RegenMeta.from_payload(payload)
    return None


def strip_meta(data: bytes) -> bytes:
    """The same JPEG without any regen-codec segment."""
    out, last = [], 0
    for marker, start, end in header_segments(data):
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
    for marker, start, end in header_segments(data):
        if 0xE0 <= marker <= 0xEF:
            insert_at = end
        else:
            break
    return data[:insert_at] + segment(APP_MARKER, payload) + data[insert_at:]
