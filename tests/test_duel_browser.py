"""A duel in a real browser: headless Chromium plays one duel against the centroid player to
its end, on a real daphne (harness/duel_stack.py) without Redis, so the in-memory channel layer
and in-process timers carry it. Health is recomputed here from what the page shows."""

import math
import os
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from harness.duel_stack import FIXTURE_MAP, prepare_database, running_stack
from harness.live_server import headless_chromium, missing_browser

pytestmark = pytest.mark.browser

WAIT_S = 20
IMAGE_LOADED = "const i = document.getElementById('view-image'); return i.complete && i.naturalWidth > 0"
MAX_ROUNDS = 6
SETTINGS = {
    "GEOGAME_DUEL_ROUND_S": 30,
    "GEOGAME_DEADLINE_GRACE_S": 0.5,
    "GEOGAME_MACHINE_THINK_S": 1.0,
    "GEOGAME_DUEL_START_S": 1.0,
    "GEOGAME_DUEL_INTERMISSION_S": 1.5,
    "GEOGAME_DUEL_MAX_ROUNDS": MAX_ROUNDS,
}


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlon = math.radians(lon2 - lon1)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def expected_points(answer, guess):
    d = haversine_km(*answer, *guess)
    return 5000 if d <= 0.025 else round(5000 * math.exp(-10 * d / 14916.862))


def expected_damage(points, number):
    multiplier = 1.0 if number < 5 else 1.0 + 0.5 * (number - 4)
    amount = int((Decimal(abs(points[0] - points[1])) * Decimal(str(multiplier))).quantize(0, ROUND_HALF_UP))
    return [amount if points[0] < points[1] else 0, amount if points[1] < points[0] else 0]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"browser tests need Chromium and ChromeDriver (`make browser`); missing: {missing}")
    workdir = prepare_database(tmp_path_factory.mktemp("duel-browser"))
    with running_stack(workdir, name="browser", settings=SETTINGS) as stack:
        yield stack


@pytest.fixture
def browser(server, tmp_path):
    with headless_chromium(tmp_path / "chromium-profile", ["--window-size=1280,900"]) as driver:
        try:
            yield driver
        except BaseException:
            print(f"--- daphne log ---\n{server.logs()[-20000:]}")
            print("--- browser console ---")
            for entry in driver.get_log("browser"):
                print(entry["level"], entry["message"])
            raise


def wait(driver, timeout=WAIT_S):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout)


def by_id(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def data(element, name):
    return element.get_attribute(f"data-{name}")


def test_a_duel_against_the_centroid_player_played_to_its_end(server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver = browser
    shots = Path(os.environ.get("GEOGAME_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)

    driver.get(server.url + "/")
    by_id(driver, "duel-lobby-link").click()
    name = by_id(driver, "display-name")
    name.clear()
    name.send_keys("Ada")
    by_id(driver, f"map-{FIXTURE_MAP[1]}").click()
    by_id(driver, "opponent-centroid").click()
    by_id(driver, "start-duel").click()
    wait(driver).until(lambda d: "/duels/" in d.current_url and d.current_url.rstrip("/").count("/") == 4)
    root = by_id(driver, "duel")
    wait(driver).until(lambda d: data(by_id(d, "map"), "outlines") == "loaded")
    # The names come with the socket's first state, which may arrive after the map's outlines.
    wait(driver).until(lambda d: by_id(d, "seat-name-0").text != "…")
    assert by_id(driver, "seat-name-0").text == "Ada (you)"
    assert by_id(driver, "seat-name-1").text == "Middle (machine)"

    health, number = [6000, 6000], 0
    while True:
        number += 1
        wait(driver).until(
            lambda d, i=str(number - 1): (
                data(root, "phase") == "over"
                or (data(root, "phase") == "guessing" and data(root, "round") == i)
            )
        )
        if data(root, "phase") == "over":
            break
        wait(driver).until(lambda d: d.execute_script(IMAGE_LOADED))
        if number == 1:
            # The opponent's status, live: thinking, then guessed (after its thinking delay).
            assert data(by_id(driver, "status-1"), "status") in ("thinking", "guessed")
            wait(driver).until(lambda d: data(by_id(d, "status-1"), "status") == "guessed")
            assert by_id(driver, "status-1").text == "Guessed"
            driver.save_screenshot(str(shots / "duel-round.png"))
        # A pin in the far south-west of the world map, then Guess.
        the_map = by_id(driver, "map")
        ActionChains(driver).move_to_element_with_offset(the_map, -200, 110).click().perform()
        wait(driver).until(lambda d: by_id(d, "submit-guess").is_enabled())
        pin = (float(data(the_map, "marker-lat")), float(data(the_map, "marker-lon")))
        by_id(driver, "submit-guess").click()

        wait(driver).until(
            lambda d, i=str(number - 1): (
                data(root, "phase") in ("result", "over") and data(by_id(d, "round-result"), "round") == i
            )
        )
        result = by_id(driver, "round-result")
        answer = (float(data(result, "answer-lat")), float(data(result, "answer-lon")))
        mine = (float(data(result, "guess0-lat")), float(data(result, "guess0-lon")))
        machine = (float(data(result, "guess1-lat")), float(data(result, "guess1-lon")))
        assert mine == pytest.approx(pin)
        points = [int(data(by_id(driver, f"result-points-{s}"), "points")) for s in (0, 1)]
        assert points == [expected_points(answer, mine), expected_points(answer, machine)]
        damage = expected_damage(points, number)
        assert data(by_id(driver, "result-damage"), "damage") == f"{damage[0]},{damage[1]}"
        health = [max(0, h - d) for h, d in zip(health, damage, strict=True)]
        assert [int(data(by_id(driver, f"health-{s}"), "health")) for s in (0, 1)] == health
        # The result on the map: both guesses and the answer (circle markers), the answer named.
        assert len(driver.find_elements(By.CSS_SELECTOR, "#map path.leaflet-interactive")) >= 3
        assert driver.find_elements(By.CSS_SELECTOR, "#map .leaflet-tooltip")
        if number == 1:
            driver.save_screenshot(str(shots / "duel-result.png"))
        if min(health) == 0 or number == MAX_ROUNDS:
            break

    wait(driver).until(lambda d: by_id(d, "duel-over").is_displayed())
    over = by_id(driver, "duel-over")
    if health[0] == health[1]:
        assert data(over, "winner") == "draw"
    else:
        winner = 0 if health[0] > health[1] else 1
        assert data(over, "winner") == str(winner)
        expected = "You win" if winner == 0 else "Middle (machine) wins"
        assert by_id(driver, "winner").text.startswith(expected)
    driver.save_screenshot(str(shots / "duel-over.png"))
    errors = [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and "tile.openstreetmap.org" not in e["message"]
    ]
    assert errors == []
