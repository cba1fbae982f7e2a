"""chatlens._ids.uuid7: the ids the server makes for events, offers and deliveries."""

import re
import time
import uuid

from chatlens._ids import uuid7

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_ids_for_now_are_uuid7_strictly_increasing_and_unique_across_random_blocks():
    before = time.time_ns() // 1_000_000
    ids = [uuid7() for _ in range(5_000)]  # 50,000 random bytes: a dozen blocks read from the OS
    after = time.time_ns() // 1_000_000
    assert all(UUID7.match(i) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    millis = [uuid.UUID(i).int >> 80 for i in ids]
    assert before <= millis[0] and millis[-1] <= after + 1  # a counter overflow may borrow 1 ms


def test_ids_for_a_given_time_carry_it_and_differ_in_their_random_bits():
    ids = [uuid7(1_700_000_000_123) for _ in range(1_000)]
    assert {uuid.UUID(i).int >> 80 for i in ids} == {1_700_000_000_123}
    assert all(UUID7.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    # rand_b (62 bits) is random, not a counter: about half of each bit is set
    low = [uuid.UUID(i).int & (2**62 - 1) for i in ids]
    for bit in (0, 17, 40, 61):
        assert 350 < sum(v >> bit & 1 for v in low) < 650, bit
