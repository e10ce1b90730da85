"""The duel lobby's "Find a ranked opponent" in a real browser at 1400x900 and 390x844: an account
joins the ranked queue of the chosen map, sees that it is looking, and, alone, is taken to a ranked
duel against a machine player after GEOGAME_RANKED_QUEUE_MACHINE_S; a visitor without an account
is asked to log in. One daphne without Redis (harness/duel_stack.py), so the queue is in process.
Screenshots into GEOGAME_SCREENSHOT_DIR when set (docs/screens/ holds the committed ones)."""

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.duel_stack import prepare_database, running_stack
from harness.live_server import headless_chromium, missing_browser, server_env
from harness.ranked_queue import make_accounts
from tests.conftest import scaled
from tests.test_comeback_browser import SIZES, by_id, size, wait
from tools.stack import manage

pytestmark = [pytest.mark.browser, pytest.mark.timeout(int(scaled(300)))]
MACHINE_S = 8.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"browser tests need Chromium and ChromeDriver (`make browser`); missing: {missing}")
    workdir = prepare_database(tmp_path_factory.mktemp("queue-browser"))
    env = server_env(workdir)
    accounts = make_accounts(SimpleNamespace(manage=lambda *a: manage(env, *a)), [("ada", None)])
    with running_stack(
        workdir, name="queue-browser", settings={"GEOGAME_RANKED_QUEUE_MACHINE_S": MACHINE_S}
    ) as s:
        s.accounts = accounts
        yield s


def screens():
    folder = Path(os.environ.get("GEOGAME_SCREENSHOT_DIR") or "/tmp/geogame-queue-screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def no_sideways_scroll(driver, label):
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the lobby scrolls sideways by {overflow}px at {label}"


def test_find_a_ranked_opponent_waits_then_plays_the_closest_machine(server, tmp_path):
    with headless_chromium(tmp_path / "profile") as driver:
        size(driver, "wide")
        driver.get(f"{server.url}/duels/")
        login = by_id(driver, "queue-login")
        assert login.text == "Log in to find a ranked opponent."
        assert not driver.find_elements("id", "find-ranked")

        driver.add_cookie({"name": "sessionid", "value": server.accounts["ada"]["session"], "path": "/"})
        driver.get(f"{server.url}/duels/")
        find = by_id(driver, "find-ranked")
        assert find.text == "Find a ranked opponent"
        find.click()
        status = by_id(driver, "queue-status")
        wait(driver, lambda d: status.text.startswith("Looking for an opponent on Fixture world"), "queued")
        assert "your rating 1500" in status.text and by_id(driver, "leave-queue").is_displayed()
        for label in SIZES:
            size(driver, label)
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", status)
            assert status.is_displayed() and by_id(driver, "leave-queue").is_displayed()
            no_sideways_scroll(driver, label)
            driver.save_screenshot(str(screens() / f"duel-lobby-queue-{label}.png"))

        def at_duel(d):
            return re.search(r"/duels/[0-9a-f-]{36}/$", d.current_url)

        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(driver, MACHINE_S + scaled(30)).until(at_duel, message="the duel page")
        wait(driver, lambda d: by_id(d, "ranked-badge").is_displayed(), "the ranked badge")
