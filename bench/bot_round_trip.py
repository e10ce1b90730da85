"""The bot API's round trip under load: from a round's start to the bot's guess stored, with many
bots long-polling one daphne at once, against one bot alone in the same run.

    .venv/bin/python bench/bot_round_trip.py [--bots 50] [--waves 5] [--no-views] \
        [--redis-url redis://127.0.0.1:6379/12]

Each bot is a thread running the reference client (bots/example_bot.py's BotClient): long poll,
fetch the round's views (unless --no-views), post a pin. Each bot has a classic game against it; a
wave starts one round in every game (geogame.game.services.round_next, here, as daphne would for a
player), waits until every bot's guess is stored, then answers for the human so the next wave can
start. Round trip = the guess row's created_at minus the round's started_at (one machine, one clock).
Needs Redis (nothing flushed: the stack has its own queue and channel prefix); everything else is
built in a temporary folder (harness/duel_stack.py: SQLite, the fixture map, daphne and a worker).
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

STACK_SETTINGS = {
    "GEOGAME_RATE_LIMIT_BOT_ADDRESS": "0/60",  # every bot polls from this one address
    "GEOGAME_BOT_POLL_MAX_S": 20,
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bots", type=int, default=50)
    p.add_argument("--waves", type=int, default=5, help="rounds per game (at most 5 on the fixture map)")
    p.add_argument("--no-views", action="store_true", help="post the pin without fetching the views")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    p.add_argument("--workdir", help="keep the database and logs here (default: a temporary folder)")
    p.add_argument("--wave-timeout-s", type=float, default=120)
    args = p.parse_args()
    if not 1 <= args.waves <= 5 or args.bots < 1:
        p.error("--waves is 1 to 5 and --bots at least 1")
    return args


def setup_django(workdir, args, stack_env):
    os.environ.update(
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        GEOGAME_DATA_DIR=str(workdir),
        REDIS_URL=args.redis_url,
        GEOGAME_CELERY_QUEUE=stack_env["GEOGAME_CELERY_QUEUE"],
        GEOGAME_CHANNELS_PREFIX=stack_env["GEOGAME_CHANNELS_PREFIX"],
        DJANGO_SETTINGS_MODULE="config.settings",
        **{k: str(v) for k, v in STACK_SETTINGS.items()},
    )
    import django

    django.setup()


def bot_loop(client, stop, fetch_views, errors):
    from bots.example_bot import Revoked

    while not stop.is_set():
        try:
            offer = client.next_round(wait_s=2)
            if offer is None:
                continue
            if fetch_views:
                client.views(offer)
            status, body = client.guess(offer, (10.0, 20.0))
            if status not in (200, 201):
                errors.append(f"{status} {body}")
        except Revoked:
            return
        except Exception as exc:  # counted and shown; the bench goes on
            errors.append(repr(exc))
            time.sleep(0.2)


def run_phase(label, stack_url, n_bots, args):
    """Start `n_bots` bots and as many games; play `args.waves` waves. Returns round trips in ms."""
    from bots.example_bot import BotClient
    from geogame.bots import services as bot_services
    from geogame.game import services as game_services
    from geogame.game.models import Guess
    from geogame.maps.models import Map
    from players.models import Player

    m = Map.objects.get()
    games, clients = [], []
    for i in range(n_bots):
        bot, token = bot_services.bot_create(name=f"{label}-{i}")
        clients.append(BotClient(stack_url, token))
        human = Player.objects.create(display_name=f"human {label} {i}")
        games.append(
            (
                game_services.game_create(
                    player=human, map=m, opponent=f"bot:{bot.name}", rounds_total=args.waves
                ),
                bot,
            )
        )
    stop, errors = threading.Event(), []
    threads = [
        threading.Thread(target=bot_loop, args=(c, stop, not args.no_views, errors), daemon=True)
        for c in clients
    ]
    for t in threads:
        t.start()
    time.sleep(1.0)  # every bot is waiting in a long poll
    trips = []
    try:
        for wave in range(args.waves):
            rounds = [(game_services.round_next(game=g), g, bot) for g, bot in games]
            ends = time.monotonic() + args.wave_timeout_s
            ids = [r.id for r, _, _ in rounds]
            while Guess.objects.filter(round_id__in=ids, player__bot__isnull=False).count() < len(ids):
                if time.monotonic() > ends:
                    raise SystemExit(
                        f"{label}: wave {wave + 1} not answered in {args.wave_timeout_s} s; {errors[-5:]}"
                    )
                time.sleep(0.02)
            for rnd, g, bot in rounds:
                guess = Guess.objects.get(round=rnd, player=bot.player)
                trips.append((guess.created_at - rnd.started_at).total_seconds() * 1000)
                game_services.guess_submit(round=rnd, player=g.player, lat=0.0, lon=0.0)
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    return trips, errors


def describe(trips):
    s = sorted(trips)

    def q(p):
        return s[min(len(s) - 1, int(p * len(s)))]

    return {"n": len(s), "median": statistics.median(s), "p90": q(0.9), "p99": q(0.99), "max": s[-1]}


def main():
    args = parse_args()
    from harness.duel_stack import prepare_database, running_stack
    from harness.worker import redis_answers

    if not redis_answers(args.redis_url):
        raise SystemExit(f"no Redis answers at {args.redis_url}")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bot-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    prepare_database(workdir)
    with running_stack(workdir, name="botbench", redis_url=args.redis_url, settings=STACK_SETTINGS) as stack:
        setup_django(workdir, args, stack.env)
        results = {}
        for label, n in (("alone", 1), ("load", args.bots)):
            trips, errors = run_phase(label, stack.url, n, args)
            results[label] = describe(trips)
            print(f"{label}: {n} bot(s), {len(trips)} rounds, {len(errors)} client errors {errors[:3]}")
    views = "without fetching views" if args.no_views else "fetching every view"
    print(f"\nround start -> guess stored, ms ({views}; workdir {workdir})")
    print(f"{'':>16} {'rounds':>7} {'median':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for label, n in (("alone", 1), ("load", args.bots)):
        r = results[label]
        name = f"{n} bot{'s' if n > 1 else ''}"
        print(
            f"{name:>16} {r['n']:>7} {r['median']:>8.1f} {r['p90']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f}"
        )
    ratio = results["load"]["median"] / results["alone"]["median"]
    print(f"median with {args.bots} bots polling at once / median of one bot alone: {ratio:.2f}x")


if __name__ == "__main__":
    main()
