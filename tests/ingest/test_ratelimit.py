"""Per-session rate limit: a burst up to the limit, then Retry-After that really works."""

from chatlens.ingest.ratelimit import RateLimiter


def test_the_31st_request_in_a_minute_waits_and_the_retry_after_is_enough() -> None:
    limiter = RateLimiter(30)
    assert all(limiter.check("site", "s1", now=100.0) == 0 for _ in range(30))
    wait = limiter.check("site", "s1", now=100.0)
    assert wait == 2  # one token refills in 60/30 = 2 s
    assert limiter.check("site", "s2", now=100.0) == 0, "sessions are limited separately"
    assert limiter.check("site", "s1", now=100.0 + wait) == 0


def test_zero_disables_the_limit() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.check("site", "s", now=1.0) == 0 for _ in range(1000))
