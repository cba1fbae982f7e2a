"""Classify a User-Agent header: device type and whether it is a bot.

A few documented patterns instead of a full parser: Chatlens only needs the device class
and a bot flag, and a full parser costs about a millisecond per new string. Results are
cached per distinct header, so the regexes run once per browser build.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

Device = Literal["desktop", "mobile", "tablet"]

# Crawlers, monitors, link previewers, headless browsers and HTTP libraries.
_BOT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scrap|headless|phantomjs|lighthouse|pagespeed|pingdom"
    r"|uptime|monitor|preview|facebookexternalhit|embedly|whatsapp|telegram|curl/|wget/"
    r"|python-|httpx|aiohttp|go-http-client|java/|okhttp|libwww|node-fetch|axios/|postman",
    re.IGNORECASE,
)
# iPadOS 13+ Safari reports itself as a Mac and is counted as desktop: nothing in the
# header tells them apart.
_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|nexus (7|9|10)|sm-t\d|sm-x\d", re.I)
_ANDROID = re.compile(r"android", re.I)
_MOBILE = re.compile(r"mobi|iphone|ipod|windows phone|blackberry|opera mini|iemobile", re.I)


@lru_cache(maxsize=4096)
def classify(user_agent: str) -> tuple[Device, bool]:
    """(device, is_bot) for a User-Agent header; an empty header counts as a bot."""
    if not user_agent.strip() or _BOT.search(user_agent):
        return "desktop", True
    if _TABLET.search(user_agent):
        return "tablet", False
    if _MOBILE.search(user_agent):
        return "mobile", False
    if _ANDROID.search(user_agent):  # Android without "Mobile" is a tablet by convention
        return "tablet", False
    return "desktop", False


_LANGUAGE_TAG = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z]{2}|[0-9]{3}))?\b")


@lru_cache(maxsize=256)
def primary_language(accept_language: str) -> str | None:
    """The first tag of an Accept-Language header, normalized (`en-us,en;q=0.9` -> `en-US`);
    None when there is none worth keeping. Only the language is kept, never the full list,
    which would help fingerprint a visitor."""
    match = _LANGUAGE_TAG.match(accept_language.strip())
    if match is None:
        return None
    language, region = match.groups()
    return language.lower() + (f"-{region.upper()}" if region else "")
