"""The skills language and the five shipped skills, driven through the real IntentEngine.

Every journey is a list of events as the pipeline hands them to the engine (type, id,
client time, typed columns, properties JSON); expected messages, evidence and check-in
times are written out by hand from skills.toml. Nothing is mocked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatlens.engine.conditions import SkillError
from chatlens.engine.engine import IntentEngine, Verdict
from chatlens.engine.skills import SHIPPED, Policy, SkillSet, load_skills, parse_skills

SITE = "site-1"
S = 1_000_000  # one second in microseconds
MIN = 60 * S
T0 = 1_750_000_000 * S  # 2025-06-15T15:06:40Z

Event = tuple[str, str, int, dict[str, Any], str | None]


# ---- events ---------------------------------------------------------------------------


def product_url(pid: str) -> str:
    return f"https://shop.example/p/{pid}"


def page_view(eid: str, ts: int, url: str, page_type: str | None = None, product_id: str | None = None) -> Event:
    return ("page_view", eid, ts, {"url": url, "page_type": page_type, "product_id": product_id}, None)


def product_page(eid: str, ts: int, pid: str) -> Event:
    return page_view(eid, ts, product_url(pid), "product", pid)


def dwell(eid: str, ts: int, url: str, page_type: str | None, seconds: float) -> Event:
    return ("dwell", eid, ts, {"url": url, "page_type": page_type, "duration_seconds": seconds}, None)


def product_status(eid: str, ts: int, pid: str, status: str) -> Event:
    return ("product_status", eid, ts, {"product_id": pid, "status": status}, None)


def filter_usage(eid: str, ts: int, filter_type: str, value: str, category: str | None = None) -> Event:
    return ("filter_usage", eid, ts, {"category": category, "filter_type": filter_type, "filter_value": value}, None)


def cart(eid: str, ts: int, action: str, pid: str, name: str | None = None, category: str | None = None) -> Event:
    props = json.dumps({"productName": name}) if name is not None else None
    return ("cart_action", eid, ts, {"action": action, "product_id": pid, "category": category}, props)


def search(eid: str, ts: int, query: str) -> Event:
    return ("search_event", eid, ts, {"query": query}, None)


def identify(eid: str, ts: int, customer: str, traits: dict[str, Any]) -> Event:
    return ("identify", eid, ts, {"customer_id": customer}, json.dumps({"traits": traits}))


class Visit:
    """One browser session of one visitor; each `send` is one batch."""

    def __init__(self, engine: IntentEngine, visitor: str = "v-1", session: str = "s-1") -> None:
        self.engine, self.visitor, self.session = engine, visitor, session
        self.decisions: list[Any] = []

    def send(self, *events: Event, now: int | None = None) -> Verdict:
        now = max(e[2] for e in events) if now is None else now
        verdict = self.engine.observe(SITE, self.visitor, self.session, list(events), now)
        self.decisions += verdict.decisions
        return verdict

    def each(self, *events: Event) -> list[Verdict]:
        """Every event in a batch of its own, at its own time."""
        return [self.send(e) for e in events]


def shipped(holdout: float = 0.0) -> SkillSet:
    """The shipped file with the holdout share changed (0: every qualified skill is offered)."""
    text = SHIPPED.read_text()
    changed = text.replace("holdout = 0.10", f"holdout = {holdout}")
    assert changed != text, "the shipped file no longer says holdout = 0.10"
    return parse_skills(changed)


def visit() -> Visit:
    return Visit(IntentEngine(shipped()))


def skills_of(decisions: list[Any]) -> list[str]:
    return [d.skill for d in decisions]


# ---- the shipped file -----------------------------------------------------------------


def test_shipped_file_has_the_five_skills_in_priority_order_and_the_documented_policy() -> None:
    skills = load_skills()
    assert skills.names == ("out_of_stock", "bundle", "comparison", "value_seeking", "research")
    assert [s.priority for s in skills.skills] == [1, 2, 3, 4, 5]
    by_name = {s.name: s for s in skills.skills}
    assert by_name["comparison"].within_us == 10 * MIN
    assert by_name["bundle"].within_us == 30 * MIN
    assert by_name["out_of_stock"].within_us == 30 * MIN
    assert all(s.holdout == 0.10 for s in skills.skills)
    p = skills.policy
    assert p.max_offers_per_session == 1
    assert p.visitor_cooldown_us == 24 * 3600 * S
    assert p.quiet_after_dismissal_us == 30 * MIN
    assert p.offer_ttl_us == 2 * MIN
    assert p.holdout == 0.10
    assert p.seed == "chatlens"
    assert p.attribution_window_us == 24 * 3600 * S
    assert p.max_predicted_wait_s == 180.0
    assert len(p.outcomes) == 3
    # the research dwell step asks the page to check in at 120 s, out_of_stock's at 20 s
    assert by_name["research"].steps[0].dwell_seconds == 120.0
    assert by_name["out_of_stock"].steps[1].dwell_seconds == 20.0
    assert by_name["comparison"].steps[0].dwell_seconds is None
    assert set(skills.by_type) == {"product_status", "dwell", "cart_action", "search_event", "page_view", "filter_usage"}
    assert [s.name for s in skills.by_type["dwell"]] == ["out_of_stock", "research"]


def test_load_skills_of_a_missing_file_is_a_skill_error(tmp_path: Path) -> None:
    with pytest.raises(SkillError, match="cannot read it"):
        load_skills(tmp_path / "nope.toml")


def test_load_skills_of_a_user_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[[skill]]\nname = "only"\nmessage = "Hi"\n  [[skill.step]]\n  type = "search_event"\n')
    skills = load_skills(path)
    assert skills.names == ("only",)
    assert skills.skills[0].priority == 10
    assert skills.skills[0].within_us == 30 * MIN


# ---- comparison -----------------------------------------------------------------------


@pytest.mark.parametrize("batched", [False, True], ids=["batch-per-event", "one-batch"])
def test_comparison_a_b_a_fires_with_evidence_and_message(batched: bool) -> None:
    v = visit()
    events = [product_page("idA1", T0, "A"), product_page("idB", T0 + 30 * S, "B"), product_page("idA2", T0 + 60 * S, "A")]
    if batched:
        verdicts = [v.send(*events)]
    else:
        verdicts = v.each(*events)
        assert verdicts[0].decisions == [] and verdicts[1].decisions == []
    [d] = v.decisions
    assert (d.skill, d.decision, d.reason) == ("comparison", "offered", None)
    assert d.evidence == ("idA1", "idB", "idA2")
    assert d.message == "Comparing A and B? I can lay out the differences for you."
    assert d.data == {"a": {"productId": "A"}, "b": {"productId": "B"}}
    assert d.priority == 3
    assert d.at_us == T0 + 60 * S
    assert verdicts[-1].offers == [
        {
            "id": d.offer_id,
            "skill": "comparison",
            "message": "Comparing A and B? I can lay out the differences for you.",
            "data": {"a": {"productId": "A"}, "b": {"productId": "B"}},
            "expiresAt": "2025-06-15T15:09:40.000Z",  # decided at 15:07:40, offer_ttl 2m
        }
    ]
    assert d.properties() == {
        "priority": 3,
        "message": "Comparing A and B? I can lay out the differences for you.",
        "evidence": ["idA1", "idB", "idA2"],
        "data": {"a": {"productId": "A"}, "b": {"productId": "B"}},
    }


def test_comparison_b_c_b_after_a_uses_the_latest_pair() -> None:
    v = visit()
    v.each(product_page("e1", T0, "A"), product_page("e2", T0 + S, "B"), product_page("e3", T0 + 2 * S, "C"),
           product_page("e4", T0 + 3 * S, "B"))
    [d] = v.decisions
    assert d.evidence == ("e2", "e3", "e4")
    assert d.message == "Comparing B and C? I can lay out the differences for you."


@pytest.mark.parametrize(
    "journey",
    [
        [("A", 0), ("B", 30), ("C", 60)],  # no return
        [("A", 0), ("A", 30), ("A", 60)],  # one product
        [("A", 0), ("B", 60), ("A", 601)],  # the second A after the 10 min window
    ],
    ids=["a-b-c", "a-a-a", "a-b-a-too-slow"],
)
def test_comparison_near_misses_do_not_fire(journey: list[tuple[str, int]]) -> None:
    v = visit()
    v.each(*(product_page(f"e{i}", T0 + secs * S, pid) for i, (pid, secs) in enumerate(journey)))
    assert v.decisions == []


def test_comparison_return_exactly_at_the_window_edge_still_fires() -> None:
    v = visit()
    v.each(product_page("e1", T0, "A"), product_page("e2", T0 + 60 * S, "B"), product_page("e3", T0 + 600 * S, "A"))
    assert [d.evidence for d in v.decisions] == [("e1", "e2", "e3")]


def test_comparison_needs_product_pages_for_a_and_b() -> None:
    v = visit()
    # A and B on pages that are not product pages do not start or continue the match
    v.each(page_view("e1", T0, "https://shop.example/c/1", "category", "A"),
           page_view("e2", T0 + S, "https://shop.example/c/2", "category", "B"),
           product_page("e3", T0 + 2 * S, "A"))
    assert v.decisions == []


def test_a_skill_qualifies_once_per_session() -> None:
    v = Visit(IntentEngine(shipped()))
    v.each(product_page("a1", T0, "A"), product_page("b1", T0 + 10 * S, "B"), product_page("a2", T0 + 20 * S, "A"))
    assert skills_of(v.decisions) == ["comparison"]
    v.each(product_page("c1", T0 + 30 * S, "C"), product_page("d1", T0 + 40 * S, "D"), product_page("c2", T0 + 50 * S, "C"),
           product_page("a3", T0 + 60 * S, "A"), product_page("b2", T0 + 70 * S, "B"), product_page("a4", T0 + 80 * S, "A"))
    assert skills_of(v.decisions) == ["comparison"]  # no second decision, not even a blocked one
    # another session of another visitor is a fresh start
    other = Visit(v.engine, visitor="v-2", session="s-2")
    other.each(product_page("x1", T0, "A"), product_page("x2", T0 + S, "B"), product_page("x3", T0 + 2 * S, "A"))
    assert [(d.skill, d.decision) for d in other.decisions] == [("comparison", "offered")]


# ---- research -------------------------------------------------------------------------

RESEARCH = "Researching? I can answer questions about what you are reading, or suggest a pick."


@pytest.mark.parametrize(
    ("page_type", "seconds", "fires"),
    [
        ("blog", 119, False),
        ("blog", 119.9, False),
        ("product", 130, False),  # wrong page type
        (None, 300, False),
        ("guide", 120, True),
        ("blog", 120, True),
        ("buying_guide", 121.5, True),
        ("article", 900, True),
    ],
)
def test_research(page_type: str | None, seconds: float, fires: bool) -> None:
    v = visit()
    url = "https://shop.example/read/how-to-choose"
    v.send(page_view("pv", T0, url, page_type))
    v.send(dwell("dw", T0 + int(seconds * S), url, page_type, seconds))
    if fires:
        [d] = v.decisions
        assert (d.skill, d.decision, d.evidence, d.message, d.data) == ("research", "offered", ("dw",), RESEARCH, {})
        assert d.priority == 5
    else:
        assert v.decisions == []


def test_research_check_in_after_a_blog_page_view() -> None:
    v = visit()
    url = "https://shop.example/blog/espresso"
    verdict = v.send(page_view("pv", T0, url, "blog"))
    assert verdict.check_in_ms == 120_200  # 120 s of dwell still to go, plus 200 ms
    assert verdict.instructions() == {"checkIn": 120_200}
    # the same page view seen half a second later: 119.5 s to go
    v2 = visit()
    assert v2.send(page_view("pv", T0, url, "blog"), now=T0 + 500_000).check_in_ms == 119_700


def test_research_check_in_after_a_dwell_report() -> None:
    v = visit()
    url = "https://shop.example/guides/tents"
    v.send(page_view("pv", T0, url, "guide"))
    verdict = v.send(dwell("d1", T0 + 100 * S, url, "guide", 100))
    assert verdict.decisions == []
    assert verdict.check_in_ms == 20_200
    # the page checks in as told, at 120.2 s: research fires and no further check-in
    verdict = v.send(dwell("d2", T0 + 120_200_000, url, "guide", 120.2))
    assert [d.skill for d in verdict.decisions] == ["research"]
    assert verdict.check_in_ms is None


def test_dwell_report_of_another_url_does_not_move_the_check_in() -> None:
    v = visit()
    url = "https://shop.example/blog/a"
    v.send(page_view("pv", T0, url, "blog"))
    verdict = v.send(dwell("d1", T0 + 100 * S, "https://shop.example/blog/b", "blog", 100))
    # the page's own dwell is still counted from its view: 100 s gone, 20 s to go
    assert verdict.check_in_ms == 20_200
    verdict = v.send(dwell("d2", T0 + 100 * S, "https://shop.example/blog/b", "blog", 30), now=T0 + 110 * S)
    assert verdict.check_in_ms == 10_200


def test_no_research_check_in_on_a_product_page() -> None:
    v = visit()
    verdict = v.send(product_page("pv", T0, "A"))
    assert verdict.check_in_ms is None
    assert verdict.instructions() == {}


def test_no_check_in_before_any_page_view() -> None:
    v = visit()
    verdict = v.send(search("q", T0, "tent"))
    assert verdict.check_in_ms is None


# ---- out_of_stock ---------------------------------------------------------------------

OUT_OF_STOCK = "K1 is out of stock right now. Shall I find you an alternative or tell you when it is back?"


def test_out_of_stock_fires_on_dwell_on_that_products_page() -> None:
    v = visit()
    v.send(product_page("pv", T0, "K1"))
    v.send(product_status("st", T0 + S, "K1", "out_of_stock"))
    v.send(dwell("dw", T0 + 25 * S, product_url("K1"), "product", 25))
    [d] = v.decisions
    assert (d.skill, d.decision, d.reason) == ("out_of_stock", "offered", None)
    assert d.evidence == ("st", "dw")
    assert d.message == OUT_OF_STOCK
    assert d.data == {"p": {"productId": "K1"}}
    assert d.priority == 1


def test_out_of_stock_threshold_is_inclusive() -> None:
    v = visit()
    v.send(product_page("pv", T0, "K1"), product_status("st", T0, "K1", "out_of_stock"))
    v.send(dwell("dw", T0 + 20 * S, product_url("K1"), "product", 20))
    assert skills_of(v.decisions) == ["out_of_stock"]


@pytest.mark.parametrize(
    "journey",
    [
        # in stock, then a long dwell
        [product_page("pv", T0, "K1"), product_status("st", T0 + S, "K1", "in_stock"),
         dwell("dw", T0 + 25 * S, product_url("K1"), "product", 25)],
        # out of stock, then a dwell on ANOTHER product's page
        [product_page("pv", T0, "K1"), product_status("st", T0 + S, "K1", "out_of_stock"),
         product_page("pv2", T0 + 5 * S, "K2"), dwell("dw", T0 + 30 * S, product_url("K2"), "product", 25)],
        # too short a dwell
        [product_page("pv", T0, "K1"), product_status("st", T0 + S, "K1", "out_of_stock"),
         dwell("dw", T0 + 10 * S, product_url("K1"), "product", 10)],
        # the dwell came first
        [product_page("pv", T0, "K1"), dwell("dw", T0 + 25 * S, product_url("K1"), "product", 25),
         product_status("st", T0 + 26 * S, "K1", "out_of_stock")],
    ],
    ids=["in-stock", "another-page", "dwell-10s", "dwell-before-status"],
)
def test_out_of_stock_near_misses(journey: list[Event]) -> None:
    v = visit()
    v.each(*journey)
    assert v.decisions == []


def test_out_of_stock_check_in_after_the_product_status() -> None:
    v = visit()
    verdict = v.send(product_page("pv", T0, "K1"), product_status("st", T0, "K1", "out_of_stock"))
    assert verdict.check_in_ms == 20_200
    v2 = visit()
    v2.send(product_page("pv", T0, "K1"))
    verdict = v2.send(product_status("st", T0 + 2 * S, "K1", "out_of_stock"))
    assert verdict.check_in_ms == 18_200  # 2 s already spent on the page
    # in stock: nothing to wait for on a product page
    v3 = visit()
    assert v3.send(product_page("pv", T0, "K1"), product_status("st", T0, "K1", "in_stock")).check_in_ms is None


# ---- value_seeking --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_type", "value", "category", "message"),
    [
        ("sort", "low_to_high", "Headphones",
         "Looking for the best value in Headphones? Tell me your budget and I will shortlist a few."),
        ("price", "price_asc", None,
         "Looking for the best value in this category? Tell me your budget and I will shortlist a few."),
        ("price_sort", "asc", "", 
         "Looking for the best value in this category? Tell me your budget and I will shortlist a few."),
    ],
)
def test_value_seeking_fires(filter_type: str, value: str, category: str | None, message: str) -> None:
    v = visit()
    v.send(filter_usage("f1", T0, filter_type, value, category))
    [d] = v.decisions
    assert (d.skill, d.decision, d.evidence, d.message) == ("value_seeking", "offered", ("f1",), message)


@pytest.mark.parametrize(
    ("filter_type", "value"),
    [("sort", "high_to_low"), ("price", "price_desc"), ("brand", "acme"), ("brand", "low_to_high"), ("colour", "asc")],
)
def test_value_seeking_near_misses(filter_type: str, value: str) -> None:
    v = visit()
    v.send(filter_usage("f1", T0, filter_type, value, "Headphones"))
    assert v.decisions == []


# ---- bundle ---------------------------------------------------------------------------


def test_bundle_fires_on_a_complementary_search_after_adding_to_cart() -> None:
    v = visit()
    v.send(cart("add", T0, "add", "SKU-1", name="Gas stove"))
    v.send(search("q", T0 + 60 * S, "range hood"))
    [d] = v.decisions
    assert (d.skill, d.decision, d.priority) == ("bundle", "offered", 2)
    assert d.evidence == ("add", "q")
    assert d.message == "Looking for a range hood to go with your Gas stove? I can check which ones fit."
    assert d.data == {"item": {"productName": "Gas stove", "productId": "SKU-1"}, "search": {"query": "range hood"}}


def test_bundle_matches_the_items_category_and_falls_back_to_its_id() -> None:
    v = visit()
    v.send(cart("add", T0, "add", "K-9", category="Laptops"))
    v.send(search("q", T0 + 60 * S, "Laptop Bag 15 inch"))
    [d] = v.decisions
    assert d.message == "Looking for a Laptop Bag 15 inch to go with your K-9? I can check which ones fit."
    assert d.data == {"item": {"category": "Laptops", "productId": "K-9"}, "search": {"query": "Laptop Bag 15 inch"}}


@pytest.mark.parametrize(
    "journey",
    [
        [search("q", T0, "range hood"), cart("add", T0 + 60 * S, "add", "SKU-1", name="Gas stove")],
        [cart("add", T0, "add", "SKU-1", name="Gas stove"), search("q", T0 + 60 * S, "headphones")],
        [cart("rm", T0, "remove", "SKU-1", name="Gas stove"), search("q", T0 + 60 * S, "range hood")],
        # beyond 30 min (a page view keeps the session alive in between)
        [cart("add", T0, "add", "SKU-1", name="Gas stove"),
         page_view("pv", T0 + 20 * MIN, "https://shop.example/", "home"),
         search("q", T0 + 30 * MIN + S, "range hood")],
    ],
    ids=["search-before-add", "unrelated-search", "remove", "too-slow"],
)
def test_bundle_near_misses(journey: list[Event]) -> None:
    v = visit()
    v.each(*journey)
    assert v.decisions == []


def test_bundle_within_30_minutes_fires() -> None:
    v = visit()
    v.each(cart("add", T0, "add", "SKU-1", name="Gas stove"),
           page_view("pv", T0 + 20 * MIN, "https://shop.example/", "home"),
           search("q", T0 + 29 * MIN, "extractor fan"))
    assert [(d.skill, d.evidence) for d in v.decisions] == [("bundle", ("add", "q"))]


# ---- custom skills via parse_skills ---------------------------------------------------


def engine_for(skills_toml: str) -> IntentEngine:
    return IntentEngine(parse_skills("[engagement]\nholdout = 0\nvisitor_cooldown = 0\n" + skills_toml))


def test_count_three_searches_within_five_minutes() -> None:
    toml = """
[[skill]]
name = "lost"
message = "Can't find it? Tried {s.query}."
within = "5m"
  [[skill.step]]
  type = "search_event"
  as = "s"
  count = 3
"""
    v = Visit(engine_for(toml))
    v.each(search("s1", T0, "tent"), search("s2", T0 + MIN, "tents"))
    assert v.decisions == []
    v.send(search("s3", T0 + 2 * MIN, "dome tent"))
    [d] = v.decisions
    assert d.evidence == ("s1", "s2", "s3")
    assert d.message == "Can't find it? Tried dome tent."  # the step keeps the last event it matched


def test_count_spread_beyond_the_window_restarts_from_a_later_event() -> None:
    toml = """
[[skill]]
name = "lost"
message = "Can't find it?"
within = "5m"
  [[skill.step]]
  type = "search_event"
  count = 3
"""
    v = Visit(engine_for(toml))
    v.each(search("s1", T0, "a"), search("s2", T0 + 3 * MIN, "b"), search("s3", T0 + 6 * MIN, "c"))
    assert v.decisions == []  # s1..s3 span 6 minutes
    v.send(search("s4", T0 + 7 * MIN, "d"))
    assert [d.evidence for d in v.decisions] == [("s2", "s3", "s4")]


def test_url_glob_is_case_insensitive_and_anchored() -> None:
    toml = """
[[skill]]
name = "checkout"
message = "Need a hand with checkout?"
  [[skill.step]]
  type = "page_view"
  where = { url = { glob = "https://shop.example/checkout/*" } }
"""
    eng = engine_for(toml)
    miss = Visit(eng, "v1", "s1")
    miss.each(page_view("a", T0, "https://shop.example/cart"),
              page_view("b", T0 + S, "https://other.example/https://shop.example/checkout/x"))
    assert miss.decisions == []
    hit = Visit(eng, "v2", "s2")
    hit.send(page_view("c", T0, "https://shop.example/CHECKOUT/step-1"))
    assert [d.evidence for d in hit.decisions] == [("c",)]


def test_regex_searches_anywhere_unless_anchored() -> None:
    toml = r"""
[[skill]]
name = "returns"
message = "Questions about returns?"
  [[skill.step]]
  type = "search_event"
  where = { query = { regex = '^(return|refund)s?\b' } }
"""
    eng = engine_for(toml)
    for i, q in enumerate(["how to return", "returnable", "refundable items"]):
        v = Visit(eng, f"miss{i}", f"miss{i}")
        v.send(search("q", T0, q))
        assert v.decisions == [], q
    for i, q in enumerate(["Refund policy", "returns", "RETURN label"]):
        v = Visit(eng, f"hit{i}", f"hit{i}")
        v.send(search("q", T0, q))
        assert skills_of(v.decisions) == ["returns"], q


def test_cart_count_condition_and_context_in_the_message() -> None:
    toml = """
[[skill]]
name = "big_cart"
message = "{cart.count} items in your cart: shall I check delivery for all of them?"
  [[skill.step]]
  type = "page_view"
  where = { pageType = "cart", "cart.count" = { gte = 3 } }
"""
    eng = engine_for(toml)
    small = Visit(eng, "v1", "s1")
    small.each(cart("c1", T0, "add", "A"), cart("c2", T0 + S, "add", "B"), cart("c3", T0 + 2 * S, "add", "C"),
               cart("c4", T0 + 3 * S, "remove", "C"), page_view("pv", T0 + 4 * S, "https://shop.example/cart", "cart"))
    assert small.decisions == []
    big = Visit(eng, "v2", "s2")
    big.each(cart("c1", T0, "add", "A"), cart("c2", T0 + S, "add", "B"), cart("c3", T0 + 2 * S, "add", "C"),
             page_view("pv", T0 + 4 * S, "https://shop.example/cart", "cart"))
    [d] = big.decisions
    assert d.evidence == ("pv",)
    assert d.message == "3 items in your cart: shall I check delivery for all of them?"


def test_cart_count_never_goes_below_zero() -> None:
    toml = """
[[skill]]
name = "one_item"
message = "One item"
  [[skill.step]]
  type = "page_view"
  where = { "cart.count" = 1 }
"""
    v = Visit(engine_for(toml))
    # two removes of items added before the session, then one add: one item, not -1
    v.each(cart("r1", T0, "remove", "A"), cart("r2", T0 + S, "remove", "B"), cart("a1", T0 + 2 * S, "add", "C"),
           page_view("pv", T0 + 3 * S, "https://shop.example/cart", "cart"))
    assert skills_of(v.decisions) == ["one_item"]


@pytest.mark.parametrize("where", ['{ "visitor.plan" = "gold" }', '{ visitor = { plan = "gold" } }'])
def test_visitor_traits_from_identify(where: str) -> None:
    toml = f"""
[[skill]]
name = "vip"
message = "Welcome back, {{visitor.plan}} member."
  [[skill.step]]
  type = "page_view"
  where = {where}
"""
    eng = engine_for(toml)
    anon = Visit(eng, "v1", "s1")
    anon.send(page_view("pv", T0, "https://shop.example/"))
    assert anon.decisions == []
    silver = Visit(eng, "v2", "s2")
    silver.send(identify("id", T0, "c-2", {"plan": "silver"}), page_view("pv", T0 + S, "https://shop.example/"))
    assert silver.decisions == []
    gold = Visit(eng, "v3", "s3")
    gold.send(identify("id", T0, "c-3", {"plan": "gold", "language": "en"}))
    assert gold.decisions == []
    # traits belong to the visitor: a later session sees them
    later = Visit(eng, "v3", "s4")
    later.send(page_view("pv", T0 + 2 * 3600 * S, "https://shop.example/"))
    [d] = later.decisions
    assert d.message == "Welcome back, gold member."


def test_ordered_sequence_of_different_event_types() -> None:
    toml = """
[[skill]]
name = "decided"
message = "Found your {s.query}? I can help you check out."
within = "10m"
  [[skill.step]]
  type = "search_event"
  as = "s"
  [[skill.step]]
  type = "page_view"
  where = { pageType = "product" }
  [[skill.step]]
  type = "cart_action"
  where = { action = "add" }
"""
    eng = engine_for(toml)
    wrong = Visit(eng, "v1", "s1")
    wrong.each(product_page("pv", T0, "A"), search("q", T0 + S, "tent"), cart("c", T0 + 2 * S, "add", "A"))
    assert wrong.decisions == []
    right = Visit(eng, "v2", "s2")
    right.each(search("q", T0, "tent"), page_view("home", T0 + S, "https://shop.example/", "home"),
               product_page("pv", T0 + 2 * S, "A"), cart("c", T0 + 3 * S, "add", "A"))
    [d] = right.decisions
    assert d.evidence == ("q", "pv", "c")
    assert d.message == "Found your tent? I can help you check out."


def test_a_step_may_accept_several_event_types() -> None:
    toml = """
[[skill]]
name = "anything"
message = "Hello"
  [[skill.step]]
  type = ["search_event", "filter_usage"]
  count = 2
"""
    v = Visit(engine_for(toml))
    v.each(search("q", T0, "x"), filter_usage("f", T0 + S, "brand", "acme"))
    assert [d.evidence for d in v.decisions] == [("q", "f")]


def test_disabled_skill_is_skipped() -> None:
    skills = parse_skills(
        '[[skill]]\nname = "off"\nenabled = false\nmessage = "x"\n  [[skill.step]]\n  type = "search_event"\n'
        '[[skill]]\nname = "on"\nmessage = "y"\n  [[skill.step]]\n  type = "search_event"\n'
    )
    assert skills.names == ("on",)
    assert skills.skills[0].index == 0


def test_higher_priority_skill_is_offered_first_when_both_qualify_in_one_batch() -> None:
    # the low-priority skill comes first in the file: order of the file does not matter
    toml = """
[[skill]]
name = "low"
priority = 7
message = "low"
  [[skill.step]]
  type = "page_view"
  where = { pageType = "pricing" }

[[skill]]
name = "high"
priority = 2
message = "high"
  [[skill.step]]
  type = "page_view"
  where = { url = { contains = "/pricing" } }
"""
    v = Visit(engine_for(toml))
    verdict = v.send(page_view("pv", T0, "https://shop.example/pricing", "pricing"))
    assert [(d.skill, d.decision) for d in verdict.decisions] == [("high", "offered"), ("low", "blocked")]
    assert verdict.decisions[1].reason in {"offer_pending", "session_cap"}
    assert [o["skill"] for o in verdict.offers] == ["high"]


def test_message_fallbacks_and_missing_values() -> None:
    toml = """
[[skill]]
name = "greet"
message = "Hi {f.category|f.filterValue|friend}, on {page.pageType|some page}; {f.nothing}."
  [[skill.step]]
  type = "filter_usage"
  as = "f"
"""
    eng = engine_for(toml)
    v = Visit(eng, "v1", "s1")
    v.send(filter_usage("f", T0, "brand", "acme"))
    assert v.decisions[0].message == "Hi acme, on some page; ."
    w = Visit(eng, "v2", "s2")
    w.send(page_view("pv", T0, "https://shop.example/c", "category"), filter_usage("f", T0, "brand", "acme", "Tents"))
    assert w.decisions[0].message == "Hi Tents, on category; ."


# ---- skills file errors ---------------------------------------------------------------

ONE_STEP = '[[skill]]\nname = "x"\nmessage = "m"\n'


@pytest.mark.parametrize(
    ("text", "substrings"),
    [
        # bad operator
        (ONE_STEP + '  [[skill.step]]\n  type = "page_view"\n  where = { pageType = { like = "blog" } }\n',
         ["skill 'x'.step[0].where.pageType.like", "unknown operator"]),
        # unknown event type, and a server-only one
        (ONE_STEP + '  [[skill.step]]\n  type = "page_viewed"\n',
         ["skill 'x'.step[0].type", "unknown event type 'page_viewed'"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "decision"\n', ["skill 'x'.step[0].type", "'decision'"]),
        (ONE_STEP + '  [[skill.step]]\n  type = []\n', ["skill 'x'.step[0].type", "required"]),
        # a reference to a step that captured nothing, or to itself
        (ONE_STEP + '  [[skill.step]]\n  type = "page_view"\n  where = { productId = "$a.productId" }\n',
         ["skill 'x'.step[0]", "$a must be captured"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "page_view"\n  as = "a"\n  where = { productId = { ne = "$a.productId" } }\n',
         ["skill 'x'.step[0]", "$a must be captured"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "page_view"\n  as = "a"\n'
                    '  [[skill.step]]\n  type = "page_view"\n  where = { productId = "$b.productId" }\n',
         ["skill 'x'.step[1]", "$b must be captured"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "page_view"\n  where = { productId = "$a" }\n',
         ["skill 'x'.step[0].where.productId.eq", "reference looks like"]),
        # durations
        ('[[skill]]\nname = "x"\nmessage = "m"\nwithin = "10 minutes"\n  [[skill.step]]\n  type = "search_event"\n',
         ["skill 'x'.within", "must be seconds"]),
        ('[engagement]\nvisitor_cooldown = "forever"\n', ["engagement.visitor_cooldown", "must be seconds"]),
        ("[engagement]\noffer_ttl = -5\n", ["engagement.offer_ttl"]),
        ("[engagement]\nquiet_after_dismissal = true\n", ["engagement.quiet_after_dismissal"]),
        ('[engagement]\nmax_predicted_wait = "3 mins"\n', ["engagement.max_predicted_wait"]),
        # duplicate name
        (ONE_STEP + '  [[skill.step]]\n  type = "search_event"\n' + ONE_STEP + '  [[skill.step]]\n  type = "search_event"\n',
         ["skill 'x'", "two skills have this name"]),
        # holdout shares
        ("[engagement]\nholdout = 1.5\n", ["engagement.holdout", "share"]),
        ("[engagement]\nholdout = 1\n", ["engagement.holdout"]),
        ("[engagement]\nholdout = -0.1\n", ["engagement.holdout"]),
        ('[[skill]]\nname = "x"\nmessage = "m"\nholdout = 1.5\n  [[skill.step]]\n  type = "search_event"\n',
         ["skill 'x'.holdout", "share"]),
        # unknown sections, settings and keys
        ("[skills]\n", ["[skills]", "unknown section"]),
        ("[engagement]\nmax_offers = 2\n", ["engagement.max_offers", "unknown setting"]),
        ('[[skill]]\nname = "x"\nmessage = "m"\nwhen = 1\n  [[skill.step]]\n  type = "search_event"\n',
         ["skill 'x'", "unknown key 'when'"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "search_event"\n  name = "s"\n', ["skill 'x'.step[0].name", "unknown key"]),
        # other settings
        ("[engagement]\nmax_offers_per_session = 1.5\n", ["engagement.max_offers_per_session"]),
        ("[engagement]\nseed = 42\n", ["engagement.seed"]),
        ('[[skill]]\nname = "Bad Name"\nmessage = "m"\n', ["skill[0].name"]),
        ('[[skill]]\nname = "x"\nmessage = "m"\npriority = 0\n  [[skill.step]]\n  type = "search_event"\n',
         ["skill 'x'.priority"]),
        ('[[skill]]\nname = "x"\nmessage = "  "\n  [[skill.step]]\n  type = "search_event"\n', ["skill 'x'.message"]),
        (ONE_STEP, ["skill 'x'.step", "at least one"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "search_event"\n  count = 0\n', ["skill 'x'.step[0].count"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "search_event"\n  as = "page"\n', ["skill 'x'.step[0].as"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "search_event"\n  as = "s"\n'
                    '  [[skill.step]]\n  type = "search_event"\n  as = "s"\n', ["skill 'x'.step[1].as", "already taken"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "search_event"\n  where = { query = { regex = "(" } }\n',
         ["skill 'x'.step[0].where.query.regex", "regular expression"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "dwell"\n  where = { durationSeconds = { gte = "long" } }\n',
         ["skill 'x'.step[0].where.durationSeconds.gte", "number"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "search_event"\n  where = { query = { in = [] } }\n',
         ["skill 'x'.step[0].where.query.in", "non-empty list"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "search_event"\n  where = { query = {} }\n',
         ["skill 'x'.step[0].where.query", "empty condition"]),
        (ONE_STEP + '  [[skill.step]]\n  type = "cart_action"\n  as = "i"\n'
                    '  [[skill.step]]\n  type = "search_event"\n  where = { query = { complement_of = "$i" } }\n',
         ["skill 'x'.step[1].where.query.complement_of", "complements"]),
        ('[[skill]]\nname = "x"\nmessage = "m"\ncomplements = { stove = [] }\n  [[skill.step]]\n  type = "search_event"\n',
         ["skill 'x'.complements.stove"]),
        ("[[engagement.outcome]]\ntype = \"purchase\"\n", ["engagement.outcome[0].type", "unknown event type"]),
        ("not = [valid", ["not valid TOML"]),
    ],
)
def test_skill_errors_name_the_key(text: str, substrings: list[str]) -> None:
    with pytest.raises(SkillError) as info:
        parse_skills(text, "mine.toml")
    message = str(info.value)
    assert message.startswith("mine.toml: ")
    for part in substrings:
        assert part in message, (part, message)


def test_an_in_list_of_tables_is_a_skill_error_not_a_crash() -> None:
    """TOML allows `in = [{ a = 1 }]`; the file checker must say what is wrong with it."""
    text = ONE_STEP + '  [[skill.step]]\n  type = "search_event"\n  where = { query = { in = [{ a = 1 }] } }\n'
    with pytest.raises(SkillError) as info:
        parse_skills(text, "mine.toml")
    assert "skill 'x'.step[0].where.query.in" in str(info.value)


def test_durations() -> None:
    def cooldown(value: str) -> int:
        return parse_skills(f"[engagement]\nvisitor_cooldown = {value}\n").policy.visitor_cooldown_us

    assert cooldown("90") == 90 * S
    assert cooldown("1.5") == 1_500_000
    assert cooldown('"90s"') == 90 * S
    assert cooldown('"250ms"') == 250_000
    assert cooldown('"10m"') == 10 * MIN
    assert cooldown('"1.5h"') == 90 * MIN
    assert cooldown('"7d"') == 7 * 86_400 * S
    assert cooldown('" 2 m "') == 2 * MIN
    assert cooldown("0") == 0


def test_omitted_settings_take_the_documented_defaults() -> None:
    """A user file that leaves a setting out gets what skills.toml documents (and Policy() says)."""
    policy = parse_skills('[engagement]\nseed = "mine"\n').policy
    defaults = Policy()
    assert policy.max_offers_per_session == defaults.max_offers_per_session == 1
    assert policy.visitor_cooldown_us == defaults.visitor_cooldown_us
    assert policy.quiet_after_dismissal_us == defaults.quiet_after_dismissal_us
    assert policy.offer_ttl_us == defaults.offer_ttl_us
    assert policy.holdout == defaults.holdout
    assert policy.attribution_window_us == defaults.attribution_window_us
    assert policy.max_predicted_wait_s == defaults.max_predicted_wait_s == 180.0


# ---- field readers ------------------------------------------------------------------------


def test_a_steps_field_readers_answer_as_the_signal_does() -> None:
    """Conditions read fields through readers resolved when the skills load
    (engine/signal.py); for every event type, every field of it, the context, a trait and
    an unknown property, they give what `Signal.get` gives, for single and mixed types."""
    from chatlens.engine.signal import COLUMNS, CONTEXT, Signal, field_getter
    from chatlens.engine.state import SessionState, VisitorState
    from chatlens.model.events import EVENT_TYPES

    session = SessionState("v-1", T0)
    session.page_url, session.page_type, session.page_product = "https://shop.example/p/a", "product", "a"
    session.page_status, session.page_dwell, session.cart = "out_of_stock", 12.5, 2
    visitor = VisitorState()
    visitor.traits = {"tier": "gold"}
    names = {n for columns in COLUMNS.values() for n in columns} | set(CONTEXT) | {"visitor.tier", "visitor.none", "extra"}
    type_sets = [[t] for t in EVENT_TYPES] + [["page_view", "dwell"], ["cart_action", "search_event"], ["page_view", "custom"]]
    checked = 0
    for types in type_sets:
        read = field_getter(types)
        readers = {name: read(name) for name in names}
        for type_name in types:
            columns = {column: f"{type_name}:{column}" for column in COLUMNS[type_name].values()}
            props = json.dumps({name: f"prop:{name}" for name in names if "." not in name})
            signal = Signal(type_name, "e-1", T0, columns, props, session, visitor)
            for name in names:
                assert readers[name](signal) == signal.get(name), (types, type_name, name)
                checked += 1
    assert checked > 1000
