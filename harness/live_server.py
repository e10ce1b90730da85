"""A real geogame server for the browser tests: daphne on a free port (tools.stack), over a
fresh database and data folder in a temporary directory, with maps imported by the real
management command."""

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tools.stack import Stack, manage


@dataclass(frozen=True)
class Server:
    url: str  # the base URL, without a trailing slash
    log_path: Path  # daphne's stdout and stderr

    def log(self):
        return self.log_path.read_text(errors="replace")


def server_env(workdir):
    env = dict(os.environ)
    env.update(
        GEOGAME_DATA_DIR=str(workdir),
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        # Hermetic: in-memory channel layer and in-process tasks, whatever the caller has set.
        REDIS_URL="",
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py and config.asgi choose config.settings
    return env


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
    stack = Stack(
        database_url=env["DATABASE_URL"],
        redis_url="",
        data_dir=workdir,
        log_dir=workdir,
        web=1,
        workers=0,
        name="live",
        migrate=False,
    )
    with stack:
        server = Server(stack.webs[0].url, stack.webs[0].log_path)
        try:
            yield server
        except BaseException:
            # pytest shows it with the failure
            print(f"--- daphne log ({server.log_path}) ---\n{server.log()}")
            raise


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
