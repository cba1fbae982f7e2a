"""Intent engine: CPU per event and memory per active session (issue 5).

What is measured
    (a) Cost per event. Realistic shop sessions (page views over 50 products, blog and
        category pages, dwell reports, product_status with some products out of stock,
        filters, cart adds with a product name, searches) are cut into batches of 1-20
        events like the SDK sends, and fed through `IntentEngine(load_skills()).observe()`
        with the shipped skills, sessions interleaved batch by batch. Reported in us per
        event (batches through observe() only: no HTTP, no validation), at two
        concurrencies over the same events:
          1k   1,000 sessions interleaved at a time (20 waves of 1,000 new sessions);
          100k all 100,000 sessions interleaved (every batch touches a cold session).
        The reference, over the same batches in the same order, is a hand-written minimal
        loop that only looks the session up in a dict and writes one entry per event: the
        irreducible Python cost of touching per-session state. Ratio = engine / reference.
        Rounds alternate reference and engine; each round starts from empty state.
    (b) Memory per active session: 100,000 sessions, each fed a short realistic journey
        (a third of them left half-way through a skill: one product view pending a
        comparison, a cart add pending a bundle, an out-of-stock product pending its
        dwell), every batch parsed from JSON like the server does so that the strings the
        engine keeps are its own. tracemalloc's traced memory after minus before, divided
        by the sessions; it includes the visitor state (one visitor per session) and the
        LRU tables. References: an empty dict per session in a dict keyed by
        (site_id, session_id), and the minimal loop of (a) over the same batches.

    Targets (issue 5): <= 10 us per event, <= 2 KB per active session.

How to run (from the repository root; about two minutes)
    .venv/bin/python benchmarks/engine_cost.py
    .venv/bin/python benchmarks/engine_cost.py --rounds 1 --sessions 20000   # quicker

This is a hand-run benchmark, not part of the test suite.
"""

from __future__ import annotations

import argparse
import gc
import linecache
import platform
import random
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from chatlens.engine._compiled import describe
from chatlens.engine.engine import IntentEngine
from chatlens.engine.skills import load_skills

TARGET_US_PER_EVENT = 10.0
TARGET_BYTES_PER_SESSION = 2048
SITE = "site_bench"
BASE_US = 1_760_000_000_000_000  # all journeys start in the same minute
SHOP = "https://shop.example.com"

Event = tuple[str, str, int, dict[str, Any], str | None]
Batch = tuple[list[Event], int]  # events, now_us of the batch's request
Call = tuple[str, str, str, list[Event], int]  # site, visitor, session, events, now_us

# -- the shop: 50 products (five of them out of stock), blog posts, categories ------------

_KINDS = [  # (category, product name stem): the first five have complements in skills.toml
    ("laptops", "Laptop"), ("cooking", "Gas stove"), ("cameras", "Camera"), ("phones", "Phone"),
    ("audio", "Headphones"), ("furniture", "Sofa"), ("lighting", "Lamp"), ("garden", "Hose"),
    ("toys", "Puzzle"), ("books", "Cookbook"),
]
PRODUCTS = [(f"SKU-{1000 + i}", f"{_KINDS[i % 10][1]} {i // 10 + 1}", _KINDS[i % 10][0]) for i in range(50)]
OUT_OF_STOCK = {PRODUCTS[i][0] for i in (3, 11, 24, 37, 48)}
CATEGORIES = sorted({c for _, _, c in PRODUCTS})
QUERIES = ["laptop bag", "range hood", "memory card", "phone case", "usb cable", "garden chair",
           "sofa cushion", "headphone stand", "desk lamp", "cheap laptop", "puzzle 1000"]
FILTERS = [("price", "low_to_high"), ("price", "high_to_low"), ("brand", "acme"), ("colour", "black"),
           ("sort", "newest"), ("rating", "4plus")]


def journey(rng: random.Random, ids: Callable[[], str], actions: tuple[int, int]) -> list[Event]:
    """One visit: a landing page, then `actions` steps of browsing, in time order."""
    events: list[Event] = []
    t = BASE_US + rng.randrange(60_000_000)
    viewed: list[tuple[str, str, str]] = []
    page: tuple[str, str, str] | None = None  # the product on screen

    def add(type_name: str, columns: dict[str, Any], props: str | None = None, after_s: float = 2.0) -> None:
        nonlocal t
        t += int(after_s * 1_000_000)
        events.append((type_name, ids(), t, columns, props))

    def view(url: str, page_type: str, product: str | None = None) -> None:
        add("page_view", {"url": url, "page_type": page_type, "product_id": product}, after_s=rng.uniform(0.5, 4))

    def dwell(url: str, page_type: str, seconds: float) -> None:
        add("dwell", {"url": url, "page_type": page_type, "duration_seconds": round(seconds, 1)}, after_s=seconds)

    landing = rng.random()
    if landing < 0.5:
        view(f"{SHOP}/", "home")
    elif landing < 0.8:
        view(f"{SHOP}/c/{rng.choice(CATEGORIES)}", "category")
    else:
        view(f"{SHOP}/blog/post-{rng.randrange(20)}", "blog")
    for _ in range(rng.randint(*actions)):
        r = rng.random()
        if r < 0.45:  # a product page; a third of the time one seen before (comparisons)
            page = rng.choice(viewed) if viewed and rng.random() < 0.35 else rng.choice(PRODUCTS)
            viewed.append(page)
            url = f"{SHOP}/p/{page[0]}"
            view(url, "product", page[0])
            add("product_status", {"product_id": page[0], "status": "out_of_stock" if page[0] in OUT_OF_STOCK else "in_stock"}, after_s=0.2)
            dwell(url, "product", rng.choice((3, 6, 10, 15, 25, 40, 75)) * rng.uniform(0.8, 1.2))
        elif r < 0.62:  # a category page, often filtered or sorted
            category = rng.choice(CATEGORIES)
            view(f"{SHOP}/c/{category}", "category")
            if rng.random() < 0.6:
                ftype, fvalue = rng.choice(FILTERS)
                add("filter_usage", {"category": category, "filter_type": ftype, "filter_value": fvalue})
        elif r < 0.72:  # a blog post or buying guide, read for a while
            url = f"{SHOP}/blog/post-{rng.randrange(20)}"
            view(url, "blog")
            dwell(url, "blog", rng.choice((15, 40, 90, 150)) * rng.uniform(0.8, 1.2))
        elif r < 0.84:
            props = orjson.dumps({"pageContext": f"{SHOP}/search"}).decode() if rng.random() < 0.5 else None
            add("search_event", {"query": rng.choice(QUERIES)}, props)
        elif r < 0.94:  # add to cart what is on screen (or anything)
            pid, name, category = page or rng.choice(PRODUCTS)
            add("cart_action", {"action": "add", "product_id": pid, "category": category},
                orjson.dumps({"productName": name}).decode())
        else:
            view(f"{SHOP}/", "home")
            page = None
    return events


def pending_journey(rng: random.Random, ids: Callable[[], str]) -> list[Event]:
    """A short visit left half-way through a skill (its partial match is kept)."""
    pid, name, category = rng.choice(PRODUCTS)
    events: list[Event] = []
    t = BASE_US + rng.randrange(60_000_000)
    for _ in range(rng.randint(0, 2)):  # a little browsing first
        t += 2_000_000
        events.append(("page_view", ids(), t, {"url": f"{SHOP}/c/{category}", "page_type": "category", "product_id": None}, None))
    which = rng.randrange(3)
    url = f"{SHOP}/p/{pid}"
    t += 2_000_000
    events.append(("page_view", ids(), t, {"url": url, "page_type": "product", "product_id": pid}, None))
    if which == 1:  # comparison waits for B then A; bundle waits for a matching search
        t += 5_000_000
        events.append(("cart_action", ids(), t, {"action": "add", "product_id": pid, "category": category},
                       orjson.dumps({"productName": name}).decode()))
    elif which == 2:  # out_of_stock waits for a long enough dwell
        t += 300_000
        events.append(("product_status", ids(), t, {"product_id": pid, "status": "out_of_stock"}, None))
        t += 8_000_000
        events.append(("dwell", ids(), t, {"url": url, "page_type": "product", "duration_seconds": 8.0}, None))
    return events


def batches(rng: random.Random, events: list[Event]) -> list[Batch]:
    """Cut a journey like the SDK does: 1-20 events a request, mostly few."""
    out: list[Batch] = []
    i = 0
    while i < len(events):
        n = rng.choice((1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 12, 20))
        chunk = events[i : i + n]
        out.append((chunk, chunk[-1][2] + rng.randrange(50_000, 2_000_000)))
        i += n
    return out


def id_maker(prefix: int) -> Callable[[], str]:
    counter = iter(range(1 << 62))
    return lambda: f"0199{prefix:04x}-{next(counter):04x}-7abc-8def-0123456789ab"


# -- the two loops ------------------------------------------------------------------------


def minimal_reference() -> tuple[Callable[..., None], dict[tuple[str, str], dict[str, int]]]:
    """Per batch: find the session's dict (create it), write one entry per event."""
    states: dict[tuple[str, str], dict[str, int]] = {}

    def observe(site_id: str, visitor_id: str, session_id: str, events: list[Event], now_us: int) -> None:
        key = (site_id, session_id)
        state = states.get(key)
        if state is None:
            state = states[key] = {}
        for type_name, _event_id, ts_us, _columns, _props in events:
            state[type_name] = ts_us
        state["last"] = now_us

    return observe, states


def run(observe: Callable[..., Any], calls: list[Call]) -> float:
    started = time.perf_counter()
    for site_id, visitor_id, session_id, events, now_us in calls:
        observe(site_id, visitor_id, session_id, events, now_us)
    return time.perf_counter() - started


def build_calls(pool: list[list[Batch]], sessions: int, wave: int) -> list[Call]:
    """Interleave `sessions` sessions batch by batch, `wave` of them alive at a time."""
    calls: list[Call] = []
    for start in range(0, sessions, wave):
        members = [(f"v-{s:07d}", f"s-{s:07d}", pool[s % len(pool)]) for s in range(start, min(sessions, start + wave))]
        for r in range(max(len(j) for _, _, j in members)):
            for visitor, session, j in members:
                if r < len(j):
                    events, now_us = j[r]
                    calls.append((SITE, visitor, session, events, now_us))
    return calls


def cost_per_event(args: argparse.Namespace) -> list[dict[str, Any]]:
    rng = random.Random(5)
    ids = id_maker(1)
    pool = [batches(rng, journey(rng, ids, (2, 12))) for _ in range(5_000)]
    skills = load_skills()
    rows = []
    # 1k at a time: the first fifth of the sessions, in waves of 1,000 new sessions;
    # 100k: all of them at once (per event, the two are comparable)
    for wave, sessions in ((1_000, max(1_000, args.sessions // 5)), (args.sessions, args.sessions)):
        label = f"{wave // 1000}k" if wave % 1000 == 0 else str(wave)
        calls = build_calls(pool, sessions, wave)
        n_events = sum(len(c[3]) for c in calls)
        ref_times, eng_times = [], []
        engine = None
        for _ in range(args.rounds):
            ref, _ = minimal_reference()
            gc.collect()
            ref_times.append(run(ref, calls) / n_events * 1e6)
            engine = IntentEngine(skills)
            gc.collect()
            eng_times.append(run(engine.observe, calls) / n_events * 1e6)
            del ref
        ratios = [e / r for e, r in zip(eng_times, ref_times)]
        decisions = decision_mix(calls, skills) if wave == 1_000 else None
        rows.append({
            "label": label, "wave": wave, "sessions": sessions, "calls": len(calls), "events": n_events,
            "ref": ref_times, "engine": eng_times, "ratios": ratios, "decisions": decisions,
        })
        print(f"  {label} at a time, {sessions:,} sessions: {n_events:,} events in {len(calls):,} batches; "
              f"reference {fmt(ref_times)} us/event, engine {fmt(eng_times)} us/event", flush=True)
        del calls, engine
        gc.collect()
    return rows


def decision_mix(calls: list[Call], skills: Any) -> Counter[str]:
    """What the engine decided over these sessions (one more, unreported pass)."""
    engine = IntentEngine(skills)
    mix: Counter[str] = Counter()
    for site_id, visitor_id, session_id, events, now_us in calls:
        for d in engine.observe(site_id, visitor_id, session_id, events, now_us).decisions:
            mix[f"{d.skill}:{d.decision}"] += 1
    return mix


# -- memory ---------------------------------------------------------------------------------


def memory_payloads(n: int) -> list[bytes]:
    """n sessions as JSON (made before tracing starts): two thirds browse a little (2-6
    steps), one third is left with a skill half-way."""
    rng = random.Random(7)
    ids = id_maker(2)
    out = []
    for s in range(n):
        events = pending_journey(rng, ids) if s % 3 == 2 else journey(rng, ids, (1, 5))
        names = [f"v-{s:07d}-{rng.getrandbits(64):016x}", f"s-{s:07d}-{rng.getrandbits(64):016x}"]
        out.append(orjson.dumps([names, batches(rng, events)]))
    return out


def memory_journeys(payloads: list[bytes]) -> Iterator[tuple[str, str, list[Batch]]]:
    """The sessions parsed from JSON like the server does, so the strings that the engine
    keeps (ids, URLs, product ids) are its own and are counted."""
    for payload in payloads:
        (visitor, session), raw = orjson.loads(payload)
        yield visitor, session, [([tuple(e) for e in events], now_us) for events, now_us in raw]


def traced(build: Callable[[], Any], where: list[tuple[str, int]] | None = None) -> tuple[int, Any]:
    """Bytes still allocated after `build()`, which returns what it keeps; `where` gets
    the biggest allocation sites of what is kept (file:line, bytes)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    if where is not None:
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        for stat in snapshot.statistics("lineno")[:8]:
            frame = stat.traceback[0]
            line = linecache.getline(frame.filename, frame.lineno).strip()
            where.append((f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {line[:60]}", stat.size))
    tracemalloc.stop()
    return after - before, kept


def memory_per_session(n: int) -> tuple[list[tuple[str, float, str]], list[tuple[str, int]]]:
    skills = load_skills()
    payloads = memory_payloads(n)

    def with_engine() -> IntentEngine:
        engine = IntentEngine(skills)
        for visitor, session, js in memory_journeys(payloads):
            for events, now_us in js:
                engine.observe(SITE, visitor, session, events, now_us)
        return engine

    def with_empty_dicts() -> dict[tuple[str, str], dict[str, int]]:
        states: dict[tuple[str, str], dict[str, int]] = {}
        for _visitor, session, _js in memory_journeys(payloads):
            states[(SITE, session)] = {}
        return states

    def with_minimal_loop() -> dict[tuple[str, str], dict[str, int]]:
        observe, states = minimal_reference()
        for visitor, session, js in memory_journeys(payloads):
            for events, now_us in js:
                observe(SITE, visitor, session, events, now_us)
        return states

    rows = []
    sites: list[tuple[str, int]] = []
    engine_bytes, engine = traced(with_engine, sites)
    sessions = engine.sessions._states.values()  # noqa: SLF001 (a benchmark may look inside)
    holding = [s for s in sessions if s.partials]
    partials = sum(len(v) for s in holding for v in s.partials.values())
    note = (f"{len(engine.sessions):,} sessions, {len(engine.visitors):,} visitors; {len(holding):,} "
            f"hold {partials:,} partial matches; {sum(1 for s in sessions if s.qualified):,} qualified")
    del engine, sessions, holding
    rows.append(("engine (SessionState + VisitorState + LRU tables)", engine_bytes / n, note))
    empty_bytes, kept = traced(with_empty_dicts)
    del kept
    rows.append(("reference: empty dict per session", empty_bytes / n, "dict keyed by (site_id, session_id)"))
    loop_bytes, kept = traced(with_minimal_loop)
    del kept
    rows.append(("reference: the minimal loop of (a)", loop_bytes / n, "one entry per event type seen"))
    return rows, sites


# -- report ------------------------------------------------------------------------------


def machine_busy_pct(seconds: float = 1.0) -> float:
    """How busy all CPUs are over `seconds`, as % of all cores (/proc/stat)."""

    def ticks() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values[:8]) - values[3] - values[4], sum(values[:8])

    busy0, total0 = ticks()
    time.sleep(seconds)
    busy1, total1 = ticks()
    return 100 * (busy1 - busy0) / max(1, total1 - total0)


def fmt(values: list[float], digits: int = 2) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions in (a) and (b)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating reference/engine rounds in (a)")
    args = parser.parse_args(argv)
    print(f"command: {' '.join([sys.executable.split('/')[-1], *sys.argv])}")
    print(f"python {platform.python_version()} on {platform.machine()}, gc enabled, "
          f"{len(load_skills().skills)} shipped skills; engine {describe()}")
    busy = machine_busy_pct()
    print(f"machine busy before the benchmark: {busy:.0f}% of all cores"
          + ("  WARNING: something else is using the CPU; absolute figures will be high, read the ratios" if busy > 10 else ""))
    started = time.monotonic()
    print("\n(a) cost per event, batches through observe()")
    rows = cost_per_event(args)
    print(f"\n(b) memory per active session (tracemalloc)  [{time.monotonic() - started:.0f} s]", flush=True)
    mem, sites = memory_per_session(args.sessions)

    print(f"\n(a) us per event; rounds alternate reference, engine ({args.rounds} rounds)")
    print(f"{'sessions at a time':<22}{'events':>11}{'batches':>10}{'reference':>16}{'engine':>16}{'ratio':>14}")
    for r in rows:
        print(f"{r['label'] + ' (' + format(r['sessions'], ',') + ' in all)':<22}{r['events']:>11,}{r['calls']:>10,}"
              f"{fmt(r['ref']):>16}{fmt(r['engine']):>16}{fmt(r['ratios'], 1):>14}")
    worst = max(v for r in rows for v in r["engine"])
    print(f"target <= {TARGET_US_PER_EVENT:g} us per event: {'MET' if worst <= TARGET_US_PER_EVENT else 'NOT MET'} "
          f"(worst round {worst:.2f} us)")
    mix = rows[0]["decisions"]
    if mix:
        print(f"decisions over the {rows[0]['sessions']:,} sessions of the 1k row: " + ", ".join(f"{k} {v:,}" for k, v in sorted(mix.items())))

    print(f"\n(b) bytes per active session, {args.sessions:,} sessions")
    print(f"{'state':<52}{'bytes/session':>14}  notes")
    for name, per, note in mem:
        print(f"{name:<52}{per:>14,.0f}  {note}")
    print("where the engine's bytes are (allocation sites, bytes per session; strings allocated by\n"
          "engine_cost.py are the parsed events' ids and values that the engine keeps):")
    for site, size in sites:
        print(f"  {size / args.sessions:6,.0f}  {site}")
    engine_per = mem[0][1]
    print(f"ratio engine / empty dict: {engine_per / mem[1][1]:.1f}, engine / minimal loop: {engine_per / mem[2][1]:.1f}")
    print(f"target <= {TARGET_BYTES_PER_SESSION:,} bytes per session: "
          f"{'MET' if engine_per <= TARGET_BYTES_PER_SESSION else 'NOT MET'} ({engine_per:,.0f})")
    print(f"\nruntime {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
