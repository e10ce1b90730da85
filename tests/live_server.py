"""A real geogame server for the browser tests: daphne on a free port, over a fresh
database and data folder in a temporary directory, with maps imported by the real
management command."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 60


@dataclass(frozen=True)
class Server:
    url: str  # the base URL, without a trailing slash
    log_path: Path  # daphne's stdout and stderr

    def log(self):
        return self.log_path.read_text(errors="replace")


def free_port():
    # Another process could take the port before daphne binds it; the startup check
    # below would then fail with daphne's log, which says so.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(workdir):
    env = dict(os.environ)
    env.update(
        GEOGAME_DATA_DIR=str(workdir),
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        # Hermetic: in-memory channel layer and in-process tasks, whatever the caller has set.
        REDIS_URL="",
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py and geogame.asgi choose geogame.settings
    return env


def manage(env, *args):
    """Run a management command; raise with its output if it fails."""
    proc = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        command = " ".join(args)
        raise RuntimeError(f"manage.py {command} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def wait_until_serving(proc, url, log_path):
    """Poll `url` until it answers HTTP; fail early if daphne exits."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is serving
        except OSError:
            pass
        try:
            proc.wait(timeout=0.1)  # doubles as the pause between tries
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"daphne exited with {proc.returncode}:\n{log_path.read_text()}")
    raise RuntimeError(f"daphne did not answer {url} within {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()}")


@contextmanager
def live_server(workdir, maps):
    """Migrate a fresh database in `workdir`, import `maps` ([(folder, name)]) and serve
    the game with daphne. Yields a Server (its base URL and log); stops daphne on the
    way out and prints the log if the block raised."""
    workdir = Path(workdir)
    env = server_env(workdir)
    manage(env, "migrate", "--noinput", "-v", "0")
    for folder, name in maps:
        manage(env, "import_map", str(folder), "--name", name, "--no-progress")

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    daphne = Path(sys.executable).parent / "daphne"
    log_path = workdir / "daphne.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(daphne), "-b", "127.0.0.1", "-p", str(port), "geogame.asgi:application"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(proc, base_url + "/", log_path)
        yield Server(base_url, log_path)
    except BaseException:
        print(f"--- daphne log ({log_path}) ---\n{log_path.read_text()}")  # pytest shows it with the failure
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def missing_browser():
    """The paths of Debian's Chromium and ChromeDriver that are not installed."""
    return [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]


@contextmanager
def headless_chromium(profile_dir, extra_args=()):
    """A Selenium driver for headless Chromium with a fresh profile. OpenStreetMap's tiles are
    blocked, so the map always runs on the bundled outlines, offline or online."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in [*CHROME_ARGS, *extra_args]:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*tile.openstreetmap.org*"]})
        yield driver
    finally:
        driver.quit()
