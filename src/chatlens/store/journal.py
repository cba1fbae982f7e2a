"""The write-ahead journal: where an acknowledged batch is durable before it is in the store.

An append plus `fdatasync` costs a fraction of a millisecond whatever its size, while a
commit into the column store costs milliseconds plus microseconds per row. So requests are
acknowledged once their rows are in the journal, and the store loads whole segments behind
it (`chatlens.store.writer`).

Layout: a directory of numbered segment files, each a sequence of journal lines
(`chatlens.store.rows`: one JSON object per row, newline-terminated). A crash can leave a
torn last line; it was never acknowledged (acknowledgement waits for the sync of the whole
append) and `seal_torn_tail` cuts it off before a segment is replayed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_SEGMENT = re.compile(r"(\d{12})\.ndjson")


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

    def path(self, seq: int) -> Path:
        return self.directory / f"{seq:012d}.ndjson"

    def _open(self, seq: int) -> int:
        fd = os.open(self.path(seq), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _sync_directory(self.directory)  # the new file's name must survive a crash too
        return fd

    def append(self, lines: bytes) -> None:
        """Write journal lines and make them durable."""
        os.write(self._fd, lines)
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

    def seal_torn_tail(self, seq: int) -> None:
        """Cut a segment after its last complete line (a crash may have torn the last one)."""
        path = self.path(seq)
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            with open(path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())

    def delete(self, seq: int) -> None:
        self.path(seq).unlink(missing_ok=True)

    def close(self) -> None:
        os.close(self._fd)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
