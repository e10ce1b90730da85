"""The real duel stack for tests and the load benchmark: daphne (and, with Redis, a Celery
worker) as subprocesses (tools.stack) over a fresh SQLite database with the fixture map, HTTP
sessions that create and join duels through the pages, and WebSocket clients that speak the protocol."""

import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.fixture_map import build_fixture_folder
from harness.live_server import manage, server_env
from harness.worker import Workers
from tools.stack import Stack as ProcessStack

FIXTURE_MAP = ("Fixture world", "fixture-world")
WAIT_S = 20
API_WAIT_S = 30  # a JSON API call (Session.api)


def prepare_database(workdir):
    """Migrate a fresh SQLite database in `workdir` and import the fixture map (16 places)."""
    workdir = Path(workdir)
    folder = workdir / "fixture-map"
    folder.mkdir(parents=True, exist_ok=True)
    build_fixture_folder(folder)
    env = server_env(workdir)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "import_map", str(folder), "--name", FIXTURE_MAP[0], "--no-progress")
    return workdir


@dataclass
class Stack:
    url: str  # http://127.0.0.1:PORT
    daphne_log: Path
    workers: Workers | None = None
    env: dict = field(default_factory=dict)
    daphne_pid: int | None = None

    @property
    def ws_url(self):
        return "ws" + self.url.removeprefix("http")

    def logs(self):
        text = f"--- daphne ({self.daphne_log}) ---\n{self.daphne_log.read_text(errors='replace')}"
        return text + ("\n" + self.workers.logs() if self.workers else "")


@contextmanager
def running_stack(workdir, *, name, redis_url="", settings=None, worker_settings=None, worker_threads=8):
    """daphne on a free port over `workdir`'s database (prepare_database), plus one Celery
    worker when `redis_url` is given (else tasks run inside daphne). `settings` are
    environment settings for both; `worker_settings` for the worker only.

    The stack's Celery queue and channel-layer prefix are its own, so it may share a Redis
    database with anything else (other runs, other engineers' workers) and flushes nothing."""
    workdir = Path(workdir)
    base = server_env(workdir)
    with ProcessStack(
        database_url=base["DATABASE_URL"],
        redis_url=redis_url,
        data_dir=workdir,
        log_dir=workdir,
        web=1,
        workers=1 if redis_url else 0,
        worker_concurrency=worker_threads,
        name=name,
        settings=settings,
        worker_settings=worker_settings,
        migrate=False,
    ) as stack:
        web = stack.webs[0]
        workers = Workers(env=stack.env, log_dir=workdir, started=stack.workers) if redis_url else None
        yield Stack(url=web.url, daphne_log=web.log_path, workers=workers, env=stack.env, daphne_pid=web.pid)


# -- HTTP: a browser session without the browser -----------------------------------------------------


class Session:
    """Cookies and CSRF like a browser's, for the duel pages."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.jar)
        )

    def get(self, path):
        with self.opener.open(self.base_url + path, timeout=WAIT_S) as r:
            return r.geturl(), r.read().decode()

    def post_form(self, path, data):
        """POST a form from the page at `path` (its CSRF token first); returns (final URL, body)."""
        _, page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **data}).encode()
        try:
            with self.opener.open(self.base_url + path, data=body, timeout=WAIT_S) as r:
                return r.geturl(), r.read().decode()
        except urllib.error.HTTPError as exc:
            # The page's own error message says why (e.g. too few places left to play).
            errors = re.findall(r'class="error[^"]*"[^>]*>\s*([^<]+)', exc.read().decode(errors="replace"))
            raise AssertionError(f"POST {path} answered {exc.code}: {errors}") from None

    def csrf_token(self):
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def api(self, path, body=None, timeout=API_WAIT_S):
        """(status, JSON) of a GET, or of a POST with a JSON body (CSRF header as the page sends it)."""
        data = None if body is None else json.dumps(body).encode()
        method = "GET" if body is None else "POST"
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if body is not None:
            request.add_header("X-CSRFToken", self.csrf_token())
        try:
            with self.opener.open(request, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def cookie_header(self):
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def create_duel(self, *, opponent, name="Ada", map_slug=FIXTURE_MAP[1], third_seat=""):
        """A new duel from the lobby; returns its id."""
        url, _ = self.post_form(
            "/duels/", {"display_name": name, "map": map_slug, "opponent": opponent, "third_seat": third_seat}
        )
        match = re.search(r"/duels/([0-9a-f-]{36})/$", url)
        assert match, f"the lobby did not redirect to a duel: {url}"
        return match[1]

    def join(self, invite_path, name="Bo"):
        url, _ = self.post_form(invite_path, {"display_name": name})
        return re.search(r"/duels/([0-9a-f-]{36})/$", url)[1]


# -- WebSocket: a client that speaks the protocol ----------------------------------------------------


class Client:
    """One socket to a duel. Every message received is kept in `seen`, in order."""

    def __init__(self, stack, session, duel_id):
        from websockets.sync.client import connect

        self.conn = connect(
            f"{stack.ws_url}/ws/duel/{duel_id}/",
            origin=stack.url,
            additional_headers={"Cookie": session.cookie_header()},
            proxy=None,
            open_timeout=WAIT_S,
            legacy=True,  # a plain connection, closed by close()
        )
        self.seen = []
        self.duel_id = duel_id

    def send(self, msg):
        self.conn.send(msg if isinstance(msg, (str, bytes)) else json.dumps(msg))

    def recv(self, timeout=WAIT_S):
        msg = json.loads(self.conn.recv(timeout=timeout))
        self.seen.append(msg)
        return msg

    def until(self, predicate, timeout=WAIT_S, what="a message"):
        """Receive until a message matches `predicate`; return it. Fails after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {what} within {timeout} s; seen: {self.seen[-8:]}")
            try:
                msg = self.recv(timeout=left)
            except TimeoutError:
                continue
            if predicate(msg):
                return msg

    def until_type(self, kind, timeout=WAIT_S, **fields):
        return self.until(
            lambda m: m["type"] == kind and all(m.get(k) == v for k, v in fields.items()),
            timeout=timeout,
            what=f"{kind} {fields or ''}",
        )

    def guess(self, round_index, lat, lon, **extra):
        self.send({"type": "guess", "round": round_index, "lat": lat, "lon": lon, **extra})

    def reply(self, timeout=WAIT_S):
        """The next reply to this client (state, guess_ack or error), skipping broadcast events."""
        return self.until(lambda m: m["type"] in ("state", "guess_ack", "error"), timeout, "a reply")

    def close(self):
        self.conn.close()
