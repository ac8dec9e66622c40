"""The store contract (issue 8): every test runs on the in-process store and on a real redis-server."""

from __future__ import annotations

import asyncio

import pytest

from store import Cancelled, Decision, RequestLimit, State, WorkStore
from tests.store.conftest import Clock, StoreFactory

H = "A" * 64
H2 = "B" * 64
WORK = bytes.fromhex("0102030405060708")
LEASE = 30.0


async def submit(store: WorkStore, clock: Clock, threshold: int, caller: str | None = None,
                 hash: str = H, wait: float = 600.0):
    return await store.submit(hash, threshold, f"http://127.0.0.1:9/{threshold}", caller,
                              clock.now + wait)


async def test_first_request_queues_a_search_and_looser_ones_join_it(store: WorkStore, clock: Clock):
    first = await submit(store, clock, 1000)
    assert first.decision is Decision.QUEUED
    assert (await submit(store, clock, 1000)).decision is Decision.JOINED
    assert (await submit(store, clock, 5000)).decision is Decision.JOINED
    status = await store.status(H)
    assert (status.state, status.threshold) == (State.QUEUED, 1000)


async def test_a_stricter_request_queues_a_stricter_search(store: WorkStore, clock: Clock):
    await submit(store, clock, 1000)
    assert (await submit(store, clock, 999)).decision is Decision.QUEUED
    assert (await submit(store, clock, 999)).decision is Decision.JOINED
    assert (await store.status(H)).threshold == 999


async def test_two_replicas_submitting_one_hash_at_once_queue_one_search(make_store: StoreFactory,
                                                                         clock: Clock):
    first, second = make_store(), make_store()
    answers = await asyncio.gather(*(submit(replica, clock, 1000) for replica in [first, second] * 25))
    decisions = [answer.decision for answer in answers]
    assert decisions.count(Decision.QUEUED) == 1
    assert decisions.count(Decision.JOINED) == 49
    assert len({answer.request.id for answer in answers}) == 50


async def test_a_work_is_delivered_to_the_requests_it_satisfies(store: WorkStore, clock: Clock):
    loose = await submit(store, clock, 5000)
    strict = await submit(store, clock, 100)
    done = await store.complete(H, WORK, 4000, LEASE)
    assert [r.id for r in done.deliver] == [loose.request.id]
    assert done.deliver[0] == loose.request  # every field comes back as submitted
    assert (done.pending, done.strictest, done.requeue, done.in_flight) == (1, 100, None, 0)
    await store.finish(H, [loose.request.id])
    assert (await store.status(H)).state is State.QUEUED  # the strict one still waits
    done = await store.complete(H, WORK, 50, LEASE)
    assert [r.id for r in done.deliver] == [strict.request.id]
    assert (done.pending, done.strictest) == (0, None)
    await store.finish(H, [strict.request.id])
    status = await store.status(H)
    assert (status.state, status.threshold, status.work) == (State.DONE, 100, WORK)


async def test_a_redelivered_result_delivers_nothing_twice(store: WorkStore, clock: Clock):
    await submit(store, clock, 5000)
    first = await store.complete(H, WORK, 10, LEASE)
    assert len(first.deliver) == 1
    again = await store.complete(H, WORK, 10, LEASE)
    assert (again.deliver, again.in_flight) == ((), 1)  # the first delivery is still running
    await store.finish(H, [first.deliver[0].id])
    assert (await store.complete(H, WORK, 10, LEASE)).deliver == ()


async def test_two_replicas_completing_at_once_deliver_each_request_once(make_store: StoreFactory,
                                                                         clock: Clock):
    first, second = make_store(), make_store()
    ids = {(await submit(first, clock, 5000 + n)).request.id for n in range(20)}
    a, b = await asyncio.gather(first.complete(H, WORK, 10, LEASE), second.complete(H, WORK, 10, LEASE))
    delivered = [r.id for r in a.deliver + b.deliver]
    assert sorted(delivered) == sorted(ids)
    assert sorted([len(a.deliver), len(b.deliver)]) == [0, 20]
    assert max(a.in_flight, b.in_flight) == 20


async def test_a_released_delivery_is_claimed_again_by_the_next_result(store: WorkStore, clock: Clock):
    request = (await submit(store, clock, 5000)).request
    claimed = await store.complete(H, WORK, 10, LEASE)
    await store.release(H, [r.id for r in claimed.deliver])
    again = await store.complete(H, WORK, 10, LEASE)
    assert [r.id for r in again.deliver] == [request.id]


async def test_a_delivery_whose_lease_ran_out_is_taken_over(store: WorkStore, clock: Clock):
    request = (await submit(store, clock, 5000)).request
    await store.complete(H, WORK, 10, LEASE)  # a replica claims it, then dies
    clock.now += LEASE + 1
    again = await store.complete(H, WORK, 10, LEASE)
    assert [r.id for r in again.deliver] == [request.id]


async def test_a_cached_work_answers_requests_it_satisfies(store: WorkStore, clock: Clock):
    await submit(store, clock, 5000)
    done = await store.complete(H, WORK, 300, LEASE)
    await store.finish(H, [r.id for r in done.deliver])
    cached = await submit(store, clock, 300)
    assert (cached.decision, cached.work) == (Decision.CACHED, WORK)
    assert (await submit(store, clock, 299)).decision is Decision.QUEUED
    assert (await store.status(H)).state is State.QUEUED


async def test_the_best_work_is_kept_in_the_cache(store: WorkStore, clock: Clock):
    better = bytes.fromhex("1111111111111111")
    await store.complete(H, better, 100, LEASE)
    await store.complete(H, WORK, 900, LEASE)
    assert (await submit(store, clock, 150)).work == better


async def test_cancel_by_caller_leaves_the_others_waiting(store: WorkStore, clock: Clock):
    await submit(store, clock, 1000, caller="alice")
    await submit(store, clock, 1000, caller="alice")
    await submit(store, clock, 2000, caller="bob")
    assert await store.cancel(H, "mallory") == Cancelled(0, False)  # nothing of theirs waits
    assert await store.cancel(H2, None) == Cancelled(0, True)  # nothing waits at all
    cancelled = await store.cancel(H, "alice")
    assert (cancelled.count, cancelled.stop) == (2, False)
    assert (await store.status(H)).state is State.QUEUED
    cancelled = await store.cancel(H, "bob")
    assert (cancelled.count, cancelled.stop) == (1, True)
    status = await store.status(H)
    assert (status.state, status.threshold) == (State.CANCELLED, 2000)
    assert not await store.is_live(H)
    # Nothing is delivered for a cancelled request; a new request queues a new search.
    assert (await store.complete(H, WORK, 10, LEASE)).deliver == ()
    assert (await submit(store, clock, 5)).decision is Decision.QUEUED


async def test_cancel_without_a_caller_cancels_every_request(store: WorkStore, clock: Clock):
    await submit(store, clock, 1000, caller="alice")
    await submit(store, clock, 1000, caller=None)
    cancelled = await store.cancel(H, None)
    assert (cancelled.count, cancelled.stop) == (2, True)
    assert (await store.cancel(H, None)).count == 0


async def test_requests_past_their_deadline_expire(store: WorkStore, clock: Clock):
    short = (await submit(store, clock, 1000, wait=10)).request
    await submit(store, clock, 2000, wait=100)
    await submit(store, clock, 1000, hash=H2, wait=10)
    assert await store.expire(clock.now + 5) == []
    expired = sorted(await store.expire(clock.now + 10), key=lambda e: e.hash)
    assert [(e.hash, e.count, e.stop) for e in expired] == [(H, 1, False), (H2, 1, True)]
    assert (await store.status(H2)).state is State.EXPIRED
    assert (await store.status(H)).state is State.QUEUED
    assert await store.is_live(H) and not await store.is_live(H2)
    done = await store.complete(H, WORK, 10, LEASE)
    assert short.id not in [r.id for r in done.deliver]
    assert len(done.deliver) == 1


async def test_a_request_being_delivered_does_not_expire(store: WorkStore, clock: Clock):
    await submit(store, clock, 1000, wait=10)
    await store.complete(H, WORK, 10, LEASE)
    assert await store.expire(clock.now + 20) == []
    assert (await store.status(H)).state is State.DONE


async def test_a_live_request_is_not_live_after_its_deadline(store: WorkStore, clock: Clock):
    await submit(store, clock, 1000, wait=10)
    assert await store.is_live(H)
    clock.now += 11
    assert not await store.is_live(H)


async def test_a_withdrawn_request_leaves_its_joiners_to_the_next_result(store: WorkStore, clock: Clock):
    queued = (await submit(store, clock, 1000)).request
    joined = (await submit(store, clock, 2000)).request
    await store.withdraw(queued)  # its search could not be published
    # The first result that misses the joiner (a stale one) finds no search for it: requeue once.
    done = await store.complete(H, WORK, 3000, LEASE)
    assert (done.deliver, done.requeue, done.pending) == ((), joined, 1)
    assert (await store.complete(H, WORK, 3000, LEASE)).requeue is None


async def test_thresholds_above_2_to_the_53_compare_exactly(store: WorkStore, clock: Clock):
    top = 2**64 - 1
    await submit(store, clock, top)
    assert (await submit(store, clock, top - 1)).decision is Decision.QUEUED
    done = await store.complete(H, WORK, top, LEASE)
    assert [r.threshold for r in done.deliver] == [top]
    assert (done.pending, done.strictest) == (1, top - 1)


async def test_a_hash_holds_a_bounded_number_of_requests(make_store: StoreFactory, clock: Clock):
    store = make_store(max_requests=3)
    for _ in range(3):
        await submit(store, clock, 1000)
    with pytest.raises(RequestLimit):
        await submit(store, clock, 1000)
    assert (await submit(store, clock, 1000, hash=H2)).decision is Decision.QUEUED


async def test_an_unknown_hash_has_no_status(store: WorkStore):
    assert await store.status(H) is None
    assert not await store.is_live(H)


async def test_a_forgotten_search_is_queued_again(store: WorkStore, clock: Clock):
    await submit(store, clock, 1000)
    await store.forget_search(H)  # its publish failed
    assert (await submit(store, clock, 2000)).decision is Decision.QUEUED


async def test_200_requests_for_10_hashes_on_two_replicas_make_10_searches_and_200_deliveries(
        make_store: StoreFactory, clock: Clock):
    replicas = [make_store(), make_store()]
    hashes = [f"{n:064X}" for n in range(10)]
    sends = [(replicas[i // 10 % 2], hashes[i % 10]) for i in range(200)]  # each hash on both
    answers = await asyncio.gather(*(submit(r, clock, 1000, hash=h) for r, h in sends))
    queued = [a.request.hash for a in answers if a.decision is Decision.QUEUED]
    assert sorted(queued) == hashes  # one search per hash
    results = await asyncio.gather(*(r.complete(h, WORK, 10, LEASE) for h in hashes for r in replicas))
    delivered = [r.id for done in results for r in done.deliver]
    assert sorted(delivered) == sorted(a.request.id for a in answers)  # each once
