"""The demo shop's pages over HTTP, from the real server (`chatlens serve`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from client.async_helpers import run_async
from conftest import Server, start_server  # tests/conftest.py
from starlette.requests import Request

from chatlens.demo import DemoShop
from chatlens.sites import SiteRegistry

PAGES = [
    "/demo",
    "/demo/category/gas-stoves",
    "/demo/category/headphones",
    "/demo/product/hp-aurora",
    "/demo/product/ac-split",
    "/demo/blog/cleaning-gas-burners",
    "/demo/guide/range-hood-buying-guide",
    "/demo/search?q=range+hood",
    "/demo/search",
]


@pytest.fixture(scope="module")
def shop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("demo") / "chatlens.duckdb")
    yield srv
    srv.stop()


def get(server: Server, path: str) -> httpx.Response:
    return httpx.get(server.url + path, timeout=10)


@pytest.mark.parametrize("path", PAGES)
def test_each_page_carries_the_stub_and_the_sdk_tag_with_the_default_sites_key(shop_server: Server, path: str) -> None:
    response = get(shop_server, path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    tag = f'<script src="/sdk.js" data-site="{shop_server.keys["public_key"]}" async></script>'
    assert tag in page
    # the stub comes first, so the page's scripts may call chatlens.* before the SDK loads
    assert page.index("c=w.chatlens=w.chatlens||{q:[]}") < page.index(tag)
    assert '<script src="/demo/static/widget.js" defer></script>' in page
    assert 'id="event-log"' in page


def test_page_types_for_the_sdk(shop_server: Server) -> None:
    """What the SDK reads for page_view: data-product-id on a product page only, and
    <body data-page-type> on articles (the research skill's pages)."""
    product = get(shop_server, "/demo/product/ac-split").text
    assert re.search(r'data-product-id="ac-split"[^>]*data-stock="out_of_stock"', product, re.S)
    assert 'data-stock="in_stock"' in get(shop_server, "/demo/product/hp-aurora").text
    assert "data-product-id" not in get(shop_server, "/demo/category/headphones").text
    assert '<body data-page-type="blog">' in get(shop_server, "/demo/blog/cleaning-gas-burners").text
    assert '<body data-page-type="guide">' in get(shop_server, "/demo/guide/range-hood-buying-guide").text


@pytest.mark.parametrize(
    "path",
    ["/demo/product/nope", "/demo/category/nope", "/demo/blog/nope", "/demo/blog/range-hood-buying-guide"],
)
def test_unknown_things_are_404_pages(shop_server: Server, path: str) -> None:
    response = get(shop_server, path)
    assert response.status_code == 404
    assert "Not found" in response.text
    assert shop_server.keys["public_key"] in response.text  # still a shop page, with the SDK


def test_search_query_comes_back_escaped(shop_server: Server) -> None:
    query = '<script>alert("x")</script>" onmouseover="alert(1)'
    response = httpx.get(shop_server.url + "/demo/search", params={"q": query}, timeout=10)
    assert response.status_code == 200
    page = response.text
    assert "<script>alert" not in page
    assert 'onmouseover="alert' not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&quot; onmouseover=&quot;alert(1)" in page


def test_search_finds_range_hoods_and_names_their_category(shop_server: Server) -> None:
    page = get(shop_server, "/demo/search?q=range+hood").text
    assert 'data-search-query="range hood" data-search-category="range hoods"' in page
    assert "Airline Slim Range Hood" in page and "Airline Island Range Hood" in page


def test_static_files(shop_server: Server) -> None:
    for name, media in (("widget.js", "application/javascript"), ("shop.js", "application/javascript"), ("shop.css", "text/css")):
        response = get(shop_server, "/demo/static/" + name)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media)
    assert get(shop_server, "/demo/static/nope.js").status_code == 404
    assert get(shop_server, "/demo/static/..%2F__init__.py").status_code == 404


def test_without_a_site_the_demo_says_how_to_make_one() -> None:
    # A running server always has a site (the first start makes one): call the page alone.
    shop = DemoShop(SiteRegistry())
    request = Request({"type": "http", "method": "GET", "path": "/demo", "headers": [], "query_string": b""})
    response = run_async(shop.home(request))
    assert response.status_code == 503
    page = bytes(response.body).decode()
    assert "chatlens site create" in page
    assert "/sdk.js" not in page
