"""The demo shop's fixed catalog: a small kitchen-and-home store.

The products are chosen so that each default skill has something to act on: two similar
headphones (comparison), gas stoves and range hoods (bundle), out-of-stock items
(out-of-stock interest), categories worth sorting by price (value seeking), and articles
long enough to stay on (research).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Category:
    slug: str
    name: str
    blurb: str


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    category: str  # a Category.slug
    price_cents: int
    summary: str
    in_stock: bool = True
    tags: tuple[str, ...] = ()  # extra words the search matches

    @property
    def price(self) -> str:
        return f"${self.price_cents // 100:,}.{self.price_cents % 100:02d}"

    @property
    def stock_status(self) -> str:
        # the values of product_status.status in docs/events.md
        return "in_stock" if self.in_stock else "out_of_stock"


@dataclass(frozen=True, slots=True)
class Article:
    slug: str
    kind: str  # "blog" or "guide": the page's data-page-type, which the research skill reads
    title: str
    paragraphs: tuple[str, ...]
    related: tuple[str, ...] = ()  # product ids


CATEGORIES: tuple[Category, ...] = (
    Category("gas-stoves", "Gas stoves", "Burners from a camping two-ring to a five-burner range."),
    Category("range-hoods", "Range hoods", "Clear the smoke your stove makes."),
    Category("headphones", "Headphones", "Noise cancelling and wired models."),
    Category("air-conditioners", "Air conditioners", "Split and window units for summer."),
)

PRODUCTS: tuple[Product, ...] = (
    Product("stove-2b", "Flamecraft 2-Burner Gas Stove", "gas-stoves", 18900,
            "Two brass burners and a cast-iron grate; fits a small kitchen.", tags=("gas stove", "cooktop")),
    Product("stove-4b", "Flamecraft 4-Burner Gas Range", "gas-stoves", 64900,
            "Four burners, a wok ring and an 80-litre oven.", tags=("gas stove", "oven", "range")),
    Product("stove-5b", "Hearth Pro 5-Burner Cooktop", "gas-stoves", 89900,
            "A 5 kW centre burner for serious cooking.", in_stock=False, tags=("gas stove", "cooktop")),
    Product("hood-60", "Airline Slim Range Hood 60 cm", "range-hoods", 22900,
            "Slim under-cabinet hood, 420 m³/h, three speeds.", tags=("range hood", "extractor")),
    Product("hood-90", "Airline Island Range Hood 90 cm", "range-hoods", 54900,
            "Island hood with LED lights, 750 m³/h, quiet at 52 dB.", tags=("range hood", "extractor")),
    Product("hp-aurora", "Aurora ANC Headphones", "headphones", 19900,
            "Active noise cancelling, 30 hours of battery.", tags=("wireless", "bluetooth", "noise cancelling")),
    Product("hp-aurora-pro", "Aurora Pro ANC Headphones", "headphones", 24900,
            "Aurora with adaptive ANC, multipoint and 40 hours of battery.",
            tags=("wireless", "bluetooth", "noise cancelling")),
    Product("hp-studio", "Studio Wired Headphones", "headphones", 8900,
            "Closed-back studio monitors on a detachable cable.", tags=("wired",)),
    Product("ac-split", "Polar Split Air Conditioner 12,000 BTU", "air-conditioners", 69900,
            "Inverter split unit for rooms up to 35 m².", in_stock=False, tags=("aircon", "ac", "cooling")),
    Product("ac-window", "Polar Window Air Conditioner 8,000 BTU", "air-conditioners", 32900,
            "Window unit for rooms up to 20 m².", tags=("aircon", "ac", "cooling")),
)

ARTICLES: tuple[Article, ...] = (
    Article(
        "range-hood-buying-guide",
        "guide",
        "Buying guide: choosing a range hood",
        (
            "A range hood should move the air above your whole cooktop, so start with width: "
            "at least as wide as the stove, wider for an island.",
            "Airflow is quoted in cubic metres per hour. For a gas stove, plan on 10 times the "
            "kitchen's volume each hour; a four-burner range in an open kitchen needs 600 m³/h or more.",
            "Ducted hoods take the air outside; recirculating hoods filter it and need new "
            "charcoal filters every few months. Ducted is quieter and works better with gas.",
            "Noise matters more than the spec sheet suggests: under 55 dB at the speed you will "
            "use every day is comfortable for talking.",
        ),
        related=("hood-60", "hood-90"),
    ),
    Article(
        "cleaning-gas-burners",
        "blog",
        "How to clean gas burners in ten minutes",
        (
            "Let the burners cool, lift off the grates and caps, and soak them in hot water with "
            "a spoon of washing soda.",
            "Clear the burner ports with a straightened paper clip, never a toothpick, which can "
            "break off inside.",
            "Dry every part before you put it back: a wet cap makes the flame yellow and uneven.",
        ),
        related=("stove-2b", "stove-4b"),
    ),
    Article(
        "quiet-cooling",
        "blog",
        "Keeping a bedroom cool without the noise",
        (
            "Split air conditioners put the compressor outside, so the room unit can run under "
            "25 dB at night.",
            "A window unit costs half as much but brings the compressor into the window frame; "
            "look for an inverter model if you sleep lightly.",
        ),
        related=("ac-split", "ac-window"),
    ),
)

CATEGORY_BY_SLUG = {c.slug: c for c in CATEGORIES}
PRODUCT_BY_ID = {p.id: p for p in PRODUCTS}
ARTICLE_BY_SLUG = {a.slug: a for a in ARTICLES}


def in_category(slug: str) -> list[Product]:
    return [p for p in PRODUCTS if p.category == slug]


def search(query: str) -> list[Product]:
    """Products whose name, category or tags contain every word of the query."""
    words = query.lower().split()
    if not words:
        return []

    def text(p: Product) -> str:
        return " ".join((p.name, CATEGORY_BY_SLUG[p.category].name, *p.tags)).lower()

    return [p for p in PRODUCTS if all(w in text(p) for w in words)]
