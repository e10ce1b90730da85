"""The production topology on one machine, without Docker: several daphne processes and Celery
workers over one database (PostgreSQL by DATABASE_URL) and Redis, as docker-compose.yml runs them.

    make stack                                              # 2 daphne (:8000, :8001), 2 workers
    .venv/bin/python -m tools.stack --web 3 --workers 2 --port 9000

From tests and scripts, a context manager that exposes every process:

    with Stack(database_url=..., redis_url=..., data_dir=tmp, web=2, workers=2) as stack:
        stack.webs[0].url; stack.workers[1].kill(); stack.workers[1].restart(); stack.add_worker()

Every process runs in a process group of its own: stopping one kills its group, so nothing it
started is left behind, and a Ctrl-C in the terminal reaches the runner only, which then stops the
stack in order: daphne first (no new requests), then the workers (warm shutdown: running tasks
finish and are acknowledged). This module needs no Django settings: it only starts processes.
"""

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 90
STOP_TIMEOUT_S = 10
# Logged by celery.apps.worker once the consumer is up. By then the Redis transport has also made
# its start-up sweep for unacknowledged messages older than the visibility timeout.
WORKER_READY_MARK = " ready."
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/geogame"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Pooled database connections per process in `make stack` and bench/load_stack.py, as
# docker-compose.yml runs them (GEOGAME_DB_POOL_SIZE). A Stack built by a test has none unless asked.
DB_POOL_SIZE = 8


def wait_until(predicate, *, timeout_s, what, interval_s=0.05):
    """Poll `predicate` until it returns something truthy, and return that; after `timeout_s`
    raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def free_port(host="127.0.0.1"):
    # Another process could take the port before daphne binds it; daphne then exits and the
    # readiness wait fails with its log, which says so.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def redacted(url):
    """`url` without its password, for printing."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# -- Redis and PostgreSQL ----------------------------------------------------------------------------


def redis_url_with_db(db, url=None):
    """`url` (REDIS_URL, else the local default) with its database number replaced by `db`,
    so tests and benchmarks keep out of the database a running game uses."""
    parts = urlsplit(url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


def redis_answers(url):
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except (redis.RedisError, OSError):
        return False
    return True


def is_postgres(database_url):
    return urlsplit(database_url).scheme in ("postgres", "postgresql", "pgsql")


def database_name(database_url):
    return urlsplit(database_url).path.lstrip("/")


def _maintenance_connection(database_url):
    """An autocommit connection to the server's `postgres` database (the named one may not exist)."""
    import psycopg

    parts = urlsplit(database_url)
    url = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def postgres_answers(database_url):
    import psycopg

    try:
        with _maintenance_connection(database_url) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def create_database(database_url):
    """Create the database `database_url` names on its PostgreSQL server, unless it exists."""
    from psycopg import sql

    name = database_name(database_url)
    with _maintenance_connection(database_url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(database_url):
    """Drop the database, closing the connections still open to it."""
    from psycopg import sql

    with _maintenance_connection(database_url) as conn:
        name = sql.Identifier(database_name(database_url))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def manage(env, *args, timeout_s=600):
    """Run a management command in `env`; raise with its output if it fails."""
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if proc.returncode != 0:
        command = " ".join(args)
        raise RuntimeError(f"manage.py {command} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


# -- Processes ---------------------------------------------------------------------------------------


class StackProcess:
    """One process of a stack: its command, environment and log file. It is started in a
    process group of its own (the group's id is its pid), which stop() and kill() signal whole."""

    def __init__(self, name, argv, env, log_path):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.env = env
        self.log_path = Path(log_path)
        self.proc = None
        self._log_start = 0  # where this run's output begins in the (appended) log file
        self.stopped_on_purpose = False  # by stop() or kill(): a supervisor leaves it stopped

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} pid={self.pid} running={self.running()}>"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def returncode(self):
        return self.proc.poll() if self.proc else None

    def start(self):
        if self.running():
            raise RuntimeError(f"{self.name} is running already (pid {self.pid})")
        self.stopped_on_purpose = False
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            self._log_start = log.tell()
            self.proc = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        """Everything this process has written, over all its runs."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def current_log(self):
        """What the current (last) run has written."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_start)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text, timeout_s):
        """Wait until `text` appears in this run's log; fail at once, with the log, if it exits."""

        def seen():
            if text in self.current_log():
                return True
            if not self.running():
                raise RuntimeError(f"{self.name} exited with {self.returncode}:\n{self.current_log()}")
            return False

        wait_until(seen, timeout_s=timeout_s, what=f"{text!r} in the log of {self.name}")

    def signal(self, sig):
        """Send `sig` to the process group; nothing if it is gone."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self):
        """SIGKILL to the whole group: no shutdown at all (a worker's unacknowledged tasks stay
        with the broker, to be delivered again)."""
        if self.proc is None:
            return
        self.stopped_on_purpose = True
        self.signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout_s=STOP_TIMEOUT_S):
        """SIGTERM (daphne closes its connections, a worker finishes its running tasks), then
        SIGKILL to whatever is left of the group after `timeout_s`."""
        if self.proc is None:
            return
        self.stopped_on_purpose = True
        if self.running():
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # the leader if it is still there, and any child it left in the group

    def group_alive(self):
        """Whether any process of this process's group is still there (after stop: none)."""
        if self.proc is None:
            return False
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def wait_ready(self, timeout_s=READY_TIMEOUT_S):
        raise NotImplementedError

    def restart(self, timeout_s=READY_TIMEOUT_S):
        """Stop (if running), start again with the same command, wait until ready."""
        self.stop()
        self.start()
        self.wait_ready(timeout_s)
        return self

    def has_open(self, path):
        """Whether the process holds `path` open (Linux: its /proc/PID/fd links)."""
        target = str(Path(path).resolve())
        try:
            fds = list(Path(f"/proc/{self.pid}/fd").iterdir())
        except OSError:
            return False
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    return True
            except OSError:  # closed since the listing
                continue
        return False

    def peak_rss_kib(self):
        """The process's peak resident set size (VmHWM), in KiB; None once it has exited."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None


class Web(StackProcess):
    """daphne serving config.asgi (HTTP and WebSockets) on `host:port`."""

    def __init__(self, name, *, host, port, env, log_path):
        # Requests are logged by geogame.common.logs (text or JSON lines), not again by daphne.
        argv = [
            BIN / "daphne",
            "-b",
            host,
            "-p",
            port,
            "--access-log",
            os.devnull,
            "config.asgi:application",
        ]
        super().__init__(name, argv, env, log_path)
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}"
        self.require_healthy = True

    @property
    def ws_url(self):
        return "ws" + self.url.removeprefix("http")

    def healthz(self, timeout_s=5):
        """(HTTP status, body) of GET /healthz; raises OSError when nothing answers."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        # With the stack's health token the answer has each check's detail (geogame.common.health).
        token = self.env.get("GEOGAME_HEALTH_TOKEN")
        headers = {"X-Health-Token": token} if token else {}
        request = urllib.request.Request(self.url + "/healthz", headers=headers)
        try:
            with opener.open(request, timeout=timeout_s) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def wait_ready(self, timeout_s=READY_TIMEOUT_S):
        """Until /healthz answers 200 (or, with `require_healthy` off, answers at all); fails
        early, with the log, if daphne exits."""
        last = ["no answer"]

        def ready():
            try:
                status, body = self.healthz(timeout_s=5)
            except OSError as exc:
                last[0] = f"no answer ({exc})"
            else:
                last[0] = f"{status} {body}"
                if status == 200 or not self.require_healthy:
                    return True
            if not self.running():
                raise RuntimeError(f"{self.name} exited with {self.returncode}:\n{self.current_log()}")
            return False

        try:
            wait_until(ready, timeout_s=timeout_s, what=f"{self.url}/healthz", interval_s=0.2)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; last answer: {last[0]}\n{self.current_log()[-5000:]}") from None


class Worker(StackProcess):
    """A Celery worker (thread pool) on the queue its environment names."""

    def __init__(self, name, *, env, log_path, concurrency=4, extra_args=()):
        # Unique: the destination for remote control (app.control.broadcast).
        self.hostname = f"{name}-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        argv = [
            BIN / "celery",
            *("-A", "config", "worker", "--pool", "threads", "--concurrency", concurrency),
            *("--without-heartbeat", "--without-gossip", "--without-mingle"),
            *("-l", "info", "--hostname", self.hostname, *extra_args),
        ]
        super().__init__(name, argv, env, log_path)

    def wait_ready(self, timeout_s=READY_TIMEOUT_S):
        self.wait_for_log(WORKER_READY_MARK, timeout_s)


# -- The stack ---------------------------------------------------------------------------------------


class Stack:
    """`web` daphne processes and `workers` Celery workers over `database_url` and `redis_url`.

    start() creates the database if asked, migrates it, starts every process and waits until the
    workers consume and each daphne's /healthz answers 200; stop() (or leaving the `with` block)
    stops them all. Without `queue`, the stack takes a Celery queue, channel-layer and cache
    prefix of its own (so it may share a Redis database with anything else) and deletes their
    keys on stop. `settings` are environment settings for every process, `worker_settings` for
    the workers only. Ports: `port` for the first daphne, one more for each next; 0 for free ones.
    With `restart_on_exit`, a worker that exits by itself (not by stop() or kill()) is started
    again, as docker's `restart: unless-stopped` would; `restarts` lists what was restarted.
    """

    def __init__(
        self,
        *,
        database_url,
        redis_url,
        data_dir,
        web=2,
        workers=2,
        host="127.0.0.1",
        port=0,
        worker_concurrency=4,
        name="stack",
        queue=None,
        settings=None,
        worker_settings=None,
        log_dir=None,
        migrate=True,
        create_database=False,
        drop_database=False,
        echo=False,
        ready_timeout_s=READY_TIMEOUT_S,
        restart_on_exit=False,
    ):
        self.database_url = database_url
        self.redis_url = redis_url or ""
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir) if log_dir else self.data_dir / "stack-logs"
        self.web_count, self.worker_count = web, workers
        self.host, self.port = host, port
        self.worker_concurrency = worker_concurrency
        self.name = name
        self.own_names = queue is None
        self.queue = queue or f"geogame-{name}-{uuid.uuid4().hex[:12]}"
        self.worker_settings = {k: str(v) for k, v in (worker_settings or {}).items()}
        self.migrate, self.create_database, self.drop_database = migrate, create_database, drop_database
        self.ready_timeout_s = ready_timeout_s
        self.webs, self.workers = [], []
        self.env = self._environment(settings or {})
        self._forwarder = _LogForwarder(self) if echo else None
        self.restarts = []
        self._supervisor = _Supervisor(self) if restart_on_exit else None

    def _environment(self, settings):
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            GEOGAME_DATA_DIR=str(self.data_dir),
            PYTHONUNBUFFERED="1",
        )
        env.setdefault("GEOGAME_HEALTH_TOKEN", secrets.token_urlsafe(24))  # its own probes see the detail
        if self.redis_url:
            env["GEOGAME_CELERY_QUEUE"] = self.queue
            if self.own_names:
                env.update(GEOGAME_CHANNELS_PREFIX=self.queue, GEOGAME_CACHE_PREFIX=self.queue)
        env.update({k: str(v) for k, v in settings.items()})
        env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py, config.asgi and config.celery choose it
        return env

    @property
    def processes(self):
        return [*self.webs, *self.workers]

    @property
    def urls(self):
        return [w.url for w in self.webs]

    def pids(self):
        return {p.name: p.pid for p in self.processes}

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if self.create_database and is_postgres(self.database_url):
                create_database(self.database_url)
            if self.migrate:
                self.manage("migrate", "--noinput", "-v", "0")
            if self._forwarder:
                self._forwarder.start()
            # Everything starts before anything is waited for: the processes load side by side.
            for _ in range(self.worker_count):
                self.add_worker(wait=False)
            for i in range(self.web_count):
                self.add_web(port=self.port + i if self.port else 0, wait=False)
            for p in self.processes:
                p.wait_ready(self.ready_timeout_s)
            if self._supervisor:
                self._supervisor.start()
        except BaseException:
            self.stop()
            raise
        return self

    def add_web(self, port=0, wait=True):
        """One more daphne (port 0: a free one)."""
        n = len(self.webs) + 1
        web = Web(
            f"web.{n}",
            host=self.host,
            port=port or free_port(self.host),
            env=dict(self.env, GEOGAME_DB_APPLICATION_NAME=f"geogame web.{n}"),
            log_path=self._log(f"web-{n}"),
        )
        # A stack without workers but with Redis answers 503 (no worker): serving is enough then.
        web.require_healthy = bool(self.worker_count) or not self.redis_url
        self.webs.append(web.start())
        if wait:
            web.wait_ready(self.ready_timeout_s)
        return web

    def add_worker(self, concurrency=None, wait=True, **extra_env):
        """One more Celery worker; `extra_env` adds settings for it alone."""
        n = len(self.workers) + 1
        env = dict(self.env, **self.worker_settings, **{k: str(v) for k, v in extra_env.items()})
        env.setdefault("GEOGAME_DB_APPLICATION_NAME", f"geogame worker.{n}")
        worker = Worker(
            f"worker.{n}",
            env=env,
            log_path=self._log(f"worker-{n}"),
            concurrency=concurrency or self.worker_concurrency,
        )
        self.workers.append(worker.start())
        if wait:
            worker.wait_ready(self.ready_timeout_s)
        return worker

    def _log(self, stem):
        return self.log_dir / f"{self.name}-{stem}.log"

    def manage(self, *args):
        """A management command over the stack's database and data folder."""
        return manage(self.env, *args)

    def stop(self):
        """Stop every process (daphne first), then forget the stack's own Redis names and, if
        asked, its database. Safe to call twice."""
        try:
            if self._supervisor:
                self._supervisor.stop()
            for p in [*self.webs, *self.workers]:
                p.stop()
        finally:
            if self._forwarder:
                self._forwarder.stop()
            if self.redis_url and self.own_names:
                _delete_keys(self.redis_url, self.queue)
            if self.drop_database and is_postgres(self.database_url):
                try:
                    drop_database(self.database_url)
                except Exception as exc:  # reported, not raised over the error that stopped the stack
                    print(
                        f"geogame stack: could not drop {database_name(self.database_url)} ({exc})",
                        file=sys.stderr,
                    )

    def leftovers(self):
        """Processes whose group still has a member (after stop: none)."""
        return [p for p in self.processes if p.group_alive()]

    def logs(self, tail_chars=20_000):
        return "\n".join(f"--- {p.name} ({p.log_path}) ---\n{p.log()[-tail_chars:]}" for p in self.processes)


def _delete_keys(redis_url, unique):
    """The stack's queue, kombu's bindings of it, its cache and channel-layer keys: every key
    whose name holds the stack's unique name."""
    import redis

    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        keys = list(client.scan_iter(f"*{unique}*"))
        if keys:
            client.delete(*keys)
    except (redis.RedisError, OSError) as exc:
        print(f"geogame stack: could not delete its Redis keys ({exc})", file=sys.stderr)


class _Loop:
    """A daemon thread that calls `tick()` every `interval_s` until stopped."""

    interval_s = 0.5
    thread_name = "geogame-stack-loop"

    def __init__(self, stack):
        self.stack = stack
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _run(self):
        while not self.stopped.wait(self.interval_s):
            self.tick()

    def tick(self):
        raise NotImplementedError


class _Supervisor(_Loop):
    """Starts again, within a second, every worker of `stack` that exited by itself."""

    thread_name = "geogame-stack-supervisor"

    def tick(self):
        for worker in list(self.stack.workers):
            if worker.proc is None or worker.running() or worker.stopped_on_purpose:
                continue
            line = f"{worker.name} (pid {worker.pid}) exited with {worker.returncode}; started again"
            try:
                worker.start()
            except RuntimeError:  # started meanwhile by someone else
                continue
            self.stack.restarts.append(line)
            if self.stack._forwarder:
                print(f"geogame stack: {line}", flush=True)


class _LogForwarder(_Loop):
    """Copies what the processes write to their log files onto stdout, each line prefixed with
    the process's name (the runner's terminal shows the whole stack)."""

    interval_s = 0.2
    thread_name = "geogame-stack-logs"

    def __init__(self, stack, out=None):
        super().__init__(stack)
        self.out = out or sys.stdout
        self.offsets = {}
        self.partial = {}

    def stop(self):
        super().stop()
        self.tick()

    def tick(self):
        width = max((len(p.name) for p in self.stack.processes), default=0)
        for p in list(self.stack.processes):
            try:
                with open(p.log_path, "rb") as f:
                    f.seek(self.offsets.get(p.log_path, 0))
                    data = f.read()
            except FileNotFoundError:
                continue
            self.offsets[p.log_path] = self.offsets.get(p.log_path, 0) + len(data)
            *lines, rest = (self.partial.get(p.log_path, b"") + data).split(b"\n")
            self.partial[p.log_path] = rest
            for line in lines:
                self.out.write(f"{p.name:<{width}} | {line.decode(errors='replace')}\n")
        self.out.flush()


# -- Command line ------------------------------------------------------------------------------------


class _Stop(Exception):
    pass


def _stop_on_signal(signum, frame):
    # Once: a second Ctrl-C must not cut the orderly shutdown short (and leave processes behind).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stop(signal.Signals(signum).name)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tools.stack",
        description="Start daphne and Celery workers on PostgreSQL and Redis; Ctrl-C or SIGTERM stops them.",
    )
    parser.add_argument("--web", type=int, default=2, help="daphne processes (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=8000, help="the first daphne's port; the next get +1 each"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    parser.add_argument("--data-dir", default=os.environ.get("GEOGAME_DATA_DIR") or str(REPO / "var"))
    parser.add_argument("--log-dir", help="where each process's log goes (default DATA_DIR/stack-logs)")
    parser.add_argument("--no-migrate", action="store_true", help="do not run migrations first")
    parser.add_argument(
        "--no-restart",
        action="store_true",
        help="leave a worker that exits stopped (default: start it again)",
    )
    args = parser.parse_args(argv)
    if args.web < 1 or args.workers < 0:
        parser.error("--web must be at least 1 and --workers at least 0")
    if is_postgres(args.database_url) and not postgres_answers(args.database_url):
        parser.error(f"PostgreSQL does not answer at {redacted(args.database_url)} (set DATABASE_URL)")
    if not redis_answers(args.redis_url):
        parser.error(f"Redis does not answer at {redacted(args.redis_url)} (set REDIS_URL)")

    signal.signal(signal.SIGINT, _stop_on_signal)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    stack = Stack(
        database_url=args.database_url,
        redis_url=args.redis_url,
        data_dir=args.data_dir,
        log_dir=args.log_dir,
        web=args.web,
        workers=args.workers,
        host=args.host,
        port=args.port,
        worker_concurrency=args.concurrency,
        name="geogame",
        # The deployment's own names (settings' defaults unless set): tasks waiting in the queue
        # outlive the stack, as they would in production.
        queue=os.environ.get("GEOGAME_CELERY_QUEUE") or "celery",
        create_database=True,
        echo=True,
        restart_on_exit=not args.no_restart,
        # Pooled connections, as docker-compose.yml runs them (the environment may say otherwise).
        settings={"GEOGAME_DB_POOL_SIZE": os.environ.get("GEOGAME_DB_POOL_SIZE") or DB_POOL_SIZE},
    )
    print(
        f"geogame stack: {args.web} daphne, {args.workers} workers on {redacted(args.database_url)} "
        f"and {redacted(args.redis_url)}; logs in {stack.log_dir}",
        flush=True,
    )
    try:
        with stack:
            for web in stack.webs:
                print(f"  {web.name:<9} {web.url}/  pid {web.pid}")
            for worker in stack.workers:
                print(f"  {worker.name:<9} {worker.hostname}  pid {worker.pid}")
            print("geogame stack ready; Ctrl-C stops it", flush=True)
            reported = set()
            while True:
                time.sleep(1)
                for p in stack.processes:
                    if not p.running() and p.name not in reported:
                        reported.add(p.name)
                        print(f"geogame stack: {p.name} (pid {p.pid}) exited with {p.returncode}", flush=True)
    except _Stop as stop:
        print(f"geogame stack: {stop}, stopped", flush=True)
    except (RuntimeError, TimeoutError) as exc:
        print(f"geogame stack: could not start: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
