"""Duel fan-out under load: many WebSocket clients playing duels at once against one daphne,
one Redis channel layer and one Celery worker, all on this machine.

    .venv/bin/python bench/duel_load.py [--clients 200] [--machine-share 0.5] [--rounds 5]

Half the clients (--machine-share) each duel the centroid machine player (its guesses and the
round timers come from the worker); the others play in pairs, human against human (their
guesses come through daphne). Every client guesses each round after a random 0.2-1.5 s.

Measured per event delivered to a socket: fan-out latency = when the client received it minus
the `at` the publisher stamped on it right after its transaction committed (same machine, same
clock). Lost events: versions a client never received between its first state and the duel's
final version in the database. The run stops by itself when every duel is over, or after
--max-seconds. Needs Redis (--redis-url; nothing in it is flushed). Everything else is built
in a temporary folder (harness/duel_stack.py: SQLite, the fixture map, daphne and the worker).
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: `tests` and the apps import from the repo

CONNECTING_AT_ONCE = 20
EVENTS = ("seat_joined", "round_started", "opponent_guessed", "round_result", "duel_over")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=200, help="WebSocket clients in all (default 200)")
    p.add_argument(
        "--machine-share",
        type=float,
        default=0.5,
        help="share of clients that duel the centroid player; the others play in pairs",
    )
    p.add_argument("--rounds", type=int, default=5, help="maximum rounds per duel (default 5)")
    p.add_argument("--round-s", type=int, default=20, help="a round's clock (default 20 s)")
    p.add_argument("--max-seconds", type=float, default=180, help="stop after this long in any case")
    p.add_argument("--worker-threads", type=int, default=8)
    p.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/10",
        help="shared safely: the run has its own queue and channel prefix; nothing is flushed",
    )
    p.add_argument("--workdir", help="keep the database and logs here (default: a temporary folder)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.clients < 1 or not 0 <= args.machine_share <= 1:
        p.error("--clients must be at least 1 and --machine-share within [0, 1]")
    return args


def settings_env(args):
    """The duel settings, the same for daphne, the worker and this process (which creates the duels)."""
    return {
        "GEOGAME_DUEL_ROUND_S": args.round_s,
        "GEOGAME_DUEL_MAX_ROUNDS": args.rounds,
        "GEOGAME_DUEL_START_S": 6,  # time for every client to connect before round 1
        "GEOGAME_DUEL_INTERMISSION_S": 1.0,
        "GEOGAME_MACHINE_THINK_S": 1.0,
        "GEOGAME_DEADLINE_GRACE_S": 1.0,
    }


def create_duels(workdir, args, stack_env):
    """Duels and session cookies made directly with the services (fast; the pages are tested
    elsewhere). Returns [(duel public id, cookie)] with one entry per client."""
    os.environ.update(
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        GEOGAME_DATA_DIR=str(workdir),
        REDIS_URL=args.redis_url,
        GEOGAME_CELERY_QUEUE=stack_env["GEOGAME_CELERY_QUEUE"],  # where the stack's worker listens
        GEOGAME_CHANNELS_PREFIX=stack_env["GEOGAME_CHANNELS_PREFIX"],
        DJANGO_SETTINGS_MODULE="config.settings",
        **{k: str(v) for k, v in settings_env(args).items()},
    )
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    from geogame.duels import services as duel_services
    from geogame.maps.models import Map
    from players.models import Player
    from players.sessions import SESSION_KEY

    m = Map.objects.get()

    def human(name):
        player = Player.objects.create(display_name=name)
        session = SessionStore()
        session[SESSION_KEY] = player.id
        session.create()
        return player, f"{settings.SESSION_COOKIE_NAME}={session.session_key}"

    machine_clients = round(args.clients * args.machine_share)
    pairs = (args.clients - machine_clients) // 2
    machine_clients = args.clients - 2 * pairs
    out = []
    for i in range(machine_clients):
        player, cookie = human(f"m{i}")
        duel = duel_services.duel_create(player=player, map=m, opponent="centroid")
        out.append((str(duel.public_id), cookie, "machine"))
    for i in range(pairs):
        a, cookie_a = human(f"a{i}")
        b, cookie_b = human(f"b{i}")
        duel = duel_services.duel_create(player=a, map=m, opponent=duel_services.HUMAN)
        token = duel.seats.get(seat=1).invite_token
        duel_services.duel_join(token=token, player=b)
        out += [(str(duel.public_id), cookie_a, "pair"), (str(duel.public_id), cookie_b, "pair")]
    return out


@dataclass
class Tally:
    latencies: dict = field(default_factory=lambda: defaultdict(list))  # event type -> [ms]
    versions: dict = field(default_factory=dict)  # client index -> (first state version, set of versions)
    errors: list = field(default_factory=list)
    duplicates: int = 0
    over: set = field(default_factory=set)
    kinds: dict = field(default_factory=lambda: defaultdict(list))  # client index -> [(version, type)]


async def play(index, ws_url, origin, duel_id, cookie, tally, rng, stop_at, opening):
    """One client: guess each round after a random pause; record every event's latency."""
    from websockets.asyncio.client import connect

    pending = set()
    try:
        url = f"{ws_url}/ws/duel/{duel_id}/"
        headers = {"Cookie": cookie}
        async with opening:  # a few handshakes at a time: this measures events, not a connect storm
            ws = await connect(url, origin=origin, additional_headers=headers, proxy=None, open_timeout=60)
        async with ws:
            guessed = set()
            first, seen = None, set()

            async def guess_later(round_index):
                await asyncio.sleep(rng.uniform(0.2, 1.5))
                lat, lon = rng.uniform(-60, 70), rng.uniform(-180, 180)
                await ws.send(json.dumps({"type": "guess", "round": round_index, "lat": lat, "lon": lon}))

            def maybe_guess(round_index):
                if round_index not in guessed:
                    guessed.add(round_index)
                    task = asyncio.create_task(guess_later(round_index))
                    pending.add(task)
                    task.add_done_callback(pending.discard)

            while time.monotonic() < stop_at:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=max(0.1, stop_at - time.monotonic()))
                except TimeoutError:
                    break
                received = time.time()
                msg = json.loads(raw)
                kind = msg["type"]
                if kind == "state":
                    if first is None:
                        first = msg["version"]
                    if msg["round"] and msg["round_open"] and msg["you"] not in msg["guessed"]:
                        maybe_guess(msg["round"]["index"])
                    if msg["status"] == "finished":
                        tally.over.add(duel_id)
                        break
                elif kind == "error":
                    tally.errors.append(f"client {index}: error event: {msg['reason']}")
                elif kind in EVENTS:
                    tally.latencies[kind].append((received - msg["at"]) * 1000)
                    tally.kinds[index].append((msg["version"], kind))
                    if msg["version"] in seen:
                        tally.duplicates += 1
                    seen.add(msg["version"])
                    if kind == "round_started":
                        maybe_guess(msg["round"]["index"])
                    elif kind == "duel_over":
                        tally.over.add(duel_id)
                        break
            tally.versions[index] = (duel_id, first, seen)
    except Exception as exc:  # one client's failure is a result, not the end of the run
        tally.errors.append(f"client {index}: {type(exc).__name__}: {exc}")
    finally:
        for task in pending:
            task.cancel()


async def run_clients(stack, clients, args, tally):
    rng = random.Random(args.seed)
    stop_at = time.monotonic() + args.max_seconds
    opening = asyncio.Semaphore(CONNECTING_AT_ONCE)
    players = [
        play(i, stack.ws_url, stack.url, duel, cookie, tally, random.Random(rng.random()), stop_at, opening)
        for i, (duel, cookie, _) in enumerate(clients)
    ]
    await asyncio.gather(*players)


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main():
    args = parse_args()
    import redis

    from harness.duel_stack import prepare_database, running_stack

    redis.Redis.from_url(args.redis_url).ping()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="geogame-duel-load-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    prepare_database(workdir)
    with running_stack(
        workdir,
        name="load",
        redis_url=args.redis_url,
        settings=settings_env(args),
        worker_threads=args.worker_threads,
    ) as stack:
        clients = create_duels(workdir, args, stack.env)
        kinds = [k for _, _, k in clients]
        duels = len({d for d, _, _ in clients})
        tally = Tally()
        pids = {"daphne": stack.daphne_pid, "worker": stack.workers.started[0].pid}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self_before = time.process_time()
        load_before = os.getloadavg()[0]
        began = time.monotonic()
        asyncio.run(run_clients(stack, clients, args, tally))
        elapsed = time.monotonic() - began
        load_after = os.getloadavg()[0]
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        cpu["clients"] = time.process_time() - self_before

        from geogame.duels.models import Duel

        final = {str(k): v for k, v in Duel.objects.values_list("public_id", "version")}
        lost, lost_detail = 0, []
        for index, (duel_id, first, seen) in sorted(tally.versions.items()):
            if first is None:
                continue
            missing = sorted(set(range(first + 1, final[duel_id] + 1)) - seen)
            lost += len(missing)
            if missing:
                lost_detail.append(
                    f"client {index}, duel {duel_id}: state at v{first}, never got v{missing} "
                    f"of v{final[duel_id]}; got {tally.kinds[index][-6:]}"
                )
        rounds = sum(len(r) for r in Duel.objects.values_list("results", flat=True))

    all_ms = [ms for values in tally.latencies.values() for ms in values]
    machines, pairs = kinds.count("machine"), kinds.count("pair") // 2
    print(
        f"duel_load: {len(clients)} WebSocket clients in {duels} duels "
        f"({machines} against the centroid player, {pairs} between two clients)"
    )
    print(
        f"  one daphne, Redis channel layer ({args.redis_url}), one Celery worker "
        f"({args.worker_threads} threads), SQLite; {os.cpu_count()} CPUs"
    )
    print(f"  duels over: {len(tally.over)}/{duels} in {elapsed:.1f} s; rounds played: {rounds}")
    print(
        "  CPU seconds during the run: "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        + f"; 1-min load average {load_before:.1f} before, {load_after:.1f} after"
    )
    print(f"  events delivered: {len(all_ms)}")
    print(
        f"  fan-out latency (committed -> received): p50 {pct(all_ms, 0.50):.1f} ms, "
        f"p99 {pct(all_ms, 0.99):.1f} ms, max {max(all_ms, default=float('nan')):.1f} ms"
    )
    for kind in EVENTS:
        values = tally.latencies.get(kind, [])
        if values:
            print(
                f"    {kind:<17} n={len(values):<5} p50 {pct(values, 0.5):6.1f} ms  "
                f"p99 {pct(values, 0.99):6.1f} ms  mean {statistics.fmean(values):6.1f} ms"
            )
    print(f"  errors: {len(tally.errors)}; lost events: {lost}; duplicate events: {tally.duplicates}")
    for line in tally.errors[:10] + lost_detail[:10]:
        print(f"    {line}")
    met = all_ms and pct(all_ms, 0.99) < 50 and lost == 0 and not tally.errors
    print(f"  goal (p99 < 50 ms, no lost events, no errors): {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
