"""The write-ahead journal: where an acknowledged batch is durable before it is in the store.

An append plus `fdatasync` costs a fraction of a millisecond whatever its size, while a
commit into the column store costs milliseconds plus microseconds per row. So requests are
acknowledged once their rows are in the journal, and the store is loaded in large chunks
behind it (`chatlens.store.writer`).

Layout: a directory of numbered segment files. Each record is
`<u32 length><u32 crc32><payload>` where the payload is a JSON array of rows. A crash can
leave a torn record at the end of the last segment; it fails its checksum and is ignored
(its requests were never acknowledged, since acknowledgement waits for the sync).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

_HEADER = struct.Struct("<II")
_SEGMENT = re.compile(r"(\d{12})\.log")


class Journal:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = self.segments()
        self._seq = (existing[-1] + 1) if existing else 1
        self._fd = self._open(self._seq)

    @property
    def current_segment(self) -> int:
        return self._seq

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:012d}.log"

    def _open(self, seq: int) -> int:
        fd = os.open(self._path(seq), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _sync_directory(self.directory)  # the new file's name must survive a crash too
        return fd

    def append(self, payload: bytes) -> None:
        """Write one record and make it durable."""
        os.write(self._fd, _HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        os.fdatasync(self._fd)

    def rotate(self) -> int:
        """Seal the current segment; later appends go to a new one. Returns the sealed number."""
        sealed = self._seq
        os.close(self._fd)
        self._seq += 1
        self._fd = self._open(self._seq)
        return sealed

    def segments(self) -> list[int]:
        return sorted(int(m.group(1)) for p in self.directory.iterdir() if (m := _SEGMENT.fullmatch(p.name)))

    def read(self, seq: int) -> Iterator[list[Any]]:
        """The rows of one segment, record by record, up to the first torn or corrupt record."""
        data = self._path(seq).read_bytes()
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, crc = _HEADER.unpack_from(data, offset)
            payload = data[offset + _HEADER.size : offset + _HEADER.size + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                return
            yield orjson.loads(payload)
            offset += _HEADER.size + length

    def delete(self, seq: int) -> None:
        self._path(seq).unlink(missing_ok=True)

    def close(self) -> None:
        os.close(self._fd)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
