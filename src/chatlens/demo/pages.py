"""The demo shop's HTML, rendered on the server.

Every piece of text that reaches a page goes through `esc` (visitor input such as the
search query, and the catalog too, so that a catalog edit can never break a page). Values
the page's scripts need travel in data-* attributes, never inside inline JavaScript: an
escaped attribute is safe, an interpolated script string is a place for injection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from chatlens.demo.catalog import (
    ARTICLES,
    CATEGORIES,
    CATEGORY_BY_SLUG,
    PRODUCT_BY_ID,
    Article,
    Category,
    Product,
    in_category,
)

# docs/sdk.md's stub, verbatim: the page's scripts may call chatlens.* before the SDK loads.
SDK_STUB = (
    '!function(w,c){c=w.chatlens=w.chatlens||{q:[]};"track identify optOut optIn flush subscribe".split(" ")'
    ".forEach(function(m){c[m]=c[m]||function(){c.q.push([m,arguments])}});c.ready=c.ready||function(){"
    'return new Promise(function(r){c.q.push(["ready",[r]])})}}(window);'
)


# A page of the shop given the site's public key.
Render = Callable[[str], str]


def esc(text: str) -> str:
    return escape(text, quote=True)


@dataclass(frozen=True, slots=True)
class Skill:
    name: str
    what: str
    how: str  # HTML: written here, contains no visitor input
    try_it: tuple[tuple[str, str], ...]  # (label, href)


# The engine's default skills (docs/engagement.md), as a person triggers them here.
SKILLS: tuple[Skill, ...] = (
    Skill(
        "Comparison",
        "The visitor goes back and forth between two similar products.",
        "View product A, then product B, then A again, within 10 minutes.",
        (("1. Aurora ANC", "/demo/product/hp-aurora"), ("2. Aurora Pro ANC", "/demo/product/hp-aurora-pro"),
         ("3. Aurora ANC again", "/demo/product/hp-aurora")),
    ),
    Skill(
        "Research",
        "The visitor reads a blog post or a buying guide at length.",
        "Stay 120 seconds on a blog or guide page, with the tab visible and focused.",
        (("Range hood buying guide", "/demo/guide/range-hood-buying-guide"),),
    ),
    Skill(
        "Out-of-stock interest",
        "The visitor lingers on a product that is out of stock.",
        "Stay 20 seconds on an out-of-stock product page. The SDK reports time on page at 15, "
        "30, 60, 120 and 300 seconds, so the offer comes with the 30-second report.",
        (("Polar Split Air Conditioner", "/demo/product/ac-split"),),
    ),
    Skill(
        "Value seeking",
        "The visitor hunts for the cheapest option.",
        "Sort a category by <em>price low to high</em>.",
        (("Headphones", "/demo/category/headphones"),),
    ),
    Skill(
        "Bundle",
        "The visitor's cart and search suggest two products that go together.",
        "Add a gas stove to the cart, then search for <em>range hood</em>.",
        (("1. Flamecraft 4-Burner Gas Range", "/demo/product/stove-4b"), ("2. Search “range hood”", "/demo/search?q=range+hood")),
    ),
)


def layout(title: str, body: str, public_key: str, *, page_type: str | None = None) -> str:
    """A whole page: the SDK stub and tag, the shop's header, the event log, the widget.

    `page_type` becomes `<body data-page-type>`, which the SDK copies into page_view and
    dwell events ('blog' and 'guide' are what the research skill looks for)."""
    body_attr = f' data-page-type="{esc(page_type)}"' if page_type else ""
    nav = "".join(f'<a href="/demo/category/{esc(c.slug)}">{esc(c.name)}</a>' for c in CATEGORIES)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · Chatlens demo kitchen</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/demo/static/shop.css">
<script>{SDK_STUB}</script>
<script src="/sdk.js" data-site="{esc(public_key)}" async></script>
<script src="/demo/static/shop.js" defer></script>
<script src="/demo/static/widget.js" defer></script>
</head>
<body{body_attr}>
<header class="top">
  <a class="logo" href="/demo">Demo kitchen</a>
  <nav>{nav}</nav>
  <form class="search" action="/demo/search" method="get" role="search">
    <input type="search" name="q" placeholder="Search products" aria-label="Search products">
    <button type="submit">Search</button>
  </form>
  <span class="cart" id="cart-count" title="Your cart">Cart: 0</span>
</header>
<main>
{body}
</main>
<section class="event-log" aria-label="Event log">
  <h2>Event log <small>what this page tracks and receives (<span id="time-on-page">0</span> s on this page)</small></h2>
  <ol id="event-log"></ol>
</section>
</body>
</html>
"""


def no_site_page() -> str:
    """Without a site there is no public key for the SDK tag: say how to make one."""
    return """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Chatlens demo: no site yet</title>
<link rel="stylesheet" href="/demo/static/shop.css"></head>
<body>
<main>
<h1>The demo needs a site</h1>
<p>Chatlens has no site yet, so the demo has no public key to track with. Create one and
restart the server:</p>
<pre>chatlens site create demo</pre>
<p>The demo uses the first site.</p>
</main>
</body>
</html>
"""


def not_found_body(what: str) -> str:
    return f'<h1>Not found</h1><p>{esc(what)}</p><p><a href="/demo">Back to the shop</a></p>'


def tracked_category(cat: Category) -> str:
    """The category as the shop's events name it: words, not the URL slug, because skills
    put it into offer messages ("the best value in gas stoves")."""
    return cat.name.lower()


def _card(product: Product) -> str:
    # data-id, not data-product-id: the SDK takes the first data-product-id element as the
    # page's product, and a category or search page is not a product page.
    stock = "" if product.in_stock else '<span class="badge out">Out of stock</span>'
    return (
        f'<li class="card" data-id="{esc(product.id)}" data-price="{product.price_cents}">'
        f'<a href="/demo/product/{esc(product.id)}">{esc(product.name)}</a>'
        f'<span class="price">{esc(product.price)}</span>{stock}'
        f"<p>{esc(product.summary)}</p></li>"
    )


def _link(href: str, label: str) -> str:
    return f'<a href="{esc(href)}">{esc(label)}</a>'


def home(public_key: str) -> str:
    skills = "".join(
        f'<li class="skill"><h3>{esc(s.name)}</h3><p>{esc(s.what)}</p><p class="how">{s.how}</p>'
        f'<p class="try">{" → ".join(_link(href, label) for label, href in s.try_it)}</p></li>'
        for s in SKILLS
    )
    categories = "".join(
        f'<li><a href="/demo/category/{esc(c.slug)}">{esc(c.name)}</a>: {esc(c.blurb)}</li>' for c in CATEGORIES
    )
    articles = "".join(f'<li><a href="{esc(article_href(a))}">{esc(a.title)}</a> ({esc(a.kind)})</li>' for a in ARTICLES)
    body = f"""<h1>Chatlens demo kitchen</h1>
<p class="lead">A small shop on this Chatlens server. Every page carries the browser SDK; the
strip at the bottom shows what it tracks and what the server sends back. When a skill of the
intent engine qualifies, an offer pops up beside the chat button (bottom right): accept it to
start a simulated chat, dismiss it, or turn offers off.</p>
<h2>Trigger each skill by hand</h2>
<ol class="skills">{skills}</ol>
<p class="note">With the shipped skills file a visitor gets at most one offer per session
and none for 24 hours after one, and one qualified visitor in ten is held out as a control
group (the decision is stored, no offer is shown). To try the next skill, open a new private
window: a new visitor.</p>
<h2>Shop</h2>
<ul>{categories}</ul>
<h2>Reading</h2>
<ul>{articles}</ul>"""
    return layout("Home", body, public_key, page_type="home")


def category(public_key: str, cat: Category) -> str:
    cards = "".join(_card(p) for p in in_category(cat.slug))
    body = f"""<nav class="crumbs"><a href="/demo">Home</a> › {esc(cat.name)}</nav>
<h1>{esc(cat.name)}</h1>
<p>{esc(cat.blurb)}</p>
<div class="sort" role="group" aria-label="Sort">Sort:
  <button type="button" data-sort="featured" aria-pressed="true">featured</button>
  <button type="button" data-sort="low_to_high" aria-pressed="false">price low to high</button>
  <button type="button" data-sort="high_to_low" aria-pressed="false">price high to low</button>
</div>
<ul class="grid" id="grid" data-category="{esc(tracked_category(cat))}">{cards}</ul>"""
    return layout(cat.name, body, public_key, page_type="category")


def product(public_key: str, item: Product) -> str:
    cat = CATEGORY_BY_SLUG[item.category]
    others = "".join(_card(p) for p in in_category(item.category) if p.id != item.id)
    if item.in_stock:
        stock = '<p class="badge in">In stock</p>'
        button = '<button type="button" class="buy" data-add-to-cart>Add to cart</button>'
    else:
        stock = '<p class="badge out">Out of stock: back in about two weeks</p>'
        button = '<button type="button" class="buy" disabled>Add to cart</button>'
    # The data-* attributes of this element are the page's product for the SDK
    # (data-product-id: page_view gets pageType 'product') and for shop.js
    # (product_status on load, cart_action on "Add to cart").
    body = f"""<nav class="crumbs"><a href="/demo">Home</a> › <a href="/demo/category/{esc(cat.slug)}">{esc(cat.name)}</a> › {esc(item.name)}</nav>
<article class="product" data-product-id="{esc(item.id)}" data-product-name="{esc(item.name)}"
  data-category="{esc(tracked_category(cat))}" data-stock="{esc(item.stock_status)}">
  <h1>{esc(item.name)}</h1>
  <p class="price">{esc(item.price)}</p>
  {stock}
  <p>{esc(item.summary)}</p>
  {button} <span class="added" id="added" hidden>Added to your cart</span>
</article>
<h2>More {esc(cat.name.lower())}</h2>
<ul class="grid">{others}</ul>"""
    return layout(item.name, body, public_key)


def article_href(article: Article) -> str:
    return f"/demo/{'guide' if article.kind == 'guide' else 'blog'}/{article.slug}"


def article(public_key: str, item: Article) -> str:
    paragraphs = "".join(f"<p>{esc(p)}</p>" for p in item.paragraphs)
    related = "".join(_card(PRODUCT_BY_ID[pid]) for pid in item.related)
    label = "Buying guide" if item.kind == "guide" else "Blog"
    body = f"""<nav class="crumbs"><a href="/demo">Home</a> › {esc(label)}</nav>
<article class="post"><h1>{esc(item.title)}</h1>{paragraphs}</article>
<h2>Products in this article</h2>
<ul class="grid">{related}</ul>"""
    return layout(item.title, body, public_key, page_type=item.kind)


def search(public_key: str, query: str, results: list[Product]) -> str:
    # categoryContext for search_event: the category of the results when they share one
    # ("range hood" -> "range hoods").
    cats = {p.category for p in results}
    context = tracked_category(CATEGORY_BY_SLUG[cats.pop()]) if len(cats) == 1 else ""
    if not query.strip():
        listing = "<p>Type what you are looking for above.</p>"
    elif results:
        listing = f'<ul class="grid">{"".join(_card(p) for p in results)}</ul>'
    else:
        listing = f'<p>Nothing matches “{esc(query)}”. Try <a href="/demo/search?q={quote("range hood")}">range hood</a>.</p>'
    body = f"""<nav class="crumbs"><a href="/demo">Home</a> › Search</nav>
<section class="results" data-search-query="{esc(query)}" data-search-category="{esc(context)}">
<h1>Search: {esc(query)}</h1>
{listing}
</section>"""
    return layout(f"Search: {query}" if query else "Search", body, public_key, page_type="search")
