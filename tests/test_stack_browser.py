"""The main journeys in headless Chromium on the multi-process stack (harness/production_stack.py: two
daphne and a Celery worker on PostgreSQL and a private redis-server): a classic game against the
centroid player, whose guesses come from the worker, carried from one daphne to the other mid-game;
a duel against the centroid player, whose events reach the page through the Redis channel layer;
and a study participation. Points, damage and health are recomputed here from what the pages show
(the helpers of tests/test_browser.py and tests/test_duel_browser.py); what was stored is read back
from PostgreSQL."""

import re

import pytest

from harness.duel_stack import FIXTURE_MAP
from harness.live_server import headless_chromium, missing_browser
from harness.production_stack import game_guesses, missing_services, private_redis, production_stack, query
from tests.conftest import build_study_folder
from tests.test_browser import (
    by_id,
    console_errors,
    expected_points,
    haversine_km,
    latlon,
    place_pin,
    start_game,
    wait,
    wait_for_result,
    wait_for_round,
    wait_for_view,
)
from tests.test_duel_browser import IMAGE_LOADED, data, expected_damage

pytestmark = [pytest.mark.stack, pytest.mark.browser]

ROUNDS = 3
SETTINGS = {
    "GEOGAME_ROUNDS_PER_GAME": ROUNDS,
    "GEOGAME_DUEL_MAX_ROUNDS": ROUNDS,
    "GEOGAME_DUEL_ROUND_S": 30,
    "GEOGAME_DEADLINE_GRACE_S": 0.5,
    "GEOGAME_MACHINE_THINK_S": 1.0,
    "GEOGAME_DUEL_START_S": 1.0,
    "GEOGAME_DUEL_INTERMISSION_S": 1.5,
}
STUDY_MAP = "Study map"
PRACTICE, TEST = 1, 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"browser tests need Chromium and ChromeDriver (`make browser`); missing: {missing}")
    missing = missing_services()
    if missing:
        pytest.skip("the production stack needs " + "; ".join(missing))
    workdir = tmp_path_factory.mktemp("stack-browser")
    with private_redis(workdir / "redis") as redis:
        with production_stack(workdir, name="browser", redis_url=redis.url(), settings=SETTINGS) as stack:
            build_study_folder(workdir / "study-map")
            stack.manage("import_map", str(workdir / "study-map"), "--name", STUDY_MAP, "--no-progress")
            out = stack.manage(
                "create_study",
                "study-map",
                "--name",
                "Stack study",
                "--practice",
                str(PRACTICE),
                "--test",
                str(TEST),
            )
            stack.study_link = re.search(r"link: (\S+)", out)[1]
            yield stack


@pytest.fixture
def browser(stack, tmp_path):
    with headless_chromium(tmp_path / "chromium-profile") as driver:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        try:
            yield driver
        except BaseException:
            print(stack.logs()[-20000:])
            print("--- browser console ---")
            for entry in driver.get_log("browser"):
                print(entry["level"], entry["message"])
            raise


def test_a_classic_game_against_the_machine_goes_on_when_the_page_moves_to_the_other_daphne(stack, browser):
    driver = browser
    first, second = stack.webs
    start_game(driver, first.url, map_slug=FIXTURE_MAP[1], mode="coordinates", opponent="centroid")
    game = re.search(r"/play/([0-9a-f-]{36})/", driver.current_url)[1]
    points, machine_points = [], []
    for number in range(1, ROUNDS + 1):
        wait_for_round(driver, number)
        wait_for_view(driver, 0)
        guess = place_pin(driver, dx=-200 + 100 * number, dy=80)
        by_id(driver, "submit-guess").click()
        result = wait_for_result(driver)
        shown = int(by_id(driver, "result-points").get_attribute("data-points"))
        assert shown == expected_points(haversine_km(*latlon(result, "answer"), *guess))
        points.append(shown)
        # The machine's guess comes from the worker; the page polls until it is there.
        opponent = by_id(driver, "result-opponent")
        wait(driver).until(lambda d: by_id(d, "result-opponent").get_attribute("data-points"))
        machine = (float(opponent.get_attribute("data-lat")), float(opponent.get_attribute("data-lon")))
        machine_points.append(int(opponent.get_attribute("data-points")))
        assert machine_points[-1] == expected_points(haversine_km(*latlon(result, "answer"), *machine))
        if number == 1:
            # The same page from the other daphne: the game is in PostgreSQL, the session in its cookie.
            driver.get(second.url + f"/play/{game}/")
            wait_for_round(driver, 1)
            wait(driver).until(lambda d: by_id(d, "result").is_displayed())
            assert by_id(driver, "total-points").get_attribute("data-points") == str(shown)
        if number < ROUNDS:
            by_id(driver, "next-round").click()
    by_id(driver, "summary-link").click()
    wait(driver).until(lambda d: "/summary/" in d.current_url)
    assert driver.current_url.startswith(second.url)
    assert int(by_id(driver, "summary-total").get_attribute("data-points")) == sum(points)
    stored = game_guesses(stack.database_url, game)
    assert [(i, kind) for i, kind, _ in stored] == [
        (i, k) for i in range(ROUNDS) for k in ("human", "machine")
    ]
    assert console_errors(driver) == []


def test_a_duel_against_the_machine_is_played_to_its_end(stack, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    driver = browser
    driver.get(stack.webs[1].url + "/duels/")
    name = by_id(driver, "display-name")
    name.clear()
    name.send_keys("Ada")
    by_id(driver, f"map-{FIXTURE_MAP[1]}").click()
    by_id(driver, "opponent-centroid").click()
    by_id(driver, "start-duel").click()
    wait(driver).until(lambda d: re.search(r"/duels/[0-9a-f-]{36}/$", d.current_url))
    root = by_id(driver, "duel")
    wait(driver).until(lambda d: data(by_id(d, "map"), "outlines") == "loaded")
    health = [6000, 6000]
    for number in range(1, ROUNDS + 1):
        wait(driver).until(
            lambda d, i=str(number - 1): (
                data(root, "phase") == "over"
                or (data(root, "phase") == "guessing" and data(root, "round") == i)
            )
        )
        if data(root, "phase") == "over":
            break
        wait(driver).until(lambda d: d.execute_script(IMAGE_LOADED))
        # The machine's "guessed" comes from the worker through the Redis channel layer.
        wait(driver).until(lambda d: data(by_id(d, "status-1"), "status") == "guessed")
        ActionChains(driver).move_to_element_with_offset(by_id(driver, "map"), -200, 110).click().perform()
        wait(driver).until(lambda d: by_id(d, "submit-guess").is_enabled())
        by_id(driver, "submit-guess").click()
        wait(driver).until(
            lambda d, i=str(number - 1): (
                data(root, "phase") in ("result", "over") and data(by_id(d, "round-result"), "round") == i
            )
        )
        result = by_id(driver, "round-result")
        answer = (float(data(result, "answer-lat")), float(data(result, "answer-lon")))
        guesses = [
            (float(data(result, f"guess{s}-lat")), float(data(result, f"guess{s}-lon"))) for s in (0, 1)
        ]
        shown = [int(data(by_id(driver, f"result-points-{s}"), "points")) for s in (0, 1)]
        assert shown == [expected_points(haversine_km(*answer, *g)) for g in guesses]
        damage = expected_damage(shown, number)
        health = [max(0, h - d) for h, d in zip(health, damage, strict=True)]
        assert [int(data(by_id(driver, f"health-{s}"), "health")) for s in (0, 1)] == health
        if min(health) == 0:
            break
    wait(driver).until(lambda d: by_id(d, "duel-over").is_displayed())
    duel = re.search(r"/duels/([0-9a-f-]{36})/", driver.current_url)[1]
    (status, stored_health), *_ = query(
        stack.database_url, "SELECT status, health FROM geogame_duel WHERE public_id = %s", [duel]
    )
    assert (status, stored_health) == ("finished", health)
    assert console_errors(driver) == []


def test_a_study_participant_sees_practice_answers_and_no_test_answers(stack, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver = browser
    driver.get(stack.webs[0].url + stack.study_link)
    by_id(driver, "consent").click()
    by_id(driver, "start-study").click()
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#city-choices .city-choice")))
    participant = by_id(driver, "participant-id").text
    for trial in range(PRACTICE + TEST):
        label = "Practice" if trial < PRACTICE else "Test"
        number = trial + 1 if trial < PRACTICE else trial + 1 - PRACTICE
        wait(driver).until(ec.text_to_be_present_in_element((By.ID, "phase-label"), f"{label} {number} /"))
        wait(driver).until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, "#city-choices .city-choice"))
        ).click()
        wait(driver).until(ec.visibility_of_element_located((By.ID, "result")))
        if trial < PRACTICE:
            wait(driver).until(lambda d: by_id(d, "result-answer").text.startswith("The place:"))
        else:
            assert by_id(driver, "result-verdict").text == "Answer recorded."
            assert by_id(driver, "result").get_attribute("data-answer-lat") is None
        button = "summary-link" if trial in (PRACTICE - 1, PRACTICE + TEST - 1) else "next-round"
        wait(driver).until(ec.element_to_be_clickable((By.ID, button))).click()
        if trial == PRACTICE - 1:  # a page of its own marks the start of the test
            wait(driver).until(ec.element_to_be_clickable((By.ID, "start-test"))).click()
    wait(driver).until(ec.presence_of_element_located((By.ID, "study-done")))
    assert participant in by_id(driver, "participant-id").text
    stored = query(
        stack.database_url,
        "SELECT count(*), bool_and(NOT g.timed_out) FROM geogame_guess g "
        "JOIN geogame_round r ON r.id = g.round_id JOIN geogame_participant p ON p.game_id = r.game_id "
        "WHERE p.public_id::text = %s",
        [participant],
    )
    assert stored == [(PRACTICE + TEST, True)]
    assert console_errors(driver) == []
