"""Where a game request's CPU goes: Django's test client, no daphne, on PostgreSQL.

Plays `--games` whole games (half against the `centroid` machine player) on the tests' fixture map,
as the play page does (the page, the state, the guess, the next round; the summary at the end), and
prints per kind of request, in the thread that runs it:

- its CPU milliseconds through the whole of Django (middleware, session, view, ORM, driver);
- the number of queries it sent;
- the CPU milliseconds of sending the same SELECT statements again as plain SQL through the driver
  (psycopg, no ORM) on the same connection, and fetching their rows: what the database work costs
  this process when Django builds no query and makes no model objects;
- the bare view (`/livez`) for scale.

The difference between the first and the third figure is Django's own work for the request (query
building and compiling, model objects, middleware, the view's Python). It needs a scratch
PostgreSQL database (it adds a map, players and games to it):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/geogame_scratch \\
        .venv/bin/python bench/request_cpu.py [--games 40]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KINDS = ("page", "first state", "state", "guess", "next", "summary", "bare")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--games", type=int, default=40)
    args = p.parse_args()
    if args.games < 4:
        p.error("--games must be at least 4 (the first two warm up)")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("set DATABASE_URL to a scratch PostgreSQL database (the bench adds rows to it)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("GEOGAME_LOG_LEVEL", "WARNING")  # not a log line per request
    os.environ.setdefault("GEOGAME_DATA_DIR", tempfile.mkdtemp(prefix="geogame-request-cpu-"))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from geogame.maps.importer import import_map
    from harness.fixture_map import build_fixture_folder

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", "--noinput", verbosity=0)
    folder = Path(settings.DATA_DIR) / "map"
    folder.mkdir()
    build_fixture_folder(folder, per_city=6)  # enough places for a daily, which every draw asks for
    m = import_map(folder, name=f"bench-{int(time.time())}").map

    cpu = {kind: [] for kind in KINDS}
    queries = {kind: [] for kind in KINDS}
    raw = {kind: [] for kind in KINDS}

    def replay_selects(captured):
        """Thread CPU ms of sending the captured SELECTs again as plain SQL and fetching their rows."""
        selects = [q["sql"] for q in captured if q["sql"].lstrip().upper().startswith("SELECT")]
        with connection.connection.cursor() as cursor:  # the driver's own cursor: no Django
            start = time.thread_time()
            for sql in selects:
                cursor.execute(sql)
                cursor.fetchall()
            return (time.thread_time() - start) * 1000

    def request(kind, send, url, counted, **kwargs):
        connection.queries_log.clear()  # it keeps 9000 queries at most, and the capture counts from its end
        with CaptureQueriesContext(connection) as ctx:
            start = time.thread_time()
            response = send(url, **kwargs)
            spent = (time.thread_time() - start) * 1000
        if response.status_code not in (200, 201, 302):
            sys.exit(f"{kind} {url}: {response.status_code} {response.content[:200]!r}")
        if counted:
            cpu[kind].append(spent)
            queries[kind].append(len(ctx.captured_queries))
            raw[kind].append(replay_selects(ctx.captured_queries))
        return response

    for g in range(args.games):
        client, counted = Client(), g >= 2  # the first two games warm the process up
        form = {"display_name": "Ada", "map": m.slug, "mode": "coordinates", "opponent": "centroid" * (g % 2)}
        game_id = request("create", client.post, "/", False, data=form)["Location"].split("/")[2]
        for i in range(5):
            request("page", client.get, f"/play/{game_id}/", counted)
            state = request("state" if i else "first state", client.get, f"/api/games/{game_id}/", counted)
            guess = json.dumps({"lat": 10.0, "lon": 20.0, "views_seen": [0]})
            kwargs = {"data": guess, "content_type": "application/json"}
            request("guess", client.post, state.json()["round"]["guess_url"], counted, **kwargs)
            if i < 4:
                request("next", client.post, state.json()["next_url"], counted)
            request("bare", client.get, "/livez", counted)
        request("summary", client.get, f"/games/{game_id}/summary/", counted)

    bare = statistics.median(cpu["bare"])
    print(
        f"request CPU in the request's thread: Django's test client (no daphne), "
        f"{connection.vendor}, {args.games - 2} games counted (half against centroid)"
    )
    print("| request | n | queries | CPU ms (median) | / bare | its SELECTs as plain SQL | Django's own |")
    print("|---|---|---|---|---|---|---|")
    for kind in KINDS:
        med, plain = statistics.median(cpu[kind]), statistics.median(raw[kind])
        n_queries = "/".join(str(q) for q in sorted(set(queries[kind])))
        row = [kind, len(cpu[kind]), n_queries, f"{med:.1f}", f"{med / bare:.1f}x", f"{plain:.1f}"]
        print("| " + " | ".join(str(v) for v in row) + f" | {med - plain:.1f} |")


if __name__ == "__main__":
    main()
