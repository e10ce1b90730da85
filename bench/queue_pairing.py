"""Ranked queue pairing latency with many players waiting, against a bare WebSocket round trip.

    .venv/bin/python bench/queue_pairing.py [--waiting 200] [--pairs 40] [--pings 5]

The production topology on loopback (harness/production_stack.py): two daphne processes on a fresh
PostgreSQL database and a private redis-server holding the queue. First --waiting clients join the
queue of the fixture map, half on each daphne, with ratings 1000 apart (further than any window:
they stay waiting all run). Then, --pairs times: player A joins on daphne 1 and waits for `queued`;
the clock starts as player B opens its socket on daphne 2 (same rating as A); pairing latency is
until both have `matched` (B's handshake and join, the pairing with the whole queue read from Redis,
the ranked duel made in PostgreSQL, both told over the Redis channel layer). Baseline, in the same
run and interleaved with the pairs: a WebSocket ping/pong round trip (RFC 6455 control frames,
answered by daphne itself) on one of the waiting sockets, --pings after each pair.

Needs PostgreSQL (TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432) and redis-server on
PATH; the database it makes is dropped at the end.
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CONNECTING_AT_ONCE = 20


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--waiting", type=int, default=200, help="clients waiting in the queue (default 200)")
    p.add_argument("--pairs", type=int, default=40, help="pairs measured (default 40)")
    p.add_argument("--pings", type=int, default=5, help="ping round trips after each pair (default 5)")
    args = p.parse_args()
    if args.waiting < 0 or args.pairs < 1 or args.pings < 1:
        p.error("--waiting must be 0 or more, --pairs and --pings at least 1")
    return args


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def open_socket(web_url, session_key):
    import websockets

    return await websockets.connect(
        "ws" + web_url.removeprefix("http") + "/ws/ranked/queue/fixture-world/",
        origin=web_url,
        additional_headers={"Cookie": f"sessionid={session_key}"},
        proxy=None,
        open_timeout=60,
        ping_interval=None,
        max_queue=None,
    )


async def expect(ws, kind, timeout=60):
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if msg["type"] == kind:
            return msg
        if msg["type"] == "error":
            raise RuntimeError(f"expected {kind}, got {msg}")


async def run(stack, accounts, args):
    webs = [w.url for w in stack.webs]
    waiting_names = [f"w{i}" for i in range(args.waiting)]
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def join(i, name):
        async with gate:
            ws = await open_socket(webs[i % 2], accounts[name]["session"])
            await expect(ws, "queued")
            return ws

    started = time.perf_counter()
    waiting = await asyncio.gather(*(join(i, n) for i, n in enumerate(waiting_names)))
    joined_s = time.perf_counter() - started
    size = stack.redis.hlen(f"{stack.queue}:ranked-queue:fixture-world")
    print(f"{len(waiting)} clients waiting (Redis holds {size}), joined in {joined_s:.1f} s")
    pinger = waiting[0] if waiting else await join(0, "spare")

    pairing, pings = [], []
    for i in range(args.pairs):
        a = await open_socket(webs[0], accounts[f"a{i}"]["session"])
        await expect(a, "queued")
        t0 = time.perf_counter()
        b = await open_socket(webs[1], accounts[f"b{i}"]["session"])
        got = await asyncio.gather(expect(a, "matched"), expect(b, "matched"))
        pairing.append(time.perf_counter() - t0)
        if got[0]["duel"] != got[1]["duel"] or got[0]["opponent"]["kind"] != "human":
            raise RuntimeError(f"pair {i} was not paired together: {got}")
        await asyncio.gather(a.close(), b.close())
        for _ in range(args.pings):
            t = time.perf_counter()
            await (await pinger.ping())
            pings.append(time.perf_counter() - t)
    size_after = stack.redis.hlen(f"{stack.queue}:ranked-queue:fixture-world")
    await asyncio.gather(*(ws.close() for ws in waiting))
    return pairing, pings, size_after


def main():
    args = parse_args()
    from harness.production_stack import missing_services, private_redis, production_stack
    from harness.ranked_queue import make_accounts

    missing = missing_services()
    if missing:
        sys.exit("queue_pairing: " + "; ".join(missing))
    settings = {
        "GEOGAME_RANKED_QUEUE_MACHINE_S": 3600,  # nobody is sent to a machine during the run
        "GEOGAME_RATE_LIMIT_QUEUE": "0/600",  # every client joins from 127.0.0.1
        "GEOGAME_DUEL_MESSAGE_RATE": "0/1",
    }
    accounts_wanted = [(f"w{i}", 10_000.0 + 1000 * i) for i in range(args.waiting)]
    accounts_wanted += [(f"{side}{i}", 1500.0) for i in range(args.pairs) for side in "ab"]
    accounts_wanted += [("spare", 5000.0)]
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp:
        workdir = Path(tmp)
        with private_redis(workdir / "redis") as redis_server:
            with production_stack(
                workdir, name="queuebench", redis_url=redis_server.url(), web=2, workers=0, settings=settings
            ) as stack:
                import redis

                stack.redis = redis.Redis.from_url(redis_server.url())
                accounts = make_accounts(stack, accounts_wanted)
                pairing, pings, size_after = asyncio.run(run(stack, accounts, args))
    ms = [x * 1000 for x in pairing]
    base = [x * 1000 for x in pings]
    print(f"queue still holds {size_after} waiting after the pairs (expected {max(args.waiting, 1)})")
    print(f"{'':28}{'p50':>9}{'p95':>9}{'p99':>9}  (ms)")
    for label, values in (("pairing (join -> matched)", ms), ("WebSocket ping round trip", base)):
        print(f"{label:28}" + "".join(f"{percentile(values, q):9.1f}" for q in (50, 95, 99)))
    print(
        "ratio pairing / ping:       "
        + "".join(f"{percentile(ms, q) / percentile(base, q):9.1f}" for q in (50, 95, 99))
    )
    print(f"pairs {len(ms)}, pings {len(base)}, mean pairing {statistics.mean(ms):.1f} ms")


if __name__ == "__main__":
    main()
