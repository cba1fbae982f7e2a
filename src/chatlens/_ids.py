"""UUIDv7 (RFC 9562): time-ordered ids for events that arrive without one."""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # (millis, rand_a) of the last id made for "now"
# Random bits are read from the OS in blocks, not per id: os.urandom releases the GIL,
# and on a busy server winning it back from the journal and loader threads cost the
# event loop tens of microseconds per call (about 4 % of its time under load).
_RANDOM_BLOCK = 4000  # bytes: 400 ids per read
_block = b""  # random bytes, read _RANDOM_BLOCK at a time
_offset = 0  # the next unused byte of _block


def _random_bytes(n: int) -> bytes:  # called holding _lock
    global _block, _offset
    if _offset + n > len(_block):
        _block, _offset = os.urandom(_RANDOM_BLOCK), 0
    _offset += n
    return _block[_offset - n : _offset]


def uuid7(millis: int | None = None) -> str:
    """A UUIDv7 for now, or for `millis` since the epoch.

    Ids made for "now" increase strictly within this process (RFC 9562, method 1: rand_a
    is a counter within a millisecond), so events that arrive in one batch without
    timestamps keep their order when sorted by time, then id."""
    with _lock:
        rand = int.from_bytes(_random_bytes(10), "big")
        rand_a = (rand >> 62) & 0xFFF
        if millis is None:
            millis = time.time_ns() // 1_000_000
            if millis <= _last[0]:
                millis, rand_a = _last[0], _last[1] + 1
                if rand_a > 0xFFF:
                    millis, rand_a = millis + 1, 0
            else:
                rand_a &= 0x7FF  # start low, leaving room to count up
            _last[:] = [millis, rand_a]
    value = (millis & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version 7
    value |= rand_a << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b, 62 bits
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
