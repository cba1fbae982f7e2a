"""`chatlens demo`: weeks of realistic traffic for the demo shop, through the real pipeline.

What a person on a fresh clone needs to see a meaningful dashboard (docs/demo-data.md):

- visitors with one to four visits over the last D days, more in the afternoon and
  evening and fewer at weekends, on desktops, phones and tablets, in seven languages;
  some of them `identify` with traits (plan, segment);
- the shop's pages (catalog.py, at their /demo URLs) with reference 000's behaviour
  events, each visit shaped by an archetype so that every skill of the intent engine has
  visitors to act on (comparison A-B-A, a long read, an out-of-stock product, a price
  sort low to high, a cart add followed by a search for a complement), and purchases
  (`custom` "purchase", one of the engine's outcomes);
- the chat widget (001, 002): CHAT_LOADED / chat.ready and CHAT_VISIBLE on page loads,
  chats that follow each of 002's four scenarios with the SDK's metadata blocks, queue
  waits of seconds to minutes, agents joining and chats ending;
- an agent backend (003, 004): `conversation` events (initialized and used), messages
  with text, attachments, session logs whose data keys make the results vary, ratings of
  contents with rate codes and comments; and chats from a mobile app;
- the page's answers to the engine's offers: shown, then accepted (a proactive chat),
  dismissed, opted out or ignored; visitors who were offered convert a little more
  often, so the intents report shows a lift over the holdout.

Nothing is written to the store directly. Every batch goes through `Ingestor.ingest`
(a browser: public key, user agent, language, address) or `Ingestor.ingest_server` (the
agent backend, as its secret key authenticates it) exactly as an HTTP request would,
with the simulated time as its receive time and `sent_at` equal to the send time, so
validation, dedupe, enrichment, the intent engine and the journal all do their real
work and skew correction leaves the times alone. A batch the pipeline refuses any part
of is a bug here: `DemoDataError`.

A visit is a generator (`VisitSim`): it yields a batch, gets the pipeline's answer back
(the engine's decisions, offers and check-in time) and only then makes its next batch,
as a page would. The engine keeps its state per session and per visitor, so one
visitor's batches are fed strictly in time order, visit after visit; visits are taken in
order of their start time and up to `CONCURRENCY` are in flight at once, so that their
batches share journal syncs (one at a time, a batch waits for its own fdatasync).

The traffic (visitors, visits, pages, chats, answers to offers) depends only on the seed,
the number of visitors and days, and the day the period ends; event ids are fresh UUIDv7s
on every run, so running again adds to the data instead of being dropped as duplicates.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import quote_plus

import orjson

from chatlens.api.app import Services, build_services
from chatlens.config import Settings
from chatlens.demo.catalog import ARTICLES, CATEGORIES, CATEGORY_BY_SLUG, PRODUCT_BY_ID, Article, Product, search
from chatlens.demo.pages import article_href, tracked_category
from chatlens.ingest.pipeline import Batch, IncomingBatch
from chatlens.store.base import CreatedSite, EventStore, Site
from chatlens.store.writer import recover

DEMO_SITE = "Demo shop"
SHOP = "http://localhost:8000"  # where `chatlens serve` puts the shop: its pages' URLs
INSTANCE = "chatlens-demo"  # the reference widget's chatInstanceName (static/widget.js)
AGENT_BACKEND_UA = "chatlens-client/0.1 (demo agent backend)"
CONCURRENCY = 512  # visits in flight at once

SECOND = 1000  # the simulation counts milliseconds
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
VISIT_GAP = 3 * HOUR  # a visitor's visits start at least this far apart
MAX_VISIT = 100 * MINUTE  # a visit stops wandering after this long (and ends before now)
DWELL_STEPS = (15, 30, 60, 120, 300)  # the SDK reports dwell at these seconds (docs/sdk.md)

META_FIELDS = (
    "proactive", "prefilled", "autoSubmitted", "coBrowseInitiated", "filesUploaded", "numAgents",
    "userMessages", "agentMessages", "systemMessages", "errors", "form", "opened", "started", "cancelled",
    "rejected", "completed", "closed", "agentReached", "supervisorReached", "elapsed", "waitingForAgent",
)

# -- who visits ------------------------------------------------------------------------

USER_AGENTS: dict[str, tuple[str, ...]] = {
    "desktop": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
    "mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    ),
    "tablet": (
        "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; Lenovo TB-J616F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
}
DEVICE_WEIGHTS = {"desktop": 0.52, "mobile": 0.38, "tablet": 0.10}

# (Accept-Language header, the language tag an agent backend reports, weight)
LANGUAGES: tuple[tuple[str, str, float], ...] = (
    ("en-US,en;q=0.9", "en-US", 0.40),
    ("en-GB,en;q=0.9", "en-GB", 0.10),
    ("de-DE,de;q=0.9,en;q=0.8", "de-DE", 0.16),
    ("fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr-FR", 0.13),
    ("es-ES,es;q=0.9,en;q=0.6", "es-ES", 0.11),
    ("nl-NL,nl;q=0.9,en;q=0.8", "nl-NL", 0.05),
    ("it-IT,it;q=0.9,en;q=0.5", "it-IT", 0.05),
)

# Relative traffic by UTC hour (quiet at night, highest in the evening) and by weekday
# (Monday first; weekends are quieter for this shop).
HOUR_WEIGHTS = (0.25, 0.18, 0.12, 0.10, 0.10, 0.14, 0.25, 0.45, 0.65, 0.80, 0.90, 0.95,
                1.00, 1.00, 1.05, 1.10, 1.20, 1.35, 1.50, 1.60, 1.55, 1.30, 0.90, 0.50)
WEEKDAY_WEIGHTS = (1.00, 1.02, 1.00, 0.98, 0.92, 0.72, 0.78)

# What a visit is about. The intent archetypes are shaped so that a skill of the shipped
# skills file qualifies (docs/engagement.md); the others give ordinary traffic.
ARCHETYPES: tuple[tuple[str, int], ...] = (
    ("bounce", 14), ("browse", 25), ("comparison", 13), ("research", 10), ("out_of_stock", 10),
    ("value", 12), ("bundle", 10), ("searcher", 6),
)
# Visitor-initiated chats, per 100 visits, by reference 002's scenario.
CHAT_DECK: tuple[tuple[str, int], ...] = (
    ("completed", 4), ("gave_up_waiting", 3), ("changed_mind", 2), ("failed_to_start", 1),
)

# -- what they see and say -------------------------------------------------------------

COMPARE_PAIRS = (("hp-aurora", "hp-aurora-pro"), ("hood-60", "hood-90"), ("stove-2b", "stove-4b"),
                 ("ac-window", "ac-split"), ("hp-aurora-pro", "hp-studio"), ("stove-4b", "stove-5b"))
OUT_OF_STOCK = tuple(p for p in PRODUCT_BY_ID.values() if not p.in_stock)
ALTERNATIVE = {"stove-5b": "stove-4b", "ac-split": "ac-window"}
# A cart item and searches for something that goes with it (the bundle skill's complements).
BUNDLES = (
    (("stove-2b", "stove-4b"), ("range hood", "hood", "extractor", "range hood 90", "cookware")),
    (("hp-aurora", "hp-aurora-pro", "hp-studio"), ("headphone case", "headphone stand", "adapter")),
)
SEARCHES = ("wireless headphones", "gas stove", "air conditioner", "aircon", "noise cancelling", "oven",
            "range hood", "dishwasher", "cooktop", "wired headphones")

# (topic, question, content id, answer); "{product}" is the product on the page.
FAQ: tuple[tuple[str, str, str, str], ...] = (
    ("delivery", "How long does delivery take?", "faq-delivery-times",
     "Standard delivery takes 2 to 4 working days; express arrives the next working day."),
    ("delivery", "Do you deliver on Saturdays?", "faq-delivery-times",
     "Yes, Saturday delivery is available in most areas for a small fee."),
    ("returns", "Can I return an item if it doesn't fit my kitchen?", "faq-returns-policy",
     "You can return any item within 30 days, unused and in its box; we collect it for free."),
    ("warranty", "What warranty comes with the appliances?", "faq-warranty",
     "Every appliance has a 2-year warranty; stoves and hoods can be extended to 5 years."),
    ("installation", "Do you install range hoods?", "faq-installation",
     "Yes: our partner installs hoods and stoves for $89, bookable at checkout."),
    ("payment", "Can I pay in instalments?", "faq-payment-options",
     "Orders over $300 can be split into 3 or 6 monthly payments."),
    ("orders", "Where is my order?", "faq-order-tracking",
     "You can follow your order with the link in your confirmation email."),
    ("gas", "Can the stove run on propane?", "faq-gas-conversion",
     "All Flamecraft stoves ship with a propane conversion kit."),
    ("cooling", "What size air conditioner do I need for my bedroom?", "faq-ac-room-size",
     "About 600 BTU per square metre: the 8,000 BTU window unit suits rooms up to 20 m²."),
    ("hoods", "How wide should my range hood be?", "guide-range-hood-sizing",
     "At least as wide as your cooktop, wider over an island: our buying guide has the details."),
    ("compare", "What's the difference between the Aurora and the Aurora Pro?", "guide-aurora-comparison",
     "The Pro adds adaptive noise cancelling, multipoint and 10 more hours of battery."),
    ("stock", "When will the {product} be back in stock?", "faq-restock",
     "New stock is expected in about two weeks; we can email you when it is back."),
)
FAQ_BY_TOPIC: dict[str, list[tuple[str, str, str, str]]] = {}
for _faq in FAQ:
    FAQ_BY_TOPIC.setdefault(_faq[0], []).append(_faq)
TOPICS_BY_ARCHETYPE = {
    "comparison": ("compare", "hoods", "warranty"), "research": ("hoods", "cooling", "installation"),
    "out_of_stock": ("stock", "stock", "delivery"), "value": ("payment", "delivery", "returns"),
    "bundle": ("installation", "hoods", "delivery"),
}
USER_FOLLOW_UPS = (
    "Is it available in white?", "How much is shipping to my area?", "Can I get it before the weekend?",
    "Does it come with a warranty?", "OK, and can I pay with PayPal?", "Could you send me the spec sheet?",
    "Is there a discount if I buy two?", "Will it fit a 60 cm cabinet?", "How loud is it on the highest setting?",
    "Great, thanks!", "Can I collect it from a store?",
)
AGENT_REPLIES = (
    "Let me check that for you.", "Yes, it is, and it ships from our warehouse tomorrow.",
    "Shipping is free on orders over $100.", "It comes with a 2-year warranty, extendable to 5.",
    "I've sent the spec sheet to your email.", "With two items I can give you 10% off today.",
    "It fits a standard 60 cm cabinet, yes.", "About 52 dB at full speed: quieter than a conversation.",
    "You're welcome! Anything else I can help with?", "I can reserve one for you at checkout.",
)
AGENTS = ("Sam", "Maria", "Tom", "Aisha", "Lukas")
FIRST_NAMES = ("Alex", "Jordan", "Sam", "Charlie", "Robin", "Lea", "Max", "Nina", "Jonas", "Emma", "Lucas", "Mia")
NEGATIVE_COMMENTS = ("That didn't answer my question.", "Too generic.", "I wanted to talk to a person.",
                     "The answer was about a different model.")
POSITIVE_COMMENTS = ("Very helpful, thank you!", "Quick and friendly.", "Sorted in two minutes.")
REJECT_CODES = ("no_agents_available", "chat_server_unavailable", "session_expired")


class DemoDataError(RuntimeError):
    """The pipeline refused part of a generated batch: the generator made invalid data."""


# -- the plan: who visits when ---------------------------------------------------------


@dataclass(slots=True)
class Visitor:
    index: int
    visitor_id: str
    device: str
    user_agent: str
    accept_language: str
    language: str
    ip: str
    customer_id: str | None = None
    first_name: str | None = None
    plan: str | None = None
    identify_from: int = 0  # the visit number from which the visitor is logged in


@dataclass(slots=True)
class Visit:
    visitor: Visitor
    number: int  # 0: the visitor's first visit
    start_ms: int
    kind: str  # an archetype, or "app": a chat in the mobile app (agent backend only)
    chat: str | None = None  # a visitor-initiated chat planned in this visit: a 002 scenario
    session_id: str = ""
    previous: Visit | None = None  # the same visitor's visit before this one
    done: asyncio.Event | None = None


def plan_visits(visitors: int, days: int, seed: int, now_ms: int) -> list[Visit]:
    """Every visit of the demo traffic, in order of start time. Deterministic for the same
    arguments and the same day of `now_ms - 2h` (the last day of the period)."""
    rng = random.Random(f"chatlens-demo/{seed}")
    latest = now_ms - 2 * HOUR  # every visit starts before this, so all of it is in the past
    day0 = (latest // DAY - (days - 1)) * DAY
    slots = [(day0 + d * DAY + h * HOUR) for d in range(days) for h in range(24)]
    weights = [WEEKDAY_WEIGHTS[((day0 // DAY) + d + 3) % 7] * HOUR_WEIGHTS[h]  # 1970-01-01 was a Thursday
               for d in range(days) for h in range(24)]
    cumulative = _cumulative(weights)

    def visit_time() -> int:
        start = rng.choices(slots, cum_weights=cumulative)[0] + rng.randrange(HOUR)
        if start > latest:  # later today than the period allows: the same hour a week (or a day) before
            back = 7 * DAY if start - 7 * DAY >= day0 else DAY
            start = start - back if start - back >= day0 else day0 + (start - day0) * (latest - day0) // DAY
        return start

    devices, device_weights = list(DEVICE_WEIGHTS), list(DEVICE_WEIGHTS.values())
    planned: list[Visit] = []
    for i in range(visitors):
        device = rng.choices(devices, device_weights)[0]
        accept, language, _ = rng.choices(LANGUAGES, [w for *_, w in LANGUAGES])[0]
        visitor = Visitor(
            index=i,
            visitor_id=f"v_{hashlib.blake2b(f'{seed}/{i}'.encode(), digest_size=8).hexdigest()}",
            device=device,
            user_agent=rng.choice(USER_AGENTS[device]),
            accept_language=accept,
            language=language,
            ip=_private_ip(rng),
        )
        count = rng.choices((1, 2, 3, 4), (50, 25, 15, 10))[0]
        if rng.random() < 0.35:
            visitor.customer_id = f"cust-{10000 + i}"
            visitor.first_name = rng.choice(FIRST_NAMES)
            visitor.plan = "pro" if rng.random() < 0.3 else "free"
            visitor.identify_from = 0 if rng.random() < 0.5 or count == 1 else 1
        kept: list[int] = []
        for start in sorted(visit_time() for _ in range(count)):
            if not kept or start - kept[-1] >= VISIT_GAP:
                kept.append(start)
        previous = None
        for number, start in enumerate(kept):
            visit = Visit(visitor, number, start, kind="")
            visit.previous, previous = previous, visit
            planned.append(visit)
    # Mobile-app chats: an agent backend reports them, no browser is involved.
    for j in range(max(1, visitors // 25)):
        language = rng.choices(LANGUAGES, [w for *_, w in LANGUAGES])[0][1]
        app_user = Visitor(j, f"app_{hashlib.blake2b(f'{seed}/app/{j}'.encode(), digest_size=8).hexdigest()}",
                           rng.choice(("mobile", "mobile", "tablet")), "", "", language, _private_ip(rng))
        planned.append(Visit(app_user, 0, visit_time(), kind="app"))
    planned.sort(key=lambda v: (v.start_ms, v.visitor.visitor_id))
    # Archetypes and planned chats from shuffled decks: a small run still gets every kind.
    archetypes = _Deck(rng, ARCHETYPES)
    chats = _Deck(rng, (*CHAT_DECK, (None, 100 - sum(n for _, n in CHAT_DECK))), front=40)
    for visit in planned:
        if visit.kind != "app":
            visit.kind = archetypes.draw()
            visit.chat = chats.draw()
        visit.session_id = f"s_{hashlib.blake2b(f'{seed}/{visit.visitor.visitor_id}/{visit.number}'.encode(), digest_size=8).hexdigest()}"
    return planned


class _Deck:
    """Draws without replacement from a shuffled deck of (item, copies), reshuffled when
    empty: proportions hold in every deck, not just on average. With `front`, the first
    deck deals one card of every item among its first `front` draws, so that a small run
    still has one of each."""

    def __init__(self, rng: random.Random, cards: Sequence[tuple[Any, int]], front: int = 0) -> None:
        self.rng = rng
        self.cards = [item for item, copies in cards for _ in range(copies)]
        self.deck: list[Any] = []
        if front:
            rest = list(self.cards)
            head = []
            for item, _ in cards:
                if item is not None:
                    rest.remove(item)
                    head.append(item)
            while len(head) < front and None in rest:
                rest.remove(None)
                head.append(None)
            rng.shuffle(head)
            rng.shuffle(rest)
            self.deck = (head + rest)[::-1]  # draws pop from the end

    def draw(self) -> Any:
        if not self.deck:
            self.deck = list(self.cards)
            self.rng.shuffle(self.deck)
        return self.deck.pop()


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def _private_ip(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if kind < 0.8:
        return f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return f"172.{rng.randrange(16, 32)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


# -- a visit, batch by batch ---------------------------------------------------------


@dataclass(slots=True)
class Send:
    """A batch to ingest: from the visitor's browser, or from the agent backend."""

    at_ms: int  # sent, received and the batch's receive time
    events: list[dict[str, Any]]
    server: bool = False


@dataclass(slots=True)
class Stats:
    visits: int = 0
    batches: int = 0
    events: int = 0  # rows stored: accepted events and the engine's decisions
    decisions: Counter[str] = field(default_factory=Counter)  # offered | held_out | blocked
    offers_shown: int = 0
    offer_answers: Counter[str] = field(default_factory=Counter)
    conversations: int = 0  # conversations used (a chat form submitted, or an app chat)
    agent_chats: int = 0  # chats an agent joined
    scenarios: Counter[str] = field(default_factory=Counter)
    purchases: int = 0
    first_ms: int | None = None
    last_ms: int | None = None


@dataclass(slots=True)
class Page:
    url: str
    page_type: str
    product: Product | None
    start_ms: int
    category: str | None = None  # the tracked category name of a category page


Flow = Generator[Send, Batch, None]


class VisitSim:
    """One visit as its browser and the agent backend see it: a generator of batches.

    `self.t` is the visitor's clock (epoch ms); every step moves it on. Browser events are
    queued with their own timestamps and leave in a batch when `flush` yields it (the
    SDK sends within a second); the answer comes back from the yield."""

    def __init__(self, visit: Visit, seed: int, stats: Stats) -> None:
        self.visit = visit
        self.visitor = visit.visitor
        self.rng = random.Random(f"chatlens-demo/{seed}/{visit.visitor.visitor_id}/{visit.number}")
        self.stats = stats
        self.t = visit.start_ms
        self.deadline = visit.start_ms + MAX_VISIT
        self.queue: list[dict[str, Any]] = []
        self.page: Page | None = None
        self.pages = 0
        self.meta: dict[str, Any] | None = None  # the widget's current interaction (002 block)
        self.chatting = False
        self.gone = False  # the visitor closed the tab mid-chat
        self.initialized = False  # the backend's initialize_conversation for this visit
        self.offers: list[dict[str, Any]] = []  # offers in answers, not yet handled
        self.check_in_at: int | None = None
        self.decision: str | None = None  # the visit's first offered / held-out decision
        self.answer: str | None = None  # what the visitor did with the offer
        self.cart: list[Product] = []
        self.chats = 0  # chats in this visit
        self.last_dwell_at = 0
        self.app_conversation = ""
        # The page (1st, 2nd, ...) of a planned visitor-initiated chat; 0 once it is done.
        self.chat_page = 1 if visit.kind == "bounce" else self.rng.choice((1, 2, 2, 3))

    # -- the visit ------------------------------------------------------------------

    def run(self) -> Flow:
        if self.visit.kind == "app":
            yield from self.app_chat()
            return
        yield from getattr(self, f"visit_{self.visit.kind}")()
        if not self.gone:
            yield from self.tail()
        if not self.gone:
            yield from self.exit()

    def visit_bounce(self) -> Flow:
        landing = self.rng.choice(("home", "category", "product", "blog"))
        yield from self.land(landing, stay=self.rng.uniform(3, 35))

    def visit_browse(self) -> Flow:
        yield from self.land(self.rng.choice(("home", "home", "category", "product", "blog")))
        for _ in range(self.rng.randint(1, 5)):
            if self.over():
                return
            yield from self.wander()

    def visit_comparison(self) -> Flow:
        a, b = (PRODUCT_BY_ID[p] for p in self.rng.choice(COMPARE_PAIRS))
        if self.rng.random() < 0.5:
            a, b = b, a
        if self.rng.random() < 0.6:
            yield from self.category(a.category)
        yield from self.product(a, stay=self.rng.uniform(25, 100))
        yield from self.product(b, stay=self.rng.uniform(20, 90))
        yield from self.product(a, stay=self.rng.uniform(15, 70))

    def visit_research(self) -> Flow:
        article = self.rng.choice(ARTICLES)
        yield from self.article(article, stay=self.rng.uniform(125, 420))
        if article.related and self.rng.random() < 0.8:
            yield from self.product(PRODUCT_BY_ID[self.rng.choice(article.related)])

    def visit_out_of_stock(self) -> Flow:
        item = self.rng.choice(OUT_OF_STOCK)
        if self.rng.random() < 0.5:
            yield from self.category(item.category)
        yield from self.product(item, stay=self.rng.uniform(22, 150))
        if self.rng.random() < 0.5:
            yield from self.product(PRODUCT_BY_ID[ALTERNATIVE[item.id]])

    def visit_value(self) -> Flow:
        slug = self.rng.choice(CATEGORIES).slug
        if self.rng.random() < 0.4:
            yield from self.home()
        yield from self.category(slug, stay=self.rng.uniform(20, 70),
                                 sort=("low_to_high", self.rng.uniform(3, 15)))
        options = sorted((p for p in PRODUCT_BY_ID.values() if p.category == slug), key=lambda p: p.price_cents)
        yield from self.product(options[0] if self.rng.random() < 0.7 else self.rng.choice(options))

    def visit_bundle(self) -> Flow:
        items, queries = self.rng.choice(BUNDLES)
        item = PRODUCT_BY_ID[self.rng.choice(items)]
        yield from self.product(item, stay=self.rng.uniform(25, 90), add_at=self.rng.uniform(10, 20))
        results = yield from self.search_page(self.rng.choice(queries))
        if results:
            yield from self.product(self.rng.choice(results))

    def visit_searcher(self) -> Flow:
        if self.rng.random() < 0.5:
            yield from self.home()
        results = yield from self.search_page(self.rng.choice(SEARCHES))
        if results:
            yield from self.product(self.rng.choice(results))

    def land(self, kind: str, stay: float | None = None) -> Flow:
        if kind == "home":
            yield from self.home(stay)
        elif kind == "category":
            yield from self.category(self.rng.choice(CATEGORIES).slug, stay=stay)
        elif kind == "product":
            yield from self.product(self.rng.choice(list(PRODUCT_BY_ID.values())), stay=stay)
        else:
            yield from self.article(self.rng.choice(ARTICLES), stay=stay)

    def wander(self) -> Flow:
        """One more page, from where the visitor is."""
        page, r = self.page, self.rng.random()
        kind = page.page_type if page is not None else "home"
        if kind == "product" and page is not None and page.product is not None:
            here = page.product
            same = [p for p in PRODUCT_BY_ID.values() if p.category == here.category and p.id != here.id]
            if r < 0.4 and same:
                yield from self.product(self.rng.choice(same))
            elif r < 0.65:
                yield from self.category(here.category)
            elif r < 0.8:
                yield from self.search_page(self.rng.choice(SEARCHES))
            else:
                yield from self.home()
        elif kind == "category" and page is not None and page.category is not None:
            slug = next(c.slug for c in CATEGORIES if tracked_category(c) == page.category)
            if r < 0.75:
                yield from self.product(self.rng.choice([p for p in PRODUCT_BY_ID.values() if p.category == slug]))
            else:
                yield from self.category(self.rng.choice(CATEGORIES).slug)
        elif kind in ("blog", "guide"):
            related = next((a.related for a in ARTICLES if page is not None and page.url.endswith(a.slug)), ())
            if r < 0.6 and related:
                yield from self.product(PRODUCT_BY_ID[self.rng.choice(related)])
            else:
                yield from self.category(self.rng.choice(CATEGORIES).slug)
        else:  # home, search
            if r < 0.65:
                yield from self.category(self.rng.choice(CATEGORIES).slug)
            elif r < 0.8:
                yield from self.article(self.rng.choice(ARTICLES))
            else:
                yield from self.search_page(self.rng.choice(SEARCHES))

    def tail(self) -> Flow:
        """The rest of the visit: maybe more pages, a cart, a purchase. Visitors who saw an
        offer (and above all those who accepted it) buy a little more often than those
        the engine held out, so the intents report has a lift to show. (An accepted offer
        also converts through its chat: a completed chat is one of the engine's outcomes.)"""
        rng = self.rng
        add_boost = buy_boost = 0.0
        if self.decision == "offered" and self.answer == "accepted":
            add_boost, buy_boost = 0.08, 0.08
        elif self.decision == "offered" and self.answer is not None and self.answer != "opted_out":
            add_boost, buy_boost = 0.03, 0.02
        kind = self.visit.kind
        if kind != "bounce":
            for _ in range(rng.choice((0, 0, 1, 1, 2))):
                if self.over():
                    break
                yield from self.wander()
        if self.gone:
            return
        base = {"bounce": 0.03, "browse": 0.20, "comparison": 0.32, "research": 0.20, "out_of_stock": 0.22,
                "value": 0.30, "bundle": 0.38, "searcher": 0.24}[kind]
        if rng.random() < base + add_boost and not self.over():
            here = self.page.product if self.page is not None else None
            if here is None or not here.in_stock or here in self.cart:
                here = rng.choice([p for p in PRODUCT_BY_ID.values() if p.in_stock and p not in self.cart])
                yield from self.product(here, stay=rng.uniform(15, 60))
            yield from self.add_to_cart(here)
        if self.cart and rng.random() < 0.12:
            self.wait(rng.uniform(5, 40))
            yield from self.remove_from_cart(self.cart[-1])
        if self.pending_chat() and not self.over():
            yield from self.chat(self.visit.chat, topic=self.topic())
            if self.gone:
                return
        if self.cart and rng.random() < 0.35 + buy_boost:
            yield from self.purchase()
        if rng.random() < 0.03 and self.page is not None:
            self.wait(rng.uniform(3, 20))
            self.track("custom", name="newsletter_signup", properties={"source": "footer"})
            yield from self.flush()

    def exit(self) -> Flow:
        """The visitor leaves: the SDK sends the last page's dwell as the page hides."""
        if self.pending_chat():
            yield from self.chat(self.visit.chat, topic=self.topic())
        self.leave_page()
        yield from self.flush(0.05)

    def over(self) -> bool:
        return self.gone or self.t > self.deadline

    # -- pages ----------------------------------------------------------------------

    def home(self, stay: float | None = None) -> Flow:
        yield from self.view(f"{SHOP}/demo", "home", stay=stay or self.rng.uniform(4, 30))

    def category(self, slug: str, stay: float | None = None, sort: tuple[str, float] | None = None) -> Flow:
        name = tracked_category(CATEGORY_BY_SLUG[slug])
        actions: list[tuple[float, Callable[[], Flow]]] = []
        if sort is None and self.rng.random() < 0.15:
            sort = (self.rng.choice(("high_to_low", "high_to_low", "low_to_high")), self.rng.uniform(4, 20))
        if sort is not None:
            how, at = sort
            actions.append((at, lambda: self.sort(name, how)))
        yield from self.view(f"{SHOP}/demo/category/{slug}", "category", stay=stay or self.rng.uniform(8, 60),
                             actions=actions, category=name)

    def product(self, item: Product, stay: float | None = None, add_at: float | None = None) -> Flow:
        actions: list[tuple[float, Callable[[], Flow]]] = []
        if add_at is not None and item.in_stock:
            actions.append((add_at, lambda: self.add_to_cart(item)))
        stay = stay or min(240.0, self.rng.lognormvariate(3.6, 0.6))  # median ~37 s
        yield from self.view(f"{SHOP}/demo/product/{item.id}", "product", product=item, stay=stay, actions=actions)

    def article(self, item: Article, stay: float | None = None) -> Flow:
        stay = stay or self.rng.uniform(15, 110)
        yield from self.view(f"{SHOP}{article_href(item)}", item.kind, stay=stay)

    def search_page(self, query: str) -> Generator[Send, Batch, list[Product]]:
        results = search(query)
        yield from self.view(f"{SHOP}/demo/search?q={quote_plus(query)}", "search", stay=self.rng.uniform(5, 35),
                             query=query, results=results)
        return results

    def view(
        self,
        url: str,
        page_type: str,
        *,
        stay: float,
        product: Product | None = None,
        actions: Sequence[tuple[float, Callable[[], Flow]]] = (),
        category: str | None = None,
        query: str | None = None,
        results: Sequence[Product] = (),
    ) -> Flow:
        """Go to a page (the previous page's dwell leaves with its first batch, from the
        SDK's queue), load the widget, then stay: dwell reports at the SDK's steps and when
        the server asks to check in, the page's own actions, and the answers to offers."""
        if self.gone:
            return
        rng = self.rng
        self.leave_page()
        self.wait(rng.uniform(0.4, 2.5))
        self.page = page = Page(url, page_type, product, self.t, category)
        self.pages += 1
        self.check_in_at = None
        fields: dict[str, Any] = {"url": url, "pageType": page_type}
        if product is not None:
            fields["productId"] = product.id
        self.track("page_view", **fields)
        if query is not None:
            cats = {p.category for p in results}
            search_event: dict[str, Any] = {"query": query, "pageContext": url}
            if len(cats) == 1:
                search_event["categoryContext"] = tracked_category(CATEGORY_BY_SLUG[cats.pop()])
            self.track("search_event", **search_event)
        if product is not None:
            self.wait(rng.uniform(0.05, 0.4))
            self.track("product_status", productId=product.id, status=product.stock_status)
        visitor = self.visitor
        if visitor.customer_id and self.pages == 1 and self.visit.number >= visitor.identify_from:
            traits = {"plan": visitor.plan, "segment": "new" if self.visit.number == 0 else "returning",
                      "name": visitor.first_name}
            self.track("identify", customerId=visitor.customer_id, traits=traits)
        self.meta = None
        # The widget loads on most pages (always while this visit's planned chat is ahead).
        if rng.random() < 0.96 or (self.visit.chat is not None and self.chat_page):
            self.wait(rng.uniform(0.3, 1.5))
            self.meta = self.fresh_interaction()
            self.track("CHAT_LOADED", chatInstanceName=INSTANCE)
            self.stage("ready")
            if rng.random() < 0.92:
                self.track("CHAT_VISIBLE", chatInstanceName=INSTANCE)
        yield from self.flush()
        if self.meta is not None and not self.initialized:
            # The agent backend hears of the widget: 003's initialize_conversation.
            self.initialized = True
            yield from self.send_server([self.conversation_event(used=False, page_url=url)])
        yield from self.answer_offers()
        if self.pages == self.chat_page and self.visit.chat is not None:
            at = rng.uniform(6, 30)
            actions = [*actions, (at, lambda: self.chat(self.visit.chat, topic=self.topic()))]
            stay = max(stay, at + 2)
        yield from self.stay(page, stay * 1000, sorted(actions, key=lambda a: a[0]))

    def stay(self, page: Page, stay_ms: float, actions: list[tuple[float, Callable[[], Flow]]]) -> Flow:
        end = page.start_ms + stay_ms
        steps = list(DWELL_STEPS)
        while not self.gone:
            while steps and page.start_ms + steps[0] * SECOND <= self.t:
                steps.pop(0)  # passed during a chat or an offer: the next report covers it
            step_at = page.start_ms + steps[0] * SECOND if steps else None
            action_at = max(self.t, page.start_ms + int(actions[0][0] * SECOND)) if actions else None
            check_at = self.check_in_at if self.check_in_at is not None and self.check_in_at > self.t else None
            due = min((t for t in (step_at, action_at, check_at) if t is not None), default=None)
            if due is None or (due > end and due != action_at):  # what the visitor came to do is done, if late
                break
            self.t = due
            chats = self.chats
            if due == action_at:
                _, act = actions.pop(0)
                yield from act()
            elif due == check_at and self.t - self.last_dwell_at < 2 * SECOND:
                self.check_in_at = None  # a dwell report just went: nothing new to say
            else:
                if due == check_at:
                    self.check_in_at = None
                self.track("dwell", url=page.url, pageType=page.page_type,
                           durationSeconds=round((self.t - page.start_ms) / SECOND, 1))
                self.last_dwell_at = self.t
                yield from self.flush(0.1)
            yield from self.answer_offers()
            if self.chats != chats:  # after a chat, a look around the page before moving on
                end = max(end, self.t + self.rng.uniform(3, 25) * SECOND)
        if not self.gone:
            self.t = max(self.t, int(end))

    def leave_page(self) -> None:
        page = self.page
        if page is not None and not self.gone:
            self.track("dwell", url=page.url, pageType=page.page_type,
                       durationSeconds=round((self.t - page.start_ms) / SECOND, 1))
        self.page = None
        self.meta = None

    # -- page actions ---------------------------------------------------------------

    def sort(self, category: str, how: str) -> Flow:
        self.track("filter_usage", category=category, filterType="price", filterValue=how)
        yield from self.flush()

    def add_to_cart(self, item: Product) -> Flow:
        self.wait(self.rng.uniform(1, 8))
        self.track("cart_action", action="add", productId=item.id, productName=item.name,
                   category=tracked_category(CATEGORY_BY_SLUG[item.category]))
        self.cart.append(item)
        yield from self.flush()

    def remove_from_cart(self, item: Product) -> Flow:
        self.track("cart_action", action="remove", productId=item.id, productName=item.name,
                   category=tracked_category(CATEGORY_BY_SLUG[item.category]))
        self.cart.remove(item)
        yield from self.flush()

    def purchase(self) -> Flow:
        """Checkout (the shop has no checkout page: the event comes from the cart)."""
        self.wait(self.rng.uniform(30, 150))
        total = sum(p.price_cents for p in self.cart)
        self.track("custom", name="purchase", properties={
            "orderId": f"ord-{self.rng.randrange(10**6, 10**7)}", "value": round(total / 100, 2), "currency": "USD",
            "items": [p.id for p in self.cart]})
        self.stats.purchases += 1
        self.cart = []
        yield from self.flush()

    # -- offers ---------------------------------------------------------------------

    def answer_offers(self) -> Flow:
        """The widget shows each offer of the last answers, and the visitor answers it (or
        lets it expire). An accepted offer starts a proactive chat."""
        rng = self.rng
        while self.offers:
            offer = self.offers.pop(0)
            if self.meta is None or self.chatting or self.gone:
                continue  # no widget on this page, or busy: never shown (the engine sees it ignored)
            self.wait(rng.uniform(0.3, 1.5))
            self.track("offer", offerId=offer["id"], status="shown")
            yield from self.flush()
            self.stats.offers_shown += 1
            r = rng.random()
            answer = "accepted" if r < 0.12 else "dismissed" if r < 0.60 else "opted_out" if r < 0.63 else None
            self.answer = answer or "ignored"
            self.stats.offer_answers[self.answer] += 1
            if answer is None:
                continue  # the bubble expires after the offer's two minutes
            self.wait(rng.uniform(3, 45))
            self.track("offer", offerId=offer["id"], status=answer)
            if answer == "accepted":
                scenario = rng.choices(("completed", "gave_up_waiting", "changed_mind"), (80, 12, 8))[0]
                yield from self.chat(scenario, proactive=True, skill=offer.get("skill"), topic=self.topic())
            else:
                yield from self.flush()

    # -- chats (002 lifecycle, 001 widget events, 003/004 backend) -------------------

    def fresh_interaction(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"id": uuid7(self.t)}
        meta.update(dict.fromkeys(META_FIELDS, False))
        return meta

    def stage(self, name: str) -> None:
        assert self.meta is not None
        self.track(f"chat.{name}", metadata=dict(self.meta))  # a snapshot, as the SDK sends

    def widget(self, type_name: str) -> None:
        assert self.meta is not None
        self.track(type_name, contactId=self.meta["id"])

    def pending_chat(self) -> bool:
        return self.visit.chat is not None and self.pages < self.chat_page and not self.gone and not self.chatting

    def topic(self) -> str:
        topics = TOPICS_BY_ARCHETYPE.get(self.visit.kind)
        return self.rng.choice(topics) if topics else self.rng.choice(list(FAQ_BY_TOPIC))

    def chat(self, scenario: str | None, *, proactive: bool = False, skill: str | None = None,
             topic: str = "delivery") -> Flow:
        """One chat on the current page, along one of 002's four scenarios."""
        m = self.meta
        if m is not None and m["closed"] and not self.chatting:
            m = self.meta = self.fresh_interaction()  # reopened: a new interaction, from `opened` (docs/lifecycle.md)
        if scenario is None or m is None or m["opened"] or self.chatting or self.gone:
            if not proactive:  # no widget here, or a chat in the way (a failed one): try the next page
                self.chat_page = self.pages + 1
            yield from self.flush()
            return
        if not proactive:
            self.chat_page = 0  # done: not again on a later page
        rng = self.rng
        self.chatting = True
        self.chats += 1
        self.stats.scenarios[scenario] += 1
        if proactive:
            m["proactive"] = True
        self.wait(rng.uniform(0.2, 0.8))
        m["opened"] = self.t
        self.stage("opened")
        yield from self.flush()
        if scenario == "changed_mind":
            self.wait(rng.uniform(4, 60))
            yield from self.end_chat("cancelled")
            return
        # the pre-chat form
        if proactive:
            m["prefilled"] = self.visitor.customer_id is not None
            m["autoSubmitted"] = m["prefilled"] and rng.random() < 0.5
            self.wait(rng.uniform(1.5, 6))
            m["form"] = {"source": "proactive_offer", "skill": skill or ""}
        else:
            self.wait(rng.uniform(8, 50))
            m["form"] = {"source": "launcher", "topic": topic}
        self.stage("submitted")
        yield from self.flush()
        # the backend: 003's get_or_create_conversation
        self.wait(rng.uniform(0.2, 1.0))
        yield from self.send_server([self.conversation_event(used=True)])
        self.stats.conversations += 1
        if scenario == "failed_to_start":
            self.wait(rng.uniform(1, 9))
            code = rng.choice(REJECT_CODES)
            m["rejected"] = self.t
            m["errors"] = [code]
            self.stage("rejected")
            yield from self.flush()
            self.wait(rng.uniform(0.1, 0.5))
            key = "CHAT_NO_AGENTS" if code == "no_agents_available" else "ERROR"
            yield from self.send_server([self.log(key, value=code)])
            self.chatting = False
            return
        self.wait(rng.uniform(0.5, 3))
        m["started"] = self.t
        self.stage("started")
        self.widget("CONTACT_STARTED")
        yield from self.flush()
        if scenario == "gave_up_waiting":
            yield from self.gave_up(proactive, topic)
        else:
            yield from self.completed(proactive, topic)

    def gave_up(self, proactive: bool, topic: str) -> Flow:
        """002: started, then left before an agent came. 004 says how far it got."""
        rng = self.rng
        variant = rng.choices(("self_service", "declined", "unattended", "no_agents", "tab_closed"),
                              (30, 20, 25, 17, 8))[0]
        if proactive and variant in ("self_service", "declined"):
            variant = "unattended"
        if variant in ("self_service", "declined"):
            for _ in range(rng.randint(1, 3)):
                yield from self.bot_turn(topic)
            if variant == "declined":
                yield from self.decline_escalation()
            self.wait(rng.uniform(5, 60))
            yield from self.end_chat("cancelled")
            return
        yield from self.queue_for_agent()
        if variant == "no_agents":
            self.wait(rng.uniform(3, 15))
            yield from self.send_server([self.message("system", "All our agents are busy right now. "
                                                                "Leave a message and we will email you.")])
            self.wait(rng.uniform(15, 120))
            yield from self.send_server([self.log("CHAT_NO_AGENTS")])
        elif variant == "unattended":
            self.wait(rng.uniform(60, 400))
            yield from self.send_server([self.log("CHAT_UNATTENDED")])
        else:  # the tab was closed while waiting: the chat never ends (002's state stays started)
            self.wait(rng.uniform(30, 240))
            self.chatting = False
            self.leave_page()  # the SDK still sends the page's dwell as it hides
            yield from self.flush(0.05)
            self.gone = True
            return
        yield from self.end_chat("cancelled")

    def completed(self, proactive: bool, topic: str) -> Flow:
        """002: met an agent, ended normally."""
        rng = self.rng
        agent = rng.choice(AGENTS)
        if not proactive:
            for _ in range(rng.choice((0, 1, 1, 2))):
                yield from self.bot_turn(topic)
            if rng.random() < 0.15:  # 004's example: escalation declined first, accepted later
                yield from self.decline_escalation()
                self.wait(rng.uniform(20, 120))
                yield from self.send_server([self.message("user", "Actually, can I talk to someone?")])
        if rng.random() < 0.9:
            yield from self.queue_for_agent()
            wait = rng.uniform(3, 40) if proactive else min(420.0, rng.lognormvariate(3.8, 0.8))  # median ~45 s
        else:
            wait = rng.uniform(2, 10)
        self.wait(wait)
        yield from self.agent_joins(agent)
        yield from self.send_server([self.message("system", f"{agent} joined the chat."),
                                     self.message("agent", f"Hi, I'm {agent}. How can I help?", agent=agent)])
        for i in range(rng.randint(2, 6)):
            self.wait(rng.uniform(8, 60))
            events = [self.message("user", rng.choice(USER_FOLLOW_UPS) if i else self.question(topic)[1])]
            if rng.random() < 0.08:
                events.append(self.attachment())
            self.wait(rng.uniform(10, 80))
            events.append(self.message("agent", rng.choice(AGENT_REPLIES), agent=agent))
            yield from self.send_server(events)
            if rng.random() < 0.05 and self.meta is not None and self.meta["numAgents"] == 1:
                yield from self.queue_for_agent()  # transferred to a specialist
                self.wait(rng.uniform(10, 90))
                agent = rng.choice([a for a in AGENTS if a != agent])
                yield from self.agent_joins(agent)
            if rng.random() < 0.03 and self.meta is not None:
                self.meta["supervisorReached"] = self.meta["supervisorReached"] or self.t
            if rng.random() < 0.02 and self.meta is not None:
                self.meta["coBrowseInitiated"] = True
        self.wait(rng.uniform(5, 40))
        yield from self.end_chat("completed")
        if rng.random() < 0.45:
            self.wait(rng.uniform(2, 20))
            good = rng.random() < 0.8
            rating: dict[str, Any] = {"rateCode": "1" if good else "2", "contentId": "agent-chat"}
            if rng.random() < 0.3:
                rating["comment"] = rng.choice(POSITIVE_COMMENTS if good else NEGATIVE_COMMENTS)
            yield from self.send_server([self.conversation_item("rating", **rating)])

    def queue_for_agent(self) -> Flow:
        self.wait(self.rng.uniform(0.5, 3))
        self.widget("TRANSFER_TO_QUEUE")
        yield from self.flush()

    def agent_joins(self, agent: str) -> Flow:
        m = self.meta
        assert m is not None
        m["numAgents"] = (m["numAgents"] or 0) + 1
        if not m["agentReached"]:
            m["agentReached"] = self.t
            m["waitingForAgent"] = self.t - m["started"]
            self.stats.agent_chats += 1
        self.widget("CONNECT_TO_AGENT")
        yield from self.flush()

    def end_chat(self, how: str) -> Flow:
        """cancelled (before an agent, or never started) or completed; then closed."""
        m = self.meta
        assert m is not None
        m[how] = self.t
        if m["started"]:
            m["elapsed"] = self.t - m["started"]
        self.stage(how)
        if m["started"]:
            self.widget("CONTACT_ENDED")
        self.wait(self.rng.uniform(0.5, 6))
        m["closed"] = self.t
        self.stage("closed")
        yield from self.flush()
        self.chatting = False

    def bot_turn(self, topic: str) -> Flow:
        """A question the AI agent answers from its contents (004: SEARCH, then a click
        on a match or content, or no result), sometimes rated."""
        rng = self.rng
        self.wait(rng.uniform(6, 40))
        _, question, content_id, answer = self.question(topic)
        events = [self.message("user", question), self.log("SEARCH", log_type="SEARCH", value=question)]
        self.wait(rng.uniform(1, 4))
        r = rng.random()
        if r < 0.15:
            events += [self.log("NO_RESULTS"),
                       self.message("agent", "Sorry, I couldn't find an answer to that.", agent=None)]
        else:
            key, log_type = (("CLICK_MATCH", "MATCH") if r < 0.6 else ("CLICK_CONTENT", "CONTENT") if r < 0.8
                             else ("CLICK_RELATED", "RELATED") if r < 0.9 else ("MULTIPLE_BUTTONS", None))
            events += [self.message("agent", answer, agent=None), self.log(key, log_type=log_type, value=content_id)]
            if rng.random() < 0.35:
                self.wait(rng.uniform(3, 20))
                code = rng.choices(("1", "2", "3"), (70, 20, 10))[0]
                rating: dict[str, Any] = {"rateCode": code, "contentId": content_id}
                if code == "3" or (code == "2" and rng.random() < 0.3):
                    rating["comment"] = rng.choice(NEGATIVE_COMMENTS)
                events += [self.conversation_item("rating", **rating),
                           self.log("RATE_CONTENT", log_type="RATING", value={"contentId": content_id, "rateCode": code})]
        yield from self.send_server(events)

    def decline_escalation(self) -> Flow:
        rng = self.rng
        self.wait(rng.uniform(2, 10))
        events = [self.message("agent", "Would you like to talk to one of our team?", agent=None)]
        self.wait(rng.uniform(2, 15))
        events += [self.conversation_item("button", event="escalate", label="No, thanks", value="no"),
                   self.log("CHAT_ESCALATION_REJECTED")]
        yield from self.send_server(events)

    def question(self, topic: str) -> tuple[str, str, str, str]:
        topic_, question, content_id, answer = self.rng.choice(FAQ_BY_TOPIC.get(topic) or FAQ)
        page = self.page
        name = page.product.name if page is not None and page.product is not None else "Hearth Pro 5-Burner Cooktop"
        return topic_, question.replace("{product}", name), content_id, answer

    def app_chat(self) -> Flow:
        """A chat in the shop's mobile app: only the agent backend reports it."""
        rng = self.rng
        self.app_conversation = uuid7(self.t)
        yield from self.send_server([self.conversation_event(used=False)])
        self.wait(rng.uniform(5, 90))
        yield from self.send_server([self.conversation_event(used=True)])
        self.stats.conversations += 1
        topic = rng.choice(list(FAQ_BY_TOPIC))
        for _ in range(rng.randint(1, 3)):
            yield from self.bot_turn(topic)
        r = rng.random()
        if r < 0.55:
            agent = rng.choice(AGENTS)
            self.wait(rng.uniform(10, 180))
            events = [self.log("CHAT_ATTENDED"), self.message("agent", f"Hi, I'm {agent}. How can I help?", agent=agent)]
            for _ in range(rng.randint(1, 4)):
                self.wait(rng.uniform(10, 60))
                events.append(self.message("user", rng.choice(USER_FOLLOW_UPS)))
                self.wait(rng.uniform(10, 60))
                events.append(self.message("agent", rng.choice(AGENT_REPLIES), agent=agent))
            yield from self.send_server(events)
            self.stats.agent_chats += 1
        elif r < 0.75:
            self.wait(rng.uniform(20, 120))
            yield from self.send_server([self.log("CHAT_NO_AGENTS")])
        elif r < 0.9:
            yield from self.decline_escalation()

    # -- events and batches ---------------------------------------------------------

    def wait(self, seconds: float) -> None:
        self.t += int(seconds * SECOND)

    def track(self, type_name: str, **fields: Any) -> None:
        """Queue a browser event made now, as the SDK does (a UUIDv7 id and a timestamp)."""
        self.queue.append({"type": type_name, "id": uuid7(self.t), "timestamp": iso(self.t), **fields})

    def flush(self, delay: float | None = None) -> Flow:
        """Send the queued browser events (the SDK sends within a second)."""
        if not self.queue:
            return
        self.wait(self.rng.uniform(0.2, 1.0) if delay is None else delay)
        events, self.queue = self.queue, []
        answer = yield Send(self.t, events)
        verdict = answer.verdict
        if verdict is None:
            return
        for d in verdict.decisions:
            if d.decision != "blocked" and self.decision is None:
                self.decision = d.decision
        self.offers.extend(verdict.offers)
        self.check_in_at = None if verdict.check_in_ms is None else self.t + verdict.check_in_ms

    def send_server(self, events: list[dict[str, Any]]) -> Flow:
        """The agent backend reports what happened (its clock: the events' own times)."""
        self.wait(self.rng.uniform(0.05, 0.4))
        yield Send(self.t, events, server=True)

    def server_event(self, type_name: str, **fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = {"type": type_name, "id": uuid7(self.t), "timestamp": iso(self.t), **fields}
        visitor = self.visitor
        event["visitorId"] = visitor.visitor_id
        if self.visit.kind != "app":
            event["sessionId"] = self.visit.session_id
        event["customerIp"] = visitor.ip
        return event

    def conversation_id(self) -> str:
        if self.visit.kind == "app":
            return self.app_conversation
        assert self.meta is not None
        return str(self.meta["id"])

    def conversation_event(self, *, used: bool, page_url: str | None = None) -> dict[str, Any]:
        visitor = self.visitor
        fields: dict[str, Any] = {
            "conversationId": self.conversation_id(), "used": used,
            "source": "mobile_app" if self.visit.kind == "app" else "web",
            "language": visitor.language, "deviceType": visitor.device, "environment": "production",
        }
        if visitor.customer_id and self.visit.number >= visitor.identify_from:
            fields["customerId"] = visitor.customer_id
        if page_url is not None:
            fields["metadata"] = {"page_url": page_url, "widget_loaded": True}
        return self.server_event("conversation", **fields)

    def conversation_item(self, type_name: str, **fields: Any) -> dict[str, Any]:
        return self.server_event(type_name, conversationId=self.conversation_id(), **fields)

    def message(self, sender: str, content: str, agent: str | None = "") -> dict[str, Any]:
        self.wait(self.rng.uniform(0.2, 2))
        fields: dict[str, Any] = {"sender": sender, "content": content}
        if sender == "agent":
            fields["metadata"] = {"agentType": "human", "agentName": agent} if agent else {"agentType": "ai"}
        return self.conversation_item("message", **fields)

    def log(self, data_key: str, *, log_type: str | None = None, value: Any = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"dataKey": data_key}
        if log_type is not None:
            fields["logType"] = log_type
        if value is not None:
            fields["value"] = value
        return self.conversation_item("session_log", **fields)

    def attachment(self) -> dict[str, Any]:
        rng = self.rng
        name, mime = rng.choice((("kitchen.jpg", "image/jpeg"), ("cabinet-measurements.pdf", "application/pdf"),
                                 ("old-hood.png", "image/png"), ("receipt.pdf", "application/pdf")))
        return self.conversation_item("attachment", sender="user", filename=name, mimeType=mime,
                                      size=rng.randint(40_000, 2_400_000), sha256=rng.randbytes(32).hex())


class _EventIds:
    """UUIDv7s (RFC 9562) for simulated times, as the SDK makes them. The random bits come
    from one generator seeded once per run: fresh ids on every run, so a second run adds
    events instead of being dropped as duplicates. (Not `chatlens._ids.uuid7`, whose
    lock and OS randomness cost half as much again per id.)"""

    def __init__(self) -> None:
        self.bits = random.Random(os.urandom(16)).getrandbits

    def __call__(self, ms: int) -> str:
        value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | self.bits(12) << 64 | 0b10 << 62 | self.bits(62)
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


uuid7 = _EventIds()


def iso(ms: int) -> str:
    """ISO 8601 with milliseconds, as the SDK writes timestamps."""
    seconds, millis = divmod(ms, SECOND)
    minute, second = divmod(seconds, 60)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        if len(_MINUTES) > 4096:
            _MINUTES.clear()
        prefix = _MINUTES[minute] = time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))
    return f"{prefix}{second:02d}.{millis:03d}Z"


_MINUTES: dict[int, str] = {}  # "2026-11-21T12:00:" by epoch minute: most events share theirs


# -- running it through the pipeline -----------------------------------------------


@dataclass(slots=True)
class DemoResult:
    site: Site
    visitors: int
    visits: int
    events: int
    batches: int
    conversations: int
    agent_chats: int
    offers: int  # made by the engine
    offers_shown: int
    offers_accepted: int
    held_out: int
    purchases: int
    scenarios: dict[str, int]
    first_ms: int | None
    last_ms: int | None
    seconds: float


def demo_site(store: EventStore) -> tuple[Site, CreatedSite | None]:
    """The site named "Demo shop": found, or created (then its keys come with it, once)."""
    for site in store.list_sites():
        if site.name == DEMO_SITE:
            return site, None
    created = store.create_site(DEMO_SITE)
    return created.site, created


def run_demo(
    store: EventStore,
    settings: Settings,
    site: Site,
    *,
    visitors: int = 2000,
    days: int = 30,
    seed: int = 1,
    now_ms: int | None = None,
    progress: TextIO | None = None,
) -> DemoResult:
    """Generate the demo traffic and ingest it into `store` through the server's own
    pipeline (`build_services`). `settings.db_path` places the journal; keep the rate
    limit off (`rate_limit_per_minute=0`): a simulated visitor sends a month of batches in
    seconds. Raises DemoDataError if the pipeline refuses anything."""
    if settings.rate_limit_per_minute:
        raise ValueError("run_demo needs settings.rate_limit_per_minute = 0")
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    visits = plan_visits(visitors, days, seed, now)
    services = build_services(settings, store)
    started = time.perf_counter()
    # Like the server (cli._tune_interpreter): the pipeline and the visits make many
    # short-lived objects; a larger first GC generation takes a fifth off the CPU time.
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        stats = asyncio.run(_ingest_all(services, site, visits, seed, Progress(len(visits), progress)))
    finally:
        gc.set_threshold(*thresholds)
    seconds = time.perf_counter() - started
    if stats.last_ms is not None and stats.last_ms > now:
        raise DemoDataError(f"an event at {iso(stats.last_ms)} is in the future (now {iso(now)})")
    return DemoResult(
        site=site, visitors=visitors, visits=len(visits), events=stats.events,
        batches=stats.batches, conversations=stats.conversations, agent_chats=stats.agent_chats,
        offers=stats.decisions["offered"], offers_shown=stats.offers_shown,
        offers_accepted=stats.offer_answers["accepted"], held_out=stats.decisions["held_out"],
        purchases=stats.purchases, scenarios=dict(stats.scenarios), first_ms=stats.first_ms,
        last_ms=stats.last_ms, seconds=seconds,
    )


async def _ingest_all(services: Services, site: Site, visits: list[Visit], seed: int, progress: Progress) -> Stats:
    """The server's lifespan around the work: journal recovery, the writer's threads, and
    at the end everything journaled loaded into the store."""
    writer = services.writer
    recover(writer.journal, services.store)  # what a crashed server left in the journal
    writer.start()
    stats = Stats()
    try:
        for visit in visits:
            visit.done = asyncio.Event()
        pending = iter(visits)

        async def worker() -> None:
            for visit in pending:  # shared: each visit is taken once, in order of start
                if visit.previous is not None and visit.previous.done is not None:
                    await visit.previous.done.wait()  # a visitor's visits one after the other
                await _run_visit(services, site, visit, seed, stats)
                assert visit.done is not None
                visit.done.set()
                stats.visits += 1
                progress.update(stats.visits, stats.events)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(CONCURRENCY, len(visits))):
                    group.create_task(worker())
        except BaseExceptionGroup as failed:  # the first failure, not a group of one
            raise failed.exceptions[0] from None
        progress.finish(stats.visits, stats.events)
    finally:
        writer.stop()  # journals and loads whatever is still queued
        writer.journal.close()
    return stats


async def _run_visit(services: Services, site: Site, visit: Visit, seed: int, stats: Stats) -> None:
    flow = VisitSim(visit, seed, stats).run()
    ingestor = services.ingestor
    visitor = visit.visitor
    answer: Batch | None = None
    while True:
        try:
            send = flow.send(answer) if answer is not None else next(flow)
        except StopIteration:
            return
        sent_at = iso(send.at_ms)
        if send.server:
            body = orjson.dumps({"sent_at": sent_at, "events": send.events})
            incoming = IncomingBatch(body=body, user_agent=AGENT_BACKEND_UA, server_site=site,
                                     received_us=send.at_ms * 1000)
            answer = await ingestor.ingest_server(incoming)
        else:
            body = orjson.dumps({"key": site.public_key, "visitor_id": visitor.visitor_id,
                                 "session_id": visit.session_id, "sent_at": sent_at, "events": send.events})
            incoming = IncomingBatch(body=body, origin=SHOP, user_agent=visitor.user_agent, client_ip=visitor.ip,
                                     accept_language=visitor.accept_language, received_us=send.at_ms * 1000)
            answer = await ingestor.ingest(incoming)
        if answer.rejected or answer.dropped or answer.accepted != len(send.events):
            raise DemoDataError(
                f"the pipeline did not store all of a generated batch ({'server' if send.server else 'browser'}, "
                f"visit {visit.session_id}): accepted {answer.accepted} of {len(send.events)}, "
                f"rejected {answer.rejected[:3]}, dropped {dict(answer.dropped)}; first event: "
                f"{orjson.dumps(send.events[0]).decode()[:300]}"
            )
        stats.batches += 1
        stats.events += answer.accepted + answer.decisions
        if answer.verdict is not None:
            stats.decisions.update(d.decision for d in answer.verdict.decisions)
        if stats.first_ms is None or send.at_ms < stats.first_ms:
            stats.first_ms = send.at_ms
        if stats.last_ms is None or send.at_ms > stats.last_ms:
            stats.last_ms = send.at_ms


class Progress:
    """A progress line on stderr: redrawn in place on a terminal, a few plain lines
    otherwise (a log file, CI)."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total = max(1, total)
        self.stream = stream
        self.tty = bool(stream is not None and stream.isatty())
        self.started = time.perf_counter()
        self.shown = 0.0
        self.next_mark = 25

    def update(self, done: int, events: int) -> None:
        if self.stream is None:
            return
        now = time.perf_counter()
        percent = 100 * done // self.total
        if self.tty:
            if now - self.shown >= 0.1:
                self.shown = now
                self.stream.write("\r" + self._line(done, events, now))
                self.stream.flush()
        elif percent >= self.next_mark and done < self.total:
            self.next_mark = (percent // 25 + 1) * 25
            self.stream.write("chatlens demo: " + self._line(done, events, now).strip() + "\n")
            self.stream.flush()

    def finish(self, done: int, events: int) -> None:
        if self.stream is None:
            return
        line = self._line(done, events, time.perf_counter())
        self.stream.write(("\r" + line + "\n") if self.tty else "chatlens demo: " + line.strip() + "\n")
        self.stream.flush()

    def _line(self, done: int, events: int, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        fraction = min(1.0, done / self.total)
        bar = "#" * int(fraction * 30)
        rate = events / elapsed
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
        return (f"  [{bar:<30}] {fraction * 100:5.1f}%  {done:,}/{self.total:,} visits  {events:,} events  "
                f"{rate:,.0f} events/s  ETA {eta:4.0f} s ")
