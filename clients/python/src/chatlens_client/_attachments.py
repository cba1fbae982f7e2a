"""Turn the caller's attachment descriptions into file facts: bytes, size, SHA-256, base64.

Callers hold files in three shapes (bytes in memory, base64 text from an upload API, an
open file); this module accepts all three so nobody has to convert first, and computes
size and digest here so the server can deduplicate and verify files without trusting the
caller's numbers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chatlens_client._checks import required_text, type_name, wrong_type
from chatlens_client.errors import InvalidEventError, InvalidEventTypeError

_KEYS = frozenset(("filename", "mime_type", "data"))


@dataclass(frozen=True, slots=True)
class AttachmentFile:
    filename: str
    mime_type: str
    size: int
    sha256: str
    content: str  # base64 of the bytes; empty for an empty file


def read_attachments(attachments: Any) -> list[AttachmentFile]:
    """Validate and read every attachment, or raise naming the first bad one."""
    if isinstance(attachments, (str, bytes, Mapping)) or not isinstance(attachments, Sequence):
        wrong_type("attachments", "a list of dicts {filename, mime_type, data}", attachments)
    if not attachments:
        raise InvalidEventError("attachments", "must not be empty")
    return [_read_one(f"attachments[{i}]", item) for i, item in enumerate(attachments)]


def _read_one(path: str, item: Any) -> AttachmentFile:
    if not isinstance(item, Mapping):
        wrong_type(path, "a dict {filename, mime_type, data}", item)
    unknown = sorted(str(k) for k in item if k not in _KEYS)
    if unknown:
        raise InvalidEventError(path, f"unknown key(s) {', '.join(unknown)} (expected filename, mime_type, data)")
    for key in ("filename", "mime_type", "data"):
        if key not in item:
            raise InvalidEventError(f"{path}.{key}", "required")
    filename = required_text(f"{path}.filename", item["filename"])
    mime_type = required_text(f"{path}.mime_type", item["mime_type"])
    raw = _bytes_of(f"{path}.data", item["data"])
    return AttachmentFile(
        filename=filename,
        mime_type=mime_type,
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        content=base64.b64encode(raw).decode("ascii"),
    )


def _bytes_of(argument: str, data: Any) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        compact = "".join(data.split())  # MIME-style base64 wraps lines
        try:
            return base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidEventError(argument, "a str must be base64 text (pass bytes for raw content)") from None
    read = getattr(data, "read", None)
    if callable(read):
        content = read()
        if isinstance(content, str):
            raise InvalidEventTypeError(argument, "the file returned str: open it in binary mode ('rb')")
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise InvalidEventTypeError(argument, f"read() returned {type_name(content)}, expected bytes")
        return bytes(content)
    wrong_type(argument, "bytes, base64 str or a binary file object", data)
