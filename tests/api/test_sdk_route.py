"""`GET /sdk.js`: the built SDK, gzipped when asked, revalidated by ETag."""

import gzip

import httpx
from conftest import Server

from chatlens.browser import MINIFIED


def test_sdk_is_served_gzipped_and_revalidated_by_etag(server: Server) -> None:
    plain = httpx.get(f"{server.url}/sdk.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("application/javascript")
    assert plain.content == MINIFIED.read_bytes()
    with httpx.Client() as client:  # httpx decodes gzip itself; look at the raw bytes
        raw = client.send(client.build_request("GET", f"{server.url}/sdk.js", headers={"Accept-Encoding": "gzip"}), stream=True)
        body = b"".join(raw.iter_raw())
    assert raw.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == plain.content
    again = httpx.get(f"{server.url}/sdk.js", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304
