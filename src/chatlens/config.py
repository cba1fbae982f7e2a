"""Server settings. Defaults are the documented behaviour; the CLI and tests override them."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(slots=True)
class Settings:
    db_path: Path = Path("chatlens.duckdb")
    # POST /v1/batch limits
    max_body_bytes: int = 256 * 1024
    max_events_per_batch: int = 1000
    rate_limit_per_minute: int = 30  # per session, as in reference 000; 0 disables it
    drop_bots: bool = True
    # Take the client address from X-Forwarded-For (only behind your own proxy).
    trust_proxy_headers: bool = False
    # POST /v1/server/batch and the AgentSight-compatible API (secret key)
    max_server_body_bytes: int = 8 * 1024 * 1024
    max_attachment_bytes: int = 1024 * 1024  # larger files keep their description only
    # Custom session data keys (reference 004): name -> priority or (priority, path)
    data_keys: dict[str, int | tuple[int, str]] = field(default_factory=dict)
    # Proactive engagement (docs/engagement.md): the skills file (None: the shipped one)
    skills_path: Path | None = None
    # A webhook for offers and conversation starts, signed with the secret
    webhook_url: str | None = None
    webhook_secret: str | None = None
    # The dashboard: besides each site's secret key, this password opens every site
    admin_password: str | None = None
    # Storage
    dedupe_capacity: int = 1_000_000  # event ids kept in memory (~150 bytes each)
    max_pending_rows: int = 1_000_000  # beyond this, batches get 503 + Retry-After
    duckdb_threads: int = 2
    # "idle": the loads into DuckDB run on idle CPU time and the journal thread never
    # preempts the event loop (Linux; chatlens._priority); "normal": all threads equal.
    background_priority: Literal["idle", "normal"] = "idle"
    # Seconds between loads of the journal into the store, or sooner once `load_rows` are
    # waiting. Readers load what is waiting first, so this is not how fresh reports are:
    # it is how large a load gets under heavy traffic, where larger is much cheaper (each
    # load merges into every visit it touches once; docs/benchmarks.md, "The loads").
    load_interval: float = 5.0
    load_rows: int = 250_000
    # A route that reads and discards the body: the benchmark's reference point.
    noop_endpoint: bool = False

    @property
    def journal_path(self) -> Path:
        """The write-ahead journal lives beside the database file."""
        return self.db_path.with_name(self.db_path.name + ".journal")


class ConfigError(Exception):
    """The config file is unusable; the message names the file, the key and the reason."""


_DATA_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def read_config(path: Path) -> dict[str, Any]:
    """Settings from a TOML file (README, `--config`), as keyword arguments of Settings.

        [session_results.priorities]   # custom or re-prioritized data keys: 0 (never the
        PURCHASE = 1                   # result) .. 10; 1 is the highest
        [session_results.paths]        # how a result reads
        PURCHASE = "Sale > Purchase"
        [webhook]                      # offers and conversation starts (docs/engagement.md)
        url = "https://agents.example.com/chatlens"
        secret = "..."                 # signs every body (Chatlens-Signature)
        [dashboard]
        admin_password = "..."         # opens every site's dashboard (at least 12 characters)
    """
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML: {exc}") from None
    unknown = set(raw) - {"session_results", "webhook", "dashboard"}
    if unknown:
        raise ConfigError(
            f"--config {path}: unknown section [{sorted(unknown)[0]}] (known: session_results, webhook, dashboard)"
        )
    settings: dict[str, Any] = {"data_keys": _data_keys(path, raw)}
    webhook = raw.get("webhook", {})
    for key, value in webhook.items():
        if key not in ("url", "secret"):
            raise ConfigError(f"--config {path}: webhook.{key}: unknown key (known: url, secret)")
        if not isinstance(value, str) or not value:
            raise ConfigError(f"--config {path}: webhook.{key}: must be a non-empty string")
    if "url" in webhook:
        if not webhook["url"].startswith(("http://", "https://")):
            raise ConfigError(f"--config {path}: webhook.url: must be an http:// or https:// URL")
        if "secret" not in webhook:
            raise ConfigError(f"--config {path}: webhook.secret: required with webhook.url (the receiver checks the signature with it)")
        settings["webhook_url"], settings["webhook_secret"] = webhook["url"], webhook["secret"]
    dashboard = raw.get("dashboard", {})
    for key, value in dashboard.items():
        if key != "admin_password":
            raise ConfigError(f"--config {path}: dashboard.{key}: unknown key (known: admin_password)")
        if not isinstance(value, str) or len(value) < 12:
            raise ConfigError(f"--config {path}: dashboard.admin_password: must be a string of at least 12 characters")
        settings["admin_password"] = value
    return settings


def _data_keys(path: Path, raw: dict[str, Any]) -> dict[str, int | tuple[int, str]]:
    results = raw.get("session_results", {})
    priorities, paths = results.get("priorities", {}), results.get("paths", {})
    for section, table in (("priorities", priorities), ("paths", paths)):
        if not isinstance(table, dict):
            raise ConfigError(f"--config {path}: session_results.{section}: must be a table")
    data_keys: dict[str, int | tuple[int, str]] = {}
    for name, priority in priorities.items():
        where = f"--config {path}: session_results.priorities.{name}"
        if not _DATA_KEY.fullmatch(name):
            raise ConfigError(f"{where}: a data key is UPPER_SNAKE_CASE, e.g. PURCHASE")
        if type(priority) is not int or not 0 <= priority <= 10:
            raise ConfigError(f"{where}: must be an integer from 0 (never the result) to 10, got {priority!r}")
        data_keys[name] = priority
    for name, readable in paths.items():
        where = f"--config {path}: session_results.paths.{name}"
        if not isinstance(readable, str) or not readable.strip():
            raise ConfigError(f"{where}: must be a non-empty string such as \"Sale > Purchase\"")
        if name not in data_keys:
            raise ConfigError(f"{where}: give {name} a priority in [session_results.priorities] too")
        data_keys[name] = (int(data_keys[name]), readable)  # type: ignore[arg-type]
    return data_keys
