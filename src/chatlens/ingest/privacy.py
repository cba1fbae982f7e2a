"""Never store a raw IP address.

The client address is reduced to a keyed BLAKE2b hash whose key (salt) changes every UTC
day and lives only in this process's memory: once the day has passed, nobody (not even
the operator holding the database) can link a hash back to an address.
"""

from __future__ import annotations

import hashlib
import secrets
import time


class IpHasher:
    def __init__(self) -> None:
        self._day = -1
        self._salt = b""

    def hash(self, ip: str | None, site_id: str) -> str | None:
        if not ip:
            return None
        day = int(time.time() // 86_400)
        if day != self._day:
            self._day, self._salt = day, secrets.token_bytes(32)
        digest = hashlib.blake2b(f"{site_id}|{ip}".encode(), key=self._salt, digest_size=8)
        return digest.hexdigest()
