"""The country streak pages in a real browser at 1400x900 and 390x844: start a streak, answer one
place right by typing its country, one wrong, then the streak leaderboard. Screenshots go to
GEOGAME_SCREENS_DIR (docs/screens/), else to a temporary folder."""

import os
import sqlite3
from pathlib import Path

import pytest

from geogame.maps.countries import country_name
from geogame.streaks import rules
from harness.fixture_map import build_fixture_folder
from harness.live_server import headless_chromium, live_server, missing_browser
from tests.conftest import scaled

pytestmark = [pytest.mark.browser, pytest.mark.timeout(scaled(300))]
VIEWPORTS = {"desktop": (1400, 900), "phone": (390, 844)}
WAIT_S = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"browser tests need Chromium and ChromeDriver (`make browser`); missing: {missing}")
    workdir = tmp_path_factory.mktemp("streak")
    folder = workdir / "fixture"
    build_fixture_folder(folder)
    with live_server(workdir, [(folder, "Streak map")]) as srv:
        yield srv, workdir / "db.sqlite3"


def guess_of(db, streak_id, index):
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT r.guess_code, r.correct FROM streaks_streakround r JOIN streaks_streak s "
            'ON r.streak_id = s.id WHERE s.public_id = ? AND r."index" = ?',
            (streak_id.replace("-", ""), index),
        ).fetchone()


def answer_of(db, streak_id, index):
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT l.country_code FROM streaks_streakround r JOIN streaks_streak s ON r.streak_id = s.id "
            'JOIN geogame_location l ON r.location_id = l.id WHERE s.public_id = ? AND r."index" = ?',
            (streak_id.replace("-", ""), index),
        ).fetchone()
    return row[0]


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_streak_in_the_browser(server, size, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    srv, db = server
    shots = Path(os.environ.get("GEOGAME_SCREENS_DIR") or tmp_path)
    width, height = VIEWPORTS[size]

    def wait(driver, what, condition):
        return WebDriverWait(driver, scaled(WAIT_S)).until(condition, message=f"waited for {what}")

    with headless_chromium(tmp_path / "profile") as driver:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"},
        )
        driver.get(srv.url + "/streaks/")
        driver.find_element(By.ID, "display-name").send_keys("Ada")
        driver.find_element(By.ID, "start-streak").click()
        wait(
            driver,
            "the first photo",
            lambda d: d.execute_script(
                "const i = document.getElementById('view-image'); return i.complete && i.naturalWidth > 0;"
            ),
        )
        wait(driver, "the outlines", lambda d: d.find_element(By.ID, "map").get_attribute("data-outlines"))
        streak_id = driver.current_url.rstrip("/").split("/")[-1]
        driver.save_screenshot(str(shots / f"streak-round-{size}.png"))
        box = driver.find_element(By.ID, "country-input")
        assert box.is_displayed() and driver.find_element(By.ID, "map").is_displayed()

        right = country_name(answer_of(db, streak_id, 0))
        box.send_keys(right)
        driver.find_element(By.ID, "country-submit").click()
        verdict = driver.find_element(By.ID, "result-verdict")
        wait(driver, "the verdict", lambda d: verdict.text.startswith("Right"))
        assert right in verdict.text and driver.find_element(By.ID, "streak-length").text == "1"
        driver.save_screenshot(str(shots / f"streak-reveal-{size}.png"))

        driver.find_element(By.ID, "next").click()
        wait(
            driver, "round 2", lambda d: not d.find_element(By.ID, "country-input").get_attribute("disabled")
        )
        # A click on the map sends the point; the server answers with its country, or refuses a
        # point at sea (the round stays open).
        ActionChains(driver).move_to_element(driver.find_element(By.ID, "map")).click().perform()
        message = driver.find_element(By.ID, "message")
        wait(
            driver,
            "the click's answer",
            lambda d: message.is_displayed() or d.find_element(By.ID, "result").is_displayed(),
        )
        index, sea = 1, message.is_displayed()
        if sea:
            assert message.text == rules.ERR_NO_COUNTRY_THERE and guess_of(db, streak_id, 1) == ("", None)
        else:
            clicked, correct = guess_of(db, streak_id, 1)
            assert len(clicked) == 2 and country_name(clicked) in verdict.text
            if correct:  # the click was right: on to round 3, answered wrong below
                driver.find_element(By.ID, "next").click()
                wait(driver, "round 3", lambda d: d.find_element(By.ID, "country-input").is_enabled())
                index = 2
            else:
                index = None
        if index is not None:
            code = answer_of(db, streak_id, index)
            driver.find_element(By.ID, "country-input").send_keys("Japan" if code != "JP" else "France")
            driver.find_element(By.ID, "country-submit").click()
            wait(driver, "the wrong verdict", lambda d: verdict.text.startswith("Wrong"))
            assert country_name(code) in verdict.text
        wait(driver, "the end", lambda d: "Your streak:" in verdict.text)
        assert driver.find_element(By.ID, "board-link").is_displayed()
        assert not driver.find_element(By.ID, "next").is_displayed()
        driver.save_screenshot(str(shots / f"streak-ended-{size}.png"))

        driver.find_element(By.ID, "board-link").click()
        wait(driver, "the board", lambda d: d.find_elements(By.ID, "streak-board-humans"))
        assert "Ada" in driver.find_element(By.ID, "streak-board-humans").text
        driver.save_screenshot(str(shots / f"streak-board-{size}.png"))
        # The one 400 a click at sea gets is the browser's only complaint allowed.
        refused = "/guess/ - Failed to load resource: the server responded with a status of 400"
        errors = [
            e
            for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and not (sea and refused in e["message"])
        ]
        assert errors == []
