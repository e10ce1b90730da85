"""The game in a real browser: headless Chromium plays the pages served by a real daphne.

The server imports the shared sample photos (harness/live_server.py). OpenStreetMap tiles are
blocked in the browser, so the map must work from the bundled country outlines alone.
Distances and points are recomputed here with plain math, independently of geogame's code.
"""

import csv
import math
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.live_server import headless_chromium, live_server, missing_browser
from tests.conftest import scaled

pytestmark = pytest.mark.browser

SAMPLE_DIR = Path(
    os.environ.get("GEOGAME_SAMPLE_DIR")
    or Path(__file__).resolve().parents[2] / "shared" / "datasets" / "streetscapes-sample"
)
SAMPLE_MAP = ("Streetscapes sample", "streetscapes-sample")
PANORAMA_MAP = ("Streetscapes panoramas", "streetscapes-panoramas")
VIEWPORT = {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False}
WAIT_S = 20  # on an idle machine; waits use scaled(WAIT_S)
EARTH_RADIUS_KM = 6371.0088
WORLD_SCALE_KM = 14916.862


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def expected_points(distance_km):
    if distance_km <= 0.025:
        return 5000
    return round(5000 * math.exp(-10 * distance_km / WORLD_SCALE_KM))


def expected_distance_text(distance_km):
    return f"{round(distance_km * 1000)} m" if distance_km < 1 else f"{distance_km:,.1f} km"


def panorama_folder(sample, dest, count=5):
    """A map of `count` of the sample's 360-degree panoramas (enough for a game; each takes a
    while to render): every round has three views."""
    with open(sample / "manifest.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = [r for r in reader if r["projection"] == "equirectangular"][:count]
        fields = reader.fieldnames
    assert len(rows) == count, f"the sample needs at least {count} panoramas"
    (dest / "images").mkdir(parents=True)
    for row in rows:
        shutil.copyfile(sample / row["file"], dest / row["file"])
    with open(dest / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return dest


# -- Fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"browser tests need Chromium and ChromeDriver (`make browser`); missing: {missing}")
    if not (SAMPLE_DIR / "manifest.csv").is_file():
        pytest.skip(f"browser tests need the shared sample photos; no manifest.csv in {SAMPLE_DIR}")
    workdir = tmp_path_factory.mktemp("live")
    panoramas = panorama_folder(SAMPLE_DIR, workdir / "panoramas")
    with live_server(workdir, [(SAMPLE_DIR, SAMPLE_MAP[0]), (panoramas, PANORAMA_MAP[0])]) as srv:
        yield srv


@pytest.fixture
def browser(server, tmp_path):
    with headless_chromium(tmp_path / "chromium-profile") as driver:
        # The page itself 1280x800 (--window-size would count the window's frame too).
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", VIEWPORT)
        yield driver


@pytest.fixture
def screenshots(tmp_path):
    folder = Path(os.environ.get("GEOGAME_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def logs_on_failure(server, driver):
    """On failure, print daphne's log and the browser console; pytest shows them with the report."""
    try:
        yield
    except BaseException:
        print(f"--- daphne log ---\n{server.log()[-20000:]}")
        print("--- browser console ---")
        for entry in driver.get_log("browser"):
            print(entry["level"], entry["message"])
        raise


# -- Driving the pages ------------------------------------------------------------------------------


def wait(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, scaled(WAIT_S))


def by_id(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def start_game(driver, base_url, *, map_slug, mode, name="Ada", time_limit="", opponent=""):
    from selenium.webdriver.support.ui import Select

    driver.get(base_url + "/")
    field = by_id(driver, "display-name")
    field.clear()
    field.send_keys(name)
    by_id(driver, f"map-{map_slug}").click()
    by_id(driver, f"mode-{mode}").click()
    Select(by_id(driver, "time-limit")).select_by_value(time_limit)
    Select(by_id(driver, "opponent")).select_by_value(opponent)
    by_id(driver, "start-game").click()
    wait(driver).until(lambda d: "/play/" in d.current_url)


def wait_for_round(driver, number):
    wait(driver).until(lambda d: by_id(d, "round-number").text == str(number))


def wait_for_view(driver, index):
    """The view `index` is shown and its image has loaded."""
    script = (
        "const img = document.getElementById('view-image');"
        "return img.dataset.index === arguments[0] && img.complete && img.naturalWidth > 0"
        " && new URL(img.src).pathname.endsWith('/' + arguments[0] + '.jpg');"
    )
    wait(driver).until(lambda d: d.execute_script(script, str(index)))


def press(driver, key):
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def switch_views(driver):
    """Switch by button, then by the arrow keys both ways (wrapping round the ends)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    count = len(driver.find_elements(By.CSS_SELECTOR, ".view-btn"))
    assert count > 1
    by_id(driver, "view-btn-1").click()
    wait_for_view(driver, 1)
    assert by_id(driver, "view-btn-1").get_attribute("aria-pressed") == "true"
    press(driver, Keys.ARROW_RIGHT)
    wait_for_view(driver, 2 % count)
    press(driver, Keys.ARROW_LEFT)
    press(driver, Keys.ARROW_LEFT)
    wait_for_view(driver, 0)
    seen = by_id(driver, "game").get_attribute("data-views-seen")
    assert seen == ",".join(str(i) for i in range(min(count, 3)))


def place_pin(driver, dx, dy):
    """Click the map `dx`, `dy` pixels from its centre; return the marker's (lat, lon)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    the_map = by_id(driver, "map")
    ActionChains(driver).move_to_element_with_offset(the_map, dx, dy).click().perform()
    pin = "#map .leaflet-marker-icon:not(.city-label)"  # the city labels are markers too
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, pin))
    wait(driver).until(lambda d: by_id(d, "submit-guess").is_enabled())
    return latlon(the_map, "marker")


def latlon(element, prefix):
    """(lat, lon) from an element's data-<prefix>-lat and data-<prefix>-lon."""
    return tuple(float(element.get_attribute(f"data-{prefix}-{axis}")) for axis in ("lat", "lon"))


def wait_for_result(driver):
    wait(driver).until(
        lambda d: by_id(d, "result").is_displayed() and by_id(d, "result-points").get_attribute("data-points")
    )
    return by_id(driver, "result")


def wait_for_reveal_in_view(driver, guess_selector):
    """The answer marker with its label, the guess marker and the line between them are drawn,
    and the map has zoomed so that the markers and label lie inside it."""
    script = """
        const box = document.getElementById('map').getBoundingClientRect();
        const parts = ['#map path.answer-marker', '#map .leaflet-tooltip', arguments[0]]
            .map((selector) => [...document.querySelectorAll(selector)]);
        if (parts[0].length !== 1 || parts[2].length !== 1 || parts[1].length < 1) return false;
        if (!document.querySelector('#map path.reveal-line')) return false;
        return parts.flat().every((el) => {
            const r = el.getBoundingClientRect();
            return r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;
        });
    """
    from selenium.common.exceptions import TimeoutException

    try:
        wait(driver).until(lambda d: d.execute_script(script, guess_selector))
    except TimeoutException:
        where = driver.execute_script(
            "const box = document.getElementById('map').getBoundingClientRect();"
            "return [JSON.stringify(box), ...[...document.querySelectorAll("
            "'#map path.answer-marker, #map .leaflet-tooltip, ' + arguments[0])].map((el) =>"
            " el.className.baseVal || el.className + ' ' + JSON.stringify(el.getBoundingClientRect()))];",
            guess_selector,
        )
        raise AssertionError(f"the reveal is not all inside the map: {where}") from None


def console_errors(driver, expected=None):
    """Console errors other than the OpenStreetMap probe tile these tests block on purpose
    and one `expected` message."""
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE"
        and "tile.openstreetmap.org" not in e["message"]
        and not (expected and expected in e["message"])
    ]


# -- Tests ------------------------------------------------------------------------------------------


def test_a_full_game_pinned_on_the_map_scores_what_the_page_shows(server, browser, screenshots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser
    with logs_on_failure(server, driver):
        start_game(driver, server.url, map_slug=SAMPLE_MAP[1], mode="coordinates")
        wait(driver).until(lambda d: by_id(d, "map").get_attribute("data-outlines") == "loaded")
        assert by_id(driver, "timer").get_attribute("hidden") is not None  # no time limit chosen
        points_per_round = []
        for number in range(1, 6):
            wait_for_round(driver, number)
            assert by_id(driver, "result").get_attribute("hidden") is not None
            wait_for_view(driver, 0)
            if len(driver.find_elements(By.CSS_SELECTOR, ".view-btn")) > 1:  # panoramas have three views
                switch_views(driver)
            before_guess = driver.page_source

            guess = place_pin(driver, dx=-180 + 90 * (number - 1), dy=(-1) ** number * 60)
            if number == 1:
                driver.save_screenshot(str(screenshots / "play.png"))
            if number % 2:
                by_id(driver, "submit-guess").click()
            else:
                press(driver, Keys.ENTER)  # the map has the focus after the click

            result = wait_for_result(driver)
            answer = latlon(result, "answer")
            assert latlon(result, "guess") == guess  # what was scored is where the pin is
            distance = haversine_km(*answer, *guess)
            shown_km = float(by_id(driver, "result-distance").get_attribute("data-km"))
            assert shown_km == pytest.approx(distance, abs=0.05)
            assert by_id(driver, "result-distance").text == expected_distance_text(distance)
            points = int(by_id(driver, "result-points").get_attribute("data-points"))
            assert points == expected_points(distance)
            assert f"{points:,}" in by_id(driver, "result-points").text
            points_per_round.append(points)

            place = by_id(driver, "result-answer").text
            assert place.startswith("The place: ")
            city = place.removeprefix("The place: ").split(",")[0]
            assert city not in before_guess, "the page named the answer before the guess"
            assert "Photo: " in by_id(driver, "result-attribution").text
            wait_for_reveal_in_view(driver, "#map .leaflet-marker-icon:not(.city-label)")
            assert by_id(driver, "total-points").get_attribute("data-points") == str(sum(points_per_round))
            if number == 1:
                driver.save_screenshot(str(screenshots / "reveal.png"))

            if number < 5:
                assert not by_id(driver, "summary-link").is_displayed()
                by_id(driver, "next-round").click()
            else:
                assert not by_id(driver, "next-round").is_displayed()
                by_id(driver, "summary-link").click()

        wait(driver).until(lambda d: "/summary/" in d.current_url)
        total = by_id(driver, "summary-total")
        assert int(total.get_attribute("data-points")) == sum(points_per_round)
        rows = driver.find_elements(By.CSS_SELECTOR, ".summary-row")
        assert [int(r.get_attribute("data-points")) for r in rows] == points_per_round
        wait(driver).until(lambda d: by_id(d, "summary-map").get_attribute("data-outlines") == "loaded")
        driver.save_screenshot(str(screenshots / "summary.png"))
        assert by_id(driver, "play-again").get_attribute("href") == server.url + "/"
        assert console_errors(driver) == []


def test_views_switch_by_button_and_arrow_keys_and_enlarge_with_escape_to_close(server, browser, screenshots):
    from selenium.webdriver.common.keys import Keys

    driver = browser
    with logs_on_failure(server, driver):
        start_game(driver, server.url, map_slug=PANORAMA_MAP[1], mode="coordinates")
        wait_for_round(driver, 1)
        wait_for_view(driver, 0)
        switch_views(driver)

        by_id(driver, "enlarge").click()
        lightbox = by_id(driver, "lightbox")
        wait(driver).until(lambda d: lightbox.is_displayed())
        assert driver.execute_script("return document.getElementById('lightbox-image').naturalWidth") > 0
        press(driver, Keys.ARROW_RIGHT)  # switching works while enlarged, too
        wait_for_view(driver, 1)
        enlarged = by_id(driver, "lightbox-image").get_attribute("src")
        assert enlarged == by_id(driver, "view-image").get_attribute("src")
        driver.save_screenshot(str(screenshots / "enlarged.png"))
        press(driver, Keys.ESCAPE)
        wait(driver).until(lambda d: not lightbox.is_displayed())
        by_id(driver, "view-image").click()  # the image itself enlarges too
        wait(driver).until(lambda d: lightbox.is_displayed())
        press(driver, Keys.ESCAPE)
        wait(driver).until(lambda d: not lightbox.is_displayed())
        assert console_errors(driver) == []


def test_the_clock_survives_a_reload_and_a_refused_guess_can_be_sent_again(server, browser):
    driver = browser
    with logs_on_failure(server, driver):
        start_game(driver, server.url, map_slug=SAMPLE_MAP[1], mode="coordinates", time_limit="300")
        wait_for_round(driver, 1)
        timer = by_id(driver, "timer")
        wait(driver).until(lambda d: timer.is_displayed())
        assert 290 <= int(timer.get_attribute("data-seconds")) <= 300
        # A reload goes on counting down on the server's clock; it does not restart the clock.
        before = int(timer.get_attribute("data-seconds"))
        driver.refresh()
        wait_for_view(driver, 0)
        timer = by_id(driver, "timer")
        assert timer.is_displayed() and int(timer.get_attribute("data-seconds")) <= before

        place_pin(driver, dx=40, dy=-30)
        token = driver.get_cookie("csrftoken")["value"]
        driver.delete_cookie("csrftoken")  # the server refuses the POST (403)
        by_id(driver, "submit-guess").click()
        wait(driver).until(lambda d: by_id(d, "message").is_displayed())
        assert "403" in by_id(driver, "message").text
        wait(driver).until(lambda d: by_id(d, "submit-guess").is_enabled())
        driver.add_cookie({"name": "csrftoken", "value": token, "path": "/"})
        by_id(driver, "submit-guess").click()
        wait_for_result(driver)
        assert not by_id(driver, "message").is_displayed()
        assert not timer.is_displayed()
        assert console_errors(driver, expected="403 (Forbidden)") == []


def test_a_city_round_is_answered_by_clicking_a_city(server, browser, screenshots):
    from selenium.webdriver.common.by import By

    driver = browser
    with logs_on_failure(server, driver):
        start_game(driver, server.url, map_slug=SAMPLE_MAP[1], mode="city")
        wait_for_round(driver, 1)
        wait_for_view(driver, 0)
        assert not by_id(driver, "map").is_displayed()  # no map guessing in city mode
        assert not by_id(driver, "submit-guess").is_displayed()
        choices = driver.find_elements(By.CSS_SELECTOR, ".city-choice")
        assert len(choices) == 5
        driver.save_screenshot(str(screenshots / "city-play.png"))
        picked = choices[0].get_attribute("data-city")
        choices[0].click()

        result = wait_for_result(driver)
        answer = by_id(driver, "result-answer").text.removeprefix("The place: ")
        correct = picked == answer
        assert result.get_attribute("data-correct") == str(correct).lower()
        verdict = by_id(driver, "result-verdict").text
        if correct:
            assert verdict == "Correct!"
        else:
            assert verdict.startswith("Not quite")
        assert by_id(driver, "result-points").get_attribute("data-points") == ("5000" if correct else "0")
        assert by_id(driver, "map").is_displayed()  # the reveal shows where it was
        wait_for_reveal_in_view(driver, "#map path.guess-marker")
        assert all(not c.is_enabled() for c in driver.find_elements(By.CSS_SELECTOR, ".city-choice"))
        driver.save_screenshot(str(screenshots / "city-reveal.png"))
        assert console_errors(driver) == []


def test_a_machine_opponents_guess_is_shown_after_the_players_own(server, browser, screenshots):
    from selenium.webdriver.common.by import By

    driver = browser
    with logs_on_failure(server, driver):
        start_game(driver, server.url, map_slug=SAMPLE_MAP[1], mode="coordinates", opponent="centroid")
        wait_for_round(driver, 1)
        wait_for_view(driver, 0)
        assert not by_id(driver, "result-opponent").is_displayed()
        place_pin(driver, 30, -20)
        by_id(driver, "submit-guess").click()
        result = wait_for_result(driver)
        opponent = by_id(driver, "result-opponent")
        wait(driver).until(lambda d: opponent.get_attribute("data-points"))
        assert opponent.text.startswith("Middle (machine):")
        answer = latlon(result, "answer")
        machine = (float(opponent.get_attribute("data-lat")), float(opponent.get_attribute("data-lon")))
        d = haversine_km(*machine, *answer)
        assert int(opponent.get_attribute("data-points")) == expected_points(d)
        assert driver.find_elements(By.CSS_SELECTOR, "#map path.opponent-marker")
        driver.save_screenshot(str(screenshots / "opponent-reveal.png"))
        assert console_errors(driver) == []
