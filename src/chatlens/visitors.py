"""A visitor's recent behaviour as a compact, LLM-ready context for an agent.

An AI agent reads this before (or when) it starts a proactive chat, so it can open with
something relevant instead of "How can I help?". Like conversations, the context is
computed on read from the stored events: nothing is kept that could drift from them.

`VisitorContextReader` reads the events through the store interface; `visitor_context`
is the pure fold from rows to the summary, so it can be tested without a store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from chatlens._time import iso
from chatlens.model.events import SERVER_ONLY_TYPES
from chatlens.store.base import EventQuery, EventStore
from chatlens.store.schema import event_data

DEFAULT_DAYS = 7
MAX_DAYS = 90
# At most this many of the visitor's events are folded (the most recent ones), so that a
# runaway client cannot make one context request read without bound.
MAX_EVENTS = 5000
_PAGE = 1000
_DAY_US = 86_400_000_000
_FIRST_SLICE_US = 3_600_000_000  # capped reads walk back from now in slices from 1 hour, doubling

# How many items each list keeps (newest first).
MAX_PAGES = 10
MAX_PRODUCTS = 10
MAX_SEARCHES = 10
MAX_FILTERS = 10
MAX_STOCK_ISSUES = 10
MAX_INTENTS = 10
MAX_EVIDENCE = 10
MAX_CONVERSATIONS = 10
MAX_CART = 50
SUMMARY_CHARS = 600
_CLIP = 40  # visitor-provided strings are cut to this many characters inside the summary


class VisitorContextReader:
    def __init__(self, store: EventStore, flush: Callable[[], None]) -> None:
        self.store = store
        self.flush = flush  # loads journaled events, so a reader sees all it was promised

    def get(
        self, site_id: str, visitor_id: str, now_us: int | None = None, days: int = DEFAULT_DAYS
    ) -> dict[str, Any] | None:
        """Blocking (call from a worker thread). The context of the visitor's events of the
        last `days` days before `now_us` (default: now), or None if there are none."""
        self.flush()
        now = now_us if now_us is not None else _now_us()
        rows = self._recent_rows(site_id, visitor_id, now - days * _DAY_US, now + 1)
        if not rows:
            return None
        return visitor_context(visitor_id, rows, now)

    def _recent_rows(self, site_id: str, visitor_id: str, since_us: int, until_us: int) -> list[dict[str, Any]]:
        """The visitor's events in [since_us, until_us), oldest first; when there are more than
        MAX_EVENTS, only the MAX_EVENTS most recent (the ones that say what they do now)."""
        base = EventQuery(site_id=site_id, visitor_id=visitor_id, since_us=since_us, until_us=until_us)
        first = self.store.query_events(replace(base, limit=MAX_EVENTS))
        if first.next_after is None:
            return first.rows  # the usual case: one query
        # The store pages oldest first, so reading on from here would keep the oldest. Walk
        # back from the end instead, in slices that double, until MAX_EVENTS are kept: the
        # rows read stay within about twice what is kept unless one slice is very dense.
        slices: list[list[dict[str, Any]]] = []  # newest slice first
        kept = 0
        hi, span = until_us, _FIRST_SLICE_US
        while hi > since_us and kept < MAX_EVENTS:
            lo = max(since_us, hi - span)
            tail = deque(self._scan(replace(base, since_us=lo, until_us=hi)), maxlen=MAX_EVENTS - kept)
            slices.append(list(tail))
            kept += len(tail)
            hi, span = lo, span * 2
        return [row for chunk in reversed(slices) for row in chunk]

    def _scan(self, query: EventQuery) -> Iterator[dict[str, Any]]:
        """Every row of `query`, oldest first, a page at a time."""
        after = None
        while True:
            page = self.store.query_events(replace(query, after=after, limit=_PAGE))
            yield from page.rows
            if page.next_after is None:
                return
            after = page.next_after


def _now_us() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1_000_000)


# -- the fold ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Product:
    product_id: str
    last_us: int
    name: str | None = None
    views: int = 0
    pages: list[dict[str, Any]] = field(default_factory=list)  # its views' recentPages entries
    status: str | None = None  # the latest product_status, reported at status_us
    status_us: int = 0


@dataclass(slots=True)
class _CartLine:
    product_id: str
    name: str | None
    category: str | None
    quantity: int
    changed_us: int


def visitor_context(visitor_id: str, rows: Iterable[dict[str, Any]], now_us: int) -> dict[str, Any]:
    """The context of a visitor from their stored rows (the store's row dicts, oldest first).

    Everything is computed from the rows given (the window read), so "sessions", "cart"
    and "firstSeen" cover that window only. Lists are newest first and capped:
    recentPages 10, products 10 (most recently seen), searches 10, filters 10,
    stockIssues 10, intents 10 (each with at most 10 evidence events), conversations 10,
    cart 50. Strings the visitor sent come back verbatim; only the summary clips them.

    - customerId / traits: the latest identify event's customerId; traits merged, later wins.
    - firstSeen / lastSeen / sessions / currentSession: from the visitor's own events
      (the engine's `decision` events are not visitor activity).
    - recentPages[].dwellSeconds: the largest dwell reported for that URL in that session
      after the view and before the URL's next view (the browser SDK reports a growing
      total), else null.
    - products: seen in a page view, a product_status or a cart action; dwellSeconds is
      the sum of their views' dwell; status the latest product_status.
    - cart: add +1, remove -1 per productId, never below 0 (an add before the window may
      be missing); lines with quantity > 0, most recently changed first.
    - stockIssues: products whose latest product_status is not in_stock.
    - intents: the engine's decisions; status is the page's latest `offer` status for the
      offer, evidence the decision's event ids found among the rows (others are left out).
    - conversations: chat.started, or a `conversation` event with used=true.
    """
    rows = sorted(rows, key=lambda r: (r["ts"], r["event_id"]))  # the store's order, made sure
    by_id: dict[str, dict[str, Any]] = {}
    customer_id: str | None = None
    traits: dict[str, Any] = {}
    first_us: int | None = None
    last_us: int | None = None
    sessions: set[str] = set()
    current_session: str | None = None
    pages: list[dict[str, Any]] = []
    open_views: dict[tuple[str | None, str], dict[str, Any]] = {}  # (session, url) -> its latest view
    products: dict[str, _Product] = {}
    viewed_products: list[str] = []  # product ids in view order, for "back and forth"
    cart: dict[str, _CartLine] = {}
    searches: list[dict[str, Any]] = []
    filters: list[dict[str, Any]] = []
    decisions: list[tuple[dict[str, Any], int]] = []
    offer_status: dict[str, str] = {}
    conversations: dict[str, int] = {}

    def product(product_id: str, ts: int) -> _Product:
        found = products.get(product_id)
        if found is None:
            found = products[product_id] = _Product(product_id, ts)
        found.last_us = max(found.last_us, ts)
        return found

    for row in rows:
        kind, ts, data = row["type"], row["ts"], event_data(row)
        by_id[str(row["event_id"])] = row
        if kind not in SERVER_ONLY_TYPES:
            first_us = ts if first_us is None else first_us
            last_us = ts
            if row.get("session_id"):
                sessions.add(row["session_id"])
                current_session = row["session_id"]
        if kind == "identify":
            customer_id = _text(data.get("customerId")) or customer_id
            if isinstance(data.get("traits"), dict):
                traits.update(data["traits"])
        elif kind == "page_view":
            product_id = _text(data.get("productId"))
            page = {
                "url": data.get("url"),
                "pageType": data.get("pageType"),
                "productId": product_id,
                "at": iso(ts),
                "dwellSeconds": None,
            }
            pages.append(page)
            if product_id:
                seen = product(product_id, ts)
                seen.views += 1
                seen.pages.append(page)
                viewed_products.append(product_id)
            open_views[(row.get("session_id"), str(data.get("url")))] = page
        elif kind == "dwell":
            viewed = open_views.get((row.get("session_id"), str(data.get("url"))))
            seconds = data.get("durationSeconds")
            if viewed is not None and isinstance(seconds, (int, float)):
                viewed["dwellSeconds"] = seconds if viewed["dwellSeconds"] is None else max(viewed["dwellSeconds"], seconds)
        elif kind == "product_status":
            product_id = _text(data.get("productId"))
            if product_id:
                seen = product(product_id, ts)
                seen.status = _text(data.get("status"))
                seen.status_us = ts
        elif kind == "cart_action":
            product_id = _text(data.get("productId"))
            if product_id:
                seen = product(product_id, ts)
                seen.name = _text(data.get("productName")) or seen.name
                line = cart.get(product_id) or _CartLine(product_id, None, None, 0, ts)
                line.name = _text(data.get("productName")) or line.name
                line.category = _text(data.get("category")) or line.category
                line.quantity = max(0, line.quantity + (1 if data.get("action") == "add" else -1))
                line.changed_us = ts
                cart[product_id] = line
        elif kind == "search_event":
            searches.append({"query": data.get("query"), "at": iso(ts)})
        elif kind == "filter_usage":
            filters.append(
                {
                    "category": data.get("category"),
                    "filterType": data.get("filterType"),
                    "filterValue": data.get("filterValue"),
                    "at": iso(ts),
                }
            )
        elif kind == "decision":
            decisions.append((data, ts))
        elif kind == "offer":
            offer_id, status = _text(data.get("offerId")), _text(data.get("status"))
            if offer_id and status:
                offer_status[offer_id] = status
        elif kind == "chat.started" or (kind == "conversation" and data.get("used") is True):
            conversation_id = _text(row.get("interaction_id"))
            if conversation_id and conversation_id not in conversations:
                conversations[conversation_id] = ts

    in_cart = {line.product_id for line in cart.values() if line.quantity > 0}
    product_list = [
        {
            "productId": p.product_id,
            "productName": p.name,
            "views": p.views,
            "dwellSeconds": round(sum(v["dwellSeconds"] or 0 for v in p.pages), 3),
            "status": p.status,
            "inCart": p.product_id in in_cart,
        }
        for p in sorted(products.values(), key=lambda p: p.last_us, reverse=True)
    ]
    cart_list = [
        {"productId": c.product_id, "productName": c.name, "category": c.category, "quantity": c.quantity}
        for c in sorted(cart.values(), key=lambda c: c.changed_us, reverse=True)
        if c.quantity > 0
    ]
    stock_issues = [
        {"productId": p.product_id, "status": p.status, "at": iso(p.status_us)}
        for p in sorted(products.values(), key=lambda p: p.status_us, reverse=True)
        if p.status is not None and p.status != "in_stock"
    ]
    intents = [
        _intent(data, ts, offer_status, by_id) for data, ts in reversed(decisions[-MAX_INTENTS:])
    ]
    conversation_list = [
        {"conversationId": cid, "at": iso(ts)}
        for cid, ts in sorted(conversations.items(), key=lambda item: item[1], reverse=True)
    ]
    context: dict[str, Any] = {
        "visitorId": visitor_id,
        "customerId": customer_id,
        "traits": traits,
        "firstSeen": iso(first_us) if first_us is not None else None,
        "lastSeen": iso(last_us) if last_us is not None else None,
        "sessions": len(sessions),
        "currentSession": current_session,
        "recentPages": pages[::-1][:MAX_PAGES],
        "products": product_list[:MAX_PRODUCTS],
        "cart": cart_list[:MAX_CART],
        "searches": searches[::-1][:MAX_SEARCHES],
        "filters": filters[::-1][:MAX_FILTERS],
        "stockIssues": stock_issues[:MAX_STOCK_ISSUES],
        "intents": intents,
        "conversations": conversation_list[:MAX_CONVERSATIONS],
    }
    context["summary"] = summarize(context, viewed_products, last_us, now_us)
    return context


def _intent(
    data: dict[str, Any], ts: int, offer_status: dict[str, str], by_id: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    offer_id = _text(data.get("offerId"))
    raw = data.get("evidence")
    ids = [raw] if isinstance(raw, str) else [i for i in raw if isinstance(i, str)] if isinstance(raw, list) else []
    evidence = []
    for event_id in ids:
        row = by_id.get(event_id)
        if row is not None:
            evidence.append({"type": row["type"], "at": iso(row["ts"]), "summary": describe(row)})
    return {
        "skill": data.get("skill"),
        "decision": data.get("decision"),
        "reason": data.get("reason"),
        "message": data.get("message"),
        "at": iso(ts),
        "offerId": offer_id,
        "status": offer_status.get(offer_id) if offer_id else None,
        "evidence": evidence[:MAX_EVIDENCE],
    }


def describe(row: dict[str, Any]) -> str:
    """A short human line for one event, e.g. "page_view /products/sony-wh1000xm5"."""
    kind, data = row["type"], event_data(row)
    if kind in ("page_view", "dwell"):
        text = f"{kind} {_path(str(data.get('url', '')))}"
        if kind == "dwell" and isinstance(data.get("durationSeconds"), (int, float)):
            text += f" {data['durationSeconds']:g}s"
        return text
    if kind == "search_event":
        return f"search {_quote(data.get('query'))}"
    if kind == "filter_usage":
        return f"filter {_clip(data.get('filterType'))}={_clip(data.get('filterValue'))}"
    if kind == "cart_action":
        return f"cart {data.get('action')} {_clip(data.get('productName') or data.get('productId'))}"
    if kind == "product_status":
        return f"product_status {_clip(data.get('productId'))} {_clip(data.get('status'))}"
    if kind == "identify":
        return f"identify {_clip(data.get('customerId'))}"
    return kind


def summarize(context: dict[str, Any], viewed_products: list[str], last_us: int | None, now_us: int) -> str:
    """One paragraph an LLM can read as is, at most SUMMARY_CHARS characters: the most
    telling sentences first, and whole sentences only."""
    names = {p["productId"]: p["productName"] or p["productId"] for p in context["products"]}
    sentences: list[str] = []
    count = context["sessions"]
    opening = f"Returning visitor ({count} sessions)" if count > 1 else "Single session"
    if context["customerId"]:
        opening += f", known customer {_clip(context['customerId'])}"
    if last_us is not None:
        opening += f", last active {_ago(now_us - last_us)}"
    sentences.append(opening + ".")
    recent = _distinct(reversed(viewed_products))[:3]
    if recent:
        shown = [_clip(names.get(pid, pid)) for pid in reversed(recent)]
        text = "Viewed " + _join(shown)
        if _back_and_forth(viewed_products):
            text += ", back and forth"
        sentences.append(text + ".")
    if context["cart"]:
        items = sum(line["quantity"] for line in context["cart"])
        listed = [
            _clip(line["productName"] or line["productId"]) + (f" x{line['quantity']}" if line["quantity"] > 1 else "")
            for line in context["cart"][:3]
        ]
        sentences.append(f"Cart: {items} item{'s' if items != 1 else ''} ({', '.join(listed)}).")
    if context["searches"]:
        queries = _distinct(_quote(s["query"]) for s in context["searches"])[:3]
        sentences.append(f"Searched {_join(queries)}.")
    if context["filters"]:
        used = _distinct(f"{_clip(f['filterType'])}={_clip(f['filterValue'])}" for f in context["filters"])[:3]
        sentences.append(f"Filtered by {_join(used)}.")
    if context["stockIssues"]:
        issues = [f"{_clip(i['productId'])} ({_clip(i['status'])})" for i in context["stockIssues"][:3]]
        sentences.append(f"Saw unavailable: {_join(issues)}.")
    if context["intents"]:
        shown = []
        for intent in context["intents"][:3]:
            state = str(intent["decision"]) + (f", {intent['status']}" if intent["status"] else "")
            shown.append(f"{_clip(intent['skill'])} ({state})")
        sentences.append(f"Detected intents: {', '.join(shown)}.")
    if context["conversations"]:
        n = len(context["conversations"])
        sentences.append(f"Chatted before ({n} conversation{'s' if n != 1 else ''}).")
    out = ""
    for sentence in sentences:
        if len(out) + 1 + len(sentence) > SUMMARY_CHARS:
            break
        out = f"{out} {sentence}" if out else sentence
    return out


def _back_and_forth(viewed: list[str]) -> bool:
    """Came back to a product after viewing another one: comparing."""
    left: set[str] = set()
    previous = None
    for product_id in viewed:
        if product_id != previous:
            if product_id in left:
                return True
            if previous is not None:
                left.add(previous)
            previous = product_id
    return False


def _ago(delta_us: int) -> str:
    seconds = max(0, delta_us) // 1_000_000
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86_400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86_400} d ago"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _clip(value: Any) -> str:
    text = str(value) if value is not None else "?"
    return text if len(text) <= _CLIP else text[: _CLIP - 1] + "…"


def _quote(value: Any) -> str:
    return f"'{_clip(value)}'"


def _path(url: str) -> str:
    """The path of a URL (the host is the site's own, so it says nothing), clipped."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return _clip(rest[slash:] if slash >= 0 else "/")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _distinct(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
