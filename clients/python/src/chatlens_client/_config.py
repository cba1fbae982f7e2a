"""Client options: defaults, environment variables, and their checks.

Checked once, when the client is made, so that a typo in a deployment's settings fails
at start-up and not hours later in a background thread.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import httpx

from chatlens_client import _wire
from chatlens_client._version import __version__
from chatlens_client.errors import ConfigurationError

SECRET_KEY_ENV = "CHATLENS_SECRET_KEY"
ENDPOINT_ENV = "CHATLENS_ENDPOINT"
DEFAULT_ENDPOINT = "http://127.0.0.1:8000"
DEFAULT_CLOSE_TIMEOUT = 10.0
USER_AGENT = f"chatlens-client-python/{__version__}"


@dataclass(frozen=True, slots=True)
class Settings:
    secret_key: str
    endpoint: str  # no trailing slash
    flush_interval: float
    max_batch: int
    max_queue: int
    max_retries: int | None
    timeout: float

    @property
    def batch_url(self) -> str:
        return self.endpoint + _wire.BATCH_PATH

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.secret_key}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }


def resolve(
    secret_key: str | None,
    endpoint: str | None,
    *,
    flush_interval: float,
    max_batch: int,
    max_queue: int,
    max_retries: int | None,
    timeout: float,
) -> Settings:
    key = secret_key if secret_key is not None else os.environ.get(SECRET_KEY_ENV)
    if not isinstance(key, str) or not key.strip():
        raise ConfigurationError(f"secret_key: not given and {SECRET_KEY_ENV} is not set (use the site's secret key)")
    url = endpoint if endpoint is not None else os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
    if not isinstance(url, str):
        raise ConfigurationError(f"endpoint: must be a URL string, got {type(url).__name__}")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigurationError(f"endpoint: not a URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(f"endpoint: must be an http:// or https:// URL, got {url!r}")
    return Settings(
        secret_key=key.strip(),
        endpoint=url.rstrip("/"),
        flush_interval=_positive("flush_interval", flush_interval),
        max_batch=_int_in("max_batch", max_batch, 1, _wire.MAX_EVENTS_PER_REQUEST),
        max_queue=_int_in("max_queue", max_queue, 1, None),
        max_retries=None if max_retries is None else _int_in("max_retries", max_retries, 0, None),
        timeout=_positive("timeout", timeout),
    )


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name}: must be a number of seconds, got {type(value).__name__}")
    if not (value > 0 and math.isfinite(value)):
        raise ConfigurationError(f"{name}: must be > 0, got {value!r}")
    return float(value)


def _int_in(name: str, value: Any, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{name}: must be an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ConfigurationError(f"{name}: must be {bounds}, got {value}")
    return value
