"""UUIDv7 (RFC 9562) event ids.

The id is the idempotency key: the server stores an id once and counts a resend as a
duplicate, which is what makes retrying a batch safe. Version 7 rather than 4 because its
48-bit millisecond prefix keeps ids of one client roughly time-ordered, which keeps the
server's dedupe index and storage local. Python 3.11 has no uuid7, hence this module.
"""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last_ms = -1
_last_counter = 0


def uuid7(unix_ms: int | None = None) -> str:
    """A new UUIDv7 as canonical lowercase text.

    Layout: 48 bits of Unix milliseconds, version 7, 12 bits `rand_a`, the RFC variant
    (0b10), 62 random bits `rand_b`. Within one millisecond `rand_a` is used as a counter
    seeded randomly (RFC 9562 method 1), so ids made by this process sort in creation
    order, which the tests and the server's storage both like.
    """
    global _last_ms, _last_counter
    if unix_ms is not None:  # a given time: no ordering promise, no effect on the sequence
        ms, counter = unix_ms, secrets.randbits(12)
    else:
        with _lock:
            ms = max(time.time_ns() // 1_000_000, _last_ms)  # the clock went back: stay monotonic
            if ms == _last_ms and _last_counter < 0xFFF:
                counter = _last_counter + 1
            else:
                if ms == _last_ms:  # the counter ran out within this millisecond: borrow the next one
                    ms += 1
                counter = secrets.randbits(11)  # leave room to count up within the millisecond
            _last_ms, _last_counter = ms, counter
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= secrets.randbits(62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
