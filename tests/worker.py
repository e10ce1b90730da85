"""Real Celery workers for tests and benchmarks: `celery worker` subprocesses on a Redis
broker, over the caller's database and data folder, with their logs kept in files."""

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 60
# Logged by celery.apps.worker once the consumer is up. By then the Redis transport has
# also made its start-up sweep for unacknowledged messages older than the visibility timeout.
READY_MARK = " ready."


def redis_url_with_db(db, url=None):
    """`url` (REDIS_URL, else the local default) with its database number replaced by `db`,
    so tests and benchmarks keep out of the database a running game uses."""
    parts = urlsplit(url or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379")
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


def redis_answers(url):
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except (redis.RedisError, OSError):
        return False
    return True


def database_url(settings_dict):
    """A DATABASE_URL for the database that `settings_dict` (a Django connection's) points at."""
    engine, name = settings_dict["ENGINE"], settings_dict["NAME"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{Path(name).resolve()}"
    if engine.endswith("postgresql"):
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{quote(name, safe='')}"
    raise ValueError(f"no DATABASE_URL for engine {engine}")


def worker_env(*, database_url, redis_url, data_dir, visibility_timeout_s=None, **extra):
    """The environment of a worker process. `extra` adds settings (GEOGAME_BATCH_MAX=1, ...).

    A short `visibility_timeout_s` lets a test see a killed worker's task redelivered soon;
    but then a task that a busy worker has held unacknowledged that long is handed out again
    at the next sweep too (run twice: harmless, the task is idempotent, but it skews a
    benchmark). None keeps the settings' default."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url, REDIS_URL=redis_url, GEOGAME_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1"
    )
    if visibility_timeout_s is not None:
        env["GEOGAME_TASK_VISIBILITY_TIMEOUT_S"] = str(visibility_timeout_s)
    env.update({k: str(v) for k, v in extra.items()})
    env.pop("DJANGO_SETTINGS_MODULE", None)  # geogame.celery chooses geogame.settings
    return env


def wait_until(predicate, *, timeout_s, what, interval_s=0.05):
    """Poll `predicate` until it returns something truthy, and return that; after
    `timeout_s` raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


@dataclass
class Worker:
    name: str
    hostname: str  # unique: the destination for remote control (app.control.broadcast)
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        return self.log_path.read_text(errors="replace")

    def running(self):
        return self.proc.poll() is None

    def wait_for_log(self, text, timeout_s):
        """Wait until `text` appears in the log; fail at once, with the log, if the worker exits."""

        def seen():
            if text in self.log():
                return True
            if not self.running():
                raise RuntimeError(f"worker {self.name} exited with {self.proc.returncode}:\n{self.log()}")
            return False

        wait_until(seen, timeout_s=timeout_s, what=f"{text!r} in the log of worker {self.name}")

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

    def kill(self):
        """SIGKILL: no warm shutdown, so the broker keeps its unacknowledged tasks."""
        if self.running():
            self.proc.kill()
        self.proc.wait()

    def stop(self, timeout_s=10):
        """SIGTERM (warm shutdown: running tasks finish), then SIGKILL if it takes too long."""
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


@dataclass
class Workers:
    """Starts workers in `log_dir`, all with `env` plus per-worker additions; stops them all."""

    env: dict
    log_dir: Path
    started: list = field(default_factory=list)

    def start(self, name, *, concurrency=4, extra_args=(), **extra_env):
        """Start a thread-pool worker and wait (bounded) until it consumes. `extra_args` go to
        `celery worker` (e.g. "-I", "module" to import one more module in the worker)."""
        log_path = Path(self.log_dir) / f"worker-{name}.log"
        hostname = f"{name}-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        env = dict(self.env, **{k: str(v) for k, v in extra_env.items()})
        celery = Path(sys.executable).parent / "celery"
        command = [
            str(celery),
            "-A",
            "geogame",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "info",
            "--hostname",
            hostname,
            *extra_args,
        ]
        with open(log_path, "w") as log:
            proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        worker = Worker(name, hostname, proc, log_path)
        self.started.append(worker)
        worker.wait_for_log(READY_MARK, STARTUP_TIMEOUT_S)
        return worker

    def kill_all(self):
        for worker in self.started:
            worker.kill()

    def stop_all(self, timeout_s=10):
        """Warm shutdown: tasks running finish and are acknowledged (a SIGKILL between a task's
        end and its ack would leave it to be delivered again later)."""
        for worker in self.started:
            worker.stop(timeout_s)

    def logs(self):
        return "\n".join(f"--- worker {w.name} ({w.log_path}) ---\n{w.log()}" for w in self.started)
