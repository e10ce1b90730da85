"""Classic games under load: many players at once, each playing whole games over HTTP like the play
page does, against the multi-process stack (several daphne, Celery workers, PostgreSQL, Redis), all
on this machine; a bare Django view is measured in the same run, by the same players, as the baseline.

    .venv/bin/python bench/load_stack.py [--players 200] [--web 2] [--workers 1] [--think 5 15]

Each player (an asyncio task with one keep-alive HTTP/1.1 connection to one daphne, its cookies
and CSRF token) opens the home page, starts a game from its form (half of them against the
centroid machine player, whose guesses come from a worker), loads the play page and the round's
state, then each round: loads the first view's image, every view's thumbnail and the bare view,
thinks (--think seconds, uniform), posts its guess, polls once a second while the machine is still
thinking, loads the bare view again, waits (--next seconds) and asks for the next round; at the
end, the summary page.

Measured per request: the time from sending it to having read the whole answer. "Round page" is
what brings a round (the play page, the state, the next round), "guess" the guess; the bare view
is GET /livez (the same middleware, no database, no template). Errors: a status other than the one
expected, a failed connection, or a request slower than --timeout. Lost: a guess answered 201 that
is not in the database, or a game without all its guesses (the machine's too) at the end.
Needs PostgreSQL (TEST_DATABASE_URL or 127.0.0.1:5432; a role and a database of the run's own are
created and dropped; the role's CONNECTION LIMIT, --max-connections, keeps an overloaded stack from
taking the shared server's connections) and redis-server (a private one is started) or --redis-url.
"""

import argparse
import asyncio
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: `tests` and the apps import from the repo

ROUND_PAGE = ("play page", "state", "next")
ROUND_PAGE_ROW = "round page (play page + state + next)"
KINDS = ("home", "create", *ROUND_PAGE, "image", "thumb", "guess", "poll", "summary", "bare")
MAX_POLLS = 30
ROLE = "geogame_load"
# Issue 18's goals: round page and guess p99 within P99_GOAL x the bare view's p99; with at most
# SMALL_PLAYERS players, under GOAL_MS outright; a game request's server CPU within CPU_GOAL x the
# bare view's.
P99_GOAL, GOAL_MS, SMALL_PLAYERS, CPU_GOAL = 1.5, 100, 50, 3.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--players", type=int, default=200, help="players at once (default 200)")
    p.add_argument("--games", type=int, default=1, help="games each player plays, one after another")
    p.add_argument("--rounds", type=int, default=5, help="rounds per game (GEOGAME_ROUNDS_PER_GAME)")
    p.add_argument(
        "--machine-share", type=float, default=0.5, help="share of games against the centroid player"
    )
    p.add_argument("--think", type=float, nargs=2, default=(5.0, 15.0), metavar=("MIN", "MAX"),
                   help="seconds from seeing a round to guessing (default 5 15)")  # fmt: skip
    p.add_argument("--next", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"),
                   help="seconds from the result to the next round (default 1 3)")  # fmt: skip
    p.add_argument("--ramp-s", type=float, default=30.0, help="players start spread over this many seconds")
    p.add_argument("--web", type=int, default=2, help="daphne processes (default 2)")
    p.add_argument("--workers", type=int, default=1, help="Celery workers (default 1)")
    p.add_argument("--worker-threads", type=int, default=8)
    p.add_argument(
        "--conn-max-age",
        type=int,
        default=0,
        help="GEOGAME_DB_CONN_MAX_AGE (default 0: under daphne each request runs in a thread of its own, "
        "and kept connections pile up to PostgreSQL's max_connections)",
    )
    p.add_argument(
        "--db-pool",
        type=int,
        default=None,
        help="GEOGAME_DB_POOL_SIZE, pooled connections per process (default: as tools/stack.py, "
        "docker-compose.yml; 0: none, each request opens its own)",
    )
    p.add_argument(
        "--photos",
        metavar="DIR",
        help="import this map folder (manifest.csv and images/, e.g. ../shared/datasets/streetscapes-sample) "
        "instead of the tests' fixture map, whose small generated images cost little to render per round",
    )
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="sample each daphne with py-spy during the games; write DIR/web.N.txt (collapsed stacks) "
        "and print the functions where they spent their time",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=40,
        help="the run's PostgreSQL connections at most (CONNECTION LIMIT of the role it connects as; "
        "the server's max_connections is shared): beyond it requests fail (default 40)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="a request slower than this is an error")
    p.add_argument("--redis-url", help="use this Redis (default: a private redis-server in the workdir)")
    p.add_argument("--workdir", help="keep the data and logs here (default: a temporary folder)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.db_pool is None:
        from tools.stack import DB_POOL_SIZE

        args.db_pool = 0 if args.conn_max_age else DB_POOL_SIZE
    if args.db_pool and args.conn_max_age:
        p.error("--db-pool needs --conn-max-age 0 (a pooled connection goes back after each request)")
    if args.players < 1 or args.games < 1 or not 0 <= args.machine_share <= 1:
        p.error("--players and --games must be at least 1, --machine-share within [0, 1]")
    return args


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection with a cookie jar: as much HTTP as daphne's answers need
    (Content-Length or chunked bodies; a new connection when the server closes it)."""

    def __init__(self, url, timeout):
        parts = urlsplit(url)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.origin = f"http://{self.host}:{self.port}"
        self.cookies = {}
        self.reader = self.writer = None

    async def request(self, method, path, body=None, content_type=None, headers=None):
        """(status, headers, body) of one request, within the timeout."""
        return await asyncio.wait_for(self._request(method, path, body, content_type, headers), self.timeout)

    async def _request(self, method, path, body, content_type, headers):
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: */*"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if method != "GET":
            lines += [f"Origin: {self.origin}", f"Content-Length: {len(body or b'')}"]
            if content_type:
                lines.append(f"Content-Type: {content_type}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        try:
            return await self._response()
        except BaseException:
            self.close()  # a half-read answer leaves the connection unusable
            raise

    async def _response(self):
        status_line = await self.reader.readline()
        if not status_line:
            raise HttpError("connection closed before an answer")
        status = int(status_line.split()[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                cookie, _, _ = value.partition(";")
                key, _, val = cookie.partition("=")
                self.cookies[key.strip()] = val.strip()
            headers[name] = value
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                body += await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, bytes(body)

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass
class Tally:
    ms: dict = field(default_factory=lambda: defaultdict(list))  # request kind -> [ms]
    errors: list = field(default_factory=list)
    games: dict = field(default_factory=dict)  # game id -> (opponent, guesses answered 201)
    first: float = None
    last: float = None


class Player:
    def __init__(self, index, url, args, tally, rng):
        self.index, self.args, self.tally, self.rng = index, args, tally, rng
        self.http = Connection(url, args.timeout)
        self.location = None  # the last answer's Location header
        self.sent = 0

    async def call(self, kind, method, path, expect, body=None, content_type=None, headers=None):
        # The server logs this id with the request's CPU time (geogame.common.logs): server_cpu_ms().
        self.sent += 1
        headers = {**(headers or {}), "X-Request-ID": f"{kind.replace(' ', '_')}.{self.index}.{self.sent}"}
        began = time.perf_counter()
        self.tally.first = self.tally.first or time.monotonic()
        try:
            status, headers, content = await self.http.request(method, path, body, content_type, headers)
        except (OSError, HttpError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            self.tally.errors.append(
                f"player {self.index}: {kind} {method} {path}: {type(exc).__name__} {exc}"
            )
            return None, None
        self.tally.ms[kind].append((time.perf_counter() - began) * 1000)
        self.tally.last = time.monotonic()
        self.location = headers.get("location")
        if status not in expect:
            self.tally.errors.append(
                f"player {self.index}: {kind} {method} {path}: {status} {content[:200]!r}"
            )
            return None, None
        return status, content

    async def api(self, kind, method, path, expect=(200,), data=None):
        body = None if data is None else json.dumps(data).encode()
        headers = {"X-CSRFToken": self.http.cookies.get("csrftoken", "")} if method == "POST" else None
        status, content = await self.call(kind, method, path, expect, body, "application/json", headers)
        return status, (json.loads(content) if content else None)

    async def bare(self):
        await self.call("bare", "GET", "/livez", (200,))

    async def play_game(self, opponent):
        _, page = await self.call("home", "GET", "/", (200,))
        if page is None:
            return
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1].decode()
        form = {"csrfmiddlewaretoken": token, "display_name": f"p{self.index}", "map": "fixture-world"}
        form.update(mode="coordinates", opponent=opponent)
        status, _ = await self.call(
            "create", "POST", "/", (302,), urlencode(form).encode(), "application/x-www-form-urlencoded"
        )
        if status is None:
            return
        game = re.search(r"/play/([0-9a-f-]{36})/", self.location)[1]
        created = 0
        self.tally.games[game] = (opponent, created)
        await self.call("play page", "GET", f"/play/{game}/", (200,))
        _, state = await self.api("state", "GET", f"/api/games/{game}/")
        while state is not None:
            rnd = state["round"]
            # What the page shows first: the first view, and a thumbnail of each (round.js).
            await self.call("image", "GET", rnd["views"][0]["url"], (200,))
            for view in rnd["views"]:
                await self.call("thumb", "GET", view["thumb"], (200,))
            await self.bare()
            await asyncio.sleep(self.rng.uniform(*self.args.think))
            where = {"lat": self.rng.uniform(-60, 70), "lon": self.rng.uniform(-180, 180), "views_seen": [0]}
            status, reply = await self.api("guess", "POST", rnd["guess_url"], (201,), where)
            if reply is None:
                return
            created += 1
            self.tally.games[game] = (opponent, created)
            polls = 0
            while (reply["result"].get("opponent") or {}).get("pending") and polls < MAX_POLLS:
                await asyncio.sleep(1.0)
                polls += 1
                _, reply = await self.api("poll", "GET", f"/api/games/{game}/")
                if reply is None:
                    return
            await self.bare()
            await asyncio.sleep(self.rng.uniform(*self.args.next))
            if reply["finished"]:
                await self.call("summary", "GET", reply["summary_url"], (200,))
                return
            _, state = await self.api("next", "POST", f"/api/games/{game}/next/", data={})

    async def run(self, start_at, opponents):
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        try:
            for opponent in opponents:
                await self.play_game(opponent)
        except Exception as exc:  # one player's failure is a result, not the end of the run
            self.tally.errors.append(f"player {self.index}: {type(exc).__name__}: {exc}")
        finally:
            self.http.close()


async def play_all(urls, args, tally):
    rng = random.Random(args.seed)
    began = time.monotonic()
    players = []
    for i in range(args.players):
        opponents = ["centroid" if rng.random() < args.machine_share else "" for _ in range(args.games)]
        player = Player(i, urls[i % len(urls)], args, tally, random.Random(rng.random()))
        start_at = began + args.ramp_s * i / args.players
        players.append(player.run(start_at, opponents))
    await asyncio.gather(*players)


class ConnectionCount:
    """Samples how many connections PostgreSQL has open to the run's database (every daphne request
    and worker task holds one), keeping the peak: the server's max_connections is shared."""

    def __init__(self, database_url, interval_s=0.5):
        import threading

        self.database_url, self.interval_s, self.peak = database_url, interval_s, 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="connection-count", daemon=True)

    def _run(self):
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self.stopping.wait(self.interval_s):
                sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                self.peak = max(self.peak, conn.execute(sql).fetchone()[0] - 1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(5)


@contextmanager
def limited_role(max_connections):
    """A PostgreSQL role for the run (LOGIN, CREATEDB, CONNECTION LIMIT `max_connections`), dropped
    afterwards: under daphne every request in flight holds a connection of its own, and an overloaded
    stack would take the shared server's max_connections from everyone else."""
    from psycopg import sql

    from harness.production_stack import server_connection

    role = sql.Identifier(ROLE)
    with server_connection() as admin:
        if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE]).fetchone() is None:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(role))
        limit = sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(role, sql.Literal(max_connections))
        admin.execute(limit)
    try:
        yield ROLE
    finally:
        with server_connection() as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))


def machine_cpu():
    """(busy, total) CPU time of the whole machine so far, in clock ticks (Linux /proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def lost_guesses(database_url, tally):
    """Games whose stored guesses fall short of what the player was answered, or of the machine's."""
    from harness.production_stack import query

    stored = defaultdict(lambda: defaultdict(int))
    sql = """SELECT gm.public_id::text, p.kind, count(*) FILTER (WHERE NOT g.timed_out) FROM geogame_guess g
             JOIN geogame_round r ON r.id = g.round_id JOIN geogame_game gm ON gm.id = r.game_id
             JOIN players_player p ON p.id = g.player_id GROUP BY 1, 2"""
    for game, kind, count in query(database_url, sql):
        stored[game][kind] = count
    lost = []
    for game, (opponent, created) in tally.games.items():
        if stored[game]["human"] < created:
            lost.append(f"game {game}: {created} guesses answered 201, {stored[game]['human']} stored")
        if opponent and stored[game]["machine"] < created:
            lost.append(f"game {game}: {created} rounds guessed, {stored[game]['machine']} machine guesses")
    return lost


@contextmanager
def profiled(webs, folder):
    """py-spy sampling each daphne (not pausing it) for the block's duration, when `folder` is given."""
    import shutil
    import signal
    import subprocess

    if not folder:
        yield
        return
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        sys.exit("load_stack: --profile needs py-spy (requirements/dev.txt)")
    Path(folder).mkdir(parents=True, exist_ok=True)
    # --gil: only the thread holding the GIL, so a thread waiting on a socket or a lock never counts;
    # C code that releases it (Pillow's resize and encode) is not counted either: the server CPU
    # column has that.
    argv = [spy, "record", "--nonblocking", "--gil", "--function", "--rate", "100", "--format", "raw"]
    spies = [
        subprocess.Popen(
            [*argv, "--pid", str(web.pid), "--output", str(Path(folder) / f"{web.name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for web in webs
    ]
    try:
        yield
    finally:
        for proc in spies:
            proc.send_signal(signal.SIGINT)  # py-spy writes its file and exits
        for proc in spies:
            proc.wait(60)


def profile_summary(folder, top=12):
    """Lines naming where the sampled daphne processes spent their time: the functions with the
    most samples of their own (self), and the project's functions by samples within them (inclusive)."""
    own, within, total = defaultdict(int), defaultdict(int), 0
    for path in sorted(Path(folder).glob("*.txt")):
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames, n = stack.split(";"), int(count)
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                if "site-packages" not in frame and re.search(r"[(/](?:geogame|players|config)/", frame):
                    within[frame] += n
    lines = [f"  py-spy: {total} samples of the daphne processes holding the GIL (100 a second each)"]
    for title, counts in (("self", own), ("inclusive, the project's functions", within)):
        lines.append(f"  | {title} | samples | share |")
        lines.append("  |---|---|---|")
        for frame, n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"  | `{frame}` | {n} | {100 * n / max(total, 1):.1f}% |")
    return lines


def server_cpu_ms(webs, process_cpu):
    """CPU milliseconds per request of each kind in the daphne processes: the request's own thread
    (the view and middleware; geogame.common.logs logs it with the request id load_stack sent), plus
    an equal share of what the processes spent outside request threads (HTTP, ASGI, thread hand-off).
    {kind: (requests, thread ms mean, total ms mean)}."""
    threads = defaultdict(list)
    for web in webs:
        for line in web.log().splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            rid, cpu = entry.get("request_id") or "", entry.get("cpu_ms")
            if entry.get("logger") == "geogame.request" and cpu is not None and rid.count(".") == 2:
                threads[rid.split(".", 1)[0].replace("_", " ")].append(cpu)
    logged = sum(len(v) for v in threads.values())
    in_threads_s = sum(sum(v) for v in threads.values()) / 1000
    outside_ms = 1000 * (sum(process_cpu[web.name] for web in webs) - in_threads_s) / max(logged, 1)
    threads[ROUND_PAGE_ROW] = [ms for kind in ROUND_PAGE for ms in threads.get(kind, [])]
    return {kind: (len(v), sum(v) / len(v), sum(v) / len(v) + outside_ms) for kind, v in threads.items() if v}


def goals(args, round_page, guess, bare, server_cpu, errors, lost):
    """(what, met) for each of issue 18's load goals that this run measures."""
    from bench.duel_load import pct

    bare_p99 = pct(bare, 0.99)
    p99 = max(pct(round_page, 0.99), pct(guess, 0.99)) if round_page and guess else float("inf")
    game_kinds = [k for k in ("play page", "state", "next", "guess", "summary") if k in server_cpu]
    cpu_ratio = max((server_cpu[k][2] / server_cpu["bare"][2] for k in game_kinds), default=float("inf"))
    found = [
        ("no errors, nothing lost", not errors and not lost),
        (
            f"round page and guess p99 at most {P99_GOAL}x the bare view's p99 ({p99 / bare_p99:.2f}x)",
            p99 <= P99_GOAL * bare_p99,
        ),
        (
            f"a game request's server CPU at most {CPU_GOAL:g}x the bare view's (at most {cpu_ratio:.1f}x)",
            "bare" in server_cpu and cpu_ratio <= CPU_GOAL,
        ),
    ]
    if args.players <= SMALL_PLAYERS:
        found.append((f"round page and guess p99 under {GOAL_MS} ms ({p99:.0f} ms)", p99 < GOAL_MS))
    return found


def main():
    args = parse_args()
    from bench.duel_load import cpu_seconds, pct
    from harness.production_stack import fresh_database_url, missing_services, private_redis, production_stack

    missing = [m for m in missing_services() if args.redis_url is None or "redis" not in m]
    if missing:
        sys.exit("load_stack: " + "; ".join(missing))
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="geogame-load-")).resolve()
    settings = {
        "GEOGAME_ROUNDS_PER_GAME": args.rounds,
        "GEOGAME_DB_CONN_MAX_AGE": args.conn_max_age,
        "GEOGAME_DB_POOL_SIZE": args.db_pool,
        "GEOGAME_LOG_FORMAT": "json",
        # Every simulated player comes from loopback: the per-address game budget is not what is measured.
        "GEOGAME_RATE_LIMIT_GAME": "off",
    }
    with ExitStack() as resources:
        redis_url = args.redis_url or resources.enter_context(private_redis(workdir / "redis")).url()
        role = resources.enter_context(limited_role(args.max_connections))
        stack = resources.enter_context(
            production_stack(
                workdir,
                name="load",
                redis_url=redis_url,
                web=args.web,
                workers=args.workers,
                worker_concurrency=args.worker_threads,
                settings=settings,
                database_url=fresh_database_url("load", user=role),
                map_folder=args.photos,
            )
        )
        tally = Tally()
        cpu_before = {p.name: cpu_seconds(p.pid) for p in stack.processes}
        self_before, load_before, machine_before = time.process_time(), os.getloadavg()[0], machine_cpu()
        began = time.monotonic()
        with ConnectionCount(stack.database_url) as connections, profiled(stack.webs, args.profile):
            asyncio.run(play_all(stack.urls, args, tally))
        elapsed = time.monotonic() - began
        load_after = os.getloadavg()[0]
        busy, total = (after - before for after, before in zip(machine_cpu(), machine_before, strict=True))
        cpu = {p.name: cpu_seconds(p.pid) - cpu_before[p.name] for p in stack.processes}
        cpu["clients"] = time.process_time() - self_before
        lost = lost_guesses(stack.database_url, tally)
        server_cpu = server_cpu_ms(stack.webs, cpu)
        redis_kind = "--redis-url" if args.redis_url else "a private redis-server"

    requests = sum(len(v) for v in tally.ms.values())
    busy_s = (tally.last or began) - (tally.first or began)
    games, machine = len(tally.games), sum(1 for o, _ in tally.games.values() if o)
    finished = sum(1 for _, created in tally.games.values() if created == args.rounds)
    round_page = [ms for kind in ROUND_PAGE for ms in tally.ms[kind]]
    guess, bare = tally.ms["guess"], tally.ms["bare"]
    print(
        f"load_stack: {args.players} players, {args.games} game(s) each of {args.rounds} rounds "
        f"({machine} of {games} against the centroid player); think {args.think[0]:g}-{args.think[1]:g} s, "
        f"next {args.next[0]:g}-{args.next[1]:g} s, started over {args.ramp_s:g} s"
    )
    pool = f"a pool of {args.db_pool} connections per process" if args.db_pool else "no pool"
    print(
        f"  {args.web} daphne, {args.workers} Celery worker(s) ({args.worker_threads} threads), PostgreSQL "
        f"(CONN_MAX_AGE {args.conn_max_age}, {pool}, at most {args.max_connections} connections), "
        f"{redis_kind}; {os.cpu_count()} CPUs"
    )
    print(f"  map: {args.photos or 'the tests fixture map (16 places; small generated images)'}")
    print(f"  games finished: {finished}/{games} in {elapsed:.1f} s")
    print(
        f"  requests: {requests} in {busy_s:.1f} s = {requests / max(busy_s, 1e-9):.1f} requests/s; "
        f"errors: {len(tally.errors)}; lost guesses: {len(lost)}; "
        f"PostgreSQL connections to the run's database: at most {connections.peak}"
    )
    print(
        "  CPU seconds during the run: "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        + f"; the machine's CPUs {100 * busy / total:.0f}% busy; 1-min load average {load_before:.1f} "
        f"before, {load_after:.1f} after"
    )
    bare_cpu = server_cpu.get("bare", (0, 0.0, float("nan")))[2]
    print(
        "  | request | n | p50 ms | p99 ms | max ms | p99 / bare p99 | server CPU ms (thread) | CPU / bare |"
    )
    print("  |---|---|---|---|---|---|---|---|")
    rows = [(ROUND_PAGE_ROW, round_page)]
    rows += [(kind, tally.ms[kind]) for kind in KINDS]
    for name, values in rows:
        if values:
            _, thread_ms, total_ms = server_cpu.get(name, (0, float("nan"), float("nan")))
            print(
                f"  | {name} | {len(values)} | {pct(values, 0.5):.1f} | {pct(values, 0.99):.1f} | "
                f"{max(values):.1f} | {pct(values, 0.99) / pct(bare, 0.99):.2f}x | "
                f"{total_ms:.1f} ({thread_ms:.1f}) | {total_ms / bare_cpu:.1f}x |"
            )
    print(
        "  server CPU ms: the request's own thread (in brackets) plus an equal share of the daphne "
        "processes' CPU outside request threads"
    )
    for line in tally.errors[:10] + lost[:10]:
        print(f"    {line}")
    if args.profile:
        print("\n".join(profile_summary(args.profile)))
    for goal, met in goals(args, round_page, guess, bare, server_cpu, tally.errors, lost):
        print(f"  goal: {goal}: " + ("met" if met else "NOT met"))
    print(f"  data and logs: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
