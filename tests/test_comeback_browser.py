"""Issue 14 in real browsers: the daily challenge played in two browsers, both on its leaderboard
with the map's machine players; a challenge link followed from one browser to another; and
screenshots of /me/, a replay, the daily leaderboard and a challenge page at 1400x900 and 390x844
(into GEOGAME_SCREENSHOT_DIR when set: docs/screens/ holds the committed ones).

A real daphne (harness/live_server.py) serves the fixture map (harness/fixture_map.py) made large
enough for a daily (tests/conftest.py, DAILY_MAP_PER_CITY), and the plain fixture map, too small for
one, whose place on the daily page says so; the machine players are the untrained `random`,
`centroid` and `retrieval`, whose daily guesses run in the server's own model process. A third
browser takes up the challenge under a display name of markup: every pin's name label on the
challenge page stays inert text."""

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.fixture_map import build_fixture_folder
from harness.live_server import headless_chromium, live_server, missing_browser
from tests.conftest import DAILY_MAP_PER_CITY, scaled
from tests.test_xss_browser import HOSTILE_NAME, INJECTED

pytestmark = [pytest.mark.browser, pytest.mark.timeout(int(scaled(600)))]

MAP_SLUG = "fixture-world"
SMALL_SLUG = "small-world"  # 10 held-out places: under the daily's minimum
WAIT_S = 30
SIZES = {"wide": (1400, 900, False), "phone": (390, 844, True)}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"browser tests need Chromium and ChromeDriver (`make browser`); missing: {missing}")
    workdir = tmp_path_factory.mktemp("comeback")
    folder, small = workdir / "mapfolder", workdir / "smallfolder"
    folder.mkdir()
    small.mkdir()
    build_fixture_folder(folder, per_city=DAILY_MAP_PER_CITY)
    build_fixture_folder(small)
    with live_server(workdir, [(folder, "Fixture world"), (small, "Small world")]) as srv:
        yield srv


@pytest.fixture
def two_browsers(server, tmp_path):
    with headless_chromium(tmp_path / "a") as a, headless_chromium(tmp_path / "b") as b:
        for d in (a, b):
            size(d, "wide")
        yield a, b


@pytest.fixture
def screens(tmp_path):
    folder = Path(os.environ.get("GEOGAME_SCREENSHOT_DIR") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def size(driver, name):
    w, h, mobile = SIZES[name]
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": mobile},
    )


def wait(driver, condition, what):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, scaled(WAIT_S)).until(condition, message=f"waited for {what}")


def by_id(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def play_five_rounds(driver, offset=0):
    """Play the game on the page: a pin a round, submit, next; ends on the summary page."""
    from selenium.webdriver.common.action_chains import ActionChains

    for number in range(1, 6):
        wait(driver, lambda d, n=number: by_id(d, "round-number").text == str(n), f"round {number}")
        the_map = by_id(driver, "map")
        ActionChains(driver).move_to_element_with_offset(
            the_map, -120 + 40 * number + offset, 30
        ).click().perform()
        wait(driver, lambda d: by_id(d, "submit-guess").is_enabled(), "the pin")
        by_id(driver, "submit-guess").click()
        wait(driver, lambda d: by_id(d, "result-points").get_attribute("data-points"), "the result")
        button = "next-round" if number < 5 else "summary-link"
        wait(driver, lambda d, b=button: by_id(d, b).is_displayed(), button)
        by_id(driver, button).click()
    wait(driver, lambda d: "/summary/" in d.current_url, "the summary")


def ranking_names(driver, table_id):
    return [td.text.replace("machine", "").strip() for td in css(driver, f"#{table_id} .ranking-name")]


def shoot(driver, screens, name):
    for label in SIZES:
        size(driver, label)
        driver.refresh()
        wait(driver, lambda d: d.execute_script("return document.readyState") == "complete", "the page")
        wait(
            driver,
            lambda d: all(
                m.get_attribute("data-outlines") in (None, "loaded") for m in css(d, ".leaflet-container")
            ),
            "the maps' outlines",
        )
        driver.save_screenshot(str(screens / f"{name}-{label}.png"))
    size(driver, "wide")


@contextmanager
def logs_on_failure(server, *drivers):
    try:
        yield
    except BaseException:
        print(f"--- daphne log ---\n{server.log()[-8000:]}")
        for i, d in enumerate(drivers):
            d.save_screenshot(f"/tmp/comeback-fail-{i}.png")
            print("--- page", d.current_url, "---\n", d.find_element("tag name", "main").text[:2000])
        raise


def test_the_daily_in_two_browsers_and_a_challenge_link_from_one_to_the_other(
    server, two_browsers, screens, tmp_path
):
    with headless_chromium(tmp_path / "c") as mallory:
        size(mallory, "wide")
        with logs_on_failure(server, *two_browsers, mallory):
            daily_and_challenge(server, *two_browsers, mallory, screens)


def daily_and_challenge(server, ada, bob, mallory, screens):
    # The home page's screenshots are tests/test_screens_browser.py's (home-desktop, home-phone).
    # A map too small for a daily says so on the daily page, and offers nothing to play.
    ada.get(server.url + "/daily/")
    small = css(ada, f"#daily-{SMALL_SLUG} .daily-none")
    assert small and "No daily challenge on this map" in small[0].text and "at least 15" in small[0].text
    assert not css(ada, f"#daily-{SMALL_SLUG} .daily-play") and css(ada, f"#daily-{MAP_SLUG} .daily-play")
    shoot(ada, screens, "daily")
    for driver, name, offset in ((ada, "Ada", 0), (bob, "Bob", 15)):
        driver.get(server.url + "/")
        by_id(driver, "hub-daily").click()
        wait(driver, lambda d: d.current_url.endswith("/daily/"), "the daily page")
        css(driver, f"#daily-{MAP_SLUG} .daily-name")[0].send_keys(name)
        css(driver, f"#daily-{MAP_SLUG} .daily-play")[0].click()
        play_five_rounds(driver, offset)
        # A second attempt from the same browser is refused by the server.
        driver.get(server.url + "/daily/")
        assert not css(driver, f"#daily-{MAP_SLUG} .daily-play")
    board_link = css(ada, f"#daily-{MAP_SLUG} a.button")[0].get_attribute("href")

    def board_complete(d):
        d.get(board_link)
        return (
            sorted(ranking_names(d, "daily-humans")) == ["Ada", "Bob"]
            and len(css(d, "#daily-machines .machine-row")) == 3  # random, centroid, retrieval
            and all(r.text.endswith("5 / 5") for r in css(d, "#daily-machines .machine-row"))
        )

    wait(ada, board_complete, "both players and the three machines on the daily leaderboard")
    assert all(b.text == "machine" for b in css(ada, "#daily-machines .machine-badge"))
    bob.get(board_link)
    assert sorted(ranking_names(bob, "daily-humans")) == ["Ada", "Bob"]
    shoot(ada, screens, "daily-leaderboard")

    # A challenge link, from Ada's browser to Bob's.
    ada.get(server.url + "/")
    by_id(ada, "start-game").click()
    play_five_rounds(ada)
    by_id(ada, "challenge-friend").click()
    wait(ada, lambda d: "/challenges/" in d.current_url, "the challenge page")
    link = by_id(ada, "share-url").get_attribute("value")
    assert link == ada.current_url
    bob.get(link)
    assert ranking_names(bob, "challenge-ranking") == ["Ada"] and by_id(bob, "pins-hidden")
    by_id(bob, "challenge-accept").click()
    play_five_rounds(bob, offset=25)
    bob.get(link)
    assert sorted(ranking_names(bob, "challenge-ranking")) == ["Ada", "Bob"]
    wait(bob, lambda d: len(css(d, ".pins-map .pin-label")) == 5 * 3, "everyone's labelled pins")
    assert len(css(bob, ".pins-map path.pin-line")) == 5 * 2  # each person's distance line
    for round_map in css(bob, ".pins-map"):
        labels = [t.text for t in round_map.find_elements("css selector", ".pin-label")]
        assert sorted(labels) == ["Ada", "Bob", "The answer"], labels
    shoot(bob, screens, "challenge")

    # A third player, named in markup, takes the challenge up: the labels hold the name as text.
    mallory.get(link)
    by_id(mallory, "challenge-name").send_keys(HOSTILE_NAME)
    by_id(mallory, "challenge-accept").click()
    play_five_rounds(mallory, offset=-25)
    for driver in (mallory, bob):
        driver.get(link)
        wait(driver, lambda d: len(css(d, ".pins-map .pin-label")) == 5 * 4, "the third player's pins")
        labels = driver.execute_script(
            "return [...document.querySelectorAll('.pins-map .pin-label')].map((t) => t.textContent)"
        )
        assert labels.count(HOSTILE_NAME) == 5 and labels.count("Ada") == 5
        assert driver.execute_script(INJECTED) == []
        assert driver.execute_script("return window.pwned === undefined")
        assert driver.title.startswith("Challenge")

    ada.get(server.url + "/me/")
    rows = css(ada, "#history-table .history-row")
    assert len(rows) == 2  # the daily and the challenge's game
    shoot(ada, screens, "me")
    css(ada, "#history-table .replay-link")[0].click()
    wait(ada, lambda d: "/me/games/" in d.current_url, "the replay")
    wait(
        ada,
        lambda d: (
            len(css(d, ".replay-photo")) >= 5
            and all(
                d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i)
                for i in css(d, ".replay-photo")
            )
        ),
        "the replay's photos",
    )
    shoot(ada, screens, "replay")
