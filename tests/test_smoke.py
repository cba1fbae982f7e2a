from conftest import Server


def test_server_accepts_a_page_view_and_returns_it(server: Server) -> None:
    r = server.post(server.envelope([{"type": "page_view", "url": "https://shop.example/"}]))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    events = server.all_events()
    assert [e["data"]["url"] for e in events] == ["https://shop.example/"]
