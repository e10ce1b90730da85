"""Real Celery workers for tests and benchmarks: `celery worker` subprocesses on a Redis
broker, over the caller's database and data folder, with their logs kept in files. The
processes themselves (start, stop, kill, logs) are tools.stack's."""

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

# Re-exported: tests and benchmarks import them from here.
from tools.stack import Worker, redis_answers, redis_url_with_db, wait_until  # noqa: F401

STARTUP_TIMEOUT_S = 60


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
    env.pop("DJANGO_SETTINGS_MODULE", None)  # config.celery chooses config.settings
    return env


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
        log_path.unlink(missing_ok=True)  # a worker of the same name before: its log goes
        env = dict(self.env, **{k: str(v) for k, v in extra_env.items()})
        worker = Worker(name, env=env, log_path=log_path, concurrency=concurrency, extra_args=extra_args)
        self.started.append(worker.start())
        worker.wait_ready(STARTUP_TIMEOUT_S)
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
