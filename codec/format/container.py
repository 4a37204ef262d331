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
encoder fitted against the source, in 64ths (codec.decoder.strength). A file without a strength is
still written as format 2, so older decoders read it.

Whatever the format, every field is checked into one RegenMeta before anything uses it (the
model ID against codec.format.modelid's pattern, hashes as hex of the format's length, sizes, names,
the strength finite in [0, 1]); anything else is a damaged segment. A version byte above the
newest known is reported as a newer format only when the fields every format so far begins
with parse and were written by a newer encoder; otherwise the segment is damaged. The size
must also agree with the JPEG's own frame (check_frame).
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field

from .. import __version__
from ..errors import CodecError
from .modelid import is_model_id, shown

APP_MARKER = 0xEF  # APP15
SIGNATURE = b"regen-codec\x00"
FORMAT_VERSION = 3  # the newest format this version reads and writes
STRENGTH_STEPS = 64  # format 3 stores the strength as a byte k: strength k / 64
MODES = ("regen", "comrec")
HASH_BYTES = 8  # sha256 prefix kept in format 2 (64 bits: enough to catch a wrong weight file)
MAX_SIDE = 65535  # a JPEG frame's largest side; a comrec file's original is up to twice that
#: A table set's name or an encoder version: printable, no spaces, at most 64 characters.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
#: Format 1 (JSON) fields: those it must have, and all it may have.
_JSON_REQUIRED = {"mode", "model_id", "model_sha256", "width", "height", "encoder_version",
                  "format_version"}
_JSON_FIELDS = _JSON_REQUIRED | {"tables", "extra", "strength"}


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
    tables: str = "standard"  # the table set (codec.format.tables) the encoder used
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
        """The validated record of a segment's payload (signature included); CodecError for a
        damaged segment or one of a newer format."""
        body = payload[len(SIGNATURE):]
        try:
            meta = cls._from_json(body) if body[:1] == b"{" else cls._from_binary(body)
            return meta.validated()
        except CodecError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError,
                RecursionError) as exc:
            raise _damaged(str(exc)) from None

    def validated(self) -> "RegenMeta":
        """This record if every field has the type and range a decoder relies on, else a
        CodecError saying the segment is damaged."""
        if not (isinstance(self.format_version, int) and 1 <= self.format_version <= FORMAT_VERSION):
            raise _damaged(f"format version {shown(self.format_version)}")
        if self.mode not in MODES:
            raise _damaged(f"unknown mode {shown(self.mode)}")
        if not is_model_id(self.model_id):
            raise _damaged(f"invalid model ID {shown(self.model_id)}")
        hex_digits = 64 if self.format_version == 1 else 2 * HASH_BYTES
        if not _is_hash(self.model_sha256, hex_digits):
            raise _damaged(f"the model hash {shown(self.model_sha256)} is not "
                           f"{hex_digits} hex digits")
        top = 2 * MAX_SIDE if self.mode == "comrec" else MAX_SIDE
        for name, side in (("width", self.width), ("height", self.height)):
            if type(side) is not int or not 1 <= side <= top:
                raise _damaged(f"{name} {shown(side)}")
        for name, text in (("encoder version", self.encoder_version), ("table set", self.tables)):
            if not (isinstance(text, str) and _NAME.fullmatch(text)):
                raise _damaged(f"{name} {shown(text)}")
        if not isinstance(self.extra, dict):
            raise _damaged("mode fields are not a mapping")
        if self.mode == "regen" and self.extra:
            raise _damaged(f"unexpected fields {shown(sorted(self.extra))} in a regen record")
        if self.mode == "comrec":
            unknown = set(self.extra) - {"comcnn_id", "comcnn_sha256"}
            if unknown:
                raise _damaged(f"unexpected fields {shown(sorted(unknown))} in a comrec record")
            if "comcnn_id" in self.extra and not is_model_id(self.extra["comcnn_id"]):
                raise _damaged(f"invalid ComCNN ID {shown(self.extra['comcnn_id'])}")
            if "comcnn_sha256" in self.extra and not _is_hash(self.extra["comcnn_sha256"],
                                                              hex_digits, zero_ok=True):
                raise _damaged(f"the ComCNN hash {shown(self.extra['comcnn_sha256'])}")
        if self.strength is not None:
            s = self.strength
            if type(s) not in (int, float) or not math.isfinite(s) or not 0 <= s <= 1:
                raise _damaged(f"strength {shown(s)} is not a number from 0 to 1")
            if self.format_version == 2:
                raise _damaged("a strength in a format 2 record")
        elif self.format_version == 3:
            raise _damaged("a format 3 record without a strength")
        return self

    @classmethod
    def _from_json(cls, body: bytes) -> "RegenMeta":
        """Format 1: compact JSON of every field, full sha256 hex strings."""
        d = json.loads(body.decode("utf-8"))
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
        if set(d) - _JSON_FIELDS:
            raise ValueError(f"unknown fields {shown(sorted(set(d) - _JSON_FIELDS))}")
        if _JSON_REQUIRED - set(d):
            raise ValueError(f"missing fields {', '.join(sorted(_JSON_REQUIRED - set(d)))}")
        if d["format_version"] != 1 or type(d["format_version"]) is not int:
            raise ValueError(f"format version {shown(d['format_version'])} in a JSON record")
        return cls(**d)

    @classmethod
    def _from_binary(cls, body: bytes) -> "RegenMeta":
        r = _Reader(body)
        version = r.byte()
        if version > FORMAT_VERSION:
            if _newer_format(body):
                raise CodecError(f"file format version {version} is newer than this regen-codec "
                                 f"understands ({FORMAT_VERSION}); upgrade regen-codec")
            raise ValueError(f"unknown format version {version}")
        if version < 2:
            raise ValueError(f"format version {version} in a binary record")
        mode_byte, width, height, model_id, sha, tables, encoder = _common_fields(r)
        mode = MODES[mode_byte]
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


def _common_fields(r: "_Reader") -> tuple[int, int, int, str, str, str, str]:
    """The fields every binary format so far begins with, after the version byte: mode byte,
    width, height, model ID, model hash, table set, encoder version."""
    mode_byte = r.byte()
    width, height = r.varint(), r.varint()
    model_id, sha = r.text(), r.hash()
    tables, encoder = r.text(), r.text()
    return mode_byte, width, height, model_id, sha, tables, encoder


def _version_tuple(text: str) -> tuple[int, ...]:
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g or 0) for g in m.groups()) if m else ()


def _newer_format(body: bytes) -> bool:
    """Whether a record whose version byte is above FORMAT_VERSION looks like a real newer
    format: a version below 128, the common fields parse and are valid (any mode byte below
    16, for modes added since), and its encoder is newer than this one (a new format comes
    with a new release). A damaged segment
    whose first byte happens to be large is not."""
    if body[0] >= 128:
        return False
    try:
        mode_byte, width, height, model_id, sha, tables, encoder = _common_fields(_Reader(body[1:]))
    except (ValueError, IndexError, UnicodeDecodeError):
        return False
    return (mode_byte < 16 and 1 <= width <= 2 * MAX_SIDE and 1 <= height <= 2 * MAX_SIDE
            and is_model_id(model_id) and _is_hash(sha, 2 * HASH_BYTES)
            and bool(_NAME.fullmatch(tables)) and bool(_NAME.fullmatch(encoder))
            and _version_tuple(encoder) > _version_tuple(__version__))


def _is_hash(value: object, digits: int, zero_ok: bool = False) -> bool:
    """Whether `value` is `digits` lower-case hex digits (and not all zero: what an encoder
    writes for a missing hash, unless `zero_ok`)."""
    return (isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{digits}}}", value) is not None
            and (zero_ok or value.strip("0") != ""))


def _damaged(why: str) -> CodecError:
    return CodecError(f"the regen-codec metadata segment is damaged ({why})")


def compact_size(h: int, w: int) -> tuple[int, int]:
    """(height, width) of a comrec file's compact picture for an h x w original: ComCNN halves
    each side, rounding up."""
    return (h + 1) // 2, (w + 1) // 2


def check_frame(meta: RegenMeta, width: int, height: int, max_pixels: int) -> None:
    """Refuse a file whose metadata disagrees with its JPEG frame (`width` x `height`), or whose
    decode would produce more than `max_pixels` pixels, before anything is allocated: a regen
    file's frame is the picture's size, a comrec file's the compact size the encoder makes
    (compact_size of the original)."""
    if meta.mode == "comrec":
        expected = compact_size(meta.height, meta.width)[::-1]
    else:
        expected = (meta.width, meta.height)
    if (width, height) != expected:
        compact = f" (compact {expected[0]}x{expected[1]})" if meta.mode == "comrec" else ""
        raise CodecError(f"the JPEG frame is {width}x{height} but its regen-codec metadata says "
                         f"{meta.width}x{meta.height}{compact}: the file is damaged")
    pixels = meta.width * meta.height
    if pixels > max_pixels:
        raise CodecError(f"decoding this file would make a {meta.width}x{meta.height} picture, "
                         f"{pixels:,} pixels, above the {max_pixels:,} that decoding handles")


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


def _meta_segments(data: bytes):
    """Yield (start, end) of each regen-codec segment (APP15 with our signature) in the header."""
    for marker, start, end in header_segments(data):
        if marker == APP_MARKER and data[start + 4:end].startswith(SIGNATURE):
            yield start, end


def has_meta(data: bytes) -> bool:
    """Whether the JPEG carries a regen-codec segment, without parsing it (a damaged one counts)."""
    return next(_meta_segments(data), None) is not None


def read_meta(data: bytes) -> RegenMeta | None:
    """The regen-codec metadata of a JPEG, or None for a plain JPEG."""
    for start, end in _meta_segments(data):
        return RegenMeta.from_payload(data[start + 4:end])
    return None


def strip_meta(data: bytes) -> bytes:
    """The same JPEG without any regen-codec segment."""
    out, last = [], 0
    for start, end in _meta_segments(data):
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
