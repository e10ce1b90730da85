"""Leaderboard page time with 100,000 finished games on one map, on PostgreSQL.

Fills a scratch database (DATABASE_URL, which must be PostgreSQL) with one map, players and
`--games` finished games' results (geogame.leaderboards.models.GameResult) spread over 60 days,
and each player's bests (PlayerBest) as leaderboards.services.best_raise keeps them, then prints:

- the leaderboard page (GET /leaderboards/<map>/, all time and this week), rendered by Django's
  test client: median and slowest of `--repeats` requests;
- the same board computed without the materialised bests (a GROUP BY over every result of the
  map), the baseline, in the same run, and the ratio;
- a bare view (/livez) for scale, and the cost of raising the bests for one new result.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/geogame_scratch \\
        .venv/bin/python bench/leaderboard_page.py [--games 100000] [--players 5000] [--repeats 20]
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--games", type=int, default=100_000)
    p.add_argument("--players", type=int, default=5_000)
    p.add_argument("--machines", type=int, default=3)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("set DATABASE_URL to a scratch PostgreSQL database (the bench adds rows to it)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("GEOGAME_LOG_LEVEL", "WARNING")  # not a log line per request
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import transaction
    from django.db.models import Max
    from django.test import Client
    from django.utils import timezone

    from geogame.game.models import Game
    from geogame.leaderboards import rules
    from geogame.leaderboards.models import GameResult, PlayerBest
    from geogame.leaderboards.services import best_raise
    from geogame.maps.models import Map
    from players.models import Player

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", "--noinput", verbosity=0)
    run = f"bench-{int(time.time())}"
    m = Map.objects.create(name=run, slug=run)
    rng = random.Random(0)
    humans = Player.objects.bulk_create(Player(display_name=f"p{i}") for i in range(args.players))
    machines = Player.objects.bulk_create(
        Player(display_name=f"m{i}", kind="machine", machine_name=f"{run}-{i}") for i in range(args.machines)
    )
    now = timezone.now()
    start = time.perf_counter()
    players = [rng.choice(machines) if rng.random() < 0.02 else rng.choice(humans) for _ in range(args.games)]
    games = Game.objects.bulk_create(
        (Game(player=pl, map=m, seed=i, location_order=[]) for i, pl in enumerate(players)), batch_size=5000
    )
    results = GameResult.objects.bulk_create(
        (
            GameResult(
                game=g,
                player=pl,
                map=m,
                mode="coordinates",
                is_machine=pl.kind == "machine",
                total_points=rng.randint(0, 25000),
                total_time_s=round(rng.uniform(20, 600), 1),
                finished_at=now - timedelta(seconds=rng.uniform(0, 60 * 86400)),
            )
            for g, pl in zip(games, players, strict=True)
        ),
        batch_size=5000,
    )
    bests = {}
    for r in results:
        for period in (rules.ALL_TIME, rules.week_period(r.finished_at)):
            key = (period, r.player_id)
            b = bests.get(key)
            if b is None or rules.is_better(r.total_points, r.total_time_s, b.total_points, b.total_time_s):
                bests[key] = r
    PlayerBest.objects.bulk_create(
        (
            PlayerBest(
                map=m,
                mode="coordinates",
                period=period,
                player_id=pid,
                is_machine=r.is_machine,
                result=r,
                total_points=r.total_points,
                total_time_s=r.total_time_s,
            )
            for (period, pid), r in bests.items()
        ),
        batch_size=5000,
    )
    from django.db import connection

    with connection.cursor() as c:
        c.execute("ANALYZE leaderboards_gameresult; ANALYZE leaderboards_playerbest;")
    print(
        f"filled {args.games} results, {len(bests)} bests, {args.players} players "
        f"in {time.perf_counter() - start:.1f} s"
    )

    client = Client()
    url = f"/leaderboards/{m.slug}/"
    assert client.get(url).status_code == 200
    page_all = timed(lambda: client.get(url), args.repeats)
    page_week = timed(lambda: client.get(url + "?period=week"), args.repeats)
    livez = timed(lambda: client.get("/livez"), args.repeats)

    def unmaterialised():
        for is_machine in (False, True):
            list(
                GameResult.objects.filter(map=m, mode="coordinates", is_machine=is_machine)
                .values("player_id")
                .annotate(best=Max("total_points"))
                .order_by("-best")[:50]
            )

    baseline = timed(unmaterialised, max(3, args.repeats // 4))
    extra = Game.objects.create(player=humans[0], map=m, seed=-1, location_order=[])
    one = GameResult.objects.create(
        game=extra,
        player=humans[0],
        map=m,
        mode="coordinates",
        is_machine=False,
        total_points=24999,
        total_time_s=1.0,
        finished_at=now,
    )
    def raise_best():
        with transaction.atomic():
            best_raise(one, rules.ALL_TIME)

    raise_ms = timed(raise_best, 5)
    print(f"{'what':44} {'median ms':>10} {'max ms':>8}")
    for label, (med, worst) in [
        ("leaderboard page, all time", page_all),
        ("leaderboard page, this week", page_week),
        ("baseline: both boards by GROUP BY, no bests", baseline),
        ("bare view /livez", livez),
        ("best_raise for one new result", raise_ms),
    ]:
        print(f"{label:44} {med:10.1f} {worst:8.1f}")
    print(f"baseline / page (all time): {baseline[0] / page_all[0]:.1f}x")


if __name__ == "__main__":
    main()
